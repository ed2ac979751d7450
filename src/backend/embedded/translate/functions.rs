//! The SQL functions translated statements call: PostgreSQL's input rules for
//! casts (`pg_cast_*`), its clock functions (`pg_now` ...), and helpers
//! (`pg_like_glob`, `gen_random_uuid`). Values come out in PostgreSQL's text
//! forms (timestamps `2024-01-05 10:00:00.5+00`, UUIDs lower-case with
//! hyphens, jsonb normalized) so the backend renders them unchanged.
//!
//! A function that rejects its input fails with a message carrying the
//! SQLSTATE (`[22P02] invalid input syntax for type integer: "x"`);
//! [`function_error`] turns it back into the [`PgError`] PostgreSQL sends.
//! Time zone: the embedded backend runs in UTC.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

use crate::wire::error::{PgError, sqlstate};

/// 42846 cannot_coerce: not in `sqlstate` because only casts raise it.
const CANNOT_COERCE: &str = "42846";
/// 22025 invalid_escape_sequence.
pub(crate) const INVALID_ESCAPE_SEQUENCE: &str = "22025";

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The transaction start time `now()` answers, shared between the backend
/// (which pins it when a transaction starts, explicit or implicit) and the
/// SQL functions. Unpinned, `now()` reads the system clock on every call.
#[derive(Debug, Clone)]
pub struct TransactionClock(Arc<AtomicI64>);

const UNPINNED: i64 = i64::MIN;

impl Default for TransactionClock {
    fn default() -> TransactionClock {
        TransactionClock(Arc::new(AtomicI64::new(UNPINNED)))
    }
}

impl TransactionClock {
    pub fn new() -> TransactionClock {
        TransactionClock::default()
    }

    /// Pins `now()` to the current time: call when a transaction (or a
    /// statement outside one) starts.
    pub fn begin(&self) {
        self.0.store(system_micros(), Ordering::Relaxed);
    }

    /// Unpins `now()`: call when the transaction ends.
    pub fn end(&self) {
        self.0.store(UNPINNED, Ordering::Relaxed);
    }

    /// Microseconds since the Unix epoch that `now()` answers.
    pub fn now_micros(&self) -> i64 {
        match self.0.load(Ordering::Relaxed) {
            UNPINNED => system_micros(),
            t => t,
        }
    }
}

fn system_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// A [`PgError`] travelling through SQLite as a function's error message.
#[derive(Debug)]
struct FunctionError(PgError);

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.0.code, self.0.message)?;
        if let Some(detail) = &self.0.detail {
            write!(f, "\n{detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FunctionError {}

/// The SQLSTATEs these functions raise, as `&'static str`.
const CODES: [&str; 12] = [
    sqlstate::QUERY_CANCELED,
    sqlstate::INVALID_TEXT_REPRESENTATION,
    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
    sqlstate::INVALID_DATETIME_FORMAT,
    sqlstate::DATETIME_FIELD_OVERFLOW,
    sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
    sqlstate::INVALID_PARAMETER_VALUE,
    sqlstate::STRING_DATA_RIGHT_TRUNCATION,
    sqlstate::SYNTAX_ERROR,
    sqlstate::INTERNAL_ERROR,
    CANNOT_COERCE,
    INVALID_ESCAPE_SEQUENCE,
];

/// The [`PgError`] a pgiris SQL function raised, recovered from SQLite's
/// error message (`[22P02] invalid input syntax ...`); `None` for any other
/// message.
pub fn function_error(message: &str) -> Option<PgError> {
    let rest = message.strip_prefix('[')?;
    let (code, rest) = rest.split_at_checked(5)?;
    let text = rest.strip_prefix("] ")?;
    let code = CODES.iter().copied().find(|c| *c == code)?;
    let (msg, detail) = match text.split_once('\n') {
        Some((m, d)) => (m, Some(d)),
        None => (text, None),
    };
    let mut err = PgError::error(code, msg);
    if let Some(d) = detail {
        err = err.with_detail(d);
    }
    Some(err)
}

/// [`function_error`] applied to a rusqlite error.
pub fn pg_error_from_sqlite(err: &rusqlite::Error) -> Option<PgError> {
    match err {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => function_error(msg),
        rusqlite::Error::UserFunctionError(e) => function_error(&e.to_string()),
        _ => None,
    }
}

fn fail<T>(err: PgError) -> rusqlite::Result<T> {
    Err(rusqlite::Error::UserFunctionError(Box::new(FunctionError(
        err,
    ))))
}

fn invalid(type_name: &str, input: &str) -> PgError {
    PgError::error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{input}\""),
    )
}

fn cannot_cast(from: &str, to: &str) -> PgError {
    PgError::error(CANNOT_COERCE, format!("cannot cast type {from} to {to}"))
}

fn value_type_name(v: &ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "unknown",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "double precision",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "bytea",
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, PgError> {
    std::str::from_utf8(bytes).map_err(|_| {
        PgError::error(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\"",
        )
    })
}

/// PostgreSQL's text for a float8 (shortest round-trip digits, exponent
/// form outside 1e-4 .. 1e15), as `float8out` writes it.
pub fn format_float8(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..15).contains(&exp) {
        let s = f.to_string();
        s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn value_as_text(v: &ValueRef<'_>) -> Result<Option<String>, PgError> {
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(format_float8(*f)),
        ValueRef::Text(t) => Some(text_of(t)?.to_owned()),
        ValueRef::Blob(b) => Some(bytea_hex(b)),
    })
}

