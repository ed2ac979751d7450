//! IRIS SQL errors: parsing the `OE` error text and the one table that maps
//! IRIS SQLCODEs to PostgreSQL SQLSTATEs.
//!
//! IRIS reports an SQL error as a reply status equal to the SQLCODE's
//! magnitude (xDBC clients "always receive positive values", IRIS SQL Error
//! Messages reference); the client then asks for the text with `OE`. The text
//! looks like
//!
//! ```text
//! [SQLCODE: <-30>:<Table or view not found>]
//! [Location: <Prepare>]
//! [%msg: < Table 'SQLUSER.BAD' not found>]
//! ```
//!
//! ## SQLCODE → SQLSTATE
//!
//! | SQLCODE | IRIS meaning | SQLSTATE |
//! |---|---|---|
//! | −1 … −98 not listed below | errors in the statement text (parse, names, clauses) | 42601 syntax_error |
//! | −29, −31, −33 | field (column) not found | 42703 undefined_column |
//! | −30 | table or view not found | 42P01 undefined_table |
//! | −35, −36, −115, −138 | statement not allowed on a read-only / non-updateable object | 42809 wrong_object_type |
//! | −37 | function not supported for stream fields | 42883 undefined_function |
//! | −99, −112 | privilege / access violation | 42501 insufficient_privilege |
//! | −101, −102, −103 | cursor state errors | 24000 invalid_cursor_state |
//! | −104, −105 | field validation failed (value does not fit the column) | 22000 data_exception |
//! | −108 | required field missing | 23502 not_null_violation |
//! | −110, −114 | lock conflict | 55P03 lock_not_available |
//! | −116 | INSERT/UPDATE value count mismatch | 42601 syntax_error |
//! | −119, −120, −125 | UNIQUE or PRIMARY KEY violation | 23505 unique_violation |
//! | −121 … −124, −127 | FOREIGN KEY violation | 23503 foreign_key_violation |
//! | −130 … −135 | trigger failed | 09000 triggered_action_exception |
//! | −136, −137 | view WITH CHECK OPTION failed | 44000 with_check_option_violation |
//! | −139 | concurrency failure: row versions differ | 40001 serialization_failure |
//! | −140, −141, −144 … −147 | invalid value for a function, date or time | 22007 invalid_datetime_format (−146/−147), 22023 invalid_parameter_value (others) |
//! | −201 | table or view name not unique | 42P07 duplicate_table |
//! | −306 | column already exists | 42701 duplicate_column |
//! | −307, −311, −324 | key / constraint / index already defined | 42710 duplicate_object |
//! | −340 | no such namespace (database) | 3D000 invalid_catalog_name |
//! | −359, −428 | function / stored procedure not found | 42883 undefined_function |
//! | −361, −362 | method or query not found / not unique | 42883 undefined_function |
//! | −400, −415 | fatal error | XX000 internal_error |
//! | −401, −405, −406, −407, −461 | connection or communication failure | 08006 connection_failure |
//! | −402, −417, −459 | invalid user name / password, security error | 28000 invalid_authorization_specification |
//! | −413 | incompatible client/server protocol | 08P01 protocol_violation |
//! | −429, −431 | stored procedure argument count / type mismatch | 42883 undefined_function |
//! | −432 | function returned more than one row | 21000 cardinality_violation |
//! | −450 | request timed out | 57014 query_canceled |
//! | −456 | query execution interrupted | 57014 query_canceled |
//! | −462 | memory allocation failure | 53200 out_of_memory |
//! | −473 | schema not found | 3F000 invalid_schema_name |
//! | anything else | | XX000 internal_error |
//!
//! The message sent to the client is the `%msg` part when IRIS gives one,
//! otherwise the SQLCODE description; the detail carries `IRIS SQLCODE n:
//! description` and the location.

use crate::wire::error::{PgError, sqlstate};

/// The parts of an `OE` error text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrisSqlError {
    pub sqlcode: Option<i32>,
    pub description: String,
    pub location: Option<String>,
    pub msg: Option<String>,
}

