//! **Test double** of an IRIS SuperServer. It is not IRIS.
//!
//! It speaks the server side of the protocol with the reply shapes of the
//! captures (`iris/captures/`, accepted by four official and independent
//! clients) and runs the SQL it receives on SQLite, so tests through pgiris
//! exercise real parameters, rows, errors and transactions:
//!
//! * `HS` → protocol 65, Unicode, locale `LATIN1`; `CN` checks user and
//!   password (de-obfuscated) and the namespace (417 "Access Denied" /
//!   "Namespace … does not exist"); each namespace is one in-memory SQLite
//!   database shared by all connections of the double;
//! * `DQ`, `PP`/`PQ`, `DU`, `PU`, `FD` (batches of `batch_rows`, status 0
//!   then 100), `CC`, `CU`, `OE`, `TC`, `TR`, `AF`, `AN`, `DC`; `:%qpar(n)`
//!   becomes SQLite's `?n`; replies larger than `max_frame_body` are split
//!   into continued frames;
//! * errors: status = |SQLCODE| with an empty body, text for `OE` as IRIS
//!   writes it (`[SQLCODE: <-30>:<Table or view not found>]` …); SQLite
//!   messages are mapped to the nearest SQLCODE (no such table −30, no such
//!   column −29, syntax −1, UNIQUE −119, NOT NULL −108, FOREIGN KEY −121,
//!   interrupted −456, locked −114, others −400);
//! * a statement is interrupted when its client's socket closes or when
//!   [`TestDouble::kill_connections`] runs, so a slow query (a recursive
//!   CTE) can be cancelled;
//! * optionally TLS from the first byte, and a capture of every frame;
//! * for tests through pgiris: the user each connection logged in as
//!   ([`TestDouble::login_users`], [`TestDouble::connection_users`]), the
//!   most connections open at once ([`TestDouble::max_connections`]) and an
//!   SQL function `double_connection_id()` naming the connection a statement
//!   runs on.
//!
//! What it does **not** emulate: IRIS SQL (the dialect is SQLite's: no
//! `TOP`, `%EXACT`, `$ZVERSION`, `%SYS` tables, collation rules), IRIS type
//! inference (column types come from SQLite declarations or, for
//! expressions, from the values; parameter types from the column compared
//! or inserted, otherwise VARCHAR), streams (`JS` answers 403), stored
//! procedures and multiple result sets, fast select/insert, shared memory,
//! privileges, real login security, isolation levels (SQLite serialises
//! writers), licence limits, and the exact server texts.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;

use super::frame::{self, Header, Message, code, status};
use super::list::{Item, ListWriter};
use super::message::{
    self, ColumnInfo, HandshakeReply, LoginFields, LoginReply, Metadata, ParamInfo,
};
use super::recorder::{CaptureSink, Direction};
use super::types::odbc;

/// How the double behaves.
#[derive(Clone)]
pub struct DoubleConfig {
    /// Accepted (user, password) pairs.
    pub users: Vec<(String, String)>,
    /// Namespaces that exist (case-insensitive).
    pub namespaces: Vec<String>,
    /// Rows per batch; more rows need `FD`.
    pub batch_rows: usize,
    /// Replies with longer bodies are split into continued frames.
    pub max_frame_body: usize,
    /// Write a capture of every frame here.
    pub record: Option<PathBuf>,
    /// Serve TLS from the first byte.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The protocol and feature bits of the `HS` reply.
    pub protocol: u16,
    pub features: u16,
    /// SQLite statements run when a namespace's database is created
    /// (tables a scenario expects to exist).
    pub init_sql: Vec<String>,
}

impl std::fmt::Debug for DoubleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoubleConfig")
            .field("namespaces", &self.namespaces)
            .field("batch_rows", &self.batch_rows)
            .field("max_frame_body", &self.max_frame_body)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for DoubleConfig {
    fn default() -> Self {
        DoubleConfig {
            users: vec![("_SYSTEM".into(), "SYS".into())],
            namespaces: vec!["USER".into()],
            batch_rows: 100,
            max_frame_body: 32 * 1024,
            record: None,
            tls: None,
            protocol: message::PROTOCOL_65,
            features: 1,
            init_sql: Vec::new(),
        }
    }
}

/// How autocommit-off starts a SQLite transaction: with the write lock at
/// once, so two concurrent transactions queue (busy timeout) instead of
/// deadlocking on a read lock taken by the statement descriptions, which
/// SQLite would answer with an immediate "database is locked" (IRIS locks
/// rows, not the database).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The version string the double reports at login.
pub const DOUBLE_VERSION: &str =
    "IRIS for UNIX (pgiris test double) 2024.1 (Build 267U) Fri Mar 1 2024 00:00:00 EST";

static INSTANCES: AtomicU64 = AtomicU64::new(0);

