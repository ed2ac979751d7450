//! Integers (int2, int4, int8, oid) and booleans: PostgreSQL's input rules
//! (`pg_strtoint*`, `oidin`, `boolin`) and an allocation-free decimal
//! formatter.

use bytes::{BufMut, BytesMut};

use super::{invalid_syntax, skip_pg_space, take_sign, trim_pg_space};
use crate::wire::error::{PgError, sqlstate};

/// Longest decimal i64: `-9223372036854775808`.
pub(super) const I64_MAX_LEN: usize = 20;

/// The integer types, with their ranges and PostgreSQL's names for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    Int2,
    Int4,
    Int8,
    /// Unsigned 32 bits; negative int4 values wrap as in PostgreSQL's casts.
    Oid,
}

impl IntKind {
    /// The name `invalid input syntax for type ...` uses.
    pub fn sql_name(self) -> &'static str {
        match self {
            IntKind::Int2 => "smallint",
            IntKind::Int4 => "integer",
            IntKind::Int8 => "bigint",
            IntKind::Oid => "oid",
        }
    }

    /// Range-checks a value converted from another type (a cast).
    pub fn check(self, v: i64) -> Result<i64, PgError> {
        let ok = match self {
            IntKind::Int2 => i16::try_from(v).is_ok(),
            IntKind::Int4 => i32::try_from(v).is_ok(),
            IntKind::Int8 => true,
            IntKind::Oid => {
                return if (0..=i64::from(u32::MAX)).contains(&v) {
                    Ok(v)
                } else if let Ok(negative) = i32::try_from(v) {
                    Ok(i64::from(negative as u32))
                } else {
                    Err(self.cast_out_of_range())
                };
            }
        };
        if ok {
            Ok(v)
        } else {
            Err(self.cast_out_of_range())
        }
    }

    /// 22003 as a cast reports it: `integer out of range`.
    pub fn cast_out_of_range(self) -> PgError {
        let message = match self {
            IntKind::Int2 => "smallint out of range",
            IntKind::Int4 => "integer out of range",
            IntKind::Int8 => "bigint out of range",
            IntKind::Oid => "OID out of range",
        };
        PgError::error(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, message)
    }

    /// 22003 as the input function reports it: `value "..." is out of
    /// range for type integer`.
    pub(super) fn input_out_of_range(self, input: &str) -> PgError {
        PgError::error(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "value \"{input}\" is out of range for type {}",
                self.sql_name()
            ),
        )
    }
}

/// Parses integer input text the way PostgreSQL 15 does: optional
/// surrounding whitespace, an optional sign, decimal digits. Overflow is
/// reported as out of range even when garbage follows the digits.
pub(super) fn parse(input: &str, kind: IntKind) -> Result<i64, PgError> {
    let bytes = input.as_bytes();
    let mut i = 0;
    skip_pg_space(bytes, &mut i);
    let negative = take_sign(bytes, &mut i);
    let digits_start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        match magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(d - b'0')))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return Err(invalid_syntax(kind.sql_name(), input));
    }
    let value = if overflow {
        None
    } else {
        signed_in_range(kind, negative, magnitude)
    };
    let Some(value) = value else {
        return Err(kind.input_out_of_range(input));
    };
    skip_pg_space(bytes, &mut i);
    if i != bytes.len() {
        return Err(invalid_syntax(kind.sql_name(), input));
    }
    Ok(value)
}

fn signed_in_range(kind: IntKind, negative: bool, magnitude: u64) -> Option<i64> {
    let (min_magnitude, max) = match kind {
        IntKind::Int2 => (1u64 << 15, i64::from(i16::MAX)),
        IntKind::Int4 => (1u64 << 31, i64::from(i32::MAX)),
        IntKind::Int8 => (1u64 << 63, i64::MAX),
        // oidin (strtoul): negative values wrap if they fit in an int4.
        IntKind::Oid => {
            return if negative {
                (magnitude <= 1u64 << 31).then(|| i64::from((magnitude as u32).wrapping_neg()))
            } else {
                u32::try_from(magnitude).ok().map(i64::from)
            };
        }
    };
    if negative {
        (magnitude <= min_magnitude).then(|| 0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).ok().filter(|v| *v <= max)
    }
}

