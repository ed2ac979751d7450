//! A raw-protocol client: exact bytes out, decoded backend messages in,
//! every read bounded by a timeout so a silent server fails the test
//! instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup::{self, GSSENC_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default bound on each read: a hang detector, not a latency bound (tests
/// that bound a delay measure it), so generous enough for a debug-build
/// server on a busy machine.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub use pgiris::wire::startup::{PROTOCOL_3_0 as V3_0, PROTOCOL_3_2 as V3_2};

/// A protocol version code from major and minor.
pub const fn version(major: u16, minor: u16) -> i32 {
    ((major as i32) << 16) | minor as i32
}

/// The result of a read that may meet the end of the stream.
#[derive(Debug)]
pub enum Read {
    Message(BackendMessage),
    /// The server closed the connection (cleanly or by reset) with no more
    /// bytes.
    Closed,
}

/// What a successful login sent.
#[derive(Debug, Clone)]
pub struct Login {
    /// Every message up to and including ReadyForQuery.
    pub messages: Vec<BackendMessage>,
    pub pid: i32,
    pub secret: Bytes,
    /// ParameterStatus pairs, in the order sent.
    pub params: Vec<(String, String)>,
}

impl Login {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    pub timeout: Duration,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient::connected(TcpStream::connect(addr)).await
    }

    /// Connects from the local address `local` (any 127.x.y.z works on
    /// Linux loopback), so the server sees another source address.
    pub async fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> RawClient {
        let socket = match local {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("socket");
        socket
            .bind(SocketAddr::new(local, 0))
            .unwrap_or_else(|e| panic!("bind {local}: {e}"));
        RawClient::connected(socket.connect(addr)).await
    }

    /// Waits (within [`READ_TIMEOUT`]) for `connect` to finish.
    async fn connected(
        connect: impl std::future::Future<Output = std::io::Result<TcpStream>>,
    ) -> RawClient {
        let stream = tokio::time::timeout(READ_TIMEOUT, connect)
            .await
            .expect("connect timed out")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: BytesMut::with_capacity(8192),
            timeout: READ_TIMEOUT,
        }
    }

    /// Connects, sends a 3.0 StartupMessage with `user` (and `database`
    /// when given) and reads the login through ReadyForQuery; panics on
    /// anything else.
    pub async fn login(addr: SocketAddr, user: &str, database: Option<&str>) -> (RawClient, Login) {
        let mut params = vec![("user", user)];
        if let Some(d) = database {
            params.push(("database", d));
        }
        RawClient::login_with(addr, PROTOCOL_3_0, &params).await
    }

    /// As [`RawClient::login`] with any version and parameters.
    pub async fn login_with(
        addr: SocketAddr,
        version: i32,
        params: &[(&str, &str)],
    ) -> (RawClient, Login) {
        let mut c = RawClient::connect(addr).await;
        c.send_startup(version, params).await;
        let messages = c.read_until_ready().await;
        let login = login_from(messages);
        (c, login)
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Sends raw bytes, tolerating a connection the server already closed.
    pub async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a StartupMessage.
    pub async fn send_startup(&mut self, version: i32, params: &[(&str, &str)]) {
        self.send(&startup::encode_startup(version, params)).await;
    }

    pub async fn send_ssl_request(&mut self) {
        self.send(&startup::encode_request(SSL_REQUEST_CODE)).await;
    }

    pub async fn send_gssenc_request(&mut self) {
        self.send(&startup::encode_request(GSSENC_REQUEST_CODE))
            .await;
    }

    pub async fn send_cancel(&mut self, pid: i32, secret: &[u8]) {
        self.send(&startup::encode_cancel(pid, secret)).await;
    }

    /// Sends one frontend message.
    pub async fn send_msg(&mut self, m: &FrontendMessage) {
        self.send(&encode(std::slice::from_ref(m))).await;
    }

    /// Sends a simple Query.
    pub async fn send_query(&mut self, sql: &str) {
        self.send_msg(&FrontendMessage::Query(sql.to_owned())).await;
    }

    /// Sends a Query and reads through ReadyForQuery.
    pub async fn query(&mut self, sql: &str) -> Vec<BackendMessage> {
        self.send_query(sql).await;
        self.read_until_ready().await
    }

    /// Sends Terminate and waits for the server to close.
    pub async fn terminate(mut self) {
        self.send_msg(&FrontendMessage::Terminate).await;
        self.expect_closed().await;
    }

    /// Waits until the server process has read every byte sent on this
    /// connection so far (nothing left in this socket's send queue or in the
    /// server socket's receive queue, per /proc/net/tcp); panics after
    /// `timeout`. A test that must act only once the server holds a whole
    /// message (a cancel for a statement it has received, not one still in
    /// flight) waits here instead of guessing with a sleep. The server must
    /// run in this network namespace (in-process or a child process).
    pub async fn wait_server_read_all(&self, timeout: Duration) {
        let local = self.stream.local_addr().expect("local addr");
        let peer = self.stream.peer_addr().expect("peer addr");
        let mut last = None;
        let drained = super::wait_until(timeout, || {
            let queues = tcp_queues(local, peer);
            last = Some(queues);
            queues == Some((0, 0))
        })
        .await;
        assert!(
            drained,
            "the server did not read what was sent within {timeout:?} \
             (client send queue, server receive queue: {last:?})"
        );
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0), as a killed
    /// client's kernel may.
    pub fn abort(self) {
        let sock = socket2::SockRef::from(&self.stream);
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(self);
    }

    /// Shuts down the write side (the server sees end of stream).
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no data from the server within {:?}", self.timeout),
            )),
        }
    }

    /// Reads exactly `n` raw bytes (the 'N'/'S' answers to SSLRequest and
    /// GSSENCRequest, old-style errors).
    pub async fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match self.fill().await {
                Ok(0) => panic!(
                    "connection closed after {} of {n} bytes: {:?}",
                    self.buf.len(),
                    &self.buf[..]
                ),
                Ok(_) => {}
                Err(e) => panic!("reading {n} bytes: {e}; have {:?}", &self.buf[..]),
            }
        }
        self.buf.split_to(n).to_vec()
    }

    /// Reads everything until the server closes (within the timeout).
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_reset(&e) => break,
                Err(e) => panic!("waiting for close: {e}; have {:?}", &self.buf[..]),
            }
        }
        self.buf.split().to_vec()
    }

    /// The next message, or `Closed` at end of stream.
    pub async fn read(&mut self) -> Read {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                assert!(
                    (4..=64 << 20).contains(&len),
                    "bad backend message length {len} (tag {:?}); buffer {:?}",
                    self.buf[0] as char,
                    &self.buf[..self.buf.len().min(64)]
                );
                let total = 1 + len as usize;
                if self.buf.len() >= total {
                    let frame = self.buf.split_to(total);
                    let m = BackendMessage::decode(frame[0], Bytes::copy_from_slice(&frame[5..]))
                        .unwrap_or_else(|e| panic!("undecodable backend message: {e:?}"));
                    return Read::Message(m);
                }
            }
            match self.fill().await {
                Ok(0) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed inside a message: {:?}",
                        &self.buf[..]
                    );
                    return Read::Closed;
                }
                Ok(_) => {}
                Err(e) if is_reset(&e) && self.buf.is_empty() => return Read::Closed,
                Err(e) => panic!("reading a message: {e}; have {:?}", &self.buf[..]),
            }
        }
    }

    /// The next message; panics at end of stream or timeout.
    pub async fn read_message(&mut self) -> BackendMessage {
        match self.read().await {
            Read::Message(m) => m,
            Read::Closed => panic!("connection closed while a message was expected"),
        }
    }

    /// Messages through the next ReadyForQuery (included).
    pub async fn read_until_ready(&mut self) -> Vec<BackendMessage> {
        let mut out = Vec::new();
        loop {
            match self.read().await {
                Read::Message(m) => {
                    let done = matches!(m, BackendMessage::ReadyForQuery(_));
                    out.push(m);
                    if done {
                        return out;
                    }
                }
                Read::Closed => panic!("connection closed before ReadyForQuery; got {out:#?}"),
            }
        }
    }

    /// Messages until the server closes.
    pub async fn read_until_closed(&mut self) -> Vec<BackendMessage> {
        let mut out = Vec::new();
        loop {
            match self.read().await {
                Read::Message(m) => out.push(m),
                Read::Closed => return out,
            }
        }
    }

    /// Asserts the server closes without sending anything more.
    pub async fn expect_closed(&mut self) {
        let rest = self.read_to_close().await;
        assert!(
            rest.is_empty(),
            "expected a silent close, got bytes {rest:?}"
        );
    }

    /// Asserts the next message is a FATAL ErrorResponse with `code`, that
    /// it is the last thing sent, and that the server then closes. Returns
    /// the error.
    pub async fn expect_fatal(&mut self, code: &str) -> BackendMessage {
        let m = self.read_message().await;
        assert_error(&m, "FATAL", code);
        self.expect_closed().await;
        m
    }
}

