//! SIGHUP with broken files, against the real binary, while sessions work:
//! a broken configuration file, a broken TLS certificate, a broken hba
//! file, a broken users file, one at a time and all together. Each time the
//! server keeps what it had (the old certificate, the old rules and users),
//! says why in the log, keeps serving new logins (TLS and SCRAM included),
//! and every open session, plain and TLS, goes on working. Repaired files
//! are taken up by the next SIGHUP.

mod common;
mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::ServerProcess;
use load::client::{Conn, Login};
use load::server::assert_no_problems;
use pgiris::net::tls::testing::TestPki;

const SHORT: Duration = Duration::from_secs(10);

/// hba: alice must use SCRAM (so the users file matters), everyone else
/// is trusted.
const HBA: &str = "host all alice 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n";

fn toml(p: &Path) -> String {
    serde_json::to_string(&p.to_string_lossy()).expect("path")
}

/// A TLS login (sslmode=require, the test CA trusted) and a query.
async fn tls_query(addr: std::net::SocketAddr, pki: &TestPki) -> Result<String, String> {
    let config: tokio_postgres::Config = "host=localhost user=bob dbname=postgres sslmode=require"
        .parse()
        .expect("config");
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut maker =
        tokio_postgres_rustls::MakeRustlsConnect::new(pki.client_config().expect("client config"));
    let tls = <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
        tokio::net::TcpStream,
    >>::make_tls_connect(&mut maker, "localhost")
    .expect("connector");
    let (client, conn) = tokio::time::timeout(SHORT, config.connect_raw(tcp, tls))
        .await
        .map_err(|_| "TLS login timed out".to_string())?
        .map_err(|e| format!("{e}"))?;
    let task = tokio::spawn(conn);
    let rows = client
        .simple_query("SELECT 'tls ok'")
        .await
        .map_err(|e| e.to_string())?;
    drop(client);
    let _ = task.await;
    Ok(format!("{} rows", rows.len()))
}

/// What a new client can do now: a SCRAM login (alice, which needs the
/// users file and the SCRAM rule), a trust login (bob), a TLS login.
fn can_log_in(addr: std::net::SocketAddr, pki: &TestPki) {
    let rt = load::runtime();
    rt.block_on(async move {
        let mut c = Conn::login(addr, &Login::scram("alice", "postgres", "alice"))
            .await
            .unwrap_or_else(|e| panic!("SCRAM login: {e}"));
        assert_eq!(c.scalar("SELECT 1").await, Ok(Some("1".into())));
        c.terminate().await;
        let mut c = Conn::login(addr, &Login::trust("bob", "postgres"))
            .await
            .unwrap_or_else(|e| panic!("trust login: {e}"));
        assert_eq!(c.scalar("SELECT 2").await, Ok(Some("2".into())));
        c.terminate().await;
        tls_query(addr, pki)
            .await
            .unwrap_or_else(|e| panic!("TLS login: {e}"));
    });
}

struct Files {
    config: PathBuf,
    good_config: String,
    cert: PathBuf,
    good_cert: String,
    hba: PathBuf,
    users: PathBuf,
    good_users: String,
}

