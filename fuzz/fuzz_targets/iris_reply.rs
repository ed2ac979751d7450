//! The IRIS reply decoders: SuperServer framing (`frame::read_message`,
//! continued frames, short reads), the handshake and login replies, the
//! metadata, update and row-count replies, error texts and SQLCODEs, the
//! request decoders of the test double, and row values converted into
//! PostgreSQL cells and encoded as the session would.
//!
//! Input: byte 0 picks the decoder, the rest is its input.
//!
//! Beyond "no panic": framing never allocates for bytes that did not arrive
//! (a 256 MB announced length with nothing behind it stays small), a read
//! message holds at most the input; every reply that decodes re-encodes to
//! a body that decodes to the same value (once normalised: encode-then-parse
//! is idempotent); SQLSTATEs are five characters; every cell a row value
//! becomes encodes in text (and in binary when the type has one) or is
//! refused with an error, never a panic.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgiris::backend::iris::frame::read_message;
use pgiris::backend::iris::list::ListReader;
use pgiris::backend::iris::message::ColumnInfo;
use pgiris::backend::iris::message::{
    self, HandshakeReply, LoginFields, LoginReply, encode_metadata, parse_metadata,
};
use pgiris::backend::iris::sqlcode;
use pgiris::backend::iris::types::{self, RowBuffers};
use pgiris::wire::types::{encode_binary_with_typmod, encode_text_with_typmod, supports_binary};
use pgiris_fuzz::{ShortReads, assert_allocations_bounded, reset_allocations};

/// ODBC types IRIS reports, and a few it does not.
const ODBC: [i32; 32] = [
    -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 91, 92,
    93, 1091, 1092, 1093, 99, -99,
];

fn frames(data: &[u8]) {
    let (pattern, stream) =
        data.split_at(usize::from(data.first().copied().unwrap_or(0) % 8).min(data.len()));
    let mut r = ShortReads::new(stream, pattern);
    reset_allocations();
    while let Ok(Some(m)) = read_message(&mut r) {
        assert!(m.body.len() <= stream.len());
        assert_eq!(m.stmt_id & 0x8000_0000, 0);
    }
    // read_to_end's probing may double a buffer past the bytes read.
    assert_allocations_bounded("read_message", stream.len(), 4, 64 * 1024);
}

fn rows(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 6) + 1;
    if rest.len() < 2 * n {
        return;
    }
    let (spec, body) = rest.split_at(2 * n);
    let columns: Vec<ColumnInfo> = spec
        .chunks_exact(2)
        .map(|c| ColumnInfo {
            name: "c".into(),
            odbc_type: ODBC[usize::from(c[0]) % ODBC.len()],
            precision: i64::from(c[1] % 40),
            scale: i64::from(c[1] / 40),
            nullable: 2,
            ..ColumnInfo::default()
        })
        .collect();
    let pg: Vec<_> = columns.iter().map(types::column_for).collect();
    let mut bufs = RowBuffers::new(columns.len());
    let mut r = ListReader::new(body);
    'rows: while !r.is_empty() {
        for (i, col) in columns.iter().enumerate() {
            let Ok(item) = r.item("row value") else {
                break 'rows;
            };
            if bufs.set(i, col.odbc_type, &item).is_err() {
                continue 'rows;
            }
        }
        for (cell, col) in bufs.cells().into_iter().zip(&pg) {
            let mut out = BytesMut::new();
            let _ = encode_text_with_typmod(cell, col.type_oid, col.type_modifier, &mut out);
            if supports_binary(col.type_oid) {
                let _ = encode_binary_with_typmod(cell, col.type_oid, col.type_modifier, &mut out);
            }
        }
    }
}

fn idempotent<T: PartialEq + std::fmt::Debug>(
    what: &str,
    parsed: T,
    encode: impl Fn(&T) -> Vec<u8>,
    parse: impl Fn(&[u8]) -> Option<T>,
) {
    let once = parse(&encode(&parsed))
        .unwrap_or_else(|| panic!("{what}: {parsed:?} re-encoded does not parse"));
    let twice = parse(&encode(&once))
        .unwrap_or_else(|| panic!("{what}: {once:?} re-encoded does not parse"));
    assert_eq!(twice, once, "{what}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 9 {
        0 => frames(body),
        1 => {
            if let Ok(h) = HandshakeReply::parse(body) {
                idempotent("handshake", h, HandshakeReply::encode, |b| {
                    HandshakeReply::parse(b).ok()
                });
            }
        }
        2 => {
            if let Ok(l) = LoginReply::parse(body) {
                idempotent("login reply", l, LoginReply::encode, |b| {
                    LoginReply::parse(b).ok()
                });
            }
        }
        3 => {
            if let Ok(f) = LoginFields::parse(body) {
                idempotent(
                    "login fields",
                    f,
                    |f| f.encode(true),
                    |b| LoginFields::parse(b).ok(),
                );
            }
        }
        4 => {
            for query in [true, false] {
                if let Ok(m) = parse_metadata(body, query) {
                    let shape = m.columns.is_some();
                    idempotent("metadata", m, encode_metadata, |b| {
                        parse_metadata(b, shape).ok()
                    });
                }
            }
        }
        5 => {
            if let Ok((meta, rows)) = message::parse_update_reply(body) {
                let again = message::encode_update_reply(&meta.params, meta.cached, rows as i64);
                let (m2, r2) =
                    message::parse_update_reply(&again).expect("re-encoded update reply");
                assert_eq!((m2.params, m2.cached, r2), (meta.params, meta.cached, rows));
            }
            let _ = message::parse_row_count(body);
        }
        6 => {
            let text = message::error_text(body);
            let status = u16::from_le_bytes([
                body.first().copied().unwrap_or(0),
                body.get(1).copied().unwrap_or(0),
            ]);
            let _ = sqlcode::parse_error_text(&text);
            let e = sqlcode::to_pg_error(status, &text);
            assert_eq!(e.code.len(), 5, "{e:?}");
            let e = sqlcode::to_pg_error(status, &String::from_utf8_lossy(body));
            assert_eq!(e.code.len(), 5, "{e:?}");
        }
        7 => {
            for code in [*b"DQ", *b"PP", *b"PQ", *b"DU", *b"PU", *b"XX"] {
                let _ = message::parse_statement_request(code, body);
            }
        }
        _ => rows(body),
    }
});
