//! What happens on a fresh connection before any session exists, as in
//! PostgreSQL's backend_startup.c: peek for direct TLS (first byte 0x16,
//! ALPN `postgresql` required), answer SSLRequest ('S' and a handshake, or
//! 'N') and GSSENCRequest ('N') in either order, refuse bytes pipelined after
//! either request, then read the StartupMessage or CancelRequest (plain or
//! inside TLS). The caller bounds the whole thing with the login deadline.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::net::stream::{ClientStream, Transport};
use crate::net::tls::{PG_ALPN, TlsContext, TlsSessionInfo, session_info};
use crate::wire::backend::error_response;
use crate::wire::error::{PgError, sqlstate};
use crate::wire::startup::{self, StartupError, StartupMessage, StartupPacket};

/// The TLS record type of a ClientHello: a direct-TLS connection.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a negotiated connection asks for.
#[derive(Debug)]
pub enum Request {
    Startup(StartupMessage),
    Cancel { pid: i32, secret: Bytes },
}

/// A connection ready for its session (or its cancel).
pub struct Negotiated {
    pub stream: ClientStream,
    pub request: Request,
    /// The handshake's facts when TLS is on.
    pub tls: Option<TlsSessionInfo>,
    /// Whether the TLS came by PostgreSQL 17's direct negotiation.
    pub direct_tls: bool,
}

/// Why a connection ended during negotiation.
#[derive(Debug)]
pub enum Refusal {
    /// The peer closed before sending a packet (port scanners, health
    /// checks): not worth a log line, as in PostgreSQL.
    Silent,
    /// Closed without a reply; the reason is for the log.
    Closed(String),
    /// This FATAL error was sent to the client, then the socket closed.
    Fatal(PgError),
    /// The TLS handshake failed (the reason is for the log).
    TlsFailed(String),
}

/// Bytes buffered behind an SSLRequest or GSSENCRequest were sent before
/// the client knew the answer, so a man in the middle may have injected
/// them (CVE-2021-23214); PostgreSQL refuses them whatever it answered.
fn unencrypted_data_after(request: &str) -> PgError {
    PgError::fatal(
        sqlstate::PROTOCOL_VIOLATION,
        format!("received unencrypted data after {request}"),
    )
    .with_detail(
        "This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.",
    )
}

fn unsupported_version(code: i32) -> PgError {
    let v = startup::ProtocolVersion::from_code(code);
    PgError::fatal(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!(
            "unsupported frontend protocol {}.{}: server supports 3.0 to 3.{}",
            v.major,
            v.minor,
            startup::LATEST_MINOR
        ),
    )
}

async fn send_fatal<S: AsyncWrite + Unpin>(s: &mut S, e: PgError) -> Refusal {
    let mut out = BytesMut::new();
    error_response(&mut out, &e);
    let _ = s.write_all(&out).await;
    let _ = s.flush().await;
    let _ = s.shutdown().await;
    Refusal::Fatal(e)
}

/// Reads one startup packet into `buf` (which may already hold bytes) and
/// returns its body. `Ok(None)`: the peer closed before sending anything.
async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
) -> Result<Option<Bytes>, Refusal> {
    while buf.len() < 4 {
        let n = s
            .read_buf(buf)
            .await
            .map_err(|e| Refusal::Closed(format!("could not receive data from client: {e}")))?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Refusal::Closed("incomplete startup packet".into()))
            };
        }
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = startup::check_length(len).map_err(|e| match e {
        StartupError::Close(reason) => Refusal::Closed(reason),
        other => Refusal::Closed(format!("{other:?}")),
    })?;
    while buf.len() < len {
        buf.reserve(len - buf.len());
        let n = s
            .read_buf(buf)
            .await
            .map_err(|e| Refusal::Closed(format!("could not receive data from client: {e}")))?;
        if n == 0 {
            return Err(Refusal::Closed("incomplete startup packet".into()));
        }
    }
    let mut packet = buf.split_to(len);
    packet.advance(4);
    Ok(Some(packet.freeze()))
}

