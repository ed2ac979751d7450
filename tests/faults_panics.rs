//! Panics injected over and over under concurrent load, against the real
//! binary (debug builds only: the fault injection is refused by release
//! builds):
//!
//! - a backend call panics 1,000 times while eight clients run statements
//!   through a pool of four connections: each panic is one XX000, the pool
//!   keeps serving, every other statement (and every row written) goes
//!   through, and the process has the same threads afterwards (the
//!   executor threads survive their panics);
//! - a session panics 200 times beside sessions that keep working: each
//!   time only that connection closes and its slot comes back.

mod common;
mod load;

use std::time::Duration;

use common::ServerProcess;
use load::client::{Conn, Login};
use load::server::{assert_no_problems, wait_counts};
use load::{Latency, figures, mb, proc, run_many, runtime};

const BACKEND_BOOM: &str = "SELECT 'backend boom'";
const SESSION_BOOM: &str = "SELECT 'session boom'";

fn start() -> ServerProcess {
    ServerProcess::start(|c| {
        c.set("testing", "panic_on_query", &format!("{BACKEND_BOOM:?}"))
            .set(
                "testing",
                "panic_in_session_on_query",
                &format!("{SESSION_BOOM:?}"),
            )
            .set("server", "stats_period", "\"100ms\"")
            .set("server", "max_connections", "300")
            .set("backend", "pool_mode", "\"transaction\"")
            .set("backend", "pool_size", "4")
            .set("log", "level", "\"info\"");
    })
}

/// The process's threads but tokio's blocking-pool ones, which come and go
/// with `spawn_blocking` work (idle ones end after ten seconds).
fn threads(pid: i32) -> Vec<String> {
    proc::thread_names(pid)
        .into_iter()
        .filter(|t| t != "tokio-rt-worker")
        .collect()
}

/// Opens the whole pool: four transactions at once.
async fn open_pool(addr: std::net::SocketAddr) {
    let mut held = Vec::new();
    for i in 0..4 {
        let mut c = Conn::login(addr, &login(i)).await.expect("login");
        c.query("BEGIN").await.expect("begin");
        c.query("SELECT 1").await.expect("select");
        held.push(c);
    }
    for c in held {
        c.terminate().await;
    }
}

fn login(i: usize) -> Login {
    Login::trust(
        if i.is_multiple_of(2) { "alice" } else { "bob" },
        "postgres",
    )
}

