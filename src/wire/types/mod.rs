//! PostgreSQL data types: OIDs, catalog facts, and the text and binary forms
//! of values, exact to the byte.
//!
//! Backends hand over [`Cell`]s (what they hold: SQLite storage classes or
//! IRIS values); the column's type OID says how PostgreSQL would render it,
//! so every encoder converts first (an integer column holding `'12'` prints
//! `12`, a timestamp held as `2024-01-02T03:04:05Z` prints
//! `2024-01-02 03:04:05`). Parameters arrive in text or binary form and are
//! decoded into [`Value`]s for the backend, with PostgreSQL's own input rules
//! and error wording.
//!
//! One submodule per type family owns parsing and formatting; this module
//! only dispatches on the OID. Encoders write straight into the output
//! buffer and never allocate on success.

mod bytea;
mod datetime;
mod float;
mod int;
mod json;
mod names;
mod numeric;
mod uuid;

#[cfg(test)]
mod tests;

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::backend::{Cell, Value};
use crate::wire::error::{PgError, sqlstate};

pub use int::IntKind;
pub use names::{
    array_type, element_type, known_types, numeric_typmod, parse_type_name, type_modifier,
    type_name, type_oid, type_size,
};

use datetime::{DateValue, TimestampValue};
use numeric::NumericValue;

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
    pub const INT2VECTOR: Oid = 22;
    pub const INT4: Oid = 23;
    pub const REGPROC: Oid = 24;
    pub const TEXT: Oid = 25;
    pub const OID: Oid = 26;
    pub const TID: Oid = 27;
    pub const XID: Oid = 28;
    pub const CID: Oid = 29;
    pub const OIDVECTOR: Oid = 30;
    pub const JSON: Oid = 114;
    pub const XML: Oid = 142;
    pub const JSON_ARRAY: Oid = 199;
    pub const POINT: Oid = 600;
    pub const CIDR: Oid = 650;
    pub const FLOAT4: Oid = 700;
    pub const FLOAT8: Oid = 701;
    pub const UNKNOWN: Oid = 705;
    pub const MONEY: Oid = 790;
    pub const MACADDR: Oid = 829;
    pub const INET: Oid = 869;
    pub const BOOL_ARRAY: Oid = 1000;
    pub const BYTEA_ARRAY: Oid = 1001;
    pub const CHAR_ARRAY: Oid = 1002;
    pub const NAME_ARRAY: Oid = 1003;
    pub const INT2_ARRAY: Oid = 1005;
    pub const INT4_ARRAY: Oid = 1007;
    pub const TEXT_ARRAY: Oid = 1009;
    pub const BPCHAR_ARRAY: Oid = 1014;
    pub const VARCHAR_ARRAY: Oid = 1015;
    pub const INT8_ARRAY: Oid = 1016;
    pub const FLOAT4_ARRAY: Oid = 1021;
    pub const FLOAT8_ARRAY: Oid = 1022;
    pub const OID_ARRAY: Oid = 1028;
    pub const BPCHAR: Oid = 1042;
    pub const VARCHAR: Oid = 1043;
    pub const DATE: Oid = 1082;
    pub const TIME: Oid = 1083;
    pub const TIMESTAMP: Oid = 1114;
    pub const TIMESTAMP_ARRAY: Oid = 1115;
    pub const DATE_ARRAY: Oid = 1182;
    pub const TIME_ARRAY: Oid = 1183;
    pub const TIMESTAMPTZ: Oid = 1184;
    pub const TIMESTAMPTZ_ARRAY: Oid = 1185;
    pub const INTERVAL: Oid = 1186;
    pub const INTERVAL_ARRAY: Oid = 1187;
    pub const NUMERIC_ARRAY: Oid = 1231;
    pub const TIMETZ: Oid = 1266;
    pub const BIT: Oid = 1560;
    pub const VARBIT: Oid = 1562;
    pub const NUMERIC: Oid = 1700;
    pub const REGCLASS: Oid = 2205;
    pub const REGTYPE: Oid = 2206;
    pub const RECORD: Oid = 2249;
    pub const CSTRING: Oid = 2275;
    pub const VOID: Oid = 2278;
    pub const UUID: Oid = 2950;
    pub const UUID_ARRAY: Oid = 2951;
    pub const JSONB: Oid = 3802;
    pub const JSONB_ARRAY: Oid = 3807;
    pub const REGNAMESPACE: Oid = 4089;
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

