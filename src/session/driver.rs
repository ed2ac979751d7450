//! The conversation with one client after negotiation: the login (startup
//! parameters, authentication, ParameterStatus, BackendKeyData), then the
//! simple and extended query protocols with PostgreSQL's transaction status
//! rules.
//!
//! The driver is plain async Rust over two small traits ([`BackendAccess`],
//! [`Authenticate`]); the actor shell implements them with messages to the
//! executor pool and the authenticator. It consumes one frame at a time and
//! owns the client's write half, so results stream straight to the socket
//! with backpressure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use slog::{Logger, info, warn};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::auth::{AuthRequest, Exchange, Step};
use crate::backend::worker::{ExecDone, ExecEvent, ExecRequest, Lease, check_result_formats};
use crate::backend::{
    Column, Description, Identity, Interrupter, SessionSnapshot, Target, TxOp, Value,
};
use crate::config::PoolMode;
use crate::log::event;
use crate::session::params::{ParamDefaults, Params};
use crate::session::portal::{Body, Portal, PortalState, Prepared};
use crate::session::sql::{self, Command};
use crate::wire::backend::{self as msg, TransactionStatus};
use crate::wire::error::{PgError, Severity, sqlstate};
use crate::wire::frontend::{Frame, FrontendMessage, Target as DescribeTarget};
use crate::wire::startup::StartupMessage;
use crate::wire::types::{self, Format, Oid};

/// How often a timed-out or cancelled statement is interrupted again until
/// it ends.
const CANCEL_REPEAT: Duration = Duration::from_millis(20);

/// Output beyond this is written out even in the middle of a result.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Backend connections, as the session sees them.
pub trait BackendAccess {
    /// Whether the backend serves this database (namespace).
    fn serves_database(&self, database: &str) -> bool;
    /// Checks out a connection for `target` on behalf of session `pid`.
    fn checkout(&self, target: Target, pid: i32)
    -> LocalBoxFuture<'static, Result<Lease, PgError>>;
}

/// What the hba rules and the authenticator look at.
#[derive(Debug, Clone)]
pub struct LoginFacts {
    pub peer: Option<SocketAddr>,
    /// The server's side of the connection (hba `samehost`).
    pub local: Option<SocketAddr>,
    pub tls: bool,
    /// tls-server-end-point channel-binding data of this connection.
    pub channel_binding: Option<Vec<u8>>,
    pub user: String,
    pub database: String,
}

/// The authenticator's decision: how this login proceeds.
pub struct LoginPlan {
    /// The exchange to run, or the refusal (no hba line matched).
    pub exchange: Result<Box<Exchange>, crate::auth::AuthFailure>,
    /// The hba method's name, for logs.
    pub method: &'static str,
    /// Added before the final answer when the client's address is
    /// throttled after repeated failures.
    pub delay: Duration,
}

/// The authenticator, as the session sees it.
pub trait Authenticate {
    fn plan(&self, facts: &LoginFacts) -> LocalBoxFuture<'static, Result<LoginPlan, PgError>>;
    /// The outcome, for throttling and the log.
    fn report(&self, facts: &LoginFacts, success: bool);
}

/// Settings a session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub server_version: Arc<str>,
    /// The full text `version()` returns.
    pub version_text: Arc<str>,
    pub timezone: Arc<str>,
    pub is_superuser: bool,
    pub statement_timeout: Duration,
    pub idle_in_transaction_session_timeout: Duration,
    pub idle_session_timeout: Duration,
    pub pool_mode: PoolMode,
    /// Debug builds: a Query with this text panics in the session.
    pub panic_on_query: Option<String>,
    /// Log the authenticated / authorized lines (log.connections).
    pub log_connections: bool,
}

/// Where the conversation is.
enum Phase {
    /// Waiting for the client's password / SASL messages.
    Authenticating {
        /// None when the login was refused before any exchange (no hba
        /// line matched).
        exchange: Option<Box<Exchange>>,
        method: &'static str,
        /// Throttling: added before the final answer.
        delay: Duration,
    },
    Ready,
    Closed,
}

/// Whether the connection goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// A CancelRequest for this session, as the actor hands it over. It applies
/// to the frame being handled (its statement, or the next statement of it
/// not started yet), never to a later one: PostgreSQL ignores a cancel that
/// comes while it waits for the client.
#[derive(Default)]
pub struct CancelSignal {
    handling: std::cell::Cell<bool>,
    requested: std::cell::Cell<bool>,
    notify: tokio::sync::Notify,
}

impl CancelSignal {
    /// Records a cancel; false when the session was waiting for the
    /// client (nothing to cancel).
    pub fn request(&self) -> bool {
        if self.handling.get() {
            self.requested.set(true);
            self.notify.notify_waiters();
        }
        self.handling.get()
    }
}

/// Which idle timer applies now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleTimer {
    /// No timer.
    None,
    /// Login still in progress (the login deadline runs).
    Login,
    /// idle_session_timeout (FATAL 57P05).
    Session(Duration),
    /// idle_in_transaction_session_timeout (FATAL 25P03).
    InTransaction(Duration),
}

/// The conversation with one client.
pub struct Conversation<W> {
    writer: W,
    out: BytesMut,
    log: Logger,
    startup: StartupMessage,
    pid: i32,
    secret: Bytes,
    facts: LoginFacts,
    config: SessionConfig,
    phase: Phase,
    params: Params,
    snapshot: Option<Arc<SessionSnapshot>>,
    status: TransactionStatus,
    backends: Rc<dyn BackendAccess>,
    auth: Rc<dyn Authenticate>,
    identity: Identity,
    lease: Option<Lease>,
    statements: HashMap<String, Arc<Prepared>>,
    portals: HashMap<String, Portal>,
    ignore_till_sync: bool,
    /// Extended protocol: statements before Sync outside an explicit
    /// transaction run in one implicit transaction (committed at Sync,
    /// rolled back if one failed), as in PostgreSQL.
    implicit_block: bool,
    implicit_failed: bool,
    /// Descriptions of statements parsed before, so a repeated Parse of
    /// the same text (the unnamed statement of every extended-protocol
    /// query) costs no backend round trip. Cleared after DDL.
    described: HashMap<(Arc<str>, Vec<Oid>), Description>,
    /// Whether the frame after the current one is already known to be a
    /// Sync: then a single Execute needs no implicit transaction.
    next_is_sync: bool,
    /// Extended protocol: an error happened since the last Sync.
    batch_failed: bool,
    /// Extended protocol: settings may have changed since the last Sync.
    batch_settings: bool,
    /// An ErrorResponse was written outside a Sync: send it now.
    flush_now: bool,
    /// Whether the backend connection may hold state beyond plain queries
    /// (a transaction, DDL, PRAGMAs): the pool then resets it.
    dirty: bool,
    /// Set by the actor on an administrator's fast shutdown, so that the
    /// interrupted statement ends with FATAL 57P01, not a cancel.
    terminating: Rc<std::cell::Cell<bool>>,
    /// The interrupter of the statement running now (shared with the actor,
    /// which uses it when the client disconnects mid-statement).
    running: Rc<std::cell::RefCell<Option<Interrupter>>>,
    /// Set by the frame reader when the client went away without
    /// Terminate: the statement it interrupts then ends the session.
    client_gone: Rc<std::cell::Cell<bool>>,
    /// CancelRequests for the frame being handled.
    cancel: Rc<CancelSignal>,
}

