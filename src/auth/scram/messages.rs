//! Strict parsing of the client's SCRAM messages (RFC 5802 section 7) and
//! of the SASLInitialResponse frame, with PostgreSQL's error codes and
//! detail texts (auth-scram.c, auth-sasl.c, pqformat.c).
//!
//! Every function takes bytes a client controls and never panics. Where
//! PostgreSQL is lenient in ways no client relies on, pgiris is stricter: an
//! empty client nonce and a trailing comma after the last attribute are
//! refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::channel_binding::{ChannelBinding, TLS_SERVER_END_POINT};
use super::{KEY_LEN, Key, malformed, protocol_violation, sanitize_char, sanitize_str};
use crate::wire::error::{PgError, sqlstate};

/// PostgreSQL's PG_MAX_SASL_MESSAGE_LENGTH: SASL messages longer than this
/// are refused before they are parsed.
pub const MAX_SASL_MESSAGE_LEN: usize = 1024;

/// The SASLInitialResponse body: the selected mechanism and the optional
/// Initial Client Response (`None` when the length field is -1).
#[derive(Debug, PartialEq, Eq)]
pub struct SaslInitialResponse<'a> {
    pub mechanism: &'a [u8],
    pub data: Option<&'a [u8]>,
}

impl SaslInitialResponse<'_> {
    /// The body [`parse_sasl_initial_response`] reads: what a client sends
    /// (tests, fuzz seeds and the load client build their messages here).
    pub fn encode(&self) -> Vec<u8> {
        let data_len = self.data.map_or(0, <[u8]>::len);
        let mut body = Vec::with_capacity(self.mechanism.len() + 5 + data_len);
        body.extend_from_slice(self.mechanism);
        body.push(0);
        match self.data {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(d) => {
                let len = i32::try_from(d.len()).unwrap_or(i32::MAX);
                body.extend_from_slice(&len.to_be_bytes());
                body.extend_from_slice(d);
            }
        }
        body
    }
}

/// Parses a SASLInitialResponse body (after type byte and length):
/// `mechanism\0`, Int32 length (-1 = no data), data.
pub fn parse_sasl_initial_response(body: &[u8]) -> Result<SaslInitialResponse<'_>, PgError> {
    let nul = body
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| protocol_violation("invalid string in message"))?;
    let mechanism = &body[..nul];
    let rest = &body[nul + 1..];
    let insufficient = || protocol_violation("insufficient data left in message");
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(insufficient)?;
    let len = i32::from_be_bytes(*len);
    let data = if len == -1 {
        if !rest.is_empty() {
            return Err(protocol_violation("invalid message format"));
        }
        None
    } else {
        let len = usize::try_from(len).map_err(|_| insufficient())?;
        if len > rest.len() {
            return Err(insufficient());
        }
        if len < rest.len() {
            return Err(protocol_violation("invalid message format"));
        }
        Some(rest)
    };
    Ok(SaslInitialResponse { mechanism, data })
}

/// PostgreSQL's checks on any SCRAM message before it is parsed: not empty,
/// and no NUL inside (its length must agree with its C string length).
pub fn check_scram_input(input: &[u8]) -> Result<(), PgError> {
    if input.is_empty() {
        return Err(malformed("The message is empty."));
    }
    if input.contains(&0) {
        return Err(malformed("Message length does not match input length."));
    }
    Ok(())
}

/// client-first-message = gs2-header client-first-message-bare.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFirst<'a> {
    pub channel_binding: ChannelBinding,
    /// Everything after the GS2 header: part of the AuthMessage.
    pub bare: &'a [u8],
    /// The client nonce (printable ASCII except ',').
    pub nonce: &'a [u8],
}

