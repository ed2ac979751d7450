//! A flood of CancelRequests with wrong keys (half of them naming live
//! sessions' pids) from four source addresses, while sessions run
//! statements: none of them is cancelled, every request is counted as
//! unmatched, the per-source budget drops most of them, and the server's
//! memory stays flat. Then the budget shown exactly with a rate of 1 per
//! second: a source that spent it cannot cancel even with the right key,
//! another source can.
//!
//! The light variant runs in `cargo test`; the heavy one (100,000 requests)
//! is `#[ignore]`d:
//!
//! ```text
//! cargo test --release --test soak_cancels -- --ignored --nocapture
//! ```

mod common;
mod load;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::ServerProcess;
use load::client::{Conn, Login, PgErr, cancel};
use load::server::{
    PASSWORD, USER, assert_no_problems, events_since, last_stats, scram_hba, soak, wait_counts,
};
use load::{figures, mb, proc, run_many, runtime};

/// A statement that runs until interrupted.
const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

fn login() -> Login {
    Login::scram(USER, "postgres", PASSWORD)
}

fn flooder(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3 + (i % 4) as u8))
}

fn start(
    tweak: impl FnOnce(&mut common::process::ProcessConfig),
) -> (tempfile::TempDir, ServerProcess) {
    let auth = tempfile::tempdir().expect("temp dir");
    let hba = scram_hba(auth.path());
    let p = ServerProcess::start(|c| {
        soak(c, &hba, 100);
        tweak(c);
    });
    (auth, p)
}

/// Waits for a `stats` event with at least `unmatched` unmatched cancels.
fn wait_unmatched(p: &ServerProcess, unmatched: u64) -> serde_json::Value {
    let ok = proc::wait(Duration::from_secs(30), || {
        last_stats(p, 0).is_some_and(|v| v["cancels_unmatched"].as_u64() >= Some(unmatched))
    });
    let last = last_stats(p, 0).expect("a stats event");
    assert!(
        ok,
        "expected {unmatched} unmatched cancels, last stats: {last}"
    );
    last
}

fn flood(n: usize, test: &str) {
    proc::raise_nofile();
    let (_auth, p) = start(|_| {});
    let pid = p.pid();
    let addr = p.addr;
    let rt = runtime();
    // Warm up the cancel path too.
    rt.block_on(run_many(200, 32, |i| async move {
        cancel(addr, Some(flooder(i)), 1, &[0; 4]).await
    }));
    wait_unmatched(&p, 200);
    let mark = p.line_count();
    let before = last_stats(&p, 0).expect("stats");
    let cpu0 = proc::cpu_time(pid);
    let (busy_queries, timeout_error, took, rss) = rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        // Four sessions running short statements throughout.
        let mut busy = Vec::new();
        let mut pids = Vec::new();
        for _ in 0..4 {
            let mut c = Conn::login(addr, &login()).await.expect("busy session");
            pids.push(c.pid);
            let stop = stop.clone();
            busy.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let v = c.scalar("SELECT 7").await;
                    assert_eq!(v, Ok(Some("7".into())), "a busy session's statement");
                    n += 1;
                }
                c.terminate().await;
                n
            }));
        }
        // One long statement, ended by its statement_timeout only.
        let mut long = Conn::login(addr, &login()).await.expect("long session");
        pids.push(long.pid);
        long.query("SET statement_timeout = '3s'")
            .await
            .expect("SET");
        let long = tokio::spawn(async move {
            let e = long
                .query(ENDLESS)
                .await
                .expect_err("the endless statement ended");
            long.terminate().await;
            e
        });
        let pids = Arc::new(pids);
        // The server's memory with the sessions in, before the flood, after
        // its first half and after its second: flat means no table grows
        // per request.
        let mut rss = vec![proc::rss(pid)];
        proc::reset_peak(pid);
        let t0 = Instant::now();
        for half in 0..2 {
            let results: Vec<Result<(), PgErr>> = run_many(n / 2, 64, |j| {
                let pids = pids.clone();
                let i = half * (n / 2) + j;
                async move {
                    let mut secret = [0u8; 4];
                    rand::fill(&mut secret);
                    // Half name a live session (wrong secret), half any pid.
                    let target = if i.is_multiple_of(2) {
                        pids[i / 2 % pids.len()]
                    } else {
                        (i as i32) + 1
                    };
                    cancel(addr, Some(flooder(i)), target, &secret).await
                }
            })
            .await;
            for r in results {
                r.unwrap_or_else(|e| panic!("a cancel connection failed: {e}"));
            }
            rss.push(proc::rss(pid));
        }
        let took = t0.elapsed();
        rss.push(proc::peak_rss(pid));
        let e = long.await.expect("long session");
        stop.store(true, Ordering::SeqCst);
        let mut queries = 0;
        for b in busy {
            queries += b.await.expect("busy session");
        }
        (queries, e, took, rss)
    });
    let cpu = proc::cpu_time(pid) - cpu0;
    let n = n / 2 * 2;
    let stats = wait_unmatched(&p, 200 + n as u64);
    wait_counts(&p, 0, Duration::from_secs(10));
    let delta = |k: &str| stats[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
    let (unmatched, rate_limited, matched) = (
        delta("cancels_unmatched"),
        delta("cancels_rate_limited"),
        delta("cancels_matched"),
    );
    figures(
        test,
        &[
            ("cancels", n.to_string()),
            ("seconds", format!("{:.1}", took.as_secs_f64())),
            (
                "cancels_per_s",
                format!("{:.0}", n as f64 / took.as_secs_f64()),
            ),
            ("server_cpu_s", format!("{:.1}", cpu.as_secs_f64())),
            ("busy_queries_meanwhile", busy_queries.to_string()),
            ("unmatched", unmatched.to_string()),
            ("rate_limited", rate_limited.to_string()),
            ("matched", matched.to_string()),
            ("rss_before_mb", format!("{:.1}", mb(rss[0]))),
            ("rss_half_mb", format!("{:.1}", mb(rss[1]))),
            ("rss_end_mb", format!("{:.1}", mb(rss[2]))),
            ("peak_rss_mb", format!("{:.1}", mb(rss[3]))),
            (
                "cancel_log_lines",
                events_since(&p, mark, "cancel_request").len().to_string(),
            ),
        ],
    );
    // Nothing matched; the long statement ended by its own timeout.
    assert_eq!(matched, 0, "{stats}");
    assert_eq!(unmatched, n as u64, "{stats}");
    assert_eq!(timeout_error.code, "57014", "{timeout_error}");
    assert_eq!(
        timeout_error.message, "canceling statement due to statement timeout",
        "the long statement was cancelled by a flood request"
    );
    assert!(busy_queries > 0);
    // The budget engaged: four sources at 100 per second (plus a burst of
    // ten each) could have had at most this many examined.
    let examined = unmatched - rate_limited;
    let allowed = (took.as_secs_f64() * 400.0) as u64 + 40;
    assert!(
        rate_limited > 0 && examined <= allowed,
        "{examined} examined in {took:?}"
    );
    // The log says so about once a second, not per request.
    let logged = events_since(&p, mark, "cancel_request").len() as f64;
    assert!(
        logged <= took.as_secs_f64() * 2.0 + 2.0,
        "{logged} log lines in {took:?}"
    );
    // Flat memory.
    let mb2 = 2 * 1024 * 1024;
    assert!(
        rss[2] <= rss[1] + mb2 && rss[3] <= rss[0] + 4 * mb2,
        "RSS before, after each half, peak: {:?} MB",
        rss.iter()
            .map(|&r| format!("{:.1}", mb(r)))
            .collect::<Vec<_>>()
    );
    assert_no_problems(&p, mark, &[]);
}

