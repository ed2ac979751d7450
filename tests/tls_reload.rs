//! Certificate reload (SIGHUP) and the out-of-the-box TLS setup: sessions
//! opened before a reload keep working, logins in progress keep their
//! channel binding, new sessions get the new certificate, a broken new file
//! keeps the old certificate with the reason in the log; the shipped
//! configuration generates its development certificate once and serves
//! TLS with it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tlsauth::*;

/// The served certificate's fingerprint, as a new client sees it.
fn served_fingerprint(s: &TestServer) -> String {
    let raw = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS");
    fingerprint(raw.peer_cert.as_deref().expect("a server certificate"))
}

/// Starts a SCRAM-SHA-256-PLUS login on a fresh TLS connection and stops
/// after the server-first-message; returns what is needed to finish it.
fn plus_login_until_server_first(s: &TestServer) -> (Raw, ScramScript, ServerFirst) {
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS");
    let cert = raw.peer_cert.clone().expect("certificate");
    let binding = pgiris::net::tls::tls_server_end_point(&cert).expect("binding data");
    let mechanisms = start_sasl(&mut raw, "alice");
    assert_eq!(mechanisms, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    let script = ScramScript::new("p=tls-server-end-point,,", &binding);
    raw.send(&sasl_initial(
        "SCRAM-SHA-256-PLUS",
        script.client_first().as_bytes(),
    ));
    let (code, sf) = auth_request(&raw.expect());
    assert_eq!(code, 11);
    (raw, script, parse_server_first(&sf))
}

fn simple_value(rows: &[tokio_postgres::SimpleQueryMessage]) -> Option<String> {
    rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    })
}