/// Appends the PostgreSQL text output of `cell` rendered as type `oid`.
///
/// `Cell::Null` writes nothing (the caller sends length -1). On error
/// nothing is appended. Same as [`encode_text_with_typmod`] with no type
/// modifier.
pub fn encode_text(cell: Cell<'_>, oid: Oid, out: &mut BytesMut) -> Result<(), PgError> {
    encode_text_with_typmod(cell, oid, -1, out)
}

/// [`encode_text`] for a column with type modifier `typmod` (atttypmod, as
/// in RowDescription): `numeric(p,s)` values are rounded and shown with `s`
/// decimals, `char(n)` is space-padded to `n` characters, `time(p)` and
/// `timestamp(p)` are rounded to `p` fractional digits, as PostgreSQL would
/// have stored them. -1 means none.
pub fn encode_text_with_typmod(
    cell: Cell<'_>,
    oid: Oid,
    typmod: i32,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    all_or_nothing(out, |out| encode_text_inner(cell, oid, typmod, out))
}

/// Runs `encode` on `out`, which is left as it was if `encode` fails.
fn all_or_nothing(
    out: &mut BytesMut,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), PgError>,
) -> Result<(), PgError> {
    let start = out.len();
    let result = encode(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_text_inner(
    cell: Cell<'_>,
    oid: Oid,
    typmod: i32,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    if cell == Cell::Null {
        return Ok(());
    }
    match oid {
        oid::BOOL => out.put_slice(if cell_to_bool(cell)? { b"t" } else { b"f" }),
        oid::INT2 => int::put_i64(out, cell_to_int(cell, IntKind::Int2)?),
        oid::INT4 => int::put_i64(out, cell_to_int(cell, IntKind::Int4)?),
        oid::INT8 => int::put_i64(out, cell_to_int(cell, IntKind::Int8)?),
        oid::OID => int::put_i64(out, cell_to_int(cell, IntKind::Oid)?),
        oid::FLOAT4 => float::put_f32(out, cell_to_f32(cell)?),
        oid::FLOAT8 => float::put_f64(out, cell_to_f64(cell)?),
        oid::NUMERIC => {
            let (mut scratch, mut rounded) = (numeric::Scratch::new(), Vec::new());
            cell_to_numeric(cell, typmod, &mut scratch, &mut rounded)?.put_text(out);
        }
        oid::BYTEA => with_bytea(cell, |b| bytea::put_hex(out, b))?,
        oid::DATE => cell_to_date(cell)?.put_text(out),
        oid::TIME => datetime::put_time(out, cell_to_time(cell, typmod)?),
        oid::TIMESTAMP => cell_to_timestamp(cell, false, typmod)?.put_text(out, false),
        oid::TIMESTAMPTZ => cell_to_timestamp(cell, true, typmod)?.put_text(out, true),
        oid::UUID => uuid::put_text(out, &cell_to_uuid(cell)?),
        oid::CHAR => put_char_text(out, cell_to_char(cell)?),
        oid::BPCHAR => put_bpchar(cell, typmod, out)?,
        _ => put_cell_text(cell, out)?,
    }
    Ok(())
}

/// Whether values of type `oid` can be sent and received in binary.
pub fn supports_binary(oid: Oid) -> bool {
    matches!(
        oid,
        oid::BOOL
            | oid::INT2
            | oid::INT4
            | oid::INT8
            | oid::OID
            | oid::FLOAT4
            | oid::FLOAT8
            | oid::NUMERIC
            | oid::TEXT
            | oid::VARCHAR
            | oid::BPCHAR
            | oid::NAME
            | oid::CHAR
            | oid::UNKNOWN
            | oid::JSON
            | oid::JSONB
            | oid::BYTEA
            | oid::DATE
            | oid::TIME
            | oid::TIMESTAMP
            | oid::TIMESTAMPTZ
            | oid::UUID
    )
}

/// Appends the PostgreSQL binary (`typsend`) form of `cell` rendered as
/// type `oid`. Types outside [`supports_binary`] get 0A000; on any error
/// nothing is appended. Same as [`encode_binary_with_typmod`] with no type
/// modifier.
pub fn encode_binary(cell: Cell<'_>, oid: Oid, out: &mut BytesMut) -> Result<(), PgError> {
    encode_binary_with_typmod(cell, oid, -1, out)
}

/// [`encode_binary`] for a column with type modifier `typmod`, applied as
/// [`encode_text_with_typmod`] describes.
pub fn encode_binary_with_typmod(
    cell: Cell<'_>,
    oid: Oid,
    typmod: i32,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    all_or_nothing(out, |out| encode_binary_inner(cell, oid, typmod, out))
}

fn encode_binary_inner(
    cell: Cell<'_>,
    oid: Oid,
    typmod: i32,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    if !supports_binary(oid) {
        return Err(PgError::feature_not_supported(format!(
            "binary output for type {} is not supported",
            TypeLabel(oid)
        )));
    }
    if cell == Cell::Null {
        return Ok(());
    }
    match oid {
        oid::BOOL => out.put_u8(u8::from(cell_to_bool(cell)?)),
        // The range checks in cell_to_int make these narrowing casts exact.
        oid::INT2 => out.put_i16(cell_to_int(cell, IntKind::Int2)? as i16),
        oid::INT4 => out.put_i32(cell_to_int(cell, IntKind::Int4)? as i32),
        oid::INT8 => out.put_i64(cell_to_int(cell, IntKind::Int8)?),
        oid::OID => out.put_u32(cell_to_int(cell, IntKind::Oid)? as u32),
        oid::FLOAT4 => out.put_f32(cell_to_f32(cell)?),
        oid::FLOAT8 => out.put_f64(cell_to_f64(cell)?),
        oid::NUMERIC => {
            let (mut scratch, mut rounded) = (numeric::Scratch::new(), Vec::new());
            cell_to_numeric(cell, typmod, &mut scratch, &mut rounded)?.put_binary(out);
        }
        oid::BYTEA => with_bytea(cell, |b| out.put_slice(b))?,
        oid::DATE => out.put_i32(cell_to_date(cell)?.to_binary()),
        oid::TIME => out.put_i64(cell_to_time(cell, typmod)?),
        oid::TIMESTAMP => out.put_i64(cell_to_timestamp(cell, false, typmod)?.to_binary()),
        oid::TIMESTAMPTZ => out.put_i64(cell_to_timestamp(cell, true, typmod)?.to_binary()),
        oid::UUID => out.put_slice(&cell_to_uuid(cell)?),
        oid::CHAR => out.put_u8(cell_to_char(cell)?),
        oid::JSONB => {
            // jsonb_send: a version byte, then the text form.
            out.put_u8(1);
            put_cell_text(cell, out)?;
        }
        oid::BPCHAR => put_bpchar(cell, typmod, out)?,
        _ => put_cell_text(cell, out)?,
    }
    Ok(())
}

/// Decodes one Bind parameter of declared type `oid` (0 = unspecified).
///
/// Text-format values are checked with PostgreSQL's input rules; dates,
/// times, timestamps and UUIDs become their canonical text, numerics their
/// canonical decimal. Binary values must have exactly the length their type
/// sends (22P03 otherwise).
pub fn decode_param(bytes: &[u8], oid: Oid, format: Format) -> Result<Value, PgError> {
    match format {
        Format::Text => decode_text_param(utf8_text(bytes)?, oid),
        Format::Binary => decode_binary_param(bytes, oid),
    }
}

fn decode_text_param(s: &str, oid: Oid) -> Result<Value, PgError> {
    Ok(match oid {
        oid::BOOL => Value::Bool(parse_bool(s)?),
        oid::INT2 => Value::Int(int::parse(s, IntKind::Int2)?),
        oid::INT4 => Value::Int(int::parse(s, IntKind::Int4)?),
        oid::INT8 => Value::Int(int::parse(s, IntKind::Int8)?),
        oid::OID => Value::Int(int::parse(s, IntKind::Oid)?),
        oid::FLOAT4 => Value::Float(f64::from(float::parse_f32(s)?)),
        oid::FLOAT8 => Value::Float(float::parse_f64(s)?),
        oid::NUMERIC => Value::Numeric(numeric::parse(s)?.to_text_string()),
        oid::BYTEA => Value::Bytes(bytea::parse_text(s)?),
        oid::DATE => Value::Text(datetime::parse_date(s)?.to_text_string()),
        oid::TIME => Value::Text(datetime::time_to_string(datetime::parse_time(s)?)),
        oid::TIMESTAMP => Value::Text(datetime::parse_timestamp(s, false)?.to_text_string(false)),
        oid::TIMESTAMPTZ => Value::Text(datetime::parse_timestamp(s, true)?.to_text_string(true)),
        oid::UUID => Value::Text(uuid::to_text_string(&uuid::parse_text(s)?)),
        oid::JSON => {
            json::validate(s, json::Flavor::Json)?;
            Value::Text(s.to_owned())
        }
        oid::JSONB => {
            json::validate(s, json::Flavor::Jsonb)?;
            Value::Text(s.to_owned())
        }
        oid::CHAR => {
            let mut out = BytesMut::with_capacity(4);
            put_char_text(&mut out, char_from_text(s));
            Value::Text(String::from_utf8_lossy(&out).into_owned())
        }
        oid::NAME => Value::Text(truncate_name(s).to_owned()),
        _ => Value::Text(s.to_owned()),
    })
}

fn decode_binary_param(bytes: &[u8], oid: Oid) -> Result<Value, PgError> {
    Ok(match oid {
        oid::BOOL => Value::Bool(fixed::<1>(bytes)?[0] != 0),
        oid::INT2 => Value::Int(i64::from(i16::from_be_bytes(fixed(bytes)?))),
        oid::INT4 => Value::Int(i64::from(i32::from_be_bytes(fixed(bytes)?))),
        oid::INT8 => Value::Int(i64::from_be_bytes(fixed(bytes)?)),
        oid::OID => Value::Int(i64::from(u32::from_be_bytes(fixed(bytes)?))),
        oid::FLOAT4 => Value::Float(f64::from(f32::from_be_bytes(fixed(bytes)?))),
        oid::FLOAT8 => Value::Float(f64::from_be_bytes(fixed(bytes)?)),
        oid::NUMERIC => Value::Numeric(numeric::decode_binary(bytes)?),
        oid::BYTEA => Value::Bytes(bytes.to_vec()),
        oid::DATE => {
            let date = DateValue::from_binary(i32::from_be_bytes(fixed(bytes)?))?;
            Value::Text(date.to_text_string())
        }
        oid::TIME => {
            let time = datetime::time_from_binary(i64::from_be_bytes(fixed(bytes)?))?;
            Value::Text(datetime::time_to_string(time))
        }
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let tz = oid == oid::TIMESTAMPTZ;
            let ts = TimestampValue::from_binary(i64::from_be_bytes(fixed(bytes)?))?;
            Value::Text(ts.to_text_string(tz))
        }
        oid::UUID => Value::Text(uuid::to_text_string(&fixed(bytes)?)),
        oid::CHAR => {
            let mut out = BytesMut::with_capacity(4);
            put_char_text(&mut out, fixed::<1>(bytes)?[0]);
            Value::Text(String::from_utf8_lossy(&out).into_owned())
        }
        oid::JSON => {
            let s = utf8_text(bytes)?;
            json::validate(s, json::Flavor::Json)?;
            Value::Text(s.to_owned())
        }
        oid::JSONB => match bytes.split_first() {
            Some((1, rest)) => {
                let s = utf8_text(rest)?;
                json::validate(s, json::Flavor::Jsonb)?;
                Value::Text(s.to_owned())
            }
            Some((version, _)) => {
                return Err(PgError::internal(format!(
                    "unsupported jsonb version number {version}"
                )));
            }
            None => return Err(binary_format_error()),
        },
        oid::NAME => Value::Text(truncate_name(utf8_text(bytes)?).to_owned()),
        // unknownrecv reads text; a parameter nobody typed is treated alike.
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::UNKNOWN | oid::UNSPECIFIED => {
            Value::Text(utf8_text(bytes)?.to_owned())
        }
        _ => {
            return Err(PgError::feature_not_supported(format!(
                "binary input for type {} is not supported",
                TypeLabel(oid)
            )));
        }
    })
}

// ---------------------------------------------------------------------------
// Single values for backends that convert them in SQL (the embedded
// backend's casts and clock functions, IRIS parameters and rows): the same
// input and output rules as the wire, one value at a time.
// ---------------------------------------------------------------------------

/// boolin: `t`/`true`/`yes`/`on`/`1` and their false counterparts, any
/// case, any unambiguous prefix, surrounding whitespace ignored; 22P02
/// otherwise.
pub fn parse_bool(input: &str) -> Result<bool, PgError> {
    int::parse_bool(input).ok_or_else(|| invalid_syntax("boolean", input))
}

/// byteain: hex (`\x0102`, whitespace between pairs) or escape format.
pub fn parse_bytea(input: &str) -> Result<Vec<u8>, PgError> {
    bytea::parse_text(input)
}

/// `'input'::numeric(p,s)` as text: numeric_in, then apply_typmod when
/// `typmod` is a `numeric(p,s)` modifier (-1 for none), then numeric_out.
pub fn numeric_text(input: &str, typmod: i32) -> Result<String, PgError> {
    let mut rounded = Vec::new();
    Ok(numeric::parse(input)?
        .apply_typmod(typmod, &mut rounded)?
        .to_text_string())
}

/// `'input'::type(p)` as text, for `oid` date, time, timestamp or
/// timestamptz (anything else is refused with XX000): the input function,
/// rounding to `typmod` fractional digits (-1 for none), then the output
/// function. `now`, `today` and friends mean `now_unix_micros`
/// (microseconds since 1970-01-01), as PostgreSQL means the transaction
/// start.
pub fn datetime_text(
    input: &str,
    oid: Oid,
    typmod: i32,
    now_unix_micros: i64,
) -> Result<String, PgError> {
    let clock = datetime::Clock::at_unix_micros(now_unix_micros);
    match oid {
        oid::DATE => Ok(datetime::parse_date_at(input, clock)?.to_text_string()),
        oid::TIME => {
            let us = datetime::parse_time_at(input, clock)?;
            Ok(datetime::time_to_string(datetime::round_to_precision(
                us, typmod,
            )))
        }
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let tz = oid == oid::TIMESTAMPTZ;
            let ts = datetime::parse_timestamp_at(input, tz, clock)?;
            Ok(ts.with_precision(typmod).to_text_string(tz))
        }
        _ => Err(PgError::internal(format!(
            "type {} is not a date or time type",
            TypeLabel(oid)
        ))),
    }
}

