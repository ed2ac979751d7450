//! One IRIS connection: the transport (TCP or TLS from the first byte), the
//! handshake and login, and the statement, fetch, error and transaction
//! messages on top of it. It implements [`BackendConnection`].
//!
//! Message ids go 1, 3, 5 …; each statement gets a new statement id and
//! follow-ups (`PQ`, `PU`, `FD`, `CC`, `OE`) reuse it; `TC`/`TR`/`AF`/`AN`
//! use statement id 0, `DC` message id 0 (research §2.1, as the official
//! drivers do).
//!
//! Failure rules: any I/O error, read timeout or unreadable reply marks the
//! connection broken ([`BackendConnection::is_usable`] turns false) and
//! closes the socket, so a lost IRIS never leaves a caller waiting on a
//! half-read stream. The [`Interrupter`] shuts the socket down while a call
//! runs; that call then fails with 57014 and the connection is discarded
//! (IRIS has no cancel message; the server ends the job when the socket
//! closes). After a loss, `in_transaction()` keeps reporting the transaction
//! that was open, so the session can tell the client it was lost instead of
//! silently continuing outside it.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{
    BackendConnection, Column, Description, ExecOutcome, Interrupter, RowSink, Statement, TxOp,
};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::{Oid, oid};

use super::frame::{self, FrameError, Message, code, status};
use super::list::{ListError, ListReader, ListWriter};
use super::message::{self, ColumnInfo, HandshakeReply, LoginFields, LoginReply, Metadata, Params};
use super::sql::{self, SessionValues};
use super::sqlcode;
use super::types::{self, RowBuffers};

/// How long a write may block before the connection counts as lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive: a vanished IRIS host is noticed within about a minute
/// (30 s idle, then 3 probes 10 s apart) even without a query timeout.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// The socket read timeout for a query timeout: a little longer, so that
/// IRIS's own timeout (sent with each statement) fires first and reports an
/// SQLCODE; the socket timeout catches a server that stopped answering.
fn read_timeout_for(query_timeout: Duration) -> Option<Duration> {
    if query_timeout.is_zero() {
        return None;
    }
    let grace = (query_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(5));
    Some(query_timeout + grace)
}
/// Prepared statements kept per connection (from `describe`).
const PREPARED_CAPACITY: usize = 64;

/// What the client tells IRIS about itself at login, and the protocol it
/// asks for. Items 4–8 of `CN` are only logged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    pub protocol: u16,
    pub os_user: String,
    pub host_name: String,
    pub app_name: String,
    pub client_info: Vec<u8>,
    /// `None`: the local address of the socket.
    pub client_ip: Option<String>,
    pub event_class: Option<String>,
    pub isolation: i64,
    pub features: i64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        let os_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "pgiris".into());
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        ClientOptions {
            protocol: message::PROTOCOL_65,
            os_user,
            host_name,
            app_name: "pgiris".into(),
            client_info: vec![0; 12],
            client_ip: None,
            event_class: None,
            isolation: 0,
            features: 0,
        }
    }
}

/// Everything needed to open one connection.
#[derive(Clone)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    pub namespace: String,
    pub user: String,
    pub password: crate::backend::Secret,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub connect_timeout: Duration,
    /// Per statement, sent to IRIS and used for the read timeout; 0 = none.
    pub query_timeout: Duration,
    pub client: ClientOptions,
}

impl std::fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("namespace", &self.namespace)
            .field("user", &self.user)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a connection could not be opened. The backend turns it into the
/// right SQLSTATE for the identity that asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Unreachable(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("connection lost during login: {0}")]
    Io(String),
    #[error("{0}")]
    Protocol(String),
    #[error("login refused (status {status}): {text}")]
    Rejected { status: u16, text: String },
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

#[derive(Debug, Default)]
struct CallFlags {
    busy: bool,
    interrupted: bool,
}

/// Shared with the [`Interrupter`]: whether a call runs, and the socket to
/// shut down.
#[derive(Debug)]
struct CallControl {
    flags: Mutex<CallFlags>,
    socket: TcpStream,
}

