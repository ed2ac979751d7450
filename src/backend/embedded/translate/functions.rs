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
//!
//! Values are read and printed by [`crate::wire::types`], the rules the wire
//! uses for parameters and rows: a cast from text is the type's input
//! function, exactly as a text parameter of that type is decoded.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

use crate::backend::{self, Cell};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::{self, Format, IntKind, Oid, oid};

/// 42846 cannot_coerce: not in `sqlstate` because only casts raise it.
const CANNOT_COERCE: &str = "42846";
/// 22025 invalid_escape_sequence.
pub(crate) const INVALID_ESCAPE_SEQUENCE: &str = "22025";
/// invalid_regular_expression (raised by the catalog's `regexp()`).
pub(crate) const INVALID_REGULAR_EXPRESSION: &str = "2201B";

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
const CODES: [&str; 14] = [
    sqlstate::QUERY_CANCELED,
    sqlstate::INVALID_TEXT_REPRESENTATION,
    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
    sqlstate::INVALID_DATETIME_FORMAT,
    sqlstate::DATETIME_FIELD_OVERFLOW,
    sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
    sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
    sqlstate::INVALID_PARAMETER_VALUE,
    sqlstate::STRING_DATA_RIGHT_TRUNCATION,
    sqlstate::SYNTAX_ERROR,
    sqlstate::INTERNAL_ERROR,
    CANNOT_COERCE,
    INVALID_ESCAPE_SEQUENCE,
    INVALID_REGULAR_EXPRESSION,
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

/// A value's text as PostgreSQL prints its type: integers as int8, reals as
/// float8, blobs as bytea (`\\x0102`).
fn value_as_text(v: &ValueRef<'_>) -> Result<Option<String>, PgError> {
    let (cell, oid) = match *v {
        ValueRef::Null => return Ok(None),
        ValueRef::Text(t) => return Ok(Some(text_of(t)?.to_owned())),
        ValueRef::Integer(i) => (Cell::Int(i), oid::INT8),
        ValueRef::Real(f) => (Cell::Float(f), oid::FLOAT8),
        ValueRef::Blob(b) => (Cell::Bytes(b), oid::BYTEA),
    };
    output_text(cell, oid).map(Some)
}

/// The text output of `cell` as a value of type `oid`.
fn output_text(cell: Cell<'_>, oid: Oid) -> Result<String, PgError> {
    let mut out = BytesMut::new();
    types::encode_text(cell, oid, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `'text'::type`: the input function of `oid`, as a text parameter of that
/// type is decoded, with the value as SQLite holds it.
fn input(text: &str, oid: Oid) -> Result<Value, PgError> {
    Ok(sqlite_value(types::decode_param(
        text.as_bytes(),
        oid,
        Format::Text,
    )?))
}

/// A decoded value as SQLite holds it: booleans as 0/1, a NaN as text
/// (SQLite would turn a NaN REAL into NULL), numerics as [`numeric_value`].
fn sqlite_value(v: backend::Value) -> Value {
    match v {
        backend::Value::Null => Value::Null,
        backend::Value::Bool(b) => Value::Integer(i64::from(b)),
        backend::Value::Int(i) => Value::Integer(i),
        backend::Value::Float(f) if f.is_nan() => Value::Text("NaN".to_owned()),
        backend::Value::Float(f) => Value::Real(f),
        backend::Value::Numeric(s) => numeric_value(&s),
        backend::Value::Text(s) => Value::Text(s),
        backend::Value::Bytes(b) => Value::Blob(b),
    }
}

// ---------------------------------------------------------------------------
// bool, integers, floats, numeric
// ---------------------------------------------------------------------------

fn cast_int(v: ValueRef<'_>, kind: IntKind) -> Result<Value, PgError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) => kind.check(i).map(Value::Integer),
        ValueRef::Real(f) => {
            // numeric -> int rounds half away from zero (numeric literals
            // arrive here as reals). Exact bounds: -2^63 is representable,
            // 2^63 is the first value above.
            let r = f.round();
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) {
                return Err(kind.cast_out_of_range());
            }
            kind.check(r as i64).map(Value::Integer)
        }
        ValueRef::Text(t) => input(text_of(t)?, int_oid(kind)),
        ValueRef::Blob(_) => Err(cannot_cast("bytea", kind.sql_name())),
    }
}

fn int_oid(kind: IntKind) -> Oid {
    match kind {
        IntKind::Int2 => oid::INT2,
        IntKind::Int4 => oid::INT4,
        IntKind::Int8 => oid::INT8,
        IntKind::Oid => oid::OID,
    }
}

fn cast_float(v: ValueRef<'_>, real: bool) -> Result<Value, PgError> {
    let narrow = |f: f64| if real { f64::from(f as f32) } else { f };
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) => Ok(Value::Real(narrow(i as f64))),
        ValueRef::Real(f) => Ok(Value::Real(narrow(f))),
        ValueRef::Text(t) => input(text_of(t)?, if real { oid::FLOAT4 } else { oid::FLOAT8 }),
        ValueRef::Blob(_) => Err(cannot_cast(
            "bytea",
            if real { "real" } else { "double precision" },
        )),
    }
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

