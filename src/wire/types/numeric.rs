//! numeric: `numeric_in` parsing, canonical text output and the
//! `numeric_send`/`numeric_recv` wire format, without allocating on the
//! encode path.
//!
//! A parsed value borrows its digits from the input: [`Decimal`] is a
//! virtual digit string (two slices, so `12.34` needs no copy), the position
//! of the decimal point within it, and the display scale. The binary form
//! regroups those digits into base-10000 "NBASE" digits aligned on the point,
//! stripped of leading and trailing zero groups, as PostgreSQL stores them.

use std::fmt::Write;

use bytes::BufMut;

use super::int::IntKind;
use super::{StackBuf, invalid_syntax, is_pg_space, skip_pg_space, take_sign, trim_pg_space};
use crate::wire::error::{PgError, sqlstate};

/// NUMERIC_DSCALE_MAX: the most digits after the point.
const DSCALE_MAX: i64 = 0x3FFF;
/// Digits before the point allowed by NUMERIC_WEIGHT_MAX (32767 NBASE digits).
const INT_DIGITS_MAX: i64 = 4 * 32768;

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// numeric_send reports infinities with the dscale bits of their short
/// header, 0x20 (observed from PostgreSQL 15: `numeric_send('Infinity')`).
const SPECIAL_INF_DSCALE: u16 = 0x0020;

/// A numeric value, borrowing its digits.
#[derive(Debug, Clone, Copy)]
pub(super) enum NumericValue<'a> {
    NaN,
    PosInf,
    NegInf,
    Finite(Decimal<'a>),
}

/// Why a numeric is not a value of an integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotInteger {
    /// It has a fractional part, or is NaN or infinite.
    Fractional,
    OutOfRange,
}

/// A finite decimal: the digit string `a ++ b` (ASCII digits) with the
/// decimal point after `point` digits (`point` may be negative or beyond the
/// string), printed with `dscale` digits after the point. Digits past
/// `point + dscale` are truncated away, as `numeric_recv` does.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decimal<'a> {
    negative: bool,
    a: &'a [u8],
    b: &'a [u8],
    point: i64,
    dscale: i64,
}

