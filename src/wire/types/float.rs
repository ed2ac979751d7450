//! float4 and float8: PostgreSQL 12+ output (shortest round-trip digits,
//! laid out like `float8out`/`float4out`) and `float8in`/`float4in` input.
//!
//! The shortest digits come from the standard library's `{:e}` formatting,
//! which, like PostgreSQL's Ryu, yields the shortest digit string that
//! round-trips and, among those, the closest to the exact value. Only the
//! layout is PostgreSQL's: fixed-point when the decimal exponent is in
//! `-4..15` (float8) or `-4..6` (float4), otherwise `d.ddde+XX`.

use std::fmt::Write;

use bytes::{BufMut, BytesMut};

use super::{StackBuf, invalid_syntax, trim_pg_space};
use crate::wire::error::{PgError, sqlstate};

/// Longest float8out result, e.g. `-2.2250738585072014e-308` (24), with room.
pub(super) const F64_MAX_LEN: usize = 32;

/// Appends `v` as float8out prints it.
pub(super) fn put_f64(out: &mut BytesMut, v: f64) {
    let mut buf = StackBuf::<F64_MAX_LEN>::new();
    write_f64(&mut buf, v);
    out.put_slice(buf.as_bytes());
}

/// Appends `v` as float4out prints it.
pub(super) fn put_f32(out: &mut BytesMut, v: f32) {
    let mut buf = StackBuf::<F64_MAX_LEN>::new();
    write_shortest(&mut buf, v.is_sign_negative(), Shortest::F32(v), 6);
    out.put_slice(buf.as_bytes());
}

/// float8out into a stack buffer.
pub(super) fn write_f64(buf: &mut StackBuf<F64_MAX_LEN>, v: f64) {
    write_shortest(buf, v.is_sign_negative(), Shortest::F64(v), 15);
}

enum Shortest {
    F32(f32),
    F64(f64),
}

fn write_shortest(buf: &mut StackBuf<F64_MAX_LEN>, negative: bool, v: Shortest, fixed_below: i32) {
    let (is_nan, is_inf, is_zero) = match v {
        Shortest::F32(f) => (f.is_nan(), f.is_infinite(), f == 0.0),
        Shortest::F64(f) => (f.is_nan(), f.is_infinite(), f == 0.0),
    };
    let special = if is_nan {
        Some("NaN")
    } else if is_inf {
        Some(if negative { "-Infinity" } else { "Infinity" })
    } else if is_zero {
        Some(if negative { "-0" } else { "0" })
    } else {
        None
    };
    if let Some(text) = special {
        let _ = buf.write_str(text);
        return;
    }

    // Shortest digits in scientific form: "d[.ddd]e[-]x" for |v|.
    let mut sci = StackBuf::<F64_MAX_LEN>::new();
    let _ = match v {
        Shortest::F32(f) => write!(sci, "{:e}", f.abs()),
        Shortest::F64(f) => write!(sci, "{:e}", f.abs()),
    };
    let sci = sci.as_bytes();
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let (mantissa, exponent) = sci.split_at(e_at);
    let exp: i32 = std::str::from_utf8(exponent.get(1..).unwrap_or_default())
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 20];
    let mut n = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if let Some(slot) = digits.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }
    let digits = &digits[..n];

    let mut put = |s: &[u8]| {
        let _ = buf.write_str(std::str::from_utf8(s).unwrap_or_default());
    };
    if negative {
        put(b"-");
    }
    if (-4..fixed_below).contains(&exp) {
        if exp < 0 {
            put(b"0.");
            for _ in 0..(-exp - 1) {
                put(b"0");
            }
            put(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                put(digits);
                for _ in digits.len()..int_len {
                    put(b"0");
                }
            } else {
                let (int_part, frac_part) = digits.split_at(int_len);
                put(int_part);
                put(b".");
                put(frac_part);
            }
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        put(first);
        if !rest.is_empty() {
            put(b".");
            put(rest);
        }
        put(if exp < 0 { b"e-" } else { b"e+" });
        let e = exp.unsigned_abs();
        if e < 10 {
            put(b"0");
        }
        let mut ebuf = [0u8; super::int::I64_MAX_LEN];
        put(super::int::format_i64(i64::from(e), &mut ebuf).as_bytes());
    }
}

/// float8in: surrounding whitespace, `NaN`, `Infinity`, `inf` in any case
/// and sign; overflow and underflow to zero are out of range (denormals are
/// accepted).
pub(super) fn parse_f64(input: &str) -> Result<f64, PgError> {
    let s = trim_pg_space(input);
    match parse_checked::<f64>(s) {
        Parsed::Value(v) => Ok(v),
        Parsed::Syntax => Err(invalid_syntax("double precision", input)),
        Parsed::Range => Err(out_of_range(input, "double precision")),
    }
}

/// float4in: as float8in, rounding once, directly to single precision.
pub(super) fn parse_f32(input: &str) -> Result<f32, PgError> {
    let s = trim_pg_space(input);
    match parse_checked::<f32>(s) {
        Parsed::Value(v) => Ok(v),
        Parsed::Syntax => Err(invalid_syntax("real", input)),
        Parsed::Range => Err(out_of_range(input, "real")),
    }
}

/// float8 -> float4 as PostgreSQL's cast does it: overflow and underflow
/// to zero are errors, NaN and infinities carry over.
pub(super) fn narrow_f64(v: f64) -> Result<f32, PgError> {
    let narrowed = v as f32;
    if narrowed.is_infinite() && v.is_finite() {
        return Err(PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    if narrowed == 0.0 && v != 0.0 {
        return Err(PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: underflow",
        ));
    }
    Ok(narrowed)
}

fn out_of_range(input: &str, sql_name: &str) -> PgError {
    PgError::error(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{input}\" is out of range for type {sql_name}"),
    )
}

