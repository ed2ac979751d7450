//! Helpers for the TLS and authentication black-box tests (`tests/tls_*.rs`,
//! `tests/auth_*.rs`, which say `use common::tlsauth::*`): a real server on
//! 127.0.0.1:0 with its JSON log captured, the hba/users/TLS files it reads
//! written to a temporary directory, and real clients (psql,
//! tokio-postgres) plus a raw byte-level client (plain, SSLRequest TLS or
//! direct TLS) with a small SCRAM implementation for crafting hostile
//! messages. Messages are built and read with pgiris's own wire codecs
//! wherever a well-formed one is wanted.
//!
//! Every password, verifier and client proof a test uses is registered with
//! its [`TestServer`]; when the server is dropped the captured log is
//! checked to contain none of them, and every error text a client helper
//! sees is checked the same way.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use pgiris::actors::{ServerCommand, ServerHandle};
use pgiris::config::Settings;
use pgiris::net::tls::testing::TestPki;
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup;
use rustls::pki_types::ServerName;
use serde_json::Value;
use sha2::{Digest, Sha256};
use slog::Drain;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long any single wait in these tests may take before it is a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// The password every test user gets unless a test says otherwise.
pub const PASSWORD: &str = "Tr0ub4dor&3-correct-horse";

// ---------------------------------------------------------------------
// Captured JSON log
// ---------------------------------------------------------------------