fn bytea_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("\\x");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

// ---------------------------------------------------------------------------
// bool, integers, floats, numeric
// ---------------------------------------------------------------------------

/// PostgreSQL's `boolin`: t/true/y/yes/on/1 and f/false/n/no/off/0, any
/// case, unique prefixes, surrounding whitespace ignored.
pub fn parse_bool(input: &str) -> Result<bool, PgError> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let l = s.to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| l.len() >= min && word.starts_with(l.as_str());
    let r = match l.as_bytes().first() {
        Some(b't') if prefix_of("true", 1) => Some(true),
        Some(b'f') if prefix_of("false", 1) => Some(false),
        Some(b'y') if prefix_of("yes", 1) => Some(true),
        Some(b'n') if prefix_of("no", 1) => Some(false),
        Some(b'o') if prefix_of("on", 2) => Some(true),
        Some(b'o') if prefix_of("off", 2) => Some(false),
        Some(b'1') if l.len() == 1 => Some(true),
        Some(b'0') if l.len() == 1 => Some(false),
        _ => None,
    };
    r.ok_or_else(|| invalid("boolean", input))
}

/// Width of a PostgreSQL integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntWidth {
    Int2,
    Int4,
    Int8,
}

impl IntWidth {
    fn type_name(self) -> &'static str {
        match self {
            IntWidth::Int2 => "smallint",
            IntWidth::Int4 => "integer",
            IntWidth::Int8 => "bigint",
        }
    }

    fn range(self) -> (i64, i64) {
        match self {
            IntWidth::Int2 => (i16::MIN.into(), i16::MAX.into()),
            IntWidth::Int4 => (i32::MIN.into(), i32::MAX.into()),
            IntWidth::Int8 => (i64::MIN, i64::MAX),
        }
    }

    fn out_of_range(self) -> PgError {
        PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{} out of range", self.type_name()),
        )
    }
}

/// PostgreSQL's `int2in` / `int4in` / `int8in`.
pub fn parse_int(input: &str, width: IntWidth) -> Result<i64, PgError> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(width.type_name(), input));
    }
    let (lo, hi) = width.range();
    match s.strip_prefix('+').unwrap_or(s).parse::<i64>() {
        Ok(v) if v >= lo && v <= hi => Ok(v),
        _ => Err(PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "value \"{input}\" is out of range for type {}",
                width.type_name()
            ),
        )),
    }
}

fn cast_int(v: ValueRef<'_>, width: IntWidth) -> Result<Value, PgError> {
    let (lo, hi) = width.range();
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) if i >= lo && i <= hi => Ok(Value::Integer(i)),
        ValueRef::Integer(_) => Err(width.out_of_range()),
        ValueRef::Real(f) => {
            // numeric -> int rounds half away from zero (numeric literals
            // arrive here as reals).
            let r = f.round();
            if r.is_finite() && r >= lo as f64 && r <= hi as f64 && (r as i64) >= lo {
                Ok(Value::Integer(r as i64))
            } else {
                Err(width.out_of_range())
            }
        }
        ValueRef::Text(t) => Ok(Value::Integer(parse_int(text_of(t)?, width)?)),
        ValueRef::Blob(_) => Err(cannot_cast("bytea", width.type_name())),
    }
}

/// PostgreSQL's `float8in` (and `float4in` with `real`).
pub fn parse_float(input: &str, real: bool) -> Result<f64, PgError> {
    let type_name = if real { "real" } else { "double precision" };
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let valid_chars = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    let lower = s.to_ascii_lowercase();
    let special = matches!(
        lower.trim_start_matches(['+', '-']),
        "inf" | "infinity" | "nan"
    );
    if s.is_empty() || !(valid_chars || special) {
        return Err(invalid(type_name, input));
    }
    let f: f64 = s.parse().map_err(|_| invalid(type_name, input))?;
    if f.is_infinite() && !special {
        return Err(PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{input}\" is out of range for type {type_name}"),
        ));
    }
    Ok(if real { f64::from(f as f32) } else { f })
}

fn cast_float(v: ValueRef<'_>, real: bool) -> Result<Value, PgError> {
    let narrow = |f: f64| if real { f64::from(f as f32) } else { f };
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) => Ok(Value::Real(narrow(i as f64))),
        ValueRef::Real(f) => Ok(Value::Real(narrow(f))),
        // SQLite turns a NaN REAL into NULL; as text it stays NaN.
        ValueRef::Text(t) => match parse_float(text_of(t)?, real)? {
            f if f.is_nan() => Ok(Value::Text("NaN".to_owned())),
            f => Ok(Value::Real(f)),
        },
        ValueRef::Blob(_) => Err(cannot_cast(
            "bytea",
            if real { "real" } else { "double precision" },
        )),
    }
}

