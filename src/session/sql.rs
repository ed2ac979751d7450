//! Just enough SQL understanding for the session: split a simple Query into
//! statements, recognize the statements the session answers itself
//! (transaction control, SET / SHOW / RESET / DISCARD ...), and build the
//! CommandComplete tag PostgreSQL would send.

use crate::sql::lexer::{self, TokenKind};

/// A token of PostgreSQL's lexical grammar, as far as the session needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// Keyword or unquoted identifier (original case).
    Word(&'a str),
    /// "quoted identifier" without the quotes (doubled quotes kept).
    Quoted(&'a str),
    /// A string literal body without quotes (escapes not processed).
    Str(&'a str),
    Number(&'a str),
    Param(&'a str),
    /// Any other operator or punctuation character run.
    Op(&'a str),
}

/// The tokens of a statement as the session reads them (comments dropped),
/// from the shared lexer.
pub fn toks(sql: &str) -> Vec<Tok<'_>> {
    lexer::Lexer::significant(sql)
        .map(|t| {
            let text = t.text(sql);
            match t.kind {
                TokenKind::Ident => Tok::Word(text),
                TokenKind::QuotedIdent => Tok::Quoted(strip(text, "\"", "\"")),
                TokenKind::String => Tok::Str(strip(text.trim_start_matches(['N', 'n']), "'", "'")),
                TokenKind::EscapeString => Tok::Str(strip(&text[1.min(text.len())..], "'", "'")),
                TokenKind::UnicodeString | TokenKind::BitString => {
                    Tok::Str(strip(&text[text.find('\'').unwrap_or(0)..], "'", "'"))
                }
                TokenKind::DollarString => {
                    let tag_end = text[1..].find('$').map(|i| i + 2).unwrap_or(text.len());
                    let tag = &text[..tag_end];
                    Tok::Str(strip(text, tag, tag))
                }
                TokenKind::Number => Tok::Number(text),
                TokenKind::Param => Tok::Param(text),
                _ => Tok::Op(text),
            }
        })
        .collect()
}

/// `text` without its delimiters (an unterminated literal keeps its tail).
fn strip<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let body = text.strip_prefix(open).unwrap_or(text);
    if body.len() >= close.len() {
        body.strip_suffix(close).unwrap_or(body)
    } else {
        body
    }
}

pub use lexer::split_statements;

/// What the session does with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Begin {
        isolation: Option<String>,
        tag: &'static str,
    },
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
    Set {
        name: String,
        value: Option<String>,
        local: bool,
    },
    SetTransaction {
        isolation: String,
        session: bool,
    },
    Show(String),
    ShowAll,
    Reset(String),
    ResetAll,
    DiscardAll,
    Discard(&'static str),
    Deallocate(Option<String>),
    Unlisten,
    /// Recognized but not supported (message for 0A000).
    Unsupported(String),
    /// Runs on the backend; `verb` is the CommandComplete verb.
    Backend {
        verb: String,
        returns_rows_hint: bool,
    },
}

fn word_eq(t: Option<&Tok<'_>>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

fn upper(t: &Tok<'_>) -> String {
    match t {
        Tok::Word(w) => w.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Name of a setting or savepoint: a word (lower-cased) or a quoted name.
fn name_of(t: Option<&Tok<'_>>) -> Option<String> {
    match t? {
        Tok::Word(w) => Some(w.to_ascii_lowercase()),
        Tok::Quoted(q) => Some(q.replace("\"\"", "\"")),
        _ => None,
    }
}

/// The value list of SET, rendered as PostgreSQL stores it: string
/// literals unquoted, words as written (lower-cased unless quoted), items
/// joined with ", ".
fn set_value(toks: &[Tok<'_>]) -> Option<String> {
    let mut items: Vec<String> = Vec::new();
    let mut cur = String::new();
    for t in toks {
        match t {
            Tok::Op(",") => {
                items.push(std::mem::take(&mut cur));
            }
            Tok::Str(s) => cur.push_str(&s.replace("''", "'")),
            Tok::Quoted(q) => {
                cur.push('"');
                cur.push_str(q);
                cur.push('"');
            }
            Tok::Word(w) => {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(w);
            }
            Tok::Number(n) => cur.push_str(n),
            Tok::Op("-") => cur.push('-'),
            Tok::Op(";") => {}
            _ => return None,
        }
    }
    items.push(cur);
    if items.iter().any(|i| i.is_empty()) {
        return None;
    }
    Some(items.join(", "))
}

fn isolation_after(toks: &[Tok<'_>]) -> Option<String> {
    let pos = toks.iter().position(|t| word_eq(Some(t), "LEVEL"))?;
    let words: Vec<String> = toks[pos + 1..]
        .iter()
        .take_while(|t| matches!(t, Tok::Word(_)))
        .map(|t| upper(t).to_ascii_lowercase())
        .collect();
    let level = match words.first().map(String::as_str) {
        Some("serializable") => "serializable",
        Some("repeatable") => "repeatable read",
        Some("read") => match words.get(1).map(String::as_str) {
            Some("committed") => "read committed",
            Some("uncommitted") => "read uncommitted",
            _ => return None,
        },
        _ => return None,
    };
    Some(level.to_owned())
}

/// Classifies one statement (already split).
pub fn classify(stmt: &str) -> Command {
    let toks = toks(stmt);
    let first = toks.first().map(upper).unwrap_or_default();
    let second = toks.get(1).map(upper).unwrap_or_default();
    match first.as_str() {
        "BEGIN" => Command::Begin {
            isolation: isolation_after(&toks),
            tag: "BEGIN",
        },
        "START" if second == "TRANSACTION" => Command::Begin {
            isolation: isolation_after(&toks),
            tag: "START TRANSACTION",
        },
        "COMMIT" | "END" => {
            if second == "PREPARED" {
                Command::Unsupported("COMMIT PREPARED is not supported".into())
            } else if toks.iter().any(|t| word_eq(Some(t), "CHAIN"))
                && !toks.iter().any(|t| word_eq(Some(t), "NO"))
            {
                Command::Unsupported("COMMIT AND CHAIN is not supported".into())
            } else {
                Command::Commit
            }
        }
        "ROLLBACK" | "ABORT" => {
            if second == "PREPARED" {
                return Command::Unsupported("ROLLBACK PREPARED is not supported".into());
            }
            match toks.iter().position(|t| word_eq(Some(t), "TO")) {
                Some(pos) => {
                    let mut p = pos + 1;
                    if word_eq(toks.get(p), "SAVEPOINT") {
                        p += 1;
                    }
                    match name_of(toks.get(p)) {
                        Some(n) => Command::RollbackTo(n),
                        None => backend(&toks),
                    }
                }
                None => Command::Rollback,
            }
        }
        "SAVEPOINT" => match name_of(toks.get(1)) {
            Some(n) => Command::Savepoint(n),
            None => backend(&toks),
        },
        "RELEASE" => {
            let p = if second == "SAVEPOINT" { 2 } else { 1 };
            match name_of(toks.get(p)) {
                Some(n) => Command::Release(n),
                None => backend(&toks),
            }
        }
        "PREPARE" if second == "TRANSACTION" => {
            Command::Unsupported("PREPARE TRANSACTION is not supported".into())
        }
        "SET" => classify_set(&toks),
        "SHOW" => match toks.get(1) {
            Some(t) if word_eq(Some(t), "ALL") => Command::ShowAll,
            Some(t) if word_eq(Some(t), "TIME") && word_eq(toks.get(2), "ZONE") => {
                Command::Show("timezone".into())
            }
            Some(t) if word_eq(Some(t), "TRANSACTION") && word_eq(toks.get(2), "ISOLATION") => {
                Command::Show("transaction_isolation".into())
            }
            t => match name_of(t) {
                Some(n) => Command::Show(n),
                None => backend(&toks),
            },
        },
        "RESET" => match toks.get(1) {
            Some(t) if word_eq(Some(t), "ALL") => Command::ResetAll,
            Some(t) if word_eq(Some(t), "TIME") && word_eq(toks.get(2), "ZONE") => {
                Command::Reset("timezone".into())
            }
            t => match name_of(t) {
                Some(n) => Command::Reset(n),
                None => backend(&toks),
            },
        },
        "DISCARD" => match second.as_str() {
            "ALL" => Command::DiscardAll,
            "PLANS" => Command::Discard("DISCARD PLANS"),
            "SEQUENCES" => Command::Discard("DISCARD SEQUENCES"),
            "TEMP" | "TEMPORARY" => Command::Discard("DISCARD TEMP"),
            _ => backend(&toks),
        },
        "DEALLOCATE" => {
            let mut p = 1;
            if word_eq(toks.get(p), "PREPARE") {
                p += 1;
            }
            if word_eq(toks.get(p), "ALL") {
                Command::Deallocate(None)
            } else {
                match name_of(toks.get(p)) {
                    Some(n) => Command::Deallocate(Some(n)),
                    None => backend(&toks),
                }
            }
        }
        "UNLISTEN" => Command::Unlisten,
        "LISTEN" | "NOTIFY" => Command::Unsupported(format!("{first} is not supported")),
        _ => backend(&toks),
    }
}

fn classify_set(toks: &[Tok<'_>]) -> Command {
    let mut p = 1;
    let mut local = false;
    if word_eq(toks.get(p), "LOCAL") {
        local = true;
        p += 1;
    } else if word_eq(toks.get(p), "SESSION") {
        if word_eq(toks.get(p + 1), "CHARACTERISTICS") {
            return match isolation_after(toks) {
                Some(isolation) => Command::SetTransaction {
                    isolation,
                    session: true,
                },
                None => Command::Unsupported(
                    "this SET SESSION CHARACTERISTICS form is not supported".into(),
                ),
            };
        }
        if word_eq(toks.get(p + 1), "AUTHORIZATION") {
            return Command::Unsupported("SET SESSION AUTHORIZATION is not supported".into());
        }
        p += 1;
    }
    if word_eq(toks.get(p), "TRANSACTION") {
        return match isolation_after(toks) {
            Some(isolation) => Command::SetTransaction {
                isolation,
                session: false,
            },
            None => Command::Unsupported("this SET TRANSACTION form is not supported".into()),
        };
    }
    if word_eq(toks.get(p), "ROLE") {
        return Command::Unsupported("SET ROLE is not supported".into());
    }
    let (name, value_at) = if word_eq(toks.get(p), "TIME") && word_eq(toks.get(p + 1), "ZONE") {
        ("timezone".to_owned(), p + 2)
    } else if word_eq(toks.get(p), "NAMES") {
        ("client_encoding".to_owned(), p + 1)
    } else if word_eq(toks.get(p), "SCHEMA") {
        ("search_path".to_owned(), p + 1)
    } else {
        // Dotted names: custom settings.
        let mut name = match name_of(toks.get(p)) {
            Some(n) => n,
            None => return Command::Unsupported("syntax error in SET".into()),
        };
        p += 1;
        while matches!(toks.get(p), Some(Tok::Op("."))) {
            match name_of(toks.get(p + 1)) {
                Some(n) => {
                    name.push('.');
                    name.push_str(&n);
                    p += 2;
                }
                None => break,
            }
        }
        if matches!(toks.get(p), Some(Tok::Op("="))) || word_eq(toks.get(p), "TO") {
            (name, p + 1)
        } else {
            return Command::Backend {
                verb: "SET".into(),
                returns_rows_hint: false,
            };
        }
    };
    let rest = &toks[value_at.min(toks.len())..];
    if rest.len() == 1 && (word_eq(rest.first(), "DEFAULT") || word_eq(rest.first(), "LOCAL")) {
        return Command::Set {
            name,
            value: None,
            local,
        };
    }
    match set_value(rest) {
        Some(v) => Command::Set {
            name,
            value: Some(v),
            local,
        },
        None => Command::Unsupported("syntax error in SET value".into()),
    }
}

fn backend(toks: &[Tok<'_>]) -> Command {
    let (verb, rows) = command_verb(toks);
    Command::Backend {
        verb,
        returns_rows_hint: rows,
    }
}

/// The CommandComplete verb PostgreSQL uses for a statement, and whether it
/// is a row-returning kind.
fn command_verb(toks: &[Tok<'_>]) -> (String, bool) {
    // "(SELECT ...) UNION ..." starts with parentheses.
    let lead = toks
        .iter()
        .take_while(|t| matches!(t, Tok::Op("(")))
        .count();
    let toks = &toks[lead..];
    let words: Vec<String> = toks.iter().take(6).map(upper).collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        "SELECT" => {
            // SELECT ... INTO table is CREATE TABLE AS: tag "SELECT n".
            ("SELECT".into(), !has_top_level_into(toks))
        }
        "VALUES" | "TABLE" | "SHOW" => ("SELECT".into(), true),
        "WITH" => (main_verb_after_with(toks), true),
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => (w(0).to_owned(), false),
        "CREATE" | "DROP" | "ALTER" => {
            let mut i = 1;
            // CREATE [OR REPLACE] [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED|UNIQUE|MATERIALIZED|RECURSIVE] ...
            if w(i) == "OR" && w(i + 1) == "REPLACE" {
                i += 2;
            }
            while matches!(
                w(i),
                "GLOBAL"
                    | "LOCAL"
                    | "TEMP"
                    | "TEMPORARY"
                    | "UNLOGGED"
                    | "UNIQUE"
                    | "RECURSIVE"
                    | "TRUSTED"
                    | "PROCEDURAL"
            ) {
                i += 1;
            }
            let object = match w(i) {
                "MATERIALIZED" | "FOREIGN" | "EVENT" | "TEXT" | "ACCESS" | "USER"
                    if !w(i + 1).is_empty() && w(i + 1) != "IF" =>
                {
                    if w(i) == "USER" && w(i + 1) != "MAPPING" {
                        "USER".to_owned()
                    } else {
                        format!("{} {}", w(i), w(i + 1))
                    }
                }
                "" => String::new(),
                other => other.to_owned(),
            };
            if w(0) == "CREATE" && object == "TABLE" && is_create_table_as(toks) {
                return ("SELECT".into(), false);
            }
            (format!("{} {}", w(0), object).trim().to_owned(), false)
        }
        "TRUNCATE" => ("TRUNCATE TABLE".into(), false),
        "EXPLAIN" => ("EXPLAIN".into(), true),
        "FETCH" | "MOVE" => (w(0).to_owned(), w(0) == "FETCH"),
        "DECLARE" => ("DECLARE CURSOR".into(), false),
        "CLOSE" => ("CLOSE CURSOR".into(), false),
        "LOCK" => ("LOCK TABLE".into(), false),
        "COMMENT" => ("COMMENT".into(), false),
        "GRANT" | "REVOKE" | "VACUUM" | "ANALYZE" | "REINDEX" | "CLUSTER" | "CHECKPOINT"
        | "CALL" | "DO" | "COPY" | "PREPARE" | "EXECUTE" | "REFRESH" | "SECURITY" | "IMPORT" => {
            if w(0) == "REFRESH" {
                ("REFRESH MATERIALIZED VIEW".into(), false)
            } else {
                (w(0).to_owned(), false)
            }
        }
        "" => (String::new(), false),
        other => (other.to_owned(), false),
    }
}

fn has_top_level_into(toks: &[Tok<'_>]) -> bool {
    let mut depth = 0;
    for t in toks {
        match t {
            Tok::Op("(") => depth += 1,
            Tok::Op(")") => depth -= 1,
            Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("INTO") => return true,
            Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("FROM") => return false,
            _ => {}
        }
    }
    false
}

fn is_create_table_as(toks: &[Tok<'_>]) -> bool {
    let mut depth = 0;
    for t in toks {
        match t {
            Tok::Op("(") => depth += 1,
            Tok::Op(")") => depth -= 1,
            Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("AS") => return true,
            _ => {}
        }
    }
    false
}

fn main_verb_after_with(toks: &[Tok<'_>]) -> String {
    let mut depth = 0;
    let mut seen_paren = false;
    for t in toks.iter().skip(1) {
        match t {
            Tok::Op("(") => {
                depth += 1;
                seen_paren = true;
            }
            Tok::Op(")") => depth -= 1,
            Tok::Word(w) if depth == 0 && seen_paren => {
                let u = w.to_ascii_uppercase();
                if matches!(
                    u.as_str(),
                    "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "VALUES" | "TABLE"
                ) {
                    return if matches!(u.as_str(), "VALUES" | "TABLE") {
                        "SELECT".into()
                    } else {
                        u
                    };
                }
            }
            _ => {}
        }
    }
    "SELECT".into()
}

/// The CommandComplete tag for a backend statement.
pub fn command_tag(verb: &str, rows: u64, returned_rows: bool) -> String {
    match verb {
        "INSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "MERGE" | "SELECT" | "FETCH" | "MOVE" | "COPY" => {
            format!("{verb} {rows}")
        }
        // A statement we did not recognize that returned rows.
        _ if returned_rows && verb.is_empty() => format!("SELECT {rows}"),
        _ => verb.to_owned(),
    }
}

/// Whether a statement changes the schema (descriptions cached by the
/// session are dropped after it).
pub fn is_ddl(verb: &str) -> bool {
    verb.starts_with("CREATE") || verb.starts_with("DROP") || verb.starts_with("ALTER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(
            split_statements("SELECT 1; SELECT 2"),
            vec!["SELECT 1", "SELECT 2"]
        );
        assert_eq!(
            split_statements("SELECT ';'; SELECT \";\""),
            vec!["SELECT ';'", "SELECT \";\""]
        );
        assert_eq!(
            split_statements("SELECT $$a;b$$; SELECT $x$;$x$"),
            vec!["SELECT $$a;b$$", "SELECT $x$;$x$"]
        );
        assert_eq!(
            split_statements("-- c;\nSELECT 1 /* ; */;"),
            vec!["SELECT 1"]
        );
        assert!(split_statements("  ; ;; -- only\n").is_empty());
        assert!(split_statements("").is_empty());
        assert_eq!(
            split_statements("SELECT E'\\';'; SELECT 2"),
            vec!["SELECT E'\\';'", "SELECT 2"]
        );
        assert_eq!(
            split_statements("CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2)"),
            vec!["CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2)"]
        );
        // Unterminated constructs never panic.
        for s in [
            "'abc", "\"abc", "/* abc", "$$abc", "$a$ x", "E'\\", "é'", "$1é",
        ] {
            let _ = split_statements(s);
            let _ = classify(s);
        }
    }

    #[test]
    fn transaction_control() {
        assert_eq!(
            classify("begin"),
            Command::Begin {
                isolation: None,
                tag: "BEGIN"
            }
        );
        assert_eq!(
            classify("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Command::Begin {
                isolation: Some("serializable".into()),
                tag: "BEGIN"
            }
        );
        assert_eq!(
            classify("start transaction isolation level read committed"),
            Command::Begin {
                isolation: Some("read committed".into()),
                tag: "START TRANSACTION"
            }
        );
        assert_eq!(classify("COMMIT"), Command::Commit);
        assert_eq!(classify("end transaction"), Command::Commit);
        assert_eq!(classify("ROLLBACK"), Command::Rollback);
        assert_eq!(classify("abort"), Command::Rollback);
        assert_eq!(classify("SAVEPOINT a"), Command::Savepoint("a".into()));
        assert_eq!(
            classify("RELEASE SAVEPOINT A"),
            Command::Release("a".into())
        );
        assert_eq!(classify("release a"), Command::Release("a".into()));
        assert_eq!(
            classify("ROLLBACK TO SAVEPOINT a"),
            Command::RollbackTo("a".into())
        );
        assert_eq!(
            classify("rollback work to \"X\""),
            Command::RollbackTo("X".into())
        );
        assert!(matches!(
            classify("PREPARE TRANSACTION 'x'"),
            Command::Unsupported(_)
        ));
    }

    #[test]
    fn set_show_reset() {
        assert_eq!(
            classify("SET application_name = 'psql'"),
            Command::Set {
                name: "application_name".into(),
                value: Some("psql".into()),
                local: false
            }
        );
        assert_eq!(
            classify("set local statement_timeout to 5000"),
            Command::Set {
                name: "statement_timeout".into(),
                value: Some("5000".into()),
                local: true
            }
        );
        assert_eq!(
            classify("SET search_path TO \"$user\", public"),
            Command::Set {
                name: "search_path".into(),
                value: Some("\"$user\", public".into()),
                local: false
            }
        );
        assert_eq!(
            classify("SET DateStyle = ISO, MDY"),
            Command::Set {
                name: "datestyle".into(),
                value: Some("ISO, MDY".into()),
                local: false
            }
        );
        assert_eq!(
            classify("SET TIME ZONE 'UTC'"),
            Command::Set {
                name: "timezone".into(),
                value: Some("UTC".into()),
                local: false
            }
        );
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            Command::Set {
                name: "extra_float_digits".into(),
                value: Some("3".into()),
                local: false
            }
        );
        assert_eq!(
            classify("SET x.y = -1"),
            Command::Set {
                name: "x.y".into(),
                value: Some("-1".into()),
                local: false
            }
        );
        assert_eq!(
            classify("SET timezone TO DEFAULT"),
            Command::Set {
                name: "timezone".into(),
                value: None,
                local: false
            }
        );
        assert_eq!(
            classify("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            Command::SetTransaction {
                isolation: "read committed".into(),
                session: true
            }
        );
        assert_eq!(classify("SHOW ALL"), Command::ShowAll);
        assert_eq!(classify("show TimeZone"), Command::Show("timezone".into()));
        assert_eq!(
            classify("SHOW TRANSACTION ISOLATION LEVEL"),
            Command::Show("transaction_isolation".into())
        );
        assert_eq!(classify("RESET ALL"), Command::ResetAll);
        assert_eq!(
            classify("reset application_name"),
            Command::Reset("application_name".into())
        );
        assert_eq!(classify("DISCARD ALL"), Command::DiscardAll);
        assert_eq!(classify("DEALLOCATE ALL"), Command::Deallocate(None));
        assert_eq!(
            classify("DEALLOCATE PREPARE s1"),
            Command::Deallocate(Some("s1".into()))
        );
    }

    fn verb(sql: &str) -> String {
        match classify(sql) {
            Command::Backend { verb, .. } => verb,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tags() {
        assert_eq!(verb("select 1"), "SELECT");
        assert_eq!(verb("  ((select 1)) union select 2"), "SELECT");
        assert_eq!(verb("insert into t values (1)"), "INSERT");
        assert_eq!(
            verb("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"),
            "INSERT"
        );
        assert_eq!(
            verb("WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM x) SELECT * FROM x"),
            "SELECT"
        );
        assert_eq!(verb("create table t (a int)"), "CREATE TABLE");
        assert_eq!(verb("create temp table t (a int)"), "CREATE TABLE");
        assert_eq!(verb("CREATE UNIQUE INDEX i ON t(a)"), "CREATE INDEX");
        assert_eq!(verb("create or replace view v as select 1"), "CREATE VIEW");
        assert_eq!(verb("create table t2 as select 1"), "SELECT");
        assert_eq!(verb("drop table if exists t"), "DROP TABLE");
        assert_eq!(verb("alter table t add column b int"), "ALTER TABLE");
        assert_eq!(verb("truncate t"), "TRUNCATE TABLE");
        assert_eq!(
            verb("CREATE MATERIALIZED VIEW m AS SELECT 1"),
            "CREATE MATERIALIZED VIEW"
        );
        assert_eq!(command_tag("INSERT", 3, false), "INSERT 0 3");
        assert_eq!(command_tag("UPDATE", 2, false), "UPDATE 2");
        assert_eq!(command_tag("SELECT", 0, true), "SELECT 0");
        assert_eq!(command_tag("CREATE TABLE", 0, false), "CREATE TABLE");
        assert!(is_ddl("CREATE TABLE"));
    }

    #[test]
    fn tokens_from_the_shared_lexer() {
        assert_eq!(
            toks("SELECT $1::int, 'a''b', \"Q\", 1.5e-3, x->>'k', E'x', $t$d$t$ -- c"),
            vec![
                Tok::Word("SELECT"),
                Tok::Param("$1"),
                Tok::Op("::"),
                Tok::Word("int"),
                Tok::Op(","),
                Tok::Str("a''b"),
                Tok::Op(","),
                Tok::Quoted("Q"),
                Tok::Op(","),
                Tok::Number("1.5e-3"),
                Tok::Op(","),
                Tok::Word("x"),
                Tok::Op("->>"),
                Tok::Str("k"),
                Tok::Op(","),
                Tok::Str("x"),
                Tok::Op(","),
                Tok::Str("d"),
            ]
        );
    }
}
