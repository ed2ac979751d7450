//! pgJDBC end to end through pgiris with `backend.kind = "iris"` against the
//! IRIS **test double**: `tests/iris/jdbc/IrisJdbcE2E.java` (parameters,
//! server-prepared statements, transactions, errors, Statement.cancel) is
//! compiled with javac and run against pgiris in both pool modes.
//!
//! Needs `java`, `javac` and the driver from Debian's
//! `libpostgresql-jdbc-java` (`/usr/share/java/postgresql.jar`, or the path
//! in `PGIRIS_JDBC_JAR`). Without them the test prints a loud SKIPPED line
//! and passes.

mod common;
#[path = "iris/e2e.rs"]
mod e2e;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pgiris::backend::iris::test_double::{DoubleConfig, TestDouble};
use pgiris::config::{IrisSettings, PoolMode};

use common::ADMIN_USER;

fn jdbc_jar() -> PathBuf {
    std::env::var_os("PGIRIS_JDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to completion within `limit`; returns (success, stdout, stderr).
fn run(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(r) => r.expect("output"),
        Err(_) => {
            // SAFETY: our own child, not yet reaped (its waiter still runs).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    };
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compiles the Java scenario into `dir`.
fn compile(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iris/jdbc/IrisJdbcE2E.java");
    let mut cmd = Command::new("javac");
    cmd.arg("-d").arg(dir).arg(&source);
    let (ok, out, err) = run(cmd, Duration::from_secs(120));
    assert!(ok, "javac failed:\n{out}\n{err}");
}

#[test]
fn pgjdbc_through_pgiris_to_the_iris_double() {
    let jar = jdbc_jar();
    if !have("java") || !have("javac") || !jar.exists() {
        eprintln!(
            "\n*** SKIPPED pgjdbc_through_pgiris_to_the_iris_double: needs java, javac and {} \
             (apt-get install default-jdk-headless libpostgresql-jdbc-java) ***\n",
            jar.display()
        );
        return;
    }
    let classes = tempfile::tempdir().expect("temp dir");
    compile(classes.path());
    for (mode, table) in [
        (PoolMode::Session, "e2e_jdbc_session"),
        (PoolMode::Transaction, "e2e_jdbc_txn"),
    ] {
        let double = TestDouble::start(DoubleConfig::default()).expect("double");
        let iris = IrisSettings {
            host: double.addr().ip().to_string(),
            port: double.addr().port(),
            namespace: "USER".into(),
            connect_timeout: Duration::from_secs(5),
            ..IrisSettings::default()
        };
        let p = e2e::start_pgiris(iris, "SYS", |s| {
            s.backend.pool_mode = mode;
            s.backend.pool_size = 3;
        });
        let url = format!(
            "jdbc:postgresql://{}:{}/USER?sslmode=disable&connectTimeout=10&socketTimeout=60",
            p.addr.ip(),
            p.addr.port()
        );
        let mut cmd = Command::new("java");
        cmd.arg("-cp")
            .arg(format!("{}:{}", classes.path().display(), jar.display()))
            .arg("IrisJdbcE2E")
            .arg(&url)
            .arg(ADMIN_USER)
            .arg(table);
        let (ok, out, err) = run(cmd, Duration::from_secs(120));
        assert!(
            ok && out.contains("JDBC OK"),
            "{mode:?}: the JDBC scenario failed:\n{out}\n{err}\npgiris log:\n{}",
            p.log.dump()
        );
    }
}