/// date_out of a day count since 1970-01-01; 22008 outside date's range.
pub fn date_text(unix_days: i64) -> Result<String, PgError> {
    Ok(DateValue::from_unix_days(unix_days)?.to_text_string())
}

/// time_out of microseconds since midnight (0 to 24:00:00), rounded to
/// `time(typmod)` (-1 for no rounding).
pub fn time_text(micros: i64, typmod: i32) -> String {
    datetime::time_to_string(datetime::round_to_precision(micros, typmod))
}

/// timestamp_out (timestamptz_out in UTC when `with_zone`) of microseconds
/// since 1970-01-01, rounded to `timestamp(typmod)` (-1 for no rounding);
/// 22008 outside timestamp's range.
pub fn timestamp_text(unix_micros: i64, with_zone: bool, typmod: i32) -> Result<String, PgError> {
    let ts = TimestampValue::from_unix_micros(unix_micros)?;
    Ok(ts.with_precision(typmod).to_text_string(with_zone))
}

// ---------------------------------------------------------------------------
// Cell conversions: what the backend holds -> the value of the declared type.
// ---------------------------------------------------------------------------

/// Runs `f` on the text form of a cell without allocating: integers and
/// floats are formatted into a stack buffer, bytes must be UTF-8.
fn with_cell_text<R>(
    cell: Cell<'_>,
    f: impl FnOnce(&str) -> Result<R, PgError>,
) -> Result<R, PgError> {
    match cell {
        Cell::Text(s) | Cell::Numeric(s) => f(s),
        Cell::Bytes(b) => f(utf8_text(b)?),
        Cell::Bool(b) => f(if b { "true" } else { "false" }),
        Cell::Int(i) => {
            let mut buf = [0u8; int::I64_MAX_LEN];
            f(int::format_i64(i, &mut buf))
        }
        Cell::Float(v) => {
            let mut buf = StackBuf::<{ float::F64_MAX_LEN }>::new();
            float::write_f64(&mut buf, v);
            f(buf.as_str())
        }
        Cell::Null => f(""),
    }
}

