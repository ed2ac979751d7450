//! PostgreSQL data types: OIDs, and the text and binary forms of values.
//!
//! Backends hand over [`Cell`]s (what they hold); the column's type OID says
//! how PostgreSQL would render it. Parameters arrive in text or binary form
//! and are decoded into [`Value`]s for the backend.

use bytes::{BufMut, BytesMut};

use crate::backend::{Cell, Value};
use crate::wire::error::{PgError, sqlstate};

/// A PostgreSQL type OID.
pub type Oid = u32;

/// The OIDs pgiris uses (from PostgreSQL's pg_type.dat).
pub mod oid {
    use super::Oid;
    pub const UNSPECIFIED: Oid = 0;
    pub const BOOL: Oid = 16;
    pub const BYTEA: Oid = 17;
    pub const CHAR: Oid = 18;
    pub const NAME: Oid = 19;
    pub const INT8: Oid = 20;
    pub const INT2: Oid = 21;
    pub const INT4: Oid = 23;
    pub const TEXT: Oid = 25;
    pub const OID: Oid = 26;
    pub const JSON: Oid = 114;
    pub const FLOAT4: Oid = 700;
    pub const FLOAT8: Oid = 701;
    pub const UNKNOWN: Oid = 705;
    pub const BPCHAR: Oid = 1042;
    pub const VARCHAR: Oid = 1043;
    pub const DATE: Oid = 1082;
    pub const TIME: Oid = 1083;
    pub const TIMESTAMP: Oid = 1114;
    pub const TIMESTAMPTZ: Oid = 1184;
    pub const INTERVAL: Oid = 1186;
    pub const NUMERIC: Oid = 1700;
    pub const UUID: Oid = 2950;
    pub const JSONB: Oid = 3802;
}

/// Wire format of a value: 0 = text, 1 = binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    pub fn from_code(code: i16) -> Result<Format, PgError> {
        match code {
            0 => Ok(Format::Text),
            1 => Ok(Format::Binary),
            n => Err(PgError::protocol_violation(format!(
                "invalid format code: {n}"
            ))),
        }
    }

    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// pg_type.typlen for RowDescription (-1 = variable length).
pub fn type_size(oid: Oid) -> i16 {
    match oid {
        oid::BOOL | oid::CHAR => 1,
        oid::INT2 => 2,
        oid::INT4 | oid::OID | oid::FLOAT4 | oid::DATE => 4,
        oid::INT8 | oid::FLOAT8 | oid::TIME | oid::TIMESTAMP | oid::TIMESTAMPTZ => 8,
        oid::INTERVAL | oid::UUID => 16,
        oid::NAME => 64,
        _ => -1,
    }
}

/// Appends the text form of `cell`, rendered as type `oid`.
pub fn encode_text(cell: Cell<'_>, oid: Oid, out: &mut BytesMut) -> Result<(), PgError> {
    match cell {
        Cell::Null => {}
        Cell::Bool(b) => out.put_slice(if b { b"t" } else { b"f" }),
        Cell::Int(i) if oid == oid::BOOL => out.put_slice(if i != 0 { b"t" } else { b"f" }),
        Cell::Int(i) => out.put_slice(i.to_string().as_bytes()),
        Cell::Float(f) => out.put_slice(f.to_string().as_bytes()),
        Cell::Numeric(s) | Cell::Text(s) => out.put_slice(s.as_bytes()),
        Cell::Bytes(b) => {
            out.put_slice(b"\\x");
            for byte in b {
                out.put_slice(format!("{byte:02x}").as_bytes());
            }
        }
    }
    Ok(())
}

/// Whether values of type `oid` can be sent in binary.
pub fn supports_binary(oid: Oid) -> bool {
    matches!(
        oid,
        oid::BOOL | oid::INT2 | oid::INT4 | oid::INT8 | oid::TEXT | oid::VARCHAR | oid::BYTEA
    )
}

/// Appends the binary form of `cell`, rendered as type `oid`.
pub fn encode_binary(cell: Cell<'_>, oid: Oid, out: &mut BytesMut) -> Result<(), PgError> {
    match (oid, cell) {
        (_, Cell::Null) => {}
        (oid::BOOL, Cell::Bool(b)) => out.put_u8(b as u8),
        (oid::BOOL, Cell::Int(i)) => out.put_u8((i != 0) as u8),
        (oid::INT8, Cell::Int(i)) => out.put_i64(i),
        (oid::INT4, Cell::Int(i)) => out.put_i32(i32::try_from(i).map_err(|_| {
            PgError::error(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
        })?),
        // The binary form of text is its text form, whatever the backend
        // holds (an untyped expression described as text may yield an
        // integer).
        (oid::TEXT | oid::VARCHAR, cell) => encode_text(cell, oid, out)?,
        (oid::BYTEA, Cell::Bytes(b)) => out.put_slice(b),
        _ => {
            return Err(PgError::error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("binary output for type {oid} is not supported"),
            ));
        }
    }
    Ok(())
}

