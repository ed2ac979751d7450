//! bytea: hex output (`bytea_output = hex`) and `byteain`'s two input
//! formats, hex (`\x...`) and escape.

use bytes::{BufMut, BytesMut};

use crate::wire::error::{PgError, sqlstate};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `\x` and two lowercase hex digits per byte.
pub(super) fn put_hex(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(2 + 2 * bytes.len());
    out.put_slice(b"\\x");
    for &b in bytes {
        out.put_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
    }
}

/// byteain: `\x` then hex digit pairs (whitespace allowed between pairs),
/// or the escape format (`\\` and `\ooo` octal escapes, other bytes as is).
pub(super) fn parse_text(input: &str) -> Result<Vec<u8>, PgError> {
    match input.as_bytes() {
        [b'\\', b'x', hex @ ..] => parse_hex(hex),
        escaped => parse_escape(escaped),
    }
}

fn parse_hex(s: &[u8]) -> Result<Vec<u8>, PgError> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut i = 0;
    while i < s.len() {
        if matches!(s[i], b' ' | b'\n' | b'\t' | b'\r') {
            i += 1;
            continue;
        }
        let hi = hex_digit(s, i)?;
        if i + 1 >= s.len() {
            return Err(PgError::error(
                sqlstate::INVALID_PARAMETER_VALUE,
                "invalid hexadecimal data: odd number of digits",
            ));
        }
        let lo = hex_digit(s, i + 1)?;
        out.push((hi << 4) | lo);
        i += 2;
    }
    Ok(out)
}

/// The value of the hex digit at `s[i]`, or PostgreSQL's error naming the
/// offending character.
fn hex_digit(s: &[u8], i: usize) -> Result<u8, PgError> {
    let c = s.get(i).copied().unwrap_or(0);
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => {
            let rest = s.get(i..).unwrap_or_default();
            let width = match c {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            let shown = String::from_utf8_lossy(rest.get(..width).unwrap_or(rest));
            Err(PgError::error(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("invalid hexadecimal digit: \"{shown}\""),
            ))
        }
    }
}

fn parse_escape(s: &[u8]) -> Result<Vec<u8>, PgError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match (s.get(i + 1), s.get(i + 2), s.get(i + 3)) {
            (Some(&a @ b'0'..=b'3'), Some(&b @ b'0'..=b'7'), Some(&c @ b'0'..=b'7')) => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                i += 4;
            }
            (Some(b'\\'), _, _) => {
                out.push(b'\\');
                i += 2;
            }
            _ => {
                return Err(PgError::error(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    "invalid input syntax for type bytea",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_output() {
        let mut out = BytesMut::new();
        put_hex(&mut out, &[0x00, 0xff, 0x0a, 0xb1]);
        assert_eq!(&out[..], b"\\x00ff0ab1");
        let mut out = BytesMut::new();
        put_hex(&mut out, &[]);
        assert_eq!(&out[..], b"\\x");
    }

    /// Inputs and results from PostgreSQL 15.18.
    #[test]
    fn byteain_matches_postgres() {
        assert_eq!(parse_text("\\x01 02 0A").unwrap(), [1, 2, 10]);
        assert_eq!(parse_text("\\x").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_text("ab\\\\c\\001").unwrap(), b"ab\\c\x01");
        assert_eq!(parse_text("plain").unwrap(), b"plain");
        assert_eq!(parse_text("\\377\\000").unwrap(), [0xff, 0]);
        let e = parse_text("\\x0").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22023", "invalid hexadecimal data: odd number of digits")
        );
        let e = parse_text("\\x0g").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22023", "invalid hexadecimal digit: \"g\"")
        );
        let e = parse_text("\\xé0").unwrap_err();
        assert_eq!(e.message, "invalid hexadecimal digit: \"é\"");
        for bad in ["\\X01", "a\\9", "\\", "\\400", "\\12"] {
            let e = parse_text(bad).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                ("22P02", "invalid input syntax for type bytea"),
                "{bad}"
            );
        }
    }
}
