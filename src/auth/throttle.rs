//! Failure throttling by source address (`auth.max_failures`,
//! `auth.failure_window`, `auth.failure_delay`).
//!
//! An address that fails `max_failures` times within `failure_window`
//! becomes throttled: each further attempt from it waits `failure_delay`
//! before its answer. It stays throttled until a whole `failure_window`
//! passes without a failure from it. Other addresses are never affected.
//!
//! Decisions:
//! - IPv6 clients are counted per /64 (one host usually owns a whole /64,
//!   so per-address counting would be trivially evaded); IPv4-mapped IPv6
//!   addresses count as their IPv4 address. Unix-socket clients are not
//!   throttled (they are local).
//! - A successful login does **not** clear the count: otherwise an attacker
//!   holding one valid account could reset the count between guesses at
//!   another account's password. Counts expire with the window instead.
//! - Memory is bounded: at most `capacity` addresses are tracked. When the
//!   table is full, expired entries go first, then the least recently
//!   started half; each purge frees at least a quarter of the table, so the
//!   cost stays constant per failure however many addresses a flood uses.
//! - `max_failures = 0` turns throttling off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses tracked at most, by default (about 1 MB).
pub const DEFAULT_CAPACITY: usize = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
}

impl SourceKey {
    fn of(ip: IpAddr) -> SourceKey {
        match ip {
            IpAddr::V4(v4) => SourceKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey::V4(v4.into()),
                None => SourceKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the counting window; moved to the latest failure once the
    /// address is throttled.
    window_start: Instant,
    failures: u32,
}

/// Per-source failure counts. Owned by one authenticator; not shared.
#[derive(Debug)]
pub struct FailureThrottle {
    max_failures: u32,
    window: Duration,
    delay: Duration,
    capacity: usize,
    entries: HashMap<SourceKey, Entry>,
}

impl FailureThrottle {
    pub fn new(max_failures: u32, failure_window: Duration, failure_delay: Duration) -> Self {
        Self::with_capacity(
            max_failures,
            failure_window,
            failure_delay,
            DEFAULT_CAPACITY,
        )
    }

    pub fn with_capacity(
        max_failures: u32,
        failure_window: Duration,
        failure_delay: Duration,
        capacity: usize,
    ) -> Self {
        FailureThrottle {
            max_failures,
            window: failure_window,
            delay: failure_delay,
            capacity: capacity.max(4),
            entries: HashMap::new(),
        }
    }

    /// Counts one failed authentication from `ip`.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let key = SourceKey::of(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.purge(now);
        }
        let window = self.window;
        let entry = self.entries.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.window_start) >= window {
            *entry = Entry {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= self.max_failures {
            entry.window_start = now;
        }
    }

    /// How long an attempt from `ip` waits before its answer:
    /// `Duration::ZERO`, or `failure_delay` while `ip` is throttled.
    pub fn delay_for(&self, ip: IpAddr, now: Instant) -> Duration {
        if self.is_throttled(ip, now) {
            self.delay
        } else {
            Duration::ZERO
        }
    }

    pub fn is_throttled(&self, ip: IpAddr, now: Instant) -> bool {
        self.max_failures > 0
            && self.entries.get(&SourceKey::of(ip)).is_some_and(|e| {
                e.failures >= self.max_failures
                    && now.saturating_duration_since(e.window_start) < self.window
            })
    }

    /// Addresses currently tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn purge(&mut self, now: Instant) {
        let window = self.window;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.window_start) < window);
        if self.entries.len() > self.capacity / 4 * 3 {
            let mut starts: Vec<Instant> = self.entries.values().map(|e| e.window_start).collect();
            let middle = starts.len() / 2;
            let (_, cut, _) = starts.select_nth_unstable(middle);
            let cut = *cut;
            self.entries.retain(|_, e| e.window_start > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const W: Duration = Duration::from_secs(60);
    const D: Duration = Duration::from_secs(2);

    #[test]
    fn throttles_after_max_failures_within_the_window() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::new(3, W, D);
        let a = ip("10.0.0.1");
        t.record_failure(a, t0);
        t.record_failure(a, t0 + Duration::from_secs(1));
        assert_eq!(t.delay_for(a, t0 + Duration::from_secs(2)), Duration::ZERO);
        t.record_failure(a, t0 + Duration::from_secs(2));
        assert_eq!(t.delay_for(a, t0 + Duration::from_secs(3)), D);
        // Other sources are untouched.
        assert_eq!(
            t.delay_for(ip("10.0.0.2"), t0 + Duration::from_secs(3)),
            Duration::ZERO
        );
        // Throttled until a window passes after the last failure.
        t.record_failure(a, t0 + Duration::from_secs(50));
        assert_eq!(t.delay_for(a, t0 + Duration::from_secs(100)), D);
        assert_eq!(
            t.delay_for(a, t0 + Duration::from_secs(111)),
            Duration::ZERO
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_window_do_not_throttle() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::new(3, W, D);
        let a = ip("10.0.0.1");
        t.record_failure(a, t0);
        t.record_failure(a, t0 + Duration::from_secs(30));
        t.record_failure(a, t0 + Duration::from_secs(61));
        assert!(!t.is_throttled(a, t0 + Duration::from_secs(62)));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::new(2, W, D);
        t.record_failure(ip("2001:db8:1:2::1"), t0);
        t.record_failure(ip("2001:db8:1:2:ffff::9"), t0);
        assert!(t.is_throttled(ip("2001:db8:1:2::77"), t0));
        assert!(!t.is_throttled(ip("2001:db8:1:3::1"), t0));
        t.record_failure(ip("::ffff:192.0.2.1"), t0);
        t.record_failure(ip("192.0.2.1"), t0);
        assert!(t.is_throttled(ip("192.0.2.1"), t0));
    }

    #[test]
    fn zero_max_failures_disables() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::new(0, W, D);
        for _ in 0..10 {
            t.record_failure(ip("10.0.0.1"), t0);
        }
        assert_eq!(t.delay_for(ip("10.0.0.1"), t0), Duration::ZERO);
        assert!(t.is_empty());
    }

    #[test]
    fn a_flood_from_many_addresses_stays_bounded() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::with_capacity(3, W, D, 1000);
        let victim = ip("10.9.9.9");
        for _ in 0..3 {
            t.record_failure(victim, t0);
        }
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            t.record_failure(IpAddr::V4((0x0b00_0000 + i).into()), now);
            assert!(t.len() <= 1000);
        }
        // The flood evicted old entries; fresh sources still are counted.
        let now = t0 + Duration::from_secs(100);
        let fresh = ip("12.0.0.1");
        for _ in 0..3 {
            t.record_failure(fresh, now);
        }
        assert!(t.is_throttled(fresh, now));
    }

    #[test]
    fn expired_entries_are_purged_first() {
        let t0 = Instant::now();
        let mut t = FailureThrottle::with_capacity(2, W, D, 8);
        let keep = ip("10.0.0.1");
        for i in 0..7u32 {
            t.record_failure(IpAddr::V4((0x0b00_0000 + i).into()), t0);
        }
        let later = t0 + Duration::from_secs(61);
        t.record_failure(keep, later);
        t.record_failure(keep, later);
        t.record_failure(ip("10.0.0.2"), later);
        // The seven expired entries went; the live ones stayed.
        assert_eq!(t.len(), 2);
        assert!(t.is_throttled(keep, later));
    }
}
