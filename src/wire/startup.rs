//! The untyped packets a client sends before the first typed message:
//! SSLRequest, GSSENCRequest, CancelRequest and StartupMessage (protocol 3.0
//! and 3.2), parsed as PostgreSQL's backend_startup.c does.

use bytes::Bytes;

use crate::wire::error::{PgError, sqlstate};

pub const SSL_REQUEST_CODE: i32 = 80877103;
pub const GSSENC_REQUEST_CODE: i32 = 80877104;
pub const CANCEL_REQUEST_CODE: i32 = 80877102;

/// Largest startup packet accepted, length word included (PostgreSQL's
/// MAX_STARTUP_PACKET_LENGTH).
pub const MAX_STARTUP_PACKET_LENGTH: usize = 10_000;
/// Smallest: the length word and one int32.
pub const MIN_STARTUP_PACKET_LENGTH: usize = 8;

/// Protocol 3.0 and 3.2 (3.1 is served as 3.0, as PostgreSQL does).
pub const PROTOCOL_3_0: i32 = 3 << 16;
pub const PROTOCOL_3_2: i32 = (3 << 16) | 2;
pub const LATEST_MINOR: u16 = 2;

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_LENGTH: usize = 63;

/// Secret lengths of a CancelRequest under protocol 3.2 (4 under 3.0).
pub const MAX_CANCEL_SECRET: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersion {
    pub major: u16,
    pub minor: u16,
}

impl ProtocolVersion {
    pub fn from_code(code: i32) -> ProtocolVersion {
        ProtocolVersion {
            major: (code as u32 >> 16) as u16,
            minor: (code as u32 & 0xffff) as u16,
        }
    }

    pub fn code(self) -> i32 {
        ((self.major as i32) << 16) | self.minor as i32
    }

    /// Whether the session uses 3.2 semantics (long cancel keys).
    pub fn is_3_2(self) -> bool {
        self.major == 3 && self.minor >= 2
    }
}

/// A parsed StartupMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupMessage {
    /// The version the client asked for.
    pub requested: ProtocolVersion,
    /// The version the session runs: min(requested, 3.2).
    pub version: ProtocolVersion,
    pub user: String,
    /// Defaults to the user name.
    pub database: String,
    /// `options`, `replication`, `_pq_.*` and GUCs, in order, without user
    /// and database.
    pub params: Vec<(String, String)>,
    /// `_pq_.*` options we do not implement (all of them), for
    /// NegotiateProtocolVersion.
    pub unrecognized_options: Vec<String>,
}

impl StartupMessage {
    /// Whether NegotiateProtocolVersion must be sent before authentication.
    pub fn needs_negotiation(&self) -> bool {
        self.requested.minor > LATEST_MINOR || !self.unrecognized_options.is_empty()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a pre-startup packet turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    CancelRequest { pid: i32, secret: Bytes },
    Startup(StartupMessage),
}

/// Why a startup packet was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupError {
    /// Log this (COMMERROR in PostgreSQL) and close without a reply.
    Close(String),
    /// Send this FATAL error, then close.
    Fatal(PgError),
    /// A protocol 1.x/2.x client: an old-style error string, then close.
    OldStyle(String),
}

/// Checks the length word of a startup packet (the whole packet length,
/// including the word). Outside 8..=10,000 PostgreSQL closes silently.
pub fn check_length(len: i32) -> Result<usize, StartupError> {
    let len = usize::try_from(len).unwrap_or(0);
    if !(MIN_STARTUP_PACKET_LENGTH..=MAX_STARTUP_PACKET_LENGTH).contains(&len) {
        return Err(StartupError::Close(
            "invalid length of startup packet".into(),
        ));
    }
    Ok(len)
}

/// Parses a startup packet body (everything after the length word).
/// `after_ssl` / `after_gss` say whether that request was already seen.
pub fn parse(body: &[u8]) -> Result<StartupPacket, StartupError> {
    if body.len() < 4 {
        return Err(StartupError::Close(
            "invalid length of startup packet".into(),
        ));
    }
    let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let rest = &body[4..];
    match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => {
            if !rest.is_empty() {
                return Err(StartupError::Close(
                    "invalid length of startup packet".into(),
                ));
            }
            Ok(if code == SSL_REQUEST_CODE {
                StartupPacket::SslRequest
            } else {
                StartupPacket::GssEncRequest
            })
        }
        CANCEL_REQUEST_CODE => {
            if rest.len() < 8 || rest.len() > 4 + MAX_CANCEL_SECRET {
                return Err(StartupError::Close(
                    "invalid length of cancel request packet".into(),
                ));
            }
            let pid = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            Ok(StartupPacket::CancelRequest {
                pid,
                secret: Bytes::copy_from_slice(&rest[4..]),
            })
        }
        _ => parse_startup_message(code, rest).map(StartupPacket::Startup),
    }
}

