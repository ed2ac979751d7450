//! The executor pool actor: backend connections per target (database and
//! identity), each on its own executor thread. Checkout hands a session a
//! [`Lease`]; dropping the lease checks the connection back in, and the pool
//! resets it (rollback) before anyone else gets it. A session waits up to
//! `backend.query_wait_timeout` when every connection is busy. Cancel
//! requests interrupt the statement of the session holding the lease.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use slog::{Logger, warn};
use tokio::sync::oneshot;

use crate::backend::worker::{Faults, Lease, WorkerHandle};
use crate::backend::{Backend, Target};
use crate::wire::error::{PgError, sqlstate};

type Waiter = (i32, oneshot::Sender<Result<WorkerHandle, PgError>>);

#[derive(Default)]
struct Pool {
    idle: Vec<WorkerHandle>,
    /// Connections open or opening.
    open: usize,
    waiters: VecDeque<Waiter>,
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
                Ok(w) => act.give(&target, w, ctx),
                Err(e) => {
                    pool.open -= 1;
                    warn!(act.log, "backend connection failed"; "database" => &target.database, "error" => &e.message);
                    // The waiter that caused the attempt gets the error.
                    if let Some((_, tx)) = pool.waiters.pop_front() {
                        let _ = tx.send(Err(e));
                    }
                    act.open_for_waiter(&target, ctx);
                }
            }
        }));
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
