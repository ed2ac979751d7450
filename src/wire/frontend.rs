//! Messages a client sends after startup, decoded strictly from a framed
//! body: every field bounds-checked, every string terminated and valid UTF-8,
//! no trailing bytes. A decoding failure is a protocol violation (08P01).

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::buf::BodyReader;
use crate::wire::error::PgError;
use crate::wire::types::Oid;

/// One framed message: type byte and body (length prefix removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub body: Bytes,
}

/// Whether Describe or Close names a prepared statement or a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

impl Target {
    fn decode(b: u8, message: &str) -> Result<Target, PgError> {
        match b {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            other => Err(PgError::protocol_violation(format!(
                "invalid {message} message subtype {other}"
            ))),
        }
    }

    fn code(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// A decoded frontend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontendMessage {
    Query(String),
    Parse {
        name: String,
        query: String,
        param_types: Vec<Oid>,
    },
    Bind {
        portal: String,
        statement: String,
        param_formats: Vec<i16>,
        params: Vec<Option<Bytes>>,
        result_formats: Vec<i16>,
    },
    Describe {
        target: Target,
        name: String,
    },
    Execute {
        portal: String,
        /// 0 (or negative) = no limit.
        max_rows: i32,
    },
    Close {
        target: Target,
        name: String,
    },
    Sync,
    Flush,
    Terminate,
    /// 'p': PasswordMessage, SASLInitialResponse or SASLResponse; which one
    /// depends on the authentication state, so the body stays raw.
    Password(Bytes),
    CopyData,
    CopyDone,
    CopyFail(String),
    FunctionCall,
}

impl FrontendMessage {
    /// Decodes a frame. Unknown message types are a protocol violation.
    pub fn decode(frame: &Frame) -> Result<FrontendMessage, PgError> {
        let body = &frame.body;
        let msg = match frame.tag {
            b'Q' => {
                let mut r = BodyReader::new(body, "Query");
                let q = r.cstr()?.to_owned();
                r.finish()?;
                FrontendMessage::Query(q)
            }
            b'P' => {
                let mut r = BodyReader::new(body, "Parse");
                let name = r.cstr()?.to_owned();
                let query = r.cstr()?.to_owned();
                let n = r.count16()?;
                // The count is bounded by the body length, so no allocation
                // is sized by a number the client made up.
                if n * 4 > r.remaining() {
                    return Err(PgError::protocol_violation(
                        "invalid message format in Parse",
                    ));
                }
                let mut param_types = Vec::with_capacity(n);
                for _ in 0..n {
                    param_types.push(r.u32()?);
                }
                r.finish()?;
                FrontendMessage::Parse {
                    name,
                    query,
                    param_types,
                }
            }
            b'B' => decode_bind(body)?,
            b'D' => {
                let mut r = BodyReader::new(body, "Describe");
                let target = Target::decode(r.u8()?, "DESCRIBE")?;
                let name = r.cstr()?.to_owned();
                r.finish()?;
                FrontendMessage::Describe { target, name }
            }
            b'E' => {
                let mut r = BodyReader::new(body, "Execute");
                let portal = r.cstr()?.to_owned();
                let max_rows = r.i32()?;
                r.finish()?;
                FrontendMessage::Execute { portal, max_rows }
            }
            b'C' => {
                let mut r = BodyReader::new(body, "Close");
                let target = Target::decode(r.u8()?, "CLOSE")?;
                let name = r.cstr()?.to_owned();
                r.finish()?;
                FrontendMessage::Close { target, name }
            }
            b'S' => empty(body, "Sync", FrontendMessage::Sync)?,
            b'H' => empty(body, "Flush", FrontendMessage::Flush)?,
            b'X' => empty(body, "Terminate", FrontendMessage::Terminate)?,
            b'p' => FrontendMessage::Password(body.clone()),
            b'd' => FrontendMessage::CopyData,
            b'c' => FrontendMessage::CopyDone,
            b'f' => {
                let mut r = BodyReader::new(body, "CopyFail");
                FrontendMessage::CopyFail(r.cstr()?.to_owned())
            }
            b'F' => FrontendMessage::FunctionCall,
            other => {
                return Err(PgError::protocol_violation(format!(
                    "invalid frontend message type {other}"
                )));
            }
        };
        Ok(msg)
    }

