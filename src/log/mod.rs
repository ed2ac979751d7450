//! Logging: slog with a terminal or JSON-lines drain, records from
//! dependencies (the `log` crate: actix, rustls ...) bridged in, a level that
//! SIGHUP can change, and the security events of DESIGN.md with stable
//! `event` names operators can alert on.
//!
//! Records are never dropped silently: the async drain blocks the caller
//! when its queue is full rather than discarding (a security log with holes
//! is worse than a slower one), and its guard flushes at exit.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use slog::{Drain, Level, Logger, o};

use crate::config::{LogFormat, LogSettings};

pub use slog::{debug, error, info, warn};

/// A level shared with the drain, changeable at run time.
#[derive(Clone)]
pub struct LogLevel(Arc<AtomicUsize>);

impl LogLevel {
    pub fn set(&self, level: Level) {
        self.0.store(level.as_usize(), Ordering::Relaxed);
    }
}

/// Parses a configured level name.
pub fn parse_level(name: &str) -> Option<Level> {
    match name {
        "trace" => Some(Level::Trace),
        "debug" => Some(Level::Debug),
        "info" => Some(Level::Info),
        "warning" | "warn" => Some(Level::Warning),
        "error" => Some(Level::Error),
        "critical" => Some(Level::Critical),
        _ => None,
    }
}

struct LevelFilter<D> {
    drain: D,
    level: Arc<AtomicUsize>,
}

impl<D: Drain> Drain for LevelFilter<D> {
    type Ok = Option<D::Ok>;
    type Err = D::Err;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<Self::Ok, Self::Err> {
        if record.level().as_usize() <= self.level.load(Ordering::Relaxed) {
            self.drain.log(record, values).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Keeps the logging machinery alive; dropping it flushes.
pub struct LogGuard {
    _scope: slog_scope::GlobalLoggerGuard,
    _async: slog_async::AsyncGuard,
}

fn writer(settings: &LogSettings) -> Result<Box<dyn Write + Send>, String> {
    if settings.file.is_empty() {
        Ok(Box::new(std::io::stderr()))
    } else {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&settings.file)
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| format!("log.file {}: {e}", settings.file))
    }
}

/// The terminal format writes values as they are, and some come from
/// clients before they are authenticated (user and database names,
/// application_name): a line break in one would start a forged log line, an
/// escape sequence would drive the reader's terminal. This writer receives
/// each record whole (slog-term buffers a record and writes it at once) and
/// escapes every control character but the record's final newline and tabs
/// (`\n`, `\r`, `\x1b` ...).
struct OneLinePerRecord<W>(W);

impl<W: Write> Write for OneLinePerRecord<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, newline) = match buf.split_last() {
            Some((b'\n', body)) => (body, true),
            _ => (buf, false),
        };
        let is_control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
        if !body.iter().any(|&b| is_control(b)) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b if is_control(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                b => out.push(b),
            }
        }
        if newline {
            out.push(b'\n');
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Builds the root logger from the settings.
pub fn build(settings: &LogSettings) -> Result<(Logger, LogLevel, LogGuard), String> {
    let level = parse_level(&settings.level)
        .ok_or_else(|| format!("log.level {:?} is unknown", settings.level))?;
    let shared = Arc::new(AtomicUsize::new(level.as_usize()));
    let out = writer(settings)?;
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = match settings.format {
        LogFormat::Json => Box::new(
            slog_json::Json::new(out)
                .add_default_keys()
                .set_newlines(true)
                .build()
                .fuse(),
        ),
        LogFormat::Term => {
            let decorator = slog_term::PlainSyncDecorator::new(OneLinePerRecord(out));
            Box::new(
                slog_term::FullFormat::new(decorator)
                    .use_utc_timestamp()
                    .build()
                    .fuse(),
            )
        }
    };
    let (async_drain, async_guard) = slog_async::Async::new(drain)
        .chan_size(8192)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .thread_name("pgiris-log".into())
        .build_with_guard();
    // The level is checked in the caller's thread, before queueing.
    let filtered = LevelFilter {
        drain: async_drain.fuse(),
        level: shared.clone(),
    };
    let logger = Logger::root(filtered.fuse(), o!());
    let scope = slog_scope::set_global_logger(logger.new(o!("source" => "dependency")));
    // Records from crates that use the `log` facade.
    let _ = slog_stdlog::init_with_level(log::Level::Warn);
    Ok((
        logger,
        LogLevel(shared),
        LogGuard {
            _scope: scope,
            _async: async_guard,
        },
    ))
}

/// A logger that discards everything (tests).
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

/// The security events. Each line carries `event` with one of these names.
pub mod event {
    pub const CONNECTION_RECEIVED: &str = "connection_received";
    pub const TLS_NEGOTIATED: &str = "tls_negotiated";
    pub const TLS_FAILED: &str = "tls_failed";
    pub const AUTHENTICATED: &str = "authenticated";
    pub const AUTHENTICATION_FAILED: &str = "authentication_failed";
    pub const AUTHORIZED: &str = "authorized";
    pub const DISCONNECTED: &str = "disconnected";
    pub const PROTOCOL_VIOLATION: &str = "protocol_violation";
    pub const LIMIT_REJECTED: &str = "limit_rejected";
    pub const LOGIN_TIMEOUT: &str = "login_timeout";
    pub const CANCEL_REQUEST: &str = "cancel_request";
    pub const THROTTLED: &str = "throttled";
    pub const SESSION_TIMEOUT: &str = "session_timeout";
    pub const SESSION_PANIC: &str = "session_panic";
    /// A panic on the server thread: the process aborts (see
    /// `crate::supervise::panics`).
    pub const SERVER_PANIC: &str = "server_panic";
    /// The periodic counters (`server.stats_period`).
    pub const STATS: &str = "stats";
    pub const RELOAD: &str = "reload";
}

/// Formats a peer for logs ("127.0.0.1:5555").
pub fn peer(addr: &SocketAddr) -> String {
    addr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(parse_level("warning"), Some(Level::Warning));
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn terminal_records_stay_on_one_line() {
        let mut w = OneLinePerRecord(Vec::new());
        w.write_all(b"INFO admitted, user: a\nFORGED\r\x1b[2J\tb\n")
            .unwrap();
        w.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "INFO admitted, user: a\\nFORGED\\r\\x1b[2J\tb\nINFO plain\n"
        );
    }

    #[test]
    fn json_lines_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.json");
        let settings = LogSettings {
            level: "info".into(),
            format: LogFormat::Json,
            file: file.to_string_lossy().into_owned(),
            connections: true,
        };
        let (logger, level, guard) = build(&settings).unwrap();
        info!(logger, "hello"; "event" => event::CONNECTION_RECEIVED, "peer" => "1.2.3.4:5");
        debug!(logger, "hidden");
        level.set(Level::Debug);
        debug!(logger, "shown");
        drop(logger);
        drop(guard);
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["msg"], "hello");
        assert_eq!(lines[0]["event"], "connection_received");
        assert_eq!(lines[1]["msg"], "shown");
    }
}