impl CallControl {
    fn flags(&self) -> MutexGuard<'_, CallFlags> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin(&self) {
        let mut f = self.flags();
        f.busy = true;
        f.interrupted = false;
    }

    /// Ends a call; true if it was interrupted.
    fn end(&self) -> bool {
        let mut f = self.flags();
        f.busy = false;
        f.interrupted
    }

    fn interrupted(&self) -> bool {
        self.flags().interrupted
    }

    fn interrupt(&self) {
        let mut f = self.flags();
        if f.busy && !f.interrupted {
            f.interrupted = true;
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }
}

/// What the server told us at handshake and login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub handshake: HandshakeReply,
    pub login: LoginReply,
}

#[derive(Debug, Clone)]
struct Prepared {
    stmt_id: u32,
    query: bool,
    meta: Metadata,
}

/// Statements prepared by `describe`, by IRIS text, oldest evicted first.
#[derive(Debug, Default)]
struct PreparedCache {
    entries: HashMap<String, Prepared>,
    order: VecDeque<String>,
}

impl PreparedCache {
    fn get(&self, text: &str) -> Option<Prepared> {
        self.entries.get(text).cloned()
    }

    /// Inserts; returns the statement id evicted, if any.
    fn insert(&mut self, text: String, p: Prepared) -> Option<u32> {
        let mut evicted = None;
        if !self.entries.contains_key(&text)
            && self.entries.len() >= PREPARED_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            evicted = self.entries.remove(&old).map(|e| e.stmt_id);
        }
        if self.entries.insert(text.clone(), p).is_none() {
            self.order.push_back(text);
        }
        evicted
    }

    fn remove(&mut self, text: &str) {
        if self.entries.remove(text).is_some() {
            self.order.retain(|t| t != text);
        }
    }
}

/// A live connection to one IRIS namespace as one user.
pub struct IrisConnection {
    io: BufReader<Transport>,
    wbuf: Vec<u8>,
    pbuf: Vec<u8>,
    next_msg: u32,
    next_stmt: u32,
    server: ServerInfo,
    call: Arc<CallControl>,
    broken: Option<String>,
    in_tx: bool,
    /// An isolation level was set for the current transaction and must be
    /// put back when it ends.
    isolation_set: bool,
    prepared: PreparedCache,
    query_timeout: Duration,
    compact_doubles: bool,
}

impl std::fmt::Debug for IrisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrisConnection")
            .field("job", &self.server.login.job)
            .field("in_tx", &self.in_tx)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

fn connect_socket(p: &ConnectParams) -> Result<TcpStream, OpenError> {
    let addrs: Vec<SocketAddr> = (p.host.as_str(), p.port)
        .to_socket_addrs()
        .map_err(|e| OpenError::Unreachable(format!("could not resolve \"{}\": {e}", p.host)))?
        .collect();
    let timeout = if p.connect_timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        p.connect_timeout
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(OpenError::Unreachable(match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut => {
            format!("no answer within {}s", timeout.as_secs_f64())
        }
        Some(e) => e.to_string(),
        None => format!("\"{}\" has no address", p.host),
    }))
}

/// One request of the login (`HS`, `CN`) and its reply, which must have
/// status OK.
fn login_request(
    io: &mut BufReader<Transport>,
    code: [u8; 2],
    msg_id: u32,
    body: &[u8],
) -> Result<Message, OpenError> {
    frame::write_frame(io.get_mut(), code, msg_id, 0, body).map_err(|e| open_io_error(e.into()))?;
    let reply = read_reply(io, msg_id).map_err(|e| match e {
        ReplyError::Frame(e) => open_io_error(e),
        ReplyError::Other(m) => OpenError::Protocol(m),
    })?;
    if reply.status() != status::OK {
        return Err(OpenError::Rejected {
            status: reply.status(),
            text: message::error_text(&reply.body),
        });
    }
    Ok(reply)
}

fn open_io_error(e: FrameError) -> OpenError {
    match e {
        FrameError::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            OpenError::Tls(e.to_string())
        }
        FrameError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            OpenError::Io("IRIS did not answer the login in time".into())
        }
        FrameError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            OpenError::Io("IRIS closed the connection".into())
        }
        other => OpenError::Io(other.to_string()),
    }
}

