//! PostgreSQL SQL rewritten for SQLite.
//!
//! [`to_sqlite`] rewrites the PostgreSQL syntax SQLite lacks, working on
//! [`lexer`](crate::sql::lexer) tokens so nothing inside a literal, a quoted
//! identifier or a comment is ever touched, and copying everything else
//! byte for byte. A statement that needs nothing comes back borrowed. What
//! it cannot translate passes through unchanged, and SQLite's own error
//! surfaces.
//!
//! | PostgreSQL | SQLite |
//! |---|---|
//! | `expr::type`, `CAST(expr AS type)`, `type 'literal'` | a cast function with PostgreSQL's input rules (below), or `CAST(expr AS TEXT)` where SQLite's affinity already gives PostgreSQL's answer (text, varchar, name, interval, regclass ...) |
//! | `::bool` | `pg_cast_bool(x)`: `'t'`, `'yes'`, `'on'`, `1` ... are 1, errors 22P02 like `boolin` |
//! | `::int2` `::int4` `::int8` (`smallint`, `int`, `bigint` ...) | `pg_cast_int2/4/8(x)`: strict text parse, numeric rounding, range checks (22P02, 22003) |
//! | `::float4` / `::float8` | `pg_cast_float4/8(x)` |
//! | `::numeric`, `::numeric(p,s)` | `pg_cast_numeric(x)`, `pg_cast_numeric(x, p, s)` (rounds, 22003 on overflow) |
//! | `::varchar(n)` / `::char(n)` | `pg_cast_varchar(x, n)` (truncates) / `pg_cast_bpchar(x, n)` (pads) |
//! | `::date` `::time` `::timestamp` `::timestamptz` (`(p)`, `with time zone`) | `pg_cast_date(x)`, `pg_cast_time(x[, p])`, `pg_cast_timestamp(x[, p])`, `pg_cast_timestamptz(x[, p])`: PostgreSQL's text forms, UTC |
//! | `::uuid` `::json` `::jsonb` `::bytea` | `pg_cast_uuid(x)`, `pg_cast_json(x)`, `pg_cast_jsonb(x)`, `pg_cast_bytea(x)` (BLOB) |
//! | `::unknown_type` | error 42704 `type "unknown_type" does not exist` |
//! | `now()`, `transaction_timestamp()`, `statement_timestamp()`, `current_timestamp[(p)]` | `pg_now([p])` (`2024-01-05 10:00:00.123456+00`, pinned by the [`TransactionClock`]) |
//! | `clock_timestamp()`, `localtimestamp[(p)]`, `current_date`, `current_time[(p)]`, `localtime[(p)]` | `pg_clock_timestamp()`, `pg_localtimestamp([p])`, `pg_current_date()`, `pg_current_time([p])`, `pg_localtime([p])` |
//! | `random()` | `pg_random()` (a float8 in [0, 1), SQLite's `random()` is an int64) |
//! | `current_user`, `current_role`, `session_user`, `current_schema`, `current_catalog` (no parentheses) | `current_user()`, `current_user()`, `session_user()`, `current_schema()`, `current_database()` (registered by the backend per session) |
//! | `char_length(x)`, `character_length(x)`, `strpos(a, b)`, `substring(x, a[, b])` | `length(x)`, `length(x)`, `instr(a, b)`, `substr(x, a[, b])` |
//! | `a LIKE 'pat'` (case-sensitive in PostgreSQL, `\` escapes) | `a GLOB 'glob'` (converted at translation), `a GLOB pg_like_glob($n)` for a parameter pattern |
//! | `a ILIKE p` | `a LIKE p ESCAPE '\'` (SQLite's LIKE folds ASCII case only) |
//! | `E'a\nb'`, `$$x$$`, `N'x'` | standard `'...'` literals (invalid escapes: 22025, NUL or bad UTF-8: 22021) |
//! | `COLLATE "C"` / `"POSIX"` | `COLLATE BINARY` |
//! | `COLLATE pg_catalog.default` / `"default"` | dropped (SQLite's default) |
//! | `a ~ p`, `a !~ p`, `a ~* p`, `a !~* p`, `OPERATOR(pg_catalog.~)` | `a REGEXP p`, `a NOT REGEXP p`, `a REGEXP '(?i)' \|\| p` ... (`regexp()` is registered by the catalog); other `OPERATOR(schema.op)` lose the wrapper |
//! | `ARRAY(SELECT e FROM ...)`, `FROM unnest(a) x` | `(SELECT json_group_array(..) FROM (SELECT e AS pg_array_elem FROM ...))`, `FROM (SELECT value AS x FROM json_each(a)) AS x` (arrays as JSON text; `array_to_string()` reads both forms) |
//! | `ARRAY[a, b]` (nested `[...]` too) | `json_array(a, b)` |
//! | `x = ANY (ARRAY[a, b])`, `x = ANY (SELECT ...)`, `x = ANY (arr)` | `x IN (a, b)`, `x IN (SELECT ...)`, `x IN (SELECT value FROM json_each(pg_array_json(arr)))` (a JSON array or a PostgreSQL array literal; else 22P02) |
//! | `json_build_object(...)`, `jsonb_build_object(...)` | `json_object(...)` |
//! | `unnest(col)`, `generate_subscripts(col, n)` in a select list | `pg_srf.value`, `CASE WHEN (n) = 1 THEN pg_srf.key + 1 END` with `, json_each(pg_array_json(col)) AS pg_srf` after the FROM list (a second array: `LEFT JOIN json_each(...) AS pg_srf1 ON pg_srf1.key = pg_srf.key`; not when an unqualified `id`, `key`, `value` ... could mean json_each's) |
//! | `array_agg(x)`, `bool_and(x)` / `every(x)`, `bool_or(x)` | `json_group_array(x)`, `min(x)`, `max(x)` |
//! | a `SELECT` whose every `UNION` branch inner-joins a catalog pgiris keeps empty (`pg_policy`, `pg_inherits`, `pg_publication` ...) | `SELECT NULL, ... LIMIT 0` with as many columns |
//! | `SELECT ... FOR UPDATE / SHARE [OF t] [NOWAIT / SKIP LOCKED]` | the locking clause dropped (SQLite serializes writers) |
//! | `LIMIT ALL` | `LIMIT -1` |
//! | `TRUNCATE [TABLE] t [RESTART IDENTITY] [CASCADE]` | `DELETE FROM t` |
//! | `CREATE [UNIQUE] INDEX [CONCURRENTLY] ... ON [ONLY] t USING method (...)` | without `CONCURRENTLY`, `ONLY` and `USING method` |
//! | DDL `serial` / `bigserial` / `smallserial`, `integer/bigint/smallint GENERATED ... AS IDENTITY` | `INTEGER`, `INTEGER /*int8*/`, `INTEGER /*int2*/` (SQLite assigns ids only to an `INTEGER` rowid alias; the comment keeps the PostgreSQL type for [`infer::declared_column_types`]), plus `AUTOINCREMENT` after an inline `PRIMARY KEY` so ids are never reused; the identity clause is dropped |
//! | DDL `timestamp[(p)] with time zone`, `time ... with time zone`, `... without time zone` | `timestamptz[(p)]`, `timetz[(p)]`, `timestamp[(p)]`, `time[(p)]` (SQLite cannot parse the long forms) |
//! | DDL `DEFAULT <expression>` | `DEFAULT (<expression>)` (SQLite requires the parentheses) |
//! | other DDL types (`varchar(20)`, `numeric(10,2)`, `boolean`, `bytea`, `uuid`, `jsonb` ...) | kept as written, so the declared type still names the PostgreSQL type |
//! | `true` / `false`, `$n` parameters, `RETURNING`, `ON CONFLICT` | unchanged: SQLite has them (`$1` binds as a named parameter) |
//!
//! The `pg_*` functions and `gen_random_uuid()` named above are registered
//! on a connection by [`register_functions`]; their errors carry a SQLSTATE
//! that [`function_error`] recovers. The backend registers, per session, the
//! functions that answer from session facts: `current_user()`,
//! `session_user()`, `current_schema()`, `current_database()` (targets of
//! the rewrites above) and `version()`, `current_setting(text)`,
//! `pg_backend_pid()` (called as written, passed through unchanged).
//!
//! Known differences that remain: date/time arithmetic (`now() - interval
//! '1 day'`, `current_date + 1`) and `bool::text` follow SQLite; a LIKE whose
//! pattern is an expression (not a literal or parameter) is SQLite's
//! ASCII-case-insensitive LIKE; ILIKE folds ASCII case only; `char(n)`
//! values keep their padding in `||`; timestamps are UTC.
//!
//! [`infer::declared_column_types`]: super::infer::declared_column_types

mod functions;

use std::borrow::Cow;
use std::cmp::Reverse;

pub(crate) use functions::INVALID_REGULAR_EXPRESSION;
pub use functions::{
    TransactionClock, function_error, jsonb_text, like_escape, like_to_glob, pg_error_from_sqlite,
    random_uuid,
};

use super::infer::{self, TypeName};
use crate::sql::lexer::{Lexer, Token, TokenKind};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::oid;

