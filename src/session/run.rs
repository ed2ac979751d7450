//! The life of a session as one async loop: login under the login
//! deadline, then frames in order, with the idle timeouts and an
//! administrator's shutdown. The frames come from a reader that runs beside
//! it (see [`read_frames`]), so a client that disconnects while its
//! statement runs is noticed at once and the statement interrupted.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::StreamExt;
use slog::{Logger, info, warn};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use crate::backend::Interrupter;
use crate::log::event;
use crate::session::driver::{Conversation, Flow, IdleTimer};
use crate::wire::codec::{CodecError, FrameCodec, MAX_MESSAGE};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::frontend::Frame;

/// Frames buffered between the reader and the session; beyond this the
/// reader stops reading and TCP pushes back on the client.
pub const FRAMES_IN_FLIGHT: usize = 32;

/// How an administrator ends sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// SIGTERM: sessions finish on their own; idle ones are not disturbed.
    Smart,
    /// SIGINT: FATAL 57P01 now, the running statement interrupted.
    Fast,
}

/// Signals between the loop, the frame reader and the actor's handlers.
#[derive(Default)]
pub struct Control {
    shutdown: Cell<Option<Shutdown>>,
    notify: Notify,
    /// Released once the login has started: the reader decodes nothing
    /// before, so a message pipelined behind the startup packet is framed
    /// with the limit of the phase that reads it (a trust login is complete
    /// by then), as PostgreSQL reads it only when it needs it.
    start_reading: Notify,
}

impl Control {
    pub fn shutdown(&self, kind: Shutdown) {
        self.shutdown.set(Some(kind));
        self.notify.notify_one();
    }
}

/// Why a session ended, for the disconnection log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    Terminated,
    ClientGone,
    LoginTimeout,
    IdleTimeout,
    IdleInTransactionTimeout,
    AdminShutdown,
    Fatal(String),
}

impl EndReason {
    pub fn as_str(&self) -> &str {
        match self {
            EndReason::Terminated => "client terminated",
            EndReason::ClientGone => "client disconnected",
            EndReason::LoginTimeout => "login timeout",
            EndReason::IdleTimeout => "idle session timeout",
            EndReason::IdleInTransactionTimeout => "idle in transaction timeout",
            EndReason::AdminShutdown => "administrator shutdown",
            EndReason::Fatal(m) => m,
        }
    }
}

/// A frame, or why reading stopped (boxed: the queue holds many of these).
pub type Incoming = Result<Frame, Box<CodecError>>;

/// The frames between the reader and the session loop. Both run on the
/// session's thread, so a plain queue with two notifications does: the
/// reader waits while it is full (TCP then pushes back on the client), the
/// loop waits while it is empty. Memory grows only with what is queued.
struct FrameQueue {
    items: RefCell<VecDeque<Incoming>>,
    sender_gone: Cell<bool>,
    receiver_gone: Cell<bool>,
    readable: Notify,
    writable: Notify,
}

/// The reader's end.
pub struct FrameSender(Rc<FrameQueue>);

/// The session loop's end.
pub struct FrameReceiver(Rc<FrameQueue>);

/// A queue holding at most [`FRAMES_IN_FLIGHT`] frames.
pub fn frame_queue() -> (FrameSender, FrameReceiver) {
    let q = Rc::new(FrameQueue {
        items: RefCell::new(VecDeque::new()),
        sender_gone: Cell::new(false),
        receiver_gone: Cell::new(false),
        readable: Notify::new(),
        writable: Notify::new(),
    });
    (FrameSender(q.clone()), FrameReceiver(q))
}

impl FrameSender {
    /// Queues a frame, waiting for room; gives it back if the session ended.
    pub async fn send(&self, item: Incoming) -> Result<(), Incoming> {
        loop {
            if self.0.receiver_gone.get() {
                return Err(item);
            }
            if self.0.items.borrow().len() < FRAMES_IN_FLIGHT {
                self.0.items.borrow_mut().push_back(item);
                self.0.readable.notify_waiters();
                return Ok(());
            }
            self.0.writable.notified().await;
        }
    }

    /// Resolves when the session loop has ended.
    pub async fn closed(&self) {
        while !self.0.receiver_gone.get() {
            self.0.writable.notified().await;
        }
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.0.sender_gone.set(true);
        self.0.readable.notify_waiters();
    }
}

impl FrameReceiver {
    /// The next frame; None once the reader has ended and all are taken.
    pub async fn recv(&mut self) -> Option<Incoming> {
        loop {
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self.0.sender_gone.get() {
                return None;
            }
            self.0.readable.notified().await;
        }
    }

    /// The next frame if one is already queued.
    pub fn try_recv(&mut self) -> Option<Incoming> {
        let item = self.0.items.borrow_mut().pop_front();
        if item.is_some() {
            self.0.writable.notify_waiters();
        }
        item
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        self.0.receiver_gone.set(true);
        self.0.items.borrow_mut().clear();
        self.0.writable.notify_waiters();
    }
}