/// The server's log, one JSON object per line, captured in memory.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// A synchronous JSON logger writing here (so a line is visible as soon
    /// as the server logged it).
    pub fn logger(&self) -> slog::Logger {
        let json = slog_json::Json::new(self.clone())
            .add_default_keys()
            .set_newlines(true)
            .build();
        slog::Logger::root(Mutex::new(json).fuse(), slog::o!())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Every complete line, parsed; a line that is not JSON fails the test.
    pub fn lines(&self) -> Vec<Value> {
        let mut text = self.text();
        // A record is written in pieces: leave one in progress for later.
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }

    /// Lines whose `event` is `name`.
    pub fn events(&self, name: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["event"] == name)
            .collect()
    }

    /// Waits (up to [`WAIT`]) for a line with `event` = `name` for which
    /// `pred` holds, and returns it.
    pub fn wait_for(&self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.events(name).into_iter().find(|l| pred(l)) {
                return l;
            }
            if Instant::now() > end {
                panic!(
                    "no log line with event {name:?} matching the test's condition; log:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a line whose message (`msg`) contains `text`.
    pub fn wait_for_msg(&self, text: &str) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(l) = self
                .lines()
                .into_iter()
                .find(|l| l["msg"].as_str().is_some_and(|m| m.contains(text)))
            {
                return l;
            }
            if Instant::now() > end {
                panic!("no log line containing {text:?}; log:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many lines with `event` = `name` there are now.
    pub fn count(&self, name: &str) -> usize {
        self.events(name).len()
    }
}

/// Every password, verifier, proof and nonce any test of this binary
/// used: no server log and no error sent to a client may show one.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret. Proofs and nonces shorter than 16 characters are
/// not worth it (they could match anything by chance); see
/// [`TestServer::add_secret`] for passwords.
pub fn wire_secret(s: &str) {
    if s.len() >= 16 {
        remember(s);
    }
}

fn remember(s: &str) {
    let mut all = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|x| x == s) {
        all.push(s.to_string());
    }
}

/// The secrets recorded so far.
pub fn secrets() -> Vec<String> {
    SECRETS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Panics if `text` contains any of `secrets`.
pub fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} contains the secret {s:?}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------
// A configured server
// ---------------------------------------------------------------------

/// A user in the users file.
#[derive(Clone, Debug)]
pub enum Secret {
    /// A SCRAM-SHA-256 verifier made from this password (as `pgiris passwd`).
    Scram(String),
    /// PostgreSQL's md5 hash of this password.
    Md5(String),
    /// The password itself (development form).
    Plain(String),
}

impl Secret {
    pub fn password(&self) -> &str {
        match self {
            Secret::Scram(p) | Secret::Md5(p) | Secret::Plain(p) => p,
        }
    }
}

/// What a [`TestServer`] is started with.
#[derive(Clone)]
pub struct ServerSpec {
    pub tls: bool,
    pub min_version: &'static str,
    pub login_timeout: &'static str,
    pub hba: String,
    pub users: Vec<(String, Secret)>,
    pub max_failures: u32,
    pub failure_window: &'static str,
    pub failure_delay: &'static str,
    pub workers: usize,
}

impl Default for ServerSpec {
    fn default() -> Self {
        ServerSpec {
            tls: true,
            min_version: "1.2",
            login_timeout: "10s",
            hba: "host all all 127.0.0.0/8 scram-sha-256\n".into(),
            users: Vec::new(),
            max_failures: 0,
            failure_window: "60s",
            failure_delay: "1s",
            workers: 2,
        }
    }
}

impl ServerSpec {
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    pub fn hba(mut self, text: &str) -> Self {
        self.hba = text.to_string();
        self
    }

    pub fn user(mut self, name: &str, secret: Secret) -> Self {
        self.users.push((name.to_string(), secret));
        self
    }

    /// A user with a SCRAM verifier for [`PASSWORD`].
    pub fn scram_user(self, name: &str) -> Self {
        self.user(name, Secret::Scram(PASSWORD.into()))
    }
}

/// A users-file line for `name` (and the strings it makes secret).
pub fn users_line(name: &str, secret: &Secret) -> (String, Vec<String>) {
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    match secret {
        Secret::Scram(p) => {
            let line = pgiris::auth::passwd_line(name, p, 4096);
            let verifier = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            let mut secrets = vec![p.clone(), verifier.clone()];
            // StoredKey and ServerKey on their own, too.
            if let Some((_, keys)) = verifier.rsplit_once('$') {
                secrets.extend(keys.split(':').map(str::to_string));
            }
            (line, secrets)
        }
        Secret::Md5(p) => {
            let stored = pgiris::auth::md5::Md5Hash::from_password(p.as_bytes(), name).to_stored();
            (
                format!("{} {}", quoted(name), quoted(&stored)),
                vec![p.clone(), stored[3..].to_string()],
            )
        }
        Secret::Plain(p) => (format!("{} {}", quoted(name), quoted(p)), vec![p.clone()]),
    }
}

/// A running server with its files and captured log. Dropping it shuts
/// the server down and checks that the log holds no registered secret.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub pki: TestPki,
    pub logs: Logs,
    pub spec: ServerSpec,
    pub config_path: PathBuf,
    pub hba_path: PathBuf,
    pub users_path: PathBuf,
    handle: Option<ServerHandle>,
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.to_string_lossy())
}

impl TestServer {
    pub fn start(spec: ServerSpec) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        // The PKI exists even for a server without TLS: the clients'
        // configurations need a CA to trust.
        let pki = TestPki::create(dir.path()).expect("test PKI");
        let hba_path = dir.path().join("pg_hba.conf");
        let users_path = dir.path().join("userlist.txt");
        let config_path = dir.path().join("pgiris.toml");
        let mut users = String::new();
        for (name, secret) in &spec.users {
            let (line, s) = users_line(name, secret);
            users.push_str(&line);
            users.push('\n');
            s.iter().for_each(|x| remember(x));
        }
        std::fs::write(&hba_path, &spec.hba).expect("write hba");
        std::fs::write(&users_path, users).expect("write users");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let tls = if spec.tls {
            format!(
                "cert_file = {}\nkey_file = {}\n",
                toml_str(&pki.server.cert_file),
                toml_str(&pki.server.key_file)
            )
        } else {
            String::new()
        };
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = {workers}\nlogin_timeout = \"{login}\"\n\
             [tls]\n{tls}min_version = \"{minv}\"\n\
             [auth]\nhba_file = {hba}\nusers_file = {users}\nmax_failures = {mf}\n\
             failure_window = \"{fw}\"\nfailure_delay = \"{fd}\"\n\
             [backend.embedded]\ndata_dir = {data}\n\
             [log]\nformat = \"json\"\n",
            workers = spec.workers,
            login = spec.login_timeout,
            minv = spec.min_version,
            hba = toml_str(&hba_path),
            users = toml_str(&users_path),
            mf = spec.max_failures,
            fw = spec.failure_window,
            fd = spec.failure_delay,
            data = toml_str(&data),
        );
        std::fs::write(&config_path, config).expect("write config");
        let settings = Settings::load(Some(&config_path)).expect("settings");
        let logs = Logs::default();
        let handle = pgiris::actors::spawn(settings, Some(config_path.clone()), logs.logger())
            .expect("server starts");
        let addr = handle.addrs[0];
        TestServer {
            dir,
            addr,
            pki,
            logs,
            spec,
            config_path,
            hba_path,
            users_path,
            handle: Some(handle),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Marks `s` (a password, say) as a secret the log and client errors
    /// must never show. Short ones too: a password is a password.
    pub fn add_secret(&self, s: impl Into<String>) {
        let s = s.into();
        if !s.is_empty() {
            remember(&s);
        }
    }

    /// Panics if `text` (something a client was sent) holds a secret.
    pub fn check_client_text(&self, what: &str, text: &str) {
        assert_no_secret(what, text, &secrets());
    }

    /// Reloads (as SIGHUP does) and waits until the reload finished.
    pub fn reload(&self) {
        let before = self.logs.events("reload").len();
        if let Some(h) = &self.handle {
            h.command(ServerCommand::Reload);
        }
        let end = Instant::now() + WAIT;
        loop {
            let done = self
                .logs
                .events("reload")
                .into_iter()
                .skip(before)
                .any(|l| l["msg"] == "configuration reloaded");
            if done {
                return;
            }
            assert!(
                Instant::now() < end,
                "reload did not finish; log:\n{}",
                self.logs.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Replaces the users file (and registers its secrets).
    pub fn write_users(&self, users: &[(&str, Secret)]) {
        let mut text = String::new();
        for (name, secret) in users {
            let (line, s) = users_line(name, secret);
            text.push_str(&line);
            text.push('\n');
            s.iter().for_each(|x| remember(x));
        }
        std::fs::write(&self.users_path, text).expect("write users");
    }

    /// The client TLS configuration: trusts the test CA, offers ALPN
    /// `postgresql`.
    pub fn client_tls(&self) -> rustls::ClientConfig {
        self.pki.client_config().expect("client config")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown(pgiris::session::run::Shutdown::Fast);
        }
        if !std::thread::panicking() {
            assert_no_secret("the server log", &self.logs.text(), &secrets());
        }
    }
}

// ---------------------------------------------------------------------
// psql
// ---------------------------------------------------------------------

/// What a psql run printed.
#[derive(Debug)]
pub struct PsqlRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl PsqlRun {
    /// The TLS version `\conninfo` reported, if the connection used TLS.
    pub fn tls_version(&self) -> Option<String> {
        let at = self.stdout.find("SSL connection (protocol: ")?;
        let rest = &self.stdout[at + "SSL connection (protocol: ".len()..];
        rest.split([',', ')']).next().map(str::to_string)
    }
}

impl TestServer {
    /// Runs `psql -X -A -t` with `conninfo` added to this server's host,
    /// port and database, `password` in PGPASSWORD, and `commands` (each
    /// a `-c`). The environment is cleared so no PG* variable, pgpass file
    /// or psqlrc interferes.
    pub fn psql(&self, conninfo: &str, password: Option<&str>, commands: &[&str]) -> PsqlRun {
        let dsn = format!(
            "host=localhost hostaddr=127.0.0.1 port={} dbname=postgres connect_timeout=10 {conninfo}",
            self.port()
        );
        let mut cmd = Command::new("psql");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PGPASSFILE", "/dev/null")
            .env("HOME", self.dir.path())
            .arg("-X")
            .arg("-A")
            .arg("-t")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .arg("-d")
            .arg(&dsn)
            .stdin(Stdio::null());
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        let out = run_with_deadline(cmd, WAIT);
        let run = PsqlRun {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.check_client_text("psql's stderr", &run.stderr);
        run
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn run_with_deadline(cmd: Command, limit: Duration) -> std::process::Output {
    run_with_input(cmd, None, limit)
}

/// As [`run_with_deadline`], writing `input` to the command's stdin first.
pub fn run_with_input(
    mut cmd: Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> std::process::Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn");
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(data).expect("write stdin");
    }
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > end => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("wait");
                panic!(
                    "{cmd:?} did not finish within {limit:?}; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait for {cmd:?}: {e}"),
        }
    }
    child.wait_with_output().expect("output")
}

// ---------------------------------------------------------------------
// tokio-postgres
// ---------------------------------------------------------------------

/// How the server's first bytes looked to a tokio-postgres connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    /// SSLRequest answered 'S', then a TLS handshake.
    NegotiatedTls,
    /// TLS from the first byte (PostgreSQL 17 direct negotiation).
    DirectTls,
}

/// A socket that remembers the first bytes the server sent, so a test can
/// tell whether the connection went TLS without trusting the client.
pub struct Recording {
    inner: tokio::net::TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recording {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if r.is_ready() {
            let mut seen = me.seen.lock().unwrap_or_else(|p| p.into_inner());
            let new = &buf.filled()[before..];
            let room = 8usize.saturating_sub(seen.len());
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        r
    }
}

impl AsyncWrite for Recording {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, b)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A connected tokio-postgres client.
pub struct TpConn {
    pub client: tokio_postgres::Client,
    pub transport: Transport,
    /// The client's own address (the server logs it as `peer`).
    pub local: SocketAddr,
}

/// How a tokio-postgres attempt ended, for tables of expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpOutcome {
    Connected(Transport),
    /// The server sent this SQLSTATE.
    ServerError(String),
    /// Refused without a server error (by the client, or the server closed).
    Refused,
}

impl TestServer {
    /// Connects tokio-postgres with `options` (a key=value connection
    /// string: user, password, sslmode, sslnegotiation, channel_binding...)
    /// from `source` (127.0.0.1 when `None`) over the test PKI's TLS.
    pub async fn tp_connect(
        &self,
        options: &str,
        source: Option<Ipv4Addr>,
    ) -> Result<TpConn, tokio_postgres::Error> {
        let config: tokio_postgres::Config =
            format!("host=localhost dbname=postgres connect_timeout=10 {options}")
                .parse()
                .expect("tokio-postgres options");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        let src = source.unwrap_or(Ipv4Addr::LOCALHOST);
        socket
            .bind(SocketAddr::new(IpAddr::V4(src), 0))
            .expect("bind source address");
        let tcp = tokio::time::timeout(WAIT, socket.connect(self.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let local = tcp.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stream = Recording {
            inner: tcp,
            seen: seen.clone(),
        };
        let mut maker = tokio_postgres_rustls::MakeRustlsConnect::new(self.client_tls());
        let tls =
            <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
                Recording,
            >>::make_tls_connect(&mut maker, "localhost")
            .expect("tls connector");
        let connected = tokio::time::timeout(WAIT, config.connect_raw(stream, tls))
            .await
            .expect("tokio-postgres login finished in time");
        let (client, connection) = match connected {
            Ok(x) => x,
            Err(e) => {
                self.check_client_text("a tokio-postgres error", &format!("{e:?} {e}"));
                return Err(e);
            }
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let transport = match seen.as_slice() {
            [0x16, ..] => Transport::DirectTls,
            [b'S', 0x16, ..] => Transport::NegotiatedTls,
            _ => Transport::Plain,
        };
        Ok(TpConn {
            client,
            transport,
            local,
        })
    }

    /// As [`TestServer::tp_connect`], reduced to an outcome; a connected
    /// client runs `SELECT 1` first.
    pub async fn tp_outcome(&self, options: &str) -> TpOutcome {
        match self.tp_connect(options, None).await {
            Ok(c) => {
                // The simple protocol: binary type codecs are not what
                // these tests are about.
                let rows = c
                    .client
                    .simple_query("SELECT 40 + 2")
                    .await
                    .expect("a query after login");
                let value = rows.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                });
                assert_eq!(value.as_deref(), Some("42"));
                TpOutcome::Connected(c.transport)
            }
            Err(e) => match e.code() {
                Some(code) => TpOutcome::ServerError(code.code().to_string()),
                None => TpOutcome::Refused,
            },
        }
    }
}

/// The server's error as (SQLSTATE, message) from a tokio-postgres error.
pub fn db_error(e: &tokio_postgres::Error) -> (String, String) {
    match e.as_db_error() {
        Some(d) => (d.code().code().to_string(), d.message().to_string()),
        None => panic!("expected an error from the server, got {e:?}"),
    }
}

// ---------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------

pub const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A CancelRequest for `pid` and its `secret`.
pub use pgiris::wire::startup::encode_cancel as cancel_request;

/// A StartupMessage (protocol 3.0) for `user` and `database`.
pub fn startup_message(user: &str, database: &str) -> Vec<u8> {
    startup::encode_startup(
        startup::PROTOCOL_3_0,
        &[("user", user), ("database", database)],
    )
}

/// A typed message: tag, Int32 length, body (any body, malformed ones
/// included).
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A simple Query.
pub fn query(sql: &str) -> Vec<u8> {
    super::raw::encode(&[FrontendMessage::Query(sql.to_owned())])
}

/// Parse (unnamed statement, no parameter types).
pub fn parse(sql: &str) -> Vec<u8> {
    super::raw::encode(&[super::ext::parse("", sql, &[])])
}

/// SASLInitialResponse: mechanism, Int32 length, data.
pub fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let body = pgiris::auth::scram::messages::SaslInitialResponse {
        mechanism: mechanism.as_bytes(),
        data: Some(data),
    }
    .encode();
    message(b'p', &body)
}

pub fn sasl_response(data: &[u8]) -> Vec<u8> {
    message(b'p', data)
}

/// A PasswordMessage (cleartext or md5 response).
pub fn password_message(p: &str) -> Vec<u8> {
    let mut body = p.as_bytes().to_vec();
    body.push(0);
    message(b'p', &body)
}

/// An ErrorResponse's fields by their one-letter codes.
#[derive(Debug, Clone)]
pub struct ErrorFields(pub BTreeMap<char, String>);

impl ErrorFields {
    /// The fields of an ErrorResponse (or NoticeResponse) body.
    pub fn parse(body: &[u8]) -> ErrorFields {
        let fields = match BackendMessage::decode(b'E', Bytes::copy_from_slice(body)) {
            Ok(BackendMessage::ErrorResponse(fields)) => fields,
            other => panic!("not an ErrorResponse body ({other:?}): {body:?}"),
        };
        ErrorFields(
            fields
                .into_iter()
                .map(|(code, value)| (code as char, value))
                .collect(),
        )
    }
    pub fn code(&self) -> &str {
        self.0.get(&'C').map(String::as_str).unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.0.get(&'M').map(String::as_str).unwrap_or("")
    }
    pub fn severity(&self) -> &str {
        self.0.get(&'S').map(String::as_str).unwrap_or("")
    }
    pub fn detail(&self) -> Option<&str> {
        self.0.get(&'D').map(String::as_str)
    }
}

trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

/// A blocking byte-level client. Reads time out after [`WAIT`].
pub struct Raw {
    stream: Box<dyn Duplex>,
    /// The socket under `stream` (a second handle), for timeouts.
    tcp: TcpStream,
    buf: Vec<u8>,
    /// The server's certificate when on TLS.
    pub peer_cert: Option<Vec<u8>>,
    pub tls_version: Option<rustls::ProtocolVersion>,
}

/// Opens a TCP connection to `addr` from `source` (127.0.0.1 when `None`).
pub fn tcp_connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let src = SocketAddr::new(IpAddr::V4(source.unwrap_or(Ipv4Addr::LOCALHOST)), 0);
    sock.bind(&src.into()).expect("bind");
    sock.connect_timeout(&addr.into(), WAIT).expect("connect");
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    tcp.set_nodelay(true).expect("nodelay");
    tcp
}

/// Runs a TLS handshake on `tcp`, returning the finished connection or the
/// handshake error.
pub fn tls_handshake(
    mut tcp: TcpStream,
    config: rustls::ClientConfig,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, rustls::Error> {
    let name = ServerName::try_from("localhost").expect("server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) => {
                return Err(match e.into_inner() {
                    Some(inner) => match inner.downcast::<rustls::Error>() {
                        Ok(r) => *r,
                        Err(other) => rustls::Error::General(other.to_string()),
                    },
                    None => rustls::Error::General("I/O error during the handshake".into()),
                });
            }
        }
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

impl Raw {
    pub fn plain(addr: SocketAddr) -> Raw {
        Self::plain_from(addr, None)
    }

    pub fn plain_from(addr: SocketAddr, source: Option<Ipv4Addr>) -> Raw {
        let tcp = tcp_connect(addr, source);
        Raw {
            tcp: tcp.try_clone().expect("socket handle"),
            stream: Box::new(tcp),
            buf: Vec::new(),
            peer_cert: None,
            tls_version: None,
        }
    }

    fn from_tls(s: rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> Raw {
        let peer_cert = s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec());
        let tls_version = s.conn.protocol_version();
        Raw {
            tcp: s.sock.try_clone().expect("socket handle"),
            stream: Box::new(s),
            buf: Vec::new(),
            peer_cert,
            tls_version,
        }
    }

    /// SSLRequest, 'S', then the handshake.
    pub fn ssl_request(
        addr: SocketAddr,
        config: rustls::ClientConfig,
    ) -> Result<Raw, rustls::Error> {
        let mut tcp = tcp_connect(addr, None);
        tcp.write_all(&SSL_REQUEST).expect("send SSLRequest");
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).expect("SSLRequest answer");
        assert_eq!(answer[0], b'S', "the server refused SSL");
        tls_handshake(tcp, config).map(Raw::from_tls)
    }

    /// Direct TLS (PostgreSQL 17): a ClientHello as the first bytes.
    pub fn direct(addr: SocketAddr, config: rustls::ClientConfig) -> Result<Raw, rustls::Error> {
        tls_handshake(tcp_connect(addr, None), config).map(Raw::from_tls)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
        self.stream.flush().expect("flush");
    }

    /// Sends, tolerating a server that already closed.
    pub fn send_lenient(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads exactly `n` raw bytes (before typed messages start: 'S'/'N').
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => panic!("connection closed while reading {n} bytes"),
                Ok(_) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        self.buf.drain(..n).collect()
    }

    pub fn set_read_timeout(&self, limit: Duration) {
        self.tcp.set_read_timeout(Some(limit)).expect("timeout");
    }

    /// The next message, or `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        match self.recv_within() {
            Ok(m) => m,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// The next message if one arrives before the read timeout (see
    /// [`Raw::set_read_timeout`]); `None` on timeout. Panics on close.
    pub fn try_recv(&mut self) -> Option<(u8, Vec<u8>)> {
        match self.recv_within() {
            Ok(Some(m)) => Some(m),
            Ok(None) => panic!("the server closed the connection"),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    fn recv_within(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                let total = 1 + len as usize;
                if self.buf.len() >= total {
                    let msg: Vec<u8> = self.buf.drain(..total).collect();
                    return Ok(Some((msg[0], msg[5..].to_vec())));
                }
            }
            match self.fill() {
                Ok(0) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed inside a message: {:?}",
                        self.buf
                    );
                    return Ok(None);
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next message, which must exist.
    pub fn expect(&mut self) -> (u8, Vec<u8>) {
        self.recv().expect("a message before the server closed")
    }

    /// The next message must be an ErrorResponse; returns its fields.
    pub fn expect_error(&mut self) -> ErrorFields {
        let (tag, body) = self.expect();
        assert_eq!(
            tag as char,
            'E',
            "expected an ErrorResponse, got {:?} {:?}",
            tag as char,
            String::from_utf8_lossy(&body)
        );
        let e = ErrorFields::parse(&body);
        assert_no_secret(
            "an error sent to the client",
            &format!("{:?}", e.0),
            &secrets(),
        );
        e
    }

    /// The server must close the connection next (no more messages).
    pub fn expect_closed(&mut self) {
        if let Some((tag, body)) = self.recv() {
            panic!(
                "expected the server to close, got {:?} {:?}",
                tag as char,
                String::from_utf8_lossy(&body)
            );
        }
    }

    /// An ErrorResponse with this SQLSTATE, then close. Returns the fields.
    pub fn expect_fatal(&mut self, code: &str) -> ErrorFields {
        let e = self.expect_error();
        assert_eq!(e.code(), code, "error {:?}", e.0);
        assert_eq!(e.severity(), "FATAL", "error {:?}", e.0);
        self.expect_closed();
        e
    }

    /// Reads messages up to and including ReadyForQuery; returns them.
    pub fn until_ready(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let m = self.expect();
            let done = m.0 == b'Z';
            if m.0 == b'E' {
                let e = ErrorFields::parse(&m.1);
                if e.severity() == "FATAL" {
                    panic!("FATAL before ReadyForQuery: {:?}", e.0);
                }
            }
            out.push(m);
            if done {
                return out;
            }
        }
    }
}

/// An Authentication request's code and payload.
pub fn auth_request(m: &(u8, Vec<u8>)) -> (i32, Vec<u8>) {
    assert_eq!(
        m.0 as char,
        'R',
        "expected an Authentication message, got {:?} {:?}",
        m.0 as char,
        String::from_utf8_lossy(&m.1)
    );
    let code = i32::from_be_bytes([m.1[0], m.1[1], m.1[2], m.1[3]]);
    (code, m.1[4..].to_vec())
}

// ---------------------------------------------------------------------
// SCRAM client arithmetic (RFC 5802), for crafting messages
// ---------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac key");
    m.update(data);
    m.finalize().into_bytes().into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The server-first-message's attributes.
pub struct ServerFirst {
    pub text: String,
    pub nonce: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

pub fn parse_server_first(data: &[u8]) -> ServerFirst {
    let text = String::from_utf8(data.to_vec()).expect("server-first is UTF-8");
    let mut nonce = String::new();
    let mut salt = Vec::new();
    let mut iterations = 0;
    for part in text.split(',') {
        if let Some(v) = part.strip_prefix("r=") {
            nonce = v.to_string();
        } else if let Some(v) = part.strip_prefix("s=") {
            salt = B64.decode(v).expect("salt base64");
        } else if let Some(v) = part.strip_prefix("i=") {
            iterations = v.parse().expect("iterations");
        }
    }
    ServerFirst {
        text,
        nonce,
        salt,
        iterations,
    }
}

/// PBKDF2 of `password`, remembered: a user's salt is fixed, so tests
/// (and timing measurements) pay for each derivation once.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    type Cache = Mutex<BTreeMap<(String, Vec<u8>, u32), [u8; 32]>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (password.to_string(), salt.to_vec(), iterations);
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return *v;
    }
    let v = pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, v);
    v
}