/// Registers the SQL functions translated statements call (listed in the
/// module docs), with `now()` following the system clock. Use
/// [`register_functions_with_clock`] to pin `now()` per transaction.
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    functions::register_with_clock(conn, &TransactionClock::new())
}

/// [`register_functions`] with `now()` answering from `clock`.
pub fn register_functions_with_clock(
    conn: &rusqlite::Connection,
    clock: &TransactionClock,
) -> rusqlite::Result<()> {
    functions::register_with_clock(conn, clock)
}

/// Rewrites one PostgreSQL statement (or several) into SQL SQLite runs with
/// PostgreSQL's results; see the module docs for the table.
pub fn to_sqlite(sql: &str) -> Result<Cow<'_, str>, PgError> {
    if !needs_translation(sql) {
        return Ok(Cow::Borrowed(sql));
    }
    translate(sql)
}

/// The full translation, without the fast path.
fn translate(sql: &str) -> Result<Cow<'_, str>, PgError> {
    let toks: Vec<Token> = Lexer::significant(sql).collect();
    if let Some(empty) = empty_catalog_select(sql, &toks) {
        return Ok(Cow::Owned(empty));
    }
    let mut t = Translator::new(sql, &toks);
    t.run()?;
    Ok(t.finish())
}

/// Words that start a rewrite (see [`Translator::ident`] and DDL).
fn is_trigger_word(w: &str) -> bool {
    matches!(
        w,
        "pg_catalog"
            | "cast"
            | "like"
            | "ilike"
            | "now"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "clock_timestamp"
            | "random"
            | "char_length"
            | "character_length"
            | "strpos"
            | "substring"
            | "current_timestamp"
            | "localtimestamp"
            | "current_time"
            | "localtime"
            | "current_date"
            | "current_user"
            | "current_role"
            | "session_user"
            | "current_schema"
            | "current_catalog"
            | "collate"
            | "for"
            | "all"
            | "truncate"
            | "create"
            | "alter"
            | "operator"
            | "array"
            | "unnest"
            | "any"
            | "generate_subscripts"
            | "array_agg"
            | "bool_and"
            | "bool_or"
            | "every"
            | "json_build_object"
            | "jsonb_build_object"
    ) || super::catalog::ALWAYS_EMPTY.contains(&w)
}

/// One allocation-free pass: does anything in `sql` need rewriting? Most
/// statements a pool sends (`SELECT ... WHERE id = $1`, `INSERT ...
/// VALUES ($1, $2)`) do not, and then [`to_sqlite`] costs one scan.
fn needs_translation(sql: &str) -> bool {
    let mut prev_word_or_paren = false;
    for t in Lexer::significant(sql) {
        match t.kind {
            TokenKind::TypeCast | TokenKind::EscapeString | TokenKind::DollarString => return true,
            // The regular-expression match operators.
            TokenKind::Operator if t.text(sql).contains('~') => return true,
            // N'...' loses its prefix.
            TokenKind::String if matches!(sql.as_bytes().get(t.start), Some(b'n' | b'N')) => {
                return true;
            }
            // A typed literal: `date '2024-01-05'`, `numeric(5) '1'`.
            TokenKind::String | TokenKind::UnicodeString if prev_word_or_paren => return true,
            TokenKind::Ident => {
                let mut buf = [0u8; 24];
                if let Some(w) = lower_word(t.text(sql), &mut buf)
                    && is_trigger_word(w)
                {
                    return true;
                }
            }
            _ => {}
        }
        prev_word_or_paren = matches!(t.kind, TokenKind::Ident | TokenKind::RParen);
    }
    false
}

/// How a cast to a PostgreSQL type is written for SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CastTarget {
    /// `CAST(x AS <sqlite type>)`
    Sqlite(&'static str),
    /// `f(x)`
    Func(&'static str),
    /// `f(x, <args>)`
    FuncArgs(&'static str, String),
}

fn cast_target(ty: &TypeName) -> Option<CastTarget> {
    use CastTarget::*;
    if ty.array {
        return Some(Sqlite("TEXT"));
    }
    let precision = |f: &'static str| {
        if ty.typmod >= 0 {
            FuncArgs(f, ty.typmod.to_string())
        } else {
            Func(f)
        }
    };
    Some(match ty.oid? {
        oid::BOOL => Func("pg_cast_bool"),
        oid::INT2 => Func("pg_cast_int2"),
        oid::INT4 => Func("pg_cast_int4"),
        oid::INT8 | oid::OID => Func("pg_cast_int8"),
        oid::FLOAT4 => Func("pg_cast_float4"),
        oid::FLOAT8 => Func("pg_cast_float8"),
        oid::NUMERIC if ty.typmod >= 4 => {
            let m = ty.typmod - 4;
            let (p, s) = ((m >> 16) & 0xffff, m & 0x7ff);
            // The scale is an 11-bit signed field.
            let s = if s > 1000 { s - 2048 } else { s };
            FuncArgs("pg_cast_numeric", format!("{p}, {s}"))
        }
        oid::NUMERIC => Func("pg_cast_numeric"),
        oid::VARCHAR if ty.typmod >= 5 => FuncArgs("pg_cast_varchar", (ty.typmod - 4).to_string()),
        oid::BPCHAR if ty.typmod >= 5 => FuncArgs("pg_cast_bpchar", (ty.typmod - 4).to_string()),
        oid::DATE => Func("pg_cast_date"),
        oid::TIME => precision("pg_cast_time"),
        oid::TIMESTAMP => precision("pg_cast_timestamp"),
        oid::TIMESTAMPTZ => precision("pg_cast_timestamptz"),
        oid::UUID => Func("pg_cast_uuid"),
        oid::JSON => Func("pg_cast_json"),
        oid::JSONB => Func("pg_cast_jsonb"),
        oid::BYTEA => Func("pg_cast_bytea"),
        _ => Sqlite("TEXT"),
    })
}

impl CastTarget {
    fn prefix(&self) -> String {
        match self {
            CastTarget::Sqlite(_) => "CAST(".to_owned(),
            CastTarget::Func(f) | CastTarget::FuncArgs(f, _) => format!("{f}("),
        }
    }

    fn suffix(&self) -> String {
        match self {
            CastTarget::Sqlite(t) => format!(" AS {t})"),
            CastTarget::Func(_) => ")".to_owned(),
            CastTarget::FuncArgs(_, args) => format!(", {args})"),
        }
    }
}

/// One change to the text. Insertions at the same position nest: the
/// wider span's opening text goes first, its closing text last.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
    kind: EditKind,
    seq: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditKind {
    /// Inserted before a span ending at `span_end`.
    Open {
        span_end: usize,
    },
    /// Inserted after a span starting at `span_start`.
    Close {
        span_start: usize,
    },
    Replace,
}

/// Words that, before `(`, are not a function name (so the parenthesized
/// group alone is the operand of a `::`).
const NOT_FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "select",
    "where",
    "on",
    "by",
    "then",
    "else",
    "when",
    "as",
    "like",
    "ilike",
    "is",
    "values",
    "from",
    "returning",
    "having",
    "between",
    "any",
    "all",
    "some",
    "using",
    "case",
    "distinct",
    "set",
    "limit",
    "offset",
    "join",
    "escape",
    "default",
    "check",
    "group",
    "order",
    "partition",
    "into",
    "table",
    "union",
    "intersect",
    "except",
    "with",
    "window",
    "lateral",
    "references",
    "unique",
    "key",
    "constraint",
    "similar",
    "to",
    "do",
    "return",
    "over",
    "filter",
];

/// Tokens after which a LIKE pattern operand has ended.
const OPERAND_ENDS: &[&str] = &[
    "and",
    "or",
    "then",
    "else",
    "when",
    "end",
    "order",
    "group",
    "having",
    "limit",
    "offset",
    "union",
    "intersect",
    "except",
    "window",
    "from",
    "where",
    "returning",
    "on",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "as",
    "is",
    "escape",
    "for",
    "collate",
];

/// Column-constraint keywords that end a DEFAULT expression.
const CONSTRAINT_WORDS: &[&str] = &[
    "not",
    "null",
    "primary",
    "unique",
    "check",
    "references",
    "constraint",
    "collate",
    "generated",
    "default",
];

/// How many select-list `unnest` / `generate_subscripts` calls one
/// statement gets translated.
const MAX_SRF_CALLS: usize = 16;

/// The columns of SQLite's `json_each` (which a select-list `unnest`
/// joins to the FROM list).
const JSON_EACH_COLUMNS: [&str; 8] = [
    "key", "value", "type", "atom", "id", "parent", "fullkey", "path",
];

struct Translator<'a, 't> {
    sql: &'a str,
    toks: &'t [Token],
    /// For `(` / `[`: the matching closer; for `)` / `]`: the opener; for
    /// `END`: its `CASE`.
    partner: Vec<Option<usize>>,
    /// For a token ending an already translated operand (a cast's type, a
    /// typed literal's string): where that operand starts.
    operand_start: Vec<Option<usize>>,
    /// Tokens already rewritten by an earlier rule.
    consumed: Vec<bool>,
    edits: Vec<Edit>,
    /// Set-returning calls already joined to a FROM list: (the token the
    /// join went before, the array column, its alias).
    srf_joins: Vec<(usize, String, String)>,
    /// Select-list set-returning calls looked at so far (bounded by
    /// [`MAX_SRF_CALLS`], so hostile input cannot make the scans below
    /// quadratic).
    srf_calls: usize,
    /// Whether an unqualified column is named as json_each's are (computed
    /// once per statement).
    srf_shadowed: Option<bool>,
}