/// The send queue of the socket `local` -> `peer` and the receive queue of
/// its other end `peer` -> `local`, from /proc/net/tcp (IPv4 loopback
/// connections); None when either is not listed.
pub fn tcp_queues(local: SocketAddr, peer: SocketAddr) -> Option<(u64, u64)> {
    fn parse_addr(field: &str) -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        // The kernel prints the address as a number in host byte order.
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some(SocketAddr::new(
            std::net::Ipv4Addr::from(ip.to_ne_bytes()).into(),
            port,
        ))
    }
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let (mut send, mut receive) = (None, None);
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let (Some(l), Some(r)) = (parse_addr(f[1]), parse_addr(f[2])) else {
            continue;
        };
        let Some((tx, rx)) = f[4].split_once(':') else {
            continue;
        };
        let (Ok(tx), Ok(rx)) = (u64::from_str_radix(tx, 16), u64::from_str_radix(rx, 16)) else {
            continue;
        };
        if (l, r) == (local, peer) {
            send = Some(tx);
        } else if (l, r) == (peer, local) {
            receive = Some(rx);
        }
    }
    Some((send?, receive?))
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// Encodes frontend messages into one buffer (to pipeline them).
pub fn encode(msgs: &[FrontendMessage]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// Splits a login's messages; panics unless it ends in ReadyForQuery('I')
/// after AuthenticationOk and BackendKeyData.
pub fn login_from(messages: Vec<BackendMessage>) -> Login {
    let mut pid = None;
    let mut secret = None;
    let mut params = Vec::new();
    let mut auth_ok = false;
    for m in &messages {
        match m {
            BackendMessage::Authentication { code: 0, .. } => auth_ok = true,
            BackendMessage::ParameterStatus { name, value } => {
                params.push((name.clone(), value.clone()))
            }
            BackendMessage::BackendKeyData { pid: p, secret: s } => {
                pid = Some(*p);
                secret = Some(s.clone());
            }
            BackendMessage::ErrorResponse(_) => panic!("login failed: {messages:#?}"),
            _ => {}
        }
    }
    assert!(auth_ok, "no AuthenticationOk in {messages:#?}");
    assert_eq!(
        messages.last(),
        Some(&BackendMessage::ReadyForQuery(b'I')),
        "login must end with ReadyForQuery('I')"
    );
    Login {
        pid: pid.unwrap_or_else(|| panic!("no BackendKeyData in {messages:#?}")),
        secret: secret.unwrap_or_default(),
        params,
        messages,
    }
}

/// Asserts `m` is an ErrorResponse with severity `severity` (both S and V)
/// and SQLSTATE `code`, carrying a message.
pub fn assert_error(m: &BackendMessage, severity: &str, code: &str) {
    assert!(
        matches!(m, BackendMessage::ErrorResponse(_)),
        "expected ErrorResponse {severity} {code}, got {m:?}"
    );
    assert_eq!(m.field(b'S'), Some(severity), "S field of {m:?}");
    assert_eq!(m.field(b'V'), Some(severity), "V field of {m:?}");
    assert_eq!(m.field(b'C'), Some(code), "C field of {m:?}");
    assert!(
        m.field(b'M').is_some_and(|s| !s.is_empty()),
        "M field of {m:?}"
    );
}

/// The M field of an error or notice.
pub fn message_of(m: &BackendMessage) -> &str {
    m.field(b'M')
        .unwrap_or_else(|| panic!("no message field in {m:?}"))
}

/// The first ErrorResponse in `msgs`.
pub fn error_in(msgs: &[BackendMessage]) -> &BackendMessage {
    msgs.iter()
        .find(|m| matches!(m, BackendMessage::ErrorResponse(_)))
        .unwrap_or_else(|| panic!("no ErrorResponse in {msgs:#?}"))
}

/// The text cells of every DataRow in `msgs` (NULL as None).
pub fn rows(msgs: &[BackendMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            BackendMessage::DataRow(cells) => Some(
                cells
                    .iter()
                    .map(|c| {
                        c.as_ref()
                            .map(|b| String::from_utf8(b.to_vec()).expect("text cell"))
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The single text value of a one-row, one-column result.
pub fn scalar(msgs: &[BackendMessage]) -> String {
    let r = rows(msgs);
    assert_eq!(r.len(), 1, "expected one row in {msgs:#?}");
    assert_eq!(r[0].len(), 1, "expected one column in {msgs:#?}");
    r[0][0].clone().expect("non-null value")
}

/// The CommandComplete tags in `msgs`.
pub fn tags(msgs: &[BackendMessage]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            BackendMessage::CommandComplete(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The status byte of the final ReadyForQuery.
pub fn status(msgs: &[BackendMessage]) -> u8 {
    match msgs.last() {
        Some(BackendMessage::ReadyForQuery(s)) => *s,
        other => panic!("expected ReadyForQuery last, got {other:?}"),
    }
}