/// A decimal number's digits: sign, digits without leading zeros, and the
/// position of the decimal point within them (may be < 0 or > len).
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    if !(-100_000..=100_000).contains(&exp) {
        return None;
    }
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
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
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let mut point = int_part.len() as i64 + exp;
    let lead = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..lead);
    point -= lead as i64;
    Some(Decimal {
        negative,
        digits,
        point,
    })
}

impl Decimal {
    /// Rounds half away from zero to `scale` fractional digits.
    fn round(&mut self, scale: i64) {
        let keep = self.point + scale;
        if keep < 0 {
            self.digits.clear();
            return;
        }
        let keep = keep as usize;
        if keep >= self.digits.len() {
            return;
        }
        let up = self.digits[keep] >= 5;
        self.digits.truncate(keep);
        if up {
            let mut i = keep;
            loop {
                if i == 0 {
                    self.digits.insert(0, 1);
                    self.point += 1;
                    break;
                }
                i -= 1;
                if self.digits[i] == 9 {
                    self.digits[i] = 0;
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
    }

    fn integer_digits(&self) -> i64 {
        if self.digits.iter().all(|d| *d == 0) {
            0
        } else {
            self.point.max(0)
        }
    }

    /// Plain text with exactly `scale` fractional digits (at least the
    /// significant ones when `scale` is None).
    fn to_text(&self, scale: Option<i64>) -> String {
        let frac_len = match scale {
            Some(s) => s.max(0),
            None => (self.digits.len() as i64 - self.point).max(0),
        };
        let digit = |i: i64| -> char {
            if i >= 0 && (i as usize) < self.digits.len() {
                char::from(b'0' + self.digits[i as usize])
            } else {
                '0'
            }
        };
        let mut s = String::new();
        let zero = self.digits.iter().all(|d| *d == 0);
        if self.negative && !zero {
            s.push('-');
        }
        if self.point <= 0 {
            s.push('0');
        } else {
            for i in 0..self.point {
                s.push(digit(i));
            }
        }
        if frac_len > 0 {
            s.push('.');
            for i in self.point..self.point + frac_len {
                s.push(digit(i));
            }
        }
        s
    }
}

/// PostgreSQL's `numeric_in` with an optional typmod (precision, scale):
/// the value rounded half away from zero, or 22003 when it does not fit.
/// Returns the canonical text.
pub fn numeric_text(input: &str, typmod: Option<(i64, i64)>) -> Result<String, PgError> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.eq_ignore_ascii_case("nan") {
        return Ok("NaN".to_owned());
    }
    let mut d = parse_decimal(s).ok_or_else(|| invalid("numeric", input))?;
    match typmod {
        Some((precision, scale)) => {
            d.round(scale);
            if d.integer_digits() > precision - scale {
                let limit = precision - scale;
                return Err(PgError::error(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "numeric field overflow",
                )
                .with_detail(format!(
                    "A field with precision {precision}, scale {scale} must round to an absolute value less than {}.",
                    if limit <= 0 { "1".to_owned() } else { format!("10^{limit}") }
                )));
            }
            Ok(d.to_text(Some(scale)))
        }
        None => {
            // numeric_in keeps the scale written (1.50 stays 1.50), and an
            // exponent's scale is max(0, written - exponent).
            let written_scale = {
                let (mantissa, exp) = match s.find(['e', 'E']) {
                    Some(i) => (&s[..i], s[i + 1..].parse::<i64>().unwrap_or(0)),
                    None => (s, 0),
                };
                let frac = mantissa
                    .split_once('.')
                    .map(|(_, f)| f.len() as i64)
                    .unwrap_or(0);
                (frac - exp).max(0)
            };
            Ok(d.to_text(Some(written_scale)))
        }
    }
}

/// PostgreSQL's text for a numeric the embedded backend holds as a REAL:
/// with the scale of a `numeric(p,s)` typmod (`1.5` as `1.50`), otherwise
/// the shortest digits that round-trip, never in exponent form.
pub fn format_numeric(f: f64, typmod: i32) -> String {
    if !f.is_finite() {
        return "NaN".to_owned();
    }
    let sci = format!("{f:e}");
    let scale = (typmod >= 4).then(|| {
        let s = i64::from((typmod - 4) & 0x7ff);
        if s > 1000 { s - 2048 } else { s }
    });
    // The precision was enforced when the value was stored.
    numeric_text(&sci, scale.map(|s| (1000 + s.max(0), s))).unwrap_or(sci)
}

/// Numbers leave SQLite as INTEGER or REAL so arithmetic and comparisons
/// keep working; the exact text is only kept when neither can hold it.
fn numeric_value(text: &str) -> Value {
    if !text.contains(['.', 'e', 'E'])
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Integer(i);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Value::Real(f),
        _ => Value::Text(text.to_owned()),
    }
}

fn cast_numeric(v: ValueRef<'_>, typmod: Option<(i64, i64)>) -> Result<Value, PgError> {
    let text = match v {
        ValueRef::Null => return Ok(Value::Null),
        ValueRef::Integer(i) if typmod.is_none() => return Ok(Value::Integer(i)),
        ValueRef::Real(f) if typmod.is_none() => return Ok(Value::Real(f)),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) if !f.is_finite() => {
            return Err(PgError::error(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                "cannot convert infinity to numeric",
            ));
        }
        // Shortest round-trip digits: 1.005 stays 1.005, not 1.00499999...
        ValueRef::Real(f) => format!("{f:e}"),
        ValueRef::Text(t) => text_of(t)?.to_owned(),
        ValueRef::Blob(_) => return Err(cannot_cast("bytea", "numeric")),
    };
    Ok(numeric_value(&numeric_text(&text, typmod)?))
}

