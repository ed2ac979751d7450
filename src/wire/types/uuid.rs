//! uuid: `uuid_in`'s accepted spellings and lowercase hyphenated output.

use bytes::BufMut;

use super::invalid_syntax;
use crate::wire::error::PgError;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// uuid_in: 32 hex digits in either case, optionally in braces, with an
/// optional hyphen after any group of four digits (not after the last).
/// No surrounding whitespace.
pub(super) fn parse_text(input: &str) -> Result<[u8; 16], PgError> {
    parse_bytes(input.as_bytes()).ok_or_else(|| invalid_syntax("uuid", input))
}

fn parse_bytes(s: &[u8]) -> Option<[u8; 16]> {
    let (s, braces) = match s.strip_prefix(b"{") {
        Some(inner) => (inner, true),
        None => (s, false),
    };
    let mut raw = [0u8; 16];
    let mut i = 0;
    for (n, byte) in raw.iter_mut().enumerate() {
        let hi = hex_value(*s.get(i)?)?;
        let lo = hex_value(*s.get(i + 1)?)?;
        *byte = (hi << 4) | lo;
        i += 2;
        if n % 2 == 1 && n < 15 && s.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    if braces {
        if s.get(i) != Some(&b'}') {
            return None;
        }
        i += 1;
    }
    (i == s.len()).then_some(raw)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub(super) fn put_text<B: BufMut>(out: &mut B, raw: &[u8; 16]) {
    let mut text = [0u8; 36];
    let mut at = 0;
    for (n, byte) in raw.iter().enumerate() {
        if matches!(n, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    out.put_slice(&text);
}

pub(super) fn to_text_string(raw: &[u8; 16]) -> String {
    let mut out = Vec::with_capacity(36);
    put_text(&mut out, raw);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    /// Spellings PostgreSQL 15.18 accepts, all printing CANONICAL.
    #[test]
    fn accepts_pg_spellings() {
        for input in [
            CANONICAL,
            "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11",
        ] {
            assert_eq!(
                to_text_string(&parse_text(input).unwrap()),
                CANONICAL,
                "{input}"
            );
        }
    }

    /// Spellings PostgreSQL 15.18 rejects.
    #[test]
    fn rejects_like_pg() {
        for input in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            " a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11 ",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0e-ebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11-",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "g0eebc999c0b4ef8bb6d6bb9bd380a11",
            "",
            "{}",
        ] {
            let e = parse_text(input).unwrap_err();
            assert_eq!(e.code, "22P02");
            assert_eq!(
                e.message,
                format!("invalid input syntax for type uuid: \"{input}\"")
            );
        }
    }

    /// uuid_send golden bytes from PostgreSQL 15.18.
    #[test]
    fn raw_bytes() {
        let raw = parse_text(CANONICAL).unwrap();
        assert_eq!(
            raw,
            [
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
                0x0a, 0x11
            ]
        );
    }
}