impl<'a, 't> Translator<'a, 't> {
    fn new(sql: &'a str, toks: &'t [Token]) -> Translator<'a, 't> {
        let mut partner = vec![None; toks.len()];
        let mut brackets = Vec::new();
        let mut cases = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t.kind {
                TokenKind::LParen | TokenKind::LBracket => brackets.push(i),
                TokenKind::RParen | TokenKind::RBracket => {
                    if let Some(o) = brackets.pop() {
                        partner[o] = Some(i);
                        partner[i] = Some(o);
                    }
                }
                TokenKind::Ident if t.is_word(sql, "case") => cases.push(Some(i)),
                // BEGIN ... END blocks (trigger bodies) also end in END.
                TokenKind::Ident if t.is_word(sql, "begin") => cases.push(None),
                TokenKind::Ident if t.is_word(sql, "end") => {
                    if let Some(Some(c)) = cases.pop() {
                        partner[i] = Some(c);
                    }
                }
                _ => {}
            }
        }
        Translator {
            sql,
            toks,
            partner,
            operand_start: vec![None; toks.len()],
            consumed: vec![false; toks.len()],
            edits: Vec::new(),
            srf_joins: Vec::new(),
            srf_calls: 0,
            srf_shadowed: None,
        }
    }

    fn word(&self, i: usize, w: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_word(self.sql, w))
    }

    fn kind(&self, i: usize) -> Option<TokenKind> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.text(self.sql))
    }

    fn push(&mut self, start: usize, end: usize, text: impl Into<String>, kind: EditKind) {
        let seq = self.edits.len();
        self.edits.push(Edit {
            start,
            end,
            text: text.into(),
            kind,
            seq,
        });
    }

    fn replace(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.push(start, end, text, EditKind::Replace);
    }

    /// Wraps the byte span `start..end` in `open` ... `close`.
    fn wrap(
        &mut self,
        start: usize,
        end: usize,
        open: impl Into<String>,
        close: impl Into<String>,
    ) {
        self.push(start, start, open, EditKind::Open { span_end: end });
        self.push(end, end, close, EditKind::Close { span_start: start });
    }

    fn consume(&mut self, from: usize, to: usize) {
        for c in self.consumed.iter_mut().take(to).skip(from) {
            *c = true;
        }
    }

    fn position_error(&self, code: &'static str, message: String, byte: usize) -> PgError {
        let chars = self.sql.get(..byte).map_or(0, |s| s.chars().count());
        PgError::error(code, message).with_position(u32::try_from(chars + 1).unwrap_or(u32::MAX))
    }

    fn run(&mut self) -> Result<(), PgError> {
        self.ddl();
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            if self.consumed[i] {
                i += 1;
                continue;
            }
            let tok = self.toks[i];
            i = match tok.kind {
                TokenKind::TypeCast => self.typecast(i)?,
                TokenKind::EscapeString => {
                    let value = decode_escape_string(self.sql, &tok)?;
                    self.replace(tok.start, tok.end, sqlite_literal(&value));
                    i + 1
                }
                TokenKind::DollarString if tok.terminated => {
                    let value = literal_value(self.sql, &tok).unwrap_or_default();
                    self.replace(tok.start, tok.end, sqlite_literal(&value));
                    i + 1
                }
                TokenKind::String
                    if matches!(self.sql.as_bytes().get(tok.start), Some(b'n' | b'N')) =>
                {
                    self.replace(tok.start, tok.start + 1, "");
                    i + 1
                }
                TokenKind::Ident => self.ident(i)?,
                TokenKind::Operator => self.operator(i, i, i + 1),
                _ => i + 1,
            };
        }
        Ok(())
    }

    fn finish(mut self) -> Cow<'a, str> {
        if self.edits.is_empty() {
            return Cow::Borrowed(self.sql);
        }
        self.edits.sort_by_key(|e| {
            let (rank, a, b) = match e.kind {
                EditKind::Close { span_start } => (0u8, Reverse(span_start), Reverse(e.seq)),
                EditKind::Open { span_end } => (1, Reverse(span_end), Reverse(usize::MAX - e.seq)),
                EditKind::Replace => (2, Reverse(0), Reverse(0)),
            };
            (e.start, rank, a, b)
        });
        let extra: usize = self.edits.iter().map(|e| e.text.len()).sum();
        let mut out = String::with_capacity(self.sql.len() + extra);
        let mut pos = 0;
        for e in &self.edits {
            if e.start < pos {
                // Overlapping edits would be a translator bug; keep the text
                // intact rather than produce garbage.
                continue;
            }
            out.push_str(&self.sql[pos..e.start]);
            out.push_str(&e.text);
            pos = e.end;
        }
        out.push_str(&self.sql[pos..]);
        Cow::Owned(out)
    }

    // -- casts ------------------------------------------------------------

    /// Where the operand ending at token `j` starts, if it is one a `::`
    /// can apply to.
    fn operand_start_of(&self, j: usize) -> Option<usize> {
        let mut depth = 0;
        let mut j = j;
        loop {
            depth += 1;
            if depth > 64 {
                return None;
            }
            if let Some(s) = self.operand_start[j] {
                return Some(s);
            }
            let t = self.toks[j];
            return match t.kind {
                TokenKind::RParen => {
                    let open = self.partner[j]?;
                    if open == 0 {
                        return Some(open);
                    }
                    let prev = self.toks[open - 1];
                    match prev.kind {
                        TokenKind::Ident => {
                            let w = prev.text(self.sql).to_ascii_lowercase();
                            if w == "over" || w == "filter" {
                                // f(...) OVER (...): the call before it.
                                if open >= 2 && self.kind(open - 2) == Some(TokenKind::RParen) {
                                    j = open - 2;
                                    continue;
                                }
                                return None;
                            }
                            if w == "group" && open >= 3 && self.word(open - 2, "within") {
                                j = open - 3;
                                continue;
                            }
                            if NOT_FUNCTIONS.contains(&w.as_str()) {
                                Some(open)
                            } else {
                                Some(self.qualified_start(open - 1))
                            }
                        }
                        TokenKind::QuotedIdent => Some(self.qualified_start(open - 1)),
                        _ => Some(open),
                    }
                }
                TokenKind::RBracket => {
                    let open = self.partner[j]?;
                    if open >= 1 && self.word(open - 1, "array") {
                        Some(open - 1)
                    } else if open >= 1 {
                        // A subscript: the subscripted operand.
                        j = open - 1;
                        continue;
                    } else {
                        None
                    }
                }
                TokenKind::Number
                | TokenKind::String
                | TokenKind::EscapeString
                | TokenKind::UnicodeString
                | TokenKind::BitString
                | TokenKind::DollarString
                | TokenKind::Param => Some(j),
                TokenKind::QuotedIdent => Some(self.qualified_start(j)),
                TokenKind::Ident => {
                    let w = t.text(self.sql).to_ascii_lowercase();
                    if w == "end" {
                        self.partner[j]
                    } else if NOT_FUNCTIONS.contains(&w.as_str()) {
                        None
                    } else {
                        Some(self.qualified_start(j))
                    }
                }
                _ => None,
            };
        }
    }

    /// Extends a name at `j` left over `a.b.` qualifiers.
    fn qualified_start(&self, mut j: usize) -> usize {
        while j >= 2
            && self.kind(j - 1) == Some(TokenKind::Dot)
            && matches!(
                self.kind(j - 2),
                Some(TokenKind::Ident | TokenKind::QuotedIdent)
            )
        {
            j -= 2;
        }
        j
    }

    fn parse_cast_type(&self, at: usize) -> Result<(TypeName, usize, CastTarget), PgError> {
        let Some((ty, end)) = infer::parse_type_name(self.sql, self.toks, at) else {
            let byte = self.toks.get(at).map_or(self.sql.len(), |t| t.start);
            return Err(self.position_error(
                sqlstate::SYNTAX_ERROR,
                match self.toks.get(at) {
                    Some(t) => format!("syntax error at or near \"{}\"", t.text(self.sql)),
                    None => "syntax error at end of input".to_owned(),
                },
                byte,
            ));
        };
        let target = if ty.serial { None } else { cast_target(&ty) };
        match target {
            Some(target) => Ok((ty, end, target)),
            None => Err(self.position_error(
                sqlstate::UNDEFINED_OBJECT,
                format!("type \"{}\" does not exist", ty.name),
                self.toks[at].start,
            )),
        }
    }

    /// `operand::type`
    fn typecast(&mut self, i: usize) -> Result<usize, PgError> {
        let Some(start) = i.checked_sub(1).and_then(|j| self.operand_start_of(j)) else {
            return Ok(i + 1);
        };
        let (_, end, target) = self.parse_cast_type(i + 1)?;
        let last = self.toks[end - 1];
        let begin = self.toks[start].start;
        self.push(
            begin,
            begin,
            target.prefix(),
            EditKind::Open { span_end: last.end },
        );
        self.replace(self.toks[i].start, last.end, target.suffix());
        self.operand_start[end - 1] = Some(start);
        self.consume(i + 1, end);
        Ok(end)
    }

    /// `CAST ( expr AS type )`
    fn cast_call(&mut self, i: usize) -> Result<usize, PgError> {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return Ok(i + 1);
        };
        // The AS at depth 1 inside the parentheses.
        let mut k = i + 2;
        let mut as_at = None;
        while k < close {
            match self.toks[k].kind {
                TokenKind::LParen | TokenKind::LBracket => {
                    k = self.partner[k].unwrap_or(close);
                }
                TokenKind::Ident if self.toks[k].is_word(self.sql, "as") => as_at = Some(k),
                _ => {}
            }
            k += 1;
        }
        let Some(as_at) = as_at.filter(|a| *a > i + 2) else {
            return Ok(i + 1);
        };
        let (_, end, target) = self.parse_cast_type(as_at + 1)?;
        if end != close {
            return Ok(i + 1);
        }
        let value_end = self.toks[as_at - 1].end;
        let type_end = self.toks[close - 1].end;
        match &target {
            CastTarget::Sqlite(t) => {
                self.replace(self.toks[as_at].start, type_end, format!("AS {t}"));
            }
            _ => {
                let open = self.toks[i + 1].end;
                self.replace(self.toks[i].start, open, target.prefix());
                let suffix = target.suffix();
                // The closing parenthesis stays; the suffix without it.
                let suffix = suffix.strip_suffix(')').unwrap_or(&suffix).to_owned();
                self.replace(value_end, type_end, suffix);
            }
        }
        self.operand_start[close] = Some(i);
        self.consume(as_at, close);
        Ok(i + 2)
    }

    /// `date '2024-01-05'`, `interval '1 day'`: a typed literal, if the
    /// identifier at `i` starts one.
    fn typed_literal(&mut self, i: usize) -> Option<usize> {
        // Cheap test first: a string must follow the words of a type name.
        let mut k = i + 1;
        while matches!(
            self.kind(k),
            Some(
                TokenKind::Ident
                    | TokenKind::LParen
                    | TokenKind::RParen
                    | TokenKind::Number
                    | TokenKind::Comma
            )
        ) && k < i + 8
        {
            k += 1;
        }
        if !self.toks.get(k).is_some_and(|t| t.is_string()) {
            return None;
        }
        if i > 0 && matches!(self.kind(i - 1), Some(TokenKind::Dot | TokenKind::TypeCast)) {
            return None;
        }
        let (ty, end) = infer::parse_type_name(self.sql, self.toks, i)?;
        let lit = self.toks.get(end)?;
        if !lit.is_string() || ty.serial || ty.oid.is_none() {
            return None;
        }
        let target = cast_target(&ty)?;
        let lit = *lit;
        self.replace(self.toks[i].start, lit.start, target.prefix());
        self.push(
            lit.end,
            lit.end,
            target.suffix(),
            EditKind::Close {
                span_start: self.toks[i].start,
            },
        );
        self.operand_start[end] = Some(i);
        self.consume(i, end);
        Some(end)
    }

    // -- identifiers and keywords -------------------------------------------

    fn ident(&mut self, i: usize) -> Result<usize, PgError> {
        let tok = self.toks[i];
        let raw = tok.text(self.sql);
        let mut buf = [0u8; 24];
        let Some(w) = lower_word(raw, &mut buf) else {
            return Ok(i + 1);
        };
        // `pg_catalog.f(...)`: SQLite has no schemas for functions; the
        // qualifier goes and the function is translated as if unqualified.
        if w == "pg_catalog"
            && self.kind(i + 1) == Some(TokenKind::Dot)
            && self.kind(i + 2) == Some(TokenKind::Ident)
            && self.kind(i + 3) == Some(TokenKind::LParen)
        {
            let dot = self.toks[i + 1];
            self.replace(tok.start, dot.end, "");
            return self.ident_unqualified(i + 2);
        }
        self.ident_unqualified(i)
    }

    fn ident_unqualified(&mut self, i: usize) -> Result<usize, PgError> {
        let tok = self.toks[i];
        let raw = tok.text(self.sql);
        let mut buf = [0u8; 24];
        let Some(w) = lower_word(raw, &mut buf) else {
            return Ok(i + 1);
        };
        let qualified_by_catalog = i >= 2
            && self.toks[i - 2]
                .text(self.sql)
                .eq_ignore_ascii_case("pg_catalog");
        let after_dot = i > 0 && self.kind(i - 1) == Some(TokenKind::Dot) && !qualified_by_catalog;
        let before_dot = self.kind(i + 1) == Some(TokenKind::Dot);
        let call = self.kind(i + 1) == Some(TokenKind::LParen);
        if after_dot || before_dot {
            return Ok(i + 1);
        }
        match w {
            "cast" if call => return self.cast_call(i),
            "like" | "ilike" => return self.like(i, w == "ilike"),
            "now" | "transaction_timestamp" | "statement_timestamp" if call => {
                self.replace(tok.start, tok.end, "pg_now");
            }
            "clock_timestamp" if call => self.replace(tok.start, tok.end, "pg_clock_timestamp"),
            "random" if call => self.replace(tok.start, tok.end, "pg_random"),
            "char_length" | "character_length" if call => {
                self.replace(tok.start, tok.end, "length")
            }
            "strpos" if call => self.replace(tok.start, tok.end, "instr"),
            "json_build_object" | "jsonb_build_object" if call => {
                self.replace(tok.start, tok.end, "json_object");
            }
            "substring" if call => {
                // Only the comma form; `substring(x FROM a FOR b)` passes.
                let close = self.partner[i + 1].unwrap_or(i + 1);
                let keyword_form =
                    (i + 2..close).any(|k| self.word(k, "from") || self.word(k, "for"));
                if !keyword_form {
                    self.replace(tok.start, tok.end, "substr");
                }
            }
            "current_timestamp" | "localtimestamp" | "current_time" | "localtime" => {
                let f = match w {
                    "current_timestamp" => "pg_now",
                    "localtimestamp" => "pg_localtimestamp",
                    "current_time" => "pg_current_time",
                    _ => "pg_localtime",
                };
                if call {
                    // current_timestamp(3): the precision argument stays.
                    self.replace(tok.start, tok.end, f);
                } else {
                    self.replace(tok.start, tok.end, format!("{f}()"));
                }
            }
            "current_date" if !call => self.replace(tok.start, tok.end, "pg_current_date()"),
            "current_user" | "current_role" if !call => {
                self.replace(tok.start, tok.end, "current_user()");
            }
            "session_user" if !call => self.replace(tok.start, tok.end, "session_user()"),
            "current_schema" if !call => self.replace(tok.start, tok.end, "current_schema()"),
            "current_catalog" if !call => self.replace(tok.start, tok.end, "current_database()"),
            "operator" if call => return Ok(self.operator_call(i)),
            "collate" => {
                if let Some(end) = self.default_collation(i + 1) {
                    self.replace(tok.start, self.toks[end - 1].end, "");
                    self.consume(i + 1, end);
                    return Ok(end);
                }
                if let Some(next) = self.toks.get(i + 1)
                    && next.kind == TokenKind::QuotedIdent
                    && matches!(next.text(self.sql), "\"C\"" | "\"POSIX\"")
                {
                    let next = *next;
                    self.replace(next.start, next.end, "BINARY");
                    return Ok(i + 2);
                }
            }
            "for" => return Ok(self.locking_clause(i)),
            "array" if call && self.word(i + 2, "select") => {
                self.array_subquery(i);
            }
            "array" if self.kind(i + 1) == Some(TokenKind::LBracket) => self.array_literal(i),
            "any" if call && i >= 1 && self.text(i - 1) == "=" => {
                return Ok(self.equals_any(i));
            }
            "unnest" if call && self.in_from_list(i) => self.unnest_in_from(i),
            "unnest" | "generate_subscripts" if call => {
                if let Some(next) = self.srf_in_select_list(i, w == "unnest") {
                    return Ok(next);
                }
            }
            "array_agg" if call => self.replace(tok.start, tok.end, "json_group_array"),
            "bool_and" | "every" if call => self.replace(tok.start, tok.end, "min"),
            "bool_or" if call => self.replace(tok.start, tok.end, "max"),
            "limit" if self.word(i + 1, "all") => {
                let all = self.toks[i + 1];
                self.replace(all.start, all.end, "-1");
                return Ok(i + 2);
            }
            "truncate" if i == 0 => return Ok(self.truncate()),
            _ => {
                if let Some(next) = self.typed_literal(i) {
                    return Ok(next);
                }
            }
        }
        Ok(i + 1)
    }

    /// `pg_catalog.default` / `"default"` after COLLATE: where the name
    /// ends, if it is the default collation (which SQLite's is).
    fn default_collation(&self, mut k: usize) -> Option<usize> {
        if self.word(k, "pg_catalog") && self.kind(k + 1) == Some(TokenKind::Dot) {
            k += 2;
        }
        let t = self.toks.get(k)?;
        let is_default = match t.kind {
            TokenKind::QuotedIdent => t.text(self.sql) == "\"default\"",
            TokenKind::Ident => t.is_word(self.sql, "default"),
            _ => false,
        };
        is_default.then_some(k + 1)
    }

    /// Does the token before `i` end an operand (so an operator at `i` is
    /// binary)?
    fn ends_operand(&self, i: usize) -> bool {
        let Some(prev) = i.checked_sub(1).and_then(|j| self.toks.get(j)) else {
            return false;
        };
        match prev.kind {
            TokenKind::Ident => !matches!(
                prev.text(self.sql).to_ascii_lowercase().as_str(),
                "select"
                    | "where"
                    | "and"
                    | "or"
                    | "not"
                    | "when"
                    | "then"
                    | "else"
                    | "on"
                    | "having"
                    | "by"
                    | "case"
                    | "in"
                    | "is"
                    | "return"
                    | "returning"
                    | "distinct"
            ),
            TokenKind::QuotedIdent
            | TokenKind::String
            | TokenKind::EscapeString
            | TokenKind::UnicodeString
            | TokenKind::DollarString
            | TokenKind::Number
            | TokenKind::Param
            | TokenKind::RParen
            | TokenKind::RBracket => true,
            _ => false,
        }
    }

    /// The operator token `op`, written over the tokens `from..to`:
    /// PostgreSQL's regular-expression matches become SQLite's REGEXP (the
    /// catalog's `regexp()` function); `~*` / `!~*` match ignoring case.
    /// Other operators stay (an `OPERATOR(...)` wrapper goes).
    fn operator(&mut self, op: usize, from: usize, to: usize) -> usize {
        let text = self.text(op);
        let rewrite = match text {
            "~" if self.ends_operand(from) => Some("REGEXP"),
            "!~" => Some("NOT REGEXP"),
            "~*" => Some("REGEXP '(?i)' ||"),
            "!~*" => Some("NOT REGEXP '(?i)' ||"),
            _ => None,
        };
        let start = self.toks[from].start;
        let end = self.toks[to - 1].end;
        // Words need spaces around them where the operator had none.
        let bytes = self.sql.as_bytes();
        let before = if start > 0 && !bytes[start - 1].is_ascii_whitespace() {
            " "
        } else {
            ""
        };
        let after = if bytes.get(end).is_some_and(|b| !b.is_ascii_whitespace()) {
            " "
        } else {
            ""
        };
        match rewrite {
            Some(r) => self.replace(start, end, format!("{before}{r}{after}")),
            None if to > from + 1 => self.replace(start, end, format!("{before}{text}{after}")),
            None => {}
        }
        self.consume(from, to);
        to
    }

    /// `OPERATOR(pg_catalog.~)`, `OPERATOR(=)`: the operator itself.
    fn operator_call(&mut self, i: usize) -> usize {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return i + 1;
        };
        let mut k = i + 2;
        while matches!(
            self.kind(k),
            Some(TokenKind::Ident | TokenKind::QuotedIdent)
        ) && self.kind(k + 1) == Some(TokenKind::Dot)
        {
            k += 2;
        }
        if self.kind(k) != Some(TokenKind::Operator) || k + 1 != close {
            return i + 1;
        }
        self.operator(k, i, close + 1)
    }

    /// Is the token at `i` where a FROM list names a relation (after FROM,
    /// JOIN or a comma of a FROM list)?
    fn in_from_list(&self, i: usize) -> bool {
        let mut j = i;
        // Skip a `pg_catalog.` qualifier.
        if j >= 2 && self.kind(j - 1) == Some(TokenKind::Dot) {
            j -= 2;
        }
        j > 0
            && (self.word(j - 1, "from") || self.word(j - 1, "join") || {
                // A comma at the FROM list's level: look back for FROM.
                self.kind(j - 1) == Some(TokenKind::Comma) && {
                    let mut k = j - 1;
                    let mut found = false;
                    // A bounded look back (SQLite joins at most 64 tables):
                    // a list of thousands of calls stays linear to scan.
                    let mut steps = 0;
                    while k > 0 && steps < 512 {
                        steps += 1;
                        k -= 1;
                        match self.kind(k) {
                            Some(TokenKind::RParen) => match self.partner[k] {
                                Some(o) => k = o,
                                None => break,
                            },
                            Some(TokenKind::LParen) => break,
                            _ if self.word(k, "select") || self.word(k, "where") => break,
                            _ if self.word(k, "from") => {
                                found = true;
                                break;
                            }
                            _ => {}
                        }
                    }
                    found
                }
            })
    }

    /// `ARRAY(SELECT e FROM ...)`: the values as a JSON array,
    /// `(SELECT json_group_array(pg_array_elem) FROM (SELECT e AS
    /// pg_array_elem FROM ...))` (what `array_to_string()` reads).
    fn array_subquery(&mut self, i: usize) {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return;
        };
        // The subquery's single select item ends at its FROM.
        let mut k = i + 3;
        let mut from = None;
        while k < close {
            match self.kind(k) {
                Some(TokenKind::LParen | TokenKind::LBracket) => {
                    k = self.partner[k].unwrap_or(close);
                }
                Some(TokenKind::Comma) => return,
                _ if self.word(k, "from") => {
                    from = Some(k);
                    break;
                }
                _ => {}
            }
            k += 1;
        }
        let Some(from) = from else {
            return;
        };
        let open = self.toks[i + 1];
        self.replace(
            self.toks[i].start,
            open.end,
            "(SELECT json_group_array(pg_array_elem) FROM (",
        );
        let at = self.toks[from].start;
        self.replace(at, at, "AS pg_array_elem ");
        let end = self.toks[close].end;
        self.replace(end, end, ")");
    }

    /// `ARRAY[a, b]`: the JSON array `json_array(a, b)` (the form arrays
    /// take in the embedded backend); nested `[...]` likewise.
    fn array_literal(&mut self, i: usize) {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return;
        };
        self.replace(self.toks[i].start, self.toks[i + 1].end, "json_array(");
        let end = self.toks[close];
        self.replace(end.start, end.end, ")");
        // One pass over the inside: a nested `ARRAY[...]` is skipped (its
        // own call translates it), so 50,000 nested ARRAYs cost linear
        // time, not quadratic.
        let mut k = i + 2;
        while k < close {
            if self.word(k, "array")
                && self.kind(k + 1) == Some(TokenKind::LBracket)
                && let Some(c) = self.partner[k + 1]
            {
                k = c + 1;
                continue;
            }
            let nested = self.kind(k) == Some(TokenKind::LBracket)
                && matches!(
                    self.kind(k - 1),
                    Some(TokenKind::LBracket | TokenKind::Comma)
                );
            if let (true, Some(c)) = (nested, self.partner[k]) {
                let (open, shut) = (self.toks[k], self.toks[c]);
                self.replace(open.start, open.end, "json_array(");
                self.replace(shut.start, shut.end, ")");
            }
            k += 1;
        }
    }

    /// `x = ANY (...)` at `ANY` (`i`): over `ARRAY[a, b]`, `x IN (a, b)`;
    /// over a subquery, `x IN (SELECT ...)`; over an array value (a JSON
    /// array or an array literal), `x IN (SELECT value FROM
    /// json_each(pg_array_json(...)))`. The next token
    /// to translate.
    fn equals_any(&mut self, i: usize) -> usize {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return i + 1;
        };
        let eq = self.toks[i - 1];
        if self.word(i + 2, "array")
            && self.kind(i + 3) == Some(TokenKind::LBracket)
            && self.partner[i + 3] == Some(close - 1)
        {
            self.replace(eq.start, self.toks[i + 3].end, "IN (");
            let (shut, paren) = (self.toks[close - 1], self.toks[close]);
            self.replace(shut.start, paren.end, ")");
            self.consume(close - 1, close + 1);
            return i + 4;
        }
        if self.word(i + 2, "select") {
            self.replace(eq.start, self.toks[i].end, "IN");
            return i + 1;
        }
        self.replace(
            eq.start,
            self.toks[i + 1].end,
            "IN (SELECT value FROM json_each(pg_array_json(",
        );
        let end = self.toks[close].end;
        self.replace(end, end, "))");
        i + 2
    }

    /// `unnest(a)` / `generate_subscripts(a, 1)` in a select list, `a` a
    /// column: the elements of the array joined to the FROM list, `,
    /// json_each(pg_array_json(a)) AS pg_srf`, as `pg_srf.value` /
    /// `CASE WHEN (1) = 1 THEN pg_srf.key + 1 END` (one row per element,
    /// both calls in step as
    /// PostgreSQL runs them; a second array `b` in the same list is `LEFT
    /// JOIN json_each(pg_array_json(b)) AS pg_srf1 ON pg_srf1.key =
    /// pg_srf.key`). `None` (untouched) when `a` is no column, the FROM
    /// list is not found, or the statement names a column as json_each's are named (`id`,
    /// `value` ...) without a qualifier.
    fn srf_in_select_list(&mut self, i: usize, unnest: bool) -> Option<usize> {
        // Each call scans to its FROM list: past a few (SQLite joins at
        // most 64 tables anyway) the rest stay as written and fail there.
        self.srf_calls += 1;
        if self.srf_calls > MAX_SRF_CALLS {
            return None;
        }
        let close = self.partner.get(i + 1).copied().flatten()?;
        // The array: a (qualified) column name, up to a `, 1` for
        // generate_subscripts.
        let arg_end = if unnest {
            close
        } else {
            (i + 2..close).find(|&k| self.kind(k) == Some(TokenKind::Comma))?
        };
        if arg_end <= i + 2
            || !(i + 2..arg_end).all(|k| {
                matches!(
                    self.kind(k),
                    Some(TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::Dot)
                )
            })
        {
            return None;
        }
        // json_each's own columns would make an unqualified column of the
        // same name ambiguous: then the statement stays as it is.
        let shadowed = match self.srf_shadowed {
            Some(known) => known,
            None => {
                let found = (0..self.toks.len()).any(|k| {
                    self.kind(k) == Some(TokenKind::Ident)
                        && JSON_EACH_COLUMNS.iter().any(|c| self.word(k, c))
                        && !(k > 0 && matches!(self.kind(k - 1), Some(TokenKind::Dot)))
                        && !(k > 0 && self.word(k - 1, "as"))
                });
                self.srf_shadowed = Some(found);
                found
            }
        };
        if shadowed {
            return None;
        }
        let arg = self.sql[self.toks[i + 2].start..self.toks[arg_end - 1].end].to_owned();
        // This SELECT's FROM, then where its FROM list ends.
        let mut k = close + 1;
        let from = loop {
            match self.kind(k) {
                None | Some(TokenKind::RParen | TokenKind::Semicolon) => return None,
                Some(TokenKind::LParen | TokenKind::LBracket) => k = self.partner[k]? + 1,
                _ if self.word(k, "from") => break k,
                _ => k += 1,
            }
        };
        let mut end = from + 1;
        loop {
            match self.kind(end) {
                None | Some(TokenKind::RParen | TokenKind::Semicolon) => break,
                Some(TokenKind::LParen | TokenKind::LBracket) => end = self.partner[end]? + 1,
                _ if [
                    "where",
                    "group",
                    "having",
                    "order",
                    "limit",
                    "offset",
                    "union",
                    "intersect",
                    "except",
                    "window",
                    "for",
                    "fetch",
                ]
                .iter()
                .any(|w| self.word(end, w)) =>
                {
                    break;
                }
                _ => end += 1,
            }
        }
        let here = self
            .srf_joins
            .iter()
            .filter(|(at, _, _)| *at == end)
            .count();
        let known = self
            .srf_joins
            .iter()
            .find(|(at, a, _)| *at == end && *a == arg)
            .map(|(_, _, alias)| alias.clone());
        let alias = match known {
            Some(alias) => alias,
            None => {
                // The first array drives the rows; others are read in step
                // (the same subscript), NULL past their end.
                let at = self.toks[end - 1].end;
                let alias = if here == 0 {
                    "pg_srf".to_owned()
                } else {
                    format!("pg_srf{here}")
                };
                let join = if here == 0 {
                    format!(", json_each(pg_array_json({arg})) AS pg_srf")
                } else {
                    format!(
                        " LEFT JOIN json_each(pg_array_json({arg})) AS {alias} ON {alias}.key = pg_srf.key"
                    )
                };
                self.replace(at, at, join);
                self.srf_joins.push((end, arg, alias.clone()));
                alias
            }
        };
        if unnest {
            self.replace(
                self.toks[i].start,
                self.toks[close].end,
                format!("{alias}.value"),
            );
            self.consume(i, close + 1);
            return Some(close + 1);
        }
        // The dimension stays (it may be a parameter): arrays here have one.
        self.replace(self.toks[i].start, self.toks[arg_end].end, "CASE WHEN (");
        let shut = self.toks[close];
        self.replace(
            shut.start,
            shut.end,
            format!(") = 1 THEN {alias}.key + 1 END"),
        );
        self.consume(i, arg_end + 1);
        Some(arg_end + 1)
    }

    /// `unnest(a) x` in a FROM list: the elements of the JSON array `a` as
    /// rows of column `x`, `(SELECT value AS x FROM json_each(a)) AS x`.
    fn unnest_in_from(&mut self, i: usize) {
        let Some(close) = self.partner.get(i + 1).copied().flatten() else {
            return;
        };
        let alias_at = if self.word(close + 1, "as") {
            close + 2
        } else {
            close + 1
        };
        let written = match self.toks.get(alias_at) {
            Some(t)
                if (t.kind == TokenKind::Ident
                    && ![
                        "where", "on", "join", "left", "inner", "cross", "order", "group", "limit",
                        "union", "having", "natural", "right", "full", "using",
                    ]
                    .iter()
                    .any(|w| t.is_word(self.sql, w)))
                    || t.kind == TokenKind::QuotedIdent =>
            {
                Some(t.text(self.sql).to_owned())
            }
            _ => None,
        };
        let alias = written.clone().unwrap_or_else(|| "unnest".to_owned());
        let open = self.toks[i + 1];
        self.replace(
            self.toks[i].start,
            open.end,
            format!("(SELECT value AS {alias} FROM json_each("),
        );
        let end = self.toks[close].end;
        // A written alias becomes the subquery's.
        let to = if written.is_some() {
            self.toks[alias_at].end
        } else {
            end
        };
        self.replace(end, to, format!(") AS {alias}"));
        if written.is_some() {
            self.consume(close + 1, alias_at + 1);
        }
    }

    /// `[NOT] LIKE pattern [ESCAPE e]` / `ILIKE`.
    fn like(&mut self, i: usize, ilike: bool) -> Result<usize, PgError> {
        let tok = self.toks[i];
        let Some(pat) = self.toks.get(i + 1).copied() else {
            return Ok(i + 1);
        };
        let ends_operand = |k: usize| match self.toks.get(k) {
            None => true,
            Some(t) => match t.kind {
                TokenKind::RParen | TokenKind::Comma | TokenKind::Semicolon => true,
                TokenKind::Ident => OPERAND_ENDS.iter().any(|w| t.is_word(self.sql, w)),
                _ => false,
            },
        };
        let simple = matches!(
            pat.kind,
            TokenKind::String
                | TokenKind::EscapeString
                | TokenKind::DollarString
                | TokenKind::Param
        ) && ends_operand(i + 2);
        // An ESCAPE clause with a literal.
        let escape = if simple && self.word(i + 2, "escape") {
            match self.toks.get(i + 3) {
                Some(e)
                    if e.is_string()
                        && e.kind != TokenKind::UnicodeString
                        && ends_operand(i + 4) =>
                {
                    let value = if e.kind == TokenKind::EscapeString {
                        decode_escape_string(self.sql, e)?
                    } else {
                        literal_value(self.sql, e).unwrap_or_default()
                    };
                    Some((like_escape(&value)?, *e))
                }
                _ => return Ok(self.plain_like(i, ilike)),
            }
        } else {
            None
        };
        if !simple {
            return Ok(self.plain_like(i, ilike));
        }
        if ilike {
            self.replace(tok.start, tok.end, "LIKE");
            if escape.is_none() {
                self.push(
                    pat.end,
                    pat.end,
                    " ESCAPE '\\'",
                    EditKind::Close {
                        span_start: tok.start,
                    },
                );
            }
            return Ok(i + 1);
        }
        let esc_char = match escape {
            Some((c, _)) => c,
            None => Some('\\'),
        };
        let clause_end = match escape {
            Some((_, e)) => e.end,
            None => pat.end,
        };
        if pat.kind == TokenKind::Param {
            let esc_arg = match esc_char {
                Some('\\') => String::new(),
                Some(c) => format!(", {}", sqlite_literal(&c.to_string())),
                None => ", ''".to_owned(),
            };
            self.replace(tok.start, pat.start, "GLOB pg_like_glob(");
            self.replace(pat.end, clause_end, format!("{esc_arg})"));
            let param_end = if escape.is_some() { i + 4 } else { i + 2 };
            // The parameter token itself stays as written ($n).
            self.consume(i + 1, param_end);
            return Ok(param_end);
        }
        let value = if pat.kind == TokenKind::EscapeString {
            decode_escape_string(self.sql, &pat)?
        } else {
            literal_value(self.sql, &pat).unwrap_or_default()
        };
        let glob = like_to_glob(&value, esc_char);
        self.replace(
            tok.start,
            clause_end,
            format!("GLOB {}", sqlite_literal(&glob)),
        );
        let next = if escape.is_some() { i + 4 } else { i + 2 };
        self.consume(i + 1, next);
        Ok(next)
    }

    /// A LIKE / ILIKE whose pattern is an expression: SQLite's LIKE, which
    /// ignores ASCII case (right for ILIKE, a known difference for LIKE).
    fn plain_like(&mut self, i: usize, ilike: bool) -> usize {
        if ilike {
            let tok = self.toks[i];
            self.replace(tok.start, tok.end, "LIKE");
        }
        i + 1
    }

    /// `FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF t, ...] [NOWAIT |
    /// SKIP LOCKED]`, repeated: dropped.
    fn locking_clause(&mut self, i: usize) -> usize {
        let mut k = i;
        let mut any = false;
        while self.word(k, "for") {
            let mut j = k + 1;
            if self.word(j, "update") || self.word(j, "share") {
                j += 1;
            } else if self.word(j, "no") && self.word(j + 1, "key") && self.word(j + 2, "update") {
                j += 3;
            } else if self.word(j, "key") && self.word(j + 1, "share") {
                j += 2;
            } else {
                break;
            }
            if self.word(j, "of") {
                j += 1;
                loop {
                    while matches!(
                        self.kind(j),
                        Some(TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::Dot)
                    ) && !self.word(j, "nowait")
                        && !self.word(j, "skip")
                        && !self.word(j, "for")
                    {
                        j += 1;
                    }
                    if self.kind(j) == Some(TokenKind::Comma) {
                        j += 1;
                    } else {
                        break;
                    }
                }
            }
            if self.word(j, "nowait") {
                j += 1;
            } else if self.word(j, "skip") && self.word(j + 1, "locked") {
                j += 2;
            }
            k = j;
            any = true;
        }
        if !any {
            return i + 1;
        }
        let start = self.toks[i].start;
        let end = self.toks[k - 1].end;
        self.replace(start, end, "");
        self.consume(i, k);
        k
    }

    /// `TRUNCATE [TABLE] [ONLY] name [*] [RESTART | CONTINUE IDENTITY]
    /// [CASCADE | RESTRICT]` for one table.
    fn truncate(&mut self) -> usize {
        let mut j = 1;
        if self.word(j, "table") {
            j += 1;
        }
        if self.word(j, "only") {
            j += 1;
        }
        let name_start = j;
        if !matches!(
            self.kind(j),
            Some(TokenKind::Ident | TokenKind::QuotedIdent)
        ) {
            return 1;
        }
        j += 1;
        while self.kind(j) == Some(TokenKind::Dot)
            && matches!(
                self.kind(j + 1),
                Some(TokenKind::Ident | TokenKind::QuotedIdent)
            )
        {
            j += 2;
        }
        let name_end = j;
        if self.kind(j) == Some(TokenKind::Operator) && self.text(j) == "*" {
            j += 1;
        }
        if (self.word(j, "restart") || self.word(j, "continue")) && self.word(j + 1, "identity") {
            j += 2;
        }
        if self.word(j, "cascade") || self.word(j, "restrict") {
            j += 1;
        }
        if j != self.toks.len() && self.kind(j) != Some(TokenKind::Semicolon) {
            return 1;
        }
        let name = &self.sql[self.toks[name_start].start..self.toks[name_end - 1].end];
        let text = format!("DELETE FROM {name}");
        let end = self.toks[j - 1].end;
        self.replace(self.toks[0].start, end, text);
        self.consume(0, j);
        j
    }

    // -- DDL ---------------------------------------------------------------

    fn ddl(&mut self) {
        if self.word(0, "create") {
            let mut i = 1;
            while [
                "global",
                "local",
                "temp",
                "temporary",
                "unlogged",
                "or",
                "replace",
            ]
            .iter()
            .any(|w| self.word(i, w))
            {
                i += 1;
            }
            if self.word(i, "table") {
                self.create_table(i + 1);
            } else if self.word(i, "index") || (self.word(i, "unique") && self.word(i + 1, "index"))
            {
                self.create_index(if self.word(i, "unique") { i + 2 } else { i + 1 });
            }
        } else if self.word(0, "alter") && self.word(1, "table") {
            self.alter_table(2);
        }
    }

    fn skip_name(&self, mut i: usize) -> usize {
        if matches!(
            self.kind(i),
            Some(TokenKind::Ident | TokenKind::QuotedIdent)
        ) {
            i += 1;
            while self.kind(i) == Some(TokenKind::Dot)
                && matches!(
                    self.kind(i + 1),
                    Some(TokenKind::Ident | TokenKind::QuotedIdent)
                )
            {
                i += 2;
            }
        }
        i
    }

    fn create_table(&mut self, mut i: usize) {
        if self.word(i, "if") && self.word(i + 1, "not") && self.word(i + 2, "exists") {
            i += 3;
        }
        i = self.skip_name(i);
        if self.kind(i) != Some(TokenKind::LParen) {
            return;
        }
        let Some(close) = self.partner[i] else {
            return;
        };
        let mut a = i + 1;
        while a < close {
            let b = self.next_top_level_comma(a, close);
            let table_constraint = self.word(a, "like")
                || infer::TABLE_CONSTRAINT_WORDS
                    .iter()
                    .any(|w| self.word(a, w));
            if !table_constraint {
                self.column_def(a, b);
            }
            a = b + 1;
        }
    }

    fn alter_table(&mut self, mut i: usize) {
        if self.word(i, "if") && self.word(i + 1, "exists") {
            i += 2;
        }
        if self.word(i, "only") {
            i += 1;
        }
        i = self.skip_name(i);
        if !self.word(i, "add") {
            return;
        }
        i += 1;
        if self.word(i, "column") {
            i += 1;
        } else if infer::TABLE_CONSTRAINT_WORDS
            .iter()
            .any(|w| self.word(i, w))
        {
            return;
        }
        if self.word(i, "if") && self.word(i + 1, "not") && self.word(i + 2, "exists") {
            i += 3;
        }
        let end = self.next_top_level_comma(i, self.toks.len());
        self.column_def(i, end);
    }

    fn create_index(&mut self, mut i: usize) {
        if self.word(i, "concurrently") {
            let t = self.toks[i];
            self.replace(t.start, t.end, "");
            self.consume(i, i + 1);
            i += 1;
        }
        // [IF NOT EXISTS] [name] ON [ONLY] table [USING method] (
        while i < self.toks.len() && !self.word(i, "on") {
            i += 1;
        }
        i += 1;
        if self.word(i, "only") {
            let t = self.toks[i];
            self.replace(t.start, t.end, "");
            self.consume(i, i + 1);
            i += 1;
        }
        i = self.skip_name(i);
        if self.word(i, "using") && self.kind(i + 1) == Some(TokenKind::Ident) {
            let (a, b) = (self.toks[i], self.toks[i + 1]);
            self.replace(a.start, b.end, "");
            self.consume(i, i + 2);
        }
    }

    fn next_top_level_comma(&self, mut a: usize, limit: usize) -> usize {
        while a < limit {
            match self.toks[a].kind {
                TokenKind::Comma => return a,
                TokenKind::LParen | TokenKind::LBracket => {
                    a = self.partner[a].map_or(limit, |c| c + 1);
                }
                _ => a += 1,
            }
        }
        limit
    }

    /// `name type [constraints]` in `toks[a..b]`.
    fn column_def(&mut self, a: usize, b: usize) {
        let type_at = a + 1;
        if type_at >= b {
            return;
        }
        let Some((ty, type_end)) = infer::parse_type_name(self.sql, &self.toks[..b], type_at)
        else {
            return;
        };
        // Constraints: find an identity clause, an inline PRIMARY KEY, and
        // DEFAULT expressions, at the element's top level.
        let mut identity: Option<(usize, usize)> = None;
        let mut pk_key: Option<usize> = None;
        let mut defaults: Vec<(usize, usize)> = Vec::new();
        let mut k = type_end;
        while k < b {
            let t = self.toks[k];
            if t.kind == TokenKind::LParen {
                k = self.partner[k].map_or(b, |c| c + 1);
                continue;
            }
            if self.word(k, "primary") && self.word(k + 1, "key") {
                pk_key = Some(k + 1);
                k += 2;
                continue;
            }
            if self.word(k, "generated") {
                let mut j = k + 1;
                if self.word(j, "always") {
                    j += 1;
                } else if self.word(j, "by") && self.word(j + 1, "default") {
                    j += 2;
                }
                if self.word(j, "as") && self.word(j + 1, "identity") {
                    j += 2;
                    if self.kind(j) == Some(TokenKind::LParen) {
                        j = self.partner[j].map_or(b, |c| c + 1);
                    }
                    identity = Some((k, j));
                    k = j;
                    continue;
                }
            }
            if self.word(k, "default") {
                let start = k + 1;
                let mut e = start;
                while e < b {
                    let t = self.toks[e];
                    if t.kind == TokenKind::LParen {
                        e = self.partner[e].map_or(b, |c| c + 1);
                        continue;
                    }
                    if t.kind == TokenKind::Ident
                        && CONSTRAINT_WORDS.iter().any(|w| t.is_word(self.sql, w))
                        && e > start
                    {
                        break;
                    }
                    e += 1;
                }
                defaults.push((start, e.min(b)));
                k = e;
                continue;
            }
            k += 1;
        }
        let int_spelling = |o| match o {
            Some(o @ (oid::INT8 | oid::INT2 | oid::INT4)) => Some(infer::auto_increment_decl(o)),
            _ => None,
        };
        let auto = ty.serial || identity.is_some();
        let new_type: Option<String> = if auto && !ty.array {
            int_spelling(ty.oid).map(str::to_owned)
        } else if ty.multiword
            && matches!(
                ty.oid,
                Some(oid::TIMESTAMP | oid::TIMESTAMPTZ | oid::TIME | oid::TIMETZ)
            )
            && !ty.array
        {
            Some(if ty.typmod >= 0 {
                format!("{}({})", ty.name, ty.typmod)
            } else {
                ty.name.clone()
            })
        } else {
            None
        };
        let type_span = (self.toks[type_at].start, self.toks[type_end - 1].end);
        if let Some(text) = &new_type {
            self.replace(type_span.0, type_span.1, text.clone());
        }
        // The type's words are never operands, keywords or typed literals.
        self.consume(type_at, type_end);
        if let Some((g, e)) = identity {
            let (s, end) = (self.toks[g].start, self.toks[e - 1].end);
            self.replace(s, end, "");
            self.consume(g, e);
        }
        if auto
            && new_type.is_some()
            && let Some(key) = pk_key
            && !self.word(key + 1, "autoincrement")
        {
            let end = self.toks[key].end;
            self.push(
                end,
                end,
                " AUTOINCREMENT",
                EditKind::Close { span_start: end },
            );
        }
        for (s, e) in defaults {
            if e <= s {
                continue;
            }
            let single_literal = e == s + 1
                && (self.toks[s].is_literal()
                    || ["null", "true", "false"].iter().any(|w| self.word(s, w)));
            let negative_number = e == s + 2
                && self.kind(s) == Some(TokenKind::Operator)
                && matches!(self.text(s), "-" | "+")
                && self.kind(s + 1) == Some(TokenKind::Number);
            let parenthesized =
                self.kind(s) == Some(TokenKind::LParen) && self.partner[s] == Some(e - 1);
            if !(single_literal || negative_number || parenthesized) {
                self.wrap(self.toks[s].start, self.toks[e - 1].end, "(", ")");
            }
        }
    }
}