struct Shared {
    config: DoubleConfig,
    instance: u64,
    stop: AtomicBool,
    sockets: Mutex<HashMap<u64, TcpStream>>,
    /// The most client connections open at the same time.
    peak: AtomicU64,
    /// The user of every accepted login, in order.
    logins: Mutex<Vec<String>>,
    /// The logged-in user of each live connection.
    users: Mutex<HashMap<u64, String>>,
    next_conn: AtomicU64,
    /// One connection per namespace keeps its in-memory database alive.
    anchors: Mutex<HashMap<String, rusqlite::Connection>>,
    capture: Option<CaptureSink>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn db_uri(&self, namespace: &str) -> String {
        format!(
            "file:/pgiris-double-{}-{}-{}?vfs=memdb",
            std::process::id(),
            self.instance,
            namespace.to_ascii_uppercase().replace(['%', '/', '?'], "_")
        )
    }

    fn open_db(&self, namespace: &str, conn_id: u64) -> rusqlite::Result<rusqlite::Connection> {
        let uri = self.db_uri(namespace);
        let mut anchors = lock(&self.anchors);
        if !anchors.contains_key(namespace) {
            let anchor = rusqlite::Connection::open(&uri)?;
            for sql in &self.config.init_sql {
                anchor.execute_batch(sql)?;
            }
            anchors.insert(namespace.to_string(), anchor);
        }
        let conn = rusqlite::Connection::open(&uri)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let id = i64::try_from(conn_id).unwrap_or(i64::MAX);
        conn.create_scalar_function(
            "double_connection_id",
            0,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |_| Ok(id),
        )?;
        Ok(conn)
    }
}

/// A running test double on 127.0.0.1.
pub struct TestDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDouble")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestDouble {
    /// Starts a double on 127.0.0.1 with a free port.
    pub fn start(config: DoubleConfig) -> io::Result<TestDouble> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        TestDouble::start_on(listener, config)
    }

    /// Starts a double on a bound listener.
    pub fn start_on(listener: TcpListener, config: DoubleConfig) -> io::Result<TestDouble> {
        let addr = listener.local_addr()?;
        let shared = new_shared(config)?;
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("iris-double-accept".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(TestDouble {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// "IRIS dies": closes every client connection now, interrupting their
    /// statements. The double keeps accepting new connections.
    pub fn kill_connections(&self) {
        for s in lock(&self.shared.sockets).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Live client connections.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.sockets).len()
    }

    /// The most client connections that were open at the same time.
    pub fn max_connections(&self) -> usize {
        usize::try_from(self.shared.peak.load(Ordering::SeqCst)).unwrap_or(usize::MAX)
    }

    /// The user of every accepted login so far, in order.
    pub fn login_users(&self) -> Vec<String> {
        lock(&self.shared.logins).clone()
    }

    /// The logged-in users of the live connections (sorted).
    pub fn connection_users(&self) -> Vec<String> {
        let mut users: Vec<String> = lock(&self.shared.users).values().cloned().collect();
        users.sort();
        users
    }

    /// Stops accepting and closes every connection.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.kill_connections();
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TestDouble {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn new_shared(config: DoubleConfig) -> io::Result<Arc<Shared>> {
    let capture = match &config.record {
        Some(p) => Some(CaptureSink::open(Some(p))?),
        None => None,
    };
    Ok(Arc::new(Shared {
        config,
        instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        stop: AtomicBool::new(false),
        sockets: Mutex::new(HashMap::new()),
        peak: AtomicU64::new(0),
        logins: Mutex::new(Vec::new()),
        users: Mutex::new(HashMap::new()),
        next_conn: AtomicU64::new(0),
        anchors: Mutex::new(HashMap::new()),
        capture,
    }))
}

/// Serves the test double on `listener` until the process ends, recording
/// every frame to `record` when given. This is the entry point of
/// `pgiris iris-test-double --listen ADDR [--record FILE]`.
pub fn run_test_double(listener: TcpListener, record: Option<PathBuf>) -> io::Result<()> {
    let shared = new_shared(DoubleConfig {
        record,
        ..DoubleConfig::default()
    })?;
    accept_loop(listener, shared);
    Ok(())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        let Ok(control) = stream.try_clone() else {
            continue;
        };
        {
            let mut sockets = lock(&shared.sockets);
            sockets.insert(id, control);
            let open = u64::try_from(sockets.len()).unwrap_or(u64::MAX);
            shared.peak.fetch_max(open, Ordering::SeqCst);
        }
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("iris-double-{id}"))
            .spawn(move || {
                let label = format!("conn{id}");
                let result = serve_connection(stream, &s, id, &label);
                if let Err(e) = result {
                    log::debug!("iris test double {label}: {e}");
                }
                if let Some(c) = &s.capture {
                    c.closed(&label);
                }
                lock(&s.users).remove(&id);
                lock(&s.sockets).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.sockets).remove(&id);
        }
    }
}

enum ServerStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => s.read(buf),
            ServerStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => s.write(buf),
            ServerStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ServerStream::Plain(s) => s.flush(),
            ServerStream::Tls(s) => s.flush(),
        }
    }
}

