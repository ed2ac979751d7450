//! A lean PostgreSQL client for load: one small buffer per connection, no
//! task of its own, every read bounded by a timeout. Not a general client:
//! simple queries return their rows as text, errors their SQLSTATE and
//! message. Messages are built and decoded with pgiris's wire codecs, the
//! SCRAM arithmetic (the salted password computed once per salt) is
//! [`crate::common::tlsauth`]'s.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Buf, BytesMut};
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::raw::encode;
use crate::common::tlsauth::{query, sasl_initial, sasl_response, scram_proofs};

/// Bound on each read and on connect.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An ErrorResponse (or a transport failure, with code "io").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgErr {
    pub severity: String,
    pub code: String,
    pub message: String,
}

impl PgErr {
    pub fn io(what: impl std::fmt::Display) -> PgErr {
        PgErr {
            severity: "CLIENT".into(),
            code: "io".into(),
            message: what.to_string(),
        }
    }

    fn protocol(what: impl std::fmt::Display) -> PgErr {
        PgErr {
            severity: "CLIENT".into(),
            code: "protocol".into(),
            message: what.to_string(),
        }
    }

    /// The severity, SQLSTATE and message of an ErrorResponse.
    fn from_error(m: &BackendMessage) -> PgErr {
        let field = |code| m.field(code).unwrap_or_default().to_owned();
        PgErr {
            severity: field(b'S'),
            code: field(b'C'),
            message: field(b'M'),
        }
    }
}

impl std::fmt::Display for PgErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

/// Who logs in, to what, with what.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub database: String,
    /// For SCRAM; `None` for trust.
    pub password: Option<String>,
    /// Source address to bind (127.0.0.x); `None` = the system's choice.
    pub source: Option<IpAddr>,
}

impl Login {
    pub fn trust(user: &str, database: &str) -> Login {
        Login {
            user: user.into(),
            database: database.into(),
            password: None,
            source: None,
        }
    }

    pub fn scram(user: &str, database: &str, password: &str) -> Login {
        Login {
            password: Some(password.into()),
            ..Login::trust(user, database)
        }
    }

    pub fn from(mut self, source: IpAddr) -> Login {
        self.source = Some(source);
        self
    }
}

/// Opens a TCP connection from `source` (when given).
pub async fn tcp(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, PgErr> {
    let socket = TcpSocket::new_v4().map_err(PgErr::io)?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(PgErr::io)?;
    }
    let s = tokio::time::timeout(TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| PgErr::io("connect timed out"))?
        .map_err(PgErr::io)?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A protocol 3.0 StartupMessage for `user` and `database`.
pub fn startup_packet(user: &str, database: &str) -> Vec<u8> {
    startup::encode_startup(
        startup::PROTOCOL_3_0,
        &[("user", user), ("database", database)],
    )
}

/// Sends a CancelRequest on a new connection and waits for the server to
/// close it.
pub async fn cancel(
    addr: SocketAddr,
    source: Option<IpAddr>,
    pid: i32,
    secret: &[u8],
) -> Result<(), PgErr> {
    let mut s = tcp(addr, source).await?;
    s.write_all(&startup::encode_cancel(pid, secret))
        .await
        .map_err(PgErr::io)?;
    let mut b = [0u8; 16];
    match tokio::time::timeout(TIMEOUT, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(()),
        Ok(Ok(_)) => Err(PgErr::protocol("the server answered a CancelRequest")),
        Err(_) => Err(PgErr::io("the server kept a cancel connection open")),
    }
}

/// A logged-in connection.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    pub pid: i32,
    pub secret: Vec<u8>,
}