fn auth_message(out: &mut BytesMut, r: &AuthRequest) {
    match r {
        AuthRequest::Ok => msg::authentication_ok(out),
        AuthRequest::CleartextPassword => msg::authentication_cleartext_password(out),
        AuthRequest::Md5Password { salt } => msg::authentication_md5_password(out, *salt),
        AuthRequest::Sasl { mechanisms } => msg::authentication_sasl(out, mechanisms),
        AuthRequest::SaslContinue(d) => msg::authentication_sasl_continue(out, d),
        AuthRequest::SaslFinal(d) => msg::authentication_sasl_final(out, d),
    }
}

/// Parses the `options` startup parameter: `-c name=value` and
/// `--name=value`, with backslash-escaped spaces (as PostgreSQL does).
pub fn parse_options(options: &str) -> Result<Vec<(String, String)>, PgError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = options.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                cur.push(n);
                in_word = true;
            }
        } else if c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(cur);
    }
    let mut out = Vec::new();
    let mut i = 0;
    let bad = |w: &str| {
        PgError::fatal(
            sqlstate::SYNTAX_ERROR,
            format!("invalid command-line argument for server process: {w}"),
        )
        .with_hint("Try \"postgres --help\" for more information.")
    };
    while i < words.len() {
        let w = &words[i];
        let setting = if w == "-c" {
            i += 1;
            words.get(i).ok_or_else(|| bad(w))?.clone()
        } else if let Some(rest) = w.strip_prefix("-c") {
            rest.to_owned()
        } else if let Some(rest) = w.strip_prefix("--") {
            rest.to_owned()
        } else {
            return Err(bad(w));
        };
        let (name, value) = setting.split_once('=').ok_or_else(|| {
            PgError::fatal(
                sqlstate::SYNTAX_ERROR,
                format!("-c {setting} requires a value"),
            )
        })?;
        out.push((name.replace('-', "_"), value.to_owned()));
        i += 1;
    }
    Ok(out)
}

