//! The actor shell: one file per actor, thin, calling into the core.
//!
//! Topology: the System arbiter runs the listener, the registry, the
//! authenticator and the executor pool (all supervised); one worker arbiter
//! per core runs sessions. Signals: SIGHUP reloads, SIGTERM drains, SIGINT
//! terminates sessions with 57P01; both shutdowns exit 0.

pub mod authenticator;
pub mod executor_pool;
pub mod listener;
pub mod registry;
pub mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use slog::{Logger, debug, error, info, warn};
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::backend::embedded::EmbeddedBackend;
use crate::backend::worker::Faults;
use crate::config::{BackendKind, Settings};
use crate::log::event;
use crate::net::tls::TlsStore;
use crate::session::run::Shutdown;
use crate::supervise::notify::Notifier;

use authenticator::Authenticator;
use executor_pool::{CloseIdle, ExecutorPool, PoolSettings, SetPoolSettings};
use listener::{Listener, StopAccepting};
use registry::{Limits, Registry, SetLimits, ShutdownAll, Stats};

type SessionStrings = (Arc<Settings>, (Arc<str>, Arc<str>, Arc<str>));

/// What every connection handler shares.
pub struct Shared {
    settings: RwLock<Arc<Settings>>,
    strings: RwLock<Option<SessionStrings>>,
    pub tls: Option<TlsStore>,
    pub registry: Addr<Registry>,
    pub authenticator: Addr<Authenticator>,
    pub pool: Addr<ExecutorPool>,
    pub backend: Arc<dyn Backend>,
    pub stats: Arc<Stats>,
    pub log: Logger,
}

impl Shared {
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The strings every session of this configuration shares:
    /// (server_version, the text of `version()`, TimeZone). Made once per
    /// configuration, so a session holds references, not copies.
    pub fn session_strings(&self) -> (Arc<str>, Arc<str>, Arc<str>) {
        let s = self.settings();
        if let Ok(cache) = self.strings.read()
            && let Some((for_settings, strings)) = cache.as_ref()
            && Arc::ptr_eq(for_settings, &s)
        {
            return strings.clone();
        }
        let version_text = format!(
            "PostgreSQL {} on {}-linux, pgiris {} on {}",
            s.server.server_version,
            std::env::consts::ARCH,
            crate::PGIRIS_VERSION,
            self.backend.describe_backend()
        );
        let strings: (Arc<str>, Arc<str>, Arc<str>) = (
            Arc::from(s.server.server_version.as_str()),
            Arc::from(version_text),
            Arc::from(s.server.timezone.as_str()),
        );
        if let Ok(mut cache) = self.strings.write() {
            *cache = Some((s, strings.clone()));
        }
        strings
    }
}

/// Commands a running server accepts (besides signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCommand {
    Reload,
    Shutdown(Shutdown),
}

/// A server started by [`spawn`] (tests, embedding).
pub struct ServerHandle {
    pub addrs: Vec<SocketAddr>,
    pub stats: Arc<Stats>,
    commands: mpsc::UnboundedSender<ServerCommand>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn command(&self, c: ServerCommand) {
        let _ = self.commands.send(c);
    }