// ---------------------------------------------------------------------------
// character types, bytea, uuid, json
// ---------------------------------------------------------------------------

fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn cast_varchar(v: ValueRef<'_>, n: i64) -> Result<Value, PgError> {
    let Some(s) = value_as_text(&v)? else {
        return Ok(Value::Null);
    };
    let n = usize::try_from(n).unwrap_or(0);
    Ok(Value::Text(truncate_chars(&s, n).to_owned()))
}

fn cast_bpchar(v: ValueRef<'_>, n: i64) -> Result<Value, PgError> {
    let Some(s) = value_as_text(&v)? else {
        return Ok(Value::Null);
    };
    let n = usize::try_from(n).unwrap_or(0);
    let mut out = truncate_chars(&s, n).to_owned();
    let len = out.chars().count();
    out.extend(std::iter::repeat_n(' ', n.saturating_sub(len)));
    Ok(Value::Text(out))
}

/// PostgreSQL's `byteain`: `\x` hex, or the escape format (`\\`, `\ooo`).
pub fn parse_bytea(input: &str) -> Result<Vec<u8>, PgError> {
    let err = || {
        PgError::error(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type bytea",
        )
    };
    let b = input.as_bytes();
    if let Some(hex) = input.strip_prefix("\\x") {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut it = hex.bytes().filter(|c| !c.is_ascii_whitespace());
        while let Some(h) = it.next() {
            let l = it.next().ok_or_else(|| {
                PgError::error(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "invalid hexadecimal data: odd number of digits",
                )
            })?;
            let digit = |c: u8| {
                (c as char).to_digit(16).ok_or_else(|| {
                    PgError::error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid hexadecimal digit: \"{}\"", c as char),
                    )
                })
            };
            out.push((digit(h)? * 16 + digit(l)?) as u8);
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if let Some(oct) = b.get(i + 1..i + 4)
            && matches!(oct[0], b'0'..=b'3')
            && oct[1..].iter().all(|c| matches!(c, b'0'..=b'7'))
        {
            out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
            i += 4;
        } else {
            return Err(err());
        }
    }
    Ok(out)
}

fn cast_bytea(v: ValueRef<'_>) -> Result<Value, PgError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Blob(b) => Ok(Value::Blob(b.to_vec())),
        ValueRef::Text(t) => Ok(Value::Blob(parse_bytea(text_of(t)?)?)),
        other => Err(cannot_cast(value_type_name(&other), "bytea")),
    }
}

/// PostgreSQL's `uuid_in`: 32 hex digits, optionally in braces, hyphens
/// allowed after any group of four; canonical lower-case form out.
pub fn parse_uuid(input: &str) -> Result<String, PgError> {
    let err = || invalid("uuid", input);
    let inner = match input.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(err)?,
        None => input,
    };
    let mut hex = [0u8; 32];
    let mut n = 0;
    let mut last_hyphen = true;
    for c in inner.bytes() {
        if c == b'-' {
            if last_hyphen || n % 4 != 0 || n == 32 {
                return Err(err());
            }
            last_hyphen = true;
            continue;
        }
        if n == 32 || !c.is_ascii_hexdigit() {
            return Err(err());
        }
        hex[n] = c.to_ascii_lowercase();
        n += 1;
        last_hyphen = false;
    }
    if n != 32 || last_hyphen {
        return Err(err());
    }
    Ok(format_uuid_hex(&hex))
}

fn format_uuid_hex(hex: &[u8; 32]) -> String {
    let mut s = String::with_capacity(36);
    for (i, c) in hex.iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            s.push('-');
        }
        s.push(char::from(*c));
    }
    s
}

/// A random version-4 UUID.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut hex = [0u8; 32];
    for (i, byte) in b.iter().enumerate() {
        let digits = format!("{byte:02x}");
        hex[2 * i] = digits.as_bytes()[0];
        hex[2 * i + 1] = digits.as_bytes()[1];
    }
    format_uuid_hex(&hex)
}

fn invalid_json(input: &str, e: &serde_json::Error) -> PgError {
    let _ = input;
    PgError::error(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type json",
    )
    .with_detail(e.to_string())
}

/// PostgreSQL's jsonb text form: keys ordered by length then bytes, one
/// space after `:` and `,`.
pub fn jsonb_text(input: &str) -> Result<String, PgError> {
    let v: serde_json::Value = serde_json::from_str(input).map_err(|e| invalid_json(input, &e))?;
    let mut out = String::with_capacity(input.len());
    write_jsonb(&v, &mut out);
    Ok(out)
}

fn write_jsonb(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&n.to_string()),
        J::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out);
            }
            out.push(']');
        }
        J::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push_str(": ");
                if let Some(val) = map.get(*k) {
                    write_jsonb(val, out);
                }
            }
            out.push('}');
        }
    }
}

