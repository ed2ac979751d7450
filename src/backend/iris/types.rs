//! IRIS column types as PostgreSQL types, IRIS values as [`Cell`]s, and
//! PostgreSQL parameters as `$LIST` items.
//!
//! ## Column types
//!
//! Column metadata carries an ODBC type code (research §2.6); it decides the
//! PostgreSQL type OID and how each `$LIST` item is turned into a cell:
//!
//! | IRIS / ODBC code | PostgreSQL type (OID) | value |
//! |---|---|---|
//! | BIT (−7) | bool (16) | integer 0/1 → f/t |
//! | TINYINT (−6), SMALLINT (5) | int2 (21) | integer |
//! | INTEGER (4) | int4 (23) | integer |
//! | BIGINT (−5) | int8 (20) | integer |
//! | NUMERIC (2), DECIMAL (3) | numeric (1700), typmod `((p << 16) \| s) + 4` | exact decimal text (`.5` → `0.5`) |
//! | REAL (7) | float4 (700) | double |
//! | FLOAT (6), DOUBLE (8) | float8 (701) | double |
//! | CHAR (1), WCHAR (−8) | bpchar (1042), typmod p + 4 | text |
//! | VARCHAR (12), WVARCHAR (−9) | varchar (1043), typmod p + 4 | text |
//! | LONGVARCHAR (−1), WLONGVARCHAR (−10) | text (25) | stream read with `JS` |
//! | BINARY (−2), VARBINARY (−3) | bytea (17) | bytes |
//! | LONGVARBINARY (−4) | bytea (17) | stream read with `JS` |
//! | DATE (9, 91) | date (1082) | ODBC text `YYYY-MM-DD` |
//! | DATE as $HOROLOG (1091) | date (1082) | day number, day 0 = 1840-12-31 |
//! | TIME (10, 92) | time (1083) | text, at most 6 fractional digits |
//! | TIME as seconds (1092) | time (1083) | seconds since midnight |
//! | TIMESTAMP (11, 93) | timestamp (1114) | text, at most 6 fractional digits |
//! | TIMESTAMP as %PosixTime (1093) | timestamp (1114) | int64 decoded as the drivers do |
//! | GUID (−11) | uuid (2950) | text |
//! | anything else (0, VECTOR, %List …) | text (25) | text |
//!
//! NULL (`02 01`) is SQL NULL and `03 01 00` is `''`, in every type.
//!
//! ## Parameters
//!
//! Parameters go in their natural `$LIST` form and IRIS casts them: NULL
//! `02 01`, booleans as integers 1/0, integers type 4/5, floats type 8,
//! numerics as decimals (type 6/7) when they fit 64 bits, text as strings
//! (`''` as `03 01 00`), bytes as type-1 items. A text-format parameter
//! declared `bool` or `bytea` is converted first (`t` → 1, `\x41` → `A`).

use crate::backend::{Cell, Column, Value};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::{self, Oid, oid, parse_bool, parse_bytea};

use super::list::{self, Item, ListWriter};
use super::message::ColumnInfo;

/// ODBC type codes IRIS reports (research §2.6).
pub mod odbc {
    pub const GUID: i32 = -11;
    pub const WLONGVARCHAR: i32 = -10;
    pub const WVARCHAR: i32 = -9;
    pub const WCHAR: i32 = -8;
    pub const BIT: i32 = -7;
    pub const TINYINT: i32 = -6;
    pub const BIGINT: i32 = -5;
    pub const LONGVARBINARY: i32 = -4;
    pub const VARBINARY: i32 = -3;
    pub const BINARY: i32 = -2;
    pub const LONGVARCHAR: i32 = -1;
    pub const UNKNOWN: i32 = 0;
    pub const CHAR: i32 = 1;
    pub const NUMERIC: i32 = 2;
    pub const DECIMAL: i32 = 3;
    pub const INTEGER: i32 = 4;
    pub const SMALLINT: i32 = 5;
    pub const FLOAT: i32 = 6;
    pub const REAL: i32 = 7;
    pub const DOUBLE: i32 = 8;
    pub const DATE: i32 = 9;
    pub const TIME: i32 = 10;
    pub const TIMESTAMP: i32 = 11;
    pub const VARCHAR: i32 = 12;
    pub const TYPE_DATE: i32 = 91;
    pub const TYPE_TIME: i32 = 92;
    pub const TYPE_TIMESTAMP: i32 = 93;
    pub const DATE_HOROLOG: i32 = 1091;
    pub const TIME_HOROLOG: i32 = 1092;
    pub const TIMESTAMP_POSIX: i32 = 1093;
}