    /// Encodes the message as a client would (tests and the fuzz corpus).
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let tag = match self {
            FrontendMessage::Query(q) => {
                out.put_u8(b'Q');
                out.put_i32(0);
                put_cstr(out, q);
                b'Q'
            }
            FrontendMessage::Parse {
                name,
                query,
                param_types,
            } => {
                out.put_u8(b'P');
                out.put_i32(0);
                put_cstr(out, name);
                put_cstr(out, query);
                out.put_i16(param_types.len() as i16);
                for t in param_types {
                    out.put_u32(*t);
                }
                b'P'
            }
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => {
                out.put_u8(b'B');
                out.put_i32(0);
                put_cstr(out, portal);
                put_cstr(out, statement);
                out.put_i16(param_formats.len() as i16);
                for f in param_formats {
                    out.put_i16(*f);
                }
                out.put_i16(params.len() as i16);
                for p in params {
                    match p {
                        None => out.put_i32(-1),
                        Some(b) => {
                            out.put_i32(b.len() as i32);
                            out.put_slice(b);
                        }
                    }
                }
                out.put_i16(result_formats.len() as i16);
                for f in result_formats {
                    out.put_i16(*f);
                }
                b'B'
            }
            FrontendMessage::Describe { target, name }
            | FrontendMessage::Close { target, name } => {
                let tag = if matches!(self, FrontendMessage::Describe { .. }) {
                    b'D'
                } else {
                    b'C'
                };
                out.put_u8(tag);
                out.put_i32(0);
                out.put_u8(target.code());
                put_cstr(out, name);
                tag
            }
            FrontendMessage::Execute { portal, max_rows } => {
                out.put_u8(b'E');
                out.put_i32(0);
                put_cstr(out, portal);
                out.put_i32(*max_rows);
                b'E'
            }
            FrontendMessage::Sync => simple(out, b'S'),
            FrontendMessage::Flush => simple(out, b'H'),
            FrontendMessage::Terminate => simple(out, b'X'),
            FrontendMessage::Password(body) => {
                out.put_u8(b'p');
                out.put_i32(0);
                out.put_slice(body);
                b'p'
            }
            FrontendMessage::CopyData => simple(out, b'd'),
            FrontendMessage::CopyDone => simple(out, b'c'),
            FrontendMessage::CopyFail(m) => {
                out.put_u8(b'f');
                out.put_i32(0);
                put_cstr(out, m);
                b'f'
            }
            FrontendMessage::FunctionCall => simple(out, b'F'),
        };
        debug_assert_eq!(out[start], tag);
        let len = (out.len() - start - 1) as i32;
        out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    }
}

fn simple(out: &mut BytesMut, tag: u8) -> u8 {
    out.put_u8(tag);
    out.put_i32(0);
    tag
}

fn put_cstr(out: &mut BytesMut, s: &str) {
    out.put_slice(s.as_bytes());
    out.put_u8(0);
}

fn empty(
    body: &[u8],
    name: &'static str,
    msg: FrontendMessage,
) -> Result<FrontendMessage, PgError> {
    BodyReader::new(body, name).finish()?;
    Ok(msg)
}

