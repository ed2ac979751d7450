//! The registry actor: connection slots (total, reserved, per user, per
//! database), cancel keys, and the roster of live sessions for shutdown.
//!
//! A slot is held by a [`SlotGuard`]; its `Drop` gives the slot and the
//! cancel key back, so they are released on every path out of a session,
//! a panic included (the guard is dropped while the panicking actor
//! unwinds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix::prelude::*;
use bytes::Bytes;
use slog::{Logger, info, warn};
use subtle::ConstantTimeEq;

use crate::actors::executor_pool::{CancelBackend, ExecutorPool};
use crate::config::ServerSettings;
use crate::log::event;
use crate::session::run::Shutdown;
use crate::wire::error::{PgError, sqlstate};

/// Counters other threads read without a message round trip (tests,
/// the listener's pending check, metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Sessions holding a slot.
    pub sessions: AtomicUsize,
    /// The most sessions at once since this was last reset (by the memory
    /// trim, which watches for bursts that ended).
    pub sessions_high_water: AtomicUsize,
    /// Sockets accepted and not yet admitted or refused.
    pub pending: AtomicUsize,
    /// Cancel requests that matched a session.
    pub cancels_matched: AtomicUsize,
    /// Cancel requests that matched nothing (or were refused by the rate limit).
    pub cancels_unmatched: AtomicUsize,
    /// Of those, the ones the per-source budget dropped unexamined.
    pub cancels_rate_limited: AtomicUsize,
}

/// The limits in force (replaced on reload).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub reserved_connections: usize,
    pub admin_users: Vec<String>,
    pub max_user_connections: usize,
    pub max_db_connections: usize,
    pub user_limits: HashMap<String, usize>,
    pub database_limits: HashMap<String, usize>,
    pub unmatched_cancels_per_second: u32,
}

impl Limits {
    pub fn from_settings(s: &ServerSettings) -> Limits {
        Limits {
            max_connections: s.max_connections,
            reserved_connections: s.reserved_connections,
            admin_users: s.admin_users.clone(),
            max_user_connections: s.max_user_connections,
            max_db_connections: s.max_db_connections,
            user_limits: s.user_connection_limits.clone().into_iter().collect(),
            database_limits: s.database_connection_limits.clone().into_iter().collect(),
            unmatched_cancels_per_second: s.max_unmatched_cancels_per_second,
        }
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.admin_users.iter().any(|a| a == user)
    }
}

struct Entry {
    secret: Bytes,
    user: String,
    database: String,
    session: Recipient<AdminShutdown>,
    canceller: Recipient<CancelStatement>,
}

/// Per-source budget for cancel requests that match nothing.
struct CancelBudget {
    tokens: f64,
    last: Instant,
}

const CANCEL_BURST: f64 = 10.0;
const MAX_CANCEL_SOURCES: usize = 10_000;

pub struct Registry {
    limits: Limits,
    sessions: HashMap<i32, Entry>,
    per_user: HashMap<String, usize>,
    per_db: HashMap<String, usize>,
    next_pid: i32,
    stats: Arc<Stats>,
    pool: Addr<ExecutorPool>,
    cancel_budget: HashMap<IpAddr, CancelBudget>,
    last_mismatch_log: Option<Instant>,
    suppressed_mismatch_logs: u64,
    /// Fault injection (debug builds): Admit for this user panics.
    panic_on_user: Option<String>,
    log: Logger,
}

impl Registry {
    pub fn new(
        limits: Limits,
        stats: Arc<Stats>,
        pool: Addr<ExecutorPool>,
        log: Logger,
    ) -> Registry {
        let mut seed = [0u8; 4];
        rand::fill(&mut seed);
        Registry {
            limits,
            sessions: HashMap::new(),
            per_user: HashMap::new(),
            per_db: HashMap::new(),
            next_pid: (i32::from_be_bytes(seed) & 0x3fff_ffff).max(1),
            stats,
            pool,
            cancel_budget: HashMap::new(),
            last_mismatch_log: None,
            suppressed_mismatch_logs: 0,
            panic_on_user: None,
            log,
        }
    }

    /// Fault injection for the panic-policy tests (`testing.panic_in_registry_on_user`).
    pub fn with_panic_on_user(mut self, user: Option<String>) -> Registry {
        self.panic_on_user = user;
        self
    }