/// The PostgreSQL type of an ODBC type code.
pub fn oid_for(odbc_type: i32) -> Oid {
    match odbc_type {
        odbc::BIT => oid::BOOL,
        odbc::TINYINT | odbc::SMALLINT => oid::INT2,
        odbc::INTEGER => oid::INT4,
        odbc::BIGINT => oid::INT8,
        odbc::NUMERIC | odbc::DECIMAL => oid::NUMERIC,
        odbc::REAL => oid::FLOAT4,
        odbc::FLOAT | odbc::DOUBLE => oid::FLOAT8,
        odbc::CHAR | odbc::WCHAR => oid::BPCHAR,
        odbc::VARCHAR | odbc::WVARCHAR => oid::VARCHAR,
        odbc::BINARY | odbc::VARBINARY | odbc::LONGVARBINARY => oid::BYTEA,
        odbc::DATE | odbc::TYPE_DATE | odbc::DATE_HOROLOG => oid::DATE,
        odbc::TIME | odbc::TYPE_TIME | odbc::TIME_HOROLOG => oid::TIME,
        odbc::TIMESTAMP | odbc::TYPE_TIMESTAMP | odbc::TIMESTAMP_POSIX => oid::TIMESTAMP,
        odbc::GUID => oid::UUID,
        _ => oid::TEXT,
    }
}

/// Whether values of this type are stream handles to read with `JS`.
pub fn is_stream(odbc_type: i32) -> bool {
    matches!(
        odbc_type,
        odbc::LONGVARCHAR | odbc::WLONGVARCHAR | odbc::LONGVARBINARY
    )
}

/// The atttypmod for a column: varchar(n)/bpchar(n) n + 4, numeric(p,s)
/// ((p << 16) | s) + 4, otherwise -1.
pub fn type_modifier(odbc_type: i32, precision: i64, scale: i64) -> i32 {
    match odbc_type {
        odbc::CHAR | odbc::WCHAR | odbc::VARCHAR | odbc::WVARCHAR
            if (1..=10_485_760).contains(&precision) =>
        {
            precision as i32 + 4
        }
        odbc::NUMERIC | odbc::DECIMAL
            if (1..=1000).contains(&precision) && (0..=precision).contains(&scale) =>
        {
            (((precision as i32) << 16) | scale as i32) + 4
        }
        _ => -1,
    }
}

/// The PostgreSQL column for IRIS column metadata.
pub fn column_for(info: &ColumnInfo) -> Column {
    let name = if info.label.is_empty() {
        info.name.clone()
    } else {
        info.label.clone()
    };
    Column {
        name,
        type_oid: oid_for(info.odbc_type),
        type_modifier: type_modifier(info.odbc_type, info.precision, info.scale),
        table_oid: 0,
        column_id: 0,
    }
}

/// A decoded cell whose text, when it needed converting, lives in a buffer
/// of the [`RowBuffers`] (so a row borrows nothing from the network body it
/// cannot keep).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text in the column's buffer.
    Text,
    /// Numeric text in the column's buffer.
    Numeric,
    /// Bytes in the column's byte buffer.
    Bytes,
}

/// Per-column scratch space reused from row to row.
#[derive(Debug, Default)]
pub struct RowBuffers {
    slots: Vec<Slot>,
    text: Vec<String>,
    bytes: Vec<Vec<u8>>,
}

impl RowBuffers {
    pub fn new(columns: usize) -> RowBuffers {
        RowBuffers {
            slots: vec![Slot::Null; columns],
            text: vec![String::new(); columns],
            bytes: vec![Vec::new(); columns],
        }
    }

    /// Stores column `i` of the current row.
    pub fn set(&mut self, i: usize, odbc_type: i32, item: &Item<'_>) -> Result<(), PgError> {
        let text = &mut self.text[i];
        text.clear();
        self.slots[i] = convert(odbc_type, item, text, &mut self.bytes[i])?;
        Ok(())
    }

    /// Stores a stream's content read with `JS` for column `i`.
    pub fn set_stream(&mut self, i: usize, binary: bool, content: Vec<u8>) {
        if binary {
            self.bytes[i] = content;
            self.slots[i] = Slot::Bytes;
        } else {
            self.text[i] = match String::from_utf8(content) {
                Ok(s) => s,
                Err(e) => list::latin1_to_string(e.as_bytes()),
            };
            self.slots[i] = Slot::Text;
        }
    }

