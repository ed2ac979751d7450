//! SuperServer framing: the 14-byte header and continued frames.
//!
//! Every message in either direction is a header followed by `length` body
//! bytes (research §2.1), all integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | body length |
//! | 4 | 4 | message id (client: 1, 3, 5 …; replies echo it) |
//! | 8 | 4 | statement id; bit 31 on a reply = another frame follows |
//! | 12 | 2 | request: two ASCII letters; reply: 16-bit status |
//!
//! A reply may be split into frames: every frame but the last has bit 31 of
//! the statement id set, and the bodies are concatenated.

use std::io::{self, Read, Write};

pub const HEADER_LEN: usize = 14;

/// Bit 31 of a reply's statement id: "continued, another frame follows".
pub const CONTINUED: u32 = 0x8000_0000;

/// The largest reply pgiris accepts, all frames together. IRIS strings are
/// limited to about 3.6 M characters and row batches are much smaller; a
/// length beyond this means a desynchronised stream, not a real reply.
pub const MAX_REPLY_LEN: usize = 256 * 1024 * 1024;

/// Request codes (the two ASCII letters of the header's last field).
pub mod code {
    pub const HANDSHAKE: [u8; 2] = *b"HS";
    pub const CONNECT: [u8; 2] = *b"CN";
    pub const DIRECT_QUERY: [u8; 2] = *b"DQ";
    pub const PREPARE: [u8; 2] = *b"PP";
    pub const PREPARED_QUERY: [u8; 2] = *b"PQ";
    pub const DIRECT_UPDATE: [u8; 2] = *b"DU";
    pub const PREPARED_UPDATE: [u8; 2] = *b"PU";
    pub const FETCH_DATA: [u8; 2] = *b"FD";
    pub const GET_ERROR: [u8; 2] = *b"OE";
    pub const COMMIT: [u8; 2] = *b"TC";
    pub const ROLLBACK: [u8; 2] = *b"TR";
    pub const AUTOCOMMIT_OFF: [u8; 2] = *b"AF";
    pub const AUTOCOMMIT_ON: [u8; 2] = *b"AN";
    pub const CLOSE_CURSOR: [u8; 2] = *b"CC";
    pub const CLOSE_STATEMENT: [u8; 2] = *b"CU";
    pub const DISCONNECT: [u8; 2] = *b"DC";
    pub const READ_STREAM: [u8; 2] = *b"JS";
}

/// Reply statuses with a meaning of their own (research §2.7, §2.9).
pub mod status {
    pub const OK: u16 = 0;
    /// No (more) data: the last batch of a result.
    pub const NO_MORE_DATA: u16 = 100;
    /// Stream not found (`JS`).
    pub const STREAM_NOT_FOUND: u16 = 403;
    /// The server no longer has the prepared statement (`PQ` / `PU`).
    pub const STATEMENT_NOT_FOUND: u16 = 404;
    /// Login refused (`CN`).
    pub const ACCESS_DENIED: u16 = 417;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub msg_id: u32,
    pub stmt_id: u32,
    /// Request code letters, or a reply status as little-endian bytes.
    pub code: [u8; 2],
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&self.length.to_le_bytes());
        h[4..8].copy_from_slice(&self.msg_id.to_le_bytes());
        h[8..12].copy_from_slice(&self.stmt_id.to_le_bytes());
        h[12..14].copy_from_slice(&self.code);
        h
    }

    pub fn decode(h: &[u8; HEADER_LEN]) -> Header {
        Header {
            length: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            msg_id: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            stmt_id: u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
            code: [h[12], h[13]],
        }
    }

    /// The code field read as a reply status.
    pub fn status(&self) -> u16 {
        u16::from_le_bytes(self.code)
    }

    pub fn is_continued(&self) -> bool {
        self.stmt_id & CONTINUED != 0
    }
}

/// A whole message: header fields and the body of all its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_id: u32,
    /// With the continuation bit cleared.
    pub stmt_id: u32,
    pub code: [u8; 2],
    pub body: Vec<u8>,
}

impl Message {
    pub fn status(&self) -> u16 {
        u16::from_le_bytes(self.code)
    }
}

/// Encodes one frame (header and body) into `out`, which is cleared first,
/// so that it goes out in a single write.
pub fn encode_frame(out: &mut Vec<u8>, code: [u8; 2], msg_id: u32, stmt_id: u32, body: &[u8]) {
    out.clear();
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let header = Header {
        length,
        msg_id,
        stmt_id,
        code,
    };
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
}