/// Parses client-first. The user name in it is ignored, as in PostgreSQL
/// (the startup packet's `user` is the one that counts); extensions after
/// the nonce are syntax-checked and ignored.
pub fn parse_client_first(input: &[u8]) -> Result<ClientFirst<'_>, PgError> {
    check_scram_input(input)?;
    let mut cur = Cursor::new(input);
    let channel_binding = match cur.peek() {
        Some(flag @ (b'n' | b'y')) => {
            cur.advance();
            if cur.peek() != Some(b',') {
                return Err(malformed(format!(
                    "Comma expected, but found character \"{}\".",
                    sanitize_char(cur.peek())
                )));
            }
            cur.advance();
            if flag == b'n' {
                ChannelBinding::NotSupportedClient
            } else {
                ChannelBinding::NotSupportedServer
            }
        }
        Some(b'p') => {
            let cb_name = cur.read_attr_value(b'p')?;
            if cb_name != TLS_SERVER_END_POINT.as_bytes() {
                return Err(protocol_violation(format!(
                    "unsupported SCRAM channel-binding type \"{}\"",
                    sanitize_str(cb_name)
                )));
            }
            ChannelBinding::Required
        }
        other => {
            return Err(malformed(format!(
                "Unexpected channel-binding flag \"{}\".",
                sanitize_char(other)
            )));
        }
    };
    match cur.peek() {
        Some(b'a') => {
            return Err(PgError::fatal(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "client uses authorization identity, but it is not supported",
            ));
        }
        Some(b',') => cur.advance(),
        other => {
            return Err(malformed(format!(
                "Unexpected attribute \"{}\" in client-first-message.",
                sanitize_char(other)
            )));
        }
    }
    let bare = cur.rest();
    if cur.peek() == Some(b'm') {
        return Err(PgError::fatal(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "client requires an unsupported SCRAM extension",
        ));
    }
    cur.read_attr_value(b'n')?;
    let nonce = cur.read_attr_value(b'r')?;
    if nonce.is_empty() {
        return Err(malformed("The client nonce is empty."));
    }
    if !nonce.iter().all(|&c| is_printable(c)) {
        return Err(protocol_violation(
            "non-printable characters in SCRAM nonce",
        ));
    }
    while cur.more_expected() {
        cur.read_any_attr()?;
    }
    Ok(ClientFirst {
        channel_binding,
        bare,
        nonce,
    })
}

/// client-final-message = client-final-message-without-proof "," proof.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFinal<'a> {
    /// The `c=` value as sent (base64 text, compared as text).
    pub channel_binding: &'a [u8],
    pub nonce: &'a [u8],
    pub proof: Key,
    /// Part of the AuthMessage.
    pub without_proof: &'a [u8],
}

/// Parses client-final: `c=`, `r=`, any extensions (ignored), `p=` last.
pub fn parse_client_final(input: &[u8]) -> Result<ClientFinal<'_>, PgError> {
    check_scram_input(input)?;
    let mut cur = Cursor::new(input);
    let channel_binding = cur.read_attr_value(b'c')?;
    let nonce = cur.read_attr_value(b'r')?;
    let (without_proof, proof) = loop {
        // The comma before the attribute about to be read; `read_attr_value`
        // left the cursor just past it.
        let comma = cur.pos.saturating_sub(1);
        let (attr, value) = cur.read_any_attr()?;
        if attr == b'p' {
            break (&input[..comma], value);
        }
    };
    let proof = STANDARD
        .decode(proof)
        .ok()
        .and_then(|p| <Key>::try_from(p).ok())
        .ok_or_else(|| malformed("Malformed proof in client-final-message."))?;
    if cur.more_expected() {
        return Err(malformed(
            "Garbage found at the end of client-final-message.",
        ));
    }
    debug_assert_eq!(proof.len(), KEY_LEN);
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

/// RFC 5802 `printable`: %x21-2B / %x2D-7E (printable ASCII except ',').
fn is_printable(c: u8) -> bool {
    (0x21..=0x7e).contains(&c) && c != b','
}