    /// The cells of the current row.
    pub fn cells(&self) -> Vec<Cell<'_>> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, slot)| match *slot {
                Slot::Null => Cell::Null,
                Slot::Bool(b) => Cell::Bool(b),
                Slot::Int(v) => Cell::Int(v),
                Slot::Float(f) => Cell::Float(f),
                Slot::Text => Cell::Text(&self.text[i]),
                Slot::Numeric => Cell::Numeric(&self.text[i]),
                Slot::Bytes => Cell::Bytes(&self.bytes[i]),
            })
            .collect()
    }
}

fn bad_value(odbc_type: i32, item: &Item<'_>) -> PgError {
    PgError::error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("IRIS sent {item} for a column of ODBC type {odbc_type}"),
    )
}

/// Writes an item's text form into `out` (Latin-1 and UTF-16 decoded).
fn item_text(item: &Item<'_>, out: &mut String) -> bool {
    match *item {
        Item::Str8(b) | Item::Oref8(b) => {
            if b != [0] {
                match std::str::from_utf8(b) {
                    Ok(s) if b.is_ascii() => out.push_str(s),
                    // Type-1 strings are Latin-1 code points, not UTF-8.
                    _ => out.extend(b.iter().map(|&c| char::from(c))),
                }
            }
            true
        }
        Item::Str16(b) | Item::Oref16(b) => {
            if b != [0, 0] {
                out.push_str(&list::utf16le_to_string(b));
            }
            true
        }
        _ => match item.to_text() {
            Some(t) => {
                out.push_str(&t);
                true
            }
            None => false,
        },
    }
}

fn convert(
    odbc_type: i32,
    item: &Item<'_>,
    text: &mut String,
    bytes: &mut Vec<u8>,
) -> Result<Slot, PgError> {
    if item.is_null() {
        return Ok(Slot::Null);
    }
    let slot = match odbc_type {
        odbc::BIT => match item.as_i64() {
            Some(v) => Slot::Bool(v != 0),
            None => match item.to_text().as_deref().map(str::trim) {
                Some("t" | "true" | "TRUE" | "1") => Slot::Bool(true),
                Some("f" | "false" | "FALSE" | "0") => Slot::Bool(false),
                _ => return Err(bad_value(odbc_type, item)),
            },
        },
        odbc::TINYINT | odbc::SMALLINT | odbc::INTEGER | odbc::BIGINT => match item.as_i64() {
            Some(v) => Slot::Int(v),
            None => match *item {
                // A double holding an integral value (some expressions).
                Item::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Slot::Int(f as i64),
                _ => return Err(bad_value(odbc_type, item)),
            },
        },
        odbc::NUMERIC | odbc::DECIMAL => {
            match *item {
                Item::Double(f) => text.push_str(&f.to_string()),
                _ => {
                    if !item_text(item, text) {
                        return Err(bad_value(odbc_type, item));
                    }
                    normalize_number(text);
                }
            }
            Slot::Numeric
        }
        odbc::REAL | odbc::FLOAT | odbc::DOUBLE => match *item {
            Item::Double(f) => Slot::Float(f),
            Item::Int(i) => Slot::Float(i as f64),
            _ => {
                let t = item.to_text().unwrap_or_default();
                let t = t.trim();
                let t = if t.starts_with('.') || t.starts_with("-.") {
                    t.replacen('.', "0.", 1)
                } else {
                    t.to_string()
                };
                Slot::Float(t.parse().map_err(|_| bad_value(odbc_type, item))?)
            }
        },
        odbc::BINARY | odbc::VARBINARY | odbc::LONGVARBINARY => {
            bytes.clear();
            match *item {
                Item::Str8(b) if b != [0] => bytes.extend_from_slice(b),
                Item::Str8(_) => {}
                Item::Str16(b) => bytes.extend_from_slice(b),
                _ => {
                    let t = item.to_text().unwrap_or_default();
                    bytes.extend_from_slice(t.as_bytes());
                }
            }
            Slot::Bytes
        }
        odbc::DATE_HOROLOG | odbc::DATE | odbc::TYPE_DATE if item.as_i64().is_some() => {
            let day = item.as_i64().unwrap_or(0);
            if day.unsigned_abs() > MAX_DAYS as u64 {
                return Err(bad_value(odbc_type, item));
            }
            text.push_str(&types::date_text(day - HOROLOG_EPOCH_OFFSET)?);
            Slot::Text
        }
        odbc::TIME_HOROLOG | odbc::TIME | odbc::TYPE_TIME
            if matches!(item, Item::Int(_) | Item::Decimal { .. } | Item::Double(_)) =>
        {
            let micros = seconds_to_micros(item).ok_or_else(|| bad_value(odbc_type, item))?;
            text.push_str(&types::time_text(micros.rem_euclid(86_400_000_000), -1));
            Slot::Text
        }
        odbc::TIMESTAMP_POSIX if matches!(item, Item::Int(_)) => {
            let raw = item.as_i64().unwrap_or(0);
            let micros = posix_time_to_micros(raw);
            text.push_str(&types::timestamp_text(micros, false, -1)?);
            Slot::Text
        }
        odbc::TIME
        | odbc::TYPE_TIME
        | odbc::TIME_HOROLOG
        | odbc::TIMESTAMP
        | odbc::TYPE_TIMESTAMP
        | odbc::TIMESTAMP_POSIX => {
            if !item_text(item, text) {
                return Err(bad_value(odbc_type, item));
            }
            trim_fraction(text);
            Slot::Text
        }
        _ => {
            if !item_text(item, text) {
                return Err(bad_value(odbc_type, item));
            }
            Slot::Text
        }
    };
    Ok(slot)
}

