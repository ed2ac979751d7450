//! The executor pool actor: backend connections per target (database and
//! identity), each on its own executor thread. Checkout hands a session a
//! [`Lease`]; dropping the lease checks the connection back in, and the pool
//! resets it (rollback) before anyone else gets it. A session waits up to
//! `backend.query_wait_timeout` when every connection is busy. Cancel
//! requests interrupt the statement of the session holding the lease.
//!
//! When opening a connection fails for want of the backend (SQLSTATE class
//! 08: IRIS down or unreachable), no new attempt is made for that target
//! for a backoff period (doubling from [`BACKOFF_MIN`] to [`BACKOFF_MAX`],
//! reset by a success); checkouts meanwhile get the last error at once, so
//! a crowd of reconnecting clients never turns into a connect storm.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, warn};
use tokio::sync::oneshot;

use crate::backend::worker::{Faults, Lease, WorkerHandle};
use crate::backend::{Backend, Target};
use crate::wire::error::{PgError, sqlstate};

type Waiter = (i32, oneshot::Sender<Result<WorkerHandle, PgError>>);

/// The first pause after a failed connect, and the longest.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// No connection attempts until `until`, after `error`.
struct Backoff {
    until: Instant,
    delay: Duration,
    error: PgError,
}

#[derive(Default)]
struct Pool {
    idle: Vec<WorkerHandle>,
    /// Connections open or opening.
    open: usize,
    waiters: VecDeque<Waiter>,
    backoff: Option<Backoff>,
    /// A wake-up at the end of the backoff is scheduled.
    retry_scheduled: bool,
}

/// Whether a failed connect means the backend is unavailable (as opposed to
/// this target's credentials or namespace being refused).
fn is_unavailable(e: &PgError) -> bool {
    e.code.starts_with("08")
}

/// What a checkout gets during a backoff: the error of the last attempt.
fn backoff_error(b: &Backoff, now: Instant) -> PgError {
    let mut e = b.error.clone();
    if e.detail.is_none() {
        let wait = b.until.saturating_duration_since(now);
        e = e.with_detail(format!(
            "The last connection attempt failed; pgiris tries again in {} ms.",
            wait.as_millis().max(1)
        ));
    }
    e
}

/// Pool settings (replaced on reload).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub pool_size: usize,
    pub query_wait_timeout: Duration,
    pub faults: Faults,
}

pub struct ExecutorPool {
    backend: Arc<dyn Backend>,
    settings: PoolSettings,
    pools: HashMap<Target, Pool>,
    /// Which worker serves which session, for cancel.
    active: HashMap<i32, WorkerHandle>,
    next_worker: u64,
    log: Logger,
}

impl ExecutorPool {
    pub fn new(backend: Arc<dyn Backend>, settings: PoolSettings, log: Logger) -> ExecutorPool {
        ExecutorPool {
            backend,
            settings,
            pools: HashMap::new(),
            active: HashMap::new(),
            next_worker: 1,
            log,
        }
    }

    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    fn lease(addr: Addr<ExecutorPool>, target: Target, pid: i32, worker: WorkerHandle) -> Lease {
        Lease::new(worker, move |w, needs_reset| {
            addr.do_send(Checkin {
                target,
                pid,
                worker: w,
                needs_reset,
            })
        })
    }

    /// Opens a connection for the first waiter of `target` if there is room.
    fn open_for_waiter(&mut self, target: &Target, ctx: &mut Context<Self>) {
        let Some(pool) = self.pools.get_mut(target) else {
            return;
        };
        while pool.waiters.front().is_some_and(|(_, tx)| tx.is_closed()) {
            pool.waiters.pop_front();
        }
        if pool.waiters.is_empty() || pool.open >= self.settings.pool_size {
            return;
        }
        let now = Instant::now();
        if let Some(b) = pool.backoff.as_ref().filter(|b| b.until > now) {
            if pool.open == 0 {
                // Nothing could come back to them: they get the last error.
                let e = backoff_error(b, now);
                for (_, tx) in pool.waiters.drain(..) {
                    let _ = tx.send(Err(e.clone()));
                }
            } else if !pool.retry_scheduled {
                // Busy connections may come back; else try after the pause.
                pool.retry_scheduled = true;
                let target = target.clone();
                ctx.run_later(b.until - now, move |act, ctx| {
                    if let Some(pool) = act.pools.get_mut(&target) {
                        pool.retry_scheduled = false;
                    }
                    act.open_for_waiter(&target, ctx);
                });
            }
            return;
        }
        pool.open += 1;
        let id = self.next_worker;
        self.next_worker += 1;
        let (ready_tx, ready_rx) = oneshot::channel();
        let started = WorkerHandle::start(
            id,
            self.backend.clone(),
            target.clone(),
            self.settings.faults.clone(),
            ready_tx,
        );
        let target = target.clone();
        let fut = async move {
            match started {
                Ok(w) => match ready_rx.await {
                    Ok(Ok(())) => Ok(w),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(PgError::internal("executor thread ended while connecting")),
                },
                Err(e) => Err(e),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |r, act, ctx| {
            let Some(pool) = act.pools.get_mut(&target) else { return };
            match r {
                Ok(w) => {
                    pool.backoff = None;
                    act.give(&target, w, ctx)
                }
                Err(e) => {
                    pool.open -= 1;
                    if is_unavailable(&e) {
                        let delay = pool
                            .backoff
                            .as_ref()
                            .map(|b| (b.delay * 2).min(BACKOFF_MAX))
                            .unwrap_or(BACKOFF_MIN);
                        pool.backoff = Some(Backoff {
                            until: Instant::now() + delay,
                            delay,
                            error: e.clone(),
                        });
                    }
                    warn!(act.log, "backend connection failed"; "database" => &target.database, "error" => &e.message);
                    // The waiter that caused the attempt gets the error.
                    if let Some((_, tx)) = pool.waiters.pop_front() {
                        let _ = tx.send(Err(e));
                    }
                    act.open_for_waiter(&target, ctx);
                    act.prune(&target);
                }
            }
        }));
    }