impl Files {
    fn break_config(&self) {
        std::fs::write(&self.config, "[server\nmax_connections = ").expect("write");
    }
    fn break_cert(&self) {
        std::fs::write(&self.cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").expect("write");
    }
    fn break_hba(&self) {
        std::fs::write(&self.hba, "host all all 127.0.0.1/32 no-such-method\n").expect("write");
    }
    fn break_users(&self) {
        std::fs::write(&self.users, "\"alice\" \"SCRAM-SHA-256$broken\"\n").expect("write");
    }
    fn repair(&self) {
        std::fs::write(&self.config, &self.good_config).expect("write");
        std::fs::write(&self.cert, &self.good_cert).expect("write");
        std::fs::write(&self.hba, HBA).expect("write");
        std::fs::write(&self.users, &self.good_users).expect("write");
    }
}

/// Sends SIGHUP and waits for `n` more `reload` events after `mark`;
/// returns them.
fn hup(p: &mut ServerProcess, n: usize) -> Vec<serde_json::Value> {
    let mark = p.line_count();
    p.signal(libc::SIGHUP);
    let ok = load::proc::wait(SHORT, || {
        p.json_since(mark)
            .iter()
            .filter(|v| v["event"] == "reload")
            .count()
            >= n
    });
    assert!(ok, "expected {n} reload events:\n{}", p.lines().join("\n"));
    // And READY: the reload is over once "configuration reloaded" or
    // "reload failed" is logged.
    load::proc::wait(SHORT, || {
        p.json_since(mark).iter().any(|v| {
            v["msg"] == "configuration reloaded"
                || v["msg"] == "reload failed; keeping the running configuration"
        })
    });
    p.json_since(mark)
        .into_iter()
        .filter(|v| v["event"] == "reload")
        .collect()
}

fn msgs(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["level"].as_str().unwrap_or(""),
                v["msg"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn sighup_with_broken_files_keeps_the_old_ones_and_every_session_working() {
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::create(pki_dir.path()).expect("test PKI");
    let (cert, key) = (pki.server.cert_file.clone(), pki.server.key_file.clone());
    let mut p = ServerProcess::start(|c| {
        c.set("tls", "cert_file", &toml(&cert))
            .set("tls", "key_file", &toml(&key))
            .set("log", "level", "\"info\"");
    });
    let dir = p.dir().to_path_buf();
    std::fs::write(dir.join("pg_hba.conf"), HBA).expect("hba");
    let files = Files {
        good_config: std::fs::read_to_string(&p.config_path).expect("config"),
        config: p.config_path.clone(),
        good_cert: std::fs::read_to_string(&cert).expect("cert"),
        cert,
        hba: dir.join("pg_hba.conf"),
        good_users: std::fs::read_to_string(dir.join("userlist.txt")).expect("users"),
        users: dir.join("userlist.txt"),
    };
    let events = hup(&mut p, 2);
    assert!(
        msgs(&events).contains(&"INFO hba and users files reloaded".into()),
        "{events:?}"
    );
    let addr = p.addr;
    can_log_in(addr, &pki);
    let mark = p.line_count();

    // Sessions that work throughout: a plain one in a loop, and a TLS one.
    let rt = load::runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let bystander = {
        let (stop, done) = (stop.clone(), done.clone());
        std::thread::spawn(move || {
            load::runtime().block_on(async move {
                let mut c = Conn::login(addr, &Login::trust("bob", "postgres"))
                    .await
                    .expect("bystander login");
                while !stop.load(Ordering::SeqCst) {
                    let n = done.load(Ordering::SeqCst);
                    assert_eq!(
                        c.scalar(&format!("SELECT {n}")).await,
                        Ok(Some(n.to_string())),
                        "the bystander's statement {n}"
                    );
                    done.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                c.terminate().await;
            })
        })
    };
    let tls_session = rt.block_on(async {
        let config: tokio_postgres::Config =
            "host=localhost user=bob dbname=postgres sslmode=require"
                .parse()
                .expect("config");
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut maker =
            tokio_postgres_rustls::MakeRustlsConnect::new(pki.client_config().expect("client"));
        let tls =
            <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
                tokio::net::TcpStream,
            >>::make_tls_connect(&mut maker, "localhost")
            .expect("connector");
        let (client, conn) = config.connect_raw(tcp, tls).await.expect("TLS session");
        tokio::spawn(conn);
        client
    });

    // One broken file at a time.
    files.break_config();
    let e = msgs(&hup(&mut p, 1));
    assert_eq!(
        e,
        vec!["ERRO reload failed; keeping the running configuration"]
    );
    can_log_in(addr, &pki);
    files.repair();

    files.break_cert();
    let e = msgs(&hup(&mut p, 3));
    assert!(
        e.contains(&"ERRO TLS reload failed; keeping the old certificate".into()),
        "{e:?}"
    );
    assert!(e.contains(&"INFO configuration reloaded".into()), "{e:?}");
    can_log_in(addr, &pki);
    files.repair();

    for (what, break_it) in [
        ("hba", Files::break_hba as fn(&Files)),
        ("users", Files::break_users as fn(&Files)),
    ] {
        break_it(&files);
        let e = msgs(&hup(&mut p, 3));
        assert!(
            e.contains(&"ERRO reload of hba/users failed; keeping the old files".into()),
            "{what}: {e:?}"
        );
        can_log_in(addr, &pki);
        files.repair();
    }

    // All together, the configuration file valid (so the others are
    // tried): each is refused, the new configuration applies.
    files.repair();
    std::fs::write(
        &files.config,
        files
            .good_config
            .replace("[server]", "[server]\nstats_period = \"250ms\""),
    )
    .expect("config");
    files.break_cert();
    files.break_hba();
    files.break_users();
    let e = msgs(&hup(&mut p, 3));
    assert!(
        e.contains(&"ERRO TLS reload failed; keeping the old certificate".into()),
        "{e:?}"
    );
    assert!(
        e.contains(&"ERRO reload of hba/users failed; keeping the old files".into()),
        "{e:?}"
    );
    assert!(e.contains(&"INFO configuration reloaded".into()), "{e:?}");
    p.wait_for_log(SHORT, "a stats event (the new configuration)", |v| {
        v["event"] == "stats"
    });
    can_log_in(addr, &pki);
    // And the configuration file broken too: nothing is reloaded.
    files.break_config();
    assert_eq!(
        msgs(&hup(&mut p, 1)),
        vec!["ERRO reload failed; keeping the running configuration"]
    );
    can_log_in(addr, &pki);

    // Repaired: taken up.
    files.repair();
    let e = msgs(&hup(&mut p, 3));
    assert_eq!(
        e,
        vec![
            "INFO TLS certificate reloaded",
            "INFO hba and users files reloaded",
            "INFO configuration reloaded"
        ]
    );
    can_log_in(addr, &pki);

    // The open sessions never noticed.
    let rows = rt
        .block_on(tls_session.simple_query("SELECT 'still here'"))
        .expect("the TLS session");
    assert!(!rows.is_empty());
    stop.store(true, Ordering::SeqCst);
    bystander.join().expect("the bystander session");
    assert!(done.load(Ordering::SeqCst) > 10);
    // Only the designed errors: the refused reloads.
    assert_no_problems(&p, mark, &["reload"]);
    assert!(p.try_exit().is_none());
}