impl Decimal<'_> {
    /// Digit value at position `k` of the virtual string, 0 outside it.
    fn digit(&self, k: i64) -> u16 {
        if k < 0 || k >= self.point.saturating_add(self.dscale) {
            return 0;
        }
        let k = k as usize;
        let byte = match self.a.get(k) {
            Some(d) => Some(d),
            None => k.checked_sub(self.a.len()).and_then(|j| self.b.get(j)),
        };
        byte.map_or(0, |d| u16::from(d.wrapping_sub(b'0')))
    }

    /// Positions that may hold a significant digit.
    fn limit(&self) -> i64 {
        let len = (self.a.len() + self.b.len()) as i64;
        len.min(self.point.saturating_add(self.dscale))
    }

    fn first_nonzero(&self) -> Option<i64> {
        (0..self.limit()).find(|&k| self.digit(k) != 0)
    }

    fn last_nonzero(&self) -> Option<i64> {
        (0..self.limit()).rev().find(|&k| self.digit(k) != 0)
    }

    /// Appends digits at positions `from..to`, zeros outside the string.
    fn put_digits<B: BufMut>(&self, out: &mut B, from: i64, to: i64) {
        let mut k = from;
        while k < to {
            let limit = self.limit();
            let a_len = self.a.len() as i64;
            let slice = if k < 0 || k >= limit {
                None
            } else if k < a_len {
                let end = to.min(a_len).min(limit);
                self.a.get(k as usize..end as usize)
            } else {
                let end = to.min(limit) - a_len;
                self.b.get((k - a_len) as usize..end as usize)
            };
            match slice {
                Some(s) if !s.is_empty() => {
                    out.put_slice(s);
                    k += s.len() as i64;
                }
                _ => {
                    // A run of zeros: up to the string (or to `to`).
                    let end = if k < 0 { to.min(0) } else { to };
                    let end = end.max(k + 1);
                    out.put_bytes(b'0', (end - k) as usize);
                    k = end;
                }
            }
        }
    }

    fn put_text<B: BufMut>(&self, out: &mut B) {
        match self.first_nonzero() {
            None => out.put_u8(b'0'),
            Some(first) => {
                if self.negative {
                    out.put_u8(b'-');
                }
                if first < self.point {
                    self.put_digits(out, first, self.point);
                } else {
                    out.put_u8(b'0');
                }
            }
        }
        if self.dscale > 0 {
            out.put_u8(b'.');
            self.put_digits(out, self.point, self.point + self.dscale);
        }
    }

    fn put_binary<B: BufMut>(&self, out: &mut B) {
        let dscale = self.dscale as u16;
        let (Some(first), Some(last)) = (self.first_nonzero(), self.last_nonzero()) else {
            out.put_u16(0);
            out.put_i16(0);
            out.put_u16(SIGN_POS);
            out.put_u16(dscale);
            return;
        };
        // Decimal exponents of the outermost significant digits, and the
        // base-10000 groups holding them.
        let weight = (self.point - 1 - first).div_euclid(4);
        let last_group = (self.point - 1 - last).div_euclid(4);
        out.put_u16((weight - last_group + 1) as u16);
        out.put_i16(weight as i16);
        out.put_u16(if self.negative { SIGN_NEG } else { SIGN_POS });
        out.put_u16(dscale);
        let mut group = weight;
        while group >= last_group {
            let top = self.point - 1 - 4 * group - 3;
            let value = self.digit(top) * 1000
                + self.digit(top + 1) * 100
                + self.digit(top + 2) * 10
                + self.digit(top + 3);
            out.put_u16(value);
            group -= 1;
        }
    }

    fn to_integer(self, kind: IntKind) -> Result<i64, NotInteger> {
        let Some(first) = self.first_nonzero() else {
            return Ok(0);
        };
        if self.last_nonzero().is_some_and(|last| last >= self.point) {
            return Err(NotInteger::Fractional);
        }
        let mut magnitude: u64 = 0;
        for k in first..self.point {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(self.digit(k))))
                .ok_or(NotInteger::OutOfRange)?;
        }
        let value = if self.negative {
            if magnitude > 1 << 63 {
                return Err(NotInteger::OutOfRange);
            }
            0i64.wrapping_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).map_err(|_| NotInteger::OutOfRange)?
        };
        kind.check(value).map_err(|_| NotInteger::OutOfRange)
    }
}

/// The scale a `numeric(p,s)` type modifier imposes, if any. Scales are
/// 11-bit signed since PostgreSQL 15 (`numeric(5,-2)` rounds to hundreds).
pub(super) fn typmod_scale(typmod: i32) -> Option<i64> {
    if typmod < 4 {
        return None;
    }
    let packed = i64::from(typmod - 4);
    Some(((packed & 0x7ff) ^ 0x400) - 0x400)
}

/// The precision of a `numeric(p,s)` type modifier, if any.
fn typmod_precision(typmod: i32) -> Option<i64> {
    (typmod >= 4).then(|| i64::from(((typmod - 4) >> 16) & 0xffff))
}

