//! The server subprocess under load: its configuration for the soak runs,
//! its `stats` events (the registry's counters, logged every
//! `server.stats_period`), and the problems in its log.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::ServerProcess;
use crate::common::process::ProcessConfig;

/// Users the test servers know, each with its name as password.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "alice";

/// An hba file in `dir` requiring SCRAM-SHA-256 from all of 127.0.0.0/8;
/// returns its path as a TOML string.
pub fn scram_hba(dir: &Path) -> String {
    let hba = dir.join("pg_hba_scram.conf");
    std::fs::write(&hba, "host all all 127.0.0.0/8 scram-sha-256\n").expect("write hba");
    serde_json::to_string(&hba.to_string_lossy()).expect("path")
}

/// The soak configuration: SCRAM from loopback, the given connection
/// limit, transaction pooling, counters every 100 ms, info-level JSON log
/// with the connection events.
pub fn soak(c: &mut ProcessConfig, hba: &str, max_connections: usize) {
    c.set("server", "max_connections", &max_connections.to_string())
        .set("server", "stats_period", "\"100ms\"")
        .set("server", "login_timeout", "\"30s\"")
        .set("auth", "hba_file", hba)
        // The shipped throttle, so that a login counted as a failure by
        // mistake shows as a two-second delay.
        .set("auth", "failure_delay", "\"2s\"")
        .set("backend", "pool_mode", "\"transaction\"")
        .set("backend", "pool_size", "8")
        .set("log", "level", "\"debug\"");
}

/// The latest `stats` event after `mark`.
pub fn last_stats(p: &ServerProcess, mark: usize) -> Option<Value> {
    p.json_since(mark)
        .into_iter()
        .rev()
        .find(|v| v["event"] == "stats")
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(u64::MAX)
}

/// Waits until a `stats` event logged after the call shows `sessions` and
/// `pending` (pending = 0 unless given); returns it. Panics with the last
/// one after `timeout`.
pub fn wait_counts(p: &ServerProcess, sessions: u64, timeout: Duration) -> Value {
    let mark = p.line_count();
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = last_stats(p, mark)
            && count(&v, "sessions") == sessions
            && count(&v, "pending") == 0
        {
            return v;
        }
        if Instant::now() >= end {
            panic!(
                "no stats event with sessions={sessions} pending=0 within {timeout:?}; last: {:?}",
                last_stats(p, 0)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Log lines after `mark` at warning level or worse whose `event` is not
/// in `designed`.
pub fn problems(p: &ServerProcess, mark: usize, designed: &[&str]) -> Vec<Value> {
    p.json_since(mark)
        .into_iter()
        .filter(|v| matches!(v["level"].as_str(), Some("WARN" | "ERRO" | "CRIT")))
        .filter(|v| !designed.iter().any(|d| v["event"] == *d))
        .collect()
}

/// Asserts that [`problems`] is empty.
pub fn assert_no_problems(p: &ServerProcess, mark: usize, designed: &[&str]) {
    let bad = problems(p, mark, designed);
    assert!(
        bad.is_empty(),
        "{} unexpected warnings or errors in the log, first ones:\n{}",
        bad.len(),
        bad.iter()
            .take(10)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Lines after `mark` with this `event`.
pub fn events_since(p: &ServerProcess, mark: usize, event: &str) -> Vec<Value> {
    p.json_since(mark)
        .into_iter()
        .filter(|v| v["event"] == event)
        .collect()
}