/// RFC 5802 for `password` salted with `salt` and `iterations` over
/// `auth_message`: the ClientProof, and the ServerSignature the server
/// must answer with.
pub fn scram_proofs(
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> ([u8; 32], [u8; 32]) {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let signature = hmac(&sha256(&client_key), auth_message.as_bytes());
    let mut proof = client_key;
    proof.iter_mut().zip(signature).for_each(|(p, s)| *p ^= s);
    let server_key = hmac(&salted, b"Server Key");
    (proof, hmac(&server_key, auth_message.as_bytes()))
}

/// The ClientProof (base64) for `password` over `auth_message`.
pub fn client_proof(password: &str, sf: &ServerFirst, auth_message: &str) -> String {
    let (proof, _) = scram_proofs(password, &sf.salt, sf.iterations, auth_message);
    let proof = B64.encode(proof);
    wire_secret(&proof);
    proof
}

/// A scripted SCRAM exchange on a [`Raw`] connection, one step at a time.
pub struct ScramScript {
    pub gs2_header: String,
    /// Channel-binding data appended to the GS2 header in `c=`.
    pub cbind_data: Vec<u8>,
    pub client_nonce: String,
    pub client_first_bare: String,
}

impl ScramScript {
    pub fn new(gs2_header: &str, cbind_data: &[u8]) -> ScramScript {
        let mut raw = [0u8; 18];
        rand::fill(&mut raw);
        let client_nonce = B64.encode(raw);
        wire_secret(&client_nonce);
        ScramScript {
            gs2_header: gs2_header.to_string(),
            cbind_data: cbind_data.to_vec(),
            client_first_bare: format!("n=,r={client_nonce}"),
            client_nonce,
        }
    }

    pub fn client_first(&self) -> String {
        format!("{}{}", self.gs2_header, self.client_first_bare)
    }

    /// `c=...,r=<nonce>` for `nonce`.
    pub fn without_proof(&self, nonce: &str) -> String {
        if let Some(server_part) = nonce.strip_prefix(&self.client_nonce) {
            wire_secret(server_part);
        }
        let mut c = self.gs2_header.as_bytes().to_vec();
        c.extend_from_slice(&self.cbind_data);
        format!("c={},r={nonce}", B64.encode(c))
    }

    /// The client-final-message for `password` answering `sf`; also
    /// returns the proof.
    pub fn client_final(&self, password: &str, sf: &ServerFirst) -> (String, String) {
        let wp = self.without_proof(&sf.nonce);
        let auth_message = format!("{},{},{wp}", self.client_first_bare, sf.text);
        let proof = client_proof(password, sf, &auth_message);
        (format!("{wp},p={proof}"), proof)
    }
}

/// Starts a login on `raw` for `user` and returns the AuthenticationSASL
/// mechanisms offered.
pub fn start_sasl(raw: &mut Raw, user: &str) -> Vec<String> {
    raw.send(&startup_message(user, "postgres"));
    let (code, payload) = auth_request(&raw.expect());
    assert_eq!(code, 10, "expected AuthenticationSASL");
    payload
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// A complete SCRAM-SHA-256 login (GS2 flag `n`) on `raw`; returns the
/// client-final-message sent (for replay tests), the proof, and the
/// messages from AuthenticationOk to ReadyForQuery.
pub fn scram_login(
    raw: &mut Raw,
    user: &str,
    password: &str,
) -> (String, String, Vec<(u8, Vec<u8>)>) {
    start_sasl(raw, user);
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let (code, sf) = auth_request(&raw.expect());
    assert_eq!(code, 11, "expected SASLContinue");
    let sf = parse_server_first(&sf);
    let (last, proof) = script.client_final(password, &sf);
    raw.send(&sasl_response(last.as_bytes()));
    let (code, _) = auth_request(&raw.expect());
    assert_eq!(code, 12, "expected SASLFinal");
    let (code, _) = auth_request(&raw.expect());
    assert_eq!(code, 0, "expected AuthenticationOk");
    let login = raw.until_ready();
    (last, proof, login)
}

/// BackendKeyData (pid, secret) among login messages.
pub fn backend_key(messages: &[(u8, Vec<u8>)]) -> (i32, Vec<u8>) {
    let (_, body) = messages
        .iter()
        .find(|m| m.0 == b'K')
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    (pid, body[4..].to_vec())
}

/// A rustls client configuration with only TLS 1.2, trusting `pki`'s CA.
pub fn tls12_only_client(pki: &TestPki) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("CA");
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .expect("TLS 1.2")
    .with_root_certificates(roots)
    .with_no_client_auth();
    c.alpn_protocols = vec![b"postgresql".to_vec()];
    c
}

/// SHA-256 of DER bytes, as hex (a certificate fingerprint).
pub fn fingerprint(der: &[u8]) -> String {
    sha256(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// A failed SCRAM login from `source` that costs the client nothing (a
/// proof of zeros): returns the time from connect to the server's answer
/// and the error.
pub fn cheap_failure(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    user: &str,
) -> (Duration, ErrorFields) {
    let started = Instant::now();
    let mut raw = Raw::plain_from(addr, source);
    start_sasl(&mut raw, user);
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let last = format!(
        "{},p={}",
        script.without_proof(&sf.nonce),
        B64.encode([0u8; 32])
    );
    raw.send(&sasl_response(last.as_bytes()));
    let e = raw.expect_error();
    (started.elapsed(), e)
}

/// A successful SCRAM login from `source`, timed from connect to
/// ReadyForQuery (the client's PBKDF2 is cached after the first time).
pub fn timed_login(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    user: &str,
    password: &str,
) -> Duration {
    let started = Instant::now();
    let mut raw = Raw::plain_from(addr, source);
    scram_login(&mut raw, user, password);
    started.elapsed()
}
