//! The file-descriptor limit reached, against the real binary started with
//! RLIMIT_NOFILE = 64 (soft and hard): sessions are opened until accept
//! fails. While saturated the server backs off (the log shows the backoff
//! growing, its CPU use stays low: nothing spins), the sessions it holds
//! keep working, and clients still in the accept queue are served as soon
//! as sessions close.

mod common;
mod load;

use std::time::{Duration, Instant};

use common::ServerProcess;
use common::process::Launch;
use load::client::{Conn, Login, PgErr};
use load::server::wait_counts;
use load::{figures, proc, runtime};

const NOFILE: u64 = 64;

fn login() -> Login {
    Login::trust("bob", "postgres")
}

#[test]
fn at_the_fd_limit_accept_backs_off_without_spinning_and_service_resumes() {
    let _serial = load::serial();
    let p = ServerProcess::start_with(
        |c| {
            c.set("server", "stats_period", "\"100ms\"")
                .set("server", "max_connections", "200")
                .set("backend", "pool_mode", "\"transaction\"")
                .set("backend", "pool_size", "2")
                .set("log", "level", "\"info\"");
        },
        Launch {
            nofile: Some(NOFILE),
            ..Launch::default()
        },
    );
    let (pid, addr) = (p.pid(), p.addr);
    // The server said its limit is too low for max_connections.
    assert!(
        p.json_lines().iter().any(|v| v["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("the file-descriptor limit is below"))
            && v["nofile"] == NOFILE),
        "{}",
        p.lines().join("\n")
    );
    let rt = runtime();
    let mark = p.line_count();
    let server = &p;
    let report = rt.block_on(async move {
        // A session that works throughout (and opens the pool).
        let mut bystander = Conn::login(addr, &login()).await.expect("bystander");
        let mut answered = 0u64;
        let ask = async |c: &mut Conn, answered: &mut u64| {
            let v = c.scalar(&format!("SELECT {answered}")).await;
            assert_eq!(v, Ok(Some(answered.to_string())), "the bystander");
            *answered += 1;
        };
        ask(&mut bystander, &mut answered).await;
        // Open sessions until one is not served within a second while
        // accept fails (a login that is merely slow, on a busy machine, is
        // waited for: it is not saturation).
        let accept_failed = || {
            server
                .json_since(mark)
                .iter()
                .any(|v| v["msg"] == "accept failed; backing off")
        };
        let mut held = Vec::new();
        let waiting = loop {
            let mut task = tokio::spawn(async move { Conn::login(addr, &login()).await });
            let r = match tokio::time::timeout(Duration::from_secs(1), &mut task).await {
                Ok(r) => r,
                Err(_) if accept_failed() => break task,
                Err(_) => tokio::time::timeout(Duration::from_secs(30), &mut task)
                    .await
                    .expect("a login below the fd limit within 30 s"),
            };
            held.push(r.expect("task").expect("a login below the fd limit"));
            assert!(held.len() < NOFILE as usize, "never saturated");
        };
        let saturated_at = held.len();
        // Four more behind it in the accept queue.
        let mut queue = vec![waiting];
        for _ in 0..4 {
            queue.push(tokio::spawn(
                async move { Conn::login(addr, &login()).await },
            ));
        }
        // Saturated: the held sessions and the bystander still work, and
        // the server idles.
        let cpu = tokio::task::spawn_blocking(move || proc::cpu_share(pid, Duration::from_secs(3)))
            .await
            .expect("cpu");
        for c in held.iter_mut().take(5) {
            assert_eq!(c.scalar("SELECT 'held'").await, Ok(Some("held".into())));
        }
        ask(&mut bystander, &mut answered).await;
        // Sessions close: those queued are served.
        let t = Instant::now();
        for c in held.drain(..10) {
            c.terminate().await;
        }
        let mut served: Vec<Conn> = Vec::new();
        for task in queue {
            let r: Result<Conn, PgErr> = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("a queued client was not served after sessions closed")
                .expect("task");
            served.push(r.expect("a queued login"));
        }
        let resumed = t.elapsed();
        for c in served.iter_mut() {
            assert_eq!(c.scalar("SELECT 'served'").await, Ok(Some("served".into())));
        }
        ask(&mut bystander, &mut answered).await;
        for c in served.into_iter().chain(held) {
            c.terminate().await;
        }
        bystander.terminate().await;
        (saturated_at, cpu, resumed)
    });
    let (saturated_at, cpu, resumed) = report;
    let counts = wait_counts(&p, 0, Duration::from_secs(10));
    let backoffs: Vec<u64> = p
        .json_since(mark)
        .iter()
        .filter(|v| v["msg"] == "accept failed; backing off")
        .filter_map(|v| v["backoff_ms"].as_u64())
        .collect();
    figures(
        "fd_limit",
        &[
            ("nofile", NOFILE.to_string()),
            ("sessions_at_saturation", saturated_at.to_string()),
            ("server_cpu_share_saturated", format!("{cpu:.3}")),
            ("accept_failures_logged", backoffs.len().to_string()),
            (
                "max_backoff_ms",
                backoffs.iter().max().copied().unwrap_or(0).to_string(),
            ),
            ("resumed_after_ms", resumed.as_millis().to_string()),
            ("stats_after", counts.to_string()),
        ],
    );
    // Backoff, not a spin: the delay grew to the one-second cap, and the
    // failures logged over the saturated seconds are a handful, not
    // thousands.
    assert!(backoffs.iter().any(|&b| b >= 640), "{backoffs:?}");
    assert!(
        backoffs.len() < 40,
        "{} accept failures logged",
        backoffs.len()
    );
    assert!(
        cpu < 0.2,
        "the server used {cpu:.2} of a core while saturated"
    );
    assert!(resumed < Duration::from_secs(5), "{resumed:?}");
    // Every warning is the designed one.
    let other: Vec<_> = p
        .json_since(mark)
        .into_iter()
        .filter(|v| matches!(v["level"].as_str(), Some("WARN" | "ERRO" | "CRIT")))
        .filter(|v| v["msg"] != "accept failed; backing off")
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert!(proc::fds(pid) <= NOFILE as usize);
}
