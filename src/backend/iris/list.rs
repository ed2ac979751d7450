//! The `$LIST` codec: how IRIS encodes every value on the SuperServer wire.
//!
//! A `$LIST` is a concatenation of items. Each item is a length header, a
//! type byte and a payload (research §2.2):
//!
//! * 1-byte header `[L]`, `L = payload + 2`, while `L <= 255`;
//! * 3-byte header `00 [n lo][n hi]`, `n = payload + 1`, while `n <= 0xFFFF`;
//! * 7-byte header `00 00 00 [n: u32 LE]`, `n = payload + 1`;
//! * the single byte `01`: an undefined item (no type, no payload).
//!
//! Type codes: 0 placeholder, 1 8-bit string, 2 UTF-16LE string, 4/5
//! non-negative/negative integer, 6/7 decimal, 8 IEEE double (or compact f32),
//! 9 compact double, 25/26 object references; 32–63 are the same types "by
//! reference". An empty type-1 item is SQL NULL and a type-1 item holding one
//! NUL byte is the empty string `''`.
//!
//! The writer produces the minimal forms the open-source clients produce. The
//! reader accepts everything a server or another client may send: non-minimal
//! integers (`05 04 ff ff 00`), any header form for any length, compact
//! floats, nested lists (read a string item's payload with a new
//! [`ListReader`]) and unknown type codes (kept raw).

use std::fmt;

/// Type codes of `$LIST` items.
pub mod ty {
    pub const PLACEHOLDER: u8 = 0;
    pub const STR8: u8 = 1;
    pub const STR16: u8 = 2;
    pub const POS_INT: u8 = 4;
    pub const NEG_INT: u8 = 5;
    pub const POS_DECIMAL: u8 = 6;
    pub const NEG_DECIMAL: u8 = 7;
    pub const DOUBLE: u8 = 8;
    pub const COMPACT_DOUBLE: u8 = 9;
    pub const OREF8: u8 = 25;
    pub const OREF16: u8 = 26;
    /// Types 32..=63 are the types above passed by reference.
    pub const BY_REF: u8 = 32;
}

/// A malformed `$LIST`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("$LIST item at byte {at} is truncated")]
    Truncated { at: usize },
    #[error("$LIST integer at byte {at} does not fit in 128 bits")]
    IntegerOverflow { at: usize },
    #[error("$LIST double at byte {at} has {len} payload bytes")]
    BadDouble { at: usize, len: usize },
    #[error("$LIST ended where {expected} was expected")]
    Missing { expected: &'static str },
    #[error("$LIST item {found} where {expected} was expected")]
    Unexpected {
        expected: &'static str,
        found: String,
    },
}

/// One decoded item, borrowing string payloads from the list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    /// The single byte `01`: "not supplied".
    Undefined,
    /// SQL NULL: an empty type-1 or type-2 item, or a type-0 placeholder.
    Null,
    /// A type-1 string: raw 8-bit bytes (Latin-1 code points). `''` is the
    /// single byte 0 (see [`Item::is_empty_string`]).
    Str8(&'a [u8]),
    /// A type-2 string: UTF-16LE code units.
    Str16(&'a [u8]),
    Int(i64),
    /// An integer outside `i64` (only non-standard encodings produce one).
    BigInt(i128),
    /// `mantissa × 10^exponent`.
    Decimal {
        mantissa: i128,
        exponent: i8,
    },
    Double(f64),
    /// An object reference (stream handles): 8-bit or UTF-16 text.
    Oref8(&'a [u8]),
    Oref16(&'a [u8]),
    /// A type code this codec does not interpret.
    Other {
        ty: u8,
        payload: &'a [u8],
    },
}

impl Item<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Item::Null | Item::Undefined)
    }

    /// IRIS's `''`: a string item holding exactly one NUL.
    pub fn is_empty_string(&self) -> bool {
        match self {
            Item::Str8(b) => *b == [0],
            Item::Str16(b) => *b == [0, 0],
            _ => false,
        }
    }

    /// The item as an integer, accepting integral decimals and digit strings
    /// (servers are free to choose the form).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Item::Int(i) => Some(i),
            Item::BigInt(i) => i64::try_from(i).ok(),
            Item::Decimal { mantissa, exponent } if exponent >= 0 => {
                let scale = 10i128.checked_pow(u32::try_from(exponent).ok()?)?;
                i64::try_from(mantissa.checked_mul(scale)?).ok()
            }
            Item::Str8(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            Item::Null => None,
            _ => None,
        }
    }

    /// The item as text: strings decoded (Latin-1 or UTF-16), numbers in
    /// their plain decimal form, NULL as `None`, `''` as "".
    pub fn to_text(&self) -> Option<String> {
        match *self {
            Item::Undefined | Item::Null => None,
            Item::Str8(b) | Item::Oref8(b) => Some(if b == [0] {
                String::new()
            } else {
                latin1_to_string(b)
            }),
            Item::Str16(b) | Item::Oref16(b) => Some(if b == [0, 0] {
                String::new()
            } else {
                utf16le_to_string(b)
            }),
            Item::Int(i) => Some(i.to_string()),
            Item::BigInt(i) => Some(i.to_string()),
            Item::Decimal { mantissa, exponent } => Some(decimal_to_string(mantissa, exponent)),
            Item::Double(f) => Some(f.to_string()),
            Item::Other { payload, .. } => Some(latin1_to_string(payload)),
        }
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Undefined => f.write_str("undefined"),
            Item::Null => f.write_str("NULL"),
            Item::Str8(_) | Item::Str16(_) | Item::Oref8(_) | Item::Oref16(_) => {
                write!(f, "string {:?}", self.to_text().unwrap_or_default())
            }
            Item::Int(i) => write!(f, "integer {i}"),
            Item::BigInt(i) => write!(f, "integer {i}"),
            Item::Decimal { .. } => write!(f, "decimal {}", self.to_text().unwrap_or_default()),
            Item::Double(d) => write!(f, "double {d}"),
            Item::Other { ty, .. } => write!(f, "item of type {ty}"),
        }
    }
}