/// The connection as negotiation proceeds.
enum Phase {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Phase {
    async fn read_packet(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, Refusal> {
        match self {
            Phase::Plain(s) => read_packet(s, buf).await,
            Phase::Tls(s) => read_packet(s.as_mut(), buf).await,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let r = match self {
            Phase::Plain(s) => s.write_all(bytes).await,
            Phase::Tls(s) => s.write_all(bytes).await,
        };
        r.map_err(|e| Refusal::Closed(format!("could not send data to client: {e}")))
    }

    async fn fatal(self, e: PgError) -> Refusal {
        match self {
            Phase::Plain(mut s) => send_fatal(&mut s, e).await,
            Phase::Tls(mut s) => send_fatal(s.as_mut(), e).await,
        }
    }
}

async fn accept_tls(
    tcp: TcpStream,
    ctx: &TlsContext,
) -> Result<Box<tokio_rustls::server::TlsStream<TcpStream>>, Refusal> {
    let acceptor = TlsAcceptor::from(Arc::clone(&ctx.server_config));
    acceptor
        .accept(tcp)
        .await
        .map(Box::new)
        .map_err(|e| Refusal::TlsFailed(format!("could not accept SSL connection: {e}")))
}

/// Runs the negotiation on a freshly accepted socket.
pub async fn negotiate(tcp: TcpStream, tls: Option<&TlsContext>) -> Result<Negotiated, Refusal> {
    let mut first = [0u8; 1];
    let n = tcp
        .peek(&mut first)
        .await
        .map_err(|e| Refusal::Closed(format!("could not receive data from client: {e}")))?;
    if n == 0 {
        return Err(Refusal::Silent);
    }
    let mut direct_tls = false;
    let mut phase = if first[0] == TLS_HANDSHAKE_RECORD {
        let Some(ctx) = tls else {
            return Err(Refusal::Closed(
                "direct SSL connection requested but SSL is not enabled".into(),
            ));
        };
        let stream = accept_tls(tcp, ctx).await?;
        if stream.get_ref().1.alpn_protocol() != Some(PG_ALPN) {
            let e = PgError::fatal(
                sqlstate::PROTOCOL_VIOLATION,
                "received direct SSL connection request without ALPN protocol negotiation extension",
            );
            return Err(Phase::Tls(stream).fatal(e).await);
        }
        direct_tls = true;
        Phase::Tls(stream)
    } else {
        Phase::Plain(tcp)
    };
    // Inside direct TLS an SSLRequest is still answered, with 'N', as
    // PostgreSQL 17 does.
    let mut ssl_done = false;
    let mut gss_done = false;
    let mut buf = BytesMut::with_capacity(512);
    loop {
        let Some(body) = phase.read_packet(&mut buf).await? else {
            return Err(Refusal::Silent);
        };
        let packet = match startup::parse(&body) {
            Ok(p) => p,
            Err(StartupError::Close(reason)) => return Err(Refusal::Closed(reason)),
            Err(StartupError::Fatal(e)) => return Err(phase.fatal(e).await),
            Err(StartupError::OldStyle(text)) => {
                let mut out = vec![b'E'];
                out.extend_from_slice(text.as_bytes());
                out.push(0);
                let _ = phase.write(&out).await;
                return Err(Refusal::Fatal(PgError::fatal(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    text.trim().trim_start_matches("FATAL:").trim().to_owned(),
                )));
            }
        };
        match packet {
            StartupPacket::SslRequest => {
                if ssl_done {
                    return Err(phase
                        .fatal(unsupported_version(startup::SSL_REQUEST_CODE))
                        .await);
                }
                ssl_done = true;
                let tcp = match (phase, tls) {
                    (Phase::Plain(mut tcp), Some(ctx)) => {
                        tcp.write_all(b"S").await.map_err(|e| {
                            Refusal::Closed(format!("could not send data to client: {e}"))
                        })?;
                        if !buf.is_empty() {
                            let e = unencrypted_data_after("SSL request");
                            return Err(send_fatal(&mut tcp, e).await);
                        }
                        // After TLS, no GSSENCRequest (PostgreSQL).
                        gss_done = true;
                        Phase::Tls(accept_tls(tcp, ctx).await?)
                    }
                    (mut other, _) => {
                        other.write(b"N").await?;
                        if !buf.is_empty() {
                            return Err(other.fatal(unencrypted_data_after("SSL request")).await);
                        }
                        other
                    }
                };
                phase = tcp;
            }
            StartupPacket::GssEncRequest => {
                if gss_done {
                    return Err(phase
                        .fatal(unsupported_version(startup::GSSENC_REQUEST_CODE))
                        .await);
                }
                gss_done = true;
                phase.write(b"N").await?;
                if !buf.is_empty() {
                    let e = unencrypted_data_after("GSSAPI encryption request");
                    return Err(phase.fatal(e).await);
                }
            }
            StartupPacket::CancelRequest { pid, secret } => {
                return Ok(finish(
                    phase,
                    buf,
                    Request::Cancel { pid, secret },
                    direct_tls,
                ));
            }
            StartupPacket::Startup(m) => {
                return Ok(finish(phase, buf, Request::Startup(m), direct_tls));
            }
        }
    }
}

fn finish(phase: Phase, leftover: BytesMut, request: Request, direct_tls: bool) -> Negotiated {
    // Nothing read ahead (the usual case): keep no buffer.
    let leftover = if leftover.is_empty() {
        BytesMut::new()
    } else {
        leftover
    };
    let (transport, tls) = match phase {
        Phase::Plain(t) => (Transport::Plain(t), None),
        Phase::Tls(t) => {
            let info = session_info(t.get_ref().1);
            (Transport::Tls(t), info)
        }
    };
    Negotiated {
        stream: ClientStream::new(transport, leftover),
        request,
        tls,
        direct_tls,
    }
}
