//! Black-box tests of the `pgiris` binary: signals (SIGTERM drains, SIGINT
//! terminates sessions with 57P01, SIGHUP reloads and survives a broken
//! file), `check-config`, and the JSON security log.

mod common;

use std::path::Path;
use std::time::Duration;

use common::raw::{V3_0, message_of, scalar};
use common::{ADMIN_USER, RawClient, ServerProcess, USER_ALICE, run_binary};

const SHORT: Duration = Duration::from_secs(5);

/// Whether a TCP connection to `addr` is refused now.
async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await,
        Ok(Err(_))
    )
}

#[tokio::test]
async fn sigterm_stops_accepting_lets_sessions_finish_and_exits_0() {
    let mut server = ServerProcess::start(|_| {});
    let (mut open, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    server.signal(libc::SIGTERM);
    server.wait_for_log(SHORT, "shutting down", |v| v["msg"] == "shutting down");
    // New connections are refused ...
    let mut refused = false;
    let deadline = std::time::Instant::now() + SHORT;
    while std::time::Instant::now() < deadline {
        if refuses_connections(server.addr).await {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after SIGTERM");
    // ... the open session keeps working ...
    for _ in 0..3 {
        assert_eq!(scalar(&open.query("SELECT 1").await), "1");
    }
    assert!(server.try_exit().is_none(), "exited with a session open");
    // ... and the process exits 0 once it leaves.
    open.terminate().await;
    let st = server.wait_exit(SHORT);
    assert_eq!(st.code(), Some(0), "{st}");
}

#[tokio::test]
async fn sigint_terminates_sessions_with_57p01_and_exits_0() {
    let mut server = ServerProcess::start(|_| {});
    let (mut idle, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let (mut in_tx, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    in_tx.query("BEGIN").await;
    server.signal(libc::SIGINT);
    for c in [&mut idle, &mut in_tx] {
        let e = c.expect_fatal("57P01").await;
        assert_eq!(
            message_of(&e),
            "terminating connection due to administrator command"
        );
    }
    let st = server.wait_exit(SHORT);
    assert_eq!(st.code(), Some(0), "{st}");
}

#[tokio::test]
async fn sighup_with_a_broken_config_keeps_serving_and_logs_why() {
    let mut server = ServerProcess::start(|c| {
        c.set("server", "max_connections", "10")
            .set("server", "reserved_connections", "0");
    });
    let good = std::fs::read_to_string(&server.config_path).expect("config");
    std::fs::write(&server.config_path, "[server\nmax_connections = ").expect("break config");
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log(SHORT, "a failed reload", |v| {
        v["event"] == "reload" && v["level"] == "ERRO"
    });
    assert!(
        line["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{line}"
    );
    // Still serving, with the old settings.
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");

    // A good file is applied: the new limit holds.
    std::fs::write(
        &server.config_path,
        good.replace("max_connections = 10", "max_connections = 1"),
    )
    .expect("fix config");
    server.signal(libc::SIGHUP);
    server.wait_for_log(SHORT, "a successful reload", |v| {
        v["event"] == "reload" && v["msg"] == "configuration reloaded"
    });
    let mut second = RawClient::connect(server.addr).await;
    second.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
    let e = second.expect_fatal("53300").await;
    assert_eq!(message_of(&e), "sorry, too many clients already");
    c.terminate().await;
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(SHORT).code(), Some(0));
}

#[tokio::test]
async fn the_json_log_carries_the_connection_events() {
    let mut server = ServerProcess::start(|_| {});
    let (c, _) = RawClient::login_with(
        server.addr,
        V3_0,
        &[
            ("user", USER_ALICE),
            ("database", "other"),
            ("application_name", "logtest"),
        ],
    )
    .await;
    c.terminate().await;
    let disconnected = server.wait_for_log(SHORT, "disconnected", |v| v["event"] == "disconnected");
    let received = server.events("connection_received");
    let authorized = server.events("authorized");
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(authorized.len(), 1, "{authorized:?}");
    let a = &authorized[0];
    assert_eq!(a["user"], USER_ALICE);
    assert_eq!(a["database"], "other");
    assert_eq!(a["application_name"], "logtest");
    assert_eq!(disconnected["reason"], "client terminated");
    assert!(disconnected["duration_ms"].is_u64(), "{disconnected}");
    for line in [&received[0], a, &disconnected] {
        for key in ["ts", "level", "msg", "peer"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    // Every stderr line is JSON.
    for l in server.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(&l).is_ok(),
            "not JSON: {l}"
        );
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(SHORT).code(), Some(0));
}

/// Copies the shipped `conf/` into `dir/conf` (the data directory it names,
/// `../data`, lands in `dir/data`).
fn copy_shipped_conf(dir: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let dst = dir.join("conf");
    std::fs::create_dir_all(&dst).expect("mkdir conf");
    for entry in std::fs::read_dir(&src).expect("read conf/") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dst.join(entry.file_name())).expect("copy conf file");
    }
    dst.join("pgiris.toml")
}

#[test]
fn check_config_accepts_the_shipped_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = copy_shipped_conf(dir.path());
    let path = config.to_string_lossy().into_owned();
    let (st, stdout, stderr) = run_binary(dir.path(), &["check-config", "--config", &path]);
    assert_eq!(st.code(), Some(0), "stdout {stdout}\nstderr {stderr}");
    assert!(
        stdout.ends_with(&format!("configuration OK ({path})\n")),
        "{stdout}"
    );
    // The development certificate is announced, not generated.
    assert!(
        stdout.contains("development certificate will be generated"),
        "{stdout}"
    );
    assert!(!dir.path().join("data/tls/server.crt").exists());
    // Also found by default as conf/pgiris.toml in the working directory.
    let (st, stdout, stderr) = run_binary(dir.path(), &["check-config"]);
    assert_eq!(st.code(), Some(0), "stdout {stdout}\nstderr {stderr}");
}

#[test]
fn check_config_names_the_key_at_fault() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = copy_shipped_conf(dir.path());
    let shipped = std::fs::read_to_string(&config).expect("shipped config");
    let path = config.to_string_lossy().into_owned();
    let cases = [
        (
            "max_connections = 100",
            "max_connections = 0",
            "server.max_connections",
        ),
        (
            "login_timeout = \"60s\"",
            "login_timeout = \"forever\"",
            "login_timeout",
        ),
        (
            "listen = [\"127.0.0.1:5432\"]",
            "listen = [\"nowhere\"]",
            "server.listen",
        ),
        (
            "min_version = \"1.2\"",
            "min_version = \"1.1\"",
            "tls.min_version",
        ),
        ("[log]", "[log]\nno_such_key = 1", "no_such_key"),
    ];
    for (from, to, key) in cases {
        assert!(shipped.contains(from), "the shipped config lacks {from:?}");
        std::fs::write(&config, shipped.replacen(from, to, 1)).expect("write");
        let (st, stdout, stderr) = run_binary(dir.path(), &["check-config", "--config", &path]);
        assert_ne!(st.code(), Some(0), "{to}: stdout {stdout}");
        assert!(st.code().is_some(), "{to}: killed by a signal");
        assert!(
            stderr.contains(key),
            "{to}: stderr {stderr:?} does not name {key}"
        );
        assert!(stdout.is_empty(), "{to}: stdout {stdout:?}");
    }
    // An environment override is validated the same way.
    std::fs::write(&config, &shipped).expect("restore");
    let out = std::process::Command::new(common::process::binary())
        .args(["check-config", "--config", &path])
        .env("PGIRIS__SERVER__MAX_CONNECTIONS", "0")
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.max_connections"));
}