/// Text, varchar, json and every type without its own rules: the cell's
/// own text (numbers as PostgreSQL prints them, booleans as `true`/`false`).
fn put_cell_text(cell: Cell<'_>, out: &mut BytesMut) -> Result<(), PgError> {
    match cell {
        Cell::Null => {}
        Cell::Text(s) => out.put_slice(s.as_bytes()),
        Cell::Numeric(s) => match numeric::parse(s) {
            Ok(n) => n.put_text(out),
            Err(_) => out.put_slice(s.as_bytes()),
        },
        Cell::Bytes(b) => out.put_slice(utf8_text(b)?.as_bytes()),
        Cell::Bool(b) => out.put_slice(if b { b"true" } else { b"false" }),
        Cell::Int(i) => int::put_i64(out, i),
        Cell::Float(v) => float::put_f64(out, v),
    }
    Ok(())
}

fn cell_to_bool(cell: Cell<'_>) -> Result<bool, PgError> {
    match cell {
        Cell::Bool(b) => Ok(b),
        // int4 -> bool is "non-zero is true" in PostgreSQL too.
        Cell::Int(i) => Ok(i != 0),
        _ => with_cell_text(cell, parse_bool),
    }
}

fn cell_to_int(cell: Cell<'_>, kind: IntKind) -> Result<i64, PgError> {
    match cell {
        Cell::Int(i) => kind.check(i),
        Cell::Bool(b) => Ok(i64::from(b)),
        Cell::Float(v) => {
            if !v.is_finite() {
                return Err(kind.cast_out_of_range());
            }
            if v.fract() != 0.0 {
                return with_cell_text(cell, |s| Err(invalid_syntax(kind.sql_name(), s)));
            }
            // Exact bounds: -2^63 is representable, 2^63 is the first value above.
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
                return Err(kind.cast_out_of_range());
            }
            kind.check(v as i64)
        }
        Cell::Numeric(s) => match numeric::parse(s).map(|n| n.to_integer(kind)) {
            Ok(Ok(i)) => Ok(i),
            Ok(Err(numeric::NotInteger::OutOfRange)) => Err(kind.cast_out_of_range()),
            _ => Err(invalid_syntax(kind.sql_name(), s)),
        },
        _ => with_cell_text(cell, |s| match int::parse(s, kind) {
            // A backend may hold an integral value as "12.0" or "1e3".
            Err(e) if e.code == sqlstate::INVALID_TEXT_REPRESENTATION => {
                match numeric::parse(s).map(|n| n.to_integer(kind)) {
                    Ok(Ok(i)) => Ok(i),
                    Ok(Err(numeric::NotInteger::OutOfRange)) => Err(kind.input_out_of_range(s)),
                    _ => Err(e),
                }
            }
            other => other,
        }),
    }
}