    /// Shuts down and waits for the server thread.
    pub fn shutdown(mut self, kind: Shutdown) {
        self.command(ServerCommand::Shutdown(kind));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(ServerCommand::Shutdown(Shutdown::Fast));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn make_backend(settings: &Settings) -> Result<Arc<dyn Backend>, String> {
    match settings.backend.kind {
        BackendKind::Embedded => EmbeddedBackend::new(&settings.backend.embedded)
            .map(|b| Arc::new(b) as Arc<dyn Backend>)
            .map_err(|e| e.message),
        BackendKind::Iris => crate::backend::iris::IrisBackend::new(&settings.backend.iris)
            .map(|b| Arc::new(b) as Arc<dyn Backend>)
            .map_err(|e| e.to_string()),
    }
}

fn pool_settings(s: &Settings) -> PoolSettings {
    PoolSettings {
        pool_size: s.backend.pool_size,
        query_wait_timeout: s.backend.query_wait_timeout,
        faults: Faults {
            panic_on_query: (cfg!(debug_assertions) && !s.testing.panic_on_query.is_empty())
                .then(|| Arc::from(s.testing.panic_on_query.as_str())),
        },
    }
}

struct Running {
    shared: Arc<Shared>,
    listener: Addr<Listener>,
    workers: Vec<Arbiter>,
    config_path: Option<PathBuf>,
    level: Option<crate::log::LogLevel>,
    /// The supervisor's readiness socket (systemd `Type=notify`).
    notifier: Option<Notifier>,
}

/// The accept queue's length: PostgreSQL's rule (twice max_connections, at
/// most 10,000; the kernel caps it at net.core.somaxconn), and never less
/// than the usual 128. With 128 alone, a burst of logins overflows the
/// queue while the server thread is busy, and each dropped SYN costs its
/// client a one-second retransmission.
fn listen_backlog(max_connections: usize) -> i32 {
    max_connections.saturating_mul(2).clamp(128, 10_000) as i32
}

/// Binds a listening socket with [`listen_backlog`] (tokio's `bind` always
/// uses 128).
fn bind_listener(addr: SocketAddr, backlog: i32) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Starts everything inside the current System. Binds the listeners first
/// so that an address in use fails the start.
async fn start(
    settings: Settings,
    config_path: Option<PathBuf>,
    log: Logger,
    level: Option<crate::log::LogLevel>,
) -> Result<(Running, Vec<SocketAddr>), String> {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    let backlog = listen_backlog(settings.server.max_connections);
    for addr in settings.listen_addrs() {
        let l =
            bind_listener(addr, backlog).map_err(|e| format!("could not listen on {addr}: {e}"))?;
        addrs.push(l.local_addr().map_err(|e| e.to_string())?);
        listeners.push(l);
    }
    let tls = TlsStore::from_settings(&settings.tls).map_err(|e| e.to_string())?;
    if let Some(t) = &tls {
        let ctx = t.current();
        if ctx.dev_cert_generated {
            warn!(log, "generated a self-signed development certificate"; "cert_file" => %ctx.cert_file.display());
        }
        info!(log, "TLS enabled"; "cert_file" => %ctx.cert_file.display(), "min_version" => &settings.tls.min_version);
    }
    let backend = make_backend(&settings)?;
    let stats = Arc::new(Stats::default());
    let pool = {
        let backend = backend.clone();
        let ps = pool_settings(&settings);
        let log = log.clone();
        Supervisor::start(move |_| ExecutorPool::new(backend, ps, log))
    };
    let registry = {
        let limits = Limits::from_settings(&settings.server);
        let stats = stats.clone();
        let pool = pool.clone();
        let log = log.clone();
        let panic_on_user = (cfg!(debug_assertions)
            && !settings.testing.panic_in_registry_on_user.is_empty())
        .then(|| settings.testing.panic_in_registry_on_user.clone());
        Supervisor::start(move |_| {
            Registry::new(limits, stats, pool, log).with_panic_on_user(panic_on_user)
        })
    };
    let auth_files = {
        let auth = settings.auth.clone();
        tokio::task::spawn_blocking(move || authenticator::load_files(&auth))
            .await
            .map_err(|e| e.to_string())??
    };
    let authenticator = {
        let log = log.clone();
        let auth = settings.auth.clone();
        let files = std::sync::Mutex::new(Some(auth_files));
        Supervisor::start(move |_| {
            // A restart after a stop reloads from the configured files.
            let files = files
                .lock()
                .ok()
                .and_then(|mut f| f.take())
                .or_else(|| authenticator::load_files(&auth).ok())
                .unwrap_or_else(|| authenticator::AuthFiles {
                    hba: Arc::new(crate::auth::HbaRules::parse("").unwrap_or_default()),
                    users: Arc::new(crate::auth::UserList::parse("").unwrap_or_default()),
                });
            Authenticator::new(files, &auth, log.clone())
        })
    };
    let workers: Vec<Arbiter> = (0..settings.workers()).map(|_| Arbiter::new()).collect();
    let handles = workers.iter().map(Arbiter::handle).collect();
    let shared = Arc::new(Shared {
        settings: RwLock::new(Arc::new(settings.clone())),
        strings: RwLock::new(None),
        tls,
        registry,
        authenticator,
        pool,
        backend,
        stats,
        log: log.clone(),
    });
    let listener = Listener::new(listeners, handles, shared.clone()).start();
    for a in &addrs {
        info!(log, "listening"; "address" => %a, "backend" => shared.backend.kind(), "workers" => workers.len());
    }
    Ok((
        Running {
            shared,
            listener,
            workers,
            config_path,
            level,
            notifier: None,
        },
        addrs,
    ))
}

impl Running {
    /// Tells the supervisor, if any; a failure is logged, never fatal.
    fn notify(&self, f: impl FnOnce(&Notifier) -> std::io::Result<()>) {
        if let Some(n) = &self.notifier
            && let Err(e) = f(n)
        {
            warn!(self.shared.log, "could not notify the supervisor (NOTIFY_SOCKET)"; "error" => %e);
        }
    }

    /// A reload as systemd sees it: RELOADING=1, the reload, READY=1 (also
    /// when the reload failed: the server runs on, with the old settings).
    async fn reload(&self) {
        self.notify(Notifier::reloading);
        self.reload_files().await;
        self.notify(|n| n.ready("reloaded"));
    }

    async fn reload_files(&self) {
        let log = &self.shared.log;
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut s = Settings::load(path.as_deref()).map_err(|e| e.to_string())?;
            if let Some(dir) = path.as_deref().and_then(|p| p.parent()) {
                s.resolve_paths(dir);
            }
            Ok::<Settings, String>(s)
        })
        .await;
        let new = match loaded {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                error!(log, "reload failed; keeping the running configuration"; "event" => event::RELOAD, "error" => e);
                return;
            }
            Err(e) => {
                error!(log, "reload failed"; "event" => event::RELOAD, "error" => %e);
                return;
            }
        };
        let old = self.shared.settings();
        if new.server.listen != old.server.listen {
            warn!(log, "server.listen changed; a restart is needed to apply it"; "event" => event::RELOAD);
        }
        if let Some(t) = &self.shared.tls {
            match t.reload(&new.tls) {
                Ok(()) => info!(log, "TLS certificate reloaded"; "event" => event::RELOAD),
                Err(e) => {
                    error!(log, "TLS reload failed; keeping the old certificate"; "event" => event::RELOAD, "error" => %e)
                }
            }
        }
        // Awaited, so "configuration reloaded" means the new rules and users
        // are in force (or the old ones kept, with the reason logged).
        if self
            .shared
            .authenticator
            .send(authenticator::Reload(new.auth.clone()))
            .await
            .is_err()
        {
            error!(log, "reload of hba/users failed: the authenticator is not running"; "event" => event::RELOAD);
        }
        if let (Some(level), Some(l)) = (&self.level, crate::log::parse_level(&new.log.level)) {
            level.set(l);
        }
        self.shared
            .registry
            .do_send(SetLimits(Limits::from_settings(&new.server)));
        self.shared
            .pool
            .do_send(SetPoolSettings(pool_settings(&new)));
        if let Ok(mut s) = self.shared.settings.write() {
            *s = Arc::new(new);
        }
        info!(log, "configuration reloaded"; "event" => event::RELOAD);
    }

    async fn wait_for_sessions(&self, limit: Duration) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while self.shared.stats.sessions.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    async fn shutdown(&self, kind: Shutdown) {
        let log = &self.shared.log;
        self.notify(Notifier::stopping);
        info!(log, "shutting down"; "mode" => format!("{kind:?}"));
        let _ = self.listener.send(StopAccepting).await;
        let _ = self.shared.registry.send(ShutdownAll(kind)).await;
        if kind == Shutdown::Smart {
            let limit = self.shared.settings().server.shutdown_timeout;
            if !self.wait_for_sessions(limit).await {
                warn!(
                    log,
                    "sessions still open after shutdown_timeout; terminating them"
                );
                let _ = self.shared.registry.send(ShutdownAll(Shutdown::Fast)).await;
            }
        }
        self.wait_for_sessions(Duration::from_secs(5)).await;
        let _ = self.shared.pool.send(CloseIdle).await;
        for w in &self.workers {
            w.stop();
        }
        System::current().stop();
    }
}