/// Waits for `n` `session_panic` events (the log has its own thread).
fn wait_panics(p: &ServerProcess, n: usize) -> usize {
    proc::wait(Duration::from_secs(30), || {
        p.events("session_panic").len() >= n
    });
    p.events("session_panic").len()
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn a_thousand_backend_panics_under_load_leave_the_pool_serving_and_no_thread_behind() {
    let _serial = load::serial();
    const CLIENTS: usize = 8;
    const PANICS: usize = 1000;
    let p = start();
    let (pid, addr) = (p.pid(), p.addr);
    let rt = runtime();
    // Warm up: open the whole pool, create the table.
    rt.block_on(async move {
        let mut c = Conn::login(addr, &login(0)).await.expect("login");
        c.query("CREATE TABLE kept (client int, i int)")
            .await
            .expect("create");
        c.terminate().await;
        open_pool(addr).await;
    });
    wait_counts(&p, 0, Duration::from_secs(10));
    let threads_before = threads(pid);
    let rss_before = proc::rss(pid);
    let mark = p.line_count();
    let t0 = std::time::Instant::now();
    let latencies: Vec<Latency> = rt.block_on(run_many(CLIENTS, CLIENTS, |client| async move {
        let mut c = Conn::login(addr, &login(client)).await.expect("login");
        let mut lat = Latency::default();
        for i in 0..PANICS / CLIENTS {
            let e = c.query(BACKEND_BOOM).await.expect_err("the injected panic");
            assert_eq!(e.code, "XX000", "{e}");
            let t = std::time::Instant::now();
            c.query(&format!("INSERT INTO kept VALUES ({client}, {i})"))
                .await
                .unwrap_or_else(|e| panic!("client {client} insert {i}: {e}"));
            let v = c
                .scalar(&format!("SELECT {i} + {client}"))
                .await
                .expect("select");
            assert_eq!(v, Some((i + client).to_string()));
            lat.add(t.elapsed());
        }
        c.terminate().await;
        lat
    }));
    let took = t0.elapsed();
    let mut statements = Latency::default();
    latencies.iter().for_each(|l| statements.extend(l));
    // Nothing lost: every row is there.
    let rows = rt.block_on(async move {
        let mut c = Conn::login(addr, &login(0)).await.expect("login");
        let v = c.scalar("SELECT count(*) FROM kept").await.expect("count");
        c.terminate().await;
        v
    });
    assert_eq!(rows, Some(PANICS.to_string()));
    wait_counts(&p, 0, Duration::from_secs(10));
    assert_eq!(wait_panics(&p, PANICS), PANICS);
    // A replaced thread may still be exiting: wait (a leaked one stays).
    proc::wait(Duration::from_secs(10), || threads(pid) == threads_before);
    let threads_after = threads(pid);
    let rss_after = proc::rss(pid);
    figures(
        "backend_panics",
        &[
            ("panics", PANICS.to_string()),
            ("clients", CLIENTS.to_string()),
            ("seconds", format!("{:.1}", took.as_secs_f64())),
            ("statements_between", statements.summary()),
            ("threads_before", threads_before.len().to_string()),
            ("threads_after", threads_after.len().to_string()),
            ("rss_before_mb", format!("{:.1}", mb(rss_before))),
            ("rss_after_mb", format!("{:.1}", mb(rss_after))),
        ],
    );
    assert_eq!(threads_after, threads_before, "threads before and after");
    assert!(
        threads_before
            .iter()
            .filter(|t| t.starts_with("pgiris-exec"))
            .count()
            == 4,
        "{threads_before:?}"
    );
    assert!(rss_after <= rss_before + 8 * 1024 * 1024);
    assert!(p.events("server_panic").is_empty());
    // The only errors: the contained panics.
    assert_no_problems(&p, mark, &["session_panic"]);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "fault injection exists in debug builds only"
)]
fn two_hundred_session_panics_release_their_slots_and_spare_the_others() {
    let _serial = load::serial();
    const PANICS: usize = 200;
    let p = start();
    let (pid, addr) = (p.pid(), p.addr);
    let rt = runtime();
    rt.block_on(open_pool(addr));
    wait_counts(&p, 0, Duration::from_secs(10));
    let threads_before = threads(pid);
    let mark = p.line_count();
    let bystander_queries = rt.block_on(async move {
        // Two sessions that keep working throughout, one inside a
        // transaction.
        let mut a = Conn::login(addr, &login(0)).await.expect("login");
        let mut b = Conn::login(addr, &login(1)).await.expect("login");
        b.query("CREATE TABLE IF NOT EXISTS tx (v int)")
            .await
            .expect("create");
        b.query("BEGIN").await.expect("begin");
        let victims = run_many(PANICS, 16, |i| async move {
            let mut c = Conn::login(addr, &login(i)).await.expect("victim login");
            // Some in an open transaction, holding a backend connection.
            if i.is_multiple_of(3) {
                c.query("BEGIN").await.expect("begin");
                c.query("SELECT 1").await.expect("select");
            }
            let e = c.query(SESSION_BOOM).await.expect_err("the session panics");
            assert_eq!(e.code, "io", "{e}");
        });
        let mut n = 0;
        let work = async {
            for i in 0..100 {
                assert_eq!(
                    a.scalar(&format!("SELECT {i}")).await,
                    Ok(Some(i.to_string()))
                );
                b.query(&format!("INSERT INTO tx VALUES ({i})"))
                    .await
                    .expect("insert");
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::join!(victims, work);
        b.query("COMMIT").await.expect("commit");
        assert_eq!(
            b.scalar("SELECT count(*) FROM tx").await,
            Ok(Some("100".into()))
        );
        a.terminate().await;
        b.terminate().await;
        n
    });
    assert_eq!(bystander_queries, 100);
    let counts = wait_counts(&p, 0, Duration::from_secs(10));
    assert_eq!(wait_panics(&p, PANICS), PANICS);
    assert!(p.events("server_panic").is_empty());
    // A new session works; the threads are the same.
    rt.block_on(async move {
        let mut c = Conn::login(addr, &login(0)).await.expect("login");
        assert_eq!(c.scalar("SELECT 5").await, Ok(Some("5".into())));
        c.terminate().await;
    });
    // A replaced thread may still be exiting: wait (a leaked one stays).
    proc::wait(Duration::from_secs(10), || threads(pid) == threads_before);
    assert_eq!(threads(pid), threads_before);
    figures(
        "session_panics",
        &[
            ("panics", PANICS.to_string()),
            ("stats_after", counts.to_string()),
        ],
    );
    assert_no_problems(&p, mark, &["session_panic"]);
}