fn cell_to_f64(cell: Cell<'_>) -> Result<f64, PgError> {
    match cell {
        Cell::Float(v) => Ok(v),
        Cell::Int(i) => Ok(i as f64),
        _ => with_cell_text(cell, float::parse_f64),
    }
}

fn cell_to_f32(cell: Cell<'_>) -> Result<f32, PgError> {
    match cell {
        Cell::Float(v) => float::narrow_f64(v),
        Cell::Int(i) => Ok(i as f32),
        _ => with_cell_text(cell, float::parse_f32),
    }
}

/// The numeric value of a cell, rounded to the scale of `typmod` if any.
fn cell_to_numeric<'a>(
    cell: Cell<'a>,
    typmod: i32,
    scratch: &'a mut numeric::Scratch,
    rounded: &'a mut Vec<u8>,
) -> Result<NumericValue<'a>, PgError> {
    let value = match cell {
        Cell::Numeric(s) | Cell::Text(s) => numeric::parse(s)?,
        Cell::Int(i) => scratch.integer(i),
        Cell::Float(v) => scratch.float(v),
        Cell::Bytes(b) => numeric::parse(utf8_text(b)?)?,
        Cell::Bool(b) => return Err(invalid_syntax("numeric", if b { "true" } else { "false" })),
        Cell::Null => return Err(invalid_syntax("numeric", "")),
    };
    Ok(match numeric::typmod_scale(typmod) {
        Some(scale) => value.with_scale(scale, rounded),
        None => value,
    })
}

