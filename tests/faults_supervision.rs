//! Supervision beyond actix, against the real binary:
//!
//! - the readiness protocol systemd's `Type=notify` expects, read from a
//!   fake `NOTIFY_SOCKET` (a Unix datagram socket this test binds, by path
//!   and in the abstract namespace): `READY=1` once the server accepts,
//!   `RELOADING=1` + `MONOTONIC_USEC` then `READY=1` around SIGHUP,
//!   `STOPPING=1` on SIGTERM;
//! - the panic policy: a panic in the registry or the listener (debug-only
//!   fault injection) aborts the process with a `server_panic` event, so
//!   that `Restart=on-failure` restarts it; a panic in a session or in a
//!   backend call is contained (`session_panic`) and the process serves on.

mod common;
mod load;

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::ServerProcess;
use common::process::Launch;
use load::client::{Conn, Login};
use load::runtime;

const SHORT: Duration = Duration::from_secs(10);

/// A fake supervisor: the datagram socket `NOTIFY_SOCKET` names.
struct FakeSystemd {
    socket: UnixDatagram,
    env: String,
    _dir: tempfile::TempDir,
}

impl FakeSystemd {
    fn at_path() -> FakeSystemd {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        FakeSystemd {
            socket,
            env: path.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }

    fn abstract_name() -> FakeSystemd {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "pgiris-test-notify-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let socket = UnixDatagram::bind_addr(&addr).expect("bind the abstract notify socket");
        FakeSystemd {
            socket,
            env: format!("@{name}"),
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn launch(&self) -> Launch {
        Launch {
            env: vec![("NOTIFY_SOCKET".into(), self.env.clone())],
            ..Launch::default()
        }
    }

    /// The next notification, as its assignments.
    fn next(&self, timeout: Duration) -> Vec<String> {
        self.socket
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification within {timeout:?}: {e}"));
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Nothing more arrives within `wait`.
    fn quiet(&self, wait: Duration) {
        self.socket.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.socket.recv(&mut buf) {
            panic!(
                "unexpected notification {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
}

fn has(n: &[String], line: &str) -> bool {
    n.iter().any(|l| l == line)
}

/// Logs in (trust) and runs a query.
fn works(addr: std::net::SocketAddr) -> bool {
    runtime().block_on(async move {
        match Conn::login(addr, &Login::trust("alice", "postgres")).await {
            Ok(mut c) => {
                let ok = c.scalar("SELECT 1").await == Ok(Some("1".into()));
                c.terminate().await;
                ok
            }
            Err(_) => false,
        }
    })
}

fn readiness_protocol(systemd: FakeSystemd) {
    let mut p = ServerProcess::start_with(|_| {}, systemd.launch());
    // READY=1 arrives once the server accepts (it is sent after every
    // listener is bound and the actors started).
    let ready = systemd.next(SHORT);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    let status = format!("STATUS=listening on {}", p.addr);
    assert!(has(&ready, &status), "{ready:?}");
    // Once READY=1 is out, the listening line is logged (the log has its
    // own thread: give it a moment) and the server answers.
    p.wait_for_log(SHORT, "the listening line", |v| v["msg"] == "listening");
    assert!(works(p.addr));
    assert_eq!(p.events("reload").len(), 0);

    // SIGHUP: RELOADING=1 with the monotonic clock, then READY=1 once the
    // reload is done (its log line is there by then).
    p.signal(libc::SIGHUP);
    let reloading = systemd.next(SHORT);
    assert!(has(&reloading, "RELOADING=1"), "{reloading:?}");
    let usec: u64 = reloading
        .iter()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let now_usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000;
    assert!(
        usec <= now_usec && now_usec - usec < 10_000_000,
        "{usec} vs {now_usec}"
    );
    let ready = systemd.next(SHORT);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    p.wait_for_log(SHORT, "configuration reloaded", |v| {
        v["msg"] == "configuration reloaded"
    });
    assert!(works(p.addr));

    // A reload that fails still ends with READY=1: the server runs on.
    std::fs::write(&p.config_path, "[server\nbroken").expect("break the config");
    p.signal(libc::SIGHUP);
    assert!(has(&systemd.next(SHORT), "RELOADING=1"));
    assert!(has(&systemd.next(SHORT), "READY=1"));
    assert!(works(p.addr));

    // SIGTERM: STOPPING=1, then the process exits 0.
    p.signal(libc::SIGTERM);
    let stopping = systemd.next(SHORT);
    assert!(has(&stopping, "STOPPING=1"), "{stopping:?}");
    let st = p.wait_exit(SHORT);
    assert!(st.success(), "{st}");
    systemd.quiet(Duration::from_millis(200));
}

#[test]
fn readiness_reload_and_stopping_reach_a_path_notify_socket() {
    readiness_protocol(FakeSystemd::at_path());
}

#[test]
fn readiness_reaches_an_abstract_notify_socket() {
    readiness_protocol(FakeSystemd::abstract_name());
}

#[test]
fn without_notify_socket_nothing_is_sent_and_a_bad_one_is_only_a_warning() {
    // Unset: the server runs as before.
    let p = ServerProcess::start(|_| {});
    assert!(works(p.addr));
    drop(p);
    // Set to something that is not a socket address: a warning, and the
    // server serves.
    let launch = Launch {
        env: vec![("NOTIFY_SOCKET".into(), "relative/notify".into())],
        ..Launch::default()
    };
    let mut p = ServerProcess::start_with(|_| {}, launch);
    p.wait_for_log(SHORT, "the NOTIFY_SOCKET warning", |v| {
        v["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("NOTIFY_SOCKET is unusable"))
    });
    assert!(works(p.addr));
}

/// Waits for the process to die of SIGABRT after logging `server_panic`.
fn assert_aborted(p: &mut ServerProcess, injected: &str) {
    let st = p.wait_exit(SHORT);
    assert!(!st.success(), "{st}");
    assert_eq!(st.signal(), Some(libc::SIGABRT), "{st}");
    let panics = p.events("server_panic");
    assert_eq!(panics.len(), 1, "{}", p.lines().join("\n"));
    let e = &panics[0];
    assert_eq!(e["level"], "CRIT");
    assert_eq!(e["message"], format!("fault injection: {injected}"));
    assert_eq!(e["thread"], "main", "the server's own thread");
    assert!(
        e["location"]
            .as_str()
            .is_some_and(|l| l.contains("actors/")),
        "{e}"
    );
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn a_panic_in_the_registry_aborts_the_process_with_a_logged_event() {
    let mut p = ServerProcess::start(|c| {
        c.set("testing", "panic_in_registry_on_user", "\"bob\"");
    });
    let addr = p.addr;
    let rt = runtime();
    let (alice, bob) = rt.block_on(async move {
        let mut alice = Conn::login(addr, &Login::trust("alice", "postgres"))
            .await
            .expect("alice");
        assert_eq!(alice.scalar("SELECT 1").await, Ok(Some("1".into())));
        // bob's Admit panics in the registry.
        let bob = Conn::login(addr, &Login::trust("bob", "postgres")).await;
        (alice, bob)
    });
    assert!(bob.is_err(), "bob was admitted");
    assert_aborted(&mut p, "panic_in_registry_on_user");
    // The whole process went: alice's session too (a supervisor restarts
    // a whole server rather than leave one that admits no one).
    let mut alice = alice;
    assert!(rt.block_on(alice.scalar("SELECT 1")).is_err());
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn a_panic_in_the_listener_aborts_the_process_with_a_logged_event() {
    let mut p = ServerProcess::start(|c| {
        c.set("testing", "panic_in_listener_on_peer", "\"127.0.0.5\"");
    });
    assert!(works(p.addr));
    let addr = p.addr;
    let from = Login::trust("alice", "postgres").from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)));
    let r = runtime().block_on(async move { Conn::login(addr, &from).await });
    assert!(r.is_err());
    assert_aborted(&mut p, "panic_in_listener_on_peer");
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn panics_in_a_session_or_a_backend_call_are_contained_and_logged() {
    let mut p = ServerProcess::start(|c| {
        c.set(
            "testing",
            "panic_in_session_on_query",
            "\"SELECT 'session boom'\"",
        )
        .set("testing", "panic_on_query", "\"SELECT 'backend boom'\"");
    });
    let addr = p.addr;
    runtime().block_on(async move {
        let mut bystander = Conn::login(addr, &Login::trust("alice", "postgres"))
            .await
            .expect("login");
        // A backend call panics: XX000 for that statement, the session goes on.
        let mut c = Conn::login(addr, &Login::trust("bob", "postgres"))
            .await
            .expect("login");
        let e = c.query("SELECT 'backend boom'").await.expect_err("XX000");
        assert_eq!(e.code, "XX000", "{e}");
        assert_eq!(c.scalar("SELECT 2").await, Ok(Some("2".into())));
        // A session panics: that connection closes, nothing else.
        let e = c.query("SELECT 'session boom'").await.expect_err("closed");
        assert_eq!(e.code, "io", "{e}");
        assert_eq!(bystander.scalar("SELECT 3").await, Ok(Some("3".into())));
        bystander.terminate().await;
    });
    assert!(works(p.addr));
    assert!(p.try_exit().is_none(), "the process died");
    // The log is written by its own thread: wait for both lines.
    load::proc::wait(SHORT, || p.events("session_panic").len() >= 2);
    let contained = p.events("session_panic");
    assert_eq!(contained.len(), 2, "{}", p.lines().join("\n"));
    let threads: Vec<&str> = contained
        .iter()
        .filter_map(|v| v["thread"].as_str())
        .collect();
    assert!(
        threads.iter().any(|t| t.starts_with("pgiris-exec-")),
        "{threads:?}"
    );
    assert!(
        threads
            .iter()
            .any(|t| !t.starts_with("pgiris-exec-") && *t != "main"),
        "{threads:?}"
    );
    assert!(p.events("server_panic").is_empty());
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(SHORT).success());
}

/// `conf/pgiris.service`: the directives the supervision contract rests
/// on, and `systemd-analyze verify` clean when the tool is installed (the
/// binary path pointed at the one cargo built).
#[test]
fn the_systemd_unit_has_the_contract_and_verifies() {
    let unit_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/pgiris.service");
    let unit = std::fs::read_to_string(&unit_path).expect("conf/pgiris.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for required in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/pgiris",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
    ] {
        assert!(
            lines.contains(&required),
            "conf/pgiris.service lacks {required:?}"
        );
    }
    let limit = lines
        .iter()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("LimitNOFILE");
    assert!(limit >= 10_000 + 64, "LimitNOFILE={limit}");
    // SIGTERM waits up to the shipped shutdown_timeout (30 s): the stop
    // timeout must leave it that long.
    let stop = lines
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim_end_matches('s').parse::<u64>().ok())
        .expect("TimeoutStopSec");
    assert!(stop > 30, "TimeoutStopSec={stop}");

    let analyze = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if analyze.is_err() {
        eprintln!("systemd-analyze is not installed: the unit was not verified by systemd");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("pgiris.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/pgiris", common::process::binary()),
    )
    .expect("write the unit copy");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

/// Fault injection is refused by a release binary (and accepted by a
/// debug one, which these tests use): `cargo test --release` checks the
/// former.
#[test]
fn the_release_binary_refuses_fault_injection() {
    let dir = tempfile::tempdir().expect("temp dir");
    common::process::write_auth_files(dir.path());
    let mut c = common::process::ProcessConfig::new(dir.path());
    c.set("testing", "panic_in_registry_on_user", "\"bob\"");
    std::fs::write(dir.path().join("pgiris.toml"), c.render()).expect("config");
    let (st, out, err) =
        common::run_binary(dir.path(), &["--config", "pgiris.toml", "check-config"]);
    if cfg!(debug_assertions) {
        assert!(st.success(), "{out}{err}");
    } else {
        assert_eq!(st.code(), Some(2), "{out}{err}");
        assert!(err.contains("only available in debug builds"), "{err}");
    }
}