fn cast_json(v: ValueRef<'_>, binary: bool) -> Result<Value, PgError> {
    let Some(s) = value_as_text(&v)? else {
        return Ok(Value::Null);
    };
    if binary {
        Ok(Value::Text(jsonb_text(&s)?))
    } else {
        serde_json::from_str::<serde::de::IgnoredAny>(&s).map_err(|e| invalid_json(&s, &e))?;
        Ok(Value::Text(s))
    }
}

// ---------------------------------------------------------------------------
// LIKE
// ---------------------------------------------------------------------------

/// A LIKE pattern (PostgreSQL: `%`, `_`, `escape` default `\`) as the GLOB
/// pattern that matches the same strings case-sensitively.
pub fn like_to_glob(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(lit) => push_glob_literal(lit, &mut out),
                // A trailing escape matches itself.
                None => push_glob_literal(c, &mut out),
            }
        } else {
            match c {
                '%' => out.push('*'),
                '_' => out.push('?'),
                other => push_glob_literal(other, &mut out),
            }
        }
    }
    out
}

fn push_glob_literal(c: char, out: &mut String) {
    match c {
        '*' => out.push_str("[*]"),
        '?' => out.push_str("[?]"),
        '[' => out.push_str("[[]"),
        other => out.push(other),
    }
}

/// The ESCAPE argument: empty means none; more than one character is an
/// error in PostgreSQL.
pub fn like_escape(escape: &str) -> Result<Option<char>, PgError> {
    let mut it = escape.chars();
    match (it.next(), it.next()) {
        (None, _) => Ok(None),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(
            PgError::error(INVALID_ESCAPE_SEQUENCE, "invalid escape string")
                .with_hint("Escape string must be empty or one character."),
        ),
    }
}

// ---------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The datetime types the casts produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeType {
    Date,
    Time,
    Timestamp,
    Timestamptz,
}

impl DateTimeType {
    fn type_name(self) -> &'static str {
        match self {
            DateTimeType::Date => "date",
            DateTimeType::Time => "time",
            DateTimeType::Timestamp => "timestamp",
            DateTimeType::Timestamptz => "timestamp with time zone",
        }
    }
}

/// What a datetime input string held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ParsedDateTime {
    /// Days since the epoch.
    days: Option<i64>,
    /// Microseconds since midnight (may be 24:00:00).
    time: Option<i64>,
    /// Seconds east of UTC.
    offset: Option<i64>,
    /// `infinity` (+1) / `-infinity` (-1).
    infinite: i8,
}

enum DtError {
    Syntax,
    Range,
}

fn take_digits(s: &[u8], i: &mut usize) -> Option<(i64, usize)> {
    let start = *i;
    let mut v: i64 = 0;
    while let Some(&c) = s.get(*i) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        *i += 1;
    }
    let n = *i - start;
    (n > 0).then_some((v, n))
}

fn skip_spaces(s: &[u8], i: &mut usize) {
    while s.get(*i).is_some_and(|c| c.is_ascii_whitespace()) {
        *i += 1;
    }
}

fn parse_time_part(s: &[u8], i: &mut usize) -> Result<i64, DtError> {
    let (h, _) = take_digits(s, i).ok_or(DtError::Syntax)?;
    if s.get(*i) != Some(&b':') {
        return Err(DtError::Syntax);
    }
    *i += 1;
    let (mi, mlen) = take_digits(s, i).ok_or(DtError::Syntax)?;
    if mlen > 2 {
        return Err(DtError::Syntax);
    }
    let mut sec = 0;
    let mut micros = 0;
    if s.get(*i) == Some(&b':') {
        *i += 1;
        let (sv, slen) = take_digits(s, i).ok_or(DtError::Syntax)?;
        if slen > 2 {
            return Err(DtError::Syntax);
        }
        sec = sv;
        if s.get(*i) == Some(&b'.') {
            *i += 1;
            let start = *i;
            while s.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            let frac = &s[start..*i];
            // Round to microseconds, half up, as PostgreSQL does.
            let mut us: i64 = 0;
            for k in 0..6 {
                us = us * 10 + frac.get(k).map_or(0, |c| i64::from(c - b'0'));
            }
            if frac.get(6).is_some_and(|c| *c >= b'5') {
                us += 1;
            }
            micros = us;
        }
    }
    // am / pm
    let save = *i;
    skip_spaces(s, i);
    let rest = &s[*i..];
    let mut h = h;
    if rest.len() >= 2
        && (rest[..2].eq_ignore_ascii_case(b"am") || rest[..2].eq_ignore_ascii_case(b"pm"))
    {
        if !(1..=12).contains(&h) {
            return Err(DtError::Range);
        }
        let pm = rest[..2].eq_ignore_ascii_case(b"pm");
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
        *i += 2;
    } else {
        *i = save;
    }
    if h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi > 0 || sec > 0 || micros > 0)) {
        return Err(DtError::Range);
    }
    Ok(((h * 60 + mi) * 60 + sec) * 1_000_000 + micros)
}