impl<W: AsyncWrite + Unpin> Conversation<W> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        writer: W,
        log: Logger,
        startup: StartupMessage,
        pid: i32,
        secret: Bytes,
        facts: LoginFacts,
        config: SessionConfig,
        backends: Rc<dyn BackendAccess>,
        auth: Rc<dyn Authenticate>,
    ) -> Conversation<W> {
        let params = Params::new(&ParamDefaults {
            server_version: &config.server_version,
            user: &startup.user,
            is_superuser: config.is_superuser,
            timezone: &config.timezone,
            statement_timeout: config.statement_timeout,
            idle_in_transaction_session_timeout: config.idle_in_transaction_session_timeout,
            idle_session_timeout: config.idle_session_timeout,
        });
        Conversation {
            writer,
            out: BytesMut::new(),
            log,
            startup,
            pid,
            secret,
            facts,
            config,
            phase: Phase::Closed,
            params,
            snapshot: None,
            status: TransactionStatus::Idle,
            backends,
            auth,
            identity: Identity::Service,
            lease: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
            ignore_till_sync: false,
            implicit_block: false,
            implicit_failed: false,
            described: HashMap::new(),
            next_is_sync: false,
            flush_now: false,
            batch_failed: false,
            batch_settings: false,
            dirty: false,
            terminating: Rc::new(std::cell::Cell::new(false)),
            running: Rc::new(std::cell::RefCell::new(None)),
            client_gone: Rc::new(std::cell::Cell::new(false)),
            cancel: Rc::new(CancelSignal::default()),
        }
    }

    /// The flag the actor sets before interrupting for a fast shutdown.
    pub fn terminating(&self) -> Rc<std::cell::Cell<bool>> {
        self.terminating.clone()
    }

    /// Where the actor delivers CancelRequests.
    pub fn cancel_signal(&self) -> Rc<CancelSignal> {
        self.cancel.clone()
    }

    /// The flag the frame reader sets when the client is gone.
    pub fn client_gone(&self) -> Rc<std::cell::Cell<bool>> {
        self.client_gone.clone()
    }

    /// The interrupter slot the actor watches.
    pub fn running_statement(&self) -> Rc<std::cell::RefCell<Option<Interrupter>>> {
        self.running.clone()
    }

    /// Tells the driver whether the next frame (already received) is Sync.
    pub fn set_next_is_sync(&mut self, v: bool) {
        self.next_is_sync = v;
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    pub fn status(&self) -> TransactionStatus {
        self.status
    }

    /// The idle timer that applies after the last message.
    pub fn idle_timer(&self) -> IdleTimer {
        match self.phase {
            Phase::Authenticating { .. } => IdleTimer::Login,
            Phase::Closed => IdleTimer::None,
            Phase::Ready => {
                if self.status == TransactionStatus::Idle {
                    let d = self.params.timeout("idle_session_timeout");
                    if d.is_zero() {
                        IdleTimer::None
                    } else {
                        IdleTimer::Session(d)
                    }
                } else {
                    let d = self.params.timeout("idle_in_transaction_session_timeout");
                    if d.is_zero() {
                        IdleTimer::None
                    } else {
                        IdleTimer::InTransaction(d)
                    }
                }
            }
        }
    }

    /// Writes buffered output to the client.
    pub async fn flush(&mut self) -> Flow {
        if self.out.is_empty() {
            return Flow::Continue;
        }
        let r = self.writer.write_all(&self.out).await;
        self.out.clear();
        // An idle session keeps no large buffer after a big result.
        if self.out.capacity() > 64 * 1024 {
            self.out = BytesMut::new();
        }
        match r {
            Ok(()) => Flow::Continue,
            Err(_) => {
                self.phase = Phase::Closed;
                Flow::Close
            }
        }
    }

    /// Sends a FATAL error and ends the conversation.
    pub async fn fatal(&mut self, e: &PgError) -> Flow {
        let mut e = e.clone();
        e.severity = Severity::Fatal;
        msg::error_response(&mut self.out, &e);
        let _ = self.flush().await;
        let _ = self.writer.shutdown().await;
        self.close().await;
        Flow::Close
    }

    /// Releases backend resources; an open transaction is rolled back by
    /// the pool's reset when the lease goes back.
    pub async fn close(&mut self) {
        self.phase = Phase::Closed;
        self.portals.clear();
        self.give_back_lease();
    }

    /// Returns the backend connection; a connection that saw only plain
    /// queries outside transactions needs no reset.
    fn give_back_lease(&mut self) {
        if let Some(mut lease) = self.lease.take()
            && !self.dirty
            && self.status == TransactionStatus::Idle
            && !self.implicit_block
            && self.running.borrow().is_none()
        {
            lease.mark_clean();
        }
        self.dirty = false;
    }

    /// Starts the login: NegotiateProtocolVersion if needed, then the first
    /// authentication request (or the whole login, for trust).
    pub async fn start(&mut self) -> Flow {
        if self.startup.needs_negotiation() {
            msg::negotiate_protocol_version(
                &mut self.out,
                self.startup.version.code(),
                &self.startup.unrecognized_options,
            );
        }
        if let Some(r) = self.startup.param("replication")
            && !matches!(
                r.to_ascii_lowercase().as_str(),
                "false" | "off" | "no" | "0"
            )
        {
            let e = PgError::fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                format!(
                    "no pg_hba.conf entry for replication connection from host \"{}\", user \"{}\", {}",
                    self.facts
                        .peer
                        .map(|p| p.ip().to_string())
                        .unwrap_or_else(|| "[local]".into()),
                    self.startup.user,
                    if self.facts.tls {
                        "SSL encryption"
                    } else {
                        "no encryption"
                    }
                ),
            );
            warn!(self.log, "replication connection refused"; "event" => event::AUTHENTICATION_FAILED, "user" => &self.startup.user);
            return self.fatal(&e).await;
        }
        let plan = match self.auth.plan(&self.facts).await {
            Ok(p) => p,
            Err(e) => return self.fatal(&e).await,
        };
        let (mut exchange, first) = match plan.exchange {
            Ok(mut exchange) => {
                let step = exchange.start();
                (Some(exchange), step)
            }
            Err(failure) => (None, Step::Failure(failure)),
        };
        let step = first;
        self.phase = Phase::Authenticating {
            exchange: exchange.take(),
            method: plan.method,
            delay: plan.delay,
        };
        self.auth_step(step).await
    }

    /// The method name and throttle delay of the login in progress.
    fn login_info(&self) -> (&'static str, Duration) {
        match &self.phase {
            Phase::Authenticating {
                exchange,
                method,
                delay,
            } => (
                exchange.as_ref().map(|e| e.mechanism()).unwrap_or(method),
                *delay,
            ),
            _ => ("", Duration::ZERO),
        }
    }

    /// Feeds a verdict (password check, backend login) to the exchange.
    fn verdict(&mut self, ok: bool) -> Step {
        match &mut self.phase {
            Phase::Authenticating {
                exchange: Some(e), ..
            } => e.on_verdict(ok),
            _ => Step::Failure(crate::auth::AuthFailure {
                error: PgError::fatal(sqlstate::INTERNAL_ERROR, "authentication state lost"),
                reason: "verdict without an exchange".into(),
            }),
        }
    }

    async fn auth_step(&mut self, mut step: Step) -> Flow {
        loop {
            step = match step {
                Step::Send(req) => {
                    auth_message(&mut self.out, &req);
                    return self.flush().await;
                }
                Step::CheckPassword(check) => {
                    // PBKDF2: on a blocking thread, never on this worker.
                    let ok = tokio::task::spawn_blocking(move || check.verify())
                        .await
                        .unwrap_or(false);
                    self.verdict(ok)
                }
                Step::VerifyWithBackend { password } => {
                    let target = Target {
                        database: self.startup.database.clone(),
                        identity: Identity::User {
                            name: self.startup.user.clone(),
                            password,
                        },
                    };
                    match self.backends.checkout(target.clone(), self.pid).await {
                        Ok(lease) => {
                            self.identity = target.identity;
                            self.lease = Some(lease);
                            self.verdict(true)
                        }
                        Err(e) if e.code == sqlstate::INVALID_PASSWORD => self.verdict(false),
                        Err(e) => return self.fatal(&e).await,
                    }
                }
                Step::Success { final_message } => {
                    let (method, delay) = self.login_info();
                    // A throttled address waits for every answer, success
                    // included, so the timing tells nothing.
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if let Some(m) = final_message {
                        auth_message(&mut self.out, &m);
                    }
                    self.auth.report(&self.facts, true);
                    if self.config.log_connections {
                        info!(self.log, "connection authenticated"; "event" => event::AUTHENTICATED,
                            "method" => method, "database" => &self.startup.database);
                    }
                    return self.complete_login().await;
                }
                Step::Failure(f) => {
                    let (method, delay) = self.login_info();
                    self.auth.report(&self.facts, false);
                    warn!(self.log, "authentication failed"; "event" => event::AUTHENTICATION_FAILED,
                        "database" => &self.startup.database, "method" => method, "reason" => &f.reason);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    return self.fatal(&f.error).await;
                }
            };
        }
    }

    /// After authentication: database check, startup settings, the lease in
    /// session mode, ParameterStatus, BackendKeyData, ReadyForQuery.
    async fn complete_login(&mut self) -> Flow {
        msg::authentication_ok(&mut self.out);
        let db = self.startup.database.clone();
        if !self.backends.serves_database(&db) {
            let e = PgError::fatal(
                sqlstate::INVALID_CATALOG_NAME,
                format!("database \"{db}\" does not exist"),
            );
            return self.fatal(&e).await;
        }
        if let Err(e) = self.apply_startup_params() {
            return self.fatal(&e).await;
        }
        if self.config.pool_mode == PoolMode::Session
            && self.lease.is_none()
            && let Err(e) = self.acquire().await
        {
            return self.fatal(&e).await;
        }
        for (name, value) in self.params.report_all() {
            msg::parameter_status(&mut self.out, name, &value);
        }
        msg::backend_key_data(&mut self.out, self.pid, &self.secret);
        msg::ready_for_query(&mut self.out, TransactionStatus::Idle);
        self.phase = Phase::Ready;
        if self.config.log_connections {
            info!(self.log, "connection authorized"; "event" => event::AUTHORIZED,
            "user" => &self.startup.user, "database" => &db,
            "application_name" => self.params.get("application_name").unwrap_or(""));
        }
        let flow = self.flush().await;
        // The login's output buffer is not kept: an idle session stays small.
        self.out = BytesMut::new();
        flow
    }

    fn apply_startup_params(&mut self) -> Result<(), PgError> {
        let mut settings: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.startup.params {
            match name.as_str() {
                "replication" => {}
                "options" => settings.extend(parse_options(value)?),
                _ => settings.push((name.clone(), value.clone())),
            }
        }
        for (name, value) in settings {
            self.params
                .set_startup(&name, &value)
                .map_err(PgError::into_fatal)?;
        }
        Ok(())
    }

    /// Handles one frame.
    pub async fn handle(&mut self, frame: Frame) -> Flow {
        self.cancel.handling.set(true);
        let flow = self.handle_frame(frame).await;
        self.cancel.handling.set(false);
        self.cancel.requested.set(false);
        flow
    }

    async fn handle_frame(&mut self, frame: Frame) -> Flow {
        match &mut self.phase {
            Phase::Closed => Flow::Close,
            Phase::Authenticating { exchange, .. } => {
                if frame.tag == b'X' {
                    self.close().await;
                    return Flow::Close;
                }
                if frame.tag != b'p' {
                    // PostgreSQL's words differ by method (auth-sasl.c, auth.c).
                    let expected = match exchange {
                        Some(e) if e.mechanism().starts_with("SCRAM") => "SASL",
                        _ => "password",
                    };
                    let e = PgError::fatal(
                        sqlstate::PROTOCOL_VIOLATION,
                        format!(
                            "expected {expected} response, got message type {}",
                            frame.tag
                        ),
                    );
                    warn!(self.log, "protocol violation during authentication"; "event" => event::PROTOCOL_VIOLATION, "message_type" => frame.tag);
                    return self.fatal(&e).await;
                }
                let step = match exchange {
                    Some(e) => e.on_message(&frame.body),
                    None => Step::Failure(crate::auth::AuthFailure {
                        error: PgError::fatal(
                            sqlstate::PROTOCOL_VIOLATION,
                            "unexpected password message",
                        ),
                        reason: "password message after a refusal".into(),
                    }),
                };
                self.auth_step(step).await
            }
            Phase::Ready => {
                let m = match FrontendMessage::decode(&frame) {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(self.log, "protocol violation"; "event" => event::PROTOCOL_VIOLATION, "error" => &e.message);
                        if e.code == sqlstate::PROTOCOL_VIOLATION {
                            return self.fatal(&e).await;
                        }
                        // Invalid UTF-8 in a message: an ERROR, as PostgreSQL.
                        self.error_in_message(&e, frame.tag);
                        return self.flush().await;
                    }
                };
                self.ready_message(m).await
            }
        }
    }

    /// An ERROR for a message that could not be used.
    fn error_in_message(&mut self, e: &PgError, tag: u8) {
        msg::error_response(&mut self.out, e);
        if tag == b'Q' {
            self.after_error();
            msg::ready_for_query(&mut self.out, self.status);
        } else {
            self.after_error();
            self.ignore_till_sync = true;
        }
    }

    fn after_error(&mut self) {
        if self.status == TransactionStatus::InBlock {
            self.status = TransactionStatus::Failed;
        }
    }

    async fn ready_message(&mut self, m: FrontendMessage) -> Flow {
        if self.ignore_till_sync && !matches!(m, FrontendMessage::Sync | FrontendMessage::Terminate)
        {
            return Flow::Continue;
        }
        let flow = match m {
            FrontendMessage::Query(q) => {
                self.simple_query(&q).await;
                if matches!(self.phase, Phase::Closed) {
                    let _ = self.flush().await;
                    let _ = self.writer.shutdown().await;
                    return Flow::Close;
                }
                self.ready_for_query();
                self.flush().await
            }
            FrontendMessage::Parse {
                name,
                query,
                param_types,
            } => {
                let r = self.parse(name, &query, param_types).await;
                self.extended_result(r.map(|()| msg::parse_complete as fn(&mut BytesMut)))
            }
            FrontendMessage::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => {
                let r = self.bind(portal, &statement, &param_formats, params, result_formats);
                self.extended_result(r.map(|()| msg::bind_complete as fn(&mut BytesMut)))
            }
            FrontendMessage::Describe { target, name } => {
                let r = self.describe(target, &name);
                self.extended_result(r.map(|()| (|_: &mut BytesMut| {}) as fn(&mut BytesMut)))
            }
            FrontendMessage::Execute { portal, max_rows } => {
                let r = self.execute_portal(&portal, max_rows).await;
                self.extended_result(r.map(|()| (|_: &mut BytesMut| {}) as fn(&mut BytesMut)))
            }
            FrontendMessage::Close { target, name } => {
                match target {
                    DescribeTarget::Statement => {
                        self.statements.remove(&name);
                    }
                    DescribeTarget::Portal => {
                        self.portals.remove(&name);
                    }
                }
                msg::close_complete(&mut self.out);
                Flow::Continue
            }
            FrontendMessage::Sync => {
                self.ignore_till_sync = false;
                let failed = std::mem::take(&mut self.batch_failed);
                if std::mem::take(&mut self.batch_settings) {
                    // Settings changed since the last Sync belong to its
                    // implicit transaction: kept if it succeeded.
                    self.params.end_transaction(!failed);
                    self.settings_changed();
                }
                self.end_implicit_block().await;
                self.end_portals_outside_a_block();
                self.release_if_idle();
                self.ready_for_query();
                self.flush().await
            }
            FrontendMessage::Flush => self.flush().await,
            FrontendMessage::Terminate => {
                self.close().await;
                Flow::Close
            }
            FrontendMessage::CopyData
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail(_) => {
                // Ignored outside COPY, as PostgreSQL does.
                Flow::Continue
            }
            FrontendMessage::FunctionCall => {
                let e =
                    PgError::feature_not_supported("the function call protocol is not supported");
                msg::error_response(&mut self.out, &e);
                self.after_error();
                self.ready_for_query();
                self.flush().await
            }
            FrontendMessage::Password(_) => {
                let e = PgError::fatal(
                    sqlstate::PROTOCOL_VIOLATION,
                    "invalid frontend message type 112",
                );
                warn!(self.log, "protocol violation"; "event" => event::PROTOCOL_VIOLATION, "error" => &e.message);
                self.fatal(&e).await
            }
        };
        if flow == Flow::Close {
            // A FATAL error is in the buffer: it must reach the client.
            let _ = self.flush().await;
            let _ = self.writer.shutdown().await;
            return Flow::Close;
        }
        if self.out.len() >= FLUSH_THRESHOLD || std::mem::take(&mut self.flush_now) {
            return self.flush().await;
        }
        flow
    }

    fn extended_result(&mut self, r: Result<fn(&mut BytesMut), PgError>) -> Flow {
        match r {
            Ok(f) => f(&mut self.out),
            Err(e) => {
                msg::error_response(&mut self.out, &e);
                // PostgreSQL sends an error at once (no Sync or Flush
                // needed): clients such as asyncpg wait for it.
                self.flush_now = true;
                self.after_error();
                self.ignore_till_sync = true;
                if self.implicit_block {
                    self.implicit_failed = true;
                }
                self.batch_failed = true;
                if e.is_fatal() {
                    self.phase = Phase::Closed;
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    fn ready_for_query(&mut self) {
        for (name, value) in self.params.take_changed() {
            msg::parameter_status(&mut self.out, name, &value);
        }
        msg::ready_for_query(&mut self.out, self.status);
    }

    fn snapshot(&mut self) -> Arc<SessionSnapshot> {
        if let Some(s) = &self.snapshot {
            return s.clone();
        }
        let s = Arc::new(SessionSnapshot {
            user: self.startup.user.clone(),
            database: self.startup.database.clone(),
            backend_pid: self.pid,
            version: self.config.version_text.to_string(),
            settings: self.params.view(),
        });
        self.snapshot = Some(s.clone());
        s
    }

    fn settings_changed(&mut self) {
        self.snapshot = None;
    }

    async fn acquire(&mut self) -> Result<&Lease, PgError> {
        if self.lease.is_none() {
            let target = Target {
                database: self.startup.database.clone(),
                identity: self.identity.clone(),
            };
            let checkout = self.backends.checkout(target, self.pid);
            // A cancel stops the wait for a free connection.
            let cancel = self.cancel.clone();
            let cancelled = async {
                while !cancel.requested.get() {
                    cancel.notify.notified().await;
                }
            };
            self.lease = Some(tokio::select! {
                lease = checkout => lease?,
                () = cancelled => return Err(PgError::query_canceled()),
            });
        }
        self.lease
            .as_ref()
            .ok_or_else(|| PgError::internal("no backend connection"))
    }

    /// Sync (or a simple Query) ends the extended protocol's implicit
    /// transaction: commit, or roll back after an error.
    async fn end_implicit_block(&mut self) {
        if !self.implicit_block {
            return;
        }
        let failed = std::mem::take(&mut self.implicit_failed);
        self.implicit_block = false;
        let op = if failed { TxOp::Rollback } else { TxOp::Commit };
        if let Err(e) = self.backend_tx(op).await
            && !failed
        {
            msg::error_response(&mut self.out, &e);
            let _ = self.backend_tx(TxOp::Rollback).await;
        }
    }

    /// Portals live as long as their transaction, as in PostgreSQL: outside
    /// a block that ends at Sync or with the simple query.
    fn end_portals_outside_a_block(&mut self) {
        if self.status == TransactionStatus::Idle {
            self.portals.clear();
        }
    }

    /// Transaction mode: give the connection back between transactions.
    fn release_if_idle(&mut self) {
        if self.config.pool_mode == PoolMode::Transaction
            && self.status == TransactionStatus::Idle
            && !self.implicit_block
        {
            self.give_back_lease();
        }
    }

    /// A simple Query: one or more statements, an implicit transaction
    /// around several, stop at the first error.
    async fn simple_query(&mut self, q: &str) {
        if let Some(p) = &self.config.panic_on_query
            && p == q
        {
            panic!("fault injection: panic_in_session_on_query");
        }
        self.end_implicit_block().await;
        let statements = sql::split_statements(q);
        if statements.is_empty() {
            msg::empty_query_response(&mut self.out);
            return;
        }
        let commands: Vec<Command> = statements.iter().map(|s| sql::classify(s)).collect();
        let implicit = statements.len() > 1
            && self.status == TransactionStatus::Idle
            && commands
                .iter()
                .all(|c| matches!(c, Command::Backend { .. }));
        if implicit && let Err(e) = self.backend_tx(TxOp::Begin { isolation: None }).await {
            msg::error_response(&mut self.out, &e);
            return;
        }
        let mut failed = false;
        for (stmt, cmd) in statements.iter().zip(commands) {
            let r = self.run_command(stmt, cmd, None, 0, &[], &[], true).await;
            if let Err(e) = r {
                msg::error_response(&mut self.out, &e);
                if e.is_fatal() {
                    self.phase = Phase::Closed;
                    return;
                }
                self.after_error();
                failed = true;
                break;
            }
            if self.out.len() >= FLUSH_THRESHOLD && self.flush().await == Flow::Close {
                return;
            }
        }
        if implicit {
            let op = if failed { TxOp::Rollback } else { TxOp::Commit };
            if let Err(e) = self.backend_tx(op).await
                && !failed
            {
                msg::error_response(&mut self.out, &e);
            }
            self.status = TransactionStatus::Idle;
        }
        self.end_portals_outside_a_block();
        self.release_if_idle();
    }

    async fn backend_tx(&mut self, op: TxOp) -> Result<bool, PgError> {
        self.dirty = true;
        let lease = self.acquire().await?;
        lease.transaction(op).await
    }

    fn notice(&mut self, code: &'static str, text: &str) {
        msg::notice_response(
            &mut self.out,
            &PgError::notice(Severity::Warning, code, text),
        );
    }

    /// Runs one statement. `described` and `formats` come from the
    /// extended protocol; the simple protocol sends RowDescription itself.
    #[allow(clippy::too_many_arguments)]
    async fn run_command(
        &mut self,
        stmt: &str,
        cmd: Command,
        described: Option<Arc<Vec<Column>>>,
        max_rows: u64,
        params: &[Value],
        formats: &[i16],
        simple: bool,
    ) -> Result<Option<PortalState>, PgError> {
        let in_tx = self.status != TransactionStatus::Idle;
        // Outside an explicit block, the extended protocol's statements up
        // to Sync form an implicit transaction: settings made there are
        // undone if the batch fails.
        let undoable = in_tx || !simple;
        if !in_tx && !simple {
            self.batch_settings = true;
        }
        if self.status == TransactionStatus::Failed
            && !matches!(
                cmd,
                Command::Rollback | Command::Commit | Command::RollbackTo(_)
            )
        {
            return Err(PgError::in_failed_transaction());
        }
        let tag: String = match cmd {
            Command::Begin { isolation, tag } => {
                if in_tx {
                    self.notice(
                        sqlstate::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    );
                } else {
                    if self.implicit_block {
                        // BEGIN inside the implicit block turns it into a
                        // regular transaction block, as in PostgreSQL.
                        self.implicit_block = false;
                    } else {
                        self.backend_tx(TxOp::Begin {
                            isolation: isolation.clone(),
                        })
                        .await?;
                    }
                    self.status = TransactionStatus::InBlock;
                    if let Some(level) = isolation {
                        self.params
                            .set("transaction_isolation", &level, true, true)?;
                        self.settings_changed();
                    }
                }
                tag.to_owned()
            }
            Command::Commit | Command::Rollback => {
                let commit = matches!(cmd, Command::Commit);
                if !in_tx {
                    self.notice(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                    if self.implicit_block {
                        self.implicit_block = false;
                        let op = if commit { TxOp::Commit } else { TxOp::Rollback };
                        self.backend_tx(op).await?;
                    }
                    return self.complete(if commit { "COMMIT" } else { "ROLLBACK" });
                }
                let failed = self.status == TransactionStatus::Failed;
                let op = if commit && !failed {
                    TxOp::Commit
                } else {
                    TxOp::Rollback
                };
                let r = self.backend_tx(op).await;
                self.status = TransactionStatus::Idle;
                let committed = commit && !failed && r.is_ok();
                self.params.end_transaction(committed);
                self.settings_changed();
                if r.is_err() {
                    // A failed COMMIT leaves nothing open: roll back.
                    let _ = self.backend_tx(TxOp::Rollback).await;
                }
                r?;
                if commit && !failed {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                }
                .to_owned()
            }
            Command::Savepoint(ref name)
            | Command::Release(ref name)
            | Command::RollbackTo(ref name) => {
                let (what, tag, op) = match &cmd {
                    Command::Savepoint(_) => {
                        ("SAVEPOINT", "SAVEPOINT", TxOp::Savepoint(name.clone()))
                    }
                    Command::Release(_) => {
                        ("RELEASE SAVEPOINT", "RELEASE", TxOp::Release(name.clone()))
                    }
                    _ => (
                        "ROLLBACK TO SAVEPOINT",
                        "ROLLBACK",
                        TxOp::RollbackTo(name.clone()),
                    ),
                };
                if !in_tx {
                    return Err(PgError::error(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        format!("{what} can only be used in transaction blocks"),
                    ));
                }
                self.backend_tx(op).await?;
                if matches!(cmd, Command::RollbackTo(_)) {
                    self.status = TransactionStatus::InBlock;
                }
                tag.to_owned()
            }
            Command::Set { name, value, local } => {
                if local && !in_tx {
                    self.notice(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "SET LOCAL can only be used in transaction blocks",
                    );
                }
                match value {
                    Some(v) => self.params.set(&name, &v, local, undoable)?,
                    None => self.params.reset(&name, undoable)?,
                }
                self.settings_changed();
                "SET".to_owned()
            }
            Command::SetTransaction { isolation, session } => {
                if session {
                    self.params
                        .set("default_transaction_isolation", &isolation, false, in_tx)?;
                } else if !in_tx {
                    self.notice(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "SET TRANSACTION can only be used in transaction blocks",
                    );
                } else {
                    self.params
                        .set("transaction_isolation", &isolation, true, true)?;
                }
                self.settings_changed();
                "SET".to_owned()
            }
            Command::Show(name) => {
                let (value, label) = self.params.show(&name)?;
                let value = value.to_owned();
                if simple {
                    msg::row_description(
                        &mut self.out,
                        &[Column::new(label, types::oid::TEXT)],
                        &[],
                    );
                }
                self.text_row(&[&value]);
                "SHOW".to_owned()
            }
            Command::ShowAll => {
                if simple {
                    let cols = Prepared::session_columns(&Command::ShowAll).unwrap_or_default();
                    msg::row_description(&mut self.out, &cols, &[]);
                }
                for (n, v, d) in self.params.show_all() {
                    self.text_row(&[&n, &v, &d]);
                }
                "SHOW".to_owned()
            }
            Command::Reset(name) => {
                self.params.reset(&name, in_tx)?;
                self.settings_changed();
                "RESET".to_owned()
            }
            Command::ResetAll => {
                self.params.reset_all(in_tx);
                self.settings_changed();
                "RESET".to_owned()
            }
            Command::DiscardAll => {
                if in_tx {
                    return Err(PgError::error(
                        sqlstate::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                self.params.reset_all(false);
                self.settings_changed();
                self.statements.clear();
                self.portals.clear();
                "DISCARD ALL".to_owned()
            }
            Command::Discard(tag) => tag.to_owned(),
            Command::Deallocate(None) => {
                self.statements.clear();
                "DEALLOCATE ALL".to_owned()
            }
            Command::Deallocate(Some(name)) => {
                if self.statements.remove(&name).is_none() {
                    return Err(PgError::error(
                        sqlstate::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{name}\" does not exist"),
                    ));
                }
                "DEALLOCATE".to_owned()
            }
            Command::Unlisten => "UNLISTEN".to_owned(),
            Command::Unsupported(m) => return Err(PgError::feature_not_supported(m)),
            Command::Backend { verb, .. } => {
                if !matches!(
                    verb.as_str(),
                    "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE"
                ) {
                    // DDL, PRAGMA, anything that may change the connection.
                    self.dirty = true;
                }
                let session = self.snapshot();
                let req = ExecRequest {
                    sql: Arc::from(stmt),
                    params: params.to_vec(),
                    param_types: Vec::new(),
                    session,
                    result_formats: formats.to_vec(),
                    described,
                    send_row_description: simple,
                    max_rows,
                };
                let done = self.run_backend(req).await?;
                if sql::is_ddl(&verb) {
                    self.described.clear();
                }
                // A full page ends suspended, even when it held the last
                // row: PostgreSQL cannot tell either until it fetches more.
                if max_rows > 0 && done.outcome.returned_rows && done.outcome.rows >= max_rows {
                    msg::portal_suspended(&mut self.out);
                    return Ok(Some(PortalState::Suspended {
                        held: done.held,
                        verb,
                    }));
                }
                sql::command_tag(&verb, done.outcome.rows, done.outcome.returned_rows)
            }
        };
        self.complete(&tag)
    }

    fn complete(&mut self, tag: &str) -> Result<Option<PortalState>, PgError> {
        msg::command_complete(&mut self.out, tag);
        Ok(Some(PortalState::Done))
    }

    fn text_row(&mut self, values: &[&str]) {
        let cells: Vec<crate::backend::Cell<'_>> = values
            .iter()
            .map(|v| crate::backend::Cell::Text(v))
            .collect();
        let types: Vec<(Oid, i32, Format)> =
            vec![(types::oid::TEXT, -1, Format::Text); values.len()];
        // Text cells of type text cannot fail to encode.
        let _ = crate::backend::worker::encode_data_row(&mut self.out, &cells, &types);
    }

    /// Runs a statement on the backend, streaming its output to the client.
    async fn run_backend(&mut self, req: ExecRequest) -> Result<ExecDone, PgError> {
        let timeout = self.params.timeout("statement_timeout");
        self.acquire().await?;
        // Cancelled while the session was still working towards it.
        if self.cancel.requested.get() {
            return Err(PgError::query_canceled());
        }
        let Some(lease) = self.lease.as_ref() else {
            return Err(PgError::internal("no backend connection"));
        };
        let interrupter = lease.interrupter();
        let mut rx = lease.execute(req)?;
        *self.running.borrow_mut() = Some(interrupter.clone());
        let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
        let mut timed_out = false;
        let cancel = self.cancel.clone();
        let result = loop {
            let event = if timed_out || cancel.requested.get() {
                // Again until it ends: an interrupt that lands before the
                // backend started the statement is lost.
                match tokio::time::timeout(CANCEL_REPEAT, rx.recv()).await {
                    Ok(ev) => ev,
                    Err(_) => {
                        interrupter.interrupt();
                        continue;
                    }
                }
            } else {
                let expires = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ev = rx.recv() => ev,
                    () = expires => {
                        timed_out = true;
                        interrupter.interrupt();
                        continue;
                    }
                    () = cancel.notify.notified() => {
                        interrupter.interrupt();
                        continue;
                    }
                }
            };
            match event {
                Some(ExecEvent::Data(bytes)) => {
                    self.out.extend_from_slice(&bytes);
                    if self.out.len() >= FLUSH_THRESHOLD && self.flush().await == Flow::Close {
                        interrupter.interrupt();
                    }
                }
                Some(ExecEvent::Done(r)) => {
                    if let Ok(done) = &r {
                        self.out.extend_from_slice(&done.tail);
                    }
                    break r;
                }
                None => {
                    break Err(PgError::error(
                        sqlstate::CONNECTION_FAILURE,
                        "the backend connection was lost",
                    ));
                }
            }
        };
        *self.running.borrow_mut() = None;
        match result {
            Err(e) if e.code == sqlstate::QUERY_CANCELED && self.terminating.get() => {
                Err(PgError::fatal(
                    sqlstate::ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command",
                ))
            }
            // Interrupted because the client went away: nothing it sent
            // after this statement may run, and its transaction is rolled
            // back (PostgreSQL's "connection to client lost").
            Err(e) if e.code == sqlstate::QUERY_CANCELED && self.client_gone.get() => Err(
                PgError::fatal(sqlstate::CONNECTION_FAILURE, "connection to client lost"),
            ),
            Ok(done) => Ok(done),
            Err(e) if timed_out && e.code == sqlstate::QUERY_CANCELED => {
                Err(PgError::statement_timeout())
            }
            Err(e) => {
                // A lost connection outside a transaction goes back to the
                // pool (which retires it). Inside one the lease is kept: its
                // executor knows the transaction was lost and refuses
                // everything but ROLLBACK, where a new connection would run
                // the rest of the transaction outside it.
                if e.code == sqlstate::CONNECTION_FAILURE
                    && self.status == TransactionStatus::Idle
                    && !self.implicit_block
                {
                    self.lease = None;
                }
                Err(e)
            }
        }
    }

    async fn parse(
        &mut self,
        name: String,
        query: &str,
        param_types: Vec<Oid>,
    ) -> Result<(), PgError> {
        if !name.is_empty() && self.statements.contains_key(&name) {
            return Err(PgError::error(
                sqlstate::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        let statements = sql::split_statements(query);
        if statements.len() > 1 {
            return Err(PgError::error(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let prepared = match statements.first() {
            None => Prepared::new(
                Body::Empty,
                Description {
                    params: param_types,
                    columns: None,
                },
            ),
            Some(stmt) => match sql::classify(stmt) {
                Command::Backend { verb, .. } => {
                    if self.status == TransactionStatus::Failed {
                        return Err(PgError::in_failed_transaction());
                    }
                    let sql: Arc<str> = Arc::from(*stmt);
                    let key = (sql.clone(), param_types);
                    let description = match self.described.get(&key) {
                        Some(d) => d.clone(),
                        None => {
                            let lease = self.acquire().await?;
                            let d = lease.describe(sql.clone(), key.1.clone()).await;
                            self.release_if_idle();
                            let d = d?;
                            if self.described.len() >= 256 {
                                self.described.clear();
                            }
                            self.described.insert(key, d.clone());
                            d
                        }
                    };
                    Prepared::new(Body::Backend { sql, verb }, description)
                }
                cmd => {
                    let columns = Prepared::session_columns(&cmd);
                    Prepared::new(
                        Body::Session(cmd),
                        Description {
                            params: param_types,
                            columns,
                        },
                    )
                }
            },
        };
        self.statements.insert(name, Arc::new(prepared));
        Ok(())
    }

    fn bind(
        &mut self,
        portal: String,
        statement: &str,
        param_formats: &[i16],
        params: Vec<Option<Bytes>>,
        result_formats: Vec<i16>,
    ) -> Result<(), PgError> {
        let stmt = self.statements.get(statement).cloned().ok_or_else(|| {
            PgError::error(
                sqlstate::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{statement}\" does not exist"),
            )
        })?;
        if !portal.is_empty() && self.portals.contains_key(&portal) {
            return Err(PgError::error(
                sqlstate::DUPLICATE_CURSOR,
                format!("portal \"{portal}\" already exists"),
            ));
        }
        if params.len() != stmt.params.len() {
            return Err(PgError::protocol_violation(format!(
                "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                params.len(),
                statement,
                stmt.params.len()
            )));
        }
        if self.status == TransactionStatus::Failed
            && !matches!(
                stmt.body,
                Body::Session(Command::Rollback | Command::Commit | Command::RollbackTo(_))
            )
        {
            return Err(PgError::in_failed_transaction());
        }
        let mut values = Vec::with_capacity(params.len());
        for (i, p) in params.into_iter().enumerate() {
            let Some(bytes) = p else {
                values.push(Value::Null);
                continue;
            };
            let format = Format::from_code(msg::format_for(param_formats, i))?;
            let oid = stmt.params[i];
            let v = types::decode_param(&bytes, oid, format).map_err(|e| {
                // Bytes that do not fit the type get PostgreSQL's message
                // naming the parameter; the decoder's other errors (range,
                // encoding, a type without binary input) stand as they are.
                if format == Format::Binary
                    && e.code == sqlstate::INVALID_BINARY_REPRESENTATION
                    && e.message == "incorrect binary data format"
                {
                    PgError::error(
                        sqlstate::INVALID_BINARY_REPRESENTATION,
                        format!("incorrect binary data format in bind parameter {}", i + 1),
                    )
                } else {
                    e
                }
            })?;
            values.push(v);
        }
        if let Some(cols) = &stmt.columns {
            check_result_formats(cols, &result_formats)?;
        }
        self.portals.insert(
            portal,
            Portal {
                statement: stmt,
                params: values,
                result_formats,
                state: PortalState::Ready,
            },
        );
        Ok(())
    }

    fn describe(&mut self, target: DescribeTarget, name: &str) -> Result<(), PgError> {
        match target {
            DescribeTarget::Statement => {
                let stmt = self.statements.get(name).ok_or_else(|| {
                    PgError::error(
                        sqlstate::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{name}\" does not exist"),
                    )
                })?;
                msg::parameter_description(&mut self.out, &stmt.params);
                match &stmt.columns {
                    Some(cols) => msg::row_description(&mut self.out, cols, &[]),
                    None => msg::no_data(&mut self.out),
                }
            }
            DescribeTarget::Portal => {
                let portal = self.portals.get(name).ok_or_else(|| {
                    PgError::error(
                        sqlstate::INVALID_CURSOR_NAME,
                        format!("portal \"{name}\" does not exist"),
                    )
                })?;
                match &portal.statement.columns {
                    Some(cols) => msg::row_description(&mut self.out, cols, &portal.result_formats),
                    None => msg::no_data(&mut self.out),
                }
            }
        }
        Ok(())
    }

    async fn execute_portal(&mut self, name: &str, max_rows: i32) -> Result<(), PgError> {
        let max_rows = u64::try_from(max_rows).unwrap_or(0);
        let Some(portal) = self.portals.get_mut(name) else {
            return Err(PgError::error(
                sqlstate::INVALID_CURSOR_NAME,
                format!("portal \"{name}\" does not exist"),
            ));
        };
        match &mut portal.state {
            PortalState::Ready => {}
            // A suspended portal resumes from its held rows.
            PortalState::Suspended { held, verb } => {
                let n = if max_rows == 0 {
                    held.len()
                } else {
                    usize::try_from(max_rows)
                        .unwrap_or(usize::MAX)
                        .min(held.len())
                };
                for row in held.drain(..n) {
                    self.out.extend_from_slice(&row);
                }
                if max_rows > 0 && n as u64 == max_rows {
                    msg::portal_suspended(&mut self.out);
                } else {
                    // As PostgreSQL's, the tag counts this Execute's rows.
                    let tag = sql::command_tag(verb, n as u64, true);
                    portal.state = PortalState::Done;
                    msg::command_complete(&mut self.out, &tag);
                }
                return Ok(());
            }
            // A portal runs once (PostgreSQL's PORTAL_DONE): one that
            // returned rows has none left, anything else cannot run again.
            PortalState::Done => {
                match (&portal.statement.body, &portal.statement.columns) {
                    (Body::Empty, _) => msg::empty_query_response(&mut self.out),
                    (Body::Backend { verb, .. }, Some(_)) => {
                        msg::command_complete(&mut self.out, &sql::command_tag(verb, 0, true))
                    }
                    (Body::Session(Command::Show(_) | Command::ShowAll), _) => {
                        msg::command_complete(&mut self.out, "SHOW")
                    }
                    _ => {
                        return Err(PgError::error(
                            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                            format!("portal \"{name}\" cannot be run"),
                        ));
                    }
                }
                return Ok(());
            }
        }
        let in_block = self.status != TransactionStatus::Idle;
        let statement = portal.statement.clone();
        let params = std::mem::take(&mut portal.params);
        let formats = portal.result_formats.clone();
        let state = match &statement.body {
            Body::Empty => {
                msg::empty_query_response(&mut self.out);
                Some(PortalState::Done)
            }
            Body::Session(cmd) => {
                self.run_command("", cmd.clone(), None, 0, &[], &formats, false)
                    .await?
            }
            Body::Backend { sql, verb } => {
                if self.status == TransactionStatus::Idle
                    && !self.implicit_block
                    && !self.next_is_sync
                {
                    self.backend_tx(TxOp::Begin { isolation: None }).await?;
                    self.implicit_block = true;
                }
                let cmd = Command::Backend {
                    verb: verb.clone(),
                    returns_rows_hint: statement.columns.is_some(),
                };
                let r = self
                    .run_command(
                        sql,
                        cmd,
                        statement.columns.clone(),
                        max_rows,
                        &params,
                        &formats,
                        false,
                    )
                    .await;
                self.release_if_idle();
                r?
            }
        };
        if in_block && self.status == TransactionStatus::Idle {
            // COMMIT or ROLLBACK: the transaction's other portals end with it.
            self.portals.retain(|n, _| n == name);
        }
        if let Some(portal) = self.portals.get_mut(name) {
            portal.state = state.unwrap_or(PortalState::Done);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parsing() {
        assert_eq!(
            parse_options("-c geqo=off --search_path=a\\ b -cstatement_timeout=5").unwrap(),
            vec![
                ("geqo".to_owned(), "off".to_owned()),
                ("search_path".to_owned(), "a b".to_owned()),
                ("statement_timeout".to_owned(), "5".to_owned()),
            ]
        );
        assert!(parse_options("-x").is_err());
        assert!(parse_options("-c").is_err());
        assert!(parse_options("-c novalue").is_err());
        assert!(parse_options("").unwrap().is_empty());
    }
}