/// The SQLCODE a reply status stands for: statuses are the SQLCODE's
/// magnitude, but a negative 16-bit value is taken as the SQLCODE itself.
pub fn sqlcode_from_status(status: u16) -> i32 {
    let signed = status as i16;
    if signed < 0 {
        i32::from(signed)
    } else {
        -i32::from(signed)
    }
}

/// Parses `[SQLCODE: <n>:<text>] [Location: <l>] [%msg: <m>]`; text in any
/// other shape becomes the description.
pub fn parse_error_text(text: &str) -> IrisSqlError {
    let mut out = IrisSqlError::default();
    let mut matched = false;
    if let Some(rest) = field(text, "[SQLCODE:") {
        // "<-30>:<Table or view not found>"
        if let Some((code, desc)) = rest.split_once(">:<") {
            let code = code.trim().trim_start_matches('<').trim();
            out.sqlcode = code.parse().ok();
            out.description = desc.trim_end_matches('>').trim().to_string();
            matched = true;
        } else {
            let code = rest.trim().trim_start_matches('<').trim_end_matches('>');
            out.sqlcode = code.trim().parse().ok();
            matched = out.sqlcode.is_some();
        }
    }
    if let Some(loc) = field(text, "[Location:") {
        out.location = Some(strip_angles(loc));
        matched = true;
    }
    if let Some(msg) = field(text, "[%msg:") {
        let msg = strip_angles(msg);
        if !msg.is_empty() {
            out.msg = Some(msg);
        }
        matched = true;
    }
    if !matched {
        out.description = text.trim().to_string();
    }
    out
}

/// The content of `[name ...]` in `text`, without the closing bracket.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(name)? + name.len();
    let rest = &text[start..];
    // Fields are separated by line breaks; a value may contain ']' itself,
    // so only a bracket followed by a separator (or the last one) ends it.
    let end = ["]\r\n", "]\n", "] [", "]["]
        .iter()
        .filter_map(|sep| rest.find(sep))
        .min()
        .or_else(|| rest.rfind(']'))?;
    Some(&rest[..end])
}

fn strip_angles(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix('<').unwrap_or(s);
    let s = s.strip_suffix('>').unwrap_or(s);
    s.trim().to_string()
}

/// The SQLSTATE for an IRIS SQLCODE (the table in the module docs).
pub fn sqlstate_for(sqlcode: i32) -> &'static str {
    match sqlcode {
        -29 | -31 | -33 => sqlstate::UNDEFINED_COLUMN,
        -30 => sqlstate::UNDEFINED_TABLE,
        -35 | -36 | -115 | -138 => "42809",
        -37 => sqlstate::UNDEFINED_FUNCTION,
        -99 | -112 => sqlstate::INSUFFICIENT_PRIVILEGE,
        -103..=-101 => "24000",
        -104 | -105 => "22000",
        -108 => sqlstate::NOT_NULL_VIOLATION,
        -110 | -114 => "55P03",
        -116 => sqlstate::SYNTAX_ERROR,
        -119 | -120 | -125 => sqlstate::UNIQUE_VIOLATION,
        -124..=-121 | -127 => sqlstate::FOREIGN_KEY_VIOLATION,
        -135..=-130 => "09000",
        -137 | -136 => "44000",
        -139 => sqlstate::SERIALIZATION_FAILURE,
        -147 | -146 => sqlstate::INVALID_DATETIME_FORMAT,
        -140 | -141 | -144 | -145 => sqlstate::INVALID_PARAMETER_VALUE,
        -201 => sqlstate::DUPLICATE_TABLE,
        -306 => "42701",
        -307 | -311 | -324 => sqlstate::DUPLICATE_OBJECT,
        -340 => sqlstate::INVALID_CATALOG_NAME,
        -359 | -428 | -361 | -362 | -429 | -431 => sqlstate::UNDEFINED_FUNCTION,
        -400 | -415 => sqlstate::INTERNAL_ERROR,
        -401 | -405 | -406 | -407 | -461 => sqlstate::CONNECTION_FAILURE,
        -402 | -417 | -459 => sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
        -413 => sqlstate::PROTOCOL_VIOLATION,
        -432 => "21000",
        -450 | -456 => sqlstate::QUERY_CANCELED,
        -462 => sqlstate::OUT_OF_MEMORY,
        -473 => "3F000",
        -99..=-1 => sqlstate::SYNTAX_ERROR,
        _ => sqlstate::INTERNAL_ERROR,
    }
}