    fn allocate_pid(&mut self) -> i32 {
        loop {
            let pid = self.next_pid;
            self.next_pid = if self.next_pid >= i32::MAX - 1 {
                1
            } else {
                self.next_pid + 1
            };
            if !self.sessions.contains_key(&pid) {
                return pid;
            }
        }
    }

    /// PostgreSQL's checks and messages, in its order.
    fn check(&self, user: &str, database: &str) -> Result<(), PgError> {
        let total = self.sessions.len();
        let l = &self.limits;
        let too_many = |m: String| PgError::fatal(sqlstate::TOO_MANY_CONNECTIONS, m);
        if total >= l.max_connections {
            return Err(too_many("sorry, too many clients already".into()));
        }
        if total >= l.max_connections - l.reserved_connections && !l.is_admin(user) {
            return Err(too_many(
                "remaining connection slots are reserved for roles with the SUPERUSER attribute"
                    .into(),
            ));
        }
        let user_cap = l
            .user_limits
            .get(user)
            .copied()
            .unwrap_or(l.max_user_connections);
        if user_cap > 0 && self.per_user.get(user).copied().unwrap_or(0) >= user_cap {
            return Err(too_many(format!(
                "too many connections for role \"{user}\""
            )));
        }
        let db_cap = l
            .database_limits
            .get(database)
            .copied()
            .unwrap_or(l.max_db_connections);
        if db_cap > 0 && self.per_db.get(database).copied().unwrap_or(0) >= db_cap {
            return Err(too_many(format!(
                "too many connections for database \"{database}\""
            )));
        }
        Ok(())
    }