enum Parsed<T> {
    Value(T),
    Syntax,
    Range,
}

trait Float: std::str::FromStr + Copy {
    fn is_infinite(self) -> bool;
    fn is_zero(self) -> bool;
}

impl Float for f64 {
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

impl Float for f32 {
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

fn parse_checked<T: Float>(s: &str) -> Parsed<T> {
    // Rust's grammar is strtod's minus hex floats and "nan(...)": a sign,
    // digits with an optional point, an optional exponent, or inf/infinity/nan.
    // It also accepts nothing strtod rejects, so only ranges need checking.
    if s.is_empty() {
        return Parsed::Syntax;
    }
    let Ok(v) = s.parse::<T>() else {
        return Parsed::Syntax;
    };
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let literal_infinity =
        unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    if v.is_infinite() && !literal_infinity {
        return Parsed::Range;
    }
    if v.is_zero() && mantissa_has_nonzero_digit(unsigned) {
        return Parsed::Range;
    }
    Parsed::Value(v)
}

fn mantissa_has_nonzero_digit(s: &str) -> bool {
    s.bytes()
        .take_while(|&b| b != b'e' && b != b'E')
        .any(|b| (b'1'..=b'9').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f8(v: f64) -> String {
        let mut out = BytesMut::new();
        put_f64(&mut out, v);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn f4(v: f32) -> String {
        let mut out = BytesMut::new();
        put_f32(&mut out, v);
        String::from_utf8(out.to_vec()).unwrap()
    }

    /// Golden outputs from PostgreSQL 15.18 (`SELECT <literal>::float8`).
    #[test]
    fn float8out_matches_postgres() {
        let cases: &[(f64, &str)] = &[
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::INFINITY, "Infinity"),
            (9007199254740991.0, "9.007199254740991e+15"),
            (5e-324, "5e-324"),
            (1e-310, "1e-310"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100"),
            (1e100, "1e+100"),
            (-1.5, "-1.5"),
            (123.456, "123.456"),
            (999999999999999.9, "999999999999999.9"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
        ];
        for &(v, want) in cases {
            assert_eq!(f8(v), want, "{v:e}");
        }
    }

    /// Golden outputs from PostgreSQL 15.18 (`SELECT <literal>::float4`).
    #[test]
    fn float4out_matches_postgres() {
        let cases: &[(f32, &str)] = &[
            (1e6, "1e+06"),
            (1e5, "100000"),
            (16777215.0, "1.6777215e+07"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (3.4028235e38, "3.4028235e+38"),
            (1.4e-45, "1e-45"),
            (123456.7, "123456.7"),
            (-0.0, "-0"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1.1754944e-38, "1.1754944e-38"),
            (0.3, "0.3"),
            (999999.9, "999999.9"),
            (0.000123, "0.000123"),
            (0.0000123, "1.23e-05"),
            (f32::NAN, "NaN"),
            (f32::NEG_INFINITY, "-Infinity"),
        ];
        for &(v, want) in cases {
            assert_eq!(f4(v), want, "{v:e}");
        }
    }

    #[test]
    fn float8in_accepts_pg_spellings() {
        assert_eq!(parse_f64("  1.5  ").unwrap(), 1.5);
        assert_eq!(parse_f64("+inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_f64("INFINITY").unwrap(), f64::INFINITY);
        assert_eq!(parse_f64("-Infinity").unwrap(), f64::NEG_INFINITY);
        assert!(parse_f64("NaN").unwrap().is_nan());
        assert!(parse_f64("-nan").unwrap().is_nan());
        assert_eq!(parse_f64(".5").unwrap(), 0.5);
        assert_eq!(parse_f64("5.").unwrap(), 5.0);
        assert_eq!(parse_f64("1E+5").unwrap(), 1e5);
        assert_eq!(parse_f64("1e-310").unwrap(), 1e-310);
        assert_eq!(parse_f64("0e-400").unwrap(), 0.0);
        assert_eq!(parse_f64("-0").unwrap().to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn float8in_errors() {
        let e = parse_f64("1e400").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22003", "\"1e400\" is out of range for type double precision"));
        let e = parse_f64("1e-400").unwrap_err();
        assert_eq!(e.code, "22003");
        for bad in ["", " ", "abc", "1e", "1.2.3", "--1", "1 2", "infinit"] {
            let e = parse_f64(bad).unwrap_err();
            assert_eq!(e.code, "22P02", "{bad:?}");
            assert_eq!(
                e.message,
                format!("invalid input syntax for type double precision: \"{bad}\"")
            );
        }
    }

    #[test]
    fn float4in_rounds_once_and_checks_range() {
        assert_eq!(parse_f32("0.1").unwrap(), 0.1f32);
        assert_eq!(parse_f32("1e-40").unwrap(), 1e-40f32);
        let e = parse_f32("1e39").unwrap_err();
        assert_eq!(e.message, "\"1e39\" is out of range for type real");
        assert_eq!(parse_f32("1e-46").unwrap_err().code, "22003");
        assert_eq!(
            parse_f32("").unwrap_err().message,
            "invalid input syntax for type real: \"\""
        );
    }

    #[test]
    fn narrowing_like_the_cast() {
        assert_eq!(narrow_f64(0.1).unwrap(), 0.1f32);
        assert!(narrow_f64(f64::NAN).unwrap().is_nan());
        assert_eq!(narrow_f64(f64::INFINITY).unwrap(), f32::INFINITY);
        assert_eq!(narrow_f64(1e300).unwrap_err().message, "value out of range: overflow");
        assert_eq!(narrow_f64(1e-300).unwrap_err().message, "value out of range: underflow");
    }
}