    /// Forgets the pool of `target` when nothing is left in it, so targets
    /// that never got a connection (a client's wrong IRIS password, with
    /// the hba method `iris`) do not pile up.
    fn prune(&mut self, target: &Target) {
        if self.pools.get(target).is_some_and(|p| {
            p.idle.is_empty()
                && p.open == 0
                && p.waiters.is_empty()
                && p.backoff.is_none()
                && !p.retry_scheduled
        }) {
            self.pools.remove(target);
        }
    }

    /// A free connection: to the first waiter still waiting, else idle.
    fn give(&mut self, target: &Target, worker: WorkerHandle, ctx: &mut Context<Self>) {
        let Some(pool) = self.pools.get_mut(target) else {
            return;
        };
        let mut worker = Some(worker);
        while let Some((pid, tx)) = pool.waiters.pop_front() {
            let Some(w) = worker.take() else { break };
            self.active.insert(pid, w.clone());
            match tx.send(Ok(w)) {
                Ok(()) => break,
                Err(Ok(w)) => {
                    self.active.remove(&pid);
                    worker = Some(w);
                }
                Err(Err(_)) => break,
            }
        }
        if let Some(w) = worker {
            pool.idle.push(w);
        }
        let _ = ctx;
    }
}

impl Actor for ExecutorPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervised for ExecutorPool {}

/// Checks out a connection for a session.
#[derive(Message)]
#[rtype(result = "Result<Lease, PgError>")]
pub struct Checkout {
    pub target: Target,
    pub pid: i32,
}

impl Handler<Checkout> for ExecutorPool {
    type Result = ResponseActFuture<Self, Result<Lease, PgError>>;

    fn handle(&mut self, m: Checkout, ctx: &mut Context<Self>) -> Self::Result {
        let addr = ctx.address();
        let pool = self.pools.entry(m.target.clone()).or_default();
        if let Some(w) = pool.idle.pop() {
            self.active.insert(m.pid, w.clone());
            let lease = Self::lease(addr, m.target, m.pid, w);
            return Box::pin(actix::fut::ready(Ok(lease)));
        }
        let (tx, rx) = oneshot::channel();
        pool.waiters.push_back((m.pid, tx));
        self.open_for_waiter(&m.target, ctx);
        let wait = self.settings.query_wait_timeout;
        let target = m.target;
        let pid = m.pid;
        Box::pin(
            async move {
                match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(PgError::internal("the executor pool went away")),
                    Err(_) => Err(PgError::error(
                        sqlstate::TOO_MANY_CONNECTIONS,
                        "timed out waiting for a free backend connection",
                    )
                    .with_hint("Raise backend.pool_size or backend.query_wait_timeout.")),
                }
            }
            .into_actor(self)
            .map(move |r, _act, _ctx| r.map(|w| Self::lease(addr, target, pid, w))),
        )
    }
}

/// A lease ended: reset the connection, then reuse or retire it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Checkin {
    pub target: Target,
    pub pid: i32,
    pub worker: WorkerHandle,
    pub needs_reset: bool,
}

impl Handler<Checkin> for ExecutorPool {
    type Result = ();

    fn handle(&mut self, m: Checkin, ctx: &mut Context<Self>) {
        if self
            .active
            .get(&m.pid)
            .is_some_and(|w| w.id() == m.worker.id())
        {
            self.active.remove(&m.pid);
        }
        let worker = m.worker;
        let target = m.target;
        if !m.needs_reset {
            self.give(&target, worker, ctx);
            return;
        }
        ctx.spawn(
            async move {
                let ok = worker.reset().await;
                (worker, ok)
            }
            .into_actor(self)
            .map(move |(worker, ok), act, ctx| {
                if ok {
                    act.give(&target, worker, ctx);
                } else if let Some(pool) = act.pools.get_mut(&target) {
                    // Unusable: drop it (its thread ends with the channel).
                    pool.open -= 1;
                    act.open_for_waiter(&target, ctx);
                    act.prune(&target);
                }
            }),
        );
    }
}

