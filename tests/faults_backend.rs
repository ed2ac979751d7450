//! The embedded backend becomes unreachable and returns, against the real
//! binary: the data directory is renamed away while sessions work (as root,
//! permission changes do not stop this process's opens, so the directory
//! goes instead), then put back. Opening a database connection fails
//! meanwhile (a clean error to that client; in session pool mode the login
//! fails with FATAL), connections already open go on, every other session
//! completes its work, and once the directory is back the same sessions and
//! new logins work without a restart.
//!
//! (The IRIS backend's outages are covered with the IRIS test double in
//! tests/iris_e2e.rs.)

mod common;
mod load;

use std::path::Path;
use std::time::Duration;

use common::ServerProcess;
use load::client::{Conn, Login, PgErr};
use load::runtime;
use load::server::wait_counts;

/// Runs `sql` on a fresh session on `database`.
async fn fresh(
    addr: std::net::SocketAddr,
    database: &str,
    sql: &str,
) -> Result<Option<String>, PgErr> {
    let mut c = Conn::login(addr, &Login::trust("bob", database)).await?;
    let r = c.scalar(sql).await;
    c.terminate().await;
    r
}

fn outage(pool_mode: &str) {
    let p = ServerProcess::start(|c| {
        c.set("server", "stats_period", "\"100ms\"")
            .set("backend", "pool_mode", &format!("{pool_mode:?}"))
            .set("backend", "pool_size", "2")
            .set("log", "level", "\"info\"");
    });
    let addr = p.addr;
    let data = p.dir().join("data");
    let away = p.dir().join("data.away");
    let rt = runtime();
    let mark = p.line_count();
    rt.block_on(async {
        // A session on "postgres" that writes throughout.
        let mut bystander = Conn::login(addr, &Login::trust("alice", "postgres"))
            .await
            .expect("bystander");
        bystander
            .query("CREATE TABLE log (n int)")
            .await
            .expect("create");
        let mut n = 0;
        let mut write = async |c: &mut Conn| {
            n += 1;
            c.query(&format!("INSERT INTO log VALUES ({n})"))
                .await
                .unwrap_or_else(|e| panic!("the bystander's insert {n}: {e}"));
            n
        };
        write(&mut bystander).await;
        // A session on "other", in transaction mode not yet connected to it.
        let early = Conn::login(addr, &Login::trust("bob", "other")).await;

        rename(&data, &away);
        // New backend connections fail, cleanly.
        let e = fresh(addr, "alice", "SELECT 1")
            .await
            .expect_err("the database is away");
        match pool_mode {
            "session" => assert_eq!(e.severity, "FATAL", "{e}"),
            _ => assert_eq!(e.severity, "ERROR", "{e}"),
        }
        assert_eq!(e.code, "58030", "{e}");
        let mut early = early.expect("login before the outage");
        if pool_mode == "transaction" {
            let e = early
                .query("SELECT 1")
                .await
                .expect_err("the database is away");
            assert_eq!(
                (e.severity.as_str(), e.code.as_str()),
                ("ERROR", "58030"),
                "{e}"
            );
        }
        // Connections already open go on; the bystander never noticed.
        for _ in 0..20 {
            write(&mut bystander).await;
        }

        rename(&away, &data);
        // Back: the same sessions and new ones work, no restart.
        assert_eq!(early.scalar("SELECT 'back'").await, Ok(Some("back".into())));
        assert_eq!(
            fresh(addr, "alice", "SELECT 'new'").await,
            Ok(Some("new".into()))
        );
        let last = write(&mut bystander).await;
        assert_eq!(
            bystander.scalar("SELECT count(*) FROM log").await,
            Ok(Some(last.to_string())),
            "a row was lost"
        );
        early.terminate().await;
        bystander.terminate().await;
    });
    wait_counts(&p, 0, Duration::from_secs(10));
    // The designed warnings only: failed backend connections (and, in
    // session mode, the failed logins).
    let other: Vec<_> = p
        .json_since(mark)
        .into_iter()
        .filter(|v| matches!(v["level"].as_str(), Some("WARN" | "ERRO" | "CRIT")))
        .filter(|v| v["msg"] != "backend connection failed")
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert!(
        p.json_since(mark)
            .iter()
            .any(|v| v["msg"] == "backend connection failed"),
        "the failure was not logged"
    );
}

fn rename(from: &Path, to: &Path) {
    std::fs::rename(from, to).unwrap_or_else(|e| panic!("rename {from:?}: {e}"));
}

#[test]
fn the_data_directory_away_and_back_in_transaction_pool_mode() {
    outage("transaction");
}

#[test]
fn the_data_directory_away_and_back_in_session_pool_mode() {
    outage("session");
}