/// How often a session whose client is gone re-checks for a statement to
/// interrupt.
const GONE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Reads frames and hands them to the session. Once the client is gone (end
/// of stream or a read error) it interrupts the statement running, and any
/// that frames already queued start afterwards: nobody can read their
/// results, and a statement that never ends must not keep the slot and the
/// backend connection (PostgreSQL's client_connection_check_interval).
/// Unless the client sent Terminate first, `gone` is set, so that the
/// interrupted statement ends the session (nothing queued behind it runs).
pub async fn read_frames<R: AsyncRead + Unpin>(
    mut framed: FramedRead<R, FrameCodec>,
    tx: FrameSender,
    running: Rc<RefCell<Option<Interrupter>>>,
    control: Rc<Control>,
    gone: Rc<Cell<bool>>,
) {
    control.start_reading.notified().await;
    let mut terminated = false;
    loop {
        let next = tokio::select! {
            f = framed.next() => f,
            _ = tx.closed() => return,
        };
        match next {
            Some(Ok(f)) => {
                terminated |= f.tag == b'X';
                if tx.send(Ok(f)).await.is_err() {
                    return;
                }
            }
            Some(Err(e @ CodecError::Protocol(_))) => {
                let _ = tx.send(Err(Box::new(e))).await;
                return;
            }
            Some(Err(e @ CodecError::Io(_))) => {
                let _ = tx.send(Err(Box::new(e))).await;
                break;
            }
            None => break,
        }
    }
    // The session ends when it has drained the queue; the actor then drops
    // this future.
    gone.set(!terminated);
    drop(tx);
    loop {
        if let Some(i) = running.borrow().as_ref() {
            i.interrupt();
        }
        tokio::time::sleep(GONE_POLL).await;
    }
}

/// Runs a session to its end.
pub async fn run<W: AsyncWrite + Unpin>(
    conv: &mut Conversation<W>,
    mut frames: FrameReceiver,
    control: &Control,
    max_len: Rc<Cell<usize>>,
    login_deadline: Instant,
    log: &Logger,
) -> EndReason {
    // The conversation's futures are boxed while they run, so the idle
    // session keeps only this loop's small state (memory per connection).
    match tokio::time::timeout_at(login_deadline, Box::pin(conv.start())).await {
        Ok(Flow::Close) => return EndReason::Fatal("login failed".into()),
        Ok(Flow::Continue) => {}
        Err(_) => return login_timeout(log),
    }
    let mut logged_in = conv.is_ready();
    let mut lookahead: Option<Incoming> = None;
    if logged_in {
        max_len.set(MAX_MESSAGE);
    }
    control.start_reading.notify_one();
    loop {
        let timer = conv.idle_timer();
        let sleep_until = match timer {
            IdleTimer::None => None,
            IdleTimer::Login => Some(login_deadline),
            IdleTimer::Session(d) | IdleTimer::InTransaction(d) => Some(Instant::now() + d),
        };
        let next = if let Some(f) = lookahead.take() {
            Some(Some(f))
        } else {
            tokio::select! {
            f = frames.recv() => Some(f),
            _ = async { match sleep_until { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => None,
            _ = control.notify.notified() => {
                if control.shutdown.get() == Some(Shutdown::Fast) {
                    let e = PgError::fatal(sqlstate::ADMIN_SHUTDOWN, "terminating connection due to administrator command");
                    conv.fatal(&e).await;
                    return EndReason::AdminShutdown;
                }
                continue;
            }
            }
        };
        let frame = match next {
            None => {
                return match timer {
                    IdleTimer::Login => {
                        conv.close().await;
                        login_timeout(log)
                    }
                    IdleTimer::Session(_) => {
                        let e = PgError::fatal(
                            sqlstate::IDLE_SESSION_TIMEOUT,
                            "terminating connection due to idle-session timeout",
                        );
                        conv.fatal(&e).await;
                        info!(log, "idle session timeout"; "event" => event::SESSION_TIMEOUT);
                        EndReason::IdleTimeout
                    }
                    IdleTimer::InTransaction(_) => {
                        let e = PgError::fatal(
                            sqlstate::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                            "terminating connection due to idle-in-transaction timeout",
                        );
                        conv.fatal(&e).await;
                        info!(log, "idle in transaction timeout"; "event" => event::SESSION_TIMEOUT);
                        EndReason::IdleInTransactionTimeout
                    }
                    IdleTimer::None => continue,
                };
            }
            Some(None) => {
                conv.close().await;
                return EndReason::ClientGone;
            }
            Some(Some(Err(e))) => {
                let CodecError::Protocol(e) = *e else {
                    conv.close().await;
                    return EndReason::ClientGone;
                };
                warn!(log, "protocol violation"; "event" => event::PROTOCOL_VIOLATION, "error" => &e.message);
                conv.fatal(&e).await;
                return EndReason::Fatal(e.message);
            }
            Some(Some(Ok(frame))) => frame,
        };
        // A frame already received after this one: a Sync right behind an
        // Execute spares the implicit transaction.
        if lookahead.is_none() {
            lookahead = frames.try_recv();
        }
        conv.set_next_is_sync(matches!(&lookahead, Some(Ok(f)) if f.tag == b'S'));
        let terminate = frame.tag == b'X';
        let handled = if logged_in {
            Box::pin(conv.handle(frame)).await
        } else {
            match tokio::time::timeout_at(login_deadline, Box::pin(conv.handle(frame))).await {
                Ok(f) => f,
                Err(_) => {
                    conv.close().await;
                    return login_timeout(log);
                }
            }
        };
        if handled == Flow::Close {
            return if terminate {
                EndReason::Terminated
            } else if conv.client_gone().get() {
                EndReason::ClientGone
            } else {
                EndReason::Fatal("session ended with an error".into())
            };
        }
        if !logged_in && conv.is_ready() {
            logged_in = true;
            max_len.set(MAX_MESSAGE);
        }
        if control.shutdown.get() == Some(Shutdown::Fast) {
            let e = PgError::fatal(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            );
            conv.fatal(&e).await;
            return EndReason::AdminShutdown;
        }
    }
}

fn login_timeout(log: &Logger) -> EndReason {
    warn!(log, "login timed out"; "event" => event::LOGIN_TIMEOUT);
    EndReason::LoginTimeout
}