/// bytea from a cell: its bytes; anything else is its text's bytes.
/// The bytes of a bytea value. Text in a bytea column is what a client
/// wrote as a bytea literal (`'\\x0102'`, or escape format), so it is read
/// the way PostgreSQL's byteain reads it.
fn with_bytea<R>(cell: Cell<'_>, f: impl FnOnce(&[u8]) -> R) -> Result<R, PgError> {
    match cell {
        Cell::Text(s) => Ok(f(&bytea::parse_text(s)?)),
        _ => with_cell_bytes(cell, f),
    }
}

fn with_cell_bytes<R>(cell: Cell<'_>, f: impl FnOnce(&[u8]) -> R) -> Result<R, PgError> {
    match cell {
        Cell::Bytes(b) => Ok(f(b)),
        _ => with_cell_text(cell, |s| Ok(f(s.as_bytes()))),
    }
}

fn cell_to_date(cell: Cell<'_>) -> Result<DateValue, PgError> {
    match cell {
        Cell::Int(secs) => DateValue::from_unix_seconds(secs),
        Cell::Float(jd) => DateValue::from_julian_day(jd),
        _ => with_cell_text(cell, datetime::parse_date),
    }
}

fn cell_to_time(cell: Cell<'_>, typmod: i32) -> Result<i64, PgError> {
    let us = with_cell_text(cell, datetime::parse_time)?;
    Ok(datetime::round_to_precision(us, typmod))
}

