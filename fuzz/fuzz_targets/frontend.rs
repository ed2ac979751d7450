//! Every frontend message decoder: `FrontendMessage::decode` over an
//! arbitrary type byte (the input's first byte) and body (the rest).
//!
//! Beyond "no panic": decoding is strict, so a message that decodes
//! re-encodes to exactly the bytes it came from (the messages that drop
//! their body, CopyData, CopyDone and FunctionCall, and CopyFail, which
//! ignores bytes after its string, round-trip as values); failures are
//! 08P01 or 22021; no allocation is sized by a count field.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use pgiris::wire::frontend::{Frame, FrontendMessage};
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};

fn frame_of(bytes: &[u8]) -> Frame {
    let len = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    assert_eq!(len as usize, bytes.len() - 1, "length word of {bytes:?}");
    Frame {
        tag: bytes[0],
        body: Bytes::copy_from_slice(&bytes[5..]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&tag, body)) = data.split_first() else {
        return;
    };
    let frame = Frame {
        tag,
        body: Bytes::copy_from_slice(body),
    };
    reset_allocations();
    let decoded = FrontendMessage::decode(&frame);
    assert_allocations_bounded("FrontendMessage::decode", body.len(), 32, 1024);
    match decoded {
        Ok(m) => {
            let mut out = BytesMut::new();
            m.encode(&mut out);
            assert_eq!(out[0], tag);
            match m {
                FrontendMessage::CopyData
                | FrontendMessage::CopyDone
                | FrontendMessage::FunctionCall
                | FrontendMessage::CopyFail(_) => {
                    let again = FrontendMessage::decode(&frame_of(&out))
                        .unwrap_or_else(|e| panic!("re-encoded {m:?} fails: {e:?}"));
                    assert_eq!(again, m);
                }
                _ => assert_eq!(&out[5..], body, "{m:?} re-encodes differently"),
            }
        }
        Err(e) => assert!(
            e.code == "08P01" || e.code == "22021",
            "unexpected SQLSTATE {} ({})",
            e.code,
            e.message
        ),
    }
});