/// IRIS prints numbers canonically: `.5`, `-.5`. PostgreSQL: `0.5`, `-0.5`.
fn normalize_number(text: &mut String) {
    let t = text.trim();
    if t.len() != text.len() {
        *text = t.to_string();
    }
    if text.starts_with('.') {
        text.insert(0, '0');
    } else if text.starts_with("-.") {
        text.insert(1, '0');
    }
}

/// Keeps at most 6 fractional digits of a time or timestamp and drops
/// trailing zeros, as PostgreSQL prints them.
fn trim_fraction(text: &mut String) {
    let Some(dot) = text.rfind('.') else {
        return;
    };
    let digits_end = text[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |p| dot + 1 + p);
    let frac = &text[dot + 1..digits_end];
    let kept = frac[..frac.len().min(6)].trim_end_matches('0').len();
    let suffix = text[digits_end..].to_string();
    text.truncate(dot + 1 + kept);
    if kept == 0 {
        text.truncate(dot);
    }
    text.push_str(&suffix);
}

/// Days from 1970-01-01 to 1840-12-31 (day 0 of $HOROLOG), negated.
const HOROLOG_EPOCH_OFFSET: i64 = 47117;

/// Day numbers beyond this (about 2.7 million years) are refused rather than
/// overflowing the calendar arithmetic; PostgreSQL's own range is smaller.
const MAX_DAYS: i64 = 1_000_000_000;

fn seconds_to_micros(item: &Item<'_>) -> Option<i64> {
    match *item {
        Item::Int(s) => s.checked_mul(1_000_000),
        Item::Double(f) if f.is_finite() => Some((f * 1e6).round() as i64),
        Item::Decimal { mantissa, exponent } => {
            let shift = i32::from(exponent) + 6;
            let v = if shift >= 0 {
                mantissa.checked_mul(10i128.checked_pow(shift as u32)?)?
            } else {
                mantissa / 10i128.checked_pow((-shift) as u32)?
            };
            i64::try_from(v).ok()
        }
        _ => None,
    }
}

/// %PosixTime (ODBC 1093) to microseconds since the Unix epoch, as the
/// Python driver decodes it.
pub fn posix_time_to_micros(raw: i64) -> i64 {
    if raw > 0 {
        raw ^ 0x1000_0000_0000_0000
    } else {
        raw | (0xF000_0000_0000_0000_u64 as i64)
    }
}

/// Appends parameter `value` to `w` in its natural `$LIST` form. `declared`
/// is the type the client gave (0 = unspecified).
pub fn push_param(
    w: &mut ListWriter,
    value: &Value,
    declared: Oid,
    compact_doubles: bool,
) -> Result<(), PgError> {
    match value {
        Value::Null => w.push_null(),
        Value::Bool(b) => w.push_bool(*b),
        Value::Int(i) => w.push_int(*i),
        Value::Float(f) => w.push_f64(*f, compact_doubles),
        Value::Numeric(s) => push_numeric_text(w, s),
        Value::Bytes(b) => w.push_bytes(b),
        Value::Text(s) => match declared {
            oid::BOOL => w.push_bool(parse_bool(s)?),
            oid::BYTEA => w.push_bytes(&parse_bytea(s)?),
            _ => w.push_str(s),
        },
    }
    Ok(())
}

