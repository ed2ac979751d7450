//! The panic policy of the server process.
//!
//! pgiris has no panic on an input path by design; this is the backstop for
//! the bug that slips through. Where a panic lands decides what it costs:
//!
//! - In a backend call (an executor thread): `catch_unwind` turns it into
//!   XX000 for that statement; the connection is replaced, the thread lives
//!   on (`src/backend/worker.rs`).
//! - In a session (a worker arbiter thread): tokio catches it at the task
//!   boundary; the session actor is dropped with its socket, lease and slot
//!   guard, so only that client is disconnected.
//! - On a *critical* thread, the one running the listener, the registry,
//!   the authenticator, the executor pool and the control loop: actix cannot
//!   restart an actor that panicked (its supervisor dies with it), so the
//!   server would go on half dead, accepting sockets it can no longer
//!   admit. The hook logs the panic, flushes the log and aborts the
//!   process; the supervisor (systemd's `Restart=on-failure`) starts a
//!   whole new one.
//!
//! The hook runs before unwinding, on the panicking thread, so it can tell
//! the cases apart by a thread-local mark set where the server's actors run.

use std::cell::Cell;
use std::panic::PanicHookInfo;

use slog::{Logger, crit, error};

use crate::log::event;

thread_local! {
    static CRITICAL: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one whose panic must abort the process.
pub fn mark_critical_thread() {
    CRITICAL.with(|c| c.set(true));
}

/// Whether a panic on the calling thread aborts the process.
pub fn is_critical_thread() -> bool {
    CRITICAL.with(Cell::get)
}

/// What the hook does with a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Logged; unwinding ends the statement or the session.
    Contain,
    /// Logged, log flushed, process aborted.
    Abort,
}

/// The policy: abort for a critical thread, contain otherwise.
pub fn action(critical: bool) -> Action {
    if critical {
        Action::Abort
    } else {
        Action::Contain
    }
}

/// What the log says about a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub location: String,
    pub message: String,
    pub thread: String,
}

impl Report {
    pub fn of(info: &PanicHookInfo<'_>) -> Report {
        Report {
            location: info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default(),
            message: info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default(),
            thread: std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned(),
        }
    }
}

/// Installs the process-wide panic hook. Every panic is logged to `log`
/// (event `session_panic` when contained, `server_panic` when fatal); for a
/// fatal one `flush` runs (it should drain the log to its destination)
/// before the process aborts.
pub fn install(log: Logger, flush: impl Fn() + Send + Sync + 'static) {
    std::panic::set_hook(Box::new(move |info| {
        let r = Report::of(info);
        match action(is_critical_thread()) {
            Action::Contain => {
                error!(log, "panic; contained, only the statement or session it hit is affected";
                    "event" => event::SESSION_PANIC, "location" => &r.location,
                    "message" => &r.message, "thread" => &r.thread);
            }
            Action::Abort => {
                crit!(log, "panic on the server thread; aborting so that the supervisor restarts pgiris";
                    "event" => event::SERVER_PANIC, "location" => &r.location,
                    "message" => &r.message, "thread" => &r.thread);
                flush();
                std::process::abort();
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_critical_threads_abort() {
        assert_eq!(action(false), Action::Contain);
        assert_eq!(action(true), Action::Abort);
    }

    #[test]
    fn the_mark_is_per_thread() {
        let marked = std::thread::spawn(|| {
            mark_critical_thread();
            is_critical_thread()
        })
        .join()
        .unwrap();
        assert!(marked);
        assert!(
            !std::thread::spawn(is_critical_thread).join().unwrap(),
            "a new thread starts unmarked"
        );
    }

    /// What a child process does: installs the hook (logging JSON lines to
    /// stderr) and panics on a critical thread (`abort`) or on another one
    /// (`contain`). Only when re-executed by the test below.
    #[test]
    fn panic_policy_child() {
        let Ok(mode) = std::env::var("PGIRIS_PANIC_POLICY_CHILD") else {
            return;
        };
        use slog::Drain;
        let drain = slog_json::Json::new(std::io::stderr())
            .add_default_keys()
            .build()
            .fuse();
        let log = Logger::root(std::sync::Mutex::new(drain).fuse(), slog::o!());
        install(log, || eprintln!("flushed"));
        if mode == "abort" {
            mark_critical_thread();
            panic!("injected on a critical thread");
        }
        let r = std::thread::Builder::new()
            .name("session-like".into())
            .spawn(|| panic!("injected on another thread"))
            .unwrap()
            .join();
        assert!(r.is_err());
        eprintln!("survived");
    }

    /// The policy as built (release builds included: `cargo test --release`
    /// runs this too, and nothing in the hook depends on the build): a
    /// panic on a critical thread logs `server_panic`, flushes and aborts;
    /// elsewhere it logs `session_panic` and the process lives on.
    #[test]
    fn a_critical_panic_aborts_the_process_and_another_is_contained() {
        use std::os::unix::process::ExitStatusExt;
        let run = |mode: &str| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "supervise::panics::tests::panic_policy_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("PGIRIS_PANIC_POLICY_CHILD", mode)
                .output()
                .unwrap()
        };
        let out = run("abort");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
        assert!(err.contains("\"event\":\"server_panic\""), "{err}");
        assert!(err.contains("injected on a critical thread"), "{err}");
        assert!(err.contains("flushed"), "{err}");
        let out = run("contain");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("\"event\":\"session_panic\""), "{err}");
        assert!(err.contains("\"thread\":\"session-like\""), "{err}");
        assert!(err.contains("survived"), "{err}");
        assert!(!err.contains("server_panic"), "{err}");
    }
}
