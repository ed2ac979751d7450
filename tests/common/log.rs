//! A test double for the server's log: an slog drain that keeps every
//! record (level, message, and all key/values, the logger's context
//! included) so tests can assert on the security events an in-process
//! server logs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slog::{Drain, Key, Level, OwnedKVList, Record, Serializer, o};

/// One captured log record.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: Level,
    pub msg: String,
    pub kv: BTreeMap<String, String>,
}

impl LogRecord {
    /// The value of `key` (record values win over the logger's context).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kv.get(key).map(String::as_str)
    }

    /// The `event` key, if any.
    pub fn event(&self) -> Option<&str> {
        self.get("event")
    }

    /// Warning, error or critical.
    pub fn is_problem(&self) -> bool {
        self.level.is_at_least(Level::Warning)
    }
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level.as_short_str(), self.msg)?;
        for (k, v) in &self.kv {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// The records a server logged so far (cheap to clone; shared).
#[derive(Clone, Default)]
pub struct CapturedLog {
    records: Arc<Mutex<Vec<LogRecord>>>,
}

struct Collect(BTreeMap<String, String>);

impl Serializer for Collect {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        // The first value for a key wins: record values are serialized
        // before the logger's context.
        self.0
            .entry(key.to_string())
            .or_insert_with(|| val.to_string());
        Ok(())
    }
}

struct CaptureDrain(Arc<Mutex<Vec<LogRecord>>>);

impl Drain for CaptureDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        use slog::KV;
        let mut c = Collect(BTreeMap::new());
        let _ = record.kv().serialize(record, &mut c);
        let _ = values.serialize(record, &mut c);
        let r = LogRecord {
            level: record.level(),
            msg: record.msg().to_string(),
            kv: c.0,
        };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        Ok(())
    }
}

impl CapturedLog {
    /// A logger writing into this capture.
    pub fn logger(&self) -> slog::Logger {
        slog::Logger::root(CaptureDrain(self.records.clone()).fuse(), o!())
    }

    /// Everything logged so far.
    pub fn records(&self) -> Vec<LogRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records with this `event` key.
    pub fn events(&self, event: &str) -> Vec<LogRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.event() == Some(event))
            .collect()
    }

    /// How many records exist now (to look only at later ones with
    /// [`CapturedLog::since`]).
    pub fn mark(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Records logged after `mark`.
    pub fn since(&self, mark: usize) -> Vec<LogRecord> {
        self.records().into_iter().skip(mark).collect()
    }

    /// Waits until a record after `mark` satisfies `pred`; panics with the
    /// log's content after `timeout`.
    pub async fn wait_for(
        &self,
        mark: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&LogRecord) -> bool,
    ) -> LogRecord {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.since(mark).into_iter().find(|r| pred(r)) {
                return r;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "no log record for {what} within {timeout:?}; log:\n{}",
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The whole log as text (for assertion messages).
    pub fn dump(&self) -> String {
        self.records()
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