/// Interrupts the statement running for a session (CancelRequest).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelBackend {
    pub pid: i32,
}

impl Handler<CancelBackend> for ExecutorPool {
    type Result = ();

    fn handle(&mut self, m: CancelBackend, _: &mut Context<Self>) {
        // The session repeats it until the statement ends (see
        // `CancelStatement`); this is the quick first interrupt.
        if let Some(w) = self.active.get(&m.pid) {
            w.cancel();
        }
    }
}

/// New settings after a reload.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPoolSettings(pub PoolSettings);

impl Handler<SetPoolSettings> for ExecutorPool {
    type Result = ();

    fn handle(&mut self, m: SetPoolSettings, _: &mut Context<Self>) {
        self.settings = m.0;
    }
}

/// Closes idle connections (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseIdle;

impl Handler<CloseIdle> for ExecutorPool {
    type Result = ();

    fn handle(&mut self, _: CloseIdle, _: &mut Context<Self>) {
        for pool in self.pools.values_mut() {
            pool.open -= pool.idle.len();
            pool.idle.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::backend::{BackendConnection, Identity};

    /// A backend double whose every connect fails with `code`.
    struct Refusing {
        code: &'static str,
        connects: Arc<AtomicUsize>,
    }

    impl Backend for Refusing {
        fn kind(&self) -> &'static str {
            "refusing test double"
        }
        fn serves_database(&self, _: &str) -> bool {
            true
        }
        fn connect(&self, _: &Target) -> Result<Box<dyn BackendConnection>, PgError> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            Err(PgError::error(self.code, "refused by the test double"))
        }
        fn describe_backend(&self) -> String {
            "refusing".into()
        }
    }

    #[derive(Message)]
    #[rtype(result = "usize")]
    struct PoolCount;

    impl Handler<PoolCount> for ExecutorPool {
        type Result = usize;
        fn handle(&mut self, _: PoolCount, _: &mut Context<Self>) -> usize {
            self.pools.len()
        }
    }

    fn start(code: &'static str) -> (Addr<ExecutorPool>, Arc<AtomicUsize>) {
        let connects = Arc::new(AtomicUsize::new(0));
        let backend = Arc::new(Refusing {
            code,
            connects: connects.clone(),
        });
        let settings = PoolSettings {
            pool_size: 4,
            query_wait_timeout: Duration::from_secs(5),
            faults: Faults::default(),
        };
        let log = Logger::root(slog::Discard, slog::o!());
        (ExecutorPool::new(backend, settings, log).start(), connects)
    }

    fn target(user: &str) -> Target {
        Target {
            database: "USER".into(),
            identity: Identity::User {
                name: user.into(),
                password: crate::backend::Secret::new("pw"),
            },
        }
    }

    #[test]
    fn unavailable_backend_backs_off() {
        actix::System::new().block_on(async {
            let (pool, connects) = start(sqlstate::CONNECTION_FAILURE);
            let checkout = |pid| Checkout {
                target: target("u"),
                pid,
            };
            let first = pool.send(checkout(1)).await.unwrap().unwrap_err();
            assert_eq!(first.code, "08006");
            assert_eq!(first.detail, None);
            // Within the backoff: the same error at once, no new attempt.
            for pid in 2..10 {
                let e = pool.send(checkout(pid)).await.unwrap().unwrap_err();
                assert_eq!(e.message, first.message);
                assert!(
                    e.detail
                        .as_deref()
                        .is_some_and(|d| d.contains("tries again"))
                );
            }
            assert_eq!(connects.load(Ordering::SeqCst), 1);
            // After it, a new attempt.
            tokio::time::sleep(BACKOFF_MIN + Duration::from_millis(50)).await;
            let _ = pool.send(checkout(10)).await.unwrap().unwrap_err();
            assert_eq!(connects.load(Ordering::SeqCst), 2);
            assert_eq!(
                pool.send(PoolCount).await.unwrap(),
                1,
                "kept for its backoff"
            );
        });
    }

    #[test]
    fn refused_credentials_neither_back_off_nor_pile_up() {
        actix::System::new().block_on(async {
            let (pool, connects) = start(sqlstate::INVALID_PASSWORD);
            for n in 0..5 {
                let e = pool
                    .send(Checkout {
                        target: target(&format!("user{n}")),
                        pid: n,
                    })
                    .await
                    .unwrap()
                    .unwrap_err();
                assert_eq!(e.code, "28P01");
            }
            assert_eq!(connects.load(Ordering::SeqCst), 5);
            assert_eq!(pool.send(PoolCount).await.unwrap(), 0);
        });
    }
}
