//! Bind parameter decoding (`wire::types::decode_param`) for every OID pgiris
//! knows (and arbitrary ones) in both formats.
//!
//! Input: byte 0 picks the OID (from the known list, or the next four bytes
//! as a raw OID when it is 0xff), byte 1 bit 0 the format, the rest is the
//! value.
//!
//! Beyond "no panic": a decoded value is canonical: encoding it back in the
//! type's text form (and binary form, where the type has one) and decoding
//! that gives the same value; errors carry a five-character SQLSTATE of the
//! data-exception (22), protocol (08P01) or feature (0A000) classes; no
//! allocation grows beyond a constant over the value's size.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgiris::backend::Value;
use pgiris::wire::types::{Format, decode_param, encode_binary, encode_text, supports_binary};
use pgiris_fuzz::{PARAM_OIDS as OIDS, assert_allocations_bounded, reset_allocations};

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

fn check_error(e: &pgiris::wire::PgError) {
    assert_eq!(e.code.len(), 5);
    assert!(
        e.code.starts_with("22") || e.code == "08P01" || e.code == "0A000" || e.code == "XX000",
        "unexpected SQLSTATE {} ({})",
        e.code,
        e.message
    );
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (oid, rest) = if data[0] == 0xff && data.len() >= 6 {
        (
            u32::from_le_bytes([data[2], data[3], data[4], data[5]]),
            &data[6..],
        )
    } else {
        (OIDS[usize::from(data[0]) % OIDS.len()], &data[2..])
    };
    let format = if data[1] & 1 == 1 {
        Format::Binary
    } else {
        Format::Text
    };
    reset_allocations();
    let decoded = decode_param(rest, oid, format);
    assert_allocations_bounded("decode_param", rest.len(), 8, 256 * 1024);
    let value = match decoded {
        Ok(v) => v,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    assert!(value != Value::Null);
    let mut text = BytesMut::new();
    encode_text(value.as_cell(), oid, &mut text)
        .unwrap_or_else(|e| panic!("{value:?} as {oid} has no text form: {e:?}"));
    let again = decode_param(&text, oid, Format::Text)
        .unwrap_or_else(|e| panic!("{value:?} as {oid} printed {text:?}, which is refused: {e:?}"));
    assert!(
        same(&again, &value),
        "{oid}: {value:?} -> {text:?} -> {again:?}"
    );
    if supports_binary(oid) {
        let mut bin = BytesMut::new();
        encode_binary(value.as_cell(), oid, &mut bin)
            .unwrap_or_else(|e| panic!("{value:?} as {oid} has no binary form: {e:?}"));
        let again = decode_param(&bin, oid, Format::Binary)
            .unwrap_or_else(|e| panic!("{value:?} as {oid} sent {bin:?}, which is refused: {e:?}"));
        assert!(
            same(&again, &value),
            "{oid}: {value:?} -> {bin:?} -> {again:?}"
        );
    }
});