impl<'a> NumericValue<'a> {
    /// apply_typmod: the value rounded to the scale of a `numeric(p,s)`
    /// type modifier, or 22003 `numeric field overflow` when it then has
    /// more than `p - s` integer digits, or is infinite. Without a
    /// modifier, the value unchanged.
    pub(super) fn apply_typmod(
        self,
        typmod: i32,
        scratch: &'a mut Vec<u8>,
    ) -> Result<NumericValue<'a>, PgError> {
        let (Some(precision), Some(scale)) = (typmod_precision(typmod), typmod_scale(typmod))
        else {
            return Ok(self);
        };
        let field_overflow = |detail: String| {
            PgError::error(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                "numeric field overflow",
            )
            .with_detail(detail)
        };
        let max_digits = precision - scale;
        match self.with_scale(scale, scratch) {
            NumericValue::PosInf | NumericValue::NegInf => Err(field_overflow(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            ))),
            NumericValue::Finite(d)
                if d.first_nonzero()
                    .is_some_and(|first| d.point - first > max_digits) =>
            {
                // PostgreSQL shows 10^0 as 1.
                let limit = match max_digits {
                    0 => "1".to_owned(),
                    n => format!("10^{n}"),
                };
                Err(field_overflow(format!(
                    "A field with precision {precision}, scale {scale} must round to an absolute value less than {limit}."
                )))
            }
            rounded => Ok(rounded),
        }
    }

    /// The value rounded to `scale` decimals (half away from zero) and
    /// shown with `max(scale, 0)` of them, as apply_typmod stores it. New
    /// digits go into `scratch`, which stays empty (unallocated) unless
    /// digits beyond the scale actually have to be rounded away.
    pub(super) fn with_scale(self, scale: i64, scratch: &'a mut Vec<u8>) -> NumericValue<'a> {
        let NumericValue::Finite(d) = self else {
            return self;
        };
        let dscale = scale.max(0);
        let cut = d.point.saturating_add(scale);
        let (Some(first), Some(last)) = (d.first_nonzero(), d.last_nonzero()) else {
            return NumericValue::Finite(Decimal { dscale, ..d });
        };
        if last < cut {
            return NumericValue::Finite(Decimal { dscale, ..d });
        }
        let round_up = d.digit(cut) >= 5;
        let mut start = first.min(cut);
        scratch.clear();
        scratch.extend((start..cut).map(|k| b'0' + d.digit(k) as u8));
        if round_up {
            let mut carry = true;
            for digit in scratch.iter_mut().rev() {
                if *digit == b'9' {
                    *digit = b'0';
                } else {
                    *digit += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                scratch.insert(0, b'1');
                start -= 1;
            }
        }
        NumericValue::Finite(Decimal {
            negative: d.negative,
            a: scratch,
            b: &[],
            point: d.point - start,
            dscale,
        })
    }
}

impl NumericValue<'_> {
    /// Appends numeric_out's text: no exponent, exactly `dscale` decimals.
    pub(super) fn put_text<B: BufMut>(&self, out: &mut B) {
        match self {
            NumericValue::NaN => out.put_slice(b"NaN"),
            NumericValue::PosInf => out.put_slice(b"Infinity"),
            NumericValue::NegInf => out.put_slice(b"-Infinity"),
            NumericValue::Finite(d) => d.put_text(out),
        }
    }

    pub(super) fn to_text_string(self) -> String {
        let mut out = Vec::new();
        self.put_text(&mut out);
        // Only ASCII digits, '-', '.' and the special words were written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends numeric_send's bytes: ndigits, weight, sign, dscale, then
    /// the base-10000 digits, all big-endian 16-bit.
    pub(super) fn put_binary<B: BufMut>(&self, out: &mut B) {
        let (sign, dscale) = match self {
            NumericValue::Finite(d) => return d.put_binary(out),
            NumericValue::NaN => (SIGN_NAN, 0),
            NumericValue::PosInf => (SIGN_PINF, SPECIAL_INF_DSCALE),
            NumericValue::NegInf => (SIGN_NINF, SPECIAL_INF_DSCALE),
        };
        out.put_u16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(dscale);
    }

    /// The value as an integer of `kind`, if it is integral and in range.
    pub(super) fn to_integer(self, kind: IntKind) -> Result<i64, NotInteger> {
        match self {
            NumericValue::Finite(d) => d.to_integer(kind),
            _ => Err(NotInteger::Fractional),
        }
    }
}

fn overflow() -> PgError {
    PgError::error(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

/// numeric_in (PostgreSQL 15): surrounding whitespace; `NaN`, `Infinity`,
/// `inf` with optional sign in any case; otherwise a sign, digits with at
/// most one point, and an optional exponent. The scale is what was written
/// (`1.50` keeps two decimals, `1e3` has none).
pub(super) fn parse(input: &str) -> Result<NumericValue<'_>, PgError> {
    let syntax = || invalid_syntax("numeric", input);
    let s = input.trim_start_matches(|c: char| c.is_ascii() && is_pg_space(c as u8));
    let special = [
        ("NaN", NumericValue::NaN),
        ("Infinity", NumericValue::PosInf),
        ("+Infinity", NumericValue::PosInf),
        ("-Infinity", NumericValue::NegInf),
        ("inf", NumericValue::PosInf),
        ("+inf", NumericValue::PosInf),
        ("-inf", NumericValue::NegInf),
    ];
    for (word, value) in special {
        let matches = s
            .get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word));
        if matches {
            return if trim_pg_space(&s[word.len()..]).is_empty() {
                Ok(value)
            } else {
                Err(syntax())
            };
        }
    }

    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = take_sign(bytes, &mut i);
    let int_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = &bytes[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = &bytes[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(syntax());
    }
    let mut exponent: i64 = 0;
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        // The exponent is read with strtol, which skips leading whitespace.
        skip_pg_space(bytes, &mut i);
        let exp_negative = take_sign(bytes, &mut i);
        let exp_start = i;
        while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i64::from(d - b'0'));
            i += 1;
        }
        if i == exp_start {
            return Err(syntax());
        }
        if exp_negative {
            exponent = -exponent;
        }
        if exponent.abs() >= i64::from(i32::MAX / 2) {
            return Err(overflow());
        }
    }
    if !trim_pg_space(&s[i..]).is_empty() {
        return Err(syntax());
    }

    let decimal = Decimal {
        negative,
        a: int_digits,
        b: frac_digits,
        point: int_digits.len() as i64 + exponent,
        dscale: (frac_digits.len() as i64 - exponent).max(0),
    };
    check_limits(&decimal)?;
    Ok(NumericValue::Finite(decimal))
}