/// A finished query result waiting to be fetched.
struct Cursor {
    columns: usize,
    rows: std::vec::IntoIter<Vec<SqlValue>>,
}

struct PreparedSql {
    sql: String,
    query: bool,
}

struct Session<'a> {
    io: ServerStream,
    shared: &'a Shared,
    id: u64,
    label: &'a str,
    db: Option<rusqlite::Connection>,
    prepared: HashMap<u32, PreparedSql>,
    cursors: HashMap<u32, Cursor>,
    /// Autocommit off: a SQLite transaction is kept open.
    manual: bool,
    last_error: String,
}

fn serve_connection(stream: TcpStream, shared: &Shared, id: u64, label: &str) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let peek = stream.try_clone()?;
    let io = match &shared.config.tls {
        None => ServerStream::Plain(stream),
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg.clone())
                .map_err(|e| io::Error::other(e.to_string()))?;
            ServerStream::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
        }
    };
    let mut session = Session {
        io,
        shared,
        id,
        label,
        db: None,
        prepared: HashMap::new(),
        cursors: HashMap::new(),
        manual: false,
        last_error: String::new(),
    };
    let done = Arc::new(AtomicBool::new(false));
    let mut watcher: Option<JoinHandle<()>> = None;
    let result = loop {
        let msg = match frame::read_message(&mut session.io) {
            Ok(Some(m)) => m,
            Ok(None) => break Ok(()),
            Err(e) => break Err(io::Error::other(e.to_string())),
        };
        if let Some(c) = &shared.capture {
            let header = Header {
                length: msg.body.len() as u32,
                msg_id: msg.msg_id,
                stmt_id: msg.stmt_id,
                code: msg.code,
            };
            c.frame(label, Direction::ClientToServer, &header, &msg.body);
        }
        if msg.code == code::DISCONNECT {
            break Ok(());
        }
        if let Err(e) = session.dispatch(&msg) {
            break Err(e);
        }
        if watcher.is_none()
            && let Some(db) = &session.db
        {
            watcher = Some(spawn_watcher(
                peek.try_clone()?,
                db.get_interrupt_handle(),
                done.clone(),
            ));
        }
    };
    done.store(true, Ordering::SeqCst);
    let _ = peek.shutdown(Shutdown::Both);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    result
}

/// Interrupts SQLite when the client's socket closes, or when the double
/// shuts it down (`kill_connections`); polled every 20 ms.
fn spawn_watcher(
    socket: TcpStream,
    handle: rusqlite::InterruptHandle,
    done: Arc<AtomicBool>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let sock = socket2::SockRef::from(&socket);
        let mut buf = [MaybeUninit::<u8>::uninit(); 1];
        while !done.load(Ordering::SeqCst) {
            match sock.recv_with_flags(&mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
                Ok(0) => {
                    handle.interrupt();
                    return;
                }
                Err(e)
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted =>
                {
                    handle.interrupt();
                    return;
                }
                _ => {}
            }
            thread::sleep(Duration::from_millis(20));
        }
    })
}

/// An SQLCODE error of the double.
struct SqlFailure {
    sqlcode: i32,
    description: &'static str,
    location: &'static str,
    msg: String,
}

impl SqlFailure {
    fn text(&self) -> String {
        format!(
            "[SQLCODE: <{}>:<{}>]\r\n[Location: <{}>]\r\n[%msg: <{}>]",
            self.sqlcode, self.description, self.location, self.msg
        )
    }
}

fn failure(e: &rusqlite::Error, location: &'static str) -> SqlFailure {
    let msg = e.to_string();
    let lower = msg.to_ascii_lowercase();
    let interrupted = matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted);
    let busy = matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
    let (sqlcode, description) = if interrupted || lower.contains("interrupted") {
        (-456, "SQL query execution interrupted by user")
    } else if busy {
        (-114, "One or more matching rows is locked by another user")
    } else if lower.contains("no such table") {
        (-30, "Table or view not found")
    } else if lower.contains("no such column") {
        (-29, "Field not found in the applicable tables")
    } else if lower.contains("unique constraint") {
        (
            -119,
            "UNIQUE or PRIMARY KEY constraint failed uniqueness check upon INSERT",
        )
    } else if lower.contains("not null constraint") {
        (-108, "Required field missing; INSERT or UPDATE not allowed")
    } else if lower.contains("foreign key constraint") {
        (
            -121,
            "FOREIGN KEY constraint failed referential check upon INSERT of row in referencing table",
        )
    } else if lower.contains("check constraint") {
        (-104, "Field validation failed in INSERT")
    } else if lower.contains("already exists") {
        (-201, "Table or view name not unique")
    } else if lower.contains("syntax error")
        || lower.contains("incomplete input")
        || lower.contains("unrecognized token")
    {
        (-1, "Invalid SQL statement")
    } else {
        (-400, "Fatal error occurred")
    };
    SqlFailure {
        sqlcode,
        description,
        location,
        msg,
    }
}