/// A read position in a SCRAM message, with PostgreSQL's attribute readers.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    /// The last attribute ended in a comma, so another must follow.
    comma_seen: bool,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a [u8]) -> Cursor<'a> {
        Cursor {
            input,
            pos: 0,
            comma_seen: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn advance(&mut self) {
        self.pos = (self.pos + 1).min(self.input.len());
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn more_expected(&self) -> bool {
        self.comma_seen || self.pos < self.input.len()
    }

    /// The value after `=` up to the next comma (consumed) or the end.
    fn read_value(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
        let value = &rest[..len];
        self.pos += len;
        self.comma_seen = self.peek() == Some(b',');
        if self.comma_seen {
            self.pos += 1;
        }
        value
    }

    /// `attr=value`, for a known attribute.
    fn read_attr_value(&mut self, attr: u8) -> Result<&'a [u8], PgError> {
        if self.peek() != Some(attr) {
            return Err(malformed(format!(
                "Expected attribute \"{}\" but found \"{}\".",
                attr as char,
                sanitize_char(self.peek())
            )));
        }
        self.advance();
        self.read_equals_and_value(attr)
    }

    /// `=value` after the attribute letter `attr`.
    fn read_equals_and_value(&mut self, attr: u8) -> Result<&'a [u8], PgError> {
        if self.peek() != Some(b'=') {
            return Err(malformed(format!(
                "Expected character \"=\" for attribute \"{}\".",
                attr as char
            )));
        }
        self.advance();
        Ok(self.read_value())
    }

    /// `ALPHA=value`, any attribute.
    fn read_any_attr(&mut self) -> Result<(u8, &'a [u8]), PgError> {
        let attr = match self.peek() {
            None => {
                return Err(malformed("Attribute expected, but found end of string."));
            }
            Some(c) if c.is_ascii_alphabetic() => c,
            other => {
                return Err(malformed(format!(
                    "Attribute expected, but found invalid character \"{}\".",
                    sanitize_char(other)
                )));
            }
        };
        self.advance();
        Ok((attr, self.read_equals_and_value(attr)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_forms() {
        let m = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(m.channel_binding, ChannelBinding::NotSupportedClient);
        assert_eq!(m.bare, b"n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(m.nonce, b"rOprNGfwEbeRWgbNEkqO");
        let m = parse_client_first(b"y,,n=,r=abc").unwrap();
        assert_eq!(m.channel_binding, ChannelBinding::NotSupportedServer);
        let m = parse_client_first(b"p=tls-server-end-point,,n=,r=abc,x=ext,z=").unwrap();
        assert_eq!(m.channel_binding, ChannelBinding::Required);
        assert_eq!(m.bare, b"n=,r=abc,x=ext,z=");
        assert_eq!(m.nonce, b"abc");
    }

    #[test]
    fn client_final_forms() {
        let proof = STANDARD.encode([7u8; 32]);
        let text = format!("c=biws,r=abcdef,p={proof}");
        let m = parse_client_final(text.as_bytes()).unwrap();
        assert_eq!(m.channel_binding, b"biws");
        assert_eq!(m.nonce, b"abcdef");
        assert_eq!(m.proof, [7u8; 32]);
        assert_eq!(m.without_proof, b"c=biws,r=abcdef");
        let text = format!("c=biws,r=abcdef,x=1,p={proof}");
        let m = parse_client_final(text.as_bytes()).unwrap();
        assert_eq!(m.without_proof, b"c=biws,r=abcdef,x=1");
    }

    #[test]
    fn sasl_initial_response_frames() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(b"abc");
        let m = parse_sasl_initial_response(&body).unwrap();
        assert_eq!(m.mechanism, b"SCRAM-SHA-256");
        assert_eq!(m.data, Some(&b"abc"[..]));
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(parse_sasl_initial_response(&body).unwrap().data, None);
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(
            parse_sasl_initial_response(&body).unwrap().data,
            Some(&b""[..])
        );
        for data in [None, Some(&b""[..]), Some(&b"n,,n=,r=x"[..])] {
            let m = SaslInitialResponse {
                mechanism: b"SCRAM-SHA-256-PLUS",
                data,
            };
            assert_eq!(parse_sasl_initial_response(&m.encode()).unwrap(), m);
        }
    }
}
