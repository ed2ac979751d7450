//! Messages the server sends, written straight into an output buffer (no
//! intermediate structs on the hot path), plus a decoder for them that the
//! tests' raw-protocol client and the round-trip tests use.

use bytes::{BufMut, Bytes, BytesMut};

use crate::backend::Column;
use crate::wire::buf::BodyReader;
use crate::wire::error::{PgError, Severity};
use crate::wire::types::{self, Oid};

/// The transaction status byte of ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// 'I': not in a transaction block.
    Idle,
    /// 'T': in a transaction block.
    InBlock,
    /// 'E': in a failed transaction block; only ROLLBACK gets out.
    Failed,
}

impl TransactionStatus {
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InBlock => b'T',
            TransactionStatus::Failed => b'E',
        }
    }
}

/// Starts a message: tag and a length placeholder; returns the offset to
/// patch in [`finish`].
#[inline]
pub fn begin(out: &mut BytesMut, tag: u8) -> usize {
    out.put_u8(tag);
    let at = out.len();
    out.put_i32(0);
    at
}

/// Writes the length of the message started at `at`.
#[inline]
pub fn finish(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

#[inline]
pub fn put_cstr(out: &mut BytesMut, s: &str) {
    out.put_slice(s.as_bytes());
    out.put_u8(0);
}

fn auth(out: &mut BytesMut, code: i32, extra: &[u8]) {
    let at = begin(out, b'R');
    out.put_i32(code);
    out.put_slice(extra);
    finish(out, at);
}

pub fn authentication_ok(out: &mut BytesMut) {
    auth(out, 0, &[]);
}

pub fn authentication_cleartext_password(out: &mut BytesMut) {
    auth(out, 3, &[]);
}

pub fn authentication_md5_password(out: &mut BytesMut, salt: [u8; 4]) {
    auth(out, 5, &salt);
}

pub fn authentication_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    let at = begin(out, b'R');
    out.put_i32(10);
    for m in mechanisms {
        put_cstr(out, m);
    }
    out.put_u8(0);
    finish(out, at);
}

pub fn authentication_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    auth(out, 11, data);
}

pub fn authentication_sasl_final(out: &mut BytesMut, data: &[u8]) {
    auth(out, 12, data);
}

pub fn parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    let at = begin(out, b'S');
    put_cstr(out, name);
    put_cstr(out, value);
    finish(out, at);
}

pub fn backend_key_data(out: &mut BytesMut, pid: i32, secret: &[u8]) {
    let at = begin(out, b'K');
    out.put_i32(pid);
    out.put_slice(secret);
    finish(out, at);
}

pub fn negotiate_protocol_version(out: &mut BytesMut, newest_minor: i32, unrecognized: &[String]) {
    let at = begin(out, b'v');
    out.put_i32(newest_minor);
    out.put_i32(unrecognized.len() as i32);
    for o in unrecognized {
        put_cstr(out, o);
    }
    finish(out, at);
}

pub fn ready_for_query(out: &mut BytesMut, status: TransactionStatus) {
    out.put_slice(&[b'Z', 0, 0, 0, 5, status.byte()]);
}

pub fn parse_complete(out: &mut BytesMut) {
    out.put_slice(&[b'1', 0, 0, 0, 4]);
}

pub fn bind_complete(out: &mut BytesMut) {
    out.put_slice(&[b'2', 0, 0, 0, 4]);
}

pub fn close_complete(out: &mut BytesMut) {
    out.put_slice(&[b'3', 0, 0, 0, 4]);
}

pub fn no_data(out: &mut BytesMut) {
    out.put_slice(&[b'n', 0, 0, 0, 4]);
}

pub fn portal_suspended(out: &mut BytesMut) {
    out.put_slice(&[b's', 0, 0, 0, 4]);
}

pub fn empty_query_response(out: &mut BytesMut) {
    out.put_slice(&[b'I', 0, 0, 0, 4]);
}

pub fn command_complete(out: &mut BytesMut, tag: &str) {
    let at = begin(out, b'C');
    put_cstr(out, tag);
    finish(out, at);
}

