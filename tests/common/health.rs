//! A healthy session kept busy while a test attacks the same server: a
//! tokio-postgres client running `SELECT 1` every 20 ms, recording how many
//! queries it ran and the slowest one. [`Health::finish`] panics if any
//! query failed, so "other sessions are unaffected" is checked, not assumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

pub struct Health {
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicU64>,
    worst_ms: Arc<AtomicU64>,
    task: JoinHandle<Result<(), String>>,
}

/// What the healthy session saw.
#[derive(Debug, Clone, Copy)]
pub struct HealthReport {
    pub queries: u64,
    pub worst: Duration,
}

impl Health {
    /// Logs in with `config` and starts querying (must run inside a Tokio
    /// runtime).
    pub fn start(config: tokio_postgres::Config) -> Health {
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicU64::new(0));
        let worst_ms = Arc::new(AtomicU64::new(0));
        let (s, q, w) = (stop.clone(), queries.clone(), worst_ms.clone());
        let task = tokio::spawn(async move {
            let c = super::try_connect_with(&config)
                .await
                .map_err(|e| format!("healthy session could not log in: {e}"))?;
            while !s.load(Ordering::SeqCst) {
                let t = Instant::now();
                let row = c
                    .query_one("SELECT 1", &[])
                    .await
                    .map_err(|e| format!("healthy session failed: {e}"))?;
                let one: i32 = row.get(0);
                if one != 1 {
                    return Err(format!("healthy session got {one}"));
                }
                w.fetch_max(t.elapsed().as_millis() as u64, Ordering::SeqCst);
                q.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        });
        Health {
            stop,
            queries,
            worst_ms,
            task,
        }
    }

    /// Queries answered so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }

    /// Stops the session; panics if a query failed, none ran, or one took
    /// longer than `worst_allowed`.
    pub async fn finish(self, worst_allowed: Duration) -> HealthReport {
        self.stop.store(true, Ordering::SeqCst);
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("healthy session task: {e}"),
        }
        let report = HealthReport {
            queries: self.queries.load(Ordering::SeqCst),
            worst: Duration::from_millis(self.worst_ms.load(Ordering::SeqCst)),
        };
        assert!(report.queries > 0, "the healthy session ran no query");
        assert!(
            report.worst <= worst_allowed,
            "the healthy session waited {:?} for one query",
            report.worst
        );
        report
    }
}