/// A SELECT that reads no rows because every branch of it inner-joins a
/// catalog pgiris keeps empty ([`ALWAYS_EMPTY`]: pg_policy,
/// pg_publication, pg_inherits ...): `SELECT NULL, ... LIMIT 0` with as
/// many columns, without evaluating the rest (whose array and regclass
/// arithmetic SQLite could not run). psql's `\d` sends such queries.
///
/// [`ALWAYS_EMPTY`]: super::catalog::ALWAYS_EMPTY
fn empty_catalog_select(sql: &str, toks: &[Token]) -> Option<String> {
    use super::catalog::ALWAYS_EMPTY;
    let is_empty_catalog = |t: &Token| {
        t.kind == TokenKind::Ident
            && ALWAYS_EMPTY
                .iter()
                .any(|e| t.text(sql).eq_ignore_ascii_case(e))
    };
    if !toks.first()?.is_word(sql, "select") || !toks.iter().any(is_empty_catalog) {
        return None;
    }
    // Depth of every token; `top` holds the depth-0 ones.
    let mut depth = 0i32;
    let mut top = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokenKind::LParen | TokenKind::LBracket => {
                if depth == 0 {
                    top.push(i);
                }
                depth += 1;
            }
            TokenKind::RParen | TokenKind::RBracket => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            TokenKind::Semicolon if depth == 0 && i + 1 != toks.len() => return None,
            _ if depth == 0 => top.push(i),
            _ => {}
        }
    }
    let word = |i: usize, w: &str| toks[i].is_word(sql, w);
    // Branches: split at UNION [ALL]; INTERSECT / EXCEPT are not handled.
    let mut branches: Vec<Vec<usize>> = vec![Vec::new()];
    for &i in &top {
        if word(i, "intersect") || word(i, "except") {
            return None;
        }
        if word(i, "union") {
            branches.push(Vec::new());
        } else if let Some(b) = branches.last_mut() {
            b.push(i);
        }
    }
    let mut columns = None;
    for b in &branches {
        let b: Vec<usize> = b
            .iter()
            .copied()
            .filter(|&i| !word(i, "all") && !word(i, "distinct"))
            .collect();
        if !b.first().is_some_and(|&i| word(i, "select")) {
            return None;
        }
        let from = b.iter().position(|&i| word(i, "from"))?;
        if columns.is_none() {
            let list = &b[1..from];
            if list.is_empty()
                || list
                    .iter()
                    .any(|&i| toks[i].kind == TokenKind::Operator && toks[i].text(sql) == "*")
            {
                return None;
            }
            let commas = list
                .iter()
                .filter(|&&i| toks[i].kind == TokenKind::Comma)
                .count();
            columns = Some(commas + 1);
        }
        let mut empty = false;
        let mut k = from + 1;
        let mut expect_relation = true;
        while k < b.len() {
            let i = b[k];
            if [
                "where", "group", "having", "order", "limit", "offset", "window", "fetch", "for",
            ]
            .iter()
            .any(|w| word(i, w))
            {
                break;
            }
            if word(i, "right") || word(i, "full") {
                return None;
            }
            if expect_relation {
                // The relation's last name part: `pg_catalog.pg_policy`.
                let mut j = i;
                while toks.get(j + 1).is_some_and(|t| t.kind == TokenKind::Dot) {
                    j += 2;
                }
                if toks.get(j).is_some_and(is_empty_catalog) {
                    empty = true;
                }
                expect_relation = false;
            }
            if toks[i].kind == TokenKind::Comma {
                expect_relation = true;
            } else if word(i, "join") {
                let outer = k >= 1
                    && (word(b[k - 1], "left")
                        || (word(b[k - 1], "outer") && k >= 2 && word(b[k - 2], "left")));
                expect_relation = !outer;
            }
            k += 1;
        }
        if !empty {
            return None;
        }
    }
    let n = columns?;
    Some(format!("SELECT {} LIMIT 0", vec!["NULL"; n].join(", ")))
}