/// `v::numeric`, or `v::numeric(p,s)` with `typmod` (-1 for none).
fn cast_numeric(v: ValueRef<'_>, typmod: i32) -> Result<Value, PgError> {
    let text = match v {
        ValueRef::Null => return Ok(Value::Null),
        ValueRef::Integer(i) if typmod < 0 => return Ok(Value::Integer(i)),
        ValueRef::Real(f) if typmod < 0 => return Ok(Value::Real(f)),
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
    Ok(numeric_value(&types::numeric_text(&text, typmod)?))
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

fn cast_bytea(v: ValueRef<'_>) -> Result<Value, PgError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Blob(b) => Ok(Value::Blob(b.to_vec())),
        ValueRef::Text(t) => input(text_of(t)?, oid::BYTEA),
        other => Err(cannot_cast(value_type_name(&other), "bytea")),
    }
}

/// A random version-4 UUID.
pub fn random_uuid() -> Result<String, PgError> {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    output_text(Cell::Bytes(&b), oid::UUID)
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

/// `v::date`, `v::time(p)`, `v::timestamp(p)`, `v::timestamptz(p)` (`oid`
/// one of those, `typmod` the precision or -1), `now` and `today` reading
/// the transaction clock.
fn cast_datetime(
    v: ValueRef<'_>,
    oid: Oid,
    typmod: i32,
    clock: &TransactionClock,
) -> Result<Value, PgError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Text(t) => Ok(Value::Text(types::datetime_text(
            text_of(t)?,
            oid,
            typmod,
            clock.now_micros(),
        )?)),
        other => Err(cannot_cast(
            value_type_name(&other),
            match oid {
                oid::DATE => "date",
                oid::TIME => "time without time zone",
                oid::TIMESTAMP => "timestamp without time zone",
                _ => "timestamp with time zone",
            },
        )),
    }
}

/// The time of day of `unix_micros` (UTC), rounded to `typmod` digits as
/// `localtime(p)` and `current_time(p)` round it.
fn time_of_day_text(unix_micros: i64, typmod: i32) -> String {
    types::time_text(unix_micros.rem_euclid(MICROS_PER_DAY), typmod)
}

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/// A fractional-seconds precision argument as a type modifier: 0 to 6, -1
/// when absent.
fn precision_arg(ctx: &Context<'_>, idx: usize) -> rusqlite::Result<i32> {
    if ctx.len() <= idx {
        return Ok(-1);
    }
    match ctx.get_raw(idx) {
        // The clamp makes the narrowing exact.
        ValueRef::Integer(p) => Ok(p.clamp(0, 6) as i32),
        ValueRef::Null => Ok(-1),
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

/// An array value as the JSON array `json_each` reads: a JSON array as it
/// is; a PostgreSQL array literal (`{1,"b c",NULL}`, one dimension) as
/// JSON (unquoted integers as numbers); an int2vector (`1 3`) as numbers;
/// anything else 22P02.
pub fn array_json(text: &str) -> Result<String, PgError> {
    let malformed = || {
        PgError::error(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{text}\""),
        )
    };
    if text.starts_with('[') {
        return match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(_)) => Ok(text.to_owned()),
            _ => Err(malformed()),
        };
    }
    // int2vector / oidvector (pg_index.indkey): numbers and spaces (an
    // empty one is empty text).
    let t = text.trim();
    if t.chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        let items: Result<Vec<i64>, _> = t.split_whitespace().map(str::parse).collect();
        return items
            .map(|v| serde_json::Value::from(v).to_string())
            .map_err(|_| malformed());
    }
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(malformed)?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    if inner.trim().is_empty() {
        return Ok("[]".to_owned());
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let item = if chars.peek() == Some(&'"') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => s.push(chars.next().ok_or_else(malformed)?),
                    Some(c) => s.push(c),
                    None => return Err(malformed()),
                }
            }
            serde_json::Value::String(s)
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if matches!(c, '{' | '}' | '"') {
                    return Err(malformed());
                }
                s.push(c);
                chars.next();
            }
            let s = s.trim();
            if s.is_empty() {
                return Err(malformed());
            }
            if s.eq_ignore_ascii_case("null") {
                serde_json::Value::Null
            } else if let Ok(n) = s.parse::<i64>() {
                serde_json::Value::from(n)
            } else {
                serde_json::Value::String(s.to_owned())
            }
        };
        items.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some(',') => {}
            None => break,
            Some(_) => return Err(malformed()),
        }
    }
    Ok(serde_json::Value::Array(items).to_string())
}