pub fn parameter_description(out: &mut BytesMut, params: &[Oid]) {
    let at = begin(out, b't');
    out.put_i16(params.len() as i16);
    for p in params {
        out.put_u32(*p);
    }
    finish(out, at);
}

/// RowDescription; `formats` has 0, 1 or one entry per column (already
/// validated by the caller).
pub fn row_description(out: &mut BytesMut, columns: &[Column], formats: &[i16]) {
    let at = begin(out, b'T');
    out.put_i16(columns.len() as i16);
    for (i, c) in columns.iter().enumerate() {
        put_cstr(out, &c.name);
        out.put_u32(c.table_oid);
        out.put_i16(c.column_id);
        out.put_u32(c.type_oid);
        out.put_i16(types::type_size(c.type_oid));
        out.put_i32(c.type_modifier);
        out.put_i16(format_for(formats, i));
    }
    finish(out, at);
}

/// The format code for column `i` under Bind's result-format rules.
#[inline]
pub fn format_for(formats: &[i16], i: usize) -> i16 {
    match formats.len() {
        0 => 0,
        1 => formats[0],
        _ => formats.get(i).copied().unwrap_or(0),
    }
}

fn error_fields(out: &mut BytesMut, e: &PgError) {
    out.put_u8(b'S');
    put_cstr(out, e.severity.as_str());
    out.put_u8(b'V');
    put_cstr(out, e.severity.as_str());
    out.put_u8(b'C');
    put_cstr(out, e.code);
    out.put_u8(b'M');
    put_cstr(out, &e.message);
    if let Some(d) = &e.detail {
        out.put_u8(b'D');
        put_cstr(out, d);
    }
    if let Some(h) = &e.hint {
        out.put_u8(b'H');
        put_cstr(out, h);
    }
    if let Some(p) = e.position {
        out.put_u8(b'P');
        put_cstr(out, &p.to_string());
    }
    out.put_u8(0);
}

/// ErrorResponse: always S, V, C and M.
pub fn error_response(out: &mut BytesMut, e: &PgError) {
    let at = begin(out, b'E');
    error_fields(out, e);
    finish(out, at);
}

/// NoticeResponse (warnings, notices).
pub fn notice_response(out: &mut BytesMut, e: &PgError) {
    let at = begin(out, b'N');
    error_fields(out, e);
    finish(out, at);
}

/// A decoded backend message (tests, fuzzing, the recording tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendMessage {
    Authentication {
        code: i32,
        data: Bytes,
    },
    ParameterStatus {
        name: String,
        value: String,
    },
    BackendKeyData {
        pid: i32,
        secret: Bytes,
    },
    NegotiateProtocolVersion {
        newest_minor: i32,
        unrecognized: Vec<String>,
    },
    ReadyForQuery(u8),
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    EmptyQueryResponse,
    CommandComplete(String),
    ParameterDescription(Vec<Oid>),
    RowDescription(Vec<(String, u32, i16, Oid, i16, i32, i16)>),
    DataRow(Vec<Option<Bytes>>),
    ErrorResponse(Vec<(u8, String)>),
    NoticeResponse(Vec<(u8, String)>),
    Other {
        tag: u8,
        body: Bytes,
    },
}

