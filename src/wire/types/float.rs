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

const ZEROS: &[u8; 20] = b"00000000000000000000";

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
        buf.push(text.as_bytes());
        return;
    }

    let mut digits = [0u8; 20];
    let (n, exp) = shortest_digits(&v, &mut digits);
    let digits = &digits[..n];

    let mut put = |s: &[u8]| buf.push(s);
    if negative {
        put(b"-");
    }
    if (-4..fixed_below).contains(&exp) {
        if exp < 0 {
            put(b"0.");
            put(ZEROS.get(..(-exp - 1) as usize).unwrap_or_default());
            put(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                put(digits);
                put(ZEROS.get(..int_len - digits.len()).unwrap_or_default());
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

/// The shortest digits of a finite non-zero value, as PostgreSQL's Ryu
/// produces them: fills `out` with ASCII digits and returns their count and
/// the decimal exponent of the first one.
fn shortest_digits(v: &Shortest, out: &mut [u8; 20]) -> (usize, i32) {
    // Fast path: the standard library's shortest round-trip digits.
    let mut sci = StackBuf::<F64_MAX_LEN>::new();
    let _ = match v {
        Shortest::F32(f) => write!(sci, "{:e}", f.abs()),
        Shortest::F64(f) => write!(sci, "{:e}", f.abs()),
    };
    let sci = sci.as_bytes();
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let (mantissa, exponent) = sci.split_at(e_at);
    let exp = parse_exponent(exponent.get(1..).unwrap_or_default());
    let mut n = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if let Some(slot) = out.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }

    let parts = Parts::of(v);
    let resolved = match check_fast_path(&parts, n as u32) {
        FastPath::Correct => None,
        FastPath::Tie { sig, scale } => {
            // x is exactly halfway between two n-digit decimals, both inside
            // the interval: round its n+1 digits half to even.
            let kept = (sig / 10) as u64;
            Some((kept + (kept & 1), scale + 1))
        }
        FastPath::Unsure => {
            let last_digit_exp = exp - n as i32 + 1;
            exact_shortest(&parts, last_digit_exp + 1)
        }
    };
    if let Some((mut c, mut q)) = resolved {
        while c != 0 && c.is_multiple_of(10) {
            c /= 10;
            q += 1;
        }
        if let Ok(c) = i64::try_from(c) {
            let mut buf = [0u8; super::int::I64_MAX_LEN];
            let text = super::int::format_i64(c, &mut buf).as_bytes();
            if let Some(slot) = out.get_mut(..text.len()) {
                slot.copy_from_slice(text);
                return (text.len(), q + text.len() as i32 - 1);
            }
        }
    }
    (n, exp)
}

/// The exponent of `{:e}` output: an optional '-' and decimal digits.
fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i32, |acc, d| {
        acc.saturating_mul(10)
            .saturating_add(i32::from(d.wrapping_sub(b'0')))
    });
    if negative { -magnitude } else { magnitude }
}

/// Whether the standard library's `n` shortest digits are PostgreSQL's.
enum FastPath {
    Correct,
    /// The value is exactly `sig * 10^scale`, `sig` having n+1 digits and
    /// ending in 5.
    Tie {
        sig: u128,
        scale: i32,
    },
    /// Only the exact search can tell.
    Unsure,
}

/// The standard library accepts a decimal lying exactly on the rounding
/// interval's bound when the mantissa is even, PostgreSQL never does; and
/// it breaks an exact tie between two shortest candidates upward where
/// PostgreSQL rounds to even. A bound on a short decimal is rare; a tie
/// needs the value itself to be a short decimal (common only for float4
/// binary fractions such as 17/1024) and is settled without searching.
fn check_fast_path(parts: &Parts, n: u32) -> FastPath {
    let on_bound = |m: u64| match short_decimal(m, parts.e) {
        Short::Digits { count, .. } => count <= parts.max_digits,
        Short::No => false,
        Short::Unknown => true,
    };
    if on_bound(parts.mm) || on_bound(parts.mp) {
        return FastPath::Unsure;
    }
    match short_decimal(parts.mv, parts.e) {
        Short::Digits { sig, scale, count } if count == n + 1 && sig % 10 == 5 => {
            // Both neighbours are inside only if the interval is symmetric.
            if parts.mv - parts.mm == parts.mp - parts.mv {
                FastPath::Tie { sig, scale }
            } else {
                FastPath::Unsure
            }
        }
        Short::Digits { .. } | Short::No => FastPath::Correct,
        Short::Unknown => FastPath::Unsure,
    }
}

/// A finite non-zero float as Ryu sees it: the value is `mv * 2^e`, the
/// rounding interval `(mm * 2^e, mp * 2^e)`, bounds excluded.
struct Parts {
    mm: u64,
    mv: u64,
    mp: u64,
    e: i32,
    /// Digits that always suffice to round-trip (17 or 9).
    max_digits: u32,
}