/// IRIS statement text to SQLite: `:%qpar(n)` → `?n` (outside quotes), and
/// the few statements the client sends on its own.
fn to_sqlite(sql: &str) -> String {
    let upper = sql.trim().to_ascii_uppercase();
    if upper.starts_with("START TRANSACTION") {
        return "BEGIN".into();
    }
    if upper.starts_with("SET TRANSACTION") {
        return "SELECT 1 WHERE 0".into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if quote.is_none()
            && let Some(after) = rest.strip_prefix(":%qpar(")
            && let Some(close) = after.find(')')
        {
            let n = &after[..close];
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                out.push('?');
                out.push_str(n);
                rest = &after[close + 1..];
                continue;
            }
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn to_sql_value(item: &Item<'_>) -> SqlValue {
    match *item {
        Item::Undefined | Item::Null => SqlValue::Null,
        Item::Int(i) => SqlValue::Integer(i),
        Item::Double(d) => SqlValue::Real(d),
        Item::Str8(b) if b == [0] => SqlValue::Text(String::new()),
        _ => SqlValue::Text(item.to_text().unwrap_or_default()),
    }
}

fn odbc_for_decl(decl: &str) -> (i32, i64, i64) {
    let d = decl.to_ascii_uppercase();
    let args: Vec<i64> = d
        .split_once('(')
        .map(|(_, r)| {
            r.trim_end_matches(')')
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let p = args.first().copied().unwrap_or(0);
    let s = args.get(1).copied().unwrap_or(0);
    if d.contains("BIGINT") {
        (odbc::BIGINT, 19, 0)
    } else if d.contains("SMALLINT") {
        (odbc::SMALLINT, 5, 0)
    } else if d.contains("TINYINT") {
        (odbc::TINYINT, 3, 0)
    } else if d.contains("BIT") || d.contains("BOOL") {
        (odbc::BIT, 1, 0)
    } else if d.contains("INT") {
        (odbc::INTEGER, 10, 0)
    } else if d.contains("NUMERIC") || d.contains("DECIMAL") || d.contains("MONEY") {
        (odbc::NUMERIC, if p > 0 { p } else { 18 }, s)
    } else if d.contains("DOUB") || d.contains("FLOA") || d.contains("REAL") {
        (odbc::DOUBLE, 15, 0)
    } else if d.contains("TIMESTAMP") || d.contains("DATETIME") {
        (odbc::TYPE_TIMESTAMP, 26, 6)
    } else if d.contains("DATE") {
        (odbc::TYPE_DATE, 10, 0)
    } else if d.contains("TIME") {
        (odbc::TYPE_TIME, 15, 6)
    } else if d.contains("BLOB") || d.contains("BINARY") {
        (odbc::VARBINARY, p, 0)
    } else if d.contains("GUID") || d.contains("UUID") || d.contains("UNIQUEIDENTIFIER") {
        (odbc::GUID, 36, 0)
    } else if d.starts_with("CHAR") {
        (odbc::CHAR, p, 0)
    } else {
        (odbc::VARCHAR, p, 0)
    }
}

/// Column name (lower case) -> declared type, for the tables named in `sql`.
fn schema_types(db: &rusqlite::Connection, sql: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let words: Vec<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let Ok(mut stmt) = db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    else {
        return out;
    };
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default();
    for t in tables {
        if !words.contains(&t.to_ascii_lowercase()) {
            continue;
        }
        let pragma = format!("PRAGMA table_info(\"{}\")", t.replace('"', "\"\""));
        let Ok(mut info) = db.prepare(&pragma) else {
            continue;
        };
        let cols: Vec<(String, String)> = info
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default();
        for (name, decl) in cols {
            out.entry(name.to_ascii_lowercase()).or_insert(decl);
        }
    }
    out
}

/// Column metadata: declared types where a result column is a table column,
/// otherwise inferred from the values.
fn describe_columns(
    names: &[String],
    schema: &HashMap<String, String>,
    rows: &[Vec<SqlValue>],
) -> Vec<ColumnInfo> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let bare = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
            let (odbc_type, precision, scale) = match schema.get(&bare) {
                Some(decl) => odbc_for_decl(decl),
                None => infer_from_values(rows.iter().filter_map(|r| r.get(i))),
            };
            ColumnInfo {
                name: name.clone(),
                odbc_type,
                precision,
                scale,
                nullable: 1,
                label: name.clone(),
                table: String::new(),
                schema: String::new(),
                catalog: String::new(),
                flags: vec![0; 12],
            }
        })
        .collect()
}

fn infer_from_values<'v>(values: impl Iterator<Item = &'v SqlValue>) -> (i32, i64, i64) {
    let (mut ints, mut big, mut reals, mut texts, mut blobs) = (false, false, false, false, false);
    for v in values {
        match v {
            SqlValue::Null => {}
            SqlValue::Integer(i) => {
                ints = true;
                big |= i32::try_from(*i).is_err();
            }
            SqlValue::Real(_) => reals = true,
            SqlValue::Text(_) => texts = true,
            SqlValue::Blob(_) => blobs = true,
        }
    }
    if texts || (blobs && (ints || reals)) {
        (odbc::VARCHAR, 4096, 0)
    } else if blobs {
        (odbc::VARBINARY, 0, 0)
    } else if reals {
        (odbc::DOUBLE, 15, 0)
    } else if big {
        (odbc::BIGINT, 19, 0)
    } else if ints {
        (odbc::INTEGER, 10, 0)
    } else {
        (odbc::VARCHAR, 4096, 0)
    }
}