#[test]
fn light_flood_of_5000_wrong_key_cancels() {
    let _serial = load::serial();
    flood(5000, "light_flood_of_5000_wrong_key_cancels");
}

#[test]
#[ignore = "heavy: 100,000 cancel requests; see the module comment"]
fn heavy_flood_of_100000_wrong_key_cancels() {
    let _serial = load::serial();
    flood(100_000, "heavy_flood_of_100000_wrong_key_cancels");
}

/// With a budget of one unmatched request per second (ten at once), a
/// source that spent it is ignored even with the right key; another
/// source's right key cancels at once.
#[test]
fn a_source_over_its_cancel_budget_cannot_cancel_another_can() {
    let _serial = load::serial();
    let (_auth, p) = start(|c| {
        c.set("server", "max_unmatched_cancels_per_second", "1");
    });
    let addr = p.addr;
    let rt = runtime();
    rt.block_on(async move {
        let spender = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
        let mut victim = Conn::login(addr, &login()).await.expect("login");
        let (pid, secret) = (victim.pid, victim.secret.clone());
        victim.send_query(ENDLESS).await.expect("send");
        // Spend the budget: twelve wrong keys.
        for _ in 0..12 {
            cancel(addr, Some(spender), pid, &[0, 0, 0, 0])
                .await
                .expect("cancel");
        }
        // The right key from the same source: ignored.
        cancel(addr, Some(spender), pid, &secret)
            .await
            .expect("cancel");
        let running = tokio::time::timeout(Duration::from_millis(500), victim.read_result()).await;
        assert!(
            running.is_err(),
            "cancelled from an over-budget source: {running:?}"
        );
        // From another source: cancelled.
        cancel(
            addr,
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            pid,
            &secret,
        )
        .await
        .expect("cancel");
        let e = victim.read_result().await.expect_err("cancelled");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("57014", "canceling statement due to user request")
        );
        assert_eq!(victim.scalar("SELECT 1").await, Ok(Some("1".into())));
        victim.terminate().await;
    });
    let ok = proc::wait(Duration::from_secs(10), || {
        last_stats(&p, 0).is_some_and(|v| v["cancels_matched"] == 1 && v["cancels_unmatched"] == 13)
    });
    assert!(ok, "{:?}", last_stats(&p, 0));
    let stats = last_stats(&p, 0).expect("stats");
    assert_eq!(
        stats["cancels_rate_limited"], 3,
        "12 wrong keys: 10 examined, 2 dropped; then the right one dropped: {stats}"
    );
}