impl IrisConnection {
    /// Connects, shakes hands and logs in.
    pub fn open(p: &ConnectParams) -> Result<IrisConnection, OpenError> {
        let sock = connect_socket(p)?;
        let _ = sock.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_RETRIES);
        let _ = socket2::SockRef::from(&sock).set_tcp_keepalive(&keepalive);
        let login_timeout = if p.connect_timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            p.connect_timeout
        };
        let set_timeouts = |s: &TcpStream, read: Option<Duration>, write: Duration| {
            s.set_read_timeout(read)
                .and_then(|_| s.set_write_timeout(Some(write)))
                .map_err(|e| OpenError::Io(e.to_string()))
        };
        set_timeouts(&sock, Some(login_timeout), login_timeout)?;
        let local_ip = sock
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let control = sock.try_clone().map_err(|e| OpenError::Io(e.to_string()))?;
        let transport = match &p.tls {
            None => Transport::Plain(sock),
            Some(cfg) => {
                let name = rustls_pki_types::ServerName::try_from(p.host.clone()).map_err(|e| {
                    OpenError::Tls(format!("invalid server name \"{}\": {e}", p.host))
                })?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name)
                    .map_err(|e| OpenError::Tls(e.to_string()))?;
                Transport::Tls(Box::new(rustls::StreamOwned::new(conn, sock)))
            }
        };
        let mut io = BufReader::with_capacity(64 * 1024, transport);

        // HS: msg 1.
        let handshake_body = message::handshake_body(p.client.protocol);
        let reply = login_request(&mut io, code::HANDSHAKE, 1, &handshake_body)?;
        let handshake = HandshakeReply::parse(&reply.body)
            .map_err(|e| OpenError::Protocol(format!("unreadable handshake reply: {e}")))?;
        if handshake.protocol < message::MIN_PROTOCOL {
            return Err(OpenError::Protocol(format!(
                "IRIS offers protocol {}, pgiris needs {} or later",
                handshake.protocol,
                message::MIN_PROTOCOL
            )));
        }

        // CN: msg 3.
        let fields = LoginFields {
            namespace: p.namespace.clone(),
            user: p.user.clone(),
            password: p.password.expose().to_string(),
            os_user: p.client.os_user.clone(),
            host: p.client.host_name.clone(),
            app_name: p.client.app_name.clone(),
            client_info: p.client.client_info.clone(),
            client_ip: p
                .client
                .client_ip
                .clone()
                .unwrap_or_else(|| local_ip.to_string()),
            event_class: p.client.event_class.clone(),
            autocommit: true,
            isolation: p.client.isolation,
            features: p.client.features,
        };
        let body = fields.encode(handshake.unicode());
        drop(fields);
        let reply = login_request(&mut io, code::CONNECT, 3, &body)?;
        let login = LoginReply::parse(&reply.body)
            .map_err(|e| OpenError::Protocol(format!("unreadable login reply: {e}")))?;
        if login.features & 3 != 0 {
            // Fast select/insert change the row format; pgiris asks for
            // neither, so a server granting them is not one it can read.
            return Err(OpenError::Protocol(format!(
                "IRIS enabled feature options {} that were not requested",
                login.features
            )));
        }

        set_timeouts(&control, read_timeout_for(p.query_timeout), WRITE_TIMEOUT)?;
        let compact_doubles = handshake.compact_doubles();
        Ok(IrisConnection {
            io,
            wbuf: Vec::with_capacity(4096),
            pbuf: Vec::new(),
            next_msg: 5,
            next_stmt: 1,
            server: ServerInfo { handshake, login },
            call: Arc::new(CallControl {
                flags: Mutex::new(CallFlags::default()),
                socket: control,
            }),
            broken: None,
            in_tx: false,
            isolation_set: false,
            prepared: PreparedCache::default(),
            query_timeout: p.query_timeout,
            compact_doubles,
        })
    }

    pub fn server_info(&self) -> &ServerInfo {
        &self.server
    }

    /// Whether IRIS closed the connection (or sent something unasked) while
    /// no call ran: a non-blocking peek at the socket, so a connection that
    /// died while idle is replaced before a statement is sent on it instead
    /// of failing that statement.
    fn closed_while_idle(&self) -> bool {
        if !self.io.buffer().is_empty() {
            return true;
        }
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&self.call.socket)
            .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        {
            // End of stream, or bytes nobody asked for (the stream is out of
            // step; with TLS, most likely IRIS's close_notify).
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }

    /// Why the connection is unusable, if it is.
    pub fn broken_reason(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    fn alloc_msg(&mut self) -> u32 {
        let id = self.next_msg;
        self.next_msg = if id >= u32::MAX - 2 { 1 } else { id + 2 };
        id
    }

    fn alloc_stmt(&mut self) -> u32 {
        let id = self.next_stmt;
        self.next_stmt = if id >= frame::CONTINUED - 1 {
            1
        } else {
            id + 1
        };
        id
    }

    /// The query timeout sent with each statement, in whole seconds
    /// (rounded up), 0 = none.
    fn timeout_secs(&self) -> i64 {
        i64::try_from(self.query_timeout.as_millis().div_ceil(1000)).unwrap_or(i64::MAX)
    }

    fn ensure_usable(&self) -> Result<(), PgError> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("the connection to IRIS is no longer usable: {why}"),
            )),
        }
    }

    /// Marks the connection broken and closes the socket.
    fn break_with(&mut self, why: String) {
        if self.broken.is_none() {
            self.broken = Some(why);
        }
        let _ = self.call.socket.shutdown(Shutdown::Both);
    }

    fn io_failure(&mut self, e: FrameError) -> PgError {
        if self.call.interrupted() {
            self.break_with("a statement was interrupted".into());
            return PgError::query_canceled();
        }
        let err = match &e {
            FrameError::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                PgError::error(
                    sqlstate::QUERY_CANCELED,
                    format!(
                        "IRIS did not answer within the query timeout ({}s); the connection to IRIS was closed",
                        self.query_timeout.as_secs_f64()
                    ),
                )
            }
            FrameError::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::NotConnected
                ) =>
            {
                PgError::error(
                    sqlstate::CONNECTION_FAILURE,
                    "the connection to IRIS was lost (IRIS closed it)",
                )
            }
            other => PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("the connection to IRIS failed: {other}"),
            ),
        };
        self.break_with(err.message.clone());
        err
    }

    fn malformed(&mut self, what: &str, e: ListError) -> PgError {
        let msg = format!(
            "IRIS sent a {what} pgiris cannot read ({e}); the connection to IRIS was closed"
        );
        self.break_with(msg.clone());
        PgError::error(sqlstate::CONNECTION_FAILURE, msg)
    }

    fn send(
        &mut self,
        code: [u8; 2],
        msg_id: u32,
        stmt_id: u32,
        body: &[u8],
    ) -> Result<(), PgError> {
        frame::encode_frame(&mut self.wbuf, code, msg_id, stmt_id, body);
        let res = self
            .io
            .get_mut()
            .write_all(&self.wbuf)
            .and_then(|_| self.io.get_mut().flush());
        res.map_err(|e| self.io_failure(e.into()))
    }

    /// Sends a request that has no reply (`AF`, `AN`, `CC`, `CU`).
    fn send_no_reply(&mut self, code: [u8; 2], stmt_id: u32) -> Result<(), PgError> {
        let msg_id = self.alloc_msg();
        self.send(code, msg_id, stmt_id, &[])
    }

    fn receive(&mut self, msg_id: u32) -> Result<Message, PgError> {
        match read_reply(&mut self.io, msg_id) {
            Ok(m) => Ok(m),
            Err(ReplyError::Frame(e)) => Err(self.io_failure(e)),
            Err(ReplyError::Other(m)) => {
                let msg = format!("{m}; the connection to IRIS was closed");
                self.break_with(msg.clone());
                Err(PgError::error(sqlstate::CONNECTION_FAILURE, msg))
            }
        }
    }

    /// Sends a request and reads its (first) reply; returns the message id.
    fn request(
        &mut self,
        code: [u8; 2],
        stmt_id: u32,
        body: &[u8],
    ) -> Result<(u32, Message), PgError> {
        let msg_id = self.alloc_msg();
        self.send(code, msg_id, stmt_id, body)?;
        let reply = self.receive(msg_id)?;
        Ok((msg_id, reply))
    }

    /// Passes replies with status 0 or 100; turns any other status into the
    /// SQL error IRIS describes with `OE`.
    fn check(&mut self, reply: Message, stmt_id: u32) -> Result<Message, PgError> {
        match reply.status() {
            status::OK | status::NO_MORE_DATA => Ok(reply),
            other => Err(self.sql_error(other, stmt_id, &reply.body)),
        }
    }

    fn sql_error(&mut self, status: u16, stmt_id: u32, reply_body: &[u8]) -> PgError {
        let body = message::error_text_request(status);
        let text = match self.request(code::GET_ERROR, stmt_id, &body) {
            Ok((_, r)) if r.status() == status::OK => message::error_text(&r.body),
            Ok(_) => message::error_text(reply_body),
            Err(e) => return e,
        };
        sqlcode::to_pg_error(status, &text)
    }

    fn encode_params(&mut self, stmt: &Statement<'_>, refs: &[usize]) -> Result<Vec<u8>, PgError> {
        let mut w = ListWriter::reuse(std::mem::take(&mut self.pbuf));
        for &idx in refs {
            let value = stmt.params.get(idx).ok_or_else(|| {
                PgError::protocol_violation(format!(
                    "bind message supplies {} parameters, but the statement requires {}",
                    stmt.params.len(),
                    idx + 1
                ))
            })?;
            let declared = stmt.param_types.get(idx).copied().unwrap_or(0);
            types::push_param(&mut w, value, declared, self.compact_doubles)?;
        }
        Ok(w.into_bytes())
    }

    fn execute_inner(
        &mut self,
        stmt: &Statement<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        let iris = sql::rewrite(stmt.sql, SessionValues::Snapshot(stmt.session))?;
        let items = self.encode_params(stmt, &iris.param_refs)?;
        let params = Params {
            count: iris.param_refs.len(),
            items: &items,
        };
        let result = self.execute_text(&iris.text, params, sink);
        self.pbuf = items;
        result
    }

    fn execute_text(
        &mut self,
        text: &str,
        params: Params<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        if let Some(p) = self.prepared.get(text) {
            if let Some(outcome) = self.run_prepared(&p, params, sink)? {
                return Ok(outcome);
            }
            // IRIS no longer has it (404): run it directly.
            self.prepared.remove(text);
        }
        if sql::is_query(text) {
            self.direct_query(text, params, sink)
        } else {
            self.direct_update(text, params)
        }
    }

    fn direct_query(
        &mut self,
        text: &str,
        params: Params<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        let stmt_id = self.alloc_stmt();
        let body = message::direct_query(text, params, self.timeout_secs(), 0);
        let (msg_id, reply) = self.request(code::DIRECT_QUERY, stmt_id, &body)?;
        let reply = self.check(reply, stmt_id)?;
        let meta = message::parse_metadata(&reply.body, true)
            .map_err(|e| self.malformed("statement description", e))?;
        let columns = meta.columns.unwrap_or_default();
        let first = self.receive(msg_id)?;
        let first = self.check(first, stmt_id)?;
        self.stream_rows(stmt_id, &columns, first, sink)
    }

    fn direct_update(&mut self, text: &str, params: Params<'_>) -> Result<ExecOutcome, PgError> {
        let stmt_id = self.alloc_stmt();
        let body = message::direct_update(text, params, self.timeout_secs());
        let (_, reply) = self.request(code::DIRECT_UPDATE, stmt_id, &body)?;
        let reply = self.check(reply, stmt_id)?;
        let (_, rows) = message::parse_update_reply(&reply.body)
            .map_err(|e| self.malformed("update result", e))?;
        Ok(ExecOutcome {
            rows,
            returned_rows: false,
        })
    }

    /// `PQ` / `PU` on a statement `describe` prepared; `None` when IRIS
    /// answers 404 (statement no longer cached).
    fn run_prepared(
        &mut self,
        p: &Prepared,
        params: Params<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<Option<ExecOutcome>, PgError> {
        if p.query {
            let body = message::prepared_query(params, self.timeout_secs(), 0);
            let (_, reply) = self.request(code::PREPARED_QUERY, p.stmt_id, &body)?;
            if reply.status() == status::STATEMENT_NOT_FOUND {
                return Ok(None);
            }
            let reply = self.check(reply, p.stmt_id)?;
            let columns = p.meta.columns.clone().unwrap_or_default();
            self.stream_rows(p.stmt_id, &columns, reply, sink).map(Some)
        } else {
            let body = message::prepared_update(params, self.timeout_secs());
            let (_, reply) = self.request(code::PREPARED_UPDATE, p.stmt_id, &body)?;
            if reply.status() == status::STATEMENT_NOT_FOUND {
                return Ok(None);
            }
            let reply = self.check(reply, p.stmt_id)?;
            let rows = message::parse_row_count(&reply.body)
                .map_err(|e| self.malformed("row count", e))?;
            Ok(Some(ExecOutcome {
                rows,
                returned_rows: false,
            }))
        }
    }

    /// Sends the column description, then every row of every batch,
    /// fetching more (`FD`) while IRIS says more exist (status 0).
    fn stream_rows(
        &mut self,
        stmt_id: u32,
        columns: &[ColumnInfo],
        first: Message,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        let pg_columns: Vec<Column> = columns.iter().map(types::column_for).collect();
        let mut rows = 0u64;
        let mut bufs = RowBuffers::new(columns.len());
        let mut result = sink.columns(&pg_columns);
        let mut batch = first;
        loop {
            let more = batch.status() == status::OK;
            if result.is_ok() {
                result = self.emit_batch(&batch.body, columns, &mut bufs, sink, &mut rows);
            }
            if result.is_err() {
                if more {
                    // Abandon the rest of the result on the server.
                    self.send_no_reply(code::CLOSE_CURSOR, stmt_id)?;
                }
                break;
            }
            if !more {
                break;
            }
            let (_, reply) = self.request(code::FETCH_DATA, stmt_id, &[])?;
            batch = self.check(reply, stmt_id)?;
        }
        result.map(|()| ExecOutcome {
            rows,
            returned_rows: true,
        })
    }

    fn emit_batch(
        &mut self,
        body: &[u8],
        columns: &[ColumnInfo],
        bufs: &mut RowBuffers,
        sink: &mut dyn RowSink,
        rows: &mut u64,
    ) -> Result<(), PgError> {
        if columns.is_empty() {
            return Ok(());
        }
        let mut r = ListReader::new(body);
        while !r.is_empty() {
            for (i, col) in columns.iter().enumerate() {
                let item = match r.item("row value") {
                    Ok(item) => item,
                    Err(e) => return Err(self.malformed("row", e)),
                };
                if types::is_stream(col.odbc_type) && !item.is_null() && !item.is_empty_string() {
                    let handle = item.to_text().unwrap_or_default();
                    let content = self.read_stream(&handle)?;
                    bufs.set_stream(i, col.odbc_type == types::odbc::LONGVARBINARY, content);
                } else {
                    bufs.set(i, col.odbc_type, &item)?;
                }
            }
            sink.row(&bufs.cells())?;
            *rows += 1;
        }
        Ok(())
    }

    /// `JS`: the whole content of a stream column.
    fn read_stream(&mut self, handle: &str) -> Result<Vec<u8>, PgError> {
        let stmt_id = self.alloc_stmt();
        let body = message::read_stream(handle);
        let (_, reply) = self.request(code::READ_STREAM, stmt_id, &body)?;
        match reply.status() {
            status::OK | status::NO_MORE_DATA => Ok(reply.body),
            status::STREAM_NOT_FOUND => Err(PgError::error(
                sqlstate::INTERNAL_ERROR,
                format!("IRIS could not find stream {handle}"),
            )),
            other => Err(self.sql_error(other, stmt_id, &reply.body)),
        }
    }

    fn describe_inner(
        &mut self,
        sql_text: &str,
        param_types: &[Oid],
    ) -> Result<Description, PgError> {
        let iris = sql::rewrite(sql_text, SessionValues::Placeholder)?;
        let query = sql::is_query(&iris.text);
        let meta = match self.prepared.get(&iris.text) {
            Some(p) => p.meta,
            None => {
                let stmt_id = self.alloc_stmt();
                let body = message::prepare(&iris.text, iris.param_refs.len());
                let (_, reply) = self.request(code::PREPARE, stmt_id, &body)?;
                let reply = self.check(reply, stmt_id)?;
                let meta = message::parse_metadata(&reply.body, query)
                    .map_err(|e| self.malformed("statement description", e))?;
                if meta.cached {
                    let entry = Prepared {
                        stmt_id,
                        query: meta.columns.is_some(),
                        meta: meta.clone(),
                    };
                    if let Some(old) = self.prepared.insert(iris.text.clone(), entry) {
                        self.send_no_reply(code::CLOSE_STATEMENT, old)?;
                    }
                }
                meta
            }
        };
        let count = iris.param_count.max(param_types.len());
        let params = (0..count)
            .map(|i| match param_types.get(i) {
                Some(&t) if t != oid::UNSPECIFIED => t,
                _ => iris
                    .param_refs
                    .iter()
                    .position(|&r| r == i)
                    .and_then(|k| meta.params.get(k))
                    .map(|p| types::oid_for(p.odbc_type))
                    .unwrap_or(oid::TEXT),
            })
            .collect();
        let columns = meta
            .columns
            .as_ref()
            .map(|cols| cols.iter().map(types::column_for).collect());
        Ok(Description { params, columns })
    }

    /// Runs an SQL statement of pgiris's own (savepoints, isolation).
    fn run_internal(&mut self, text: &str) -> Result<(), PgError> {
        self.direct_update(text, Params::default()).map(|_| ())
    }

    fn end_transaction(&mut self, commit: bool) -> Result<(), PgError> {
        if !self.in_tx {
            return Ok(());
        }
        let code = if commit { code::COMMIT } else { code::ROLLBACK };
        let (_, reply) = self.request(code, 0, &[])?;
        let result = self.check(reply, 0).map(|_| ());
        if result.is_err() && commit {
            // A failed COMMIT ends the transaction, as in PostgreSQL.
            let (_, reply) = self.request(code::ROLLBACK, 0, &[])?;
            let _ = self.check(reply, 0);
        }
        self.send_no_reply(code::AUTOCOMMIT_ON, 0)?;
        self.in_tx = false;
        if self.isolation_set {
            self.isolation_set = false;
            self.run_internal("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")?;
        }
        result
    }

    fn begin(&mut self, isolation: Option<&str>) -> Result<(), PgError> {
        if self.in_tx {
            return Ok(());
        }
        if let Some(level) = isolation.map(isolation_level).transpose()?.flatten() {
            self.run_internal(&format!("SET TRANSACTION ISOLATION LEVEL {level}"))?;
            self.isolation_set = true;
        }
        self.send_no_reply(code::AUTOCOMMIT_OFF, 0)?;
        self.in_tx = true;
        Ok(())
    }

    fn transaction_inner(&mut self, op: &TxOp) -> Result<(), PgError> {
        match op {
            TxOp::Begin { isolation } => self.begin(isolation.as_deref()),
            TxOp::Commit => self.end_transaction(true),
            TxOp::Rollback => self.end_transaction(false),
            TxOp::Savepoint(name) => {
                self.run_internal(&format!("SAVEPOINT {}", savepoint_name(name)))
            }
            // IRIS has no RELEASE SAVEPOINT: the savepoint stays until the
            // transaction ends, which no PostgreSQL client can observe except
            // by rolling back to a released name.
            TxOp::Release(_) => Ok(()),
            TxOp::RollbackTo(name) => {
                self.run_internal(&format!("ROLLBACK TO SAVEPOINT {}", savepoint_name(name)))
            }
        }
    }

    /// Runs `f` as one interruptible call.
    fn call<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, PgError>) -> Result<T, PgError> {
        self.ensure_usable()?;
        self.call.begin();
        let result = f(self);
        if self.call.end() {
            // Interrupted, even if the reply won the race: the socket is
            // gone.
            self.break_with("a statement was interrupted".into());
            if result.is_err() {
                return Err(PgError::query_canceled());
            }
        }
        result
    }

    /// Sends `DC` and closes the socket.
    pub fn close(mut self) {
        self.disconnect();
    }

    fn disconnect(&mut self) {
        if self.broken.is_none() {
            frame::encode_frame(&mut self.wbuf, code::DISCONNECT, 0, 0, &[]);
            let _ = self.io.get_mut().write_all(&self.wbuf);
            let _ = self.io.get_mut().flush();
        }
        self.break_with("closed".into());
    }
}