fn parse_offset(s: &[u8], i: &mut usize) -> Result<Option<i64>, DtError> {
    skip_spaces(s, i);
    let rest = &s[*i..];
    if rest.is_empty() {
        return Ok(None);
    }
    for zone in [&b"utc"[..], b"gmt", b"z"] {
        if rest.len() >= zone.len() && rest[..zone.len()].eq_ignore_ascii_case(zone) {
            *i += zone.len();
            return Ok(Some(0));
        }
    }
    let sign = match rest[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(DtError::Syntax),
    };
    *i += 1;
    let (v, n) = take_digits(s, i).ok_or(DtError::Syntax)?;
    let (h, mut m) = match n {
        1 | 2 => (v, 0),
        4 => (v / 100, v % 100),
        _ => return Err(DtError::Syntax),
    };
    if n <= 2 && s.get(*i) == Some(&b':') {
        *i += 1;
        let (mv, mn) = take_digits(s, i).ok_or(DtError::Syntax)?;
        if mn != 2 {
            return Err(DtError::Syntax);
        }
        m = mv;
    }
    if h > 15 || m > 59 {
        return Err(DtError::Range);
    }
    Ok(Some(sign * (h * 3600 + m * 60)))
}

fn parse_datetime(input: &str, now_micros: i64) -> Result<ParsedDateTime, DtError> {
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = trimmed.to_ascii_lowercase();
    let today = now_micros.div_euclid(MICROS_PER_DAY);
    let special = |days: i64, time: i64| ParsedDateTime {
        days: Some(days),
        time: Some(time),
        offset: Some(0),
        infinite: 0,
    };
    match lower.as_str() {
        "now" => return Ok(special(today, now_micros.rem_euclid(MICROS_PER_DAY))),
        "today" => return Ok(special(today, 0)),
        "tomorrow" => return Ok(special(today + 1, 0)),
        "yesterday" => return Ok(special(today - 1, 0)),
        "epoch" => return Ok(special(0, 0)),
        "infinity" | "+infinity" => {
            return Ok(ParsedDateTime {
                infinite: 1,
                ..ParsedDateTime::default()
            });
        }
        "-infinity" => {
            return Ok(ParsedDateTime {
                infinite: -1,
                ..ParsedDateTime::default()
            });
        }
        "" => return Err(DtError::Syntax),
        _ => {}
    }
    let s = trimmed.as_bytes();
    let mut out = ParsedDateTime::default();
    let mut i = 0;
    // A date: Y-M-D (the year has at least 3 digits so `10:00` is a time).
    let mut j = 0;
    if let Some((y, ylen)) = take_digits(s, &mut j)
        && s.get(j) == Some(&b'-')
        && ylen >= 3
    {
        j += 1;
        let (m, mlen) = take_digits(s, &mut j).ok_or(DtError::Syntax)?;
        if s.get(j) != Some(&b'-') || mlen > 2 {
            return Err(DtError::Syntax);
        }
        j += 1;
        let (d, dlen) = take_digits(s, &mut j).ok_or(DtError::Syntax)?;
        if dlen > 2 {
            return Err(DtError::Syntax);
        }
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || y > 294_276 {
            return Err(DtError::Range);
        }
        out.days = Some(days_from_civil(y, m, d));
        i = j;
        match s.get(i) {
            Some(b'T' | b't') => i += 1,
            Some(c) if c.is_ascii_whitespace() => skip_spaces(s, &mut i),
            _ => {}
        }
    }
    if i < s.len() && s[i].is_ascii_digit() {
        out.time = Some(parse_time_part(s, &mut i)?);
    }
    if out.days.is_none() && out.time.is_none() {
        return Err(DtError::Syntax);
    }
    out.offset = parse_offset(s, &mut i)?;
    skip_spaces(s, &mut i);
    if i != s.len() {
        return Err(DtError::Syntax);
    }
    Ok(out)
}

fn round_micros(t: i64, precision: Option<i64>) -> i64 {
    match precision {
        Some(p) if (0..6).contains(&p) => {
            let unit = 10i64.pow((6 - p) as u32);
            let half = unit / 2;
            (t + if t >= 0 { half } else { -half }) / unit * unit
        }
        _ => t,
    }
}

fn push_time(out: &mut String, micros_of_day: i64) {
    let secs = micros_of_day / 1_000_000;
    let frac = micros_of_day % 1_000_000;
    out.push_str(&format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

fn push_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y <= 0 {
        out.push_str(&format!("{:04}-{m:02}-{d:02} BC", 1 - y));
    } else {
        out.push_str(&format!("{y:04}-{m:02}-{d:02}"));
    }
}

/// Formats microseconds since the epoch as PostgreSQL prints a timestamp
/// (`with_zone`: a timestamptz in UTC, `+00` appended).
pub fn format_timestamp(micros: i64, with_zone: bool) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let tod = micros.rem_euclid(MICROS_PER_DAY);
    let mut out = String::with_capacity(32);
    push_date(&mut out, days);
    out.push(' ');
    push_time(&mut out, tod);
    if with_zone {
        // A BC suffix goes after the zone in PostgreSQL; dates that old are
        // not worth the special case here.
        out.push_str("+00");
    }
    out
}

