//! SQLite errors as PostgreSQL errors: the SQLSTATE a PostgreSQL client
//! would get for the same mistake, and PostgreSQL's wording where SQLite's
//! message has a PostgreSQL equivalent.

use rusqlite::ffi;

use crate::wire::error::{PgError, sqlstate};

/// Pulls the quoted or trailing name out of "no such table: x".
fn after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    msg.strip_prefix(prefix).map(str::trim)
}

/// Maps a rusqlite error.
pub fn map_error(e: rusqlite::Error) -> PgError {
    match e {
        rusqlite::Error::SqliteFailure(err, msg) => {
            let msg = msg.unwrap_or_else(|| err.to_string());
            map_failure(err.code, err.extended_code, &msg)
        }
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => {
            let mut e = map_failure(error.code, error.extended_code, &msg);
            if offset >= 0 {
                e.position = Some(offset as u32 + 1);
            }
            e
        }
        rusqlite::Error::InvalidParameterCount(given, expected) => {
            PgError::protocol_violation(format!(
                "bind message supplies {given} parameters, but prepared statement requires {expected}"
            ))
        }
        rusqlite::Error::MultipleStatement => PgError::error(
            sqlstate::SYNTAX_ERROR,
            "cannot insert multiple commands into a prepared statement",
        ),
        rusqlite::Error::Utf8Error(..) => PgError::error(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\"",
        ),
        other => PgError::internal(format!("embedded database error: {other}")),
    }
}

fn map_failure(code: ffi::ErrorCode, extended: i32, msg: &str) -> PgError {
    use ffi::ErrorCode as C;
    match code {
        C::OperationInterrupted => PgError::query_canceled(),
        C::ConstraintViolation => {
            let state = match extended {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    sqlstate::UNIQUE_VIOLATION
                }
                ffi::SQLITE_CONSTRAINT_NOTNULL => sqlstate::NOT_NULL_VIOLATION,
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlstate::FOREIGN_KEY_VIOLATION,
                ffi::SQLITE_CONSTRAINT_CHECK => sqlstate::CHECK_VIOLATION,
                _ => sqlstate::INTEGRITY_CONSTRAINT_VIOLATION,
            };
            let message = match state {
                sqlstate::UNIQUE_VIOLATION => {
                    "duplicate key value violates unique constraint".to_owned()
                }
                sqlstate::NOT_NULL_VIOLATION => match after(msg, "NOT NULL constraint failed:") {
                    Some(col) => format!(
                        "null value in column \"{}\" violates not-null constraint",
                        col.rsplit('.').next().unwrap_or(col)
                    ),
                    None => msg.to_owned(),
                },
                sqlstate::FOREIGN_KEY_VIOLATION => {
                    "insert or update violates foreign key constraint".to_owned()
                }
                sqlstate::CHECK_VIOLATION => "new row violates check constraint".to_owned(),
                _ => msg.to_owned(),
            };
            PgError::error(state, message).with_detail(msg.to_owned())
        }
        C::DatabaseBusy | C::DatabaseLocked => PgError::error(
            "55P03",
            "could not obtain lock: the embedded database is busy",
        ),
        C::ReadOnly => PgError::error(
            sqlstate::READ_ONLY_SQL_TRANSACTION,
            "cannot execute this statement: the database is read-only",
        ),
        C::DiskFull => PgError::error("53100", "could not write: disk full"),
        C::TooBig => PgError::error(sqlstate::PROGRAM_LIMIT_EXCEEDED, "value too large"),
        C::TypeMismatch => PgError::error(sqlstate::DATATYPE_MISMATCH, msg.to_owned()),
        C::OutOfMemory => PgError::error(sqlstate::OUT_OF_MEMORY, "out of memory"),
        _ => map_message(msg),
    }
}

/// SQLITE_ERROR: the category is in the message.
fn map_message(msg: &str) -> PgError {
    if let Some(t) = after(msg, "no such table:") {
        return PgError::error(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{t}\" does not exist"),
        );
    }
    if let Some(c) = after(msg, "no such column:") {
        return PgError::error(
            sqlstate::UNDEFINED_COLUMN,
            format!("column \"{c}\" does not exist"),
        );
    }
    if let Some(f) = after(msg, "no such function:") {
        return PgError::error(
            sqlstate::UNDEFINED_FUNCTION,
            format!("function {f} does not exist"),
        );
    }
    if msg.starts_with("unrecognized configuration parameter") {
        // current_setting() of an unknown name.
        return PgError::error(sqlstate::UNDEFINED_OBJECT, msg.to_owned());
    }
    if msg.starts_with("wrong number of arguments to function") {
        return PgError::error(sqlstate::UNDEFINED_FUNCTION, msg.to_owned());
    }
    if let Some(rest) = msg.strip_prefix("table ")
        && let Some(name) = rest.strip_suffix(" already exists")
    {
        return PgError::error(
            sqlstate::DUPLICATE_TABLE,
            format!("relation \"{}\" already exists", name.trim_matches('"')),
        );
    }
    if let Some(rest) = msg.strip_prefix("index ")
        && let Some(name) = rest.strip_suffix(" already exists")
    {
        return PgError::error(
            sqlstate::DUPLICATE_TABLE,
            format!("relation \"{}\" already exists", name.trim_matches('"')),
        );
    }
    if let Some(near) = msg.strip_prefix("near \"")
        && let Some(tok) = near.strip_suffix("\": syntax error")
    {
        return PgError::error(
            sqlstate::SYNTAX_ERROR,
            format!("syntax error at or near \"{tok}\""),
        );
    }
    if msg.contains("syntax error")
        || msg.starts_with("incomplete input")
        || msg.starts_with("unrecognized token")
    {
        return PgError::error(sqlstate::SYNTAX_ERROR, msg.to_owned());
    }
    if msg.contains("integer overflow") {
        return PgError::error(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range");
    }
    if msg.starts_with("cannot start a transaction within a transaction") {
        return PgError::error(
            sqlstate::ACTIVE_SQL_TRANSACTION,
            "there is already a transaction in progress",
        );
    }
    if msg.starts_with("no such savepoint") {
        return PgError::error(
            "3B001",
            msg.replace("no such savepoint:", "savepoint")
                .trim()
                .to_owned()
                + " does not exist",
        );
    }
    PgError::error(sqlstate::SYNTAX_ERROR, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sql: &str) -> PgError {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL UNIQUE)")
            .unwrap();
        c.execute_batch("INSERT INTO t VALUES (1, 'x')").unwrap();
        map_error(c.execute_batch(sql).unwrap_err())
    }

    #[test]
    fn common_errors() {
        assert_eq!(run("SELECT * FROM nope").code, "42P01");
        assert_eq!(
            run("SELECT * FROM nope").message,
            "relation \"nope\" does not exist"
        );
        assert_eq!(run("SELECT zz FROM t").code, "42703");
        assert_eq!(run("SELEC 1").code, "42601");
        assert_eq!(run("INSERT INTO t VALUES (1, 'y')").code, "23505");
        assert_eq!(run("INSERT INTO t VALUES (2, 'x')").code, "23505");
        assert_eq!(run("INSERT INTO t VALUES (3, NULL)").code, "23502");
        assert_eq!(run("CREATE TABLE t (a int)").code, "42P07");
        assert_eq!(run("SELECT nofunc(1)").code, "42883");
        let e = map_message("unrecognized configuration parameter \"nope\"");
        assert_eq!(e.code, "42704");
        assert_eq!(e.message, "unrecognized configuration parameter \"nope\"");
    }
}