/// The PostgreSQL error for an IRIS error reply: `status` from the header,
/// `text` from `OE` (empty when IRIS gave none).
pub fn to_pg_error(status: u16, text: &str) -> PgError {
    let parsed = parse_error_text(text);
    let sqlcode = parsed
        .sqlcode
        .unwrap_or_else(|| sqlcode_from_status(status));
    let description = if parsed.description.is_empty() {
        format!("IRIS error status {status}")
    } else {
        parsed.description.clone()
    };
    let message = parsed.msg.clone().unwrap_or_else(|| description.clone());
    let mut detail = format!("IRIS SQLCODE {sqlcode}: {description}");
    if let Some(loc) = &parsed.location {
        detail.push_str(&format!(" (location: {loc})"));
    }
    PgError::error(sqlstate_for(sqlcode), message).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SHAPE: &str = "[SQLCODE: <-30>:<Table or view not found>]\r\n[Location: <Prepare>]\r\n[%msg: < Table 'SQLUSER.BAD' not found>]";

    #[test]
    fn parses_the_three_parts() {
        let e = parse_error_text(REAL_SHAPE);
        assert_eq!(e.sqlcode, Some(-30));
        assert_eq!(e.description, "Table or view not found");
        assert_eq!(e.location.as_deref(), Some("Prepare"));
        assert_eq!(e.msg.as_deref(), Some("Table 'SQLUSER.BAD' not found"));
        let fake = parse_error_text("[SQLCODE: <-1>:<fake error>]");
        assert_eq!(fake.sqlcode, Some(-1));
        assert_eq!(fake.description, "fake error");
        assert_eq!(fake.msg, None);
        let free = parse_error_text("Access Denied");
        assert_eq!(free.sqlcode, None);
        assert_eq!(free.description, "Access Denied");
    }

    #[test]
    fn statuses_of_either_sign() {
        assert_eq!(sqlcode_from_status(30), -30);
        assert_eq!(sqlcode_from_status(0xFFE2), -30);
        assert_eq!(sqlcode_from_status(0xFFFF), -1);
    }

    #[test]
    fn table_rows() {
        for (code, state) in [
            (-1, "42601"),
            (-12, "42601"),
            (-25, "42601"),
            (-29, "42703"),
            (-30, "42P01"),
            (-31, "42703"),
            (-99, "42501"),
            (-108, "23502"),
            (-119, "23505"),
            (-120, "23505"),
            (-121, "23503"),
            (-124, "23503"),
            (-139, "40001"),
            (-201, "42P07"),
            (-400, "XX000"),
            (-450, "57014"),
            (-456, "57014"),
            (-102, "24000"),
            (-9999, "XX000"),
        ] {
            assert_eq!(sqlstate_for(code), state, "SQLCODE {code}");
        }
    }

    #[test]
    fn pg_error_uses_msg_and_keeps_the_code_in_detail() {
        let e = to_pg_error(30, REAL_SHAPE);
        assert_eq!(e.code, "42P01");
        assert_eq!(e.message, "Table 'SQLUSER.BAD' not found");
        assert_eq!(
            e.detail.as_deref(),
            Some("IRIS SQLCODE -30: Table or view not found (location: Prepare)")
        );
        // No text at all: the status decides.
        let e = to_pg_error(119, "");
        assert_eq!(e.code, "23505");
        assert!(e.message.contains("119"));
    }
}