impl BackendMessage {
    /// Decodes one message from the tag and body.
    pub fn decode(tag: u8, body: Bytes) -> Result<BackendMessage, PgError> {
        let mut r = BodyReader::new(&body, "backend message");
        let m = match tag {
            b'R' => {
                let code = r.i32()?;
                BackendMessage::Authentication {
                    code,
                    data: body.slice(4..),
                }
            }
            b'S' => BackendMessage::ParameterStatus {
                name: r.cstr()?.to_owned(),
                value: r.cstr()?.to_owned(),
            },
            b'K' => BackendMessage::BackendKeyData {
                pid: r.i32()?,
                secret: body.slice(4..),
            },
            b'v' => {
                let newest_minor = r.i32()?;
                let n = r.i32()?;
                let mut unrecognized = Vec::new();
                for _ in 0..n.max(0) {
                    unrecognized.push(r.cstr()?.to_owned());
                }
                BackendMessage::NegotiateProtocolVersion {
                    newest_minor,
                    unrecognized,
                }
            }
            b'Z' => BackendMessage::ReadyForQuery(r.u8()?),
            b'1' => BackendMessage::ParseComplete,
            b'2' => BackendMessage::BindComplete,
            b'3' => BackendMessage::CloseComplete,
            b'n' => BackendMessage::NoData,
            b's' => BackendMessage::PortalSuspended,
            b'I' => BackendMessage::EmptyQueryResponse,
            b'C' => BackendMessage::CommandComplete(r.cstr()?.to_owned()),
            b't' => {
                let n = r.count16()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(r.u32()?);
                }
                BackendMessage::ParameterDescription(v)
            }
            b'T' => {
                let n = r.count16()?;
                let mut cols = Vec::new();
                for _ in 0..n {
                    cols.push((
                        r.cstr()?.to_owned(),
                        r.u32()?,
                        r.i16()?,
                        r.u32()?,
                        r.i16()?,
                        r.i32()?,
                        r.i16()?,
                    ));
                }
                BackendMessage::RowDescription(cols)
            }
            b'D' => {
                let n = r.count16()?;
                let mut cells = Vec::new();
                for _ in 0..n {
                    cells.push(r.nullable_bytes(&body)?);
                }
                BackendMessage::DataRow(cells)
            }
            b'E' | b'N' => {
                let mut fields = Vec::new();
                loop {
                    let code = r.u8()?;
                    if code == 0 {
                        break;
                    }
                    fields.push((code, r.cstr()?.to_owned()));
                }
                if tag == b'E' {
                    BackendMessage::ErrorResponse(fields)
                } else {
                    BackendMessage::NoticeResponse(fields)
                }
            }
            _ => return Ok(BackendMessage::Other { tag, body }),
        };
        Ok(m)
    }

    /// The value of field `code` of an ErrorResponse/NoticeResponse.
    pub fn field(&self, code: u8) -> Option<&str> {
        match self {
            BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f) => {
                f.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_str())
            }
            _ => None,
        }
    }
}

/// Splits a buffer of whole messages (tests).
pub fn split_messages(mut buf: &[u8]) -> Result<Vec<BackendMessage>, PgError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        if buf.len() < 5 {
            return Err(PgError::protocol_violation("truncated message"));
        }
        let tag = buf[0];
        let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l >= 4 && *l < buf.len())
            .ok_or_else(|| PgError::protocol_violation("bad message length"))?;
        out.push(BackendMessage::decode(
            tag,
            Bytes::copy_from_slice(&buf[5..1 + len]),
        )?);
        buf = &buf[1 + len..];
    }
    Ok(out)
}

