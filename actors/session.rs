//! The session actor: one per client, on the worker arbiter that accepted
//! it. It owns the connection's slot guard (the registry learned its
//! address at admission, for shutdown and cancel requests), and runs two
//! futures in its context: the frame reader and the
//! session loop of `src/session/run.rs`. Dropping the actor (normal stop or
//! a panic unwinding through it) drops both futures, the socket, the lease
//! and the slot guard, so nothing outlives it.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use slog::{Logger, info};
use tokio_util::codec::FramedRead;

use crate::actors::authenticator::{Authenticator, Outcome, Plan};
use crate::actors::executor_pool::{Checkout, ExecutorPool};
use crate::actors::registry::{AdminShutdown, CancelStatement, SlotGuard};
use crate::backend::worker::Lease;
use crate::backend::{Backend, Interrupter, Target};
use crate::log::event;
use crate::net::stream::ClientStream;
use crate::session::driver::CancelSignal;
use crate::session::run::{self, Control, EndReason, Shutdown};
use crate::session::{Authenticate, BackendAccess, Conversation, LoginFacts, LoginPlan};
use crate::wire::codec::{FrameCodec, MAX_PRE_AUTH_MESSAGE};
use crate::wire::error::{PgError, sqlstate};

/// The executor pool as a session sees it.
pub struct PoolClient {
    pub pool: Addr<ExecutorPool>,
    pub backend: Arc<dyn Backend>,
}

impl BackendAccess for PoolClient {
    fn serves_database(&self, database: &str) -> bool {
        self.backend.serves_database(database)
    }

    fn checkout(
        &self,
        target: Target,
        pid: i32,
    ) -> LocalBoxFuture<'static, Result<Lease, PgError>> {
        let req = self.pool.send(Checkout { target, pid });
        Box::pin(async move {
            req.await.map_err(|_| {
                PgError::error(
                    sqlstate::CANNOT_CONNECT_NOW,
                    "the executor pool is not available",
                )
            })?
        })
    }
}

/// The authenticator as a session sees it.
pub struct AuthClient {
    pub authenticator: Addr<Authenticator>,
}

impl Authenticate for AuthClient {
    fn plan(&self, facts: &LoginFacts) -> LocalBoxFuture<'static, Result<LoginPlan, PgError>> {
        let req = self.authenticator.send(Plan(facts.clone()));
        Box::pin(async move {
            req.await.map_err(|_| {
                PgError::fatal(
                    sqlstate::CANNOT_CONNECT_NOW,
                    "the authenticator is not available",
                )
            })
        })
    }

    fn report(&self, facts: &LoginFacts, success: bool) {
        // Only failures feed the throttle: a success costs no message.
        if success {
            return;
        }
        self.authenticator.do_send(Outcome {
            peer: facts.peer.map(|p| p.ip()),
            success,
        });
    }
}

/// Everything a session starts with.
/// Initial capacity of a session's read buffer.
const READ_BUFFER: usize = 256;

pub struct SessionStart {
    pub conversation: Conversation<tokio::io::WriteHalf<ClientStream>>,
    pub reader: tokio::io::ReadHalf<ClientStream>,
    pub guard: SlotGuard,
    pub login_deadline: tokio::time::Instant,
    pub log: Logger,
    pub peer: SocketAddr,
    pub log_connections: bool,
}

pub struct Session {
    /// Boxed: taken when the actor starts, so an idle session does not
    /// keep the Conversation's size (about 1.1 KiB) inline as a `None`.
    start: Option<Box<SessionStart>>,
    control: Rc<Control>,
    running: Rc<RefCell<Option<Interrupter>>>,
    terminating: Rc<Cell<bool>>,
    cancel: Rc<CancelSignal>,
    guard: Option<SlotGuard>,
    end: Option<EndReason>,
    started: Instant,
    log: Logger,
    log_connections: bool,
}

impl Session {
    pub fn new(start: SessionStart) -> Session {
        let log = start.log.clone();
        let log_connections = start.log_connections;
        Session {
            running: start.conversation.running_statement(),
            terminating: start.conversation.terminating(),
            cancel: start.conversation.cancel_signal(),
            start: Some(Box::new(start)),
            control: Rc::new(Control::default()),
            guard: None,
            end: None,
            started: Instant::now(),
            log,
            log_connections,
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(start) = self.start.take().map(|b| *b) else {
            ctx.stop();
            return;
        };
        self.guard = Some(start.guard);
        let (codec, max_len) = FrameCodec::new(MAX_PRE_AUTH_MESSAGE);
        // Small to start: an idle session should cost little memory; the
        // buffer grows as messages need it.
        let framed = FramedRead::with_capacity(start.reader, codec, READ_BUFFER);
        let (tx, rx) = run::frame_queue();
        let mut conversation = start.conversation;
        let rf = run::read_frames(
            framed,
            tx,
            self.running.clone(),
            self.control.clone(),
            conversation.client_gone(),
        );
        ctx.spawn(rf.into_actor(self));
        let control = self.control.clone();
        let log = self.log.clone();
        let deadline = start.login_deadline;
        let max_len: Rc<Cell<usize>> = max_len;
        let fut =
            async move { run::run(&mut conversation, rx, &control, max_len, deadline, &log).await };
        ctx.spawn(fut.into_actor(self).map(|reason, act, ctx| {
            act.end = Some(reason);
            ctx.stop();
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.log_connections {
            let reason = self
                .end
                .as_ref()
                .map(EndReason::as_str)
                .unwrap_or("stopped");
            info!(self.log, "disconnected"; "event" => event::DISCONNECTED,
                "duration_ms" => self.started.elapsed().as_millis() as u64, "reason" => reason);
        }
    }
}

impl Handler<AdminShutdown> for Session {
    type Result = ();

    fn handle(&mut self, m: AdminShutdown, _: &mut Context<Self>) {
        if m.0 == Shutdown::Fast {
            self.terminating.set(true);
        }
        self.control.shutdown(m.0);
        // As a cancel (repeated until the statement stops); `terminating`
        // turns its 57014 into FATAL 57P01.
        if m.0 == Shutdown::Fast
            && self.cancel.request()
            && let Some(i) = self.running.borrow().as_ref()
        {
            i.interrupt();
        }
    }
}

impl Handler<CancelStatement> for Session {
    type Result = ();

    fn handle(&mut self, _: CancelStatement, _: &mut Context<Self>) {
        if self.cancel.request()
            && let Some(i) = self.running.borrow().as_ref()
        {
            i.interrupt();
        }
    }
}