/// Converts a datetime input string to PostgreSQL's canonical text for
/// `ty`, with optional fractional-second precision.
pub fn datetime_text(
    input: &str,
    ty: DateTimeType,
    precision: Option<i64>,
    now_micros: i64,
) -> Result<String, PgError> {
    let p = match parse_datetime(input, now_micros) {
        Ok(p) => p,
        Err(DtError::Syntax) => {
            return Err(PgError::error(
                sqlstate::INVALID_DATETIME_FORMAT,
                format!(
                    "invalid input syntax for type {}: \"{input}\"",
                    ty.type_name()
                ),
            ));
        }
        Err(DtError::Range) => {
            return Err(PgError::error(
                sqlstate::DATETIME_FIELD_OVERFLOW,
                format!("date/time field value out of range: \"{input}\""),
            ));
        }
    };
    let syntax = || {
        PgError::error(
            sqlstate::INVALID_DATETIME_FORMAT,
            format!(
                "invalid input syntax for type {}: \"{input}\"",
                ty.type_name()
            ),
        )
    };
    if p.infinite != 0 {
        if ty == DateTimeType::Time {
            return Err(syntax());
        }
        return Ok(if p.infinite > 0 {
            "infinity"
        } else {
            "-infinity"
        }
        .to_owned());
    }
    let mut out = String::with_capacity(32);
    match ty {
        DateTimeType::Date => {
            push_date(&mut out, p.days.ok_or_else(syntax)?);
        }
        DateTimeType::Time => {
            let t = p.time.ok_or_else(syntax)?;
            let t = round_micros(t, precision).min(MICROS_PER_DAY);
            push_time(&mut out, t);
        }
        DateTimeType::Timestamp | DateTimeType::Timestamptz => {
            let days = p.days.ok_or_else(syntax)?;
            let offset = if ty == DateTimeType::Timestamptz {
                p.offset.unwrap_or(0)
            } else {
                0
            };
            // Years near PostgreSQL's limit (294276 AD) overflow i64 micros.
            let micros = i128::from(days) * i128::from(MICROS_PER_DAY)
                + i128::from(p.time.unwrap_or(0))
                - i128::from(offset) * 1_000_000;
            let micros = i64::try_from(micros)
                .ok()
                .filter(|m| m.checked_add(MICROS_PER_DAY).is_some())
                .ok_or_else(|| {
                    PgError::error(
                        sqlstate::DATETIME_FIELD_OVERFLOW,
                        format!("timestamp out of range: \"{input}\""),
                    )
                })?;
            let micros = round_micros(micros, precision);
            return Ok(format_timestamp(micros, ty == DateTimeType::Timestamptz));
        }
    }
    Ok(out)
}

fn cast_datetime(
    v: ValueRef<'_>,
    ty: DateTimeType,
    precision: Option<i64>,
    clock: &TransactionClock,
) -> Result<Value, PgError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Text(t) => Ok(Value::Text(datetime_text(
            text_of(t)?,
            ty,
            precision,
            clock.now_micros(),
        )?)),
        other => Err(cannot_cast(
            value_type_name(&other),
            match ty {
                DateTimeType::Date => "date",
                DateTimeType::Time => "time without time zone",
                DateTimeType::Timestamp => "timestamp without time zone",
                DateTimeType::Timestamptz => "timestamp with time zone",
            },
        )),
    }
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

fn precision_arg(ctx: &Context<'_>, idx: usize) -> rusqlite::Result<Option<i64>> {
    if ctx.len() <= idx {
        return Ok(None);
    }
    match ctx.get_raw(idx) {
        ValueRef::Integer(p) => Ok(Some(p.clamp(0, 6))),
        ValueRef::Null => Ok(None),
        _ => fail(PgError::error(
            sqlstate::INVALID_PARAMETER_VALUE,
            "precision must be an integer",
        )),
    }
}

fn int_arg(ctx: &Context<'_>, idx: usize) -> rusqlite::Result<i64> {
    match ctx.get_raw(idx) {
        ValueRef::Integer(n) => Ok(n),
        _ => fail(PgError::internal("type modifier must be an integer")),
    }
}

fn lift<T>(r: Result<T, PgError>) -> rusqlite::Result<T> {
    r.or_else(fail)
}