/// `raw` lower-cased into `buf`, if it fits (longer words are never
/// keywords this module rewrites).
fn lower_word<'b>(raw: &str, buf: &'b mut [u8; 24]) -> Option<&'b str> {
    let bytes = raw.as_bytes();
    let dst = buf.get_mut(..bytes.len())?;
    for (d, s) in dst.iter_mut().zip(bytes) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(dst).ok()
}

/// The value of a `'...'`, `N'...'` or `$tag$...$tag$` literal.
fn literal_value(sql: &str, tok: &Token) -> Option<String> {
    let text = tok.text(sql);
    match tok.kind {
        TokenKind::String => {
            let body = text.strip_prefix(['n', 'N']).unwrap_or(text);
            let inner = body.strip_prefix('\'')?;
            let inner = if tok.terminated {
                inner.strip_suffix('\'')?
            } else {
                inner
            };
            Some(inner.replace("''", "'"))
        }
        TokenKind::DollarString => {
            let tag_len = text[1..].find('$')? + 2;
            let inner = text.get(tag_len..text.len().checked_sub(tag_len)?)?;
            Some(inner.to_owned())
        }
        _ => None,
    }
}

/// A SQLite string literal for `value`.
fn sqlite_literal(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if c == '\'' {
            s.push('\'');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// The value of an `E'...'` literal, with PostgreSQL's escapes (`\n`, `\t`,
/// `\b`, `\f`, `\r`, `\ooo`, `\xhh`, `\uXXXX`, `\UXXXXXXXX`, `\'`, `''`).
fn decode_escape_string(sql: &str, tok: &Token) -> Result<String, PgError> {
    let text = tok.text(sql);
    let inner = text.get(2..).unwrap_or("");
    let inner = if tok.terminated {
        inner.strip_suffix('\'').unwrap_or(inner)
    } else {
        inner
    };
    let b = inner.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let bad_unicode = || {
        PgError::error(functions::INVALID_ESCAPE_SEQUENCE, "invalid Unicode escape")
            .with_hint("Unicode escapes must be \\uXXXX or \\UXXXXXXXX.")
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' && b.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 2;
            continue;
        }
        if c != b'\\' || i + 1 >= b.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = b[i + 1];
        i += 2;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 && b.get(i).is_some_and(|d| (b'0'..=b'7').contains(d)) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if b.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && b.get(i).is_some_and(u8::is_ascii_hexdigit) {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'u' | b'U' => {
                let len = if e == b'u' { 4 } else { 8 };
                let hex = b.get(i..i + len).ok_or_else(bad_unicode)?;
                let s = std::str::from_utf8(hex).map_err(|_| bad_unicode())?;
                let v = u32::from_str_radix(s, 16).map_err(|_| bad_unicode())?;
                let ch = char::from_u32(v).ok_or_else(bad_unicode)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += len;
            }
            other => out.push(other),
        }
    }
    let invalid = |byte: u8| {
        PgError::error(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            format!("invalid byte sequence for encoding \"UTF8\": 0x{byte:02x}"),
        )
    };
    if out.contains(&0) {
        return Err(invalid(0));
    }
    String::from_utf8(out).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let byte = e.as_bytes().get(at).copied().unwrap_or(0);
        invalid(byte)
    })
}

#[cfg(test)]
mod tests;