/// Latin-1 bytes to a String (every byte is the code point of the same value).
pub fn latin1_to_string(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8 as is.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// UTF-16LE bytes to a String; unpaired surrogates become U+FFFD and an odd
/// trailing byte is dropped.
pub fn utf16le_to_string(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// `mantissa × 10^exponent` in plain notation, as PostgreSQL prints numeric:
/// `1234, -2` -> "12.34", `1, 2` -> "100", `5, -1` -> "0.5".
pub fn decimal_to_string(mantissa: i128, exponent: i8) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    if exponent >= 0 {
        if mantissa == 0 {
            return "0".into();
        }
        let zeros = "0".repeat(usize::from(exponent.unsigned_abs()));
        return format!("{sign}{digits}{zeros}");
    }
    let scale = usize::from(exponent.unsigned_abs());
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale - digits.len() + 1))
    } else {
        digits
    };
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    format!("{sign}{int_part}.{frac_part}")
}

/// Reads the items of a `$LIST` one by one.
#[derive(Debug, Clone)]
pub struct ListReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ListReader<'a> {
    pub fn new(data: &'a [u8]) -> ListReader<'a> {
        ListReader { data, pos: 0 }
    }

    /// Byte offset of the next item.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// The next item, or `None` at the end of the list.
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>, ListError> {
        if self.is_empty() {
            return Ok(None);
        }
        let at = self.pos;
        let (ty, payload, next) = split_item(self.data, at)?;
        self.pos = next;
        decode_item(ty, payload, at).map(Some)
    }

    /// The next item, which must exist.
    pub fn item(&mut self, expected: &'static str) -> Result<Item<'a>, ListError> {
        self.next_item()?.ok_or(ListError::Missing { expected })
    }

    /// The next item as an integer (see [`Item::as_i64`]); NULL reads as 0,
    /// as the drivers do.
    pub fn int(&mut self, expected: &'static str) -> Result<i64, ListError> {
        let item = self.item(expected)?;
        if item.is_null() {
            return Ok(0);
        }
        item.as_i64().ok_or_else(|| ListError::Unexpected {
            expected,
            found: item.to_string(),
        })
    }

    /// The next item as text; NULL reads as "".
    pub fn text(&mut self, expected: &'static str) -> Result<String, ListError> {
        Ok(self.item(expected)?.to_text().unwrap_or_default())
    }

    /// Skips `n` items.
    pub fn skip_items(&mut self, n: usize, expected: &'static str) -> Result<(), ListError> {
        for _ in 0..n {
            self.item(expected)?;
        }
        Ok(())
    }
}

impl<'a> Iterator for ListReader<'a> {
    type Item = Result<Item<'a>, ListError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e) => {
                // Stop after an error: the rest cannot be framed.
                self.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

/// Splits the item at `at` into (type, payload, offset of the next item).
/// An undefined item reports type `u8::MAX`.
fn split_item(data: &[u8], at: usize) -> Result<(u8, &[u8], usize), ListError> {
    let truncated = ListError::Truncated { at };
    let first = *data.get(at).ok_or(truncated.clone())?;
    let (header, len_with_type) = match first {
        0 => {
            let lo = *data.get(at + 1).ok_or(truncated.clone())?;
            let hi = *data.get(at + 2).ok_or(truncated.clone())?;
            let n = u16::from_le_bytes([lo, hi]);
            if n != 0 {
                (3usize, usize::from(n))
            } else {
                let b = data.get(at + 3..at + 7).ok_or(truncated.clone())?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (7usize, usize::try_from(n).map_err(|_| truncated.clone())?)
            }
        }
        1 => return Ok((u8::MAX, &[], at + 1)),
        l => (1usize, usize::from(l) - 1),
    };
    if len_with_type == 0 {
        // A long-form header announcing no type byte: treat as undefined.
        return Ok((u8::MAX, &[], at + header));
    }
    let start = at + header;
    let end = start.checked_add(len_with_type).ok_or(truncated.clone())?;
    if end > data.len() {
        return Err(truncated);
    }
    Ok((data[start], &data[start + 1..end], end))
}

fn decode_item(ty: u8, payload: &[u8], at: usize) -> Result<Item<'_>, ListError> {
    if ty == u8::MAX {
        return Ok(Item::Undefined);
    }
    let ty = if (ty::BY_REF..ty::BY_REF + 32).contains(&ty) {
        ty - ty::BY_REF
    } else {
        ty
    };
    Ok(match ty {
        ty::PLACEHOLDER => Item::Null,
        ty::STR8 if payload.is_empty() => Item::Null,
        ty::STR8 => Item::Str8(payload),
        ty::STR16 if payload.is_empty() => Item::Null,
        ty::STR16 => Item::Str16(payload),
        ty::POS_INT | ty::NEG_INT => int_item(decode_int(payload, ty == ty::NEG_INT, at)?),
        ty::POS_DECIMAL | ty::NEG_DECIMAL => match payload.split_first() {
            None => Item::Decimal {
                mantissa: 0,
                exponent: 0,
            },
            Some((&exp, mantissa)) => Item::Decimal {
                mantissa: decode_int(mantissa, ty == ty::NEG_DECIMAL, at)?,
                exponent: exp as i8,
            },
        },
        ty::DOUBLE => Item::Double(decode_double(payload, at)?),
        ty::COMPACT_DOUBLE => {
            if payload.len() > 8 {
                return Err(ListError::BadDouble {
                    at,
                    len: payload.len(),
                });
            }
            Item::Double(f64_left_padded(payload))
        }
        ty::OREF8 => Item::Oref8(payload),
        ty::OREF16 => Item::Oref16(payload),
        other => Item::Other { ty: other, payload },
    })
}

fn int_item(v: i128) -> Item<'static> {
    match i64::try_from(v) {
        Ok(i) => Item::Int(i),
        Err(_) => Item::BigInt(v),
    }
}