fn fatal(code: &'static str, message: impl Into<String>) -> StartupError {
    StartupError::Fatal(PgError::fatal(code, message))
}

fn parse_startup_message(code: i32, rest: &[u8]) -> Result<StartupMessage, StartupError> {
    let requested = ProtocolVersion::from_code(code);
    if requested.major < 3 {
        return Err(StartupError::OldStyle(format!(
            "FATAL:  unsupported frontend protocol {}.{}: server supports 3.0 to 3.{}\n",
            requested.major, requested.minor, LATEST_MINOR
        )));
    }
    if requested.major > 3 {
        return Err(fatal(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!(
                "unsupported frontend protocol {}.{}: server supports 3.0 to 3.{}",
                requested.major, requested.minor, LATEST_MINOR
            ),
        ));
    }
    let version = ProtocolVersion {
        major: 3,
        // 3.1 was never released; PostgreSQL serves it as 3.0.
        minor: if requested.minor >= LATEST_MINOR {
            LATEST_MINOR
        } else {
            0
        },
    };

    let layout_error = || {
        fatal(
            sqlstate::PROTOCOL_VIOLATION,
            "invalid startup packet layout: expected terminator as last byte",
        )
    };
    if rest.last() != Some(&0) {
        return Err(layout_error());
    }
    let mut user = None;
    let mut database = None;
    let mut params = Vec::new();
    let mut unrecognized_options = Vec::new();
    let mut pos = 0;
    // Pairs of NUL-terminated strings, then a final NUL.
    while pos < rest.len() - 1 {
        // An empty name is the terminator, as in PostgreSQL: bytes after it
        // make the layout invalid (checked below), rather than a parameter
        // with no name.
        if rest[pos] == 0 {
            break;
        }
        let name = take_cstr(rest, &mut pos).ok_or_else(layout_error)?;
        if pos >= rest.len() {
            return Err(layout_error());
        }
        let value = take_cstr(rest, &mut pos).ok_or_else(layout_error)?;
        let name = utf8(name)?;
        let value = utf8(value)?;
        match name {
            "user" => user = Some(truncate_identifier(value)),
            "database" => database = Some(truncate_identifier(value)),
            _ if name.starts_with("_pq_.") => unrecognized_options.push(name.to_owned()),
            _ => params.push((name.to_owned(), value.to_owned())),
        }
    }
    if pos != rest.len() - 1 {
        return Err(layout_error());
    }
    let user = match user {
        Some(u) if !u.is_empty() => u,
        _ => {
            return Err(fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "no PostgreSQL user name specified in startup packet",
            ));
        }
    };
    let database = match database {
        Some(d) if !d.is_empty() => d,
        _ => user.clone(),
    };
    Ok(StartupMessage {
        requested,
        version,
        user,
        database,
        params,
        unrecognized_options,
    })
}

fn take_cstr<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    *pos += nul + 1;
    Some(&rest[..nul])
}

fn utf8(b: &[u8]) -> Result<&str, StartupError> {
    std::str::from_utf8(b).map_err(|_| {
        fatal(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\" in startup packet",
        )
    })
}