impl Parts {
    fn of(v: &Shortest) -> Parts {
        let (mantissa_bits, exponent_mask, bits, max_digits) = match v {
            Shortest::F32(f) => (23u32, 0xffu64, u64::from(f.to_bits()), 9),
            Shortest::F64(f) => (52, 0x7ff, f.to_bits(), 17),
        };
        let bias = (exponent_mask >> 1) as i32;
        let ieee_mantissa = bits & ((1u64 << mantissa_bits) - 1);
        let ieee_exponent = ((bits >> mantissa_bits) & exponent_mask) as i32;
        // Two extra bits so that the bounds are integers.
        let (m2, e) = if ieee_exponent == 0 {
            (ieee_mantissa, 1 - bias - mantissa_bits as i32 - 2)
        } else {
            (
                (1u64 << mantissa_bits) | ieee_mantissa,
                ieee_exponent - bias - mantissa_bits as i32 - 2,
            )
        };
        // The lower gap is half as wide just above a power of two.
        let mm_shift = u64::from(ieee_mantissa != 0 || ieee_exponent <= 1);
        Parts {
            mm: 4 * m2 - 1 - mm_shift,
            mv: 4 * m2,
            mp: 4 * m2 + 2,
            e,
            max_digits,
        }
    }
}

/// Whether `m * 2^e` is a decimal of few significant digits.
enum Short {
    /// Exactly `sig * 10^scale`, `sig` having `count` digits, no trailing
    /// zeros.
    Digits { sig: u128, scale: i32, count: u32 },
    /// More than 18 significant digits.
    No,
    /// Too large to tell cheaply (treated as suspicious).
    Unknown,
}

fn short_decimal(m: u64, e: i32) -> Short {
    if m == 0 {
        return Short::No;
    }
    let zeros = m.trailing_zeros();
    let (m, e) = (m >> zeros, e + zeros as i32);
    let (mut sig, mut scale): (u128, i32) = if e >= 0 {
        if e as u32 + (64 - m.leading_zeros()) > 127 {
            // >= 2^127 has 39+ digits; 18 or fewer significant ones need
            // 21+ trailing zeros, so a factor 5^21 in m.
            return if m.is_multiple_of(476_837_158_203_125) {
                Short::Unknown
            } else {
                Short::No
            };
        }
        (u128::from(m) << e, 0)
    } else {
        // m odd: m * 5^f has no trailing zeros and 5^27 alone has 19 digits.
        let f = (-e) as u32;
        if f > 26 {
            return Short::No;
        }
        (u128::from(m) * 5u128.pow(f), e)
    };
    while sig.is_multiple_of(10) {
        sig /= 10;
        scale += 1;
    }
    let count = sig.checked_ilog10().map_or(1, |d| d + 1);
    if count > 18 {
        Short::No
    } else {
        Short::Digits { sig, scale, count }
    }
}

/// Ryu's result computed exactly: the largest decimal scale `q` at which
/// some `c * 10^q` lies strictly inside the rounding interval, and among
/// those `c` the one nearest the value (ties to even). Searches downward
/// from `q_start`; `None` only if the search runs out (it cannot).
fn exact_shortest(p: &Parts, q_start: i32) -> Option<(u64, i32)> {
    for q in (q_start - 25..=q_start).rev() {
        // Compare c * 10^q with m * 2^e over a common integer scale.
        let scaled = |m: u64| {
            let mut x = Big::from_u64(m);
            x.shl(p.e.max(0) as u32);
            x.mul_pow10((-q).max(0) as u32);
            x
        };
        let mut grid = Big::from_u64(1);
        grid.mul_pow10(q.max(0) as u32);
        grid.shl((-p.e).max(0) as u32);

        let (below, _) = scaled(p.mm).div_rem(&grid)?;
        let c_min = below + 1;
        let (above, rem) = scaled(p.mp).div_rem(&grid)?;
        let c_max = if rem.is_zero() {
            above.checked_sub(1)?
        } else {
            above
        };
        if c_min > c_max {
            continue;
        }
        let (floor, rem) = scaled(p.mv).div_rem(&grid)?;
        let mut twice = rem;
        twice.shl(1);
        let nearest = match twice.cmp(&grid) {
            std::cmp::Ordering::Less => floor,
            std::cmp::Ordering::Greater => floor + 1,
            std::cmp::Ordering::Equal => floor + (floor & 1),
        };
        return Some((nearest.clamp(c_min, c_max), q));
    }
    None
}