/// Once a second: gives memory back to the system after a burst of
/// sessions has ended (see [`crate::supervise::should_trim`]; the registry
/// keeps the high-water mark, so a burst shorter than a second counts too).
/// The trim runs on a blocking thread: it walks the allocator's arenas.
async fn release_memory_after_bursts(shared: Arc<Shared>) {
    const MIN_DROP: usize = 32;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = &shared.stats;
        let sessions = stats.sessions.load(Ordering::SeqCst);
        let high = stats.sessions_high_water.load(Ordering::SeqCst);
        if crate::supervise::should_trim(high, sessions, MIN_DROP) {
            stats.sessions_high_water.store(sessions, Ordering::SeqCst);
            let before = crate::supervise::resident_memory();
            let _ = tokio::task::spawn_blocking(crate::supervise::release_free_memory).await;
            let after = crate::supervise::resident_memory();
            debug!(shared.log, "gave free memory back to the system"; "sessions" => sessions,
                "high_water" => high, "rss_before_kb" => before / 1024, "rss_after_kb" => after / 1024);
        }
    }
}

/// Logs the counters every `server.stats_period` (0 = off). The period is
/// read again at least once a second, so a reload applies at once.
async fn log_stats(shared: Arc<Shared>) {
    let mut last = tokio::time::Instant::now();
    loop {
        let period = shared.settings().server.stats_period;
        let tick = if period.is_zero() {
            Duration::from_secs(1)
        } else {
            period.min(Duration::from_secs(1))
        };
        tokio::time::sleep(tick).await;
        if period.is_zero() || last.elapsed() < period {
            continue;
        }
        last = tokio::time::Instant::now();
        let s = &shared.stats;
        info!(shared.log, "stats"; "event" => event::STATS,
            "sessions" => s.sessions.load(Ordering::SeqCst),
            "pending" => s.pending.load(Ordering::SeqCst),
            "cancels_matched" => s.cancels_matched.load(Ordering::Relaxed),
            "cancels_unmatched" => s.cancels_unmatched.load(Ordering::Relaxed),
            "cancels_rate_limited" => s.cancels_rate_limited.load(Ordering::Relaxed));
    }
}