fn cell_to_timestamp(cell: Cell<'_>, tz: bool, typmod: i32) -> Result<TimestampValue, PgError> {
    let value = match cell {
        Cell::Int(secs) => TimestampValue::from_unix_seconds(secs)?,
        Cell::Float(jd) => TimestampValue::from_julian_day(jd)?,
        _ => with_cell_text(cell, |s| datetime::parse_timestamp(s, tz))?,
    };
    Ok(value.with_precision(typmod))
}

fn cell_to_uuid(cell: Cell<'_>) -> Result<[u8; 16], PgError> {
    match cell {
        Cell::Bytes(b) if b.len() == 16 => {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(b);
            Ok(raw)
        }
        _ => with_cell_text(cell, uuid::parse_text),
    }
}

/// The single byte of a `"char"` value (charin: the first byte, or the
/// `\ooo` octal form).
fn cell_to_char(cell: Cell<'_>) -> Result<u8, PgError> {
    with_cell_text(cell, |s| Ok(char_from_text(s)))
}

fn char_from_text(s: &str) -> u8 {
    match s.as_bytes() {
        [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7'] => {
            ((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0')
        }
        [first, ..] => *first,
        [] => 0,
    }
}

/// charout: empty for NUL, `\ooo` for bytes with the high bit set.
fn put_char_text(out: &mut BytesMut, c: u8) {
    match c {
        0 => {}
        0x80.. => out.put_slice(&[
            b'\\',
            b'0' + (c >> 6),
            b'0' + ((c >> 3) & 7),
            b'0' + (c & 7),
        ]),
        _ => out.put_u8(c),
    }
}

/// A bpchar value, text and binary alike: the cell's text, space-padded to
/// `char(n)`'s width as PostgreSQL stores it (typmod n + 4).
fn put_bpchar(cell: Cell<'_>, typmod: i32, out: &mut BytesMut) -> Result<(), PgError> {
    let start = out.len();
    put_cell_text(cell, out)?;
    pad_bpchar(out, start, typmod);
    Ok(())
}

/// bpchar(n) values are stored space-padded to n characters (typmod n + 4).
fn pad_bpchar(out: &mut BytesMut, start: usize, typmod: i32) {
    // The largest length PostgreSQL accepts for char(n).
    const BPCHAR_MAX: usize = 10_485_760;
    let Ok(width) = usize::try_from(i64::from(typmod) - 4) else {
        return;
    };
    let width = width.min(BPCHAR_MAX);
    let written = out.get(start..).unwrap_or_default();
    // UTF-8 characters are the bytes that are not continuation bytes.
    let chars = written.iter().filter(|&&b| b & 0xc0 != 0x80).count();
    out.put_bytes(b' ', width.saturating_sub(chars));
}

/// namein: at most NAMEDATALEN-1 (63) bytes, cut on a character boundary.
fn truncate_name(s: &str) -> &str {
    const NAME_MAX: usize = 63;
    if s.len() <= NAME_MAX {
        return s;
    }
    let mut end = NAME_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------

/// Validates client text: UTF-8 without NUL bytes, as PostgreSQL's
/// pg_verify_mbstr does for a UTF8 database.
fn utf8_text(bytes: &[u8]) -> Result<&str, PgError> {
    let nul = bytes.iter().position(|&b| b == 0);
    match std::str::from_utf8(bytes) {
        Ok(s) if nul.is_none() => Ok(s),
        Ok(_) => Err(invalid_encoding(bytes, nul.unwrap_or(0))),
        Err(e) => {
            let at = match nul {
                Some(n) if n < e.valid_up_to() => n,
                _ => e.valid_up_to(),
            };
            Err(invalid_encoding(bytes, at))
        }
    }
}

/// 22021 naming the offending character's bytes the way PostgreSQL's
/// report_invalid_encoding does: as many bytes as the lead byte announces.
fn invalid_encoding(bytes: &[u8], at: usize) -> PgError {
    use fmt::Write;
    let rest = bytes.get(at..).unwrap_or_default();
    let announced = match rest.first() {
        Some(b) if b & 0xe0 == 0xc0 => 2,
        Some(b) if b & 0xf0 == 0xe0 => 3,
        Some(b) if b & 0xf8 == 0xf0 => 4,
        _ => 1,
    };
    let mut message = String::from("invalid byte sequence for encoding \"UTF8\": ");
    for (i, b) in rest.iter().take(announced).enumerate() {
        if i > 0 {
            message.push(' ');
        }
        let _ = write!(message, "0x{b:02x}");
    }
    PgError::error(sqlstate::CHARACTER_NOT_IN_REPERTOIRE, message)
}

/// `invalid input syntax for type <sql_name>: "<input>"` (22P02).
fn invalid_syntax(sql_name: &str, input: &str) -> PgError {
    PgError::error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {sql_name}: \"{input}\""),
    )
}

fn binary_format_error() -> PgError {
    PgError::error(
        sqlstate::INVALID_BINARY_REPRESENTATION,
        "incorrect binary data format",
    )
}

/// A binary value of fixed width: exactly `N` bytes or 22P03.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], PgError> {
    bytes.try_into().map_err(|_| binary_format_error())
}

