//! Helpers for the load, soak and fault tests (`tests/soak_*.rs`,
//! `tests/faults_*.rs`); each says `mod common; mod load;`.
//!
//! - [`proc`]: a process seen from /proc: resident memory and its peak,
//!   threads, open descriptors, CPU time; the test process's own
//!   descriptor limit raised.
//! - [`client`]: a lean raw-protocol client for thousands of connections at
//!   once: startup, trust or SCRAM-SHA-256 (the salted password computed
//!   once per salt, so a login costs the client a few HMACs), simple
//!   queries, cancel requests, a chosen source address (127.0.0.x), clean
//!   or abrupt closes.
//! - [`server`]: the soak configuration of the server subprocess, its
//!   `stats` events (the registry's counters) and the problems in its log.
//! - [`Latency`]: latency samples and their percentiles.
//! - [`figures`]: one `FIGURES` line per run on stderr, the numbers that go
//!   into HARDENING.md.

#![allow(dead_code)]

pub mod client;
pub mod proc;
pub mod server;

use std::time::Duration;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latency {
    samples: Vec<u64>,
}

impl Latency {
    pub fn add(&mut self, d: Duration) {
        self.samples.push(d.as_micros() as u64);
    }

    pub fn extend(&mut self, other: &Latency) {
        self.samples.extend_from_slice(&other.samples);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The `p`-th percentile (0..=100); zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
        Duration::from_micros(s[i.min(s.len() - 1)])
    }

    pub fn summary(&self) -> String {
        format!(
            "n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
            self.len(),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0))
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Prints the figures of a run on one line (`cargo test -- --nocapture`
/// shows it; HARDENING.md records it).
pub fn figures(test: &str, pairs: &[(&str, String)]) {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!("FIGURES {test}: {}", body.join(" "));
}

/// Whether the heavy variants were asked for (`PGIRIS_SOAK=1`).
pub fn heavy() -> bool {
    std::env::var_os("PGIRIS_SOAK").is_some_and(|v| v == "1")
}

/// The client side's runtime: one thread (the crate's tokio has no
/// multi-threaded runtime; the machine's two cores go to the server).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f(i)` for `0..n` with at most `in_flight` at once; the results in
/// index order.
pub async fn run_many<T, F, Fut>(n: usize, in_flight: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures_util::StreamExt;
    let mut out: Vec<(usize, T)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let fut = f(i);
            async move { (i, fut.await) }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Held by each load test for its whole run: the tests of one file would
/// otherwise run at once and measure each other (the machine has two
/// cores).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