#[tokio::test]
async fn a_reload_swaps_the_certificate_without_dropping_sessions() {
    let s = TestServer::start(ServerSpec::default().scram_user("alice"));
    let old = fingerprint(s.pki.server.cert_der.as_ref());
    assert_eq!(served_fingerprint(&s), old);

    // Sessions and a login in progress, all on the old certificate.
    let before = s
        .tp_connect(
            &format!("user=alice password={PASSWORD} sslmode=require channel_binding=require"),
            None,
        )
        .await
        .expect("session before the reload");
    assert_eq!(before.transport, Transport::NegotiatedTls);
    let mut raw_before = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS");
    scram_login(&mut raw_before, "alice", PASSWORD);
    let (mut in_progress, script, sf) = plus_login_until_server_first(&s);

    // A new certificate from the same CA, written over the configured files.
    let new = s
        .pki
        .issue_server_cert("next", &["localhost", "127.0.0.1"])
        .expect("new certificate");
    std::fs::write(&s.pki.server.key_file, &new.key_pem).unwrap();
    std::fs::write(&s.pki.server.cert_file, &new.cert_pem).unwrap();
    s.reload();
    s.logs.wait_for_msg("TLS certificate reloaded");

    // New sessions see the new certificate ...
    let new_fp = fingerprint(new.cert_der.as_ref());
    assert_ne!(new_fp, old);
    assert_eq!(served_fingerprint(&s), new_fp);
    // ... and channel binding follows it.
    let after = s
        .tp_connect(
            &format!("user=alice password={PASSWORD} sslmode=require channel_binding=require"),
            None,
        )
        .await
        .expect("session after the reload");
    let rows = after.client.simple_query("SELECT 2").await.unwrap();
    assert_eq!(simple_value(&rows).as_deref(), Some("2"));

    // The old sessions go on.
    let rows = before.client.simple_query("SELECT 1").await.unwrap();
    assert_eq!(simple_value(&rows).as_deref(), Some("1"));
    raw_before.send(&query("SELECT 3"));
    assert!(raw_before.until_ready().iter().any(|m| m.0 == b'D'));

    // The login in progress finishes with the old certificate's binding.
    let (last, proof) = script.client_final(PASSWORD, &sf);
    s.add_secret(proof);
    in_progress.send(&sasl_response(last.as_bytes()));
    assert_eq!(auth_request(&in_progress.expect()).0, 12);
    assert_eq!(auth_request(&in_progress.expect()).0, 0);
    in_progress.until_ready();
    s.logs
        .wait_for("authenticated", |l| l["method"] == "SCRAM-SHA-256-PLUS");

    // psql with verify-full trusts the new certificate (same CA).
    let run = s.psql(
        &format!(
            "user=alice sslmode=verify-full sslrootcert={}",
            s.pki.ca_file.display()
        ),
        Some(PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
}

#[test]
fn a_broken_new_certificate_keeps_the_old_one() {
    let s = TestServer::start(ServerSpec::default().scram_user("alice"));
    let old = fingerprint(s.pki.server.cert_der.as_ref());
    let mut session = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS");
    scram_login(&mut session, "alice", PASSWORD);

    // Not PEM at all.
    std::fs::write(&s.pki.server.cert_file, "this is not a certificate\n").unwrap();
    s.reload();
    let line = s.logs.wait_for("reload", |l| {
        l["msg"] == "TLS reload failed; keeping the old certificate"
    });
    let error = line["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("tls.cert_file") && error.contains("server.crt"),
        "the error names the setting and the file: {line}"
    );
    assert_eq!(served_fingerprint(&s), old);

    // A valid certificate whose key is not the configured one.
    let other = s
        .pki
        .issue_server_cert("other", &["localhost"])
        .expect("certificate");
    std::fs::write(&s.pki.server.cert_file, &other.cert_pem).unwrap();
    let failures = s
        .logs
        .events("reload")
        .into_iter()
        .filter(|l| l["msg"] == "TLS reload failed; keeping the old certificate")
        .count();
    s.reload();
    let end = Instant::now() + WAIT;
    let line = loop {
        let lines: Vec<_> = s
            .logs
            .events("reload")
            .into_iter()
            .filter(|l| l["msg"] == "TLS reload failed; keeping the old certificate")
            .collect();
        if lines.len() > failures {
            break lines[failures].clone();
        }
        assert!(Instant::now() < end, "no second failure: {}", s.logs.text());
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not match the certificate")),
        "{line}"
    );
    assert_eq!(served_fingerprint(&s), old);

    // Logins keep working, and the session opened before is intact.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS");
    scram_login(&mut raw, "alice", PASSWORD);
    session.send(&query("SELECT 1"));
    session.until_ready();
    // The key's contents never reach the log.
    assert!(!s.logs.text().contains("PRIVATE KEY"));
}

#[test]
fn a_reload_can_raise_the_minimum_tls_version() {
    let s = TestServer::start(ServerSpec::default().scram_user("alice"));
    let mut old = Raw::ssl_request(s.addr, tls12_only_client(&s.pki)).expect("TLS 1.2");
    scram_login(&mut old, "alice", PASSWORD);
    let config = std::fs::read_to_string(&s.config_path).unwrap();
    assert!(config.contains("min_version = \"1.2\""));
    std::fs::write(
        &s.config_path,
        config.replace("min_version = \"1.2\"", "min_version = \"1.3\""),
    )
    .unwrap();
    s.reload();
    match Raw::ssl_request(s.addr, tls12_only_client(&s.pki)) {
        Err(rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)) => {}
        Err(e) => panic!("expected the protocol_version alert, got {e}"),
        Ok(_) => panic!("TLS 1.2 must be refused after the reload"),
    }
    // The TLS 1.2 session from before is not disturbed.
    old.send(&query("SELECT 1"));
    old.until_ready();
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS 1.3");
    scram_login(&mut raw, "alice", PASSWORD);
}

// ---------------------------------------------------------------------
// Out of the box: the shipped configuration, as a subprocess
// ---------------------------------------------------------------------

/// The pgiris binary running with a copy of the shipped `conf/`.
struct Shipped {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    addr: std::net::SocketAddr,
}

impl Shipped {
    fn start(root: &Path) -> Shipped {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgiris"))
            .arg("--config")
            .arg(root.join("conf/pgiris.toml"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("PGIRIS__LOG__FORMAT", "json")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pgiris");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut shipped = Shipped {
            child,
            log,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = shipped.wait_for(|l| l["msg"] == "listening");
        shipped.addr = listening["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("listening address");
        shipped
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn wait_for(&mut self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgiris exited with {status}; log:\n{}", self.text());
            }
            assert!(Instant::now() < end, "log line not found:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill({pid}, {sig})");
    }

    fn psql(&self, conninfo: &str, password: &str, commands: &[&str]) -> PsqlRun {
        let mut cmd = Command::new("psql");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PGPASSFILE", "/dev/null")
            .env("PGPASSWORD", password)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(format!(
                "host=localhost hostaddr=127.0.0.1 port={} user=postgres dbname=postgres {conninfo}",
                self.addr.port()
            ));
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        let out = run_with_deadline(cmd, WAIT);
        PsqlRun {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// SIGTERM, and the exit status must be success.
    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let end = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(Instant::now() < end, "pgiris did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Shipped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_shipped_configuration_serves_tls_with_a_generated_dev_certificate() {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let shipped_conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    for f in ["pgiris.toml", "pg_hba.conf", "userlist.txt"] {
        std::fs::copy(shipped_conf.join(f), conf.join(f)).unwrap();
    }
    let cert = root.path().join("data/tls/server.crt");
    let key = root.path().join("data/tls/server.key");
    assert!(!cert.exists());

    let mut server = Shipped::start(root.path());
    let generated =
        server.wait_for(|l| l["msg"] == "generated a self-signed development certificate");
    let logged = generated["cert_file"].as_str().unwrap_or_default();
    assert_eq!(
        std::fs::canonicalize(logged).unwrap(),
        std::fs::canonicalize(&cert).unwrap(),
        "the log names the generated certificate"
    );
    assert!(key.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first_cert = std::fs::read(&cert).unwrap();

    // The demo user over TLS 1.3 with channel binding.
    let run = server.psql(
        "sslmode=require channel_binding=require",
        "postgres",
        &["\\conninfo", "SELECT 1"],
    );
    assert!(run.ok, "{run:?}\n{}", server.text());
    assert_eq!(run.tls_version().as_deref(), Some("TLSv1.3"));
    // The generated certificate is self-signed for localhost: it is its
    // own root for verify-full.
    let run = server.psql(
        &format!("sslmode=verify-full sslrootcert={}", cert.display()),
        "postgres",
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
    let tls = server.wait_for(|l| l["event"] == "tls_negotiated");
    assert_eq!(tls["version"], "TLSv1.3");
    assert_eq!(tls["sni"], "localhost");

    // SIGHUP reloads the users file too: a user added with `pgiris passwd`
    // can log in afterwards.
    let password = "erin-signal-password";
    let mut passwd = Command::new(env!("CARGO_BIN_EXE_pgiris"));
    passwd
        .arg("--config")
        .arg(conf.join("pgiris.toml"))
        .args(["passwd", "--stdin", "erin"]);
    let out = run_with_input(passwd, Some(format!("{password}\n").as_bytes()), WAIT);
    assert!(out.status.success(), "{out:?}");
    let mut users = std::fs::read_to_string(conf.join("userlist.txt")).unwrap();
    users.push_str(&String::from_utf8(out.stdout).unwrap());
    std::fs::write(conf.join("userlist.txt"), users).unwrap();
    let erin = |server: &Shipped| {
        let mut cmd = Command::new("psql");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PGPASSFILE", "/dev/null")
            .env("PGPASSWORD", password)
            .args(["-X", "-A", "-t", "-c", "SELECT 1", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=erin dbname=postgres sslmode=require",
                server.addr.port()
            ));
        run_with_deadline(cmd, WAIT).status.success()
    };
    assert!(!erin(&server), "erin is unknown before the reload");
    server.signal(libc::SIGHUP);
    server.wait_for(|l| l["msg"] == "hba and users files reloaded" && l["users"] == 2);
    server.wait_for(|l| l["msg"] == "configuration reloaded");
    assert!(erin(&server), "erin logs in after SIGHUP");
    let run = server.psql("sslmode=require", "postgres", &["SELECT 1"]);
    assert!(run.ok, "{run:?}");
    assert!(!server.text().contains(password));
    server.stop();

    // A second start uses the certificate generated the first time.
    let mut server = Shipped::start(root.path());
    server.wait_for(|l| l["msg"] == "TLS enabled");
    assert!(
        !server
            .text()
            .contains("generated a self-signed development certificate"),
        "generated only once"
    );
    assert_eq!(std::fs::read(&cert).unwrap(), first_cert);
    let run = server.psql("sslmode=require", "postgres", &["SELECT 1"]);
    assert!(run.ok, "{run:?}");
    let text = server.text();
    server.stop();
    // The demo user's verifier never reaches the log.
    let users = std::fs::read_to_string(conf.join("userlist.txt")).unwrap();
    let verifier = users
        .lines()
        .find(|l| l.starts_with("\"postgres\""))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|v| v.trim_matches('"').to_string())
        .expect("demo user line");
    let keys = verifier
        .rsplit_once('$')
        .map(|(_, k)| k)
        .unwrap_or_default();
    for secret in keys.split(':').chain([verifier.as_str()]) {
        assert!(!text.contains(secret), "the log shows {secret}");
    }
}
