//! Load and soak against the real binary: many concurrent authenticated
//! connections held, then a storm of connect/disconnect cycles. After each:
//! the registry's counters (its `stats` events) back to zero, the server's
//! resident memory back near its baseline, and no warning or error in the
//! log but the designed ones.
//!
//! The light variants run in `cargo test` in seconds. The heavy ones
//! (10,000 connections held, 50,000 cycles) are `#[ignore]`d; run them with
//!
//! ```text
//! cargo test --release --test soak_connections -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each prints a `FIGURES` line (HARDENING.md records them).

mod common;
mod load;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::ServerProcess;
use load::client::{Conn, Login, PgErr, startup_packet, tcp};
use load::server::{
    PASSWORD, USER, assert_no_problems, events_since, scram_hba, soak, wait_counts,
};
use load::{Latency, figures, mb, proc, run_many, runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A scratch directory for the SCRAM hba file, and the running server.
fn start(max_connections: usize) -> (tempfile::TempDir, ServerProcess) {
    let auth = tempfile::tempdir().expect("temp dir");
    let hba = scram_hba(auth.path());
    let p = ServerProcess::start(|c| soak(c, &hba, max_connections));
    (auth, p)
}

fn login() -> Login {
    Login::scram(USER, "postgres", PASSWORD)
}

/// A few logins and queries so that what is allocated once (the backend
/// connections, the runtime's buffers) is in the baseline.
fn warm_up(rt: &tokio::runtime::Runtime, addr: SocketAddr) {
    rt.block_on(run_many(32, 16, |_| async move {
        let mut c = Conn::login(addr, &login()).await.expect("warm-up login");
        c.query("SELECT 1").await.expect("warm-up query");
        c.terminate().await;
    }));
}

/// Holds `n` authenticated sessions at once (each runs a query after its
/// login and again once all are in), checks the limit answers 53300 beyond
/// them, closes them three ways, and checks counters, memory and log; then
/// does it again, `rounds` times in all, so that memory kept by the
/// allocator shows apart from memory that grows (a leak).
fn hold(n: usize, rounds: usize, test: &str) {
    let nofile = proc::raise_nofile();
    assert!(
        nofile as usize > n + 200,
        "the test process may open only {nofile} files; {n} connections need more"
    );
    // Room for n sessions and a few more; the last `reserved` are for admins.
    let reserved = 3;
    let extra = 10;
    let max = n + extra + reserved;
    let (_auth, p) = start(max);
    let pid = p.pid();
    let addr = p.addr;
    let rt = runtime();
    warm_up(&rt, addr);
    wait_counts(&p, 0, Duration::from_secs(10));
    let base = proc::rss(pid);
    proc::reset_peak(pid);
    let mark = p.line_count();
    let mut after_rounds = Vec::new();
    let mut held_rss = 0;
    for round in 1..=rounds {
        let round_mark = p.line_count();
        // Open n + extra sessions, 256 logins in flight.
        let t0 = Instant::now();
        let opened: Vec<Result<(Conn, Duration), PgErr>> =
            rt.block_on(run_many(n + extra, 256, |_| async move {
                let t = Instant::now();
                let mut c = Conn::login(addr, &login()).await?;
                let took = t.elapsed();
                c.query("SELECT 1").await?;
                Ok((c, took))
            }));
        let open_time = t0.elapsed();
        let mut conns = Vec::with_capacity(n + extra);
        let mut login_latency = Latency::default();
        for r in opened {
            let (c, took) = r.unwrap_or_else(|e| panic!("a login below the limit failed: {e}"));
            login_latency.add(took);
            conns.push(c);
        }
        wait_counts(&p, (n + extra) as u64, Duration::from_secs(60));
        held_rss = held_rss.max(proc::rss(pid));
        let held_fds = proc::fds(pid);
        let held_threads = proc::threads(pid);

        // Past the limit: the non-admin user gets 53300, the server goes on.
        let refused: Vec<Result<Conn, PgErr>> = rt.block_on(run_many(5, 5, |_| async move {
            Conn::login(addr, &login()).await
        }));
        for r in refused {
            match r {
                Err(e) => assert_eq!(e.code, "53300", "{e}"),
                Ok(_) => panic!("a login past the limit was admitted"),
            }
        }

        // Every held session still answers.
        let t1 = Instant::now();
        let query_latency = rt.block_on(query_each(&mut conns, "SELECT 2", "2"));
        let query_time = t1.elapsed();

        // Close them: a third with Terminate, a third with a reset, a third
        // with a FIN and no Terminate.
        let t2 = Instant::now();
        rt.block_on(close_each(conns));
        wait_counts(&p, 0, Duration::from_secs(60));
        let close_time = t2.elapsed();
        let after = settle_rss(pid, base);
        after_rounds.push(after);
        let rejected = events_since(&p, round_mark, "limit_rejected").len();
        assert_eq!(rejected, 5, "one limit_rejected event per refused login");
        figures(
            test,
            &[
                ("round", round.to_string()),
                ("sessions", (n + extra).to_string()),
                ("open_s", format!("{:.2}", open_time.as_secs_f64())),
                (
                    "logins_per_s",
                    format!("{:.0}", (n + extra) as f64 / open_time.as_secs_f64()),
                ),
                ("login", login_latency.summary()),
                ("query_all_s", format!("{:.2}", query_time.as_secs_f64())),
                ("query", query_latency.summary()),
                ("close_s", format!("{:.2}", close_time.as_secs_f64())),
                ("rss_base_mb", format!("{:.1}", mb(base))),
                ("rss_held_mb", format!("{:.1}", mb(held_rss))),
                (
                    "per_session_kb",
                    format!(
                        "{:.1}",
                        (held_rss.saturating_sub(base)) as f64 / 1024.0 / (n + extra) as f64
                    ),
                ),
                ("rss_after_mb", format!("{:.1}", mb(after))),
                ("peak_rss_mb", format!("{:.1}", mb(proc::peak_rss(pid)))),
                ("fds_held", held_fds.to_string()),
                ("threads_held", held_threads.to_string()),
                ("fds_after", proc::fds(pid).to_string()),
                ("threads_after", proc::threads(pid).to_string()),
            ],
        );
    }
    assert_no_problems(&p, mark, &["limit_rejected"]);
    assert_memory_back(base, &after_rounds, held_rss);
}

/// Runs `sql` on every connection (512 at once) and checks its answer.
async fn query_each(conns: &mut [Conn], sql: &str, expect: &str) -> Latency {
    use futures_util::StreamExt;
    let results: Vec<Result<Duration, PgErr>> = futures_util::stream::iter(conns.iter_mut())
        .map(|c| async move {
            let t = Instant::now();
            let v = c.scalar(sql).await?;
            assert_eq!(v.as_deref(), Some(expect));
            Ok(t.elapsed())
        })
        .buffer_unordered(512)
        .collect()
        .await;
    let mut lat = Latency::default();
    for r in results {
        lat.add(r.unwrap_or_else(|e| panic!("a held session failed: {e}")));
    }
    lat
}

/// Closes every connection, cycling through Terminate, reset and FIN.
async fn close_each(conns: Vec<Conn>) {
    use futures_util::StreamExt;
    futures_util::stream::iter(conns.into_iter().enumerate())
        .for_each_concurrent(512, |(i, c)| async move {
            match i % 3 {
                0 => c.terminate().await,
                1 => c.abort(),
                _ => c.close(),
            }
        })
        .await;
}

/// RSS once it stops falling (the allocator returns freed pages lazily):
/// up to 5 s of polling while it is above `base` by more than 2 MB.
fn settle_rss(pid: i32, base: u64) -> u64 {
    let mut last = proc::rss(pid);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && last > base + 2 * 1024 * 1024 {
        std::thread::sleep(Duration::from_millis(250));
        last = proc::rss(pid);
    }
    last
}

/// "Back near the baseline": after the first round what stays above the
/// baseline is at most 8 MB, or a quarter of what the load added when that
/// is more (the allocator keeps some of its arenas' pages: fragmented, they
/// cannot all be returned); never more than 32 MB. Later rounds add nothing
/// to it beyond 2 MB plus a quarter of what the load added (the allocator's
/// kept pages move between rounds: 2.2 MB was seen with 500 sessions that
/// added 4.4 MB, on a clean CI-like run), so nothing grows per session.
fn assert_memory_back(base: u64, after_rounds: &[u64], loaded: u64) {
    let added = loaded.saturating_sub(base);
    let first = after_rounds[0];
    let kept = first.saturating_sub(base);
    let show = || {
        format!(
            "RSS {:.1} MB at baseline, {:.1} MB under load, after each round {:?} MB",
            mb(base),
            mb(loaded),
            after_rounds
                .iter()
                .map(|&r| format!("{:.1}", mb(r)))
                .collect::<Vec<_>>()
        )
    };
    assert!(
        kept <= (added / 4).max(8 * 1024 * 1024) && kept <= 32 * 1024 * 1024,
        "{}",
        show()
    );
    for &later in &after_rounds[1..] {
        assert!(later <= first + 2 * 1024 * 1024 + added / 4, "{}", show());
    }
}

/// The ways a storm connection ends.
const STORM_KINDS: usize = 6;

/// One connect/disconnect cycle of kind `i % STORM_KINDS`, from one of four
/// source addresses. Returns the login latency when it logged in.
async fn cycle(addr: SocketAddr, i: usize) -> Result<Option<Duration>, PgErr> {
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 4) as u8));
    let login = login().from(source);
    let t = Instant::now();
    match i % STORM_KINDS {
        0 => {
            let mut c = Conn::login(addr, &login).await?;
            let took = t.elapsed();
            assert_eq!(c.scalar("SELECT 1").await?.as_deref(), Some("1"));
            c.terminate().await;
            Ok(Some(took))
        }
        1 => {
            let c = Conn::login(addr, &login).await?;
            let took = t.elapsed();
            c.abort();
            Ok(Some(took))
        }
        2 => {
            let c = Conn::login(addr, &login).await?;
            let took = t.elapsed();
            c.close();
            Ok(Some(took))
        }
        3 => {
            // Half a startup packet, then a close.
            let mut s = tcp(addr, Some(source)).await?;
            let packet = startup_packet(USER, "postgres");
            let _ = s.write_all(&packet[..packet.len() / 2]).await;
            Ok(None)
        }
        4 => {
            // Connect and close at once.
            tcp(addr, Some(source)).await?;
            Ok(None)
        }
        _ => {
            // Close in the middle of SCRAM: after AuthenticationSASL.
            let mut s = tcp(addr, Some(source)).await?;
            s.write_all(&startup_packet(USER, "postgres"))
                .await
                .map_err(PgErr::io)?;
            let mut b = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await;
            Ok(None)
        }
    }
}