    fn cancel_allowed(&mut self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return true };
        let rate = f64::from(self.limits.unmatched_cancels_per_second.max(1));
        let now = Instant::now();
        if self.cancel_budget.len() >= MAX_CANCEL_SOURCES && !self.cancel_budget.contains_key(&ip) {
            // Forget sources whose budget is full again.
            self.cancel_budget.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * rate < CANCEL_BURST
            });
            if self.cancel_budget.len() >= MAX_CANCEL_SOURCES {
                return false;
            }
        }
        let b = self.cancel_budget.entry(ip).or_insert(CancelBudget {
            tokens: CANCEL_BURST,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(CANCEL_BURST);
        b.last = now;
        b.tokens >= 1.0
    }

    fn charge_unmatched(&mut self, ip: Option<IpAddr>) {
        if let Some(b) = ip.and_then(|ip| self.cancel_budget.get_mut(&ip)) {
            b.tokens -= 1.0;
        }
    }

    fn log_mismatch(&mut self, pid: i32, ip: Option<IpAddr>, why: &str) {
        let now = Instant::now();
        match self.last_mismatch_log {
            Some(t) if now.duration_since(t).as_secs() < 1 => self.suppressed_mismatch_logs += 1,
            _ => {
                let peer = ip.map(|i| i.to_string()).unwrap_or_default();
                info!(self.log, "cancel request did not match any session";
                    "event" => event::CANCEL_REQUEST, "outcome" => why, "pid" => pid, "peer" => peer,
                    "suppressed" => self.suppressed_mismatch_logs);
                self.last_mismatch_log = Some(now);
                self.suppressed_mismatch_logs = 0;
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervised for Registry {}

/// Holds a connection slot and cancel key; dropping it releases both.
pub struct SlotGuard {
    pid: i32,
    registry: Addr<Registry>,
}

impl SlotGuard {
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.registry.do_send(Release { pid: self.pid });
    }
}

/// A granted slot.
pub struct Admission {
    pub pid: i32,
    pub secret: Bytes,
    pub guard: SlotGuard,
}

/// Asks for a slot for a client that sent its StartupMessage. It names
/// the session actor that will serve the client (created, not yet running:
/// messages wait in its mailbox), for shutdown and cancel requests, so
/// admission is one message to the registry.
#[derive(Message)]
#[rtype(result = "Result<Admission, PgError>")]
pub struct Admit {
    pub user: String,
    pub database: String,
    /// Protocol 3.2: a 32-byte secret; otherwise 4 bytes.
    pub long_key: bool,
    pub session: Recipient<AdminShutdown>,
    pub cancel: Recipient<CancelStatement>,
}

impl Handler<Admit> for Registry {
    type Result = Result<Admission, PgError>;

    fn handle(&mut self, m: Admit, ctx: &mut Context<Self>) -> Self::Result {
        if self.panic_on_user.as_deref() == Some(m.user.as_str()) {
            panic!("fault injection: panic_in_registry_on_user");
        }
        if let Err(e) = self.check(&m.user, &m.database) {
            warn!(self.log, "connection refused by limit"; "event" => event::LIMIT_REJECTED,
                "user" => &m.user, "database" => &m.database, "reason" => &e.message);
            return Err(e);
        }
        let pid = self.allocate_pid();
        let mut secret = vec![0u8; if m.long_key { 32 } else { 4 }];
        rand::fill(&mut secret[..]);
        *self.per_user.entry(m.user.clone()).or_default() += 1;
        *self.per_db.entry(m.database.clone()).or_default() += 1;
        let secret = Bytes::from(secret);
        self.sessions.insert(
            pid,
            Entry {
                secret: secret.clone(),
                user: m.user,
                database: m.database,
                session: m.session,
                canceller: m.cancel,
            },
        );
        self.stats
            .sessions
            .store(self.sessions.len(), Ordering::SeqCst);
        self.stats
            .sessions_high_water
            .fetch_max(self.sessions.len(), Ordering::SeqCst);
        Ok(Admission {
            pid,
            secret,
            guard: SlotGuard {
                pid,
                registry: ctx.address(),
            },
        })
    }
}

/// A session's slot is free again (sent by [`SlotGuard`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub pid: i32,
}

fn decrement(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Handler<Release> for Registry {
    type Result = ();

    fn handle(&mut self, m: Release, _: &mut Context<Self>) {
        if let Some(e) = self.sessions.remove(&m.pid) {
            decrement(&mut self.per_user, &e.user);
            decrement(&mut self.per_db, &e.database);
        }
        self.stats
            .sessions
            .store(self.sessions.len(), Ordering::SeqCst);
    }
}

/// A matched CancelRequest, for the session: it cancels a statement the
/// session is still working towards (the executor pool interrupts one
/// already running on its connection).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct CancelStatement;

/// Tells a session to end (SIGINT: fast; SIGTERM: smart).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct AdminShutdown(pub Shutdown);

/// Broadcasts a shutdown to every session.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ShutdownAll(pub Shutdown);

impl Handler<ShutdownAll> for Registry {
    type Result = usize;

    fn handle(&mut self, m: ShutdownAll, _: &mut Context<Self>) -> usize {
        for e in self.sessions.values() {
            e.session.do_send(AdminShutdown(m.0));
        }
        self.sessions.len()
    }
}

/// A CancelRequest arrived.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelRequest {
    pub pid: i32,
    pub secret: Bytes,
    pub peer: Option<IpAddr>,
}

impl Handler<CancelRequest> for Registry {
    type Result = ();

    fn handle(&mut self, m: CancelRequest, _: &mut Context<Self>) {
        if !self.cancel_allowed(m.peer) {
            self.stats.cancels_unmatched.fetch_add(1, Ordering::Relaxed);
            self.stats
                .cancels_rate_limited
                .fetch_add(1, Ordering::Relaxed);
            self.log_mismatch(m.pid, m.peer, "rate limited");
            return;
        }
        let matched = self.sessions.get(&m.pid).filter(|e| {
            e.secret.len() == m.secret.len()
                && bool::from(e.secret.as_ref().ct_eq(m.secret.as_ref()))
        });
        if let Some(entry) = matched {
            entry.canceller.do_send(CancelStatement);
            self.stats.cancels_matched.fetch_add(1, Ordering::Relaxed);
            info!(self.log, "cancel request matched"; "event" => event::CANCEL_REQUEST,
                "outcome" => "matched", "pid" => m.pid);
            self.pool.do_send(CancelBackend { pid: m.pid });
        } else {
            self.stats.cancels_unmatched.fetch_add(1, Ordering::Relaxed);
            self.charge_unmatched(m.peer);
            self.log_mismatch(m.pid, m.peer, "no match");
        }
    }
}

/// New limits after a reload.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLimits(pub Limits);

impl Handler<SetLimits> for Registry {
    type Result = ();

    fn handle(&mut self, m: SetLimits, _: &mut Context<Self>) {
        self.limits = m.0;
    }
}