/// The signals the CLI server obeys. Installed before the server listens
/// (and before it reports ready), so a SIGHUP or SIGTERM that follows at
/// once is handled, never the default action that kills the process.
struct Signals {
    hup: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            hup: signal(SignalKind::hangup()).ok(),
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// No signals: a server in a test thread leaves them to the test.
    fn none() -> Signals {
        Signals {
            hup: None,
            term: None,
            int: None,
        }
    }
}

async fn control_loop(
    running: Running,
    mut commands: mpsc::UnboundedReceiver<ServerCommand>,
    signals: Signals,
) {
    let Signals {
        mut hup,
        mut term,
        mut int,
    } = signals;
    let stats = actix::spawn(log_stats(running.shared.clone()));
    let trim = actix::spawn(release_memory_after_bursts(running.shared.clone()));
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    loop {
        let cmd = tokio::select! {
            c = commands.recv() => c.unwrap_or(ServerCommand::Shutdown(Shutdown::Fast)),
            _ = recv(&mut hup) => ServerCommand::Reload,
            _ = recv(&mut term) => ServerCommand::Shutdown(Shutdown::Smart),
            _ = recv(&mut int) => ServerCommand::Shutdown(Shutdown::Fast),
        };
        match cmd {
            ServerCommand::Reload => running.reload().await,
            ServerCommand::Shutdown(kind) => {
                stats.abort();
                trim.abort();
                running.shutdown(kind).await;
                return;
            }
        }
    }
}