impl Drop for IrisConnection {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// A savepoint name as an IRIS identifier: plain names as written, others
/// delimited.
fn savepoint_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The IRIS isolation level for a BEGIN clause, `None` for clauses that set
/// none. IRIS has READ UNCOMMITTED, READ COMMITTED and READ VERIFIED; the
/// stronger PostgreSQL levels and READ ONLY cannot be honoured, so they are
/// refused rather than silently weakened.
fn isolation_level(clause: &str) -> Result<Option<&'static str>, PgError> {
    let words: Vec<String> = clause
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let text = words.join(" ");
    let unsupported = |what: &str| {
        Err(
            PgError::feature_not_supported(format!("{what} is not supported by the IRIS backend"))
                .with_hint("IRIS offers READ UNCOMMITTED, READ COMMITTED and READ VERIFIED"),
        )
    };
    if text.contains("READ ONLY") {
        return unsupported("READ ONLY");
    }
    if text.contains("SERIALIZABLE") {
        return unsupported("isolation level SERIALIZABLE");
    }
    if text.contains("REPEATABLE READ") {
        return unsupported("isolation level REPEATABLE READ");
    }
    if text.contains("READ UNCOMMITTED") {
        return Ok(Some("READ UNCOMMITTED"));
    }
    if text.contains("READ COMMITTED") {
        return Ok(Some("READ COMMITTED"));
    }
    if text.contains("READ VERIFIED") {
        return Ok(Some("READ VERIFIED"));
    }
    Ok(None)
}