/// A numeric's text as a decimal item when it is a plain number that fits,
/// otherwise as a string (NaN, huge values) for IRIS to judge.
fn push_numeric_text(w: &mut ListWriter, s: &str) {
    match parse_decimal(s) {
        Some((m, e)) => w.push_decimal(m, e),
        None => w.push_str(s.trim()),
    }
}

/// "-12.34" -> (-1234, -2); "1e3" -> (1, 3). `None` when not a plain
/// decimal or the mantissa does not fit 64 bits.
pub fn parse_decimal(s: &str) -> Option<(i64, i8)> {
    let s = s.trim();
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], s[p + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, mant) = match mant.as_bytes().first()? {
        b'-' => (true, &mant[1..]),
        b'+' => (false, &mant[1..]),
        _ => (false, mant),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let mut m: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    if neg {
        m = -m;
    }
    let e = exp.checked_sub(i32::try_from(frac_part.len()).ok()?)?;
    Some((m, i8::try_from(e).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_text(odbc_type: i32, item: Item<'_>) -> String {
        let mut buf = RowBuffers::new(1);
        buf.set(0, odbc_type, &item).unwrap();
        match buf.cells()[0] {
            Cell::Null => "NULL".into(),
            Cell::Bool(b) => format!("bool {b}"),
            Cell::Int(i) => format!("int {i}"),
            Cell::Float(f) => format!("float {f}"),
            Cell::Numeric(s) => format!("numeric {s}"),
            Cell::Text(s) => format!("text {s}"),
            Cell::Bytes(b) => format!("bytes {b:?}"),
        }
    }

    #[test]
    fn null_and_empty_string_stay_apart() {
        assert_eq!(cell_text(odbc::VARCHAR, Item::Null), "NULL");
        assert_eq!(cell_text(odbc::VARCHAR, Item::Str8(&[0])), "text ");
        assert_eq!(cell_text(odbc::VARCHAR, Item::Str8(b"h\xe9")), "text hé");
        assert_eq!(
            cell_text(odbc::WVARCHAR, Item::Str16(&[0xa9, 0x03])),
            "text Ω"
        );
    }

    #[test]
    fn numbers_by_column_type() {
        assert_eq!(cell_text(odbc::BIT, Item::Int(1)), "bool true");
        assert_eq!(cell_text(odbc::BIT, Item::Int(0)), "bool false");
        assert_eq!(cell_text(odbc::INTEGER, Item::Int(-7)), "int -7");
        assert_eq!(cell_text(odbc::BIGINT, Item::Str8(b"42")), "int 42");
        assert_eq!(
            cell_text(
                odbc::NUMERIC,
                Item::Decimal {
                    mantissa: 1234,
                    exponent: -2
                }
            ),
            "numeric 12.34"
        );
        assert_eq!(cell_text(odbc::NUMERIC, Item::Str8(b"-.5")), "numeric -0.5");
        assert_eq!(cell_text(odbc::NUMERIC, Item::Int(3)), "numeric 3");
        assert_eq!(cell_text(odbc::DOUBLE, Item::Double(3.5)), "float 3.5");
        assert_eq!(cell_text(odbc::DOUBLE, Item::Str8(b".25")), "float 0.25");
        assert_eq!(cell_text(odbc::VARCHAR, Item::Int(300)), "text 300");
        assert!(
            RowBuffers::new(1)
                .set(0, odbc::INTEGER, &Item::Str8(b"abc"))
                .is_err()
        );
    }

    #[test]
    fn dates_times_and_timestamps() {
        assert_eq!(
            cell_text(odbc::DATE_HOROLOG, Item::Int(0)),
            "text 1840-12-31"
        );
        assert_eq!(
            cell_text(odbc::DATE_HOROLOG, Item::Int(67000)),
            "text 2024-06-09"
        );
        assert_eq!(
            cell_text(odbc::TYPE_DATE, Item::Str8(b"2024-02-29")),
            "text 2024-02-29"
        );
        assert_eq!(
            cell_text(odbc::TIME_HOROLOG, Item::Int(3661)),
            "text 01:01:01"
        );
        assert_eq!(
            cell_text(
                odbc::TYPE_TIMESTAMP,
                Item::Str8(b"2024-01-02 03:04:05.123456789")
            ),
            "text 2024-01-02 03:04:05.123456"
        );
        assert_eq!(
            cell_text(odbc::TYPE_TIMESTAMP, Item::Str8(b"2024-01-02 03:04:05.500")),
            "text 2024-01-02 03:04:05.5"
        );
        assert_eq!(
            cell_text(odbc::TYPE_TIMESTAMP, Item::Str8(b"2024-01-02 03:04:05.000")),
            "text 2024-01-02 03:04:05"
        );
        // %PosixTime: 2024-01-02 03:04:05.25 UTC.
        let micros: i64 = 1_704_164_645_250_000;
        let raw = micros ^ 0x1000_0000_0000_0000;
        assert_eq!(posix_time_to_micros(raw), micros);
        assert_eq!(
            cell_text(odbc::TIMESTAMP_POSIX, Item::Int(raw)),
            "text 2024-01-02 03:04:05.25"
        );
    }

    #[test]
    fn absurd_dates_are_errors_not_panics() {
        for v in [i64::MAX, i64::MIN, MAX_DAYS + 1] {
            assert!(
                RowBuffers::new(1)
                    .set(0, odbc::DATE_HOROLOG, &Item::Int(v))
                    .is_err()
            );
        }
        for v in [i64::MAX, i64::MIN, 0, -1] {
            let mut b = RowBuffers::new(1);
            let _ = b.set(0, odbc::TIMESTAMP_POSIX, &Item::Int(v));
            let _ = b.set(0, odbc::TIME_HOROLOG, &Item::Int(v));
        }
    }

    #[test]
    fn type_mapping() {
        assert_eq!(oid_for(odbc::VARCHAR), oid::VARCHAR);
        assert_eq!(oid_for(odbc::INTEGER), oid::INT4);
        assert_eq!(oid_for(odbc::BIGINT), oid::INT8);
        assert_eq!(oid_for(odbc::TINYINT), oid::INT2);
        assert_eq!(oid_for(odbc::BIT), oid::BOOL);
        assert_eq!(oid_for(odbc::TYPE_TIMESTAMP), oid::TIMESTAMP);
        assert_eq!(oid_for(odbc::GUID), oid::UUID);
        assert_eq!(oid_for(12345), oid::TEXT);
        assert_eq!(type_modifier(odbc::VARCHAR, 50, 0), 54);
        assert_eq!(type_modifier(odbc::NUMERIC, 10, 2), (10 << 16 | 2) + 4);
        assert_eq!(type_modifier(odbc::INTEGER, 10, 0), -1);
        assert_eq!(type_modifier(odbc::VARCHAR, 0, 0), -1);
    }

    #[test]
    fn parameters_in_natural_forms() {
        let mut w = ListWriter::new();
        for v in [
            Value::Int(42),
            Value::Int(-7),
            Value::Text("héllo".into()),
            Value::Text("Ωmega".into()),
            Value::Null,
            Value::Float(3.5),
            Value::Numeric("12.34".into()),
            Value::Text(String::new()),
        ] {
            push_param(&mut w, &v, 0, false).unwrap();
        }
        let hex: String = w.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        // The values of the captured 8-parameter PU.
        assert_eq!(
            hex,
            "03042a0305f9070168e96c6c6f0c02a9036d0065006700610002010a080000000000000c400506fed204030100"
        );
        let mut w = ListWriter::new();
        push_param(&mut w, &Value::Text("t".into()), oid::BOOL, false).unwrap();
        push_param(&mut w, &Value::Text("\\x4142".into()), oid::BYTEA, false).unwrap();
        push_param(&mut w, &Value::Bool(false), 0, false).unwrap();
        assert_eq!(w.as_bytes(), &[3, 4, 1, 4, 1, b'A', b'B', 2, 4]);
        assert!(push_param(&mut w, &Value::Text("maybe".into()), oid::BOOL, false).is_err());
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("12.34"), Some((1234, -2)));
        assert_eq!(parse_decimal("-0.001"), Some((-1, -3)));
        assert_eq!(parse_decimal("100"), Some((100, 0)));
        assert_eq!(parse_decimal("1e3"), Some((1, 3)));
        assert_eq!(parse_decimal(".5"), Some((5, -1)));
        assert_eq!(parse_decimal("NaN"), None);
        assert_eq!(parse_decimal("99999999999999999999"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn bytea_text_input() {
        assert_eq!(parse_bytea("\\x00ff").unwrap(), vec![0, 255]);
        assert_eq!(parse_bytea("a\\\\b\\001").unwrap(), b"a\\b\x01".to_vec());
        assert!(parse_bytea("\\x0").is_err());
        assert!(parse_bytea("\\9").is_err());
    }
}
