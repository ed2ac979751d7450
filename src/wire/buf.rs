//! A bounds-checked reader over a message body. Every read returns a
//! protocol-violation error instead of panicking when the body is short, so
//! decoders can be written as straight-line code.

use bytes::Bytes;

use crate::wire::error::PgError;

/// Reads fields of one message body. Errors name the message being decoded.
pub struct BodyReader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> BodyReader<'a> {
    pub fn new(buf: &'a [u8], message: &'static str) -> BodyReader<'a> {
        BodyReader {
            buf,
            pos: 0,
            message,
        }
    }

    fn short(&self) -> PgError {
        PgError::protocol_violation(format!("invalid message format in {}", self.message))
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn u8(&mut self) -> Result<u8, PgError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.short())?;
        self.pos += 1;
        Ok(b)
    }

    pub fn i16(&mut self) -> Result<i16, PgError> {
        let s = self.bytes(2)?;
        Ok(i16::from_be_bytes([s[0], s[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, PgError> {
        let s = self.bytes(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn u32(&mut self) -> Result<u32, PgError> {
        Ok(self.i32()? as u32)
    }

    /// A count field (int16) that must not be negative.
    pub fn count16(&mut self) -> Result<usize, PgError> {
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| self.short())
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], PgError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.short())?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.short())?;
        self.pos = end;
        Ok(s)
    }

    /// A NUL-terminated string, which must be valid UTF-8.
    pub fn cstr(&mut self) -> Result<&'a str, PgError> {
        let rest = &self.buf[self.pos..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| {
            PgError::protocol_violation(format!(
                "invalid string in message {}: missing terminator",
                self.message
            ))
        })?;
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| {
            PgError::error(
                crate::wire::sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\"",
            )
        })?;
        self.pos += nul + 1;
        Ok(s)
    }

    /// An int32-length-prefixed value; -1 is NULL.
    pub fn nullable_bytes(&mut self, owner: &Bytes) -> Result<Option<Bytes>, PgError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| self.short())?;
        let start = self.pos;
        self.bytes(len)?;
        Ok(Some(owner.slice(start..start + len)))
    }

    /// Errors unless every byte was consumed.
    pub fn finish(&self) -> Result<(), PgError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(PgError::protocol_violation(format!(
                "invalid message format in {}",
                self.message
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_are_errors() {
        let mut r = BodyReader::new(&[0, 1], "Test");
        assert_eq!(r.i16().unwrap(), 1);
        assert!(r.u8().is_err());
        assert!(r.i32().is_err());
        let mut r = BodyReader::new(b"abc", "Test");
        assert!(r.cstr().is_err());
        let mut r = BodyReader::new(b"ab\0c", "Test");
        assert_eq!(r.cstr().unwrap(), "ab");
        assert!(r.finish().is_err());
        assert!(r.bytes(usize::MAX).is_err());
    }

    #[test]
    fn nullable_values() {
        let owner = Bytes::from_static(&[255, 255, 255, 255, 0, 0, 0, 2, b'h', b'i', 0, 0, 0, 9]);
        let mut r = BodyReader::new(&owner, "Bind");
        assert_eq!(r.nullable_bytes(&owner).unwrap(), None);
        assert_eq!(r.nullable_bytes(&owner).unwrap().unwrap(), &b"hi"[..]);
        assert!(r.nullable_bytes(&owner).is_err());
    }
}