enum ReplyError {
    Frame(FrameError),
    Other(String),
}

/// Reads the reply to `msg_id`. A reply to another message means the stream
/// is out of step (or IRIS sent a server-initiated message, which pgiris
/// does not request): an error, never a guess.
fn read_reply(io: &mut BufReader<Transport>, msg_id: u32) -> Result<Message, ReplyError> {
    match frame::read_message(io) {
        Ok(Some(m)) if m.msg_id == msg_id => Ok(m),
        Ok(Some(m)) => Err(ReplyError::Other(format!(
            "IRIS answered message {} while pgiris waited for {msg_id}",
            m.msg_id
        ))),
        Ok(None) => Err(ReplyError::Frame(FrameError::Io(io::Error::from(
            io::ErrorKind::UnexpectedEof,
        )))),
        Err(e) => Err(ReplyError::Frame(e)),
    }
}

impl BackendConnection for IrisConnection {
    fn describe(&mut self, sql: &str, param_types: &[Oid]) -> Result<Description, PgError> {
        self.call(|c| c.describe_inner(sql, param_types))
    }

    fn execute(
        &mut self,
        stmt: &Statement<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        self.call(|c| c.execute_inner(stmt, sink))
    }

    fn transaction(&mut self, op: &TxOp) -> Result<(), PgError> {
        self.call(|c| c.transaction_inner(op))
    }