/// Runs the server in this thread until a shutdown signal (the CLI).
pub fn serve(
    settings: Settings,
    config_path: Option<PathBuf>,
    log: Logger,
    level: crate::log::LogLevel,
) -> Result<(), String> {
    // The actors of this thread cannot be restarted after a panic: one
    // aborts the process (see crate::supervise::panics).
    crate::supervise::panics::mark_critical_thread();
    check_nofile_limit(&settings, &log);
    let notifier = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            warn!(log, "NOTIFY_SOCKET is unusable; readiness will not be reported"; "error" => %e);
            None
        }
    };
    let system = System::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let _keep = tx;
    let started = system.block_on(async move {
        let signals = Signals::install();
        let (mut running, addrs) = start(settings, config_path, log, Some(level)).await?;
        running.notifier = notifier;
        let listening: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        running.notify(|n| n.ready(&format!("listening on {}", listening.join(", "))));
        actix::spawn(control_loop(running, rx, signals));
        Ok::<(), String>(())
    });
    started?;
    system.run().map_err(|e| e.to_string())
}

/// Raises the soft file-descriptor limit to the hard one and warns when it
/// is still below what `max_connections` needs (each session holds a
/// socket; pooled SQLite connections hold three files each).
fn check_nofile_limit(settings: &Settings, log: &Logger) {
    use crate::supervise::{NOFILE_HEADROOM, raise_nofile_limit};
    let s = settings;
    let databases = s.backend.embedded.databases.len().max(1) as u64;
    let needed = (s.server.max_connections as u64)
        + 3 * (s.backend.pool_size as u64) * databases
        + NOFILE_HEADROOM;
    match raise_nofile_limit() {
        Ok(limit) if limit < needed => {
            warn!(log, "the file-descriptor limit is below what server.max_connections needs; accept will fail (and back off) before the limit is reached";
                "nofile" => limit, "needed" => needed);
        }
        Ok(limit) => info!(log, "file-descriptor limit"; "nofile" => limit),
        Err(e) => warn!(log, "could not read or raise the file-descriptor limit"; "error" => %e),
    }
}

/// Starts a server on its own thread (tests).
pub fn spawn(
    settings: Settings,
    config_path: Option<PathBuf>,
    log: Logger,
) -> Result<ServerHandle, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("pgiris-server".into())
        .spawn(move || {
            crate::supervise::panics::mark_critical_thread();
            let system = System::new();
            let started = system.block_on(async move {
                match start(settings, config_path, log, None).await {
                    Ok((running, addrs)) => {
                        let stats = running.shared.stats.clone();
                        actix::spawn(control_loop(running, rx, Signals::none()));
                        Ok((addrs, stats))
                    }
                    Err(e) => Err(e),
                }
            });
            let ok = started.is_ok();
            let _ = ready_tx.send(started);
            if ok {
                let _ = system.run();
            }
        })
        .map_err(|e| e.to_string())?;
    let (addrs, stats) = ready_rx.recv().map_err(|e| e.to_string())??;
    Ok(ServerHandle {
        addrs,
        stats,
        commands: tx,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_backlog_follows_max_connections() {
        assert_eq!(listen_backlog(1), 128);
        assert_eq!(listen_backlog(100), 200);
        assert_eq!(listen_backlog(10_100), 10_000);
        assert_eq!(listen_backlog(usize::MAX), 10_000);
    }

    #[tokio::test]
    async fn a_bound_listener_accepts() {
        let l = bind_listener("127.0.0.1:0".parse().unwrap(), 256).unwrap();
        let addr = l.local_addr().unwrap();
        let (c, a) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        assert_eq!(c.unwrap().local_addr().unwrap(), a.unwrap().1);
    }
}
