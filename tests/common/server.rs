//! The real server, started in-process on 127.0.0.1:0 with its own temp
//! data directory, hba file and users file, and a captured log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pgiris::actors::registry::Stats;
use pgiris::actors::{ServerHandle, spawn};
use pgiris::config::Settings;
use pgiris::session::run::Shutdown;
use tempfile::TempDir;

use super::log::CapturedLog;

/// Users every test server knows. `postgres` is an admin user; `alice` and
/// `bob` are not. The users file lists them with plaintext passwords equal
/// to their names (development format) so the hba `trust` lines keep
/// working whatever the authentication module requires of a user.
pub const ADMIN_USER: &str = "postgres";
pub const USER_ALICE: &str = "alice";
pub const USER_BOB: &str = "bob";
/// Databases every test server serves (none is named after bob, so a
/// login as bob without `database` gets 3D000).
pub const DATABASES: &[&str] = &["postgres", "other", "alice"];

/// pg_hba.conf of test servers: trust from loopback.
pub const TRUST_HBA: &str = "\
# test servers: trust from loopback
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
";

/// Writes the hba and users files into `dir` and points `settings` at them;
/// sets the data directory, databases and test-friendly limits.
pub fn test_settings(dir: &Path) -> Settings {
    let hba = dir.join("pg_hba.conf");
    let users = dir.join("userlist.txt");
    std::fs::write(&hba, TRUST_HBA).expect("write hba file");
    std::fs::write(
        &users,
        format!(
            "\"{ADMIN_USER}\" \"{ADMIN_USER}\"\n\"{USER_ALICE}\" \"{USER_ALICE}\"\n\"{USER_BOB}\" \"{USER_BOB}\"\n"
        ),
    )
    .expect("write users file");
    let mut s = Settings::default();
    s.server.listen = vec!["127.0.0.1:0".into()];
    s.server.workers = 2;
    s.server.login_timeout = Duration::from_secs(10);
    s.server.shutdown_timeout = Duration::from_secs(5);
    s.auth.hba_file = hba.to_string_lossy().into_owned();
    s.auth.users_file = users.to_string_lossy().into_owned();
    s.auth.failure_delay = Duration::ZERO;
    s.backend.pool_size = 20;
    s.backend.query_wait_timeout = Duration::from_secs(10);
    s.backend.embedded.data_dir = dir.join("data").to_string_lossy().into_owned();
    s.backend.embedded.databases = DATABASES.iter().map(|d| d.to_string()).collect();
    s.log.connections = true;
    s.log.level = "debug".into();
    s
}

/// A running in-process server. Dropping it shuts it down (fast) and
/// removes its directory.
pub struct TestServer {
    handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub settings: Settings,
    pub log: CapturedLog,
    dir: TempDir,
}

impl TestServer {
    /// A server with the test defaults of [`test_settings`].
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    /// A server whose settings `tweak` adjusts first (validated as a
    /// configuration file would be).
    pub fn with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let log = CapturedLog::default();
        let logger = log.logger();
        TestServer::with_logger(tweak, log, logger)
    }

    /// As [`TestServer::with`], logging to `logger` (a real drain, say)
    /// instead of the capture; `log` is what [`TestServer::log`] shows.
    pub fn with_logger(
        tweak: impl FnOnce(&mut Settings),
        log: CapturedLog,
        logger: slog::Logger,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path());
        tweak(&mut settings);
        settings
            .validate()
            .unwrap_or_else(|e| panic!("test settings are invalid: {e}"));
        let handle = spawn(settings.clone(), None, logger)
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let addr = handle.addrs[0];
        TestServer {
            handle: Some(handle),
            addr,
            settings,
            log,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.settings.backend.embedded.data_dir)
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.handle.as_ref().expect("server running").stats
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> usize {
        self.stats().sessions.load(Ordering::SeqCst)
    }

    /// Sockets accepted and not yet admitted or refused.
    pub fn pending(&self) -> usize {
        self.stats().pending.load(Ordering::SeqCst)
    }

    /// Waits until `sessions` equals `n` and nothing is pending; panics
    /// after `timeout` with the counters and the log.
    pub async fn wait_sessions(&self, n: usize, timeout: Duration) {
        let ok = super::wait_until(timeout, || self.sessions() == n && self.pending() == 0).await;
        assert!(
            ok,
            "expected {n} sessions and 0 pending within {timeout:?}, have {} sessions and {} pending; log:\n{}",
            self.sessions(),
            self.pending(),
            self.log.dump()
        );
    }

    /// Sends a reload command (as SIGHUP does).
    pub fn reload(&self) {
        if let Some(h) = &self.handle {
            h.command(pgiris::actors::ServerCommand::Reload);
        }
    }

    /// Shuts down and waits for the server thread.
    pub fn shutdown(mut self, kind: Shutdown) {
        if let Some(h) = self.handle.take() {
            h.shutdown(kind);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown(Shutdown::Fast);
        }
    }
}