/// Parameter types: the column a `?n` is compared with or inserted into.
fn describe_params(
    sqlite_sql: &str,
    count: usize,
    schema: &HashMap<String, String>,
) -> Vec<ParamInfo> {
    let tokens: Vec<String> = tokenize_simple(sqlite_sql);
    let mut types: Vec<Option<(i32, i64, i64)>> = vec![None; count];
    // INSERT INTO t (a, b) VALUES (?1, ?2)
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    if let Some(values_at) = upper.iter().position(|t| t == "VALUES") {
        let cols: Vec<&String> = match upper.iter().position(|t| t == "(") {
            Some(open) if open < values_at => tokens[open + 1..values_at]
                .iter()
                .filter(|t| *t != "," && *t != ")")
                .collect(),
            _ => Vec::new(),
        };
        let params: Vec<&String> = tokens[values_at..]
            .iter()
            .filter(|t| t.starts_with('?'))
            .collect();
        for (col, p) in cols.iter().zip(params) {
            if let (Some(n), Some(decl)) = (param_index(p), schema.get(&col.to_ascii_lowercase()))
                && n < count
            {
                types[n] = Some(odbc_for_decl(decl));
            }
        }
    }
    // col <op> ?n and ?n <op> col
    let ops = ["=", "<", ">", "<=", ">=", "<>", "!=", "LIKE"];
    for (i, t) in tokens.iter().enumerate() {
        let Some(n) = param_index(t).filter(|&n| n < count) else {
            continue;
        };
        if types[n].is_some() {
            continue;
        }
        let before = (i >= 2 && ops.contains(&upper[i - 1].as_str())).then(|| &tokens[i - 2]);
        let after =
            (i + 2 < tokens.len() && ops.contains(&upper[i + 1].as_str())).then(|| &tokens[i + 2]);
        for col in before.into_iter().chain(after) {
            let bare = col.rsplit('.').next().unwrap_or(col).to_ascii_lowercase();
            if let Some(decl) = schema.get(&bare) {
                types[n] = Some(odbc_for_decl(decl));
                break;
            }
        }
    }
    types
        .into_iter()
        .map(|t| {
            let (odbc_type, precision, scale) = t.unwrap_or((odbc::VARCHAR, 4096, 0));
            ParamInfo {
                odbc_type,
                precision,
                scale,
                nullable: 1,
            }
        })
        .collect()
}

fn param_index(tok: &str) -> Option<usize> {
    tok.strip_prefix('?')?.parse::<usize>().ok()?.checked_sub(1)
}