/// Writes one frame.
pub fn write_frame(
    w: &mut impl Write,
    code: [u8; 2],
    msg_id: u32,
    stmt_id: u32,
    body: &[u8],
) -> io::Result<()> {
    let mut buf = Vec::new();
    encode_frame(&mut buf, code, msg_id, stmt_id, body);
    w.write_all(&buf)?;
    w.flush()
}

/// Writes a message split into frames of at most `max_frame` body bytes,
/// setting the continuation bit on all but the last (the server side of the
/// protocol; used by the test double).
pub fn write_split(
    w: &mut impl Write,
    code: [u8; 2],
    msg_id: u32,
    stmt_id: u32,
    body: &[u8],
    max_frame: usize,
) -> io::Result<()> {
    let max_frame = max_frame.max(1);
    let mut chunks = body.chunks(max_frame).peekable();
    let mut buf = Vec::new();
    if chunks.peek().is_none() {
        encode_frame(&mut buf, code, msg_id, stmt_id, &[]);
        w.write_all(&buf)?;
    }
    while let Some(chunk) = chunks.next() {
        let id = if chunks.peek().is_some() {
            stmt_id | CONTINUED
        } else {
            stmt_id
        };
        encode_frame(&mut buf, code, msg_id, id, chunk);
        w.write_all(&buf)?;
    }
    w.flush()
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("message of {0} bytes exceeds the {MAX_REPLY_LEN}-byte limit")]
    TooLarge(usize),
}

/// Reads one frame header, or `None` on a clean end of stream before it.
pub fn read_header(r: &mut impl Read) -> Result<Option<Header>, FrameError> {
    let mut h = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match r.read(&mut h[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(Header::decode(&h)))
}

/// Reads a whole message, concatenating continued frames. `None` on a clean
/// end of stream before the first header.
pub fn read_message(r: &mut impl Read) -> Result<Option<Message>, FrameError> {
    let Some(mut header) = read_header(r)? else {
        return Ok(None);
    };
    let mut body = Vec::new();
    loop {
        let len = header.length as usize;
        let total = body.len().saturating_add(len);
        if total > MAX_REPLY_LEN {
            return Err(FrameError::TooLarge(total));
        }
        // Grows with the bytes that actually arrive, so a bogus length
        // cannot make us allocate before the data exists.
        let got = (&mut *r).take(len as u64).read_to_end(&mut body)?;
        if got < len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if !header.is_continued() {
            break;
        }
        header = read_header(r)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    }
    Ok(Some(Message {
        msg_id: header.msg_id,
        stmt_id: header.stmt_id & !CONTINUED,
        code: header.code,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_matches_capture() {
        // DQ msg 9 stmt 2, 62 body bytes (cap2_caret).
        let h = Header {
            length: 62,
            msg_id: 9,
            stmt_id: 2,
            code: code::DIRECT_QUERY,
        };
        let bytes = h.encode();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "3e00000009000000020000004451");
        assert_eq!(Header::decode(&bytes), h);
        let reply = Header::decode(&[3, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 0x64, 0]);
        assert_eq!(reply.status(), 100);
    }

    #[test]
    fn continued_frames_are_joined() {
        let mut wire = Vec::new();
        write_split(&mut wire, [0, 0], 7, 3, b"abcdefghij", 4).unwrap();
        // Three frames: 4 + 4 + 2 bytes, the first two flagged.
        assert_eq!(wire.len(), 3 * HEADER_LEN + 10);
        assert_eq!(&wire[8..12], &(3 | CONTINUED).to_le_bytes());
        let msg = read_message(&mut wire.as_slice()).unwrap().unwrap();
        assert_eq!(msg.body, b"abcdefghij");
        assert_eq!(msg.stmt_id, 3);
        assert_eq!(msg.msg_id, 7);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, *b"DQ", 1, 1, b"abc").unwrap();
        assert!(read_message(&mut &wire[..wire.len() - 1]).is_err());
        assert!(read_message(&mut &wire[..5]).is_err());
        assert!(read_message(&mut &[][..]).unwrap().is_none());
        // A continued frame with nothing after it.
        let mut wire = Vec::new();
        write_frame(&mut wire, [0, 0], 1, 1 | CONTINUED, b"abc").unwrap();
        assert!(read_message(&mut wire.as_slice()).is_err());
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let h = Header {
            length: u32::MAX,
            msg_id: 1,
            stmt_id: 0,
            code: [0, 0],
        };
        let wire = h.encode();
        assert!(matches!(
            read_message(&mut &wire[..]),
            Err(FrameError::TooLarge(_))
        ));
    }
}