/// "00" "01" ... "99": two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Formats `v` in decimal into `buf`, returning the written tail.
pub(super) fn format_i64(v: i64, buf: &mut [u8; I64_MAX_LEN]) -> &str {
    let mut n = v.unsigned_abs();
    let mut at = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// Appends `v` in decimal.
pub(super) fn put_i64(out: &mut BytesMut, v: i64) {
    let mut buf = [0u8; I64_MAX_LEN];
    out.put_slice(format_i64(v, &mut buf).as_bytes());
}

/// boolin: whitespace-trimmed, case-insensitive `t`/`true`/`yes`/`on`/`1`
/// and their false counterparts, any unambiguous prefix accepted.
pub(super) fn parse_bool(input: &str) -> Option<bool> {
    let s = trim_pg_space(input).as_bytes();
    let is_prefix_of = |word: &[u8]| {
        !s.is_empty() && s.len() <= word.len() && s.eq_ignore_ascii_case(&word[..s.len()])
    };
    match s.first().map(u8::to_ascii_lowercase)? {
        b't' if is_prefix_of(b"true") => Some(true),
        b'f' if is_prefix_of(b"false") => Some(false),
        b'y' if is_prefix_of(b"yes") => Some(true),
        b'n' if is_prefix_of(b"no") => Some(false),
        // "o" alone is ambiguous between on and off.
        b'o' if s.len() >= 2 && is_prefix_of(b"on") => Some(true),
        b'o' if s.len() >= 2 && is_prefix_of(b"off") => Some(false),
        b'1' if s.len() == 1 => Some(true),
        b'0' if s.len() == 1 => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: i64) -> String {
        let mut buf = [0u8; I64_MAX_LEN];
        format_i64(v, &mut buf).to_owned()
    }

    #[test]
    fn formats_extremes() {
        for v in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            -101,
            i64::MAX,
            i64::MIN,
            1234567890,
        ] {
            assert_eq!(fmt(v), v.to_string());
        }
    }

    #[test]
    fn parses_like_pg_strtoint() {
        assert_eq!(parse(" 12 ", IntKind::Int4).unwrap(), 12);
        assert_eq!(parse("+5", IntKind::Int2).unwrap(), 5);
        assert_eq!(
            parse("-2147483648", IntKind::Int4).unwrap(),
            i64::from(i32::MIN)
        );
        assert_eq!(parse("-32768", IntKind::Int2).unwrap(), i64::from(i16::MIN));
        assert_eq!(
            parse("9223372036854775807", IntKind::Int8).unwrap(),
            i64::MAX
        );
        assert_eq!(
            parse("-9223372036854775808", IntKind::Int8).unwrap(),
            i64::MIN
        );
        assert_eq!(parse("007", IntKind::Int8).unwrap(), 7);
    }

    #[test]
    fn reports_pg_messages() {
        let e = parse("2147483648", IntKind::Int4).unwrap_err();
        assert_eq!(e.code, "22003");
        assert_eq!(
            e.message,
            "value \"2147483648\" is out of range for type integer"
        );
        // Overflow wins over trailing garbage, as in PostgreSQL 15.
        let e = parse("99999999999x", IntKind::Int4).unwrap_err();
        assert_eq!(e.code, "22003");
        for bad in ["", " ", "-", "+", "12x", "1.0", "1 2", "0x10", "--1"] {
            let e = parse(bad, IntKind::Int4).unwrap_err();
            assert_eq!(e.code, "22P02", "{bad:?}");
            assert_eq!(
                e.message,
                format!("invalid input syntax for type integer: \"{bad}\"")
            );
        }
        assert_eq!(
            parse("40000", IntKind::Int2).unwrap_err().message,
            "value \"40000\" is out of range for type smallint"
        );
        assert_eq!(
            parse("9223372036854775808", IntKind::Int8)
                .unwrap_err()
                .message,
            "value \"9223372036854775808\" is out of range for type bigint"
        );
        assert_eq!(
            parse("", IntKind::Int8).unwrap_err().message,
            "invalid input syntax for type bigint: \"\""
        );
    }

    #[test]
    fn oid_wraps_negative_int4() {
        assert_eq!(parse("-1", IntKind::Oid).unwrap(), 4294967295);
        assert_eq!(parse("-2147483648", IntKind::Oid).unwrap(), 2147483648);
        assert_eq!(parse(" 7 ", IntKind::Oid).unwrap(), 7);
        assert_eq!(parse("4294967295", IntKind::Oid).unwrap(), 4294967295);
        for bad in ["4294967296", "-2147483649", "-4294967295"] {
            let e = parse(bad, IntKind::Oid).unwrap_err();
            assert_eq!(
                e.message,
                format!("value \"{bad}\" is out of range for type oid")
            );
        }
        assert_eq!(parse("", IntKind::Oid).unwrap_err().code, "22P02");
        assert_eq!(IntKind::Oid.check(-1).unwrap(), 4294967295);
        assert!(IntKind::Oid.check(1 << 32).is_err());
    }

    #[test]
    fn cast_range_checks() {
        assert_eq!(IntKind::Int2.check(32767).unwrap(), 32767);
        assert_eq!(
            IntKind::Int2.check(32768).unwrap_err().message,
            "smallint out of range"
        );
        assert_eq!(
            IntKind::Int4.check(1 << 31).unwrap_err().message,
            "integer out of range"
        );
        assert_eq!(IntKind::Int4.check(-(1 << 31)).unwrap(), -(1 << 31));
    }

    #[test]
    fn bool_spellings() {
        for t in ["t", "TRUE", " tr ", "y", "ye", "yes", "on", "1", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t:?}");
        }
        for f in ["f", "fal", "FALSE", "n", "no", "of", "off", "0", " N "] {
            assert_eq!(parse_bool(f), Some(false), "{f:?}");
        }
        for bad in ["", "o", "2", "truex", "yess", "onn", "10", "t r"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }
}
