//! Framing of typed messages (after startup): check that a whole frame is
//! buffered, then hand it over. The length limit is shared with the session
//! so it can be small before authentication (PostgreSQL's 10,000-byte limit
//! for authentication messages) and large afterwards.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

use crate::wire::error::PgError;
use crate::wire::frontend::Frame;

/// Largest message before authentication completes.
pub const MAX_PRE_AUTH_MESSAGE: usize = 10_000;
/// Largest message afterwards (PostgreSQL's PQ_LARGE_MESSAGE_LIMIT, 1 GB - 1).
pub const MAX_MESSAGE: usize = 0x3fff_ffff;
/// Most bytes reserved ahead of their arrival: a client announcing a huge
/// message gets memory only as it actually sends the bytes.
const MAX_RESERVE_AHEAD: usize = 256 * 1024;

/// Why framing stopped.
#[derive(Debug)]
pub enum CodecError {
    Io(io::Error),
    Protocol(PgError),
}

impl From<io::Error> for CodecError {
    fn from(e: io::Error) -> Self {
        CodecError::Io(e)
    }
}

/// Decodes `tag, int32 length, body` frames.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_len: Rc<Cell<usize>>,
}

impl FrameCodec {
    /// A codec and the handle that adjusts its limit.
    pub fn new(max_len: usize) -> (FrameCodec, Rc<Cell<usize>>) {
        let cell = Rc::new(Cell::new(max_len));
        (
            FrameCodec {
                max_len: cell.clone(),
            },
            cell,
        )
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if src.len() < 5 {
            return Ok(None);
        }
        let tag = src[0];
        let len = i32::from_be_bytes([src[1], src[2], src[3], src[4]]);
        let len = match usize::try_from(len) {
            Ok(l) if l >= 4 && l <= self.max_len.get() => l,
            _ => {
                return Err(CodecError::Protocol(PgError::fatal(
                    crate::wire::sqlstate::PROTOCOL_VIOLATION,
                    "invalid message length",
                )));
            }
        };
        let total = 1 + len;
        if src.len() < total {
            let missing = total - src.len();
            src.reserve(missing.min(MAX_RESERVE_AHEAD));
            return Ok(None);
        }
        let mut frame = src.split_to(total);
        frame.advance(5);
        Ok(Some(Frame {
            tag,
            body: frame.freeze(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_wait() {
        let (mut c, _) = FrameCodec::new(MAX_MESSAGE);
        let mut buf = BytesMut::from(&b"Q\0\0\0\x0dSELECT 1\0S\0\0\0\x04X\0\0"[..]);
        let f = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.tag, b'Q');
        assert_eq!(&f.body[..], b"SELECT 1\0");
        let f = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.tag, b'S');
        assert!(f.body.is_empty());
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\0\x04");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap().tag, b'X');
    }

    #[test]
    fn lengths_are_checked_before_buffering() {
        let (mut c, limit) = FrameCodec::new(MAX_PRE_AUTH_MESSAGE);
        let mut buf = BytesMut::from(&b"p\0\0\x27\x12"[..]); // 10002 > limit
        assert!(matches!(c.decode(&mut buf), Err(CodecError::Protocol(e)) if e.code == "08P01"));
        limit.set(MAX_MESSAGE);
        let mut buf = BytesMut::from(&b"p\0\0\x27\x12"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        // A huge announced length reserves only a bounded amount.
        let mut buf = BytesMut::from(&b"Q\x3f\xff\xff\xff"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= MAX_RESERVE_AHEAD + 64);
        for bad in [&b"Q\0\0\0\x03"[..], b"Q\xff\xff\xff\xff", b"Q\x40\0\0\0"] {
            let mut buf = BytesMut::from(bad);
            assert!(c.decode(&mut buf).is_err());
        }
    }
}
