//! What PostgreSQL would say about a statement's result columns, worked out
//! from the statement text and the declared column types alone, because
//! Describe must answer before (and without) running anything.
//!
//! It owns four things the embedded backend combines:
//! - [`type_from_decl`]: a column's PostgreSQL type and typmod from the type
//!   it was declared with (SQLite keeps the declaration as written, and
//!   [`translate`](super::translate) keeps PostgreSQL's spelling in DDL);
//! - [`select_items`]: the top-level select list (or `RETURNING` list, or
//!   first `VALUES` row) so SQLite's result columns can be lined up with the
//!   expressions that produce them;
//! - [`type_from_expr`] / [`typed_expr`]: PostgreSQL's type for an expression
//!   as the client wrote it, following the parser's operator and function
//!   resolution for the common cases (`None` when it cannot tell);
//! - [`pg_column_name`]: the name PostgreSQL gives an unaliased select item
//!   (`FigureColname` in PostgreSQL's parse_target.c).
//!
//! Expressions are parsed by a small precedence-climbing parser over the
//! [`lexer`] tokens with PostgreSQL's operator precedence. It
//! never fails: what it does not understand becomes "unknown", and nesting is
//! bounded so hostile input cannot exhaust the stack.

use std::borrow::Cow;

use crate::sql::lexer::{self, Token, TokenKind};
use crate::wire::types::{self, Oid, oid};

/// How [`translate`](super::translate) declares auto-incrementing keys:
/// SQLite assigns ids only to a column declared exactly `INTEGER` (a rowid
/// alias), and it stores that type in its standard spelling, so the
/// PostgreSQL type travels in a comment after it, `INTEGER /*int8*/`, which
/// SQLite keeps in `sqlite_schema.sql` for [`declared_column_types`].
pub fn auto_increment_decl(pg_type: Oid) -> &'static str {
    match pg_type {
        oid::INT8 => "INTEGER /*int8*/",
        oid::INT2 => "INTEGER /*int2*/",
        _ => "INTEGER",
    }
}

/// Nesting beyond this is reported as unknown rather than recursed into.
const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------
// Type names
// ---------------------------------------------------------------------------

/// A type name as parsed from SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    /// The PostgreSQL type, `None` for a name pgiris does not know.
    pub oid: Option<Oid>,
    /// atttypmod: varchar(n) is n + 4, numeric(p,s) is ((p << 16) | s) + 4,
    /// time/timestamp(p) is p; -1 when none.
    pub typmod: i32,
    /// The name PostgreSQL's grammar gives the type (`int4` for `integer`,
    /// `float8` for `double precision`): what a cast's column is called.
    pub name: String,
    /// Written with `[]` or `ARRAY`.
    pub array: bool,
    /// `serial`, `bigserial`, `smallserial` (and `serial4` ...): only valid in
    /// DDL, where they mean an integer with a sequence default.
    pub serial: bool,
    /// `timestamp ... with time zone` and friends: written in several words
    /// SQLite's DDL cannot parse.
    pub multiword: bool,
}

/// Parses a type name starting at token `i`; returns it and the index of the
/// first token after it. `None` when the tokens at `i` cannot start a type
/// name.
pub(crate) fn parse_type_name(sql: &str, toks: &[Token], i: usize) -> Option<(TypeName, usize)> {
    let word = |j: usize| -> Option<String> {
        toks.get(j)
            .filter(|t| t.kind == TokenKind::Ident)
            .map(|t| t.text(sql).to_ascii_lowercase())
    };
    let is_word = |j: usize, w: &str| toks.get(j).is_some_and(|t| t.is_word(sql, w));
    let first = toks.get(i)?;
    let mut j = i;
    let mut multiword = false;
    // `char` / `character` without a length is char(1); `bpchar` is not.
    let mut char_keyword = false;
    // Base name, in PostgreSQL's spelling.
    let (base, mut oid_opt, mut serial): (String, Option<Oid>, bool) = match first.kind {
        TokenKind::QuotedIdent => {
            let name = unquote_ident(first.text(sql));
            j += 1;
            let known = types::type_oid(&name);
            (name, known, false)
        }
        TokenKind::Ident => {
            // Skip a schema qualification (`pg_catalog.int4`).
            let mut w = word(j)?;
            while toks.get(j + 1).is_some_and(|t| t.kind == TokenKind::Dot)
                && toks.get(j + 2).is_some_and(|t| t.kind == TokenKind::Ident)
            {
                j += 2;
                w = word(j)?;
            }
            j += 1;
            match w.as_str() {
                "double" if is_word(j, "precision") => {
                    j += 1;
                    multiword = true;
                    ("float8".into(), Some(oid::FLOAT8), false)
                }
                "character" | "char" | "nchar" | "national" => {
                    if w == "national" {
                        if !(is_word(j, "character") || is_word(j, "char")) {
                            return None;
                        }
                        j += 1;
                    }
                    if is_word(j, "varying") {
                        j += 1;
                        multiword = true;
                        ("varchar".into(), Some(oid::VARCHAR), false)
                    } else {
                        char_keyword = true;
                        ("bpchar".into(), Some(oid::BPCHAR), false)
                    }
                }
                "bit" if is_word(j, "varying") => {
                    j += 1;
                    multiword = true;
                    ("varbit".into(), Some(oid::VARBIT), false)
                }
                "serial" | "serial4" => ("int4".into(), Some(oid::INT4), true),
                "bigserial" | "serial8" => ("int8".into(), Some(oid::INT8), true),
                "smallserial" | "serial2" => ("int2".into(), Some(oid::INT2), true),
                _ => {
                    let canon = canonical_type_name(&w);
                    let known = types::type_oid(canon);
                    (canon.to_owned(), known, false)
                }
            }
        }
        _ => return None,
    };
    // Type modifiers: `(n)` or `(p, s)`.
    let mut mods: Vec<i64> = Vec::new();
    if toks.get(j).is_some_and(|t| t.kind == TokenKind::LParen) {
        let mut k = j + 1;
        loop {
            let t = toks.get(k)?;
            match t.kind {
                TokenKind::Number => {
                    mods.push(t.text(sql).parse::<i64>().ok()?);
                    k += 1;
                }
                TokenKind::Operator if t.text(sql) == "-" => {
                    let n = toks.get(k + 1)?;
                    if n.kind != TokenKind::Number {
                        return None;
                    }
                    mods.push(-n.text(sql).parse::<i64>().ok()?);
                    k += 2;
                }
                _ => return None,
            }
            match toks.get(k).map(|t| t.kind) {
                Some(TokenKind::Comma) => k += 1,
                Some(TokenKind::RParen) => break,
                _ => return None,
            }
        }
        j = k + 1;
    }
    let mut name = base;
    // `timestamp(p) with time zone`, `time without time zone`.
    if matches!(name.as_str(), "timestamp" | "time") {
        if is_word(j, "with") && is_word(j + 1, "time") && is_word(j + 2, "zone") {
            j += 3;
            multiword = true;
            name.push_str("tz");
            oid_opt = types::type_oid(&name);
        } else if is_word(j, "without") && is_word(j + 1, "time") && is_word(j + 2, "zone") {
            j += 3;
            multiword = true;
        }
    }
    if name == "interval" {
        // Interval fields: `interval day to second`.
        const FIELDS: [&str; 6] = ["year", "month", "day", "hour", "minute", "second"];
        while toks
            .get(j)
            .is_some_and(|t| FIELDS.iter().any(|f| t.is_word(sql, f)) || t.is_word(sql, "to"))
        {
            j += 1;
            multiword = true;
        }
    }
    if name == "float8" && !mods.is_empty() && !multiword {
        // `float(p)`: p <= 24 is real.
        match mods.first() {
            Some(&p) if (1..=24).contains(&p) => {
                name = "float4".into();
                oid_opt = Some(oid::FLOAT4);
            }
            _ => {}
        }
        mods.clear();
    }
    let typmod = match (oid_opt, mods.as_slice()) {
        // `char` / `character` alone is char(1), `bit` alone bit(1).
        (Some(oid::BPCHAR), []) if char_keyword => 5,
        (Some(oid::BIT), []) => 1,
        (Some(o), _) => types::type_modifier(o, &mods).unwrap_or(-1),
        (None, _) => -1,
    };
    // Array bounds: `[]`, `[3]`, `ARRAY`, `ARRAY[3]`.
    let mut array = false;
    loop {
        if toks.get(j).is_some_and(|t| t.kind == TokenKind::LBracket) {
            let mut k = j + 1;
            if toks.get(k).is_some_and(|t| t.kind == TokenKind::Number) {
                k += 1;
            }
            if toks.get(k).is_some_and(|t| t.kind == TokenKind::RBracket) {
                j = k + 1;
                array = true;
                continue;
            }
            break;
        } else if is_word(j, "array") {
            j += 1;
            array = true;
        } else {
            break;
        }
    }
    if serial && array {
        serial = false;
        oid_opt = None;
    }
    let oid_out = if array {
        oid_opt.and_then(types::array_type)
    } else {
        oid_opt
    };
    Some((
        TypeName {
            oid: oid_out,
            typmod,
            name,
            array,
            serial,
            multiword,
        },
        j,
    ))
}

/// PostgreSQL's internal name for a type keyword (`integer` -> `int4`).
fn canonical_type_name(w: &str) -> &str {
    match w {
        "int" | "integer" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "real" => "float4",
        "float" => "float8",
        "boolean" => "bool",
        "decimal" | "dec" => "numeric",
        "varchar" => "varchar",
        other => other,
    }
}

/// The PostgreSQL type of a type name written in SQL (`varchar(20)`,
/// `timestamp with time zone`, `int[]`): `None` if it is not one pgiris
/// knows.
pub fn type_from_name(name: &str) -> Option<(Oid, i32)> {
    let toks = lexer::tokens(name);
    let (t, end) = parse_type_name(name, &toks, 0)?;
    (end == toks.len()).then_some(())?;
    Some((t.oid?, t.typmod))
}

/// PostgreSQL's type and typmod for a column declared as `decltype` (SQLite's
/// `sqlite3_column_decltype`, the declaration as written).
///
/// PostgreSQL spellings map to their type (`varchar(20)` is varchar with
/// typmod 24, `serial` int4, `bigserial` int8, `timestamptz`, `numeric(10,2)`
/// ...); `INTEGER` is int4, which is also what a `serial` key reads as (a
/// `bigserial` key's decltype is `INTEGER` too: [`declared_column_types`]
/// tells them apart); SQLite-only names get their nearest type (`BLOB`
/// bytea, `DATETIME` timestamp, `DOUBLE` float8, `TINYINT` int2); anything
/// else, including an empty declaration, is text.
pub fn type_from_decl(decltype: &str) -> (Oid, i32) {
    let d = decltype.trim();
    let toks = lexer::tokens(d);
    if let Some((t, end)) = parse_type_name(d, &toks, 0)
        && end == toks.len()
        && let Some(o) = t.oid
    {
        return (o, t.typmod);
    }
    // SQLite spellings.
    let lower = d.to_ascii_lowercase();
    let first = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    match first {
        "blob" => (oid::BYTEA, -1),
        "datetime" => (oid::TIMESTAMP, -1),
        "double" => (oid::FLOAT8, -1),
        "tinyint" => (oid::INT2, -1),
        "mediumint" => (oid::INT4, -1),
        "unsigned" if lower.contains("big") => (oid::INT8, -1),
        "nvarchar" | "nchar" | "varying" => (oid::VARCHAR, -1),
        "clob" | "string" => (oid::TEXT, -1),
        _ => (oid::TEXT, -1),
    }
}

/// The words that start a table constraint rather than a column in the
/// list of a CREATE TABLE or an ALTER TABLE ... ADD.
pub(crate) const TABLE_CONSTRAINT_WORDS: [&str; 6] = [
    "constraint",
    "primary",
    "unique",
    "check",
    "foreign",
    "exclude",
];