/// Just enough of an unsigned big integer for [`exact_shortest`]:
/// little-endian 32-bit limbs.
#[derive(Debug, Clone)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(k) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, n: u32) {
        // 5^13 is the largest power of five in a u32.
        let mut fives = n;
        while fives >= 13 {
            self.mul_small(1_220_703_125);
            fives -= 13;
        }
        self.mul_small(5u32.pow(fives));
        self.shl(n);
    }

    fn shl(&mut self, bits: u32) {
        if self.is_zero() {
            return;
        }
        let limbs = (bits / 32) as usize;
        let bits = bits % 32;
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`, for `self >= other`.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let t = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            *limb = t.rem_euclid(1 << 32) as u32;
            borrow = i64::from(t < 0);
        }
        self.trim();
    }

    /// Quotient (which must fit in 64 bits) and remainder.
    fn div_rem(mut self, d: &Big) -> Option<(u64, Big)> {
        if d.is_zero() {
            return None;
        }
        let mut shifted = d.clone();
        shifted.shl(64);
        if self.cmp(&shifted) != std::cmp::Ordering::Less {
            return None;
        }
        let mut q = 0u64;
        for bit in (0..64).rev() {
            let mut t = d.clone();
            t.shl(bit);
            if t.cmp(&self) != std::cmp::Ordering::Greater {
                self.sub(&t);
                q |= 1 << bit;
            }
        }
        Some((q, self))
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
            // The shortest digits lie exactly on a rounding bound, which
            // PostgreSQL's Ryu excludes (the standard library would print
            // 9.5e+21 and 7e+22).
            (9.5e21, "9.500000000000001e+21"),
            (7e22, "7.0000000000000004e+22"),
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
            // Exactly halfway between two shortest candidates: ties to even.
            (f32::from_bits(3360259432), "-206325.62"),
            (f32::from_bits(3358943560), "-185765.12"),
            (17.0 / 1024.0, "0.016601562"),
            (19.0 / 1024.0, "0.018554688"),
            (21.0 / 1024.0, "0.020507812"),
            // Shortest candidate on a rounding bound: excluded.
            (f32::from_bits(3455235242), "-5.0899078e+08"),
            (f32::from_bits(1236498050), "1.4701602e+06"),
            (f32::from_bits(3423740464), "-3.8308032e+07"),
        ];
        for &(v, want) in cases {
            assert_eq!(f4(v), want, "{v:e}");
        }
    }

    /// The exact search agrees with the fast path wherever the fast path
    /// cannot be fooled, over many magnitudes (a check of the big-integer
    /// arithmetic the rare cases rely on).
    #[test]
    fn exact_search_agrees_with_fast_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = f64::from_bits(state >> 1);
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let mut fast = [0u8; 20];
            let (n, exp) = shortest_digits(&Shortest::F64(v), &mut fast);
            let parts = Parts::of(&Shortest::F64(v));
            let (c, q) = exact_shortest(&parts, exp - n as i32 + 2).unwrap();
            assert_eq!(c.to_string().as_bytes(), &fast[..n], "{v:e}");
            assert_eq!(q + c.to_string().len() as i32 - 1, exp, "{v:e}");
        }
    }

    /// The exact search is the slow path: typical values must not need it.
    #[test]
    fn exact_search_is_rare() {
        let mut unsure = 0;
        let mut total = 0;
        for i in 1..20_000u32 {
            // Decimals as people type them, integers, binary fractions.
            for v in [
                f64::from(i) / 100.0,
                f64::from(i) * 1.1,
                f64::from(i),
                f64::from(i) / 1024.0,
                1.0 / f64::from(i),
            ] {
                for value in [Shortest::F64(v), Shortest::F32(v as f32)] {
                    let mut sci = StackBuf::<F64_MAX_LEN>::new();
                    let _ = match value {
                        Shortest::F64(f) => write!(sci, "{f:e}"),
                        Shortest::F32(f) => write!(sci, "{f:e}"),
                    };
                    let n = sci
                        .as_bytes()
                        .iter()
                        .take_while(|&&b| b != b'e')
                        .filter(|b| b.is_ascii_digit())
                        .count();
                    total += 1;
                    if matches!(
                        check_fast_path(&Parts::of(&value), n as u32),
                        FastPath::Unsure
                    ) {
                        unsure += 1;
                    }
                }
            }
        }
        assert!(unsure * 1000 < total, "{unsure} of {total}");
    }

    /// Ties settled by rounding agree with the exact search.
    #[test]
    fn tie_rounding_agrees_with_exact_search() {
        let mut ties = 0;
        for i in 1..5000u32 {
            let v = Shortest::F32(i as f32 / 1024.0 + 16.0);
            let mut fast = [0u8; 20];
            let (n, exp) = shortest_digits(&v, &mut fast);
            let (c, q) = exact_shortest(&Parts::of(&v), exp - n as i32 + 2).unwrap();
            assert_eq!(c.to_string().as_bytes(), &fast[..n]);
            assert_eq!(q + c.to_string().len() as i32 - 1, exp);
            let mut sci = StackBuf::<F64_MAX_LEN>::new();
            let _ = write!(sci, "{:e}", i as f32 / 1024.0 + 16.0);
            let std_digits = sci
                .as_bytes()
                .iter()
                .take_while(|&&b| b != b'e')
                .filter(|b| b.is_ascii_digit())
                .count();
            let path = check_fast_path(&Parts::of(&v), std_digits as u32);
            ties += usize::from(matches!(path, FastPath::Tie { .. }));
        }
        assert!(ties > 100, "the sample must exercise ties ({ties})");
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
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "22003",
                "\"1e400\" is out of range for type double precision"
            )
        );
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
        assert_eq!(
            narrow_f64(1e300).unwrap_err().message,
            "value out of range: overflow"
        );
        assert_eq!(
            narrow_f64(1e-300).unwrap_err().message,
            "value out of range: underflow"
        );
    }
}
