//! The framing codec (`FrameCodec`) over an arbitrary byte stream delivered
//! in arbitrary pieces.
//!
//! Input: byte 0 chooses the length limit (bit 0: the 10,000-byte
//! pre-authentication limit, else the 1 GB one); byte 1 is the number of
//! piece sizes that follow; then the piece sizes; then the stream.
//!
//! Beyond "no panic": the frames and the final outcome (waiting for more,
//! or a protocol error) are the same whether the stream arrives whole or in
//! pieces; every frame fits the limit; no allocation exceeds the stream's
//! size by more than the codec's read-ahead reserve (256 KiB), however large
//! the announced length.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pgiris::wire::codec::{CodecError, FrameCodec, MAX_MESSAGE, MAX_PRE_AUTH_MESSAGE};
use pgiris::wire::frontend::Frame;
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};
use tokio_util::codec::Decoder;

#[derive(Debug, PartialEq)]
enum End {
    Waiting(usize),
    Error(String),
}

fn drain(codec: &mut FrameCodec, buf: &mut BytesMut, frames: &mut Vec<Frame>) -> Option<End> {
    loop {
        match codec.decode(buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return None,
            Err(CodecError::Protocol(e)) => {
                assert_eq!(e.code, "08P01");
                return Some(End::Error(e.message));
            }
            Err(CodecError::Io(e)) => panic!("the codec made up an I/O error: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let limit = if data[0] & 1 == 1 {
        MAX_PRE_AUTH_MESSAGE
    } else {
        MAX_MESSAGE
    };
    let n = usize::from(data[1]).min(data.len() - 2);
    let pieces = &data[2..2 + n];
    let stream = &data[2 + n..];

    reset_allocations();
    let (mut whole, _) = FrameCodec::new(limit);
    let mut buf = BytesMut::from(stream);
    let mut expected = Vec::new();
    let end = drain(&mut whole, &mut buf, &mut expected).unwrap_or(End::Waiting(buf.len()));

    let (mut split, _) = FrameCodec::new(limit);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut rest = stream;
    let mut turn = 0;
    let mut split_end = None;
    while !rest.is_empty() {
        let size = if pieces.is_empty() {
            rest.len()
        } else {
            usize::from(pieces[turn % pieces.len()].max(1))
        };
        turn += 1;
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(piece);
        if let Some(e) = drain(&mut split, &mut buf, &mut got) {
            split_end = Some(e);
            break;
        }
    }
    let split_end = split_end.unwrap_or(End::Waiting(buf.len()));
    assert_allocations_bounded("FrameCodec", stream.len(), 4, 600 * 1024);

    assert_eq!(got, expected);
    assert_eq!(split_end, end);
    for f in &got {
        assert!(f.body.len() + 4 <= limit);
    }
});