/// Every column of a table with its PostgreSQL type and typmod, read from
/// the table's `CREATE TABLE` text as SQLite stores it (`sqlite_schema.sql`,
/// i.e. after translation): like [`type_from_decl`] on each declared type,
/// and also right for `bigserial` / `smallserial` keys, whose decltype alone
/// is `INTEGER` (see [`auto_increment_decl`]). Column names are folded as
/// PostgreSQL folds them. Empty when `create_sql` is not a CREATE TABLE with
/// a column list.
pub fn declared_column_types(create_sql: &str) -> Vec<(String, Oid, i32)> {
    let all: Vec<Token> = lexer::Lexer::new(create_sql).collect();
    let sig: Vec<Token> = all
        .iter()
        .copied()
        .filter(|t| t.kind != TokenKind::Comment)
        .collect();
    let close = matching_parens(&sig);
    let mut out = Vec::new();
    let mut i = 0;
    if !sig.first().is_some_and(|t| t.is_word(create_sql, "create")) {
        return out;
    }
    while i < sig.len() && sig[i].kind != TokenKind::LParen {
        if sig[i].is_word(create_sql, "as") {
            return out;
        }
        i += 1;
    }
    let Some(end) = close.get(i).copied().flatten() else {
        return out;
    };
    let mut a = i + 1;
    while a < end {
        let b = scan_top_level(&sig, &close, a, |t| t.kind == TokenKind::Comma).min(end);
        let first = sig[a];
        let is_constraint = TABLE_CONSTRAINT_WORDS
            .iter()
            .any(|w| first.is_word(create_sql, w));
        if !is_constraint && matches!(first.kind, TokenKind::Ident | TokenKind::QuotedIdent) {
            let name = fold_ident(first.text(create_sql));
            let ty = match parse_type_name(create_sql, &sig[..b], a + 1) {
                Some((_, type_end)) if type_end > a + 1 => {
                    let last = sig[type_end - 1];
                    let decl = &create_sql[sig[a + 1].start..last.end];
                    // A type comment right after the declared type wins.
                    let marker = all
                        .iter()
                        .find(|t| t.start >= last.end)
                        .filter(|t| t.kind == TokenKind::Comment)
                        .and_then(|t| {
                            let text = t.text(create_sql);
                            type_from_name(text.strip_prefix("/*")?.strip_suffix("*/")?.trim())
                        });
                    marker.unwrap_or_else(|| type_from_decl(decl))
                }
                _ => (oid::TEXT, -1),
            };
            out.push((name, ty.0, ty.1));
        }
        a = b + 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Select items
// ---------------------------------------------------------------------------

/// One top-level item of a select list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// The expression as written (the alias excluded).
    pub expr: String,
    /// `AS name` or a bare label, as PostgreSQL folds it (unquoted names
    /// lower-cased, quoted ones kept). `VALUES` items are `column1`...
    pub alias: Option<String>,
    /// `*` or `t.*`: expands to several columns.
    pub is_star: bool,
}

/// The select list of the first SELECT core of `sql` (after any `WITH`,
/// inside leading parentheses), the `RETURNING` list of INSERT / UPDATE /
/// DELETE, or the first row of a bare `VALUES`. `None` when the statement
/// has no such list (DDL, `TABLE t`, DML without RETURNING).
pub fn select_items(sql: &str) -> Option<Vec<SelectItem>> {
    let toks = lexer::tokens(sql);
    select_items_of(sql, &toks)
}

fn select_items_of(sql: &str, toks: &[Token]) -> Option<Vec<SelectItem>> {
    let close = matching_parens(toks);
    let mut i = 0;
    while toks.get(i)?.kind == TokenKind::LParen {
        i += 1;
    }
    if toks[i].is_word(sql, "with") {
        i += 1;
        if toks.get(i)?.is_word(sql, "recursive") {
            i += 1;
        }
        loop {
            // name [(cols)] AS [NOT] [MATERIALIZED] ( query ), at the name
            i += 1;
            if toks.get(i)?.kind == TokenKind::LParen {
                i = close[i]? + 1;
            }
            if !toks.get(i)?.is_word(sql, "as") {
                return None;
            }
            i += 1;
            if toks.get(i)?.is_word(sql, "not") {
                i += 1;
            }
            if toks.get(i)?.is_word(sql, "materialized") {
                i += 1;
            }
            if toks.get(i)?.kind != TokenKind::LParen {
                return None;
            }
            i = close[i]? + 1;
            // SEARCH / CYCLE clauses are rare enough to not follow.
            if toks.get(i)?.kind == TokenKind::Comma {
                i += 1;
                continue;
            }
            break;
        }
        while toks.get(i)?.kind == TokenKind::LParen {
            i += 1;
        }
    }
    let head = toks.get(i)?;
    if head.is_word(sql, "select") {
        i += 1;
        if toks.get(i).is_some_and(|t| t.is_word(sql, "all")) {
            i += 1;
        } else if toks.get(i).is_some_and(|t| t.is_word(sql, "distinct")) {
            i += 1;
            if toks.get(i).is_some_and(|t| t.is_word(sql, "on"))
                && toks.get(i + 1).is_some_and(|t| t.kind == TokenKind::LParen)
            {
                i = close[i + 1]? + 1;
            }
        }
        const ENDS: [&str; 13] = [
            "from",
            "into",
            "where",
            "group",
            "having",
            "window",
            "order",
            "limit",
            "offset",
            "fetch",
            "for",
            "union",
            "intersect",
        ];
        let end = scan_top_level(toks, &close, i, |t| {
            t.kind == TokenKind::Semicolon
                || t.kind == TokenKind::RParen
                || (t.kind == TokenKind::Ident
                    && (ENDS.iter().any(|w| t.is_word(sql, w)) || t.is_word(sql, "except")))
        });
        Some(split_items(sql, toks, &close, i, end, None))
    } else if head.is_word(sql, "values") {
        let open = i + 1;
        if toks.get(open)?.kind != TokenKind::LParen {
            return None;
        }
        let end = close[open]?;
        Some(split_items(
            sql,
            toks,
            &close,
            open + 1,
            end,
            Some("column"),
        ))
    } else if ["insert", "update", "delete", "merge"]
        .iter()
        .any(|w| head.is_word(sql, w))
    {
        let ret = scan_top_level(toks, &close, i, |t| t.is_word(sql, "returning"));
        if ret >= toks.len() {
            return None;
        }
        let end = scan_top_level(toks, &close, ret + 1, |t| {
            t.kind == TokenKind::Semicolon || t.kind == TokenKind::RParen
        });
        Some(split_items(sql, toks, &close, ret + 1, end, None))
    } else {
        None
    }
}

/// For each `(` / `[`, the index of its matching closer.
fn matching_parens(toks: &[Token]) -> Vec<Option<usize>> {
    let mut close = vec![None; toks.len()];
    let mut stack = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokenKind::LParen | TokenKind::LBracket => stack.push(i),
            TokenKind::RParen | TokenKind::RBracket => {
                if let Some(o) = stack.pop() {
                    close[o] = Some(i);
                }
            }
            _ => {}
        }
    }
    close
}

/// The first index from `i` at nesting depth 0 where `stop` holds (or the
/// end); parenthesized groups are skipped whole.
fn scan_top_level(
    toks: &[Token],
    close: &[Option<usize>],
    mut i: usize,
    stop: impl Fn(&Token) -> bool,
) -> usize {
    while i < toks.len() {
        let t = &toks[i];
        if stop(t) {
            return i;
        }
        i = match t.kind {
            TokenKind::LParen | TokenKind::LBracket => match close[i] {
                Some(c) => c + 1,
                None => return toks.len(),
            },
            _ => i + 1,
        };
    }
    toks.len()
}

fn split_items(
    sql: &str,
    toks: &[Token],
    close: &[Option<usize>],
    start: usize,
    end: usize,
    values_prefix: Option<&str>,
) -> Vec<SelectItem> {
    let mut items = Vec::new();
    let mut a = start;
    while a < end {
        let b = scan_top_level(toks, close, a, |t| t.kind == TokenKind::Comma).min(end);
        if b > a {
            let n = items.len() + 1;
            let mut item = make_item(sql, &toks[a..b]);
            if let Some(prefix) = values_prefix {
                item.alias = Some(format!("{prefix}{n}"));
            }
            items.push(item);
        }
        a = b + 1;
    }
    items
}

fn make_item(sql: &str, toks: &[Token]) -> SelectItem {
    let span = |ts: &[Token]| -> String {
        match (ts.first(), ts.last()) {
            (Some(f), Some(l)) => sql.get(f.start..l.end).unwrap_or("").to_owned(),
            _ => String::new(),
        }
    };
    let n = toks.len();
    let is_star = toks
        .last()
        .is_some_and(|t| t.kind == TokenKind::Operator && t.text(sql) == "*")
        && (n == 1 || (n >= 2 && toks[n - 2].kind == TokenKind::Dot));
    if is_star {
        return SelectItem {
            expr: span(toks),
            alias: None,
            is_star: true,
        };
    }
    let label = |t: &Token| match t.kind {
        TokenKind::Ident => Some(t.text(sql).to_ascii_lowercase()),
        TokenKind::QuotedIdent => Some(unquote_ident(t.text(sql))),
        _ => None,
    };
    if n >= 3
        && toks[n - 2].is_word(sql, "as")
        && let Some(alias) = label(&toks[n - 1])
    {
        return SelectItem {
            expr: span(&toks[..n - 2]),
            alias: Some(alias),
            is_star: false,
        };
    }
    // A bare label: the expression parser stops right before it.
    if n >= 2 && matches!(toks[n - 1].kind, TokenKind::Ident | TokenKind::QuotedIdent) {
        let mut p = Parser::new(sql, toks, 0);
        p.expr(0);
        if p.pos == n - 1 {
            return SelectItem {
                expr: span(&toks[..n - 1]),
                alias: label(&toks[n - 1]),
                is_star: false,
            };
        }
    }
    SelectItem {
        expr: span(toks),
        alias: None,
        is_star: false,
    }
}

/// An identifier's name as PostgreSQL folds it: `"Foo"` is `Foo`, `Foo` is
/// `foo`.
pub fn fold_ident(text: &str) -> String {
    if text.starts_with('"') || text.starts_with("U&\"") || text.starts_with("u&\"") {
        unquote_ident(text)
    } else {
        text.to_ascii_lowercase()
    }
}