/// Decodes one Bind parameter of declared type `oid` (0 = unspecified).
pub fn decode_param(bytes: &[u8], oid: Oid, format: Format) -> Result<Value, PgError> {
    match format {
        Format::Text => {
            let s = std::str::from_utf8(bytes).map_err(|_| {
                PgError::error(
                    sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                    "invalid byte sequence for encoding \"UTF8\"",
                )
            })?;
            Ok(Value::Text(s.to_owned()))
        }
        Format::Binary => match oid {
            oid::INT8 if bytes.len() == 8 => Ok(Value::Int(i64::from_be_bytes(
                bytes.try_into().unwrap_or([0; 8]),
            ))),
            oid::INT4 if bytes.len() == 4 => Ok(Value::Int(i64::from(i32::from_be_bytes(
                bytes.try_into().unwrap_or([0; 4]),
            )))),
            oid::INT2 if bytes.len() == 2 => Ok(Value::Int(i64::from(i16::from_be_bytes(
                bytes.try_into().unwrap_or([0; 2]),
            )))),
            oid::BOOL if bytes.len() == 1 && bytes[0] <= 1 => Ok(Value::Bool(bytes[0] == 1)),
            oid::BYTEA => Ok(Value::Bytes(bytes.to_vec())),
            // The binary form of text is its UTF-8 bytes (what tokio-postgres
            // and pgjdbc send for strings).
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME => std::str::from_utf8(bytes)
                .map(|s| Value::Text(s.to_owned()))
                .map_err(|_| {
                    PgError::error(
                        sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                        "invalid byte sequence for encoding \"UTF8\"",
                    )
                }),
            _ => Err(PgError::error(
                sqlstate::INVALID_BINARY_REPRESENTATION,
                format!("incorrect binary data format for type {oid}"),
            )),
        },
    }
}

/// pg_type.typname.
pub fn type_name(oid: Oid) -> &'static str {
    match oid {
        oid::BOOL => "bool",
        oid::BYTEA => "bytea",
        oid::CHAR => "char",
        oid::NAME => "name",
        oid::INT8 => "int8",
        oid::INT2 => "int2",
        oid::INT4 => "int4",
        oid::TEXT => "text",
        oid::OID => "oid",
        oid::JSON => "json",
        oid::FLOAT4 => "float4",
        oid::FLOAT8 => "float8",
        oid::UNKNOWN => "unknown",
        oid::BPCHAR => "bpchar",
        oid::VARCHAR => "varchar",
        oid::DATE => "date",
        oid::TIME => "time",
        oid::TIMESTAMP => "timestamp",
        oid::TIMESTAMPTZ => "timestamptz",
        oid::INTERVAL => "interval",
        oid::NUMERIC => "numeric",
        oid::UUID => "uuid",
        oid::JSONB => "jsonb",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_text_is_the_text_form_of_any_cell() {
        for (cell, text) in [
            (Cell::Text("abc"), &b"abc"[..]),
            (Cell::Int(42), b"42"),
            (Cell::Float(1.5), b"1.5"),
        ] {
            let mut out = BytesMut::new();
            encode_binary(cell, oid::TEXT, &mut out).unwrap();
            assert_eq!(&out[..], text);
        }
        let mut out = BytesMut::new();
        assert!(encode_binary(Cell::Text("x"), oid::INT4, &mut out).is_err());
    }

    #[test]
    fn binary_parameters() {
        let b = Format::Binary;
        assert_eq!(
            decode_param(b"caf\xc3\xa9", oid::TEXT, b).unwrap(),
            Value::Text("café".into())
        );
        assert_eq!(
            decode_param(b"x", oid::VARCHAR, b).unwrap(),
            Value::Text("x".into())
        );
        assert_eq!(
            decode_param(b"\xff", oid::TEXT, b).unwrap_err().code,
            "22021"
        );
        assert_eq!(decode_param(&[1], oid::BOOL, b).unwrap(), Value::Bool(true));
        assert_eq!(
            decode_param(&[0], oid::BOOL, b).unwrap(),
            Value::Bool(false)
        );
        assert!(decode_param(&[2], oid::BOOL, b).is_err());
        assert_eq!(
            decode_param(&[0xff, 0xfe], oid::INT2, b).unwrap(),
            Value::Int(-2)
        );
        assert!(decode_param(&[0, 0, 1], oid::INT2, b).is_err());
    }
}