/// Registers every function translated SQL calls, `now()` reading `clock`.
pub fn register_with_clock(conn: &Connection, clock: &TransactionClock) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let volatile = FunctionFlags::SQLITE_UTF8;

    conn.create_scalar_function("pg_cast_bool", 1, pure, |ctx| {
        lift(match ctx.get_raw(0) {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Integer(i) => Ok(Value::Integer(i64::from(i != 0))),
            ValueRef::Real(f) => Ok(Value::Integer(i64::from(f != 0.0))),
            ValueRef::Text(t) => text_of(t)
                .and_then(parse_bool)
                .map(|b| Value::Integer(i64::from(b))),
            ValueRef::Blob(_) => Err(cannot_cast("bytea", "boolean")),
        })
    })?;
    for (name, width) in [
        ("pg_cast_int2", IntWidth::Int2),
        ("pg_cast_int4", IntWidth::Int4),
        ("pg_cast_int8", IntWidth::Int8),
    ] {
        conn.create_scalar_function(name, 1, pure, move |ctx| {
            lift(cast_int(ctx.get_raw(0), width))
        })?;
    }
    conn.create_scalar_function("pg_cast_float4", 1, pure, |ctx| {
        lift(cast_float(ctx.get_raw(0), true))
    })?;
    conn.create_scalar_function("pg_cast_float8", 1, pure, |ctx| {
        lift(cast_float(ctx.get_raw(0), false))
    })?;
    conn.create_scalar_function("pg_cast_numeric", 1, pure, |ctx| {
        lift(cast_numeric(ctx.get_raw(0), None))
    })?;
    conn.create_scalar_function("pg_cast_numeric", 3, pure, |ctx| {
        let (p, s) = (int_arg(ctx, 1)?, int_arg(ctx, 2)?);
        lift(cast_numeric(ctx.get_raw(0), Some((p, s))))
    })?;
    conn.create_scalar_function("pg_cast_varchar", 2, pure, |ctx| {
        let n = int_arg(ctx, 1)?;
        lift(cast_varchar(ctx.get_raw(0), n))
    })?;
    conn.create_scalar_function("pg_cast_bpchar", 2, pure, |ctx| {
        let n = int_arg(ctx, 1)?;
        lift(cast_bpchar(ctx.get_raw(0), n))
    })?;
    conn.create_scalar_function("pg_cast_bytea", 1, pure, |ctx| {
        lift(cast_bytea(ctx.get_raw(0)))
    })?;
    conn.create_scalar_function("pg_cast_uuid", 1, pure, |ctx| {
        lift(match ctx.get_raw(0) {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Text(t) => text_of(t).and_then(parse_uuid).map(Value::Text),
            other => Err(cannot_cast(value_type_name(&other), "uuid")),
        })
    })?;
    conn.create_scalar_function("pg_cast_json", 1, pure, |ctx| {
        lift(cast_json(ctx.get_raw(0), false))
    })?;
    conn.create_scalar_function("pg_cast_jsonb", 1, pure, |ctx| {
        lift(cast_json(ctx.get_raw(0), true))
    })?;
    // Datetime casts read the clock for 'now' / 'today', so they are not
    // deterministic.
    for (name, ty) in [
        ("pg_cast_date", DateTimeType::Date),
        ("pg_cast_time", DateTimeType::Time),
        ("pg_cast_timestamp", DateTimeType::Timestamp),
        ("pg_cast_timestamptz", DateTimeType::Timestamptz),
    ] {
        for n_arg in [1, 2] {
            let clock = clock.clone();
            conn.create_scalar_function(name, n_arg, volatile, move |ctx| {
                let p = precision_arg(ctx, 1)?;
                lift(cast_datetime(ctx.get_raw(0), ty, p, &clock))
            })?;
        }
    }
    for n_arg in [0, 1] {
        let c = clock.clone();
        conn.create_scalar_function("pg_now", n_arg, volatile, move |ctx| {
            let p = precision_arg(ctx, 0)?;
            Ok(format_timestamp(round_micros(c.now_micros(), p), true))
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_localtimestamp", n_arg, volatile, move |ctx| {
            let p = precision_arg(ctx, 0)?;
            Ok(format_timestamp(round_micros(c.now_micros(), p), false))
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_current_time", n_arg, volatile, move |ctx| {
            let p = precision_arg(ctx, 0)?;
            let mut s = String::new();
            push_time(
                &mut s,
                round_micros(c.now_micros(), p).rem_euclid(MICROS_PER_DAY),
            );
            s.push_str("+00");
            Ok(s)
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_localtime", n_arg, volatile, move |ctx| {
            let p = precision_arg(ctx, 0)?;
            let mut s = String::new();
            push_time(
                &mut s,
                round_micros(c.now_micros(), p).rem_euclid(MICROS_PER_DAY),
            );
            Ok(s)
        })?;
    }
    let c = clock.clone();
    conn.create_scalar_function("pg_current_date", 0, volatile, move |_| {
        let mut s = String::new();
        push_date(&mut s, c.now_micros().div_euclid(MICROS_PER_DAY));
        Ok(s)
    })?;
    conn.create_scalar_function("pg_clock_timestamp", 0, volatile, |_| {
        Ok(format_timestamp(system_micros(), true))
    })?;
    conn.create_scalar_function("pg_random", 0, volatile, |_| Ok(rand::random::<f64>()))?;
    conn.create_scalar_function("gen_random_uuid", 0, volatile, |_| Ok(random_uuid()))?;
    for n_arg in [1, 2] {
        conn.create_scalar_function("pg_like_glob", n_arg, pure, |ctx| {
            let pattern = match ctx.get_raw(0) {
                ValueRef::Null => return Ok(None),
                v => lift(value_as_text(&v))?.unwrap_or_default(),
            };
            let escape = if ctx.len() > 1 {
                match ctx.get_raw(1) {
                    ValueRef::Null => return Ok(None),
                    v => lift(like_escape(&lift(value_as_text(&v))?.unwrap_or_default()))?,
                }
            } else {
                Some('\\')
            };
            Ok(Some(like_to_glob(&pattern, escape)))
        })?;
    }
    Ok(())
}
