//! The listener actor: accepts on every configured address and hands each
//! socket to a worker arbiter (round robin), where negotiation runs and the
//! session actor starts. Accept errors (the file-descriptor limit, most
//! often) back off instead of spinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use bytes::BytesMut;
use slog::{debug, info, o, warn};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::actors::Shared;
use crate::actors::registry::{Admit, CancelRequest};
use crate::actors::session::{AuthClient, PoolClient, Session, SessionStart};
use crate::log::event;
use crate::net::negotiate::{Refusal, Request, negotiate};
use crate::session::{Conversation, LoginFacts, SessionConfig};
use crate::wire::backend::error_response;
use crate::wire::error::{PgError, sqlstate};

pub struct Listener {
    listeners: Vec<TcpListener>,
    workers: Vec<ArbiterHandle>,
    shared: Arc<Shared>,
    loops: Vec<SpawnHandle>,
}

impl Listener {
    pub fn new(
        listeners: Vec<TcpListener>,
        workers: Vec<ArbiterHandle>,
        shared: Arc<Shared>,
    ) -> Listener {
        Listener {
            listeners,
            workers,
            shared,
            loops: Vec::new(),
        }
    }
}

/// Counts a socket as pending until it is admitted or refused.
struct Pending(Arc<crate::actors::registry::Stats>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(listener: TcpListener, workers: Vec<ArbiterHandle>, shared: Arc<Shared>) {
    let next = AtomicUsize::new(0);
    let mut backoff = Duration::from_millis(10);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                warn!(shared.log, "accept failed; backing off"; "error" => %e, "backoff_ms" => backoff.as_millis() as u64);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let settings = shared.settings();
        if cfg!(debug_assertions)
            && !settings.testing.panic_in_listener_on_peer.is_empty()
            && settings.testing.panic_in_listener_on_peer == peer.ip().to_string()
        {
            panic!("fault injection: panic_in_listener_on_peer");
        }
        let max_pending = match settings.server.max_pending_connections {
            0 => settings.server.max_connections.saturating_mul(2),
            n => n,
        };
        let pending = shared.stats.pending.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = Pending(shared.stats.clone());
        if pending > max_pending {
            warn!(shared.log, "too many connections still negotiating; closing"; "event" => event::LIMIT_REJECTED, "peer" => %peer);
            drop(guard);
            drop(tcp);
            continue;
        }
        let std = match tcp.into_std() {
            Ok(s) => s,
            Err(_) => continue,
        };
        let i = next.fetch_add(1, Ordering::Relaxed) % workers.len().max(1);
        let shared2 = shared.clone();
        if let Some(w) = workers.get(i) {
            // Spawned from the worker's own thread: the connection's
            // future holds the session actor's (thread-bound) context.
            w.spawn_fn(move || {
                actix::spawn(handle_connection(std, peer, shared2, guard));
            });
        }
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for l in std::mem::take(&mut self.listeners) {
            let h = ctx
                .spawn(accept_loop(l, self.workers.clone(), self.shared.clone()).into_actor(self));
            self.loops.push(h);
        }
    }
}

/// Stops accepting (SIGTERM / SIGINT): the listening sockets close.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAccepting;

impl Handler<StopAccepting> for Listener {
    type Result = ();

    fn handle(&mut self, _: StopAccepting, ctx: &mut Context<Self>) {
        for h in self.loops.drain(..) {
            ctx.cancel_future(h);
        }
    }
}

fn configure_socket(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    let sock = socket2::SockRef::from(tcp);
    let _ = sock.set_keepalive(true);
}