/// Cuts a name to 63 bytes on a character boundary, as PostgreSQL does.
pub fn truncate_identifier(s: &str) -> String {
    if s.len() <= MAX_IDENTIFIER_LENGTH {
        return s.to_owned();
    }
    let mut end = MAX_IDENTIFIER_LENGTH;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Builds a startup packet (tests, fuzz seeds): length word included.
pub fn encode_startup(version: i32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Builds an 8-byte special request (SSLRequest, GSSENCRequest).
pub fn encode_request(code: i32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&8i32.to_be_bytes());
    out[4..].copy_from_slice(&code.to_be_bytes());
    out
}

/// Builds a CancelRequest.
pub fn encode_cancel(pid: i32, secret: &[u8]) -> Vec<u8> {
    let mut out = ((12 + secret.len()) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    out.extend_from_slice(&pid.to_be_bytes());
    out.extend_from_slice(secret);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(packet: &[u8]) -> &[u8] {
        &packet[4..]
    }

    fn startup(params: &[(&str, &str)]) -> Result<StartupPacket, StartupError> {
        parse(body(&encode_startup(PROTOCOL_3_0, params)))
    }

    fn fatal_code(r: Result<StartupPacket, StartupError>) -> &'static str {
        match r {
            Err(StartupError::Fatal(e)) => {
                assert!(e.is_fatal());
                e.code
            }
            other => panic!("expected FATAL, got {other:?}"),
        }
    }

    #[test]
    fn special_requests() {
        assert_eq!(
            parse(body(&encode_request(SSL_REQUEST_CODE))).unwrap(),
            StartupPacket::SslRequest
        );
        assert_eq!(
            parse(body(&encode_request(GSSENC_REQUEST_CODE))).unwrap(),
            StartupPacket::GssEncRequest
        );
        assert_eq!(
            parse(body(&encode_cancel(7, &[1, 2, 3, 4]))).unwrap(),
            StartupPacket::CancelRequest {
                pid: 7,
                secret: Bytes::from_static(&[1, 2, 3, 4])
            }
        );
        let long = encode_cancel(7, &[5; 32]);
        assert!(matches!(
            parse(body(&long)).unwrap(),
            StartupPacket::CancelRequest { secret, .. } if secret.len() == 32
        ));
        assert!(matches!(
            parse(body(&encode_cancel(7, &[1, 2, 3]))),
            Err(StartupError::Close(_))
        ));
        assert!(matches!(
            parse(body(&encode_cancel(7, &[1; 300]))),
            Err(StartupError::Close(_))
        ));
    }

    #[test]
    fn startup_message_fields() {
        let StartupPacket::Startup(m) = startup(&[
            ("user", "alice"),
            ("application_name", "psql"),
            ("client_encoding", "UTF8"),
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(m.user, "alice");
        assert_eq!(m.database, "alice");
        assert_eq!(m.param("application_name"), Some("psql"));
        assert!(!m.needs_negotiation());
        assert_eq!(m.version, ProtocolVersion { major: 3, minor: 0 });
    }

    #[test]
    fn versions() {
        let p = |v: i32, params: &[(&str, &str)]| parse(body(&encode_startup(v, params)));
        let StartupPacket::Startup(m) = p(PROTOCOL_3_2, &[("user", "u")]).unwrap() else {
            panic!()
        };
        assert!(m.version.is_3_2());
        assert!(!m.needs_negotiation());
        let StartupPacket::Startup(m) = p((3 << 16) | 1, &[("user", "u")]).unwrap() else {
            panic!()
        };
        assert_eq!(m.version.minor, 0);
        assert!(!m.needs_negotiation());
        let StartupPacket::Startup(m) =
            p((3 << 16) | 9999, &[("user", "u"), ("_pq_.grease", "1")]).unwrap()
        else {
            panic!()
        };
        assert!(m.needs_negotiation());
        assert_eq!(m.version.minor, 2);
        assert_eq!(m.unrecognized_options, vec!["_pq_.grease"]);
        assert_eq!(fatal_code(p(4 << 16, &[("user", "u")])), "0A000");
        assert!(matches!(
            p(2 << 16, &[("user", "u")]),
            Err(StartupError::OldStyle(_))
        ));
    }

    #[test]
    fn malformed_layouts() {
        assert_eq!(fatal_code(startup(&[("database", "d")])), "28000");
        assert_eq!(fatal_code(startup(&[("user", "")])), "28000");
        // Missing final terminator.
        let mut pkt = encode_startup(PROTOCOL_3_0, &[("user", "u")]);
        pkt.pop();
        assert_eq!(fatal_code(parse(body(&pkt))), "08P01");
        // Name without a value.
        let mut b = PROTOCOL_3_0.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0u\0lonely\0");
        assert_eq!(fatal_code(parse(&b)), "08P01");
        // Bytes after the terminator.
        let mut b = PROTOCOL_3_0.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0u\0\0x\0");
        assert_eq!(fatal_code(parse(&b)), "08P01");
        // An empty name before the end: the terminator, then stray bytes
        // (found by the `startup` fuzz target).
        let mut b = PROTOCOL_3_0.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0u\0\0x\0\0");
        assert_eq!(fatal_code(parse(&b)), "08P01");
        let mut b = PROTOCOL_3_0.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0u\0\0\0\0");
        assert_eq!(fatal_code(parse(&b)), "08P01");
        // Invalid UTF-8.
        let mut b = PROTOCOL_3_0.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0\xff\0\0");
        assert_eq!(fatal_code(parse(&b)), "22021");
        assert!(matches!(parse(&[0, 0]), Err(StartupError::Close(_))));
        assert!(matches!(
            parse(&[4, 210, 22, 47, 0]),
            Err(StartupError::Close(_))
        ));
    }

    #[test]
    fn lengths() {
        assert!(check_length(7).is_err());
        assert!(check_length(8).is_ok());
        assert!(check_length(10_000).is_ok());
        assert!(check_length(10_001).is_err());
        assert!(check_length(-1).is_err());
    }

    #[test]
    fn identifiers_are_truncated_on_char_boundaries() {
        let long = "é".repeat(40); // 80 bytes
        let t = truncate_identifier(&long);
        assert!(t.len() <= 63);
        assert_eq!(t.len(), 62);
        let StartupPacket::Startup(m) = startup(&[("user", &"u".repeat(100))]).unwrap() else {
            panic!()
        };
        assert_eq!(m.user.len(), 63);
    }
}