/// make_result's limits: at most 16383 decimals and 131072 integer digits.
fn check_limits(d: &Decimal<'_>) -> Result<(), PgError> {
    if d.dscale > DSCALE_MAX {
        return Err(overflow());
    }
    if d.first_nonzero()
        .is_some_and(|first| d.point - first > INT_DIGITS_MAX)
    {
        return Err(overflow());
    }
    Ok(())
}

/// Stack space for numerics made from integers and floats.
pub(super) struct Scratch {
    buf: StackBuf<40>,
}

impl Scratch {
    pub(super) fn new() -> Scratch {
        Scratch {
            buf: StackBuf::new(),
        }
    }

    pub(super) fn integer(&mut self, v: i64) -> NumericValue<'_> {
        let mut digits = [0u8; super::int::I64_MAX_LEN];
        let text = super::int::format_i64(v, &mut digits);
        let _ = self.buf.write_str(text.trim_start_matches('-'));
        let a = self.buf.as_bytes();
        NumericValue::Finite(Decimal {
            negative: v < 0,
            a,
            b: &[],
            point: a.len() as i64,
            dscale: 0,
        })
    }

    /// float8 -> numeric as PostgreSQL casts it: 15 significant digits
    /// (`%.15g`, DBL_DIG), trailing zeros dropped.
    pub(super) fn float(&mut self, v: f64) -> NumericValue<'_> {
        if v.is_nan() {
            return NumericValue::NaN;
        }
        if v.is_infinite() {
            return if v > 0.0 {
                NumericValue::PosInf
            } else {
                NumericValue::NegInf
            };
        }
        // "d.dddddddddddddde<exp>": 15 significant digits, correctly rounded.
        let _ = write!(self.buf, "{:.14e}", v.abs());
        let text = self.buf.as_bytes();
        let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
        let exponent: i64 = std::str::from_utf8(text.get(e_at + 1..).unwrap_or_default())
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let mantissa = &text[..e_at];
        // "d.ddd" -> first digit and the rest; drop trailing zeros.
        let (first, rest) = mantissa.split_at(mantissa.len().min(1));
        let rest = rest.strip_prefix(b".").unwrap_or(rest);
        let zeros = rest.iter().rev().take_while(|&&d| d == b'0').count();
        let rest = &rest[..rest.len() - zeros];
        let digits = 1 + rest.len() as i64;
        NumericValue::Finite(Decimal {
            negative: v < 0.0,
            a: first,
            b: rest,
            point: exponent + 1,
            dscale: (digits - exponent - 1).max(0),
        })
    }
}