/// Registers every function translated SQL calls, `now()` reading `clock`.
pub fn register_with_clock(conn: &Connection, clock: &TransactionClock) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let volatile = FunctionFlags::SQLITE_UTF8;

    conn.create_scalar_function("pg_array_json", 1, pure, |ctx| {
        lift(match ctx.get_raw(0) {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => text_of(t).and_then(array_json).map(Some),
            ValueRef::Integer(i) => array_json(&i.to_string()).map(Some),
            ValueRef::Real(f) => array_json(&f.to_string()).map(Some),
            ValueRef::Blob(_) => Err(cannot_cast("bytea", "text[]")),
        })
    })?;
    conn.create_scalar_function("pg_cast_bool", 1, pure, |ctx| {
        lift(match ctx.get_raw(0) {
            ValueRef::Null => Ok(Value::Null),
            ValueRef::Integer(i) => Ok(Value::Integer(i64::from(i != 0))),
            ValueRef::Real(f) => Ok(Value::Integer(i64::from(f != 0.0))),
            ValueRef::Text(t) => text_of(t).and_then(|s| input(s, oid::BOOL)),
            ValueRef::Blob(_) => Err(cannot_cast("bytea", "boolean")),
        })
    })?;
    for (name, kind) in [
        ("pg_cast_int2", IntKind::Int2),
        ("pg_cast_int4", IntKind::Int4),
        ("pg_cast_int8", IntKind::Int8),
    ] {
        conn.create_scalar_function(name, 1, pure, move |ctx| {
            lift(cast_int(ctx.get_raw(0), kind))
        })?;
    }
    conn.create_scalar_function("pg_cast_float4", 1, pure, |ctx| {
        lift(cast_float(ctx.get_raw(0), true))
    })?;
    conn.create_scalar_function("pg_cast_float8", 1, pure, |ctx| {
        lift(cast_float(ctx.get_raw(0), false))
    })?;
    conn.create_scalar_function("pg_cast_numeric", 1, pure, |ctx| {
        lift(cast_numeric(ctx.get_raw(0), -1))
    })?;
    conn.create_scalar_function("pg_cast_numeric", 3, pure, |ctx| {
        let (p, s) = (int_arg(ctx, 1)?, int_arg(ctx, 2)?);
        let typmod = types::numeric_typmod(p, s)
            .ok_or_else(|| PgError::internal(format!("invalid numeric type modifier ({p}, {s})")));
        lift(typmod.and_then(|typmod| cast_numeric(ctx.get_raw(0), typmod)))
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
            ValueRef::Text(t) => text_of(t).and_then(|s| input(s, oid::UUID)),
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
        ("pg_cast_date", oid::DATE),
        ("pg_cast_time", oid::TIME),
        ("pg_cast_timestamp", oid::TIMESTAMP),
        ("pg_cast_timestamptz", oid::TIMESTAMPTZ),
    ] {
        for n_arg in [1, 2] {
            let clock = clock.clone();
            conn.create_scalar_function(name, n_arg, volatile, move |ctx| {
                let typmod = precision_arg(ctx, 1)?;
                lift(cast_datetime(ctx.get_raw(0), ty, typmod, &clock))
            })?;
        }
    }
    for n_arg in [0, 1] {
        let c = clock.clone();
        conn.create_scalar_function("pg_now", n_arg, volatile, move |ctx| {
            let typmod = precision_arg(ctx, 0)?;
            lift(types::timestamp_text(c.now_micros(), true, typmod))
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_localtimestamp", n_arg, volatile, move |ctx| {
            let typmod = precision_arg(ctx, 0)?;
            lift(types::timestamp_text(c.now_micros(), false, typmod))
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_current_time", n_arg, volatile, move |ctx| {
            let typmod = precision_arg(ctx, 0)?;
            // timetz in the session's zone, UTC.
            Ok(time_of_day_text(c.now_micros(), typmod) + "+00")
        })?;
        let c = clock.clone();
        conn.create_scalar_function("pg_localtime", n_arg, volatile, move |ctx| {
            let typmod = precision_arg(ctx, 0)?;
            Ok(time_of_day_text(c.now_micros(), typmod))
        })?;
    }
    let c = clock.clone();
    conn.create_scalar_function("pg_current_date", 0, volatile, move |_| {
        lift(types::date_text(c.now_micros().div_euclid(MICROS_PER_DAY)))
    })?;
    conn.create_scalar_function("pg_clock_timestamp", 0, volatile, |_| {
        lift(types::timestamp_text(system_micros(), true, -1))
    })?;
    conn.create_scalar_function("pg_random", 0, volatile, |_| Ok(rand::random::<f64>()))?;
    conn.create_scalar_function("gen_random_uuid", 0, volatile, |_| lift(random_uuid()))?;
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