/// Type 4: unsigned little-endian. Type 5: the same minus 256^len (so an
/// empty payload is -1). Redundant high bytes (0x00 / 0xFF) are accepted.
fn decode_int(payload: &[u8], negative: bool, at: usize) -> Result<i128, ListError> {
    let pad = if negative { 0xFF } else { 0x00 };
    let mut len = payload.len();
    while len > 0 && payload[len - 1] == pad {
        len -= 1;
    }
    let bytes = &payload[..len];
    if bytes.len() > 16 {
        return Err(ListError::IntegerOverflow { at });
    }
    let mut magnitude: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        magnitude |= u128::from(b) << (8 * i);
    }
    if !negative {
        return i128::try_from(magnitude).map_err(|_| ListError::IntegerOverflow { at });
    }
    // value = magnitude - 256^len, computed without overflowing at len = 16.
    if bytes.len() == 16 {
        // magnitude - 2^128 == (magnitude as i128) when the top bit is set.
        if magnitude >> 127 == 1 {
            return Ok(magnitude as i128);
        }
        return Err(ListError::IntegerOverflow { at });
    }
    let base = 1i128 << (8 * bytes.len());
    Ok(magnitude as i128 - base)
}

fn decode_double(payload: &[u8], at: usize) -> Result<f64, ListError> {
    match payload.len() {
        0 => Ok(0.0),
        // Compact mode: an f32 whose low-order zero bytes were dropped.
        1..=4 => {
            let mut b = [0u8; 4];
            b[4 - payload.len()..].copy_from_slice(payload);
            Ok(f64::from(f32::from_le_bytes(b)))
        }
        5..=8 => Ok(f64_left_padded(payload)),
        len => Err(ListError::BadDouble { at, len }),
    }
}