impl Conn {
    /// Connects and logs in (trust or SCRAM-SHA-256) through ReadyForQuery.
    pub async fn login(addr: SocketAddr, login: &Login) -> Result<Conn, PgErr> {
        let stream = tcp(addr, login.source).await?;
        let mut c = Conn {
            stream,
            buf: BytesMut::with_capacity(256),
            pid: 0,
            secret: Vec::new(),
        };
        c.send(&startup_packet(&login.user, &login.database))
            .await?;
        let mut scram: Option<(String, String)> = None; // (client nonce, client-first-bare)
        let mut expected_server_signature: Option<String> = None;
        loop {
            match c.read().await? {
                BackendMessage::Authentication { code, data } => match code {
                    0 => {}
                    10 => {
                        let password = login.password.as_deref().ok_or_else(|| {
                            PgErr::protocol("SCRAM asked for but no password given")
                        })?;
                        let _ = password;
                        let mut raw = [0u8; 18];
                        rand::fill(&mut raw);
                        let nonce = B64.encode(raw);
                        let bare = format!("n=,r={nonce}");
                        let first = format!("n,,{bare}");
                        c.send(&sasl_initial("SCRAM-SHA-256", first.as_bytes()))
                            .await?;
                        scram = Some((nonce, bare));
                    }
                    11 => {
                        let (client_nonce, bare) = scram
                            .take()
                            .ok_or_else(|| PgErr::protocol("SASLContinue first"))?;
                        let server_first = String::from_utf8_lossy(&data).into_owned();
                        let mut nonce = "";
                        let mut salt = Vec::new();
                        let mut iterations = 0u32;
                        for attr in server_first.split(',') {
                            if let Some(v) = attr.strip_prefix("r=") {
                                nonce = v;
                            } else if let Some(v) = attr.strip_prefix("s=") {
                                salt = B64.decode(v).map_err(PgErr::protocol)?;
                            } else if let Some(v) = attr.strip_prefix("i=") {
                                iterations = v.parse().map_err(PgErr::protocol)?;
                            }
                        }
                        if !nonce.starts_with(&client_nonce) {
                            return Err(PgErr::protocol("server nonce does not extend ours"));
                        }
                        let password = login.password.as_deref().unwrap_or_default();
                        let without_proof = format!("c=biws,r={nonce}");
                        let auth_message = format!("{bare},{server_first},{without_proof}");
                        let (proof, server_signature) =
                            scram_proofs(password, &salt, iterations, &auth_message);
                        expected_server_signature = Some(B64.encode(server_signature));
                        let last = format!("{without_proof},p={}", B64.encode(proof));
                        c.send(&sasl_response(last.as_bytes())).await?;
                    }
                    12 => {
                        let text = String::from_utf8_lossy(&data).into_owned();
                        let v = text.strip_prefix("v=").unwrap_or_default();
                        if Some(v) != expected_server_signature.as_deref() {
                            return Err(PgErr::protocol("wrong server signature"));
                        }
                    }
                    other => {
                        return Err(PgErr::protocol(format!(
                            "authentication request {other} not supported"
                        )));
                    }
                },
                BackendMessage::BackendKeyData { pid, secret } => {
                    c.pid = pid;
                    c.secret = secret.to_vec();
                }
                m @ BackendMessage::ErrorResponse(_) => return Err(PgErr::from_error(&m)),
                BackendMessage::ReadyForQuery(_) => return Ok(c),
                _ => {}
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), PgErr> {
        self.stream.write_all(bytes).await.map_err(PgErr::io)
    }

    /// One backend message.
    async fn read(&mut self) -> Result<BackendMessage, PgErr> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().expect("4 bytes"));
                if len < 4 {
                    return Err(PgErr::protocol(format!("message length {len}")));
                }
                let total = 1 + len as usize;
                if self.buf.len() >= total {
                    let tag = self.buf[0];
                    self.buf.advance(5);
                    let body = self.buf.split_to(total - 5).freeze();
                    return BackendMessage::decode(tag, body).map_err(PgErr::protocol);
                }
                self.buf.reserve(total - self.buf.len());
            }
            let n = tokio::time::timeout(TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| PgErr::io("read timed out"))?
                .map_err(PgErr::io)?;
            if n == 0 {
                return Err(PgErr::io("connection closed"));
            }
        }
    }

    /// Runs a simple query; its rows as text, or the first error (after
    /// ReadyForQuery).
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, PgErr> {
        self.send_query(sql).await?;
        self.read_result().await
    }

    /// Sends a simple query without reading the answer.
    pub async fn send_query(&mut self, sql: &str) -> Result<(), PgErr> {
        self.send(&query(sql)).await
    }

    /// Reads through ReadyForQuery.
    pub async fn read_result(&mut self) -> Result<Vec<Vec<Option<String>>>, PgErr> {
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.read().await? {
                BackendMessage::DataRow(cells) => rows.push(
                    cells
                        .iter()
                        .map(|c| c.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
                        .collect(),
                ),
                m @ BackendMessage::ErrorResponse(_) => {
                    let e = PgErr::from_error(&m);
                    if e.severity == "FATAL" || e.severity == "PANIC" {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                BackendMessage::ReadyForQuery(_) => {
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }

    /// The first column of the first row.
    pub async fn scalar(&mut self, sql: &str) -> Result<Option<String>, PgErr> {
        let rows = self.query(sql).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    /// Terminate, then wait for the server to close.
    pub async fn terminate(mut self) {
        let _ = self.send(&encode(&[FrontendMessage::Terminate])).await;
        let mut b = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut b)).await;
    }

    /// Closes with a reset (SO_LINGER 0): no Terminate, no FIN.
    pub fn abort(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    /// Drops the socket with an orderly FIN but no Terminate.
    pub fn close(self) {
        drop(self.stream);
    }
}