/// numeric_recv: validates the header and digits, truncates digits hidden
/// by dscale, and returns the canonical text.
pub(super) fn decode_binary(bytes: &[u8]) -> Result<String, PgError> {
    let bad = |message: &str| PgError::error(sqlstate::INVALID_BINARY_REPRESENTATION, message);
    let word = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
    };
    let (Some(ndigits), Some(weight), Some(sign), Some(dscale)) =
        (word(0), word(2), word(4), word(6))
    else {
        return Err(super::binary_format_error());
    };
    if bytes.len() != 8 + 2 * usize::from(ndigits) {
        return Err(super::binary_format_error());
    }
    if !matches!(sign, SIGN_POS | SIGN_NEG | SIGN_NAN | SIGN_PINF | SIGN_NINF) {
        return Err(bad("invalid sign in external \"numeric\" value"));
    }
    if i64::from(dscale) > DSCALE_MAX {
        return Err(bad("invalid scale in external \"numeric\" value"));
    }
    let mut digits = Vec::with_capacity(4 * usize::from(ndigits));
    for chunk in bytes[8..].chunks_exact(2) {
        let d = u16::from_be_bytes([chunk[0], chunk[1]]);
        if d >= 10000 {
            return Err(bad("invalid digit in external \"numeric\" value"));
        }
        digits.extend_from_slice(&[
            b'0' + (d / 1000) as u8,
            b'0' + (d / 100 % 10) as u8,
            b'0' + (d / 10 % 10) as u8,
            b'0' + (d % 10) as u8,
        ]);
    }
    let value = match sign {
        SIGN_NAN => NumericValue::NaN,
        SIGN_PINF => NumericValue::PosInf,
        SIGN_NINF => NumericValue::NegInf,
        _ => NumericValue::Finite(Decimal {
            negative: sign == SIGN_NEG,
            a: &[],
            b: &digits,
            point: 4 * (i64::from(weight as i16) + 1),
            dscale: i64::from(dscale),
        }),
    };
    Ok(value.to_text_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse(s).unwrap().to_text_string()
    }

    fn send(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        parse(s).unwrap().put_binary(&mut out);
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Golden text from PostgreSQL 15.18 (`SELECT '<input>'::numeric`).
    #[test]
    fn numeric_in_out_matches_postgres() {
        let cases = [
            ("-0.00", "0.00"),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+00012.10", "12.10"),
            (" 1 ", "1"),
            ("nan", "NaN"),
            ("inf", "Infinity"),
            ("-INFINITY", "-Infinity"),
            ("1E-2", "0.01"),
            ("12e-5", "0.00012"),
            ("0e5", "0"),
            ("0.000e2", "0.0"),
            ("1e 5", "100000"),
            ("1e+5", "100000"),
            ("1e-0", "1"),
            ("0001e0003", "1000"),
            ("-12.340", "-12.340"),
            ("0.0001", "0.0001"),
            ("-.5", "-0.5"),
            ("100000000000000000000.000", "100000000000000000000.000"),
            ("0e1000000", "0"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "{input:?}");
        }
    }

    #[test]
    fn numeric_in_errors_match_postgres() {
        for bad in [
            "1e", ".", "-", " ", "", "1.2.3", "infinit", "- 1", "+-1", "1e1.5", "abc", "NaNx",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, "22P02", "{bad:?}");
            assert_eq!(
                e.message,
                format!("invalid input syntax for type numeric: \"{bad}\"")
            );
        }
        let limit_cases = [
            ("1e-16383", true),
            ("1e-16384", false),
            ("0e-20000", false),
            ("1e131071", true),
            ("1e131072", false),
            ("1e-2147483648", false),
            ("1e2147483648", false),
        ];
        for (input, ok) in limit_cases {
            match parse(input) {
                Ok(_) => assert!(ok, "{input} should overflow"),
                Err(e) => {
                    assert!(!ok, "{input}: {e}");
                    assert_eq!(
                        (e.code, e.message.as_str()),
                        ("22003", "value overflows numeric format")
                    );
                }
            }
        }
        let long = format!("0.{}1", "0".repeat(16382));
        assert_eq!(canon(&long).len(), 16385);
        assert!(parse(&format!("0.{}1", "0".repeat(16383))).is_err());
        assert_eq!(canon(&format!("1{}", "0".repeat(131071))).len(), 131072);
        assert!(parse(&format!("1{}", "0".repeat(131072))).is_err());
    }

    /// Golden bytes from PostgreSQL 15.18: `SELECT numeric_send(<x>::numeric)`.
    #[test]
    fn numeric_send_matches_postgres() {
        let cases = [
            ("12.340", "0002000000000003000c0d48"),
            ("0", "0000000000000000"),
            ("0.00", "0000000000000002"),
            ("-0.00", "0000000000000002"),
            ("NaN", "00000000c0000000"),
            ("Infinity", "00000000d0000020"),
            ("-Infinity", "00000000f0000020"),
            ("0.0001", "0001ffff000000040001"),
            ("-12345678.9", "000300014000000104d2162e2328"),
            ("1e20", "00010005000000000001"),
            ("100000000000000000000.000", "00010005000000030001"),
            ("10000", "00010001000000000001"),
            ("0.00001230", "0001fffe0000000804ce"),
            (
                "123456789012345678901234567890.123456789",
                "000b000700000009000c0d801ed204d2162e23340d801ed204d2162e2328",
            ),
            ("-0.5", "0001ffff400000011388"),
            ("9999", "0001000000000000270f"),
            ("1.0", "00010000000000010001"),
            ("0.1", "0001ffff0000000103e8"),
            ("1e-20", "0001fffb000000140001"),
            ("12345", "000200010000000000010929"),
        ];
        for (input, want) in cases {
            assert_eq!(send(input), hex(want), "{input}");
            // And numeric_recv of those bytes gives the canonical text back.
            assert_eq!(decode_binary(&hex(want)).unwrap(), canon(input), "{input}");
        }
    }

    #[test]
    fn numeric_recv_validates_and_truncates() {
        // -0.001 sent with dscale 2: truncated to zero, sign dropped.
        assert_eq!(decode_binary(&hex("0001ffff40000002000a")).unwrap(), "0.00");
        // 1.2333 with dscale 2 -> 1.23 (truncation, not rounding).
        assert_eq!(
            decode_binary(&hex("00020000000000020001091d")).unwrap(),
            "1.23"
        );
        // Unstripped leading and trailing zero groups are harmless.
        assert_eq!(
            decode_binary(&hex("00030001000000000000000c0000")).unwrap(),
            "12"
        );
        let e = decode_binary(&hex("0000000012340000")).unwrap_err();
        assert_eq!(e.message, "invalid sign in external \"numeric\" value");
        let e = decode_binary(&hex("0000000000004000")).unwrap_err();
        assert_eq!(e.message, "invalid scale in external \"numeric\" value");
        let e = decode_binary(&hex("0001000000000000271000")).unwrap_err();
        assert_eq!(e.code, "22P03");
        let e = decode_binary(&hex("00010000000000002710")).unwrap_err();
        assert_eq!(e.message, "invalid digit in external \"numeric\" value");
        assert_eq!(decode_binary(&hex("00000000")).unwrap_err().code, "22P03");
        // NaN ignores its (valid) digits.
        assert_eq!(decode_binary(&hex("00010000c00000000001")).unwrap(), "NaN");
        // Extreme weights stay bounded and correct.
        let huge = decode_binary(&hex("00017fff000000000001")).unwrap();
        assert_eq!(huge.len(), 4 * 32767 + 1);
        assert_eq!(decode_binary(&hex("00018000000000000001")).unwrap(), "0");
    }

    #[test]
    fn from_f64_uses_fifteen_digits_like_the_cast() {
        let cases = [
            (0.1, "0.1"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "0.00000015"),
            (0.30000000000000004, "0.3"),
            (123_456_789.123_456_79, "123456789.123457"),
            (1e-20, "0.00000000000000000001"),
            (-0.0, "0"),
            (1.234_567_890_123_456_8e-5, "0.0000123456789012346"),
            (-2.5, "-2.5"),
        ];
        for (v, want) in cases {
            let mut scratch = Scratch::new();
            assert_eq!(scratch.float(v).to_text_string(), want, "{v:e}");
        }
        assert_eq!(Scratch::new().float(f64::NAN).to_text_string(), "NaN");
        assert_eq!(
            Scratch::new().float(f64::NEG_INFINITY).to_text_string(),
            "-Infinity"
        );
    }

    #[test]
    fn from_i64_extremes() {
        for v in [0, -1, i64::MIN, i64::MAX, 10000] {
            let mut scratch = Scratch::new();
            assert_eq!(scratch.integer(v).to_text_string(), v.to_string());
        }
        let mut out = Vec::new();
        Scratch::new().integer(-10000).put_binary(&mut out);
        assert_eq!(out, hex("00010001400000000001"));
    }

    /// Golden text from PostgreSQL 15.18 (`SELECT <x>::numeric(p,s)`).
    #[test]
    fn typmod_scale_rounds_like_postgres() {
        let typmod = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        let round = |input: &str, scale_typmod: i32| {
            let mut scratch = Vec::new();
            let scale = typmod_scale(scale_typmod).unwrap();
            parse(input)
                .unwrap()
                .with_scale(scale, &mut scratch)
                .to_text_string()
        };
        let cases = [
            ("12.3", typmod(10, 2), "12.30"),
            ("0.005", typmod(5, 2), "0.01"),
            ("-0.005", typmod(5, 2), "-0.01"),
            ("0.004", typmod(5, 2), "0.00"),
            ("-0.004", typmod(5, 2), "0.00"),
            ("1234.5", typmod(5, -2), "1200"),
            ("1250", typmod(5, -2), "1300"),
            ("9.995", typmod(5, 2), "10.00"),
            ("99.5", typmod(5, 0), "100"),
            ("0", typmod(5, 3), "0.000"),
            ("NaN", typmod(5, 3), "NaN"),
            ("1.23456", typmod(10, 4), "1.2346"),
            ("123", typmod(10, 2), "123.00"),
        ];
        for (input, tm, want) in cases {
            assert_eq!(round(input, tm), want, "{input} {tm}");
        }
        assert_eq!(typmod_scale(-1), None);
        assert_eq!(typmod_scale(typmod(1000, -1000)), Some(-1000));
        let mut scratch = Vec::new();
        let mut out = Vec::new();
        parse("12.3")
            .unwrap()
            .with_scale(2, &mut scratch)
            .put_binary(&mut out);
        // numeric_send(12.3::numeric(10,2)) from PostgreSQL 15.18.
        assert_eq!(out, hex("0002000000000002000c0bb8"));
        // Nothing to round: no allocation.
        let mut untouched = Vec::new();
        let _ = parse("1.5").unwrap().with_scale(3, &mut untouched);
        assert_eq!(untouched.capacity(), 0);
    }

    /// Golden results from PostgreSQL 15.18 (`SELECT <x>::numeric(p,s)`).
    #[test]
    fn typmod_precision_overflows_like_postgres() {
        let typmod = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        let apply = |input: &str, tm: i32| {
            let mut scratch = Vec::new();
            parse(input)
                .unwrap()
                .apply_typmod(tm, &mut scratch)
                .map(|v| v.to_text_string())
        };
        for (input, p, s, want) in [
            ("0.05", 2, 3, "0.050"),
            ("0.4", 1, 1, "0.4"),
            ("12345", 5, -2, "12300"),
            ("123456", 5, -2, "123500"),
            ("1e3", 10, 2, "1000.00"),
            ("0.000", 1, 1, "0.0"),
            ("nan", 5, 2, "NaN"),
        ] {
            assert_eq!(apply(input, typmod(p, s)).unwrap(), want, "{input}");
        }
        for (input, p, s, detail) in [
            (
                "123.456",
                4,
                2,
                "must round to an absolute value less than 10^2.",
            ),
            (
                "0.5",
                2,
                3,
                "must round to an absolute value less than 10^-1.",
            ),
            ("5", 1, 1, "must round to an absolute value less than 1."),
            ("0.96", 1, 1, "must round to an absolute value less than 1."),
            ("inf", 5, 2, "cannot hold an infinite value."),
        ] {
            let e = apply(input, typmod(p, s)).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                ("22003", "numeric field overflow")
            );
            assert_eq!(
                e.detail.as_deref(),
                Some(format!("A field with precision {p}, scale {s} {detail}").as_str()),
                "{input}"
            );
        }
        assert_eq!(apply("123.456", -1).unwrap(), "123.456");
    }

    #[test]
    fn integral_values() {
        let int = |s: &str, kind| parse(s).unwrap().to_integer(kind);
        assert_eq!(int("12.000", IntKind::Int4), Ok(12));
        assert_eq!(int("1e3", IntKind::Int4), Ok(1000));
        assert_eq!(int("-0.0", IntKind::Int4), Ok(0));
        assert_eq!(int("-9223372036854775808", IntKind::Int8), Ok(i64::MIN));
        assert_eq!(
            int("9223372036854775808", IntKind::Int8),
            Err(NotInteger::OutOfRange)
        );
        assert_eq!(int("1e10", IntKind::Int4), Err(NotInteger::OutOfRange));
        assert_eq!(int("1.5", IntKind::Int8), Err(NotInteger::Fractional));
        assert_eq!(int("NaN", IntKind::Int8), Err(NotInteger::Fractional));
        assert_eq!(int("1e100", IntKind::Int8), Err(NotInteger::OutOfRange));
    }
}