/// Severity parsing for decoded errors (tests).
pub fn severity_of(msg: &BackendMessage) -> Option<Severity> {
    match msg.field(b'V')? {
        "ERROR" => Some(Severity::Error),
        "FATAL" => Some(Severity::Fatal),
        "PANIC" => Some(Severity::Panic),
        "WARNING" => Some(Severity::Warning),
        "NOTICE" => Some(Severity::Notice),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sqlstate;

    fn one(out: BytesMut) -> BackendMessage {
        let v = split_messages(&out).unwrap();
        assert_eq!(v.len(), 1);
        v.into_iter().next().unwrap()
    }

    #[test]
    fn round_trip_every_message() {
        let mut o = BytesMut::new();
        authentication_ok(&mut o);
        assert_eq!(&o[..], &[b'R', 0, 0, 0, 8, 0, 0, 0, 0]);
        let mut o = BytesMut::new();
        authentication_sasl(&mut o, &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        assert_eq!(
            one(o),
            BackendMessage::Authentication {
                code: 10,
                data: Bytes::from_static(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")
            }
        );
        let mut o = BytesMut::new();
        authentication_md5_password(&mut o, [1, 2, 3, 4]);
        assert_eq!(
            one(o),
            BackendMessage::Authentication {
                code: 5,
                data: Bytes::from_static(&[1, 2, 3, 4])
            }
        );
        for (f, code) in [
            (authentication_sasl_continue as fn(&mut BytesMut, &[u8]), 11),
            (authentication_sasl_final, 12),
        ] {
            let mut o = BytesMut::new();
            f(&mut o, b"r=abc");
            assert_eq!(
                one(o),
                BackendMessage::Authentication {
                    code,
                    data: Bytes::from_static(b"r=abc")
                }
            );
        }
        let mut o = BytesMut::new();
        authentication_cleartext_password(&mut o);
        assert_eq!(
            one(o),
            BackendMessage::Authentication {
                code: 3,
                data: Bytes::new()
            }
        );
        let mut o = BytesMut::new();
        parameter_status(&mut o, "TimeZone", "Etc/UTC");
        assert_eq!(
            one(o),
            BackendMessage::ParameterStatus {
                name: "TimeZone".into(),
                value: "Etc/UTC".into()
            }
        );
        let mut o = BytesMut::new();
        backend_key_data(&mut o, 42, &[9; 32]);
        assert_eq!(
            one(o),
            BackendMessage::BackendKeyData {
                pid: 42,
                secret: Bytes::from(vec![9; 32])
            }
        );
        let mut o = BytesMut::new();
        negotiate_protocol_version(&mut o, 196610, &["_pq_.x".into()]);
        assert_eq!(
            one(o),
            BackendMessage::NegotiateProtocolVersion {
                newest_minor: 196610,
                unrecognized: vec!["_pq_.x".into()]
            }
        );
        let mut o = BytesMut::new();
        ready_for_query(&mut o, TransactionStatus::Failed);
        assert_eq!(one(o), BackendMessage::ReadyForQuery(b'E'));
        for (f, m) in [
            (
                parse_complete as fn(&mut BytesMut),
                BackendMessage::ParseComplete,
            ),
            (bind_complete, BackendMessage::BindComplete),
            (close_complete, BackendMessage::CloseComplete),
            (no_data, BackendMessage::NoData),
            (portal_suspended, BackendMessage::PortalSuspended),
            (empty_query_response, BackendMessage::EmptyQueryResponse),
        ] {
            let mut o = BytesMut::new();
            f(&mut o);
            assert_eq!(one(o), m);
        }
        let mut o = BytesMut::new();
        command_complete(&mut o, "INSERT 0 1");
        assert_eq!(one(o), BackendMessage::CommandComplete("INSERT 0 1".into()));
        let mut o = BytesMut::new();
        parameter_description(&mut o, &[23, 25]);
        assert_eq!(one(o), BackendMessage::ParameterDescription(vec![23, 25]));
        let mut o = BytesMut::new();
        row_description(&mut o, &[Column::new("a", 23), Column::new("b", 25)], &[1]);
        assert_eq!(
            one(o),
            BackendMessage::RowDescription(vec![
                ("a".into(), 0, 0, 23, 4, -1, 1),
                ("b".into(), 0, 0, 25, -1, -1, 1)
            ])
        );
        let mut o = BytesMut::new();
        let e = PgError::error(sqlstate::SYNTAX_ERROR, "syntax error at or near \"x\"")
            .with_position(8)
            .with_hint("h")
            .with_detail("d");
        error_response(&mut o, &e);
        let m = one(o);
        assert_eq!(m.field(b'S'), Some("ERROR"));
        assert_eq!(m.field(b'V'), Some("ERROR"));
        assert_eq!(m.field(b'C'), Some("42601"));
        assert_eq!(m.field(b'M'), Some("syntax error at or near \"x\""));
        assert_eq!(m.field(b'P'), Some("8"));
        assert_eq!(m.field(b'D'), Some("d"));
        assert_eq!(m.field(b'H'), Some("h"));
        assert_eq!(severity_of(&m), Some(Severity::Error));
        let mut o = BytesMut::new();
        notice_response(
            &mut o,
            &PgError::notice(
                Severity::Warning,
                "25P01",
                "there is no transaction in progress",
            ),
        );
        assert_eq!(one(o).field(b'C'), Some("25P01"));
    }

    #[test]
    fn format_codes_follow_bind_rules() {
        assert_eq!(format_for(&[], 3), 0);
        assert_eq!(format_for(&[1], 3), 1);
        assert_eq!(format_for(&[0, 1], 1), 1);
    }
}