fn unquote_ident(text: &str) -> String {
    let t = text
        .strip_prefix("U&")
        .or_else(|| text.strip_prefix("u&"))
        .unwrap_or(text);
    let inner = t.strip_prefix('"').unwrap_or(t);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    inner.replace("\"\"", "\"")
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Node<'a> {
    /// A numeric constant, sign folded in.
    Number(Cow<'a, str>),
    /// A string constant (type unknown until context decides: text).
    Str,
    Bit,
    Null,
    Bool,
    Param(usize),
    /// A column reference: optional qualifier, the column token.
    Column(Option<Token>, Token),
    Star,
    Call {
        name: String,
        args: Vec<Node<'a>>,
    },
    /// `current_date`, `current_timestamp(3)` ...: name, type, typmod.
    SqlValue(&'static str, Oid, i32),
    Cast(Box<Node<'a>>, TypeName),
    Unary(&'a str, Box<Node<'a>>),
    Binary(&'a str, Box<Node<'a>>, Box<Node<'a>>),
    /// Anything whose value is boolean: comparisons, AND/OR/NOT, IS, IN ...
    Predicate,
    Case {
        results: Vec<Node<'a>>,
        default: Option<Box<Node<'a>>>,
    },
    Subquery(&'a str),
    Exists,
    /// `ARRAY[...]` (its elements) or a bare `[...]` inside one.
    Array(Vec<Node<'a>>),
    /// `ARRAY(subquery)`
    ArrayQuery(&'a str),
    Row,
    Collate(Box<Node<'a>>),
    AtTimeZone(Box<Node<'a>>),
    Subscript(Box<Node<'a>>),
    Field(Token),
    Unknown,
}

struct Parser<'s, 't> {
    sql: &'s str,
    toks: &'t [Token],
    pos: usize,
    depth: usize,
}

/// Keywords that end an expression (and so are never operators or
/// operands in the middle of one).
fn binding_power(p: &Parser<'_, '_>, t: &Token) -> Option<u8> {
    let sql = p.sql;
    Some(match t.kind {
        TokenKind::TypeCast => 15,
        TokenKind::LBracket => 14,
        TokenKind::Dot => 15,
        TokenKind::Operator => match t.text(sql) {
            "+" | "-" => 8,
            "*" | "/" | "%" => 9,
            "^" => 10,
            "<" | ">" | "=" | "<=" | ">=" | "<>" | "!=" => 5,
            _ => 7,
        },
        TokenKind::Ident => {
            let w = t.text(sql);
            let is = |k: &str| w.eq_ignore_ascii_case(k);
            if is("or") {
                1
            } else if is("and") {
                2
            } else if is("is") || is("isnull") || is("notnull") {
                4
            } else if is("like") || is("ilike") || is("similar") || is("in") || is("between") {
                6
            } else if is("not") {
                // Only as `NOT LIKE` / `NOT IN` ...
                let next = p.toks.get(p.pos + 1)?;
                if ["like", "ilike", "similar", "in", "between"]
                    .iter()
                    .any(|k| next.is_word(sql, k))
                {
                    6
                } else {
                    return None;
                }
            } else if is("at")
                && p.toks
                    .get(p.pos + 1)
                    .is_some_and(|n| n.is_word(sql, "time"))
            {
                11
            } else if is("collate") {
                12
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

impl<'s, 't> Parser<'s, 't> {
    fn new(sql: &'s str, toks: &'t [Token], depth: usize) -> Parser<'s, 't> {
        Parser {
            sql,
            toks,
            pos: 0,
            depth,
        }
    }

    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'t Token> {
        self.toks.get(self.pos + ahead)
    }

    fn at_word(&self, w: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(self.sql, w))
    }

    fn at_kind(&self, k: TokenKind) -> bool {
        self.peek().is_some_and(|t| t.kind == k)
    }

    /// Index of the token closing the bracket at `open`.
    fn closer(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match t.kind {
                TokenKind::LParen | TokenKind::LBracket => depth += 1,
                TokenKind::RParen | TokenKind::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Skips a bracketed group at the current position; false (and the
    /// position at the end) when it is not closed.
    fn skip_group(&mut self) -> bool {
        match self.closer(self.pos) {
            Some(c) => {
                self.pos = c + 1;
                true
            }
            None => {
                self.pos = self.toks.len();
                false
            }
        }
    }

    fn expr(&mut self, min_bp: u8) -> Node<'s> {
        if self.depth >= MAX_DEPTH {
            self.pos = self.toks.len();
            return Node::Unknown;
        }
        self.depth += 1;
        let mut lhs = self.prefix();
        let mut chain = 0;
        while let Some(t) = self.peek() {
            let Some(bp) = binding_power(self, t) else {
                break;
            };
            if bp <= min_bp {
                break;
            }
            // Left-associative chains nest to the left; bound them like
            // recursion so no tree gets deep enough to overflow a walk.
            chain += 1;
            if chain > MAX_DEPTH {
                self.pos = self.toks.len();
                self.depth -= 1;
                return Node::Unknown;
            }
            lhs = self.infix(lhs, t, bp);
        }
        self.depth -= 1;
        lhs
    }

    fn infix(&mut self, lhs: Node<'s>, t: &Token, bp: u8) -> Node<'s> {
        let sql = self.sql;
        match t.kind {
            TokenKind::TypeCast => {
                self.pos += 1;
                match parse_type_name(sql, self.toks, self.pos) {
                    Some((ty, end)) => {
                        self.pos = end;
                        Node::Cast(Box::new(lhs), ty)
                    }
                    None => {
                        self.pos = self.toks.len();
                        Node::Unknown
                    }
                }
            }
            TokenKind::LBracket => {
                self.skip_group();
                Node::Subscript(Box::new(lhs))
            }
            TokenKind::Dot => {
                self.pos += 1;
                match self.peek() {
                    Some(f) if matches!(f.kind, TokenKind::Ident | TokenKind::QuotedIdent) => {
                        self.pos += 1;
                        Node::Field(*f)
                    }
                    Some(f) if f.kind == TokenKind::Operator && f.text(sql) == "*" => {
                        self.pos += 1;
                        Node::Star
                    }
                    _ => Node::Unknown,
                }
            }
            TokenKind::Operator => {
                let op = t.text(sql);
                self.pos += 1;
                let rhs = self.expr(bp);
                match op {
                    "<" | ">" | "=" | "<=" | ">=" | "<>" | "!=" | "~" | "!~" | "~*" | "!~*"
                    | "~~" | "!~~" | "~~*" | "!~~*" | "@>" | "<@" | "&&" | "?" | "?|" | "?&"
                    | "@@" => Node::Predicate,
                    _ => Node::Binary(op, Box::new(lhs), Box::new(rhs)),
                }
            }
            _ => {
                // Keyword operators.
                self.pos += 1;
                let w = t.text(sql).to_ascii_lowercase();
                match w.as_str() {
                    "or" | "and" => {
                        self.expr(bp);
                        Node::Predicate
                    }
                    "isnull" | "notnull" => Node::Predicate,
                    "is" => {
                        if self.at_word("not") {
                            self.pos += 1;
                        }
                        if self.at_word("distinct") {
                            self.pos += 1;
                            if self.at_word("from") {
                                self.pos += 1;
                            }
                            self.expr(bp);
                        } else if self.at_word("of") {
                            self.pos += 1;
                            if self.at_kind(TokenKind::LParen) {
                                self.skip_group();
                            }
                        } else if self.peek().is_some() {
                            // NULL, TRUE, FALSE, UNKNOWN, DOCUMENT, NORMALIZED
                            self.pos += 1;
                        }
                        Node::Predicate
                    }
                    "at" => {
                        // AT TIME ZONE expr
                        self.pos += 1;
                        if self.at_word("zone") {
                            self.pos += 1;
                        }
                        self.expr(bp);
                        Node::AtTimeZone(Box::new(lhs))
                    }
                    "collate" => {
                        while self.peek().is_some_and(|t| {
                            matches!(t.kind, TokenKind::Ident | TokenKind::QuotedIdent)
                        }) {
                            self.pos += 1;
                            if self.at_kind(TokenKind::Dot) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                        Node::Collate(Box::new(lhs))
                    }
                    _ => {
                        // [NOT] LIKE / ILIKE / SIMILAR TO / IN / BETWEEN
                        let w = if w == "not" {
                            let k = self.peek().map(|t| t.text(sql).to_ascii_lowercase());
                            self.pos += 1;
                            k.unwrap_or_default()
                        } else {
                            w
                        };
                        match w.as_str() {
                            "in" => {
                                if self.at_kind(TokenKind::LParen) {
                                    self.skip_group();
                                } else {
                                    self.expr(bp);
                                }
                            }
                            "between" => {
                                if self.at_word("symmetric") || self.at_word("asymmetric") {
                                    self.pos += 1;
                                }
                                self.expr(bp);
                                if self.at_word("and") {
                                    self.pos += 1;
                                    self.expr(bp);
                                }
                            }
                            _ => {
                                if self.at_word("to") {
                                    self.pos += 1;
                                }
                                self.expr(bp);
                                if self.at_word("escape") {
                                    self.pos += 1;
                                    self.expr(bp);
                                }
                            }
                        }
                        Node::Predicate
                    }
                }
            }
        }
    }

    fn prefix(&mut self) -> Node<'s> {
        let sql = self.sql;
        let Some(t) = self.peek() else {
            return Node::Unknown;
        };
        match t.kind {
            TokenKind::Number => {
                self.pos += 1;
                Node::Number(Cow::Borrowed(t.text(sql)))
            }
            TokenKind::String
            | TokenKind::EscapeString
            | TokenKind::UnicodeString
            | TokenKind::DollarString => {
                self.pos += 1;
                Node::Str
            }
            TokenKind::BitString => {
                self.pos += 1;
                Node::Bit
            }
            TokenKind::Param => {
                self.pos += 1;
                match t.text(sql)[1..].parse::<usize>() {
                    Ok(n) => Node::Param(n),
                    Err(_) => Node::Unknown,
                }
            }
            TokenKind::LParen => self.paren(),
            TokenKind::LBracket => self.array_elements(),
            TokenKind::Operator => {
                let op = t.text(sql);
                self.pos += 1;
                if op == "*" {
                    return Node::Star;
                }
                let inner = self.expr(13);
                match (op, inner) {
                    ("-", Node::Number(n)) => Node::Number(Cow::Owned(format!("-{n}"))),
                    ("+", n @ Node::Number(_)) => n,
                    (op, inner) => Node::Unary(op, Box::new(inner)),
                }
            }
            TokenKind::QuotedIdent => self.name_or_call(),
            TokenKind::Ident => self.keyword_or_name(),
            _ => {
                self.pos += 1;
                Node::Unknown
            }
        }
    }

    fn paren(&mut self) -> Node<'s> {
        let sql = self.sql;
        let open = self.pos;
        let Some(close) = self.closer(open) else {
            self.pos = self.toks.len();
            return Node::Unknown;
        };
        let first = self.toks.get(open + 1);
        let is_query = first.is_some_and(|t| {
            ["select", "with", "values", "table"]
                .iter()
                .any(|w| t.is_word(sql, w))
                || t.kind == TokenKind::LParen && {
                    // ((select ...)) is still a subquery.
                    let mut k = open + 1;
                    while self
                        .toks
                        .get(k)
                        .is_some_and(|t| t.kind == TokenKind::LParen)
                    {
                        k += 1;
                    }
                    self.toks.get(k).is_some_and(|t| t.is_word(sql, "select"))
                        && self.closer(open + 1) == Some(close - 1)
                }
        });
        self.pos = close + 1;
        if is_query {
            let inner = &self.toks[open + 1..close];
            let text = match (inner.first(), inner.last()) {
                (Some(f), Some(l)) => sql.get(f.start..l.end).unwrap_or(""),
                _ => "",
            };
            return Node::Subquery(text);
        }
        let items = self.comma_list(open + 1, close);
        match items.len() {
            1 => items.into_iter().next().unwrap_or(Node::Unknown),
            _ => Node::Row,
        }
    }

    /// Parses each top-level comma-separated expression of `toks[a..b]`.
    fn comma_list(&self, a: usize, b: usize) -> Vec<Node<'s>> {
        let mut out = Vec::new();
        let mut start = a;
        let mut depth = 0usize;
        for i in a..=b {
            let end_here = i == b
                || (depth == 0 && self.toks.get(i).is_some_and(|t| t.kind == TokenKind::Comma));
            if end_here {
                if i > start {
                    let mut sub = Parser::new(self.sql, &self.toks[start..i], self.depth + 1);
                    out.push(sub.expr(0));
                }
                start = i + 1;
                continue;
            }
            match self.toks[i].kind {
                TokenKind::LParen | TokenKind::LBracket => depth += 1,
                TokenKind::RParen | TokenKind::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        out
    }

    fn keyword_or_name(&mut self) -> Node<'s> {
        let sql = self.sql;
        let Some(t) = self.peek() else {
            return Node::Unknown;
        };
        let w = t.text(sql).to_ascii_lowercase();
        let next_is_paren = self.peek_at(1).is_some_and(|n| n.kind == TokenKind::LParen);
        let next_is_dot = self.peek_at(1).is_some_and(|n| n.kind == TokenKind::Dot);
        if !next_is_dot {
            match w.as_str() {
                "null" => {
                    self.pos += 1;
                    return Node::Null;
                }
                "true" | "false" => {
                    self.pos += 1;
                    return Node::Bool;
                }
                "not" => {
                    self.pos += 1;
                    self.expr(3);
                    return Node::Predicate;
                }
                "case" => return self.case(),
                "cast" if next_is_paren => return self.cast(),
                "exists" if next_is_paren => {
                    self.pos += 1;
                    self.skip_group();
                    return Node::Exists;
                }
                "array" => {
                    self.pos += 1;
                    if self.at_kind(TokenKind::LBracket) {
                        return self.array_elements();
                    }
                    if self.at_kind(TokenKind::LParen) {
                        let open = self.pos;
                        if !self.skip_group() {
                            return Node::Unknown;
                        }
                        let inner = &self.toks[open + 1..self.pos - 1];
                        return match (inner.first(), inner.last()) {
                            (Some(f), Some(l)) => {
                                Node::ArrayQuery(sql.get(f.start..l.end).unwrap_or(""))
                            }
                            _ => Node::Unknown,
                        };
                    }
                    return Node::Unknown;
                }
                "row" if next_is_paren => {
                    self.pos += 1;
                    self.skip_group();
                    return Node::Row;
                }
                _ => {}
            }
            if let Some(node) = self.sql_value_function(&w) {
                return node;
            }
            // A typed literal: `date '2024-01-01'`, `interval '1 day'`.
            if let Some((ty, end)) = parse_type_name(sql, self.toks, self.pos)
                && ty.oid.is_some()
                && !ty.serial
                && self.toks.get(end).is_some_and(|s| s.is_string())
            {
                self.pos = end + 1;
                if ty.name == "interval" {
                    const FIELDS: [&str; 7] =
                        ["year", "month", "day", "hour", "minute", "second", "to"];
                    while self
                        .peek()
                        .is_some_and(|t| FIELDS.iter().any(|f| t.is_word(sql, f)))
                    {
                        self.pos += 1;
                    }
                }
                return Node::Cast(Box::new(Node::Str), ty);
            }
        }
        self.name_or_call()
    }

    /// `[e1, e2, ...]` at the current position.
    fn array_elements(&mut self) -> Node<'s> {
        let open = self.pos;
        match self.closer(open) {
            Some(close) => {
                self.pos = close + 1;
                Node::Array(self.comma_list(open + 1, close))
            }
            None => {
                self.pos = self.toks.len();
                Node::Unknown
            }
        }
    }

    fn sql_value_function(&mut self, w: &str) -> Option<Node<'s>> {
        let (name, ty, takes_precision): (&'static str, Oid, bool) = match w {
            "current_date" => ("current_date", oid::DATE, false),
            "current_time" => ("current_time", oid::TIMETZ, true),
            "current_timestamp" => ("current_timestamp", oid::TIMESTAMPTZ, true),
            "localtime" => ("localtime", oid::TIME, true),
            "localtimestamp" => ("localtimestamp", oid::TIMESTAMP, true),
            "current_user" => ("current_user", oid::NAME, false),
            "current_role" => ("current_role", oid::NAME, false),
            "session_user" => ("session_user", oid::NAME, false),
            "user" => ("user", oid::NAME, false),
            "current_catalog" => ("current_catalog", oid::NAME, false),
            // `current_schema()` with parentheses is an ordinary call.
            "current_schema" if !self.peek_at(1).is_some_and(|n| n.kind == TokenKind::LParen) => {
                ("current_schema", oid::NAME, false)
            }
            _ => return None,
        };
        self.pos += 1;
        let mut typmod = -1;
        if takes_precision && self.at_kind(TokenKind::LParen) {
            if let (Some(n), Some(c)) = (self.peek_at(1), self.peek_at(2))
                && n.kind == TokenKind::Number
                && c.kind == TokenKind::RParen
            {
                typmod = n.text(self.sql).parse::<i32>().unwrap_or(-1).min(6);
            }
            self.skip_group();
        }
        Some(Node::SqlValue(name, ty, typmod))
    }

    /// A (qualified) column reference, `t.*`, or a function call.
    fn name_or_call(&mut self) -> Node<'s> {
        let sql = self.sql;
        let Some(&first) = self.peek() else {
            return Node::Unknown;
        };
        self.pos += 1;
        let mut qualifier: Option<Token> = None;
        let mut last = first;
        while self.at_kind(TokenKind::Dot) {
            match self.peek_at(1) {
                Some(n) if matches!(n.kind, TokenKind::Ident | TokenKind::QuotedIdent) => {
                    qualifier = Some(last);
                    last = *n;
                    self.pos += 2;
                }
                Some(n) if n.kind == TokenKind::Operator && n.text(sql) == "*" => {
                    self.pos += 2;
                    return Node::Star;
                }
                _ => break,
            }
        }
        if !self.at_kind(TokenKind::LParen) {
            return Node::Column(qualifier, last);
        }
        // A function call.
        let name = fold_ident(last.text(sql));
        let open = self.pos;
        let Some(close) = self.closer(open) else {
            self.pos = self.toks.len();
            return Node::Unknown;
        };
        self.pos = close + 1;
        let inner = &self.toks[open + 1..close];
        let special = matches!(
            name.as_str(),
            "extract" | "position" | "substring" | "overlay" | "trim"
        );
        let name = if name == "trim" {
            match inner.first() {
                Some(t) if t.is_word(sql, "leading") => "ltrim".to_owned(),
                Some(t) if t.is_word(sql, "trailing") => "rtrim".to_owned(),
                _ => "btrim".to_owned(),
            }
        } else {
            name
        };
        let args = if special && inner.iter().any(|t| t.kind == TokenKind::Ident) {
            // `substring(x from 2)`: typed by name alone; keep the first
            // argument for the functions whose type follows it.
            Vec::new()
        } else {
            let star = inner.len() == 1
                && inner[0].kind == TokenKind::Operator
                && inner[0].text(sql) == "*";
            let mut a = open + 1;
            if self
                .toks
                .get(a)
                .is_some_and(|t| t.is_word(sql, "distinct") || t.is_word(sql, "all"))
            {
                a += 1;
            }
            if star {
                Vec::new()
            } else {
                self.comma_list(a, close)
            }
        };
        // FILTER (...), WITHIN GROUP (...), OVER (...) / OVER name
        loop {
            if (self.at_word("filter") || self.at_word("over"))
                && self.peek_at(1).is_some_and(|t| t.kind == TokenKind::LParen)
            {
                self.pos += 1;
                self.skip_group();
            } else if self.at_word("within")
                && self.peek_at(1).is_some_and(|t| t.is_word(sql, "group"))
            {
                self.pos += 2;
                if self.at_kind(TokenKind::LParen) {
                    self.skip_group();
                }
            } else if self.at_word("over")
                && self.peek_at(1).is_some_and(|t| t.kind == TokenKind::Ident)
            {
                self.pos += 2;
            } else {
                break;
            }
        }
        Node::Call { name, args }
    }

    fn case(&mut self) -> Node<'s> {
        self.pos += 1;
        if !self.at_word("when") {
            // CASE operand WHEN ...
            self.expr(0);
        }
        let mut results = Vec::new();
        let mut default = None;
        while self.at_word("when") {
            self.pos += 1;
            self.expr(0);
            if !self.at_word("then") {
                break;
            }
            self.pos += 1;
            results.push(self.expr(0));
        }
        if self.at_word("else") {
            self.pos += 1;
            default = Some(Box::new(self.expr(0)));
        }
        if self.at_word("end") {
            self.pos += 1;
        } else {
            self.pos = self.toks.len();
            return Node::Unknown;
        }
        Node::Case { results, default }
    }

    fn cast(&mut self) -> Node<'s> {
        // CAST ( expr AS type )
        let open = self.pos + 1;
        let Some(close) = self.closer(open) else {
            self.pos = self.toks.len();
            return Node::Unknown;
        };
        self.pos = close + 1;
        let inner = &self.toks[open + 1..close];
        let mut sub = Parser::new(self.sql, inner, self.depth + 1);
        let value = sub.expr(0);
        if !sub.at_word("as") {
            return Node::Unknown;
        }
        match parse_type_name(self.sql, inner, sub.pos + 1) {
            Some((ty, end)) if end == inner.len() => Node::Cast(Box::new(value), ty),
            _ => Node::Unknown,
        }
    }
}

// ---------------------------------------------------------------------------
// Column names
// ---------------------------------------------------------------------------

/// The name PostgreSQL gives an unaliased select item: a column reference's
/// column, a function's name, a cast's inner name or else its type's name
/// (`$1::int` is `int4`), `case`, `exists`, `array`, `row`, the SQL value
/// functions' own names, a scalar subquery's column name; otherwise
/// `?column?`.
pub fn pg_column_name(expr: &str) -> String {
    name_of(expr, 0)
}

fn name_of(expr: &str, depth: usize) -> String {
    let toks = lexer::tokens(expr);
    let mut p = Parser::new(expr, &toks, depth);
    let node = p.expr(0);
    match figure(expr, &node, depth) {
        (0, _) | (_, None) => "?column?".to_owned(),
        (_, Some(name)) => name,
    }
}

/// PostgreSQL's FigureColnameInternal: (strength, name). Strength 2 is a
/// real name, 1 a fallback (a cast's type name, `case`), 0 none.
fn figure(sql: &str, node: &Node<'_>, depth: usize) -> (u8, Option<String>) {
    match node {
        Node::Column(_, col) => (2, Some(fold_ident(col.text(sql)))),
        Node::Field(f) => (2, Some(fold_ident(f.text(sql)))),
        Node::Subscript(inner) | Node::Collate(inner) => figure(sql, inner, depth),
        Node::Call { name, .. } => (2, Some(name.clone())),
        Node::AtTimeZone(_) => (2, Some("timezone".to_owned())),
        Node::SqlValue(name, _, _) => (2, Some((*name).to_owned())),
        Node::Cast(inner, ty) => {
            let (strength, name) = figure(sql, inner, depth);
            if strength <= 1 {
                (1, Some(ty.name.clone()))
            } else {
                (strength, name)
            }
        }
        Node::Case { default, .. } => {
            let (strength, name) = match default {
                Some(d) => figure(sql, d, depth),
                None => (0, None),
            };
            if strength <= 1 {
                (1, Some("case".to_owned()))
            } else {
                (strength, name)
            }
        }
        Node::Exists => (2, Some("exists".to_owned())),
        Node::Array(_) | Node::ArrayQuery(_) => (2, Some("array".to_owned())),
        Node::Row => (2, Some("row".to_owned())),
        Node::Subquery(text) => {
            if depth >= MAX_DEPTH {
                return (0, None);
            }
            match select_items(text).and_then(|items| items.into_iter().next()) {
                Some(item) if !item.is_star => {
                    let name = item.alias.unwrap_or_else(|| name_of(&item.expr, depth + 1));
                    (2, Some(name))
                }
                _ => (0, None),
            }
        }
        _ => (0, None),
    }
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// PostgreSQL's type for an expression as the client wrote it (before
/// translation), `None` when it cannot be told from the text. `param_types`
/// are the declared parameter types (0 or missing = unspecified, which
/// PostgreSQL resolves to text where nothing else decides).
pub fn type_from_expr(expr: &str, param_types: &[Oid]) -> Option<Oid> {
    typed_expr(expr, param_types).map(|(o, _)| o)
}

/// [`type_from_expr`] with the typmod (`'a'::varchar(5)` is varchar, 9).
pub fn typed_expr(expr: &str, param_types: &[Oid]) -> Option<(Oid, i32)> {
    typed_expr_with_columns(expr, param_types, &|_, _| None)
}

/// [`typed_expr`], asking `columns(qualifier, column)` for the type of each
/// column reference (names folded as PostgreSQL folds them), so that
/// `sum(price)` or `max(created_at)` can be typed too.
pub fn typed_expr_with_columns(
    expr: &str,
    param_types: &[Oid],
    columns: &ColumnTypes<'_>,
) -> Option<(Oid, i32)> {
    let ctx = TypeContext {
        params: param_types,
        columns,
    };
    type_of_text(expr, &ctx, 0).map(|(o, m)| {
        if o == oid::UNKNOWN {
            (oid::TEXT, -1)
        } else {
            (o, m)
        }
    })
}

/// Answers a column reference's type: `(qualifier, column)`, names folded.
pub type ColumnTypes<'c> = dyn Fn(Option<&str>, &str) -> Option<(Oid, i32)> + 'c;

struct TypeContext<'c> {
    params: &'c [Oid],
    columns: &'c ColumnTypes<'c>,
}

type Ty = Option<(Oid, i32)>;

fn type_of_text(expr: &str, ctx: &TypeContext<'_>, depth: usize) -> Ty {
    let toks = lexer::tokens(expr);
    let mut p = Parser::new(expr, &toks, depth);
    let node = p.expr(0);
    if p.pos < toks.len() {
        // Trailing tokens the parser does not understand: do not guess.
        return None;
    }
    type_of(expr, &node, ctx, depth)
}

fn plain(o: Oid) -> Ty {
    Some((o, -1))
}

fn is_int(o: Oid) -> bool {
    matches!(o, oid::INT2 | oid::INT4 | oid::INT8)
}

fn is_numeric_family(o: Oid) -> bool {
    is_int(o) || matches!(o, oid::NUMERIC | oid::FLOAT4 | oid::FLOAT8)
}

fn is_texty(o: Oid) -> bool {
    matches!(
        o,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN
    )
}

/// The type PostgreSQL resolves a mix of numeric operands to.
fn numeric_promote(a: Oid, b: Oid) -> Oid {
    let rank = |o: Oid| match o {
        oid::INT2 => 1,
        oid::INT4 => 2,
        oid::INT8 => 3,
        oid::NUMERIC => 4,
        oid::FLOAT4 => 5,
        _ => 6,
    };
    if a == oid::FLOAT4 && b == oid::FLOAT4 {
        return oid::FLOAT4;
    }
    if a == oid::FLOAT4 || b == oid::FLOAT4 {
        // Only float4 op float4 stays real; any other mix is float8.
        return oid::FLOAT8;
    }
    if rank(a) >= rank(b) { a } else { b }
}

/// The common type of CASE results / COALESCE arguments.
fn common_type(types: &[Ty]) -> Ty {
    let known: Vec<(Oid, i32)> = types
        .iter()
        .flatten()
        .copied()
        .filter(|(o, _)| *o != oid::UNKNOWN)
        .collect();
    if known.is_empty() {
        return if types.iter().all(|t| t.is_some()) && !types.is_empty() {
            plain(oid::UNKNOWN)
        } else {
            None
        };
    }
    if types.iter().any(|t| t.is_none()) {
        return None;
    }
    let first = known[0];
    if known.iter().all(|(o, _)| is_numeric_family(*o)) {
        let o = known
            .iter()
            .fold(first.0, |acc, (o, _)| numeric_promote(acc, *o));
        let same = known.iter().all(|k| *k == first);
        return Some((o, if same { first.1 } else { -1 }));
    }
    if known.iter().all(|k| k.0 == first.0) {
        let same = known.iter().all(|k| *k == first);
        return Some((first.0, if same { first.1 } else { -1 }));
    }
    if known.iter().all(|(o, _)| is_texty(*o)) {
        return plain(oid::TEXT);
    }
    Some((first.0, -1))
}

fn type_of(sql: &str, node: &Node<'_>, ctx: &TypeContext<'_>, depth: usize) -> Ty {
    if depth >= MAX_DEPTH {
        return None;
    }
    let sub = |n: &Node<'_>| type_of(sql, n, ctx, depth + 1);
    match node {
        Node::Number(text) => {
            let t = text.as_ref();
            if t.bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
            {
                if t.parse::<i32>().is_ok() {
                    plain(oid::INT4)
                } else if t.parse::<i64>().is_ok() {
                    plain(oid::INT8)
                } else {
                    plain(oid::NUMERIC)
                }
            } else {
                plain(oid::NUMERIC)
            }
        }
        Node::Str | Node::Null => plain(oid::UNKNOWN),
        Node::Bit => plain(oid::BIT),
        Node::Bool | Node::Predicate | Node::Exists => plain(oid::BOOL),
        Node::Param(n) => match ctx.params.get(n.wrapping_sub(1)) {
            Some(&o) if o != 0 => plain(o),
            _ => plain(oid::UNKNOWN),
        },
        Node::Column(qualifier, col) => {
            let q = qualifier.map(|q| fold_ident(q.text(sql)));
            (ctx.columns)(q.as_deref(), &fold_ident(col.text(sql)))
        }
        Node::Star | Node::Field(_) | Node::Subscript(_) | Node::Unknown => None,
        Node::Row => plain(oid::RECORD),
        Node::Array(elements) => {
            let types: Vec<Ty> = elements.iter().map(sub).collect();
            let elem = match common_type(&types)?.0 {
                oid::UNKNOWN => oid::TEXT,
                o => o,
            };
            // Nested brackets are the same array type.
            if types::element_type(elem).is_some() {
                plain(elem)
            } else {
                types::array_type(elem).and_then(plain)
            }
        }
        Node::ArrayQuery(text) => {
            let first = select_items(text)?.into_iter().next()?;
            if first.is_star {
                return None;
            }
            let elem = match type_of_text(&first.expr, ctx, depth + 1)?.0 {
                oid::UNKNOWN => oid::TEXT,
                o => o,
            };
            types::array_type(elem).and_then(plain)
        }
        Node::SqlValue(_, o, m) => Some((*o, *m)),
        Node::Cast(_, ty) => ty.oid.map(|o| (o, ty.typmod)),
        Node::Collate(inner) => sub(inner),
        Node::AtTimeZone(inner) => match sub(inner)?.0 {
            oid::TIMESTAMPTZ => plain(oid::TIMESTAMP),
            oid::TIMESTAMP | oid::UNKNOWN => plain(oid::TIMESTAMPTZ),
            oid::TIME | oid::TIMETZ => plain(oid::TIMETZ),
            _ => None,
        },
        Node::Unary(op, inner) => {
            let t = sub(inner)?;
            match *op {
                "-" | "+" | "@" if is_numeric_family(t.0) || t.0 == oid::INTERVAL => plain(t.0),
                "|/" | "||/" => plain(oid::FLOAT8),
                "~" if is_int(t.0) => plain(t.0),
                _ => None,
            }
        }
        Node::Binary(op, l, r) => binary_type(op, sub(l), sub(r)),
        Node::Case { results, default } => {
            let mut types: Vec<Ty> = results.iter().map(sub).collect();
            if let Some(d) = default {
                types.push(sub(d));
            }
            common_type(&types)
        }
        Node::Subquery(text) => {
            let items = select_items(text)?;
            let first = items.into_iter().next()?;
            if first.is_star {
                return None;
            }
            type_of_text(&first.expr, ctx, depth + 1)
        }
        Node::Call { name, args } => {
            let arg_types: Vec<Ty> = args.iter().map(sub).collect();
            call_type(name, &arg_types)
        }
    }
}

fn binary_type(op: &str, l: Ty, r: Ty) -> Ty {
    use oid::*;
    match op {
        "||" => {
            let (lo, ro) = (l.map(|t| t.0), r.map(|t| t.0));
            match (lo, ro) {
                (Some(JSONB), Some(JSONB | UNKNOWN)) | (Some(UNKNOWN), Some(JSONB)) => plain(JSONB),
                (Some(BYTEA), Some(BYTEA | UNKNOWN)) | (Some(UNKNOWN), Some(BYTEA)) => plain(BYTEA),
                (Some(a), _) | (_, Some(a)) if is_texty(a) => plain(TEXT),
                (Some(_), Some(_)) => plain(TEXT),
                _ => None,
            }
        }
        "->" | "#>" => match l?.0 {
            JSONB => plain(JSONB),
            JSON => plain(JSON),
            _ => None,
        },
        "->>" | "#>>" => plain(TEXT),
        "+" | "-" | "*" | "/" | "%" | "^" => {
            let (mut a, mut b) = (l?.0, r?.0);
            if a == UNKNOWN && b == UNKNOWN {
                return None;
            }
            if a == UNKNOWN {
                a = b;
            }
            if b == UNKNOWN {
                b = a;
            }
            if op == "^" {
                return if a == NUMERIC || b == NUMERIC {
                    plain(NUMERIC)
                } else if is_numeric_family(a) && is_numeric_family(b) {
                    plain(FLOAT8)
                } else {
                    None
                };
            }
            if is_numeric_family(a) && is_numeric_family(b) {
                return plain(numeric_promote(a, b));
            }
            datetime_arith(op, a, b)
        }
        _ => None,
    }
}

fn datetime_arith(op: &str, a: Oid, b: Oid) -> Ty {
    use oid::*;
    let t = match (op, a, b) {
        ("+", DATE, INT2 | INT4) | ("+", INT2 | INT4, DATE) | ("-", DATE, INT2 | INT4) => DATE,
        ("-", DATE, DATE) => INT4,
        ("+", DATE, INTERVAL) | ("+", INTERVAL, DATE) | ("-", DATE, INTERVAL) => TIMESTAMP,
        ("+", DATE, TIME) | ("+", TIME, DATE) => TIMESTAMP,
        ("+", TIMESTAMP, INTERVAL) | ("+", INTERVAL, TIMESTAMP) | ("-", TIMESTAMP, INTERVAL) => {
            TIMESTAMP
        }
        ("+", TIMESTAMPTZ, INTERVAL)
        | ("+", INTERVAL, TIMESTAMPTZ)
        | ("-", TIMESTAMPTZ, INTERVAL) => TIMESTAMPTZ,
        ("-", TIMESTAMP, TIMESTAMP)
        | ("-", TIMESTAMPTZ, TIMESTAMPTZ)
        | ("-", TIMESTAMPTZ, TIMESTAMP)
        | ("-", TIMESTAMP, TIMESTAMPTZ)
        | ("-", TIME, TIME) => INTERVAL,
        ("+", TIME, INTERVAL) | ("-", TIME, INTERVAL) => TIME,
        ("+" | "-", INTERVAL, INTERVAL) => INTERVAL,
        ("*" | "/", INTERVAL, x) if is_numeric_family(x) => INTERVAL,
        ("*", x, INTERVAL) if is_numeric_family(x) => INTERVAL,
        _ => return None,
    };
    plain(t)
}

fn call_type(name: &str, args: &[Ty]) -> Ty {
    use oid::*;
    let arg = |i: usize| -> Option<Oid> { args.get(i).copied().flatten().map(|t| t.0) };
    let n = args.len();
    let t = match name {
        "count" | "row_number" | "rank" | "dense_rank" | "txid_current" => INT8,
        "ntile" | "length" | "char_length" | "character_length" | "octet_length" | "bit_length"
        | "strpos" | "position" | "ascii" | "array_length" | "pg_backend_pid"
        | "jsonb_array_length" | "json_array_length" | "array_position" => INT4,
        "percent_rank" | "cume_dist" | "random" | "pi" | "date_part" | "sin" | "cos" | "tan"
        | "asin" | "acos" | "atan" | "atan2" | "degrees" | "radians" | "cbrt" => FLOAT8,
        "upper"
        | "lower"
        | "initcap"
        | "substr"
        | "substring"
        | "btrim"
        | "ltrim"
        | "rtrim"
        | "concat"
        | "concat_ws"
        | "replace"
        | "lpad"
        | "rpad"
        | "repeat"
        | "reverse"
        | "left"
        | "right"
        | "md5"
        | "to_char"
        | "translate"
        | "split_part"
        | "format"
        | "quote_ident"
        | "quote_literal"
        | "quote_nullable"
        | "chr"
        | "encode"
        | "overlay"
        | "regexp_replace"
        | "array_to_string"
        | "set_config"
        | "current_setting"
        | "version"
        | "obj_description"
        | "col_description"
        | "timeofday"
        | "to_hex"
        | "jsonb_typeof"
        | "json_typeof"
        | "jsonb_pretty"
        | "jsonb_extract_path_text"
        | "json_extract_path_text"
        | "string_agg"
        | "pg_get_userbyid"
        | "format_type"
        | "inet_client_addr_text" => {
            if name == "string_agg" && arg(0) == Some(BYTEA) {
                BYTEA
            } else {
                TEXT
            }
        }
        "current_database" | "current_user" | "session_user" | "current_schema" | "user"
        | "current_role" => NAME,
        "gen_random_uuid" | "uuid_in" => UUID,
        "pg_typeof" => oid::REGTYPE,
        "decode" | "sha224" | "sha256" | "sha384" | "sha512" => BYTEA,
        "bool_and"
        | "bool_or"
        | "every"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "pg_is_in_recovery" => BOOL,
        "to_json" | "json_build_object" | "json_build_array" | "json_object" | "json_agg"
        | "row_to_json" | "array_to_json" => JSON,
        "to_jsonb" | "jsonb_build_object" | "jsonb_build_array" | "jsonb_object" | "jsonb_agg"
        | "jsonb_set" | "jsonb_strip_nulls" => JSONB,
        "now"
        | "transaction_timestamp"
        | "statement_timestamp"
        | "clock_timestamp"
        | "to_timestamp"
        | "pg_postmaster_start_time"
        | "make_timestamptz" => TIMESTAMPTZ,
        "make_timestamp" => TIMESTAMP,
        "to_date" | "make_date" => DATE,
        "make_time" => TIME,
        "age" | "make_interval" | "justify_days" | "justify_hours" | "justify_interval" => INTERVAL,
        "extract" | "to_number" => NUMERIC,
        "inet_client_addr" | "inet_server_addr" => oid::INET,
        "sum" => match arg(0)? {
            INT2 | INT4 => INT8,
            INT8 | NUMERIC => NUMERIC,
            FLOAT4 => FLOAT4,
            FLOAT8 => FLOAT8,
            INTERVAL => INTERVAL,
            _ => return None,
        },
        "avg" => match arg(0)? {
            INT2 | INT4 | INT8 | NUMERIC => NUMERIC,
            FLOAT4 | FLOAT8 => FLOAT8,
            INTERVAL => INTERVAL,
            _ => return None,
        },
        "stddev" | "stddev_pop" | "stddev_samp" | "variance" | "var_pop" | "var_samp" => {
            match arg(0)? {
                INT2 | INT4 | INT8 | NUMERIC => NUMERIC,
                FLOAT4 | FLOAT8 => FLOAT8,
                _ => return None,
            }
        }
        // min/max resolve varchar and bpchar through text.
        "min" | "max" => match arg(0)? {
            VARCHAR | BPCHAR | UNKNOWN => TEXT,
            other => other,
        },
        "lag" | "lead" | "first_value" | "last_value" | "nth_value" | "any_value" => {
            match arg(0)? {
                UNKNOWN => TEXT,
                other => other,
            }
        }
        "generate_series" => match arg(0)? {
            UNKNOWN => return None,
            other => other,
        },
        "abs" => match arg(0)? {
            UNKNOWN => return None,
            o if is_numeric_family(o) => o,
            _ => return None,
        },
        "round" | "trunc" | "ceil" | "ceiling" | "floor" | "sign" => {
            if n >= 2 {
                NUMERIC
            } else {
                match arg(0)? {
                    NUMERIC => NUMERIC,
                    o if is_numeric_family(o) => FLOAT8,
                    _ => return None,
                }
            }
        }
        "sqrt" | "exp" | "ln" | "log" | "log10" | "power" | "pow" => {
            let all: Option<Vec<Oid>> = (0..n).map(arg).collect();
            let all = all?;
            if all.contains(&NUMERIC) {
                NUMERIC
            } else if all.iter().all(|o| is_numeric_family(*o)) {
                FLOAT8
            } else {
                return None;
            }
        }
        "mod" | "gcd" | "lcm" => {
            let (a, b) = (arg(0)?, arg(1)?);
            if is_numeric_family(a) && is_numeric_family(b) {
                numeric_promote(a, b)
            } else {
                return None;
            }
        }
        "date_trunc" => match arg(1)? {
            TIMESTAMP => TIMESTAMP,
            TIMESTAMPTZ | DATE => TIMESTAMPTZ,
            INTERVAL => INTERVAL,
            _ => return None,
        },
        "timezone" => match arg(1)? {
            TIMESTAMPTZ => TIMESTAMP,
            TIMESTAMP => TIMESTAMPTZ,
            _ => return None,
        },
        "coalesce" | "greatest" | "least" => {
            return common_type(args);
        }
        "nullif" => return args.first().copied().flatten(),
        // Always an array: of text when the argument's type is unknown.
        "array_agg" => match arg(0) {
            None | Some(oid::UNKNOWN) => oid::TEXT_ARRAY,
            Some(t) => types::array_type(t)?,
        },
        "unnest" => types::element_type(arg(0)?)?,
        "string_to_array" | "regexp_split_to_array" => oid::TEXT_ARRAY,
        _ => return None,
    };
    plain(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns of the table every expression below is selected from,
    /// as PostgreSQL 15 declared them:
    /// `create table t (i int4, b int8, s int2, n numeric(10,2), f float8,
    /// r float4, v varchar(20), c char(3), tx text, bo boolean, d date,
    /// ts timestamp, tz timestamptz, u uuid, j jsonb, by bytea)`.
    fn table_t(qualifier: Option<&str>, column: &str) -> Option<(Oid, i32)> {
        if qualifier.is_some_and(|q| q != "t") {
            return None;
        }
        Some(match column {
            "i" => (oid::INT4, -1),
            "b" => (oid::INT8, -1),
            "s" => (oid::INT2, -1),
            "n" => (oid::NUMERIC, 655_366),
            "f" => (oid::FLOAT8, -1),
            "r" => (oid::FLOAT4, -1),
            "v" => (oid::VARCHAR, 24),
            "c" => (oid::BPCHAR, 7),
            "tx" => (oid::TEXT, -1),
            "bo" => (oid::BOOL, -1),
            "d" => (oid::DATE, -1),
            "ts" => (oid::TIMESTAMP, -1),
            "tz" => (oid::TIMESTAMPTZ, -1),
            "u" => (oid::UUID, -1),
            "j" => (oid::JSONB, -1),
            "by" => (oid::BYTEA, -1),
            _ => return None,
        })
    }

    /// (expression, column name, type OID, typmod) as PostgreSQL 15.18
    /// described `select <expression> from t`: generated from psql's
    /// `\gdesc` output (`select <expr> from t \gdesc`), type names mapped to
    /// their OIDs and typmods (`character varying(20)` is 1043 / 24).
    const POSTGRES_ANSWERS: &[(&str, &str, Oid, i32)] = &[
        ("1", "?column?", 23, -1),
        ("2147483648", "?column?", 20, -1),
        ("9223372036854775808", "?column?", 1700, -1),
        ("1.5", "?column?", 1700, -1),
        ("1e10", "?column?", 1700, -1),
        ("'a'", "?column?", 25, -1),
        ("true", "?column?", 16, -1),
        ("false", "?column?", 16, -1),
        ("NULL", "?column?", 25, -1),
        ("'a'::text", "text", 25, -1),
        ("i::text", "i", 25, -1),
        ("i", "i", 23, -1),
        ("t.i", "i", 23, -1),
        ("count(*)", "count", 20, -1),
        ("COUNT(i)", "count", 20, -1),
        ("sum(i)", "sum", 20, -1),
        ("sum(b)", "sum", 1700, -1),
        ("sum(n)", "sum", 1700, -1),
        ("sum(f)", "sum", 701, -1),
        ("avg(i)", "avg", 1700, -1),
        ("avg(f)", "avg", 701, -1),
        ("min(v)", "min", 25, -1),
        ("max(ts)", "max", 1114, -1),
        ("length(tx)", "length", 23, -1),
        ("char_length(v)", "char_length", 23, -1),
        ("upper(tx)", "upper", 25, -1),
        ("lower(v)", "lower", 25, -1),
        ("substr(tx, 1, 2)", "substr", 25, -1),
        ("trim(tx)", "btrim", 25, -1),
        ("concat(i, tx)", "concat", 25, -1),
        ("replace(tx,'a','b')", "replace", 25, -1),
        ("coalesce(i, 0)", "coalesce", 23, -1),
        ("coalesce(NULL, b)", "coalesce", 20, -1),
        ("nullif(i, 0)", "nullif", 23, -1),
        ("abs(f)", "abs", 701, -1),
        ("abs(i)", "abs", 23, -1),
        ("round(n)", "round", 1700, -1),
        ("round(f)", "round", 701, -1),
        ("round(n, 1)", "round", 1700, -1),
        ("now()", "now", 1184, -1),
        ("current_timestamp", "current_timestamp", 1184, -1),
        ("current_date", "current_date", 1082, -1),
        ("localtimestamp", "localtimestamp", 1114, -1),
        ("random()", "random", 701, -1),
        ("version()", "version", 25, -1),
        ("current_user", "current_user", 19, -1),
        ("current_database()", "current_database", 19, -1),
        ("current_setting('search_path')", "current_setting", 25, -1),
        ("pg_backend_pid()", "pg_backend_pid", 23, -1),
        ("gen_random_uuid()", "gen_random_uuid", 2950, -1),
        ("i + 1", "?column?", 23, -1),
        ("i + b", "?column?", 20, -1),
        ("i * 1.5", "?column?", 1700, -1),
        ("i / 2", "?column?", 23, -1),
        ("f + i", "?column?", 701, -1),
        ("s + s", "?column?", 21, -1),
        ("r + i", "?column?", 701, -1),
        ("-i", "?column?", 23, -1),
        ("tx || 'x'", "?column?", 25, -1),
        ("i = 1", "?column?", 16, -1),
        ("i > 1 AND bo", "?column?", 16, -1),
        ("NOT bo", "?column?", 16, -1),
        ("tx IS NULL", "?column?", 16, -1),
        ("i IN (1,2)", "?column?", 16, -1),
        ("tx LIKE 'a%'", "?column?", 16, -1),
        ("EXISTS (SELECT 1)", "exists", 16, -1),
        ("CASE WHEN bo THEN 1 ELSE 2 END", "case", 23, -1),
        ("CASE WHEN bo THEN 'x' END", "case", 25, -1),
        ("CASE WHEN bo THEN 1 ELSE i END", "i", 23, -1),
        ("CASE WHEN bo THEN 1 ELSE 2.5 END", "case", 1700, -1),
        ("(i)", "i", 23, -1),
        ("(1)", "?column?", 23, -1),
        ("CAST(i AS bigint)", "i", 20, -1),
        ("CAST('1' AS integer)", "int4", 23, -1),
        ("'2024-01-01'::date", "date", 1082, -1),
        ("date '2024-01-01'", "date", 1082, -1),
        ("'t'::bool", "bool", 16, -1),
        ("'1'::boolean", "bool", 16, -1),
        ("v::varchar(5)", "v", 1043, 9),
        ("1.5::numeric(10,2)", "numeric", 1700, 655366),
        ("'x'::char(3)", "bpchar", 1042, 7),
        ("'{}'::jsonb", "jsonb", 3802, -1),
        ("'\\x01'::bytea", "bytea", 17, -1),
        ("i::text::int", "i", 23, -1),
        ("(SELECT max(i) FROM t)", "max", 23, -1),
        ("(SELECT 1)", "?column?", 23, -1),
        ("ts::date", "ts", 1082, -1),
        ("d + 1", "?column?", 1082, -1),
        ("d - d", "?column?", 23, -1),
        ("ts - ts", "?column?", 1186, -1),
        ("'1' + 1", "?column?", 23, -1),
        ("1 + 1.5", "?column?", 1700, -1),
        ("2 ^ 3", "?column?", 701, -1),
        ("greatest(i, b)", "greatest", 20, -1),
        ("extract(year from ts)", "extract", 1700, -1),
        ("date_trunc('day', ts)", "date_trunc", 1114, -1),
        ("v", "v", 1043, 24),
        ("c", "c", 1042, 7),
        ("n", "n", 1700, 655366),
        ("i::int2", "i", 21, -1),
        ("pg_catalog.count(*)", "count", 20, -1),
        ("\"i\"", "i", 23, -1),
        ("row_number() over ()", "row_number", 20, -1),
        ("string_agg(tx, ',')", "string_agg", 25, -1),
        ("i BETWEEN 1 AND 2", "?column?", 16, -1),
        ("bo IS TRUE", "?column?", 16, -1),
        ("to_char(ts, 'YYYY')", "to_char", 25, -1),
        ("sqrt(2)", "sqrt", 701, -1),
        ("ceil(1.5)", "ceil", 1700, -1),
        ("floor(f)", "floor", 701, -1),
        ("left(tx, 2)", "left", 25, -1),
        ("position('a' in tx)", "position", 23, -1),
        ("substring(tx from 2)", "substring", 25, -1),
        ("current_schema", "current_schema", 19, -1),
        ("session_user", "session_user", 19, -1),
        ("localtime", "localtime", 1083, -1),
        ("current_time", "current_time", 1266, -1),
        ("tx collate \"C\"", "tx", 25, -1),
        ("i::text || 'a'", "?column?", 25, -1),
        ("octet_length(by)", "octet_length", 23, -1),
        ("md5(tx)", "md5", 25, -1),
        ("json_build_object('a', 1)", "json_build_object", 114, -1),
        ("1::float4", "float4", 700, -1),
        ("1::double precision", "float8", 701, -1),
        ("'x'::varchar", "varchar", 1043, -1),
        ("'x'::character varying", "varchar", 1043, -1),
        ("1::decimal", "numeric", 1700, -1),
        ("1::real", "float4", 700, -1),
        ("1::smallint", "int2", 21, -1),
        ("1::bigint", "int8", 20, -1),
        ("1::boolean", "bool", 16, -1),
        ("i % 2", "?column?", 23, -1),
        ("b / i", "?column?", 20, -1),
        ("n * 2", "?column?", 1700, -1),
        ("tz AT TIME ZONE 'UTC'", "timezone", 1114, -1),
        ("interval '1 day'", "interval", 1186, -1),
        ("ARRAY[1,2]", "array", 1007, -1),
        ("i <> 1", "?column?", 16, -1),
        ("tx ILIKE 'a'", "?column?", 16, -1),
        ("tx NOT LIKE 'a'", "?column?", 16, -1),
        ("i IS NOT NULL", "?column?", 16, -1),
        ("NOT EXISTS (SELECT 1)", "?column?", 16, -1),
        ("cast(tx as varchar(10))", "tx", 1043, 14),
        ("current_timestamp(3)", "current_timestamp", 1184, 3),
        ("-1", "?column?", 23, -1),
        ("-2147483648", "?column?", 23, -1),
        ("9223372036854775807", "?column?", 20, -1),
        ("0.0", "?column?", 1700, -1),
        (".5", "?column?", 1700, -1),
        ("1::text", "text", 25, -1),
        ("i::bigint + 1", "?column?", 20, -1),
        ("coalesce(tx, 'x')", "coalesce", 25, -1),
        ("upper('a')", "upper", 25, -1),
        ("round(1)", "round", 701, -1),
        ("ceil(i)", "ceil", 701, -1),
        ("sqrt(n)", "sqrt", 1700, -1),
        ("power(2, 3)", "power", 701, -1),
        ("abs(-1.5)", "abs", 1700, -1),
        ("d + interval '1 day'", "?column?", 1114, -1),
        ("ts + interval '1 day'", "?column?", 1114, -1),
        ("tz - interval '1 hour'", "?column?", 1184, -1),
        ("d - 1", "?column?", 1082, -1),
        ("i::numeric / 3", "?column?", 1700, -1),
        ("r * r", "?column?", 700, -1),
        ("f * r", "?column?", 701, -1),
        ("s * i", "?column?", 23, -1),
        ("b + 1.5", "?column?", 1700, -1),
        ("min(i)", "min", 23, -1),
        ("max(tx)", "max", 25, -1),
        ("avg(n)", "avg", 1700, -1),
        ("avg(b)", "avg", 1700, -1),
        ("sum(s)", "sum", 20, -1),
        ("sum(r)", "sum", 700, -1),
        ("count(DISTINCT i)", "count", 20, -1),
        ("bool_and(bo)", "bool_and", 16, -1),
        ("length('abc')", "length", 23, -1),
        ("lpad(tx, 5)", "lpad", 25, -1),
        ("rank() over (order by i)", "rank", 20, -1),
        ("lag(v) over ()", "lag", 1043, -1),
        ("u", "u", 2950, -1),
        ("j", "j", 3802, -1),
        ("by", "by", 17, -1),
        ("bo", "bo", 16, -1),
        ("tz", "tz", 1184, -1),
        ("d", "d", 1082, -1),
        ("ts", "ts", 1114, -1),
        ("r", "r", 700, -1),
        ("f", "f", 701, -1),
        ("s", "s", 21, -1),
        ("b", "b", 20, -1),
        ("tx", "tx", 25, -1),
        ("i AS x", "x", 23, -1),
        ("i x", "x", 23, -1),
        ("count(*) AS \"Total\"", "Total", 20, -1),
        ("now()::date", "now", 1082, -1),
        ("current_date - 1", "?column?", 1082, -1),
        ("'a' = 'b'", "?column?", 16, -1),
        (
            "'2024-01-01'::timestamp with time zone",
            "timestamptz",
            1184,
            -1,
        ),
        ("'2024-01-01'::timestamptz", "timestamptz", 1184, -1),
        ("timestamp '2024-01-01'", "timestamp", 1114, -1),
        ("'10:00'::time with time zone", "timetz", 1266, -1),
        ("1::int + 1::int8", "?column?", 20, -1),
        ("'a' || 1", "?column?", 25, -1),
        ("1 || 'a'", "?column?", 25, -1),
        ("i || tx", "?column?", 25, -1),
        ("concat_ws(',', i)", "concat_ws", 25, -1),
        ("greatest(1, 2.5)", "greatest", 1700, -1),
        ("least(i, s)", "least", 23, -1),
        ("nullif(tx, 'a')", "nullif", 25, -1),
        ("coalesce(s, i)", "coalesce", 23, -1),
        ("coalesce(i, s)", "coalesce", 23, -1),
        ("CASE WHEN bo THEN s ELSE i END", "i", 23, -1),
        ("CASE i WHEN 1 THEN 'a' ELSE 'b' END", "case", 25, -1),
        ("1 = 1 OR false", "?column?", 16, -1),
        ("i IS DISTINCT FROM 1", "?column?", 16, -1),
        ("i ISNULL", "?column?", 16, -1),
        ("(i + 1)", "?column?", 23, -1),
        ("((1))", "?column?", 23, -1),
        ("t.i::text", "i", 25, -1),
        ("row(1,2)", "row", 2249, -1),
        ("ARRAY(select 1)", "array", 1007, -1),
        ("i::int4", "i", 23, -1),
        ("i::pg_catalog.int8", "i", 20, -1),
        ("'a'::name", "name", 19, -1),
        ("'1 day'::interval", "interval", 1186, -1),
        ("tz::timestamptz", "tz", 1184, -1),
        ("d::timestamp", "d", 1114, -1),
        ("1::oid", "oid", 26, -1),
        ("2::numeric(5)", "numeric", 1700, 327684),
        ("'a'::char", "bpchar", 1042, 5),
        ("'a'::character(2)", "bpchar", 1042, 6),
        ("'a'::bpchar", "bpchar", 1042, -1),
        ("'a'::varchar(3)", "varchar", 1043, 7),
        ("i::float", "i", 701, -1),
        ("'12:00'::time", "time", 1083, -1),
        ("'2020-01-01'::timestamp(0)", "timestamp", 1114, 0),
        ("'{}'::json", "json", 114, -1),
        ("date_part('year', ts)", "date_part", 701, -1),
        ("to_timestamp(0)", "to_timestamp", 1184, -1),
        ("i::bool", "i", 16, -1),
        ("sum(i) over ()", "sum", 20, -1),
        ("every(bo)", "every", 16, -1),
        ("octet_length(tx)", "octet_length", 23, -1),
        ("strpos(tx, 'a')", "strpos", 23, -1),
        ("split_part(tx, ',', 1)", "split_part", 25, -1),
        ("encode(by, 'hex')", "encode", 25, -1),
        ("decode('00', 'hex')", "decode", 17, -1),
        ("initcap(tx)", "initcap", 25, -1),
        ("reverse(tx)", "reverse", 25, -1),
        ("repeat(tx, 2)", "repeat", 25, -1),
        ("abs(s)", "abs", 21, -1),
        ("mod(i, 2)", "mod", 23, -1),
        ("trunc(f)", "trunc", 701, -1),
        ("trunc(n, 1)", "trunc", 1700, -1),
        ("ln(f)", "ln", 701, -1),
        ("exp(n)", "exp", 1700, -1),
        ("pi()", "pi", 701, -1),
        ("sign(i)", "sign", 701, -1),
        ("ceiling(n)", "ceiling", 1700, -1),
        ("i::varchar", "i", 1043, -1),
        ("tx::varchar(3)", "tx", 1043, 7),
        ("current_role", "current_role", 19, -1),
        ("current_catalog", "current_catalog", 19, -1),
        ("user", "user", 19, -1),
        ("transaction_timestamp()", "transaction_timestamp", 1184, -1),
        ("clock_timestamp()", "clock_timestamp", 1184, -1),
        ("statement_timestamp()", "statement_timestamp", 1184, -1),
        ("localtimestamp(0)", "localtimestamp", 1114, 0),
        ("current_time(2)", "current_time", 1266, 2),
        ("to_json(i)", "to_json", 114, -1),
        ("jsonb_build_object('a',1)", "jsonb_build_object", 3802, -1),
        ("j->'a'", "?column?", 3802, -1),
        ("j->>'a'", "?column?", 25, -1),
        ("-f", "?column?", 701, -1),
        ("+i", "?column?", 23, -1),
        ("- 1.5", "?column?", 1700, -1),
        ("2147483647 + 1", "?column?", 23, -1),
        ("5 / 2.0", "?column?", 1700, -1),
        ("10 % 3", "?column?", 23, -1),
        ("1.5 * 2", "?column?", 1700, -1),
        ("'a' < 'b'", "?column?", 16, -1),
        ("@ -5", "?column?", 23, -1),
        ("|/ 4", "?column?", 701, -1),
        ("i::bigint::text", "i", 25, -1),
        ("(i)::text", "i", 25, -1),
        ("(t.i)", "i", 23, -1),
        ("tx similar to 'a'", "?column?", 16, -1),
        ("bo and not bo", "?column?", 16, -1),
        ("- b", "?column?", 20, -1),
        ("i * 2::int8", "?column?", 20, -1),
        ("2::int2 + 3::int2", "?column?", 21, -1),
        ("b - s", "?column?", 20, -1),
        ("'5'::int + '6'", "?column?", 23, -1),
        ("length(v)", "length", 23, -1),
        ("ts > now()", "?column?", 16, -1),
        ("d > '2020-01-01'", "?column?", 16, -1),
        ("tz - tz", "?column?", 1186, -1),
        ("now() - ts", "?column?", 1186, -1),
        ("E'a\\nb'", "?column?", 25, -1),
        ("$$x$$", "?column?", 25, -1),
        ("U&'a'", "?column?", 25, -1),
        ("B'101'", "?column?", 1560, -1),
        ("x'1f'", "?column?", 1560, -1),
        ("array_agg(i)", "array_agg", 1007, -1),
        ("array_agg('a'::text)", "array_agg", 1009, -1),
        ("array_agg(v ORDER BY i)", "array_agg", 1015, -1),
        ("array_agg(tx ORDER BY i)", "array_agg", 1009, -1),
        ("char_length('a'::varchar(3))", "char_length", 23, -1),
        ("cast(1.5 as int)", "int4", 23, -1),
        ("(1,2)", "row", 2249, -1),
        ("exists(select 1 from t)", "exists", 16, -1),
        ("(select i from t limit 1)", "i", 23, -1),
        ("(select i as q from t limit 1)", "q", 23, -1),
        ("(i)::int8", "i", 20, -1),
        ("cast(i as int)::text", "i", 25, -1),
        ("nullif(1,1)", "nullif", 23, -1),
        ("greatest(1,2)", "greatest", 23, -1),
        ("coalesce(1)", "coalesce", 23, -1),
        ("(select count(*) from t)", "count", 20, -1),
        ("lower('A'::varchar(2))", "lower", 25, -1),
        ("substring('abc', 1, 2)", "substring", 25, -1),
        ("overlay('abc' placing 'x' from 1)", "overlay", 25, -1),
        ("trim(both 'x' from tx)", "btrim", 25, -1),
        ("ltrim(tx)", "ltrim", 25, -1),
        ("rtrim(tx)", "rtrim", 25, -1),
        ("btrim(tx)", "btrim", 25, -1),
        ("char_length(tx)", "char_length", 23, -1),
        ("character_length(tx)", "character_length", 23, -1),
        ("upper(v)", "upper", 25, -1),
        ("concat(v)", "concat", 25, -1),
        ("ascii(tx)", "ascii", 23, -1),
        ("chr(65)", "chr", 25, -1),
        ("quote_ident(tx)", "quote_ident", 25, -1),
        ("format('%s', i)", "format", 25, -1),
        ("to_char(1, '9')", "to_char", 25, -1),
        ("to_date('2020', 'YYYY')", "to_date", 1082, -1),
        ("to_number('1', '9')", "to_number", 1700, -1),
        ("age(ts)", "age", 1186, -1),
        ("extract(epoch from tz)", "extract", 1700, -1),
        ("date_part('day', d)", "date_part", 701, -1),
        ("date_trunc('day', tz)", "date_trunc", 1184, -1),
        ("make_date(2020,1,1)", "make_date", 1082, -1),
        ("now() at time zone 'utc'", "timezone", 1114, -1),
        ("current_setting('x', true)", "current_setting", 25, -1),
        ("set_config('a.b', 'c', false)", "set_config", 25, -1),
        ("pg_typeof(i)", "pg_typeof", 2206, -1),
        ("txid_current()", "txid_current", 20, -1),
        ("inet_client_addr()", "inet_client_addr", 869, -1),
        (
            "pg_postmaster_start_time()",
            "pg_postmaster_start_time",
            1184,
            -1,
        ),
        (
            "has_table_privilege('t','select')",
            "has_table_privilege",
            16,
            -1,
        ),
        ("obj_description(1)", "obj_description", 25, -1),
        ("array_length(array[1],1)", "array_length", 23, -1),
        ("unnest(array[1])", "unnest", 23, -1),
        ("generate_series(1,2)", "generate_series", 23, -1),
        ("uuid_in('x')", "uuid_in", 2950, -1),
        ("i between s and b", "?column?", 16, -1),
        ("i not in (1)", "?column?", 16, -1),
        ("not i = 1", "?column?", 16, -1),
        ("i = any(array[1])", "?column?", 16, -1),
        ("i = 1 is true", "?column?", 16, -1),
        ("tx ~ 'a'", "?column?", 16, -1),
        ("tx !~~ 'a'", "?column?", 16, -1),
        ("bool_or(bo)", "bool_or", 16, -1),
        ("stddev(i)", "stddev", 1700, -1),
        ("variance(f)", "variance", 701, -1),
        ("max(n)", "max", 1700, -1),
        ("min(d)", "min", 1082, -1),
        ("sum(n) over (partition by i)", "sum", 1700, -1),
        ("count(1)", "count", 20, -1),
        ("dense_rank() over ()", "dense_rank", 20, -1),
        ("ntile(2) over ()", "ntile", 23, -1),
        ("first_value(v) over ()", "first_value", 1043, -1),
        ("percent_rank() over ()", "percent_rank", 701, -1),
        ("cume_dist() over ()", "cume_dist", 701, -1),
        ("string_agg(v, ',')", "string_agg", 25, -1),
        ("json_agg(i)", "json_agg", 114, -1),
        ("jsonb_agg(i)", "jsonb_agg", 3802, -1),
        ("array_to_string(array[1], ',')", "array_to_string", 25, -1),
    ];

    /// (expression, alias, is_star)
    type Item = (String, Option<String>, bool);

    fn items(sql: &str) -> Option<Vec<Item>> {
        select_items(sql).map(|v| {
            v.into_iter()
                .map(|i| (i.expr, i.alias, i.is_star))
                .collect()
        })
    }

    fn item(expr: &str, alias: Option<&str>) -> Item {
        (expr.to_owned(), alias.map(str::to_owned), false)
    }

    fn star(expr: &str) -> Item {
        (expr.to_owned(), None, true)
    }

    #[test]
    fn select_lists() {
        let cases: Vec<(&str, Option<Vec<Item>>)> = vec![
            ("select 1", Some(vec![item("1", None)])),
            ("SELECT 1;", Some(vec![item("1", None)])),
            ("select", Some(vec![])),
            (
                "select a, f(b, c) AS \"Total\", d e, count(*) n from t where x in (select y from u)",
                Some(vec![
                    item("a", None),
                    item("f(b, c)", Some("Total")),
                    item("d", Some("e")),
                    item("count(*)", Some("n")),
                ]),
            ),
            (
                "with x as (select 1 as q), y (c) as materialized (select 2) select q, c from x, y",
                Some(vec![item("q", None), item("c", None)]),
            ),
            (
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
                Some(vec![item("n", None)]),
            ),
            (
                "(select 1 as a, 2) union select 3, 4",
                Some(vec![item("1", Some("a")), item("2", None)]),
            ),
            (
                "select distinct on (a, b) a, b from t order by a",
                Some(vec![item("a", None), item("b", None)]),
            ),
            ("select all x from t", Some(vec![item("x", None)])),
            ("select * from t", Some(vec![star("*")])),
            (
                "select t.*, x from t",
                Some(vec![star("t.*"), item("x", None)]),
            ),
            (
                "insert into t (a) values (1) returning id, a as \"A\"",
                Some(vec![item("id", None), item("a", Some("A"))]),
            ),
            (
                "insert into t select * from u on conflict (a) do update set b = 1 returning *",
                Some(vec![star("*")]),
            ),
            ("update t set a = 1", None),
            (
                "delete from t where a = $1 returning a + 1",
                Some(vec![item("a + 1", None)]),
            ),
            (
                "values (1, 'a'), (2, 'b')",
                Some(vec![
                    item("1", Some("column1")),
                    item("'a'", Some("column2")),
                ]),
            ),
            (
                "select x::timestamp with time zone, y::double precision from t",
                Some(vec![
                    item("x::timestamp with time zone", None),
                    item("y::double precision", None),
                ]),
            ),
            (
                "select a is null, b isnull, c collate \"C\", case when a then b end from t",
                Some(vec![
                    item("a is null", None),
                    item("b isnull", None),
                    item("c collate \"C\"", None),
                    item("case when a then b end", None),
                ]),
            ),
            (
                "select (select 1) x, e'y' as \"y\"\"z\", 1 as end from t for update",
                Some(vec![
                    item("(select 1)", Some("x")),
                    item("e'y'", Some("y\"z")),
                    item("1", Some("end")),
                ]),
            ),
            (
                "select x from t union all select y from u",
                Some(vec![item("x", None)]),
            ),
            (
                "select a /* c, d */ , -- e\n b from t",
                Some(vec![item("a", None), item("b", None)]),
            ),
            ("show all", None),
            ("create table t (a int)", None),
            ("table t", None),
            ("", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(items(sql), expected, "{sql}");
        }
    }

    #[test]
    fn declared_types() {
        let cases: &[(&str, Oid, i32)] = &[
            ("varchar(20)", oid::VARCHAR, 24),
            ("VARCHAR(20)", oid::VARCHAR, 24),
            ("character varying(20)", oid::VARCHAR, 24),
            ("varchar", oid::VARCHAR, -1),
            ("INTEGER", oid::INT4, -1),
            ("int", oid::INT4, -1),
            ("int4", oid::INT4, -1),
            ("bigint", oid::INT8, -1),
            ("int8", oid::INT8, -1),
            ("smallint", oid::INT2, -1),
            ("serial", oid::INT4, -1),
            ("bigserial", oid::INT8, -1),
            ("smallserial", oid::INT2, -1),
            ("timestamptz", oid::TIMESTAMPTZ, -1),
            ("timestamp with time zone", oid::TIMESTAMPTZ, -1),
            ("timestamptz(3)", oid::TIMESTAMPTZ, 3),
            ("timestamp(3)", oid::TIMESTAMP, 3),
            ("timestamp", oid::TIMESTAMP, -1),
            ("timetz", oid::TIMETZ, -1),
            ("time", oid::TIME, -1),
            ("date", oid::DATE, -1),
            ("interval", oid::INTERVAL, -1),
            ("numeric(10,2)", oid::NUMERIC, 655_366),
            ("numeric(5)", oid::NUMERIC, 327_684),
            ("decimal", oid::NUMERIC, -1),
            ("boolean", oid::BOOL, -1),
            ("bool", oid::BOOL, -1),
            ("bytea", oid::BYTEA, -1),
            ("BLOB", oid::BYTEA, -1),
            ("uuid", oid::UUID, -1),
            ("jsonb", oid::JSONB, -1),
            ("json", oid::JSON, -1),
            ("text", oid::TEXT, -1),
            ("TEXT", oid::TEXT, -1),
            ("char(3)", oid::BPCHAR, 7),
            ("char", oid::BPCHAR, 5),
            ("real", oid::FLOAT4, -1),
            ("REAL", oid::FLOAT4, -1),
            ("double precision", oid::FLOAT8, -1),
            ("float", oid::FLOAT8, -1),
            ("float(10)", oid::FLOAT4, -1),
            ("float(30)", oid::FLOAT8, -1),
            ("int[]", oid::INT4_ARRAY, -1),
            ("text[]", oid::TEXT_ARRAY, -1),
            ("DATETIME", oid::TIMESTAMP, -1),
            ("DOUBLE", oid::FLOAT8, -1),
            ("TINYINT", oid::INT2, -1),
            ("NVARCHAR(10)", oid::VARCHAR, -1),
            ("", oid::TEXT, -1),
            ("something else", oid::TEXT, -1),
        ];
        for &(decl, o, m) in cases {
            assert_eq!(type_from_decl(decl), (o, m), "{decl}");
        }
        assert_eq!(type_from_name("pg_catalog.int8"), Some((oid::INT8, -1)));
        assert_eq!(type_from_name("no_such_type"), None);
        assert_eq!(type_from_name("int4 junk"), None);
    }

    #[test]
    fn declared_column_types_read_markers() {
        let create = "CREATE TABLE \"Items\" (id INTEGER /*int8*/ PRIMARY KEY AUTOINCREMENT, \
                      \"Name\" varchar(20) NOT NULL, small INTEGER /*int2*/, plain INTEGER, \
                      untyped, CONSTRAINT u UNIQUE (plain), n numeric(10, 2) DEFAULT (1 + 2))";
        assert_eq!(
            declared_column_types(create),
            vec![
                ("id".to_owned(), oid::INT8, -1),
                ("Name".to_owned(), oid::VARCHAR, 24),
                ("small".to_owned(), oid::INT2, -1),
                ("plain".to_owned(), oid::INT4, -1),
                ("untyped".to_owned(), oid::TEXT, -1),
                ("n".to_owned(), oid::NUMERIC, 655_366),
            ]
        );
        assert!(declared_column_types("CREATE TABLE t AS SELECT 1").is_empty());
        assert!(declared_column_types("select 1").is_empty());
    }

    #[test]
    fn unresolved_columns_and_unknown_syntax_give_none() {
        assert_eq!(type_from_expr("a", &[]), None);
        assert_eq!(type_from_expr("sum(a)", &[]), None);
        assert_eq!(type_from_expr("a + 1", &[]), None);
        assert_eq!(type_from_expr("no_such_function(1)", &[]), None);
        assert_eq!(type_from_expr("1 +", &[]), None);
        assert_eq!(type_from_expr("1 2", &[]), None);
        assert_eq!(type_from_expr("count(*)", &[]), Some(oid::INT8));
        assert_eq!(type_from_expr("a || 'x'", &[]), Some(oid::TEXT));
        assert_eq!(pg_column_name("1 +"), "?column?");
        assert_eq!(pg_column_name(""), "?column?");
    }

    /// (expression, declared parameter types, column name, type, typmod) as
    /// PostgreSQL 15.18 described `select <expression> from t` prepared with
    /// those parameter types (tokio-postgres `prepare_typed`, see
    /// `answers_match_a_live_postgres`).
    const POSTGRES_PARAM_ANSWERS: &[(&str, &[Oid], &str, Oid, i32)] = &[
        ("$1", &[oid::INT8], "?column?", oid::INT8, -1),
        ("$1", &[], "?column?", oid::TEXT, -1),
        ("$1::int8", &[], "int8", oid::INT8, -1),
        ("$1::int", &[], "int4", oid::INT4, -1),
        ("$1::text", &[], "text", oid::TEXT, -1),
        ("$1 + 1", &[], "?column?", oid::INT4, -1),
        ("$1 || 'x'", &[], "?column?", oid::TEXT, -1),
        ("$1 = i", &[], "?column?", oid::BOOL, -1),
        ("coalesce($1, i)", &[], "coalesce", oid::INT4, -1),
        ("$1::varchar(3)", &[], "varchar", oid::VARCHAR, 7),
        ("$2 * 2", &[oid::TEXT, oid::INT8], "?column?", oid::INT8, -1),
        ("$1::numeric(10,2) + 1", &[], "?column?", oid::NUMERIC, -1),
        ("$1::timestamptz", &[], "timestamptz", oid::TIMESTAMPTZ, -1),
        ("$1 AS p", &[oid::BOOL], "p", oid::BOOL, -1),
    ];

    #[test]
    fn parameter_types_match_postgres() {
        for &(expr, params, name, type_oid, typmod) in POSTGRES_PARAM_ANSWERS {
            let sql = format!("select {expr} from t");
            let items = select_items(&sql).unwrap_or_default();
            let [item] = items.as_slice() else {
                panic!("{expr}: {} select items", items.len());
            };
            let got_name = item
                .alias
                .clone()
                .unwrap_or_else(|| pg_column_name(&item.expr));
            let got_type = typed_expr_with_columns(&item.expr, params, &table_t);
            assert_eq!(
                (got_name.as_str(), got_type),
                (name, Some((type_oid, typmod))),
                "{expr}"
            );
        }
    }

    /// Re-derives both answer tables from a live server, so they can be
    /// refreshed for a new PostgreSQL version:
    /// `PGIRIS_TEST_POSTGRES="host=/tmp/pg port=5432 user=postgres" cargo
    /// test --lib embedded::infer -- --ignored`.
    #[test]
    #[ignore = "needs a PostgreSQL server named by PGIRIS_TEST_POSTGRES"]
    fn answers_match_a_live_postgres() {
        let conninfo = std::env::var("PGIRIS_TEST_POSTGRES").expect("PGIRIS_TEST_POSTGRES");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mismatches = rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(
                    "create temp table t (i int4, b int8, s int2, n numeric(10,2), f float8, \
                     r float4, v varchar(20), c char(3), tx text, bo boolean, d date, \
                     ts timestamp, tz timestamptz, u uuid, j jsonb, by bytea)",
                )
                .await
                .expect("create table");
            let cases = POSTGRES_ANSWERS
                .iter()
                .map(|&(e, n, o, m)| (e, &[][..], n, o, m))
                .chain(POSTGRES_PARAM_ANSWERS.iter().copied());
            let mut mismatches = Vec::new();
            for (expr, params, name, type_oid, typmod) in cases {
                let types: Vec<tokio_postgres::types::Type> = params
                    .iter()
                    .map(|o| {
                        tokio_postgres::types::Type::from_oid(*o)
                            .unwrap_or(tokio_postgres::types::Type::UNKNOWN)
                    })
                    .collect();
                let sql = format!("select {expr} from t");
                let stmt = client.prepare_typed(&sql, &types).await.expect(&sql);
                let col = &stmt.columns()[0];
                let got = (
                    col.name().to_owned(),
                    col.type_().oid(),
                    col.type_modifier(),
                );
                if got != (name.to_owned(), type_oid, typmod) {
                    mismatches.push(format!(
                        "{expr}: table says {name} {type_oid}/{typmod}, server {got:?}"
                    ));
                }
            }
            mismatches
        });
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn names_and_types_match_postgres() {
        let mut failures = Vec::new();
        for &(expr, name, type_oid, typmod) in POSTGRES_ANSWERS {
            // As the backend does: split the select list, then name and
            // type each item.
            let sql = format!("select {expr} from t");
            let items = select_items(&sql).unwrap_or_default();
            let [item] = items.as_slice() else {
                failures.push(format!("{expr}: {} select items", items.len()));
                continue;
            };
            let got_name = item
                .alias
                .clone()
                .unwrap_or_else(|| pg_column_name(&item.expr));
            let got_type = typed_expr_with_columns(&item.expr, &[], &table_t);
            if got_name != name || got_type != Some((type_oid, typmod)) {
                failures.push(format!(
                    "{expr:40} want {name} {type_oid}/{typmod}, got {got_name} {got_type:?}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {}:\n{}",
            failures.len(),
            POSTGRES_ANSWERS.len(),
            failures.join("\n")
        );
    }
}