    fn in_transaction(&self) -> bool {
        self.in_tx
    }

    fn interrupter(&self) -> Interrupter {
        let control = self.call.clone();
        Interrupter::new(move || control.interrupt())
    }

    fn reset(&mut self) -> Result<(), PgError> {
        self.call(|c| c.end_transaction(false))
    }

    fn is_usable(&self) -> bool {
        self.broken.is_none() && !self.closed_while_idle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_clauses() {
        assert_eq!(
            isolation_level("ISOLATION LEVEL READ COMMITTED").unwrap(),
            Some("READ COMMITTED")
        );
        assert_eq!(
            isolation_level("isolation level read uncommitted, read write").unwrap(),
            Some("READ UNCOMMITTED")
        );
        assert_eq!(isolation_level("READ WRITE").unwrap(), None);
        assert_eq!(
            isolation_level("ISOLATION LEVEL SERIALIZABLE")
                .unwrap_err()
                .code,
            "0A000"
        );
        assert_eq!(isolation_level("READ ONLY").unwrap_err().code, "0A000");
    }

    #[test]
    fn savepoint_names() {
        assert_eq!(savepoint_name("sp_1"), "sp_1");
        assert_eq!(savepoint_name("my sp"), "\"my sp\"");
        assert_eq!(savepoint_name("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn prepared_cache_evicts_oldest() {
        let mut c = PreparedCache::default();
        let entry = |id| Prepared {
            stmt_id: id,
            query: true,
            meta: Metadata::default(),
        };
        for i in 0..PREPARED_CAPACITY as u32 {
            assert_eq!(c.insert(format!("q{i}"), entry(i)), None);
        }
        assert_eq!(c.insert("new".into(), entry(999)), Some(0));
        assert!(c.get("q0").is_none());
        assert!(c.get("new").is_some());
        c.remove("new");
        assert!(c.get("new").is_none());
        assert_eq!(c.order.len(), c.entries.len());
    }
}