fn decode_bind(body: &Bytes) -> Result<FrontendMessage, PgError> {
    let mut r = BodyReader::new(body, "Bind");
    let portal = r.cstr()?.to_owned();
    let statement = r.cstr()?.to_owned();
    let nformats = r.count16()?;
    if nformats * 2 > r.remaining() {
        return Err(PgError::protocol_violation(
            "invalid message format in Bind",
        ));
    }
    let mut param_formats = Vec::with_capacity(nformats);
    for _ in 0..nformats {
        param_formats.push(r.i16()?);
    }
    let nparams = r.count16()?;
    if nparams * 4 > r.remaining() {
        return Err(PgError::protocol_violation(
            "invalid message format in Bind",
        ));
    }
    if nformats > 1 && nformats != nparams {
        return Err(PgError::protocol_violation(format!(
            "bind message has {nformats} parameter formats but {nparams} parameters"
        )));
    }
    let mut params = Vec::with_capacity(nparams);
    for _ in 0..nparams {
        params.push(r.nullable_bytes(body)?);
    }
    let nresults = r.count16()?;
    if nresults * 2 > r.remaining() {
        return Err(PgError::protocol_violation(
            "invalid message format in Bind",
        ));
    }
    let mut result_formats = Vec::with_capacity(nresults);
    for _ in 0..nresults {
        result_formats.push(r.i16()?);
    }
    r.finish()?;
    for f in param_formats.iter().chain(result_formats.iter()) {
        if *f != 0 && *f != 1 {
            return Err(PgError::protocol_violation(format!(
                "unsupported format code: {f}"
            )));
        }
    }
    Ok(FrontendMessage::Bind {
        portal,
        statement,
        param_formats,
        params,
        result_formats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(msg: &FrontendMessage) -> Frame {
        let mut out = BytesMut::new();
        msg.encode(&mut out);
        let len = i32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len());
        Frame {
            tag: out[0],
            body: out.freeze().slice(5..),
        }
    }

    #[test]
    fn round_trip_every_message() {
        let msgs = vec![
            FrontendMessage::Query("SELECT 1".into()),
            FrontendMessage::Parse {
                name: "s1".into(),
                query: "SELECT $1".into(),
                param_types: vec![23, 0],
            },
            FrontendMessage::Bind {
                portal: "".into(),
                statement: "s1".into(),
                param_formats: vec![1],
                params: vec![Some(Bytes::from_static(&[0, 0, 0, 1])), None],
                result_formats: vec![0, 1],
            },
            FrontendMessage::Describe {
                target: Target::Statement,
                name: "s1".into(),
            },
            FrontendMessage::Describe {
                target: Target::Portal,
                name: "".into(),
            },
            FrontendMessage::Execute {
                portal: "p".into(),
                max_rows: 10,
            },
            FrontendMessage::Close {
                target: Target::Portal,
                name: "p".into(),
            },
            FrontendMessage::Sync,
            FrontendMessage::Flush,
            FrontendMessage::Terminate,
            FrontendMessage::Password(Bytes::from_static(b"secret\0")),
            FrontendMessage::CopyFail("x".into()),
        ];
        for m in msgs {
            assert_eq!(FrontendMessage::decode(&frame_of(&m)).unwrap(), m);
        }
    }

    fn bad(tag: u8, body: &[u8]) -> PgError {
        FrontendMessage::decode(&Frame {
            tag,
            body: Bytes::copy_from_slice(body),
        })
        .unwrap_err()
    }

    #[test]
    fn malformed_bodies_are_protocol_violations() {
        assert_eq!(bad(b'Q', b"SELECT 1").code, "08P01"); // no terminator
        assert_eq!(bad(b'Q', b"SELECT 1\0x").code, "08P01"); // trailing byte
        assert_eq!(bad(b'S', b"x").code, "08P01");
        assert_eq!(bad(b'D', b"Zname\0").code, "08P01");
        assert_eq!(bad(b'E', b"p\0\0\0").code, "08P01");
        assert_eq!(bad(b'P', b"s\0q\0\x7f\xff").code, "08P01"); // huge count, no data
        assert_eq!(bad(b'P', b"s\0q\0\xff\xff").code, "08P01"); // negative count
        assert_eq!(bad(b'Z', b"").code, "08P01");
        assert_eq!(bad(b'Q', b"\xff\xfe\0").code, "22021");
        // Bind with a value length beyond the body.
        assert_eq!(
            bad(b'B', b"\0\0\0\0\0\x01\x00\x00\x00\x10ab\0\0").code,
            "08P01"
        );
        // Bind with 2 formats for 1 parameter.
        assert_eq!(
            bad(b'B', b"\0\0\0\x02\0\0\0\0\0\x01\xff\xff\xff\xff\0\0").code,
            "08P01"
        );
        // Bind with format code 7.
        assert_eq!(bad(b'B', b"\0\0\0\x01\0\x07\0\0\0\0").code, "08P01");
    }
}