fn tokenize_simple(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i += 1;
            out.push(chars[start..i.min(chars.len())].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '?' || c == '.' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if matches!(c, '<' | '>' | '!')
            && chars.get(i + 1).is_some_and(|n| *n == '=' || *n == '>')
        {
            out.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

fn is_dml(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE")
}

fn encode_rows(w: &mut ListWriter, rows: &[Vec<SqlValue>]) {
    for row in rows {
        for v in row {
            match v {
                SqlValue::Null => w.push_null(),
                SqlValue::Integer(i) => w.push_int(*i),
                SqlValue::Real(f) => w.push_f64(*f, false),
                SqlValue::Text(s) => w.push_str(s),
                SqlValue::Blob(b) => w.push_bytes(b),
            }
        }
    }
}

type Rows = (Vec<String>, Vec<Vec<SqlValue>>);

impl Session<'_> {
    fn reply(&mut self, status: u16, msg_id: u32, stmt_id: u32, body: &[u8]) -> io::Result<()> {
        let code = status.to_le_bytes();
        let max = self.shared.config.max_frame_body;
        if let Some(c) = &self.shared.capture {
            let mut chunks = body.chunks(max.max(1)).peekable();
            if chunks.peek().is_none() {
                let h = Header {
                    length: 0,
                    msg_id,
                    stmt_id,
                    code,
                };
                c.frame(self.label, Direction::ServerToClient, &h, &[]);
            }
            while let Some(chunk) = chunks.next() {
                let id = if chunks.peek().is_some() {
                    stmt_id | frame::CONTINUED
                } else {
                    stmt_id
                };
                let h = Header {
                    length: chunk.len() as u32,
                    msg_id,
                    stmt_id: id,
                    code,
                };
                c.frame(self.label, Direction::ServerToClient, &h, chunk);
            }
        }
        frame::write_split(&mut self.io, code, msg_id, stmt_id, body, max)
    }

    fn fail(&mut self, msg_id: u32, stmt_id: u32, f: SqlFailure) -> io::Result<()> {
        self.last_error = f.text();
        let status = f.sqlcode.unsigned_abs().min(u32::from(u16::MAX)) as u16;
        self.reply(status, msg_id, stmt_id, &[])
    }

    fn dispatch(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        match &msg.code {
            b"HS" => {
                let hs = HandshakeReply {
                    protocol: self.shared.config.protocol,
                    features: self.shared.config.features,
                    locale: "LATIN1".into(),
                };
                self.reply(status::OK, id, stmt, &hs.encode())
            }
            b"CN" => self.login(msg),
            _ if self.db.is_none() => {
                self.last_error = "[SQLCODE: <-417>:<Security error>]".into();
                self.reply(status::ACCESS_DENIED, id, stmt, &[])
            }
            b"DQ" => self.direct_query(msg),
            b"PP" => self.prepare(msg),
            b"PQ" => self.prepared_query(msg),
            b"DU" | b"PU" => self.update(msg),
            b"FD" => self.fetch(id, stmt),
            b"OE" => {
                let mut w = ListWriter::new();
                w.push_str(&std::mem::take(&mut self.last_error));
                self.reply(status::OK, id, stmt, w.as_bytes())
            }
            b"TC" | b"TR" => {
                let commit = msg.code == code::COMMIT;
                self.end_transaction(commit);
                if self.manual {
                    self.exec_batch(BEGIN_WRITE);
                }
                self.reply(status::OK, id, stmt, &[])
            }
            b"AF" => {
                if !self.manual {
                    self.manual = true;
                    self.exec_batch(BEGIN_WRITE);
                }
                Ok(())
            }
            b"AN" => {
                if self.manual {
                    self.manual = false;
                    self.end_transaction(true);
                }
                Ok(())
            }
            b"CC" => {
                self.cursors.remove(&stmt);
                Ok(())
            }
            b"CU" => {
                self.cursors.remove(&stmt);
                self.prepared.remove(&stmt);
                Ok(())
            }
            b"JS" => {
                self.last_error = "[SQLCODE: <-412>:<General stream error>]".into();
                self.reply(status::STREAM_NOT_FOUND, id, stmt, &[])
            }
            other => {
                self.last_error = format!(
                    "[SQLCODE: <-400>:<Fatal error occurred>]\r\n[%msg: <message {} is not supported by the pgiris test double>]",
                    String::from_utf8_lossy(other)
                );
                self.reply(400, id, stmt, &[])
            }
        }
    }

    fn exec_batch(&mut self, sql: &str) {
        if let Some(db) = &self.db {
            let _ = db.execute_batch(sql);
        }
    }

    fn end_transaction(&mut self, commit: bool) {
        if let Some(db) = &self.db
            && !db.is_autocommit()
        {
            let _ = db.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" });
        }
    }

    fn login(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        let deny = |s: &mut Self, text: String| {
            let mut w = ListWriter::new();
            w.push_str(&text);
            s.reply(status::ACCESS_DENIED, id, stmt, w.as_bytes())
        };
        let Ok(fields) = LoginFields::parse(&msg.body) else {
            return deny(self, "Access Denied".into());
        };
        let Some(ns) = self
            .shared
            .config
            .namespaces
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&fields.namespace))
            .cloned()
        else {
            return deny(
                self,
                format!("Namespace '{}' does not exist", fields.namespace),
            );
        };
        let ok = self
            .shared
            .config
            .users
            .iter()
            .any(|(u, p)| u.eq_ignore_ascii_case(&fields.user) && *p == fields.password);
        if !ok {
            return deny(self, "Access Denied".into());
        }
        match self.shared.open_db(&ns, self.id) {
            Ok(db) => self.db = Some(db),
            Err(e) => return deny(self, format!("cannot open namespace: {e}")),
        }
        lock(&self.shared.logins).push(fields.user.clone());
        lock(&self.shared.users).insert(self.id, fields.user.clone());
        let job = 4242 + self.shared.next_conn.load(Ordering::SeqCst);
        let reply = LoginReply {
            server_version: DOUBLE_VERSION.into(),
            delimited_ids: 0,
            isolation: 1,
            job: job.to_string(),
            sql_empty_string: 0,
            features: 0,
        };
        self.reply(status::OK, id, stmt, &reply.encode())
    }

    /// Runs a query to the end.
    fn run_query(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, SqlFailure> {
        let db = self.db.as_ref().ok_or_else(|| SqlFailure {
            sqlcode: -400,
            description: "Fatal error occurred",
            location: "Execute",
            msg: "not logged in".into(),
        })?;
        let mut stmt = db.prepare(sql).map_err(|e| failure(&e, "Prepare"))?;
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let n = names.len();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| failure(&e, "Execute"))?;
        let mut out = Vec::new();
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        values.push(
                            row.get::<_, SqlValue>(i)
                                .map_err(|e| failure(&e, "Fetch"))?,
                        );
                    }
                    out.push(values);
                }
                Ok(None) => break,
                Err(e) => return Err(failure(&e, "Fetch")),
            }
        }
        Ok((names, out))
    }

    fn send_batch(
        &mut self,
        msg_id: u32,
        stmt_id: u32,
        columns: usize,
        rows: Vec<Vec<SqlValue>>,
    ) -> io::Result<()> {
        let mut cursor = Cursor {
            columns,
            rows: rows.into_iter(),
        };
        self.send_next(msg_id, stmt_id, &mut cursor)?;
        if cursor.rows.len() > 0 {
            self.cursors.insert(stmt_id, cursor);
        }
        Ok(())
    }

    fn send_next(&mut self, msg_id: u32, stmt_id: u32, cursor: &mut Cursor) -> io::Result<()> {
        let n = self.shared.config.batch_rows.max(1);
        let batch: Vec<Vec<SqlValue>> = cursor.rows.by_ref().take(n).collect();
        let mut w = ListWriter::new();
        if cursor.columns > 0 {
            encode_rows(&mut w, &batch);
        }
        let st = if cursor.rows.len() > 0 {
            status::OK
        } else {
            status::NO_MORE_DATA
        };
        self.reply(st, msg_id, stmt_id, w.as_bytes())
    }

    fn fetch(&mut self, msg_id: u32, stmt_id: u32) -> io::Result<()> {
        match self.cursors.remove(&stmt_id) {
            Some(mut c) => {
                self.send_next(msg_id, stmt_id, &mut c)?;
                if c.rows.len() > 0 {
                    self.cursors.insert(stmt_id, c);
                }
                Ok(())
            }
            None => self.reply(status::NO_MORE_DATA, msg_id, stmt_id, &[]),
        }
    }

    fn metadata(
        &self,
        sql: &str,
        names: &[String],
        rows: &[Vec<SqlValue>],
        nparams: usize,
        query: bool,
    ) -> Metadata {
        let (columns, params) = match &self.db {
            Some(db) => {
                let schema = schema_types(db, sql);
                (
                    describe_columns(names, &schema, rows),
                    describe_params(sql, nparams, &schema),
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        Metadata {
            columns: query.then_some(columns),
            params,
            cached: true,
        }
    }

    fn direct_query(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        let Ok(req) = message::parse_statement_request(msg.code, &msg.body) else {
            return self.fail(id, stmt, bad_request());
        };
        let sql = to_sqlite(req.sql.as_deref().unwrap_or(""));
        let params: Vec<SqlValue> = req.params.iter().map(to_sql_value).collect();
        match self.run_query(&sql, &params) {
            Ok((names, rows)) => {
                let meta = self.metadata(&sql, &names, &rows, params.len(), true);
                self.reply(status::OK, id, stmt, &message::encode_metadata(&meta))?;
                self.send_batch(id, stmt, names.len(), rows)
            }
            Err(f) => self.fail(id, stmt, f),
        }
    }

    fn prepare(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        let Ok(req) = message::parse_statement_request(msg.code, &msg.body) else {
            return self.fail(id, stmt, bad_request());
        };
        let sql = to_sqlite(req.sql.as_deref().unwrap_or(""));
        let prepared = match &self.db {
            Some(db) => db.prepare(&sql).map(|s| {
                (
                    s.column_names().map(|n| n.to_string()).collect::<Vec<_>>(),
                    s.readonly(),
                    s.parameter_count(),
                )
            }),
            None => return self.fail(id, stmt, bad_request()),
        };
        let (names, readonly, nparams) = match prepared {
            Ok(p) => p,
            Err(e) => return self.fail(id, stmt, failure(&e, "Prepare")),
        };
        let query = !names.is_empty();
        // Expression columns get their type from a dry run with NULL
        // parameters (only for statements that change nothing).
        let sample = if query && readonly {
            self.run_query(&sql, &vec![SqlValue::Null; nparams])
                .map(|(_, rows)| rows)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let meta = self.metadata(&sql, &names, &sample, nparams, query);
        self.prepared.insert(stmt, PreparedSql { sql, query });
        self.reply(status::OK, id, stmt, &message::encode_metadata(&meta))
    }

    fn prepared_query(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        let Some(p) = self.prepared.get(&stmt).map(|p| p.sql.clone()) else {
            return self.reply(status::STATEMENT_NOT_FOUND, id, stmt, &[]);
        };
        let Ok(req) = message::parse_statement_request(msg.code, &msg.body) else {
            return self.fail(id, stmt, bad_request());
        };
        let params: Vec<SqlValue> = req.params.iter().map(to_sql_value).collect();
        match self.run_query(&p, &params) {
            Ok((names, rows)) => self.send_batch(id, stmt, names.len(), rows),
            Err(f) => self.fail(id, stmt, f),
        }
    }

    fn update(&mut self, msg: &Message) -> io::Result<()> {
        let (id, stmt) = (msg.msg_id, msg.stmt_id);
        let Ok(req) = message::parse_statement_request(msg.code, &msg.body) else {
            return self.fail(id, stmt, bad_request());
        };
        let direct = msg.code == code::DIRECT_UPDATE;
        let sql = if direct {
            to_sqlite(req.sql.as_deref().unwrap_or(""))
        } else {
            match self.prepared.get(&stmt) {
                Some(p) if !p.query => p.sql.clone(),
                Some(p) => p.sql.clone(),
                None => return self.reply(status::STATEMENT_NOT_FOUND, id, stmt, &[]),
            }
        };
        let params: Vec<SqlValue> = req.params.iter().map(to_sql_value).collect();
        let result = match &self.db {
            Some(db) => db
                .prepare(&sql)
                .map_err(|e| failure(&e, "Prepare"))
                .and_then(|mut s| {
                    s.execute(rusqlite::params_from_iter(params.iter()))
                        .map_err(|e| failure(&e, "Execute"))
                }),
            None => Err(bad_request()),
        };
        match result {
            Ok(changed) => {
                let rows = if is_dml(&sql) { changed as i64 } else { 0 };
                if direct {
                    let meta = self.metadata(&sql, &[], &[], params.len(), false);
                    let body = message::encode_update_reply(&meta.params, true, rows);
                    self.prepared
                        .insert(stmt, PreparedSql { sql, query: false });
                    self.reply(status::OK, id, stmt, &body)
                } else {
                    let mut w = ListWriter::new();
                    w.push_int(rows);
                    self.reply(status::OK, id, stmt, w.as_bytes())
                }
            }
            Err(f) => self.fail(id, stmt, f),
        }
    }
}

fn bad_request() -> SqlFailure {
    SqlFailure {
        sqlcode: -400,
        description: "Fatal error occurred",
        location: "Server",
        msg: "the test double could not read the request".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qpar_becomes_numbered_sqlite_parameters() {
        assert_eq!(
            to_sqlite("SELECT a FROM t WHERE a = :%qpar(1) AND b = ':%qpar(2)' OR c = :%qpar(2)"),
            "SELECT a FROM t WHERE a = ?1 AND b = ':%qpar(2)' OR c = ?2"
        );
        assert_eq!(to_sqlite("START TRANSACTION"), "BEGIN");
        assert_eq!(to_sqlite("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn declared_types_map_to_odbc() {
        assert_eq!(odbc_for_decl("VARCHAR(50)"), (odbc::VARCHAR, 50, 0));
        assert_eq!(odbc_for_decl("numeric(10, 2)"), (odbc::NUMERIC, 10, 2));
        assert_eq!(odbc_for_decl("INTEGER"), (odbc::INTEGER, 10, 0));
        assert_eq!(odbc_for_decl("BIGINT"), (odbc::BIGINT, 19, 0));
        assert_eq!(odbc_for_decl("TIMESTAMP").0, odbc::TYPE_TIMESTAMP);
        assert_eq!(odbc_for_decl("BIT").0, odbc::BIT);
    }

    #[test]
    fn parameter_types_follow_columns() {
        let mut schema = HashMap::new();
        schema.insert("a".to_string(), "INTEGER".to_string());
        schema.insert("b".to_string(), "VARCHAR(10)".to_string());
        let p = describe_params("INSERT INTO t (b, a) VALUES (?1, ?2)", 2, &schema);
        assert_eq!(p[0].odbc_type, odbc::VARCHAR);
        assert_eq!(p[1].odbc_type, odbc::INTEGER);
        let p = describe_params("SELECT * FROM t WHERE t.a >= ?1 AND ?2 = b", 2, &schema);
        assert_eq!(p[0].odbc_type, odbc::INTEGER);
        assert_eq!(p[1].odbc_type, odbc::VARCHAR);
    }
}