/// `cycles` connect/disconnect cycles, 64 at a time, of six kinds: login
/// then Terminate, reset or FIN; half a startup packet; nothing at all; a
/// close in the middle of SCRAM. A session running queries beside them
/// must never fail nor wait.
fn storm(cycles: usize, test: &str) {
    proc::raise_nofile();
    let (_auth, p) = start(200);
    let pid = p.pid();
    let addr = p.addr;
    let rt = runtime();
    warm_up(&rt, addr);
    wait_counts(&p, 0, Duration::from_secs(10));
    let base = proc::rss(pid);
    proc::reset_peak(pid);
    let cpu0 = proc::cpu_time(pid);
    let mark = p.line_count();
    let t0 = Instant::now();
    let (results, steady, rss_half, rss_end) = rt.block_on(async move {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let steady = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut c = Conn::login(addr, &login()).await.expect("steady session");
                let mut lat = Latency::default();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let t = Instant::now();
                    assert_eq!(
                        c.scalar("SELECT 3").await.expect("steady query").as_deref(),
                        Some("3")
                    );
                    lat.add(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                c.terminate().await;
                lat
            })
        };
        // In two halves, the server's memory read after each: a leak
        // shows as growth from the first to the second.
        let mut results = run_many(cycles / 2, 64, |i| cycle(addr, i)).await;
        let half = proc::rss(pid);
        results.extend(run_many(cycles - cycles / 2, 64, |i| cycle(addr, cycles / 2 + i)).await);
        let end = proc::rss(pid);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (results, steady.await.expect("steady session"), half, end)
    });
    let took = t0.elapsed();
    let cpu = proc::cpu_time(pid) - cpu0;
    let mut logins = Latency::default();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Some(d)) => logins.add(d),
            Ok(None) => {}
            Err(e) => panic!("cycle {i} (kind {}) failed: {e}", i % STORM_KINDS),
        }
    }
    let counts = wait_counts(&p, 0, Duration::from_secs(30));
    let after = settle_rss(pid, base);
    let peak = proc::peak_rss(pid);
    figures(
        test,
        &[
            ("cycles", cycles.to_string()),
            ("seconds", format!("{:.1}", took.as_secs_f64())),
            (
                "cycles_per_s",
                format!("{:.0}", cycles as f64 / took.as_secs_f64()),
            ),
            ("server_cpu_s", format!("{:.1}", cpu.as_secs_f64())),
            ("login", logins.summary()),
            ("steady_query", steady.summary()),
            ("rss_base_mb", format!("{:.1}", mb(base))),
            ("rss_half_mb", format!("{:.1}", mb(rss_half))),
            ("rss_end_mb", format!("{:.1}", mb(rss_end))),
            ("rss_after_mb", format!("{:.1}", mb(after))),
            ("peak_rss_mb", format!("{:.1}", mb(peak))),
            ("fds_after", proc::fds(pid).to_string()),
            ("threads_after", proc::threads(pid).to_string()),
            ("stats_after", counts.to_string()),
        ],
    );
    // No login was slowed by the throttle (a failure miscounted) and the
    // steady session never waited long.
    assert!(
        logins.percentile(100.0) < Duration::from_secs(2),
        "{}",
        logins.summary()
    );
    assert!(
        steady.percentile(100.0) < Duration::from_secs(1),
        "{}",
        steady.summary()
    );
    assert_eq!(events_since(&p, mark, "throttled").len(), 0);
    assert_eq!(events_since(&p, mark, "authentication_failed").len(), 0);
    // Half a startup packet is the one kind the log warns about.
    assert_eq!(
        events_since(&p, mark, "protocol_violation").len(),
        (0..cycles).filter(|i| i % STORM_KINDS == 3).count()
    );
    assert_no_problems(&p, mark, STORM_DESIGNED);
    // Nothing grows with the number of cycles, and once the storm is over
    // the memory is back near the baseline.
    assert!(
        rss_end <= rss_half + 2 * 1024 * 1024,
        "RSS {:.1} MB after half the storm, {:.1} MB after all of it",
        mb(rss_half),
        mb(rss_end)
    );
    assert_memory_back(base, &[after], peak);
}

/// What the storm's abandoned connections are logged as.
const STORM_DESIGNED: &[&str] = &["protocol_violation"];

#[test]
fn light_storm_of_3000_connect_disconnect_cycles() {
    let _serial = load::serial();
    storm(3000, "light_storm_of_3000_connect_disconnect_cycles");
}

#[test]
#[ignore = "heavy: 50,000 cycles; see the module comment"]
fn heavy_storm_of_50000_connect_disconnect_cycles() {
    let _serial = load::serial();
    storm(50_000, "heavy_storm_of_50000_connect_disconnect_cycles");
}

#[test]
fn light_500_connections_held() {
    let _serial = load::serial();
    hold(500, 3, "light_500_connections_held");
}

#[test]
#[ignore = "heavy: 10,000 connections; see the module comment"]
fn heavy_10000_connections_held() {
    let _serial = load::serial();
    hold(10_000, 2, "heavy_10000_connections_held");
}