async fn send_fatal(mut stream: crate::net::stream::ClientStream, e: &PgError) {
    let mut out = BytesMut::new();
    error_response(&mut out, e);
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Runs on a worker arbiter: negotiation, admission, then the session actor.
async fn handle_connection(
    std: std::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pending: Pending,
) {
    let settings = shared.settings();
    let log = shared.log.new(o!("peer" => peer.to_string()));
    let tcp = match TcpStream::from_std(std) {
        Ok(t) => t,
        Err(e) => {
            warn!(log, "could not register socket"; "error" => %e);
            return;
        }
    };
    configure_socket(&tcp);
    let log_connections = settings.log.connections;
    let deadline = tokio::time::Instant::now() + settings.server.login_timeout;
    let tls = shared.tls.as_ref().map(|t| t.current());
    let negotiated = match tokio::time::timeout_at(deadline, negotiate(tcp, tls.as_deref())).await {
        Err(_) => {
            warn!(log, "login timed out during negotiation"; "event" => event::LOGIN_TIMEOUT);
            return;
        }
        Ok(Err(Refusal::Silent)) => return,
        Ok(Err(Refusal::Closed(reason))) => {
            warn!(log, "connection closed during negotiation"; "event" => event::PROTOCOL_VIOLATION, "reason" => reason);
            return;
        }
        Ok(Err(Refusal::TlsFailed(reason))) => {
            warn!(log, "TLS handshake failed"; "event" => event::TLS_FAILED, "reason" => reason);
            return;
        }
        Ok(Err(Refusal::Fatal(e))) => {
            warn!(log, "connection refused during negotiation"; "event" => event::PROTOCOL_VIOLATION,
                "sqlstate" => e.code, "error" => &e.message);
            return;
        }
        Ok(Ok(n)) => n,
    };
    if log_connections {
        info!(log, "connection received"; "event" => event::CONNECTION_RECEIVED);
    }
    if let Some(t) = &negotiated.tls {
        info!(log, "TLS negotiated"; "event" => event::TLS_NEGOTIATED, "version" => t.version,
            "cipher" => t.cipher, "sni" => t.sni.clone().unwrap_or_default(), "direct" => negotiated.direct_tls);
    }
    let startup = match negotiated.request {
        Request::Cancel { pid, secret } => {
            shared.registry.do_send(CancelRequest {
                pid,
                secret,
                peer: Some(peer.ip()),
            });
            return;
        }
        Request::Startup(m) => m,
    };
    // The session actor's context exists before the actor: the registry
    // learns its address with the admission, one message instead of two.
    let session_ctx: Context<Session> = Context::new();
    let session = session_ctx.address();
    let admission = match shared
        .registry
        .send(Admit {
            user: startup.user.clone(),
            database: startup.database.clone(),
            long_key: startup.version.is_3_2(),
            session: session.clone().recipient(),
            cancel: session.recipient(),
        })
        .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            send_fatal(negotiated.stream, &e).await;
            return;
        }
        Err(_) => {
            let e = PgError::fatal(sqlstate::CANNOT_CONNECT_NOW, "the server is shutting down");
            send_fatal(negotiated.stream, &e).await;
            return;
        }
    };
    drop(pending);
    let log = log.new(o!("pid" => admission.pid, "user" => startup.user.clone()));
    debug!(log, "admitted");
    let facts = LoginFacts {
        peer: Some(peer),
        local: negotiated.stream.tcp().local_addr().ok(),
        tls: negotiated.tls.is_some(),
        channel_binding: if negotiated.tls.is_some() {
            tls.as_ref().and_then(|t| t.end_point.clone())
        } else {
            None
        },
        user: startup.user.clone(),
        database: startup.database.clone(),
    };
    let is_superuser = settings.server.admin_users.contains(&startup.user);
    let (server_version, version_text, timezone) = shared.session_strings();
    let config = SessionConfig {
        server_version,
        version_text,
        timezone,
        is_superuser,
        statement_timeout: settings.server.statement_timeout,
        idle_in_transaction_session_timeout: settings.server.idle_in_transaction_session_timeout,
        idle_session_timeout: settings.server.idle_session_timeout,
        pool_mode: settings.backend.pool_mode,
        log_connections,
        panic_on_query: (cfg!(debug_assertions)
            && !settings.testing.panic_in_session_on_query.is_empty())
        .then(|| settings.testing.panic_in_session_on_query.clone()),
    };
    let (reader, writer) = tokio::io::split(negotiated.stream);
    let conversation = Conversation::new(
        writer,
        log.clone(),
        startup,
        admission.pid,
        admission.secret,
        facts,
        config,
        std::rc::Rc::new(PoolClient {
            pool: shared.pool.clone(),
            backend: shared.backend.clone(),
        }),
        std::rc::Rc::new(AuthClient {
            authenticator: shared.authenticator.clone(),
        }),
    );
    session_ctx.run(Session::new(SessionStart {
        conversation,
        reader,
        guard: admission.guard,
        login_deadline: deadline,
        log,
        peer,
        log_connections,
    }));
}
