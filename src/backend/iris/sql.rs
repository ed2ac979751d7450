//! PostgreSQL statement text to IRIS statement text.
//!
//! Three things happen, all outside string literals, quoted identifiers,
//! dollar-quoted strings and comments (a small PostgreSQL lexer finds them):
//!
//! * `$n` parameters become IRIS positional parameters `:%qpar(k)`, numbered
//!   by occurrence. `param_refs[k-1]` says which PostgreSQL parameter each
//!   occurrence takes, so `$2 … $1 … $2` sends three values.
//! * The session functions IRIS does not have (`version()`,
//!   `current_user`, `session_user`, `current_role`, `current_database()`,
//!   `current_catalog`, `current_setting('x' [, missing_ok])`,
//!   `pg_backend_pid()`, optionally `pg_catalog.`-qualified) become SQL
//!   literals taken from the session snapshot, so they answer exactly as on
//!   the embedded backend.
//! * Trailing semicolons are dropped.
//!
//! Everything else, literals included, is sent as written: no client-side
//! literal replacement (research §2.5).

use crate::backend::SessionSnapshot;
use crate::wire::error::{PgError, sqlstate};

/// The statement as IRIS receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisSql {
    pub text: String,
    /// For each `:%qpar(k)` in order, the 0-based PostgreSQL parameter index.
    pub param_refs: Vec<usize>,
    /// The highest `$n` referenced.
    pub param_count: usize,
}