/// A type for error messages: its pg_type name, or its OID when unknown.
struct TypeLabel(Oid);

impl fmt::Display for TypeLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match names::known_type_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "with OID {}", self.0),
        }
    }
}

/// A fixed-size stack buffer that `write!` formats into without allocating.
pub(crate) struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub(crate) fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends raw bytes; callers push ASCII only. Bytes that do not fit
    /// are dropped (buffers are sized for their longest output).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(N);
        if let (Some(dst), Some(src)) =
            (self.buf.get_mut(self.len..end), bytes.get(..end - self.len))
        {
            dst.copy_from_slice(src);
            self.len = end;
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only `fmt::Write::write_str` fills the buffer, whole strings at a time.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// PostgreSQL's `isspace` set for input trimming (space, \t \n \v \f \r).
fn is_pg_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_pg_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_pg_space(c as u8))
}

/// Moves `*i` past PostgreSQL spaces in `bytes`.
fn skip_pg_space(bytes: &[u8], i: &mut usize) {
    while bytes.get(*i).is_some_and(|&b| is_pg_space(b)) {
        *i += 1;
    }
}

/// Consumes an optional `+` or `-` at `bytes[*i]`: whether it was `-`.
fn take_sign(bytes: &[u8], i: &mut usize) -> bool {
    match bytes.get(*i) {
        Some(b'-') => {
            *i += 1;
            true
        }
        Some(b'+') => {
            *i += 1;
            false
        }
        _ => false,
    }
}