fn f64_left_padded(payload: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    let n = payload.len().min(8);
    b[8 - n..].copy_from_slice(&payload[..n]);
    f64::from_le_bytes(b)
}

/// Builds a `$LIST` in the minimal forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListWriter {
    buf: Vec<u8>,
}

impl ListWriter {
    pub fn new() -> ListWriter {
        ListWriter::default()
    }

    /// Appends to an existing buffer (cleared first).
    pub fn reuse(mut buf: Vec<u8>) -> ListWriter {
        buf.clear();
        ListWriter { buf }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn header(&mut self, ty: u8, payload_len: usize) {
        if payload_len + 2 <= 0xFF {
            self.buf.push((payload_len + 2) as u8);
        } else if payload_len < 0xFFFF {
            self.buf.push(0);
            self.buf
                .extend_from_slice(&((payload_len + 1) as u16).to_le_bytes());
        } else {
            // Payloads beyond 4 GiB cannot be framed; callers bound their
            // inputs far below that (IRIS strings are ~3.6 M characters).
            let n = u32::try_from(payload_len + 1).unwrap_or(u32::MAX);
            self.buf.extend_from_slice(&[0, 0, 0]);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
        self.buf.push(ty);
    }

    /// Appends items that are already encoded.
    pub fn extend_items(&mut self, items: &[u8]) {
        self.buf.extend_from_slice(items);
    }

    /// An item of any type with a raw payload.
    pub fn push_raw(&mut self, ty: u8, payload: &[u8]) {
        self.header(ty, payload.len());
        self.buf.extend_from_slice(payload);
    }

    /// `01`: parameter not supplied.
    pub fn push_undefined(&mut self) {
        self.buf.push(1);
    }

    /// SQL NULL: `02 01`.
    pub fn push_null(&mut self) {
        self.buf.extend_from_slice(&[2, ty::STR8]);
    }

    /// IRIS's `''`: `03 01 00`.
    pub fn push_empty_string(&mut self) {
        self.buf.extend_from_slice(&[3, ty::STR8, 0]);
    }

    /// A string: type 1 (Latin-1) when every character is at most U+00FF,
    /// otherwise type 2 (UTF-16LE). "" becomes `''`, never NULL.
    pub fn push_str(&mut self, s: &str) {
        if s.is_empty() {
            self.push_empty_string();
        } else if s.is_ascii() {
            self.push_raw(ty::STR8, s.as_bytes());
        } else if s.chars().all(|c| u32::from(c) <= 0xFF) {
            let n = s.chars().count();
            self.header(ty::STR8, n);
            self.buf.extend(s.chars().map(|c| u32::from(c) as u8));
        } else {
            let n = s.encode_utf16().count() * 2;
            self.header(ty::STR16, n);
            for unit in s.encode_utf16() {
                self.buf.extend_from_slice(&unit.to_le_bytes());
            }
        }
    }

    /// Bytes as a type-1 item; an empty slice becomes `''` (NULL is
    /// [`push_null`](Self::push_null)).
    pub fn push_bytes(&mut self, b: &[u8]) {
        if b.is_empty() {
            self.push_empty_string();
        } else {
            self.push_raw(ty::STR8, b);
        }
    }

    /// A nested list, sent as a type-1 item whose payload is the list.
    pub fn push_list(&mut self, list: &[u8]) {
        self.push_raw(ty::STR8, list);
    }

    pub fn push_int(&mut self, v: i64) {
        let (ty, bytes, len) = int_payload(i128::from(v));
        self.push_raw(ty, &bytes[..len]);
    }

    pub fn push_bool(&mut self, b: bool) {
        self.push_int(i64::from(b));
    }

    /// `mantissa × 10^exponent` as type 6 / 7.
    pub fn push_decimal(&mut self, mantissa: i64, exponent: i8) {
        let (ty, bytes, len) = int_payload(i128::from(mantissa));
        let ty = if ty == ty::NEG_INT {
            ty::NEG_DECIMAL
        } else {
            ty::POS_DECIMAL
        };
        self.header(ty, len + 1);
        self.buf.push(exponent as u8);
        self.buf.extend_from_slice(&bytes[..len]);
    }

    /// A double: 8 bytes of type 8, or with `compact` (the server announced
    /// compact doubles) an f32 or f64 with low-order zero bytes dropped.
    pub fn push_f64(&mut self, v: f64, compact: bool) {
        if !compact {
            self.push_raw(ty::DOUBLE, &v.to_le_bytes());
            return;
        }
        let as_f32 = v as f32;
        if f64::from(as_f32) == v {
            let b = as_f32.to_le_bytes();
            let skip = b.iter().take_while(|&&x| x == 0).count();
            self.push_raw(ty::DOUBLE, &b[skip..]);
        } else {
            let b = v.to_le_bytes();
            let skip = b.iter().take_while(|&&x| x == 0).count();
            self.push_raw(ty::COMPACT_DOUBLE, &b[skip..]);
        }
    }
}

/// Minimal integer payload: (type, bytes, length used).
fn int_payload(v: i128) -> (u8, [u8; 16], usize) {
    let mut out = [0u8; 16];
    if v >= 0 {
        let bytes = v.to_le_bytes();
        let len = 16 - bytes.iter().rev().take_while(|&&b| b == 0).count();
        out[..len].copy_from_slice(&bytes[..len]);
        (ty::POS_INT, out, len)
    } else {
        // Smallest n with v >= -(256^n); payload = v + 256^n in n bytes.
        let mut n = 0usize;
        while n < 15 && v < -(1i128 << (8 * n)) {
            n += 1;
        }
        let payload = v + (1i128 << (8 * n));
        out[..n].copy_from_slice(&payload.to_le_bytes()[..n]);
        (ty::NEG_INT, out, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn one(bytes: &str) -> Item<'static> {
        let data: &'static [u8] = Box::leak(unhex(bytes).into_boxed_slice());
        let mut r = ListReader::new(data);
        let item = r.next_item().unwrap().unwrap();
        assert!(r.is_empty(), "{bytes}: trailing bytes");
        item
    }

    #[test]
    fn integers_match_the_research_vectors() {
        for (v, h) in [
            (0i64, "0204"),
            (42, "03042a"),
            (255, "0304ff"),
            (256, "04040001"),
            (300, "04042c01"),
            (i64::MAX, "0a04ffffffffffffff7f"),
            (-1, "0205"),
            (-2, "0305fe"),
            (-7, "0305f9"),
            (-256, "030500"),
            (-257, "0405fffe"),
            (i64::MIN, "0a050000000000000080"),
        ] {
            let mut w = ListWriter::new();
            w.push_int(v);
            assert_eq!(hex(w.as_bytes()), h, "encode {v}");
            assert_eq!(one(h), Item::Int(v), "decode {h}");
        }
    }

    #[test]
    fn non_minimal_integers_decode() {
        assert_eq!(one("050 4ffff00"), Item::Int(65535));
        assert_eq!(one("040500ff"), Item::Int(-256));
        assert_eq!(one("0404fe ff"), Item::Int(65534));
        assert_eq!(one("0505fe ffff"), Item::Int(-2));
        assert_eq!(
            one("1404 ffffffffffffffffffffffffffffff7f 0000"),
            Item::BigInt(i128::MAX)
        );
        assert!(matches!(
            ListReader::new(&unhex("1404 ffffffffffffffffffffffffffffffff 0101")).next_item(),
            Err(ListError::IntegerOverflow { .. })
        ));
    }

    #[test]
    fn strings_null_and_empty() {
        assert_eq!(one("0201"), Item::Null);
        assert!(one("030100").is_empty_string());
        assert_eq!(one("030100").to_text().as_deref(), Some(""));
        assert_eq!(one("0201").to_text(), None);
        assert_eq!(one("0601 55534552").to_text().as_deref(), Some("USER"));
        assert_eq!(one("070168e96c6c6f").to_text().as_deref(), Some("héllo"));
        assert_eq!(
            one("0c02a9036d00650067006100").to_text().as_deref(),
            Some("Ωmega")
        );
        let mut w = ListWriter::new();
        w.push_str("héllo");
        w.push_str("Ωmega");
        w.push_str("");
        w.push_null();
        assert_eq!(
            hex(w.as_bytes()),
            "070168e96c6c6f0c02a9036d006500670061000301000201"
        );
    }

    #[test]
    fn decimals_and_doubles() {
        let cases = [
            ("0506fed204", "12.34"),
            ("0507fe2efb", "-12.34"),
            ("04060064", "100"),
            ("04060201", "100"),
            ("0406fd01", "0.001"),
        ];
        for (h, text) in cases {
            assert_eq!(one(h).to_text().as_deref(), Some(text), "{h}");
        }
        let mut w = ListWriter::new();
        w.push_decimal(1234, -2);
        w.push_decimal(-1234, -2);
        assert_eq!(hex(w.as_bytes()), "0506fed2040507fe2efb");

        assert_eq!(one("0a080000000000000c40"), Item::Double(3.5));
        assert_eq!(one("04086040"), Item::Double(3.5));
        assert_eq!(one("0408803f"), Item::Double(1.0));
        assert_eq!(one("0208"), Item::Double(0.0));
        match one("030880") {
            Item::Double(d) => assert!(d == 0.0 && d.is_sign_negative()),
            other => panic!("{other:?}"),
        }
        assert_eq!(one("0a099a9999999999b93f"), Item::Double(0.1));

        let mut w = ListWriter::new();
        w.push_f64(3.5, false);
        w.push_f64(3.5, true);
        w.push_f64(0.1, true);
        w.push_f64(-0.0, true);
        assert_eq!(
            hex(w.as_bytes()),
            "0a080000000000000c40040860400a099a9999999999b93f030880"
        );
    }

    #[test]
    fn header_forms_at_their_boundaries() {
        for (len, prefix) in [
            (253usize, "ff01"),
            (254, "00ff0001"),
            (65534, "00ffff01"),
            (65535, "0000000000010001"),
        ] {
            let payload = vec![b'x'; len];
            let mut w = ListWriter::new();
            w.push_raw(ty::STR8, &payload);
            assert!(hex(w.as_bytes()).starts_with(prefix), "{len}");
            let mut r = ListReader::new(w.as_bytes());
            assert_eq!(r.next_item().unwrap(), Some(Item::Str8(&payload)));
            assert!(r.is_empty());
        }
        // A short item written in a long form still reads.
        assert_eq!(one("0003 0001 4142").to_text().as_deref(), Some("AB"));
        assert_eq!(
            one("000000 03000000 01 4142").to_text().as_deref(),
            Some("AB")
        );
    }

    #[test]
    fn undefined_by_reference_and_unknown_types() {
        assert_eq!(one("01"), Item::Undefined);
        assert_eq!(one("032407"), Item::Int(7));
        assert_eq!(
            one("04630102"),
            Item::Other {
                ty: 99,
                payload: &[1, 2]
            }
        );
        assert_eq!(one("0200"), Item::Null);
    }

    #[test]
    fn nested_lists_read_recursively() {
        let body = unhex("0c01 0601 4a444243 0404 2c01");
        let mut r = ListReader::new(&body);
        let Item::Str8(inner) = r.next_item().unwrap().unwrap() else {
            panic!("not a string")
        };
        let items: Vec<_> = ListReader::new(inner).map(|i| i.unwrap()).collect();
        assert_eq!(items, vec![Item::Str8(b"JDBC"), Item::Int(300)]);
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        for bad in ["05 01 41", "00", "00 05", "00 00 00 01", "00 0500 01", "ff"] {
            let data = unhex(bad);
            assert!(
                ListReader::new(&data).next_item().is_err(),
                "{bad} should not decode"
            );
        }
        let data = unhex("0a 08 0000");
        assert!(ListReader::new(&data).next_item().is_err());
        let data = unhex("0b 08 000000000000000000");
        assert!(matches!(
            ListReader::new(&data).next_item(),
            Err(ListError::BadDouble { .. })
        ));
    }

    #[test]
    fn decimal_text_forms() {
        assert_eq!(decimal_to_string(5, -1), "0.5");
        assert_eq!(decimal_to_string(-5, -3), "-0.005");
        assert_eq!(decimal_to_string(0, -2), "0.00");
        assert_eq!(decimal_to_string(0, 3), "0");
        assert_eq!(decimal_to_string(-12, 1), "-120");
    }
}