/// Where the values of session functions come from.
#[derive(Debug, Clone, Copy)]
pub enum SessionValues<'a> {
    Snapshot(&'a SessionSnapshot),
    /// Describe without a session: literals of the right type stand in.
    Placeholder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Comment,
    Ident,
    QuotedIdent,
    Str,
    Number,
    Param(u32),
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Splits `sql` into tokens; never fails (unterminated constructs run to the
/// end, and IRIS reports them).
fn tokenize(sql: &str) -> Vec<Token> {
    let s = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let start = i;
        let b = s[i];
        let kind = if b.is_ascii_whitespace() {
            while i < s.len() && s[i].is_ascii_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if b == b'-' && s.get(i + 1) == Some(&b'-') {
            while i < s.len() && s[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if b == b'/' && s.get(i + 1) == Some(&b'*') {
            i += 2;
            let mut depth = 1;
            while i < s.len() && depth > 0 {
                if s[i] == b'/' && s.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == b'*' && s.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            Kind::Comment
        } else if b == b'\'' {
            i = skip_quoted(s, i, b'\'', false);
            Kind::Str
        } else if b == b'"' {
            i = skip_quoted(s, i, b'"', false);
            Kind::QuotedIdent
        } else if b == b'$' {
            if s.get(i + 1).is_some_and(u8::is_ascii_digit) && !(i > 0 && is_ident_char(s[i - 1])) {
                i += 1;
                let digits = i;
                while i < s.len() && s[i].is_ascii_digit() {
                    i += 1;
                }
                let n = sql[digits..i].parse().unwrap_or(u32::MAX);
                Kind::Param(n)
            } else if let Some(end) = dollar_quote_end(s, i) {
                i = end;
                Kind::Str
            } else {
                i += 1;
                Kind::Punct(b'$')
            }
        } else if is_ident_start(b) {
            while i < s.len() && is_ident_char(s[i]) {
                i += 1;
            }
            // E'...' (backslash escapes), and the B/X/N/U& prefixes.
            let word = &s[start..i];
            if s.get(i) == Some(&b'\'') && word.len() == 1 {
                let escapes = matches!(word[0], b'e' | b'E');
                i = skip_quoted(s, i, b'\'', escapes);
                Kind::Str
            } else {
                Kind::Ident
            }
        } else if b.is_ascii_digit() || (b == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.' || s[i] == b'_') {
                let exp_sign =
                    matches!(s[i], b'e' | b'E') && matches!(s.get(i + 1), Some(b'+' | b'-'));
                i += if exp_sign { 2 } else { 1 };
            }
            Kind::Number
        } else {
            i += 1;
            Kind::Punct(b)
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// The end of a quoted run starting at `i` (the opening quote); a doubled
/// quote is an escaped quote, and with `backslash` so is `\'`.
fn skip_quoted(s: &[u8], mut i: usize, q: u8, backslash: bool) -> usize {
    i += 1;
    while i < s.len() {
        if backslash && s[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i] == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    s.len()
}

/// `$tag$ ... $tag$`: the end offset if `i` opens a closed dollar quote.
fn dollar_quote_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < s.len() && is_ident_start(s[j]) {
        while j < s.len() && s[j] != b'$' && is_ident_char(s[j]) {
            j += 1;
        }
    }
    if s.get(j) != Some(&b'$') {
        return None;
    }
    let delim = &s[i..=j];
    let body = j + 1;
    let pos = s[body..].windows(delim.len()).position(|w| w == delim)?;
    Some(body + pos + delim.len())
}

/// An SQL string literal with quotes doubled.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rewrites a PostgreSQL statement for IRIS (see the module docs).
pub fn rewrite(sql: &str, session: SessionValues<'_>) -> Result<IrisSql, PgError> {
    let tokens = tokenize(sql);
    // Drop trailing semicolons and the trivia around them.
    let mut last = tokens.len();
    loop {
        while last > 0 && matches!(tokens[last - 1].kind, Kind::Space | Kind::Comment) {
            last -= 1;
        }
        if last > 0 && tokens[last - 1].kind == Kind::Punct(b';') {
            last -= 1;
        } else {
            break;
        }
    }
    let tokens = &tokens[..last];

    let mut text = String::with_capacity(sql.len() + 16);
    let mut param_refs = Vec::new();
    let mut param_count = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        match t.kind {
            Kind::Param(n) => {
                if n == 0 || n > 65535 {
                    return Err(PgError::error(
                        "42P02",
                        format!("there is no parameter ${n}"),
                    ));
                }
                let index = n as usize - 1;
                param_refs.push(index);
                param_count = param_count.max(index + 1);
                text.push_str(":%qpar(");
                text.push_str(&param_refs.len().to_string());
                text.push(')');
                i += 1;
            }
            Kind::Ident => {
                if let Some((next, literal)) = session_function(sql, tokens, i, session)? {
                    text.push_str(&literal);
                    i = next;
                } else {
                    text.push_str(&sql[t.start..t.end]);
                    i += 1;
                }
            }
            _ => {
                text.push_str(&sql[t.start..t.end]);
                i += 1;
            }
        }
    }
    Ok(IrisSql {
        text,
        param_refs,
        param_count,
    })
}

/// The index of the next token that is not whitespace or a comment.
fn skip_trivia(tokens: &[Token], mut i: usize) -> usize {
    while i < tokens.len() && matches!(tokens[i].kind, Kind::Space | Kind::Comment) {
        i += 1;
    }
    i
}

fn is_punct(tokens: &[Token], i: usize, c: u8) -> bool {
    tokens.get(i).is_some_and(|t| t.kind == Kind::Punct(c))
}

fn word<'a>(sql: &'a str, t: &Token) -> &'a str {
    &sql[t.start..t.end]
}

/// After `(`: `)` and the index past it.
fn empty_call(tokens: &[Token], i: usize) -> Option<usize> {
    let open = skip_trivia(tokens, i);
    if !is_punct(tokens, open, b'(') {
        return None;
    }
    let close = skip_trivia(tokens, open + 1);
    is_punct(tokens, close, b')').then_some(close + 1)
}

/// A session function starting at token `i`: (index after it, literal).
fn session_function(
    sql: &str,
    tokens: &[Token],
    i: usize,
    session: SessionValues<'_>,
) -> Result<Option<(usize, String)>, PgError> {
    // Qualified with anything but pg_catalog (t.version ...): not ours.
    let before = (0..i)
        .rev()
        .find(|&j| !matches!(tokens[j].kind, Kind::Space | Kind::Comment));
    if before.is_some_and(|j| is_punct(tokens, j, b'.')) {
        return Ok(None);
    }
    let mut name_at = i;
    if word(sql, &tokens[i]).eq_ignore_ascii_case("pg_catalog") {
        let dot = skip_trivia(tokens, i + 1);
        if !is_punct(tokens, dot, b'.') {
            return Ok(None);
        }
        name_at = skip_trivia(tokens, dot + 1);
        if tokens.get(name_at).map(|t| t.kind) != Some(Kind::Ident) {
            return Ok(None);
        }
    }
    let name = word(sql, &tokens[name_at]).to_ascii_lowercase();
    let after = name_at + 1;
    let snap = match session {
        SessionValues::Snapshot(s) => Some(s),
        SessionValues::Placeholder => None,
    };
    let text_of = |f: &dyn Fn(&SessionSnapshot) -> String| -> String {
        match snap {
            Some(s) => quote_literal(&f(s)),
            None => quote_literal("x"),
        }
    };
    let no_call_follows = || !is_punct(tokens, skip_trivia(tokens, after), b'(');
    Ok(match name.as_str() {
        "version" => empty_call(tokens, after).map(|end| (end, text_of(&|s| s.version.clone()))),
        "current_database" => {
            empty_call(tokens, after).map(|end| (end, text_of(&|s| s.database.clone())))
        }
        "pg_backend_pid" => empty_call(tokens, after).map(|end| {
            let pid = snap.map_or(0, |s| s.backend_pid);
            (end, pid.to_string())
        }),
        "current_user" | "session_user" | "current_role" if no_call_follows() => {
            Some((after, text_of(&|s| s.user.clone())))
        }
        "current_catalog" if no_call_follows() => Some((after, text_of(&|s| s.database.clone()))),
        "current_setting" => current_setting(sql, tokens, after, snap)?,
        _ => None,
    })
}

/// `current_setting ( 'name' [, missing_ok] )`.
fn current_setting(
    sql: &str,
    tokens: &[Token],
    after: usize,
    snap: Option<&SessionSnapshot>,
) -> Result<Option<(usize, String)>, PgError> {
    let open = skip_trivia(tokens, after);
    if !is_punct(tokens, open, b'(') {
        return Ok(None);
    }
    let arg = skip_trivia(tokens, open + 1);
    let Some(arg_tok) = tokens.get(arg).filter(|t| t.kind == Kind::Str) else {
        return Ok(None);
    };
    let raw = word(sql, arg_tok);
    // Only plain '...' literals: E'', $$ and prefixed forms are left to IRIS.
    if !raw.starts_with('\'') || !raw.ends_with('\'') || raw.len() < 2 {
        return Ok(None);
    }
    let name = raw[1..raw.len() - 1]
        .replace("''", "'")
        .to_ascii_lowercase();
    let mut next = skip_trivia(tokens, arg + 1);
    let mut missing_ok = false;
    if is_punct(tokens, next, b',') {
        let flag = skip_trivia(tokens, next + 1);
        let Some(flag_tok) = tokens.get(flag) else {
            return Ok(None);
        };
        let text = word(sql, flag_tok).to_ascii_lowercase();
        missing_ok = match text.as_str() {
            "true" | "'t'" | "'true'" | "'on'" | "'yes'" | "'1'" => true,
            "false" | "'f'" | "'false'" | "'off'" | "'no'" | "'0'" => false,
            _ => return Ok(None),
        };
        next = skip_trivia(tokens, flag + 1);
    }
    if !is_punct(tokens, next, b')') {
        return Ok(None);
    }
    let end = next + 1;
    let Some(snap) = snap else {
        return Ok(Some((end, quote_literal("x"))));
    };
    match snap.settings.get(&name) {
        Some(v) => Ok(Some((end, quote_literal(v)))),
        None if missing_ok => Ok(Some((end, "NULL".into()))),
        None => Err(PgError::error(
            sqlstate::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{name}\""),
        )),
    }
}

/// Whether the statement returns rows (sent with `DQ` / `PQ`) rather than a
/// row count (`DU` / `PU`): it starts with SELECT, WITH, EXPLAIN or `(`.
pub fn is_query(sql: &str) -> bool {
    let tokens = tokenize(sql);
    let first = skip_trivia(&tokens, 0);
    match tokens.get(first) {
        Some(t) if t.kind == Kind::Punct(b'(') => true,
        Some(t) if t.kind == Kind::Ident => {
            let w = word(sql, t);
            ["select", "with", "explain"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        }
        _ => false,
    }
}

/// Splits SQL text into chunks of at most `max_chars` characters, on
/// character boundaries (the `DQ`/`PP`/`DU` text is sent as chunks).
pub fn chunks(text: &str, max_chars: usize) -> Vec<&str> {
    let max_chars = max_chars.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut count = 0;
    for (idx, _) in text.char_indices() {
        if count == max_chars {
            out.push(&text[start..idx]);
            start = idx;
            count = 0;
        }
        count += 1;
    }
    if start < text.len() || out.is_empty() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snap() -> SessionSnapshot {
        let mut settings = BTreeMap::new();
        settings.insert("timezone".to_string(), "Etc/UTC".to_string());
        settings.insert("application_name".to_string(), "it's".to_string());
        SessionSnapshot {
            user: "alice".into(),
            database: "USER".into(),
            backend_pid: 4242,
            version: "PostgreSQL 16.9 (pgiris 0.1.0) on IRIS".into(),
            settings: crate::session::params::SettingsView::from_map(settings),
        }
    }

    fn rw(sql: &str) -> IrisSql {
        rewrite(sql, SessionValues::Snapshot(&snap())).unwrap()
    }

    #[test]
    fn parameters_become_qpar_by_occurrence() {
        let r = rw("SELECT a FROM t WHERE a = $2 AND b = $1 OR c = $2");
        assert_eq!(
            r.text,
            "SELECT a FROM t WHERE a = :%qpar(1) AND b = :%qpar(2) OR c = :%qpar(3)"
        );
        assert_eq!(r.param_refs, vec![1, 0, 1]);
        assert_eq!(r.param_count, 2);
    }

    #[test]
    fn literals_identifiers_and_comments_are_left_alone() {
        let sql = "SELECT '$1', \"$1\", E'\\'$1', $$ $1 $$, $a$ $1 $a$ -- $1\n/* $1 /* $1 */ */ FROM t WHERE x=$1";
        let r = rw(sql);
        assert_eq!(r.param_refs, vec![0]);
        assert!(r.text.ends_with("WHERE x=:%qpar(1)"), "{}", r.text);
        assert!(
            r.text
                .starts_with("SELECT '$1', \"$1\", E'\\'$1', $$ $1 $$")
        );
        // An identifier containing '$' is not a parameter.
        assert_eq!(rw("SELECT a$1 FROM t").param_refs, Vec::<usize>::new());
        // IRIS $$extrinsic^routine() is not an unterminated dollar quote.
        let r = rw("SELECT $$F^R($1)");
        assert_eq!(r.text, "SELECT $$F^R(:%qpar(1))");
    }

    #[test]
    fn session_functions_come_from_the_snapshot() {
        let r = rw(
            "SELECT version(), pg_catalog.version ( ), current_user, session_user, current_database(), pg_backend_pid()",
        );
        assert_eq!(
            r.text,
            "SELECT 'PostgreSQL 16.9 (pgiris 0.1.0) on IRIS', 'PostgreSQL 16.9 (pgiris 0.1.0) on IRIS', 'alice', 'alice', 'USER', 4242"
        );
        let r = rw(
            "SELECT current_setting('TimeZone'), current_setting('application_name'), current_setting('nope', true)",
        );
        assert_eq!(r.text, "SELECT 'Etc/UTC', 'it''s', NULL");
        let e = rewrite(
            "SELECT current_setting('nope')",
            SessionValues::Snapshot(&snap()),
        )
        .unwrap_err();
        assert_eq!(e.code, "42704");
        // Inside literals, as a column of a table or quoted: untouched.
        let r = rw("SELECT 'version()', t.version(), \"current_user\", x.current_user FROM t");
        assert_eq!(
            r.text,
            "SELECT 'version()', t.version(), \"current_user\", x.current_user FROM t"
        );
        let r = rewrite("SELECT version()", SessionValues::Placeholder).unwrap();
        assert_eq!(r.text, "SELECT 'x'");
    }

    #[test]
    fn trailing_semicolons_go() {
        assert_eq!(rw("SELECT 1 ; -- done\n ;").text, "SELECT 1");
        assert_eq!(rw("SELECT ';'").text, "SELECT ';'");
    }

    #[test]
    fn parameter_zero_is_refused() {
        let e = rewrite("SELECT $0", SessionValues::Placeholder).unwrap_err();
        assert_eq!(e.code, "42P02");
    }

    #[test]
    fn query_classification() {
        assert!(is_query("SELECT 1"));
        assert!(is_query(
            "  /* c */ -- x\n with x as (select 1) select * from x"
        ));
        assert!(is_query("(SELECT 1) UNION (SELECT 2)"));
        assert!(!is_query("INSERT INTO t VALUES (1)"));
        assert!(!is_query("CREATE TABLE selection (a int)"));
        assert!(!is_query(""));
    }

    #[test]
    fn chunking_respects_characters() {
        assert_eq!(chunks("abcdef", 4), vec!["abcd", "ef"]);
        assert_eq!(chunks("ΩΩΩ", 2), vec!["ΩΩ", "Ω"]);
        assert_eq!(chunks("", 4), vec![""]);
    }
}
