//! Executor threads: one OS thread per backend connection, running the
//! blocking backend calls so that no session arbiter ever waits on a
//! database.
//!
//! Every call runs inside `catch_unwind`: a panicking backend call becomes an
//! XX000 error for that one statement, the connection is dropped (its state
//! is unknown) and reopened on the next job, and the thread lives on. Rows
//! are encoded to DataRow bytes here, on the executor thread, and sent to the
//! session in chunks through a bounded channel, so a large result streams
//! with backpressure instead of being collected.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{
    Backend, BackendConnection, Cell, Column, Description, ExecOutcome, Interrupter, RowSink,
    SessionSnapshot, Statement, Target, TxOp, Value,
};
use crate::wire::backend as msg;
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::{self, Format, Oid};

/// Bytes of encoded rows collected before a chunk goes to the session.
const CHUNK_BYTES: usize = 32 * 1024;
/// Chunks in flight between an executor thread and its session.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A statement to run, owned so it can cross to the executor thread.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub sql: Arc<str>,
    pub params: Vec<Value>,
    pub param_types: Vec<Oid>,
    pub session: Arc<SessionSnapshot>,
    /// Result format codes as Bind gave them (0, 1 or one per column).
    pub result_formats: Vec<i16>,
    /// Columns already described to the client (extended protocol): rows
    /// are rendered with these types, and the count must match.
    pub described: Option<Arc<Vec<Column>>>,
    /// Send RowDescription before the rows (simple protocol).
    pub send_row_description: bool,
    /// 0 = every row goes out; otherwise rows beyond are held for the portal.
    pub max_rows: u64,
}

/// How an Execute job ended.
#[derive(Debug, Default)]
pub struct ExecDone {
    pub outcome: ExecOutcome,
    pub in_transaction: bool,
    /// The result's columns when the statement returned rows.
    pub columns: Option<Vec<Column>>,
    /// Encoded DataRows beyond `max_rows`, for PortalSuspended resumption.
    pub held: VecDeque<Bytes>,
    /// Output not yet sent as `Data` (a small result travels whole with
    /// `Done`: one wake-up of the session instead of two).
    pub tail: Bytes,
}

/// What the session receives while a statement runs.
#[derive(Debug)]
pub enum ExecEvent {
    /// Encoded RowDescription / DataRow messages, ready to send.
    Data(Bytes),
    /// The statement ended.
    Done(Result<ExecDone, PgError>),
}

/// Work for an executor thread.
pub enum Job {
    Describe {
        sql: Arc<str>,
        param_types: Vec<Oid>,
        reply: oneshot::Sender<Result<Description, PgError>>,
    },
    Execute {
        req: Box<ExecRequest>,
        events: mpsc::Sender<ExecEvent>,
    },
    /// Replies with the transaction state after the operation.
    Transaction {
        op: TxOp,
        reply: oneshot::Sender<Result<bool, PgError>>,
    },
    /// Rolls back whatever is open; replies whether the connection is fit to
    /// be reused.
    Reset { reply: oneshot::Sender<bool> },
}

/// Fault injection for tests (debug builds only; refused by config
/// validation in release builds).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub panic_on_query: Option<Arc<str>>,
}

/// Cancellation of the statement a session has in flight on a worker
/// (an Execute, or a Describe: PostgreSQL cancels a parse too), from the
/// moment [`WorkerHandle::execute`] or [`WorkerHandle::describe`] sends it
/// until its result is sent back. A cancel within that span always takes effect, as in
/// PostgreSQL: a statement not started yet never runs, one running is
/// interrupted (the canceller repeats the interrupt until the statement
/// ends: a backend ignores one that comes before its statement is under
/// way). A cancel outside that span does nothing, so it cannot hit a later
/// statement.
#[derive(Debug, Default)]
struct CancelGate {
    in_flight: bool,
    pending: bool,
}

/// The shared side of an executor thread.
#[derive(Clone)]
pub struct WorkerHandle {
    id: u64,
    jobs: std_mpsc::Sender<Job>,
    busy: Arc<AtomicBool>,
    interrupter: Arc<Mutex<Option<Interrupter>>>,
    cancel: Arc<Mutex<CancelGate>>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkerHandle({})", self.id)
    }
}

fn lost() -> PgError {
    PgError::error(
        sqlstate::CONNECTION_FAILURE,
        "the backend connection was lost",
    )
}

impl WorkerHandle {
    /// Starts an executor thread that opens a connection for `target`.
    /// `ready` receives the outcome of the connect.
    pub fn start(
        id: u64,
        backend: Arc<dyn Backend>,
        target: Target,
        faults: Faults,
        ready: oneshot::Sender<Result<(), PgError>>,
    ) -> Result<WorkerHandle, PgError> {
        let (tx, rx) = std_mpsc::channel();
        let handle = WorkerHandle {
            id,
            jobs: tx,
            busy: Arc::new(AtomicBool::new(false)),
            interrupter: Arc::new(Mutex::new(None)),
            cancel: Arc::new(Mutex::new(CancelGate::default())),
        };
        let shared = handle.clone();
        std::thread::Builder::new()
            .name(format!("pgiris-exec-{id}"))
            .spawn(move || run(shared, backend, target, faults, rx, ready))
            .map_err(|e| {
                PgError::error(
                    sqlstate::SYSTEM_ERROR,
                    format!("could not start executor thread: {e}"),
                )
            })?;
        Ok(handle)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stops the statement running now, if any.
    pub fn interrupt(&self) {
        if self.busy.load(Ordering::SeqCst)
            && let Ok(guard) = self.interrupter.lock()
            && let Some(i) = guard.as_ref()
        {
            i.interrupt();
        }
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, CancelGate> {
        self.cancel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancels the statement in flight, if any (see [`CancelGate`]);
    /// returns whether there was one.
    pub fn cancel(&self) -> bool {
        let mut gate = self.gate();
        if gate.in_flight {
            gate.pending = true;
            self.interrupt();
        }
        gate.in_flight
    }

    fn begin_statement(&self) {
        *self.gate() = CancelGate {
            in_flight: true,
            pending: false,
        };
    }

    /// A cancel that came before the statement started.
    fn take_early_cancel(&self) -> bool {
        std::mem::take(&mut self.gate().pending)
    }

    fn end_statement(&self) {
        *self.gate() = CancelGate::default();
    }

    /// An interrupter that cancels the statement in flight on this worker,
    /// for the session (timeouts, a client gone, shutdown).
    pub fn interrupter(&self) -> Interrupter {
        let me = self.clone();
        Interrupter::new(move || {
            me.cancel();
        })
    }

    pub fn send(&self, job: Job) -> Result<(), PgError> {
        self.jobs.send(job).map_err(|_| lost())
    }

    pub async fn describe(
        &self,
        sql: Arc<str>,
        param_types: Vec<Oid>,
    ) -> Result<Description, PgError> {
        let (reply, rx) = oneshot::channel();
        self.begin_statement();
        let sent = self.send(Job::Describe {
            sql,
            param_types,
            reply,
        });
        if sent.is_err() {
            self.end_statement();
        }
        sent?;
        rx.await.map_err(|_| lost())?
    }

    pub fn execute(&self, req: ExecRequest) -> Result<mpsc::Receiver<ExecEvent>, PgError> {
        let (events, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        self.begin_statement();
        let sent = self.send(Job::Execute {
            req: Box::new(req),
            events,
        });
        if sent.is_err() {
            self.end_statement();
        }
        sent.map(|()| rx)
    }

    pub async fn transaction(&self, op: TxOp) -> Result<bool, PgError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Transaction { op, reply })?;
        rx.await.map_err(|_| lost())?
    }

    /// Resets the connection; false when it must be discarded.
    pub async fn reset(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.send(Job::Reset { reply }).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

/// A backend connection checked out for one session. Dropping it gives the
/// connection back to its pool (which resets it before anyone else uses it).
pub struct Lease {
    worker: WorkerHandle,
    /// Whether the connection may hold session state (a transaction,
    /// temporary tables, PRAGMAs): then the pool resets it before reuse.
    needs_reset: bool,
    release: Option<Box<dyn FnOnce(WorkerHandle, bool) + Send>>,
}

impl Lease {
    pub fn new(
        worker: WorkerHandle,
        release: impl FnOnce(WorkerHandle, bool) + Send + 'static,
    ) -> Lease {
        Lease {
            worker,
            needs_reset: true,
            release: Some(Box::new(release)),
        }
    }

    /// The holder vouches that it left nothing behind (only plain queries
    /// and DML ran, outside any transaction): the pool can skip the reset.
    pub fn mark_clean(&mut self) {
        self.needs_reset = false;
    }
}

impl std::ops::Deref for Lease {
    type Target = WorkerHandle;

    fn deref(&self) -> &WorkerHandle {
        &self.worker
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release(self.worker.clone(), self.needs_reset);
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({})", self.worker.id)
    }
}

/// The executor thread's loop.
fn run(
    shared: WorkerHandle,
    backend: Arc<dyn Backend>,
    target: Target,
    faults: Faults,
    jobs: std_mpsc::Receiver<Job>,
    ready: oneshot::Sender<Result<(), PgError>>,
) {
    let connect = |shared: &WorkerHandle| -> Result<Box<dyn BackendConnection>, PgError> {
        let conn = guarded(|| backend.connect(&target))?;
        if let Ok(mut g) = shared.interrupter.lock() {
            *g = Some(conn.interrupter());
        }
        Ok(conn)
    };
    let mut conn = match connect(&shared) {
        Ok(c) => {
            let _ = ready.send(Ok(()));
            Some(c)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // The transaction state the connection last reported, and whether a
    // transaction went down with its connection: then the session's next
    // statements must fail until it rolls back, never run on a fresh
    // connection as if the transaction were still open.
    let mut tx_open = false;
    let mut lost_tx = false;
    while let Ok(job) = jobs.recv() {
        if conn.as_ref().is_some_and(|c| !c.is_usable()) {
            lost_tx |= tx_open;
            conn = None;
        }
        let job = if lost_tx {
            match job {
                Job::Transaction {
                    op: TxOp::Rollback,
                    reply,
                } => {
                    // The backend ended the transaction with the connection.
                    lost_tx = false;
                    tx_open = false;
                    let _ = reply.send(Ok(false));
                    continue;
                }
                Job::Reset { reply } => {
                    lost_tx = false;
                    tx_open = false;
                    Job::Reset { reply }
                }
                other => {
                    fail_job(other, lost_transaction(), &shared);
                    continue;
                }
            }
        } else {
            job
        };
        // Reopen a connection dropped after a panic or a lost socket; if
        // that fails, the job fails with the reason.
        let mut unavailable = None;
        if conn.is_none() && !matches!(job, Job::Reset { .. }) {
            match connect(&shared) {
                Ok(c) => conn = Some(c),
                Err(e) => unavailable = Some(e),
            }
        }
        // A statement cancelled before it started never runs.
        if matches!(job, Job::Execute { .. } | Job::Describe { .. }) && shared.take_early_cancel() {
            fail_job(job, PgError::query_canceled(), &shared);
            continue;
        }
        shared.busy.store(true, Ordering::SeqCst);
        let keep = match conn.as_mut() {
            None => {
                fail_job(job, unavailable.unwrap_or_else(lost), &shared);
                true
            }
            Some(c) => {
                let keep = run_job(c.as_mut(), job, &faults, &shared);
                if keep {
                    tx_open = guarded(|| Ok(c.in_transaction())).unwrap_or(tx_open);
                }
                keep
            }
        };
        shared.busy.store(false, Ordering::SeqCst);
        if !keep {
            lost_tx |= tx_open;
            conn = None;
        }
    }
}

/// The error for every statement of a transaction whose connection was lost.
fn lost_transaction() -> PgError {
    PgError::error(
        sqlstate::CONNECTION_FAILURE,
        "the backend connection of this transaction was lost; the transaction was rolled back",
    )
    .with_hint("Run ROLLBACK, then run the transaction again.")
}

const PANIC_MESSAGE: &str = "internal error in a backend call; the backend connection was reset";

fn is_backend_panic(e: &PgError) -> bool {
    e.code == sqlstate::INTERNAL_ERROR && e.message == PANIC_MESSAGE
}

/// Runs `f`, turning a panic into an XX000 error.
fn guarded<T>(f: impl FnOnce() -> Result<T, PgError>) -> Result<T, PgError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(PgError::internal(PANIC_MESSAGE)),
    }
}

fn fail_job(job: Job, e: PgError, shared: &WorkerHandle) {
    match job {
        Job::Describe { reply, .. } => {
            shared.end_statement();
            let _ = reply.send(Err(e));
        }
        Job::Execute { events, .. } => {
            shared.end_statement();
            let _ = events.blocking_send(ExecEvent::Done(Err(e)));
        }
        Job::Transaction { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Job::Reset { reply } => {
            let _ = reply.send(false);
        }
    }
}

/// Runs one job; returns false when the connection must be dropped.
fn run_job(
    conn: &mut dyn BackendConnection,
    job: Job,
    faults: &Faults,
    shared: &WorkerHandle,
) -> bool {
    let mut panicked = false;
    let mut check = |e: Option<&PgError>| {
        panicked |= e.is_some_and(is_backend_panic);
    };
    match job {
        Job::Describe {
            sql,
            param_types,
            reply,
        } => {
            let r = guarded(|| conn.describe(&sql, &param_types));
            check(r.as_ref().err());
            shared.end_statement();
            let _ = reply.send(r);
        }
        Job::Execute { req, events } => {
            let mut sink = EncodingSink::new(&req, events.clone());
            let r = guarded(|| {
                if let Some(p) = &faults.panic_on_query
                    && **p == *req.sql
                {
                    panic!("fault injection: panic_on_query");
                }
                let stmt = Statement {
                    sql: &req.sql,
                    params: &req.params,
                    param_types: &req.param_types,
                    session: &req.session,
                };
                conn.execute(&stmt, &mut sink)
            });
            check(r.as_ref().err());
            let in_transaction =
                !panicked && guarded(|| Ok(conn.in_transaction())).unwrap_or(false);
            let done = match r {
                Ok(outcome) => sink.finish(outcome, in_transaction),
                Err(e) => {
                    // Rows produced before the error still go out first.
                    if let Some(rows) = sink.take_pending() {
                        let _ = events.blocking_send(ExecEvent::Data(rows));
                    }
                    Err(e)
                }
            };
            // Before Done: the session may send its next statement at once.
            shared.end_statement();
            let _ = events.blocking_send(ExecEvent::Done(done));
        }
        Job::Transaction { op, reply } => {
            let r = guarded(|| {
                conn.transaction(&op)?;
                Ok(conn.in_transaction())
            });
            check(r.as_ref().err());
            let _ = reply.send(r);
        }
        Job::Reset { reply } => {
            let ok = guarded(|| conn.reset()).is_ok() && conn.is_usable();
            let _ = reply.send(ok);
            return ok;
        }
    }
    !panicked
}

/// Encodes rows into DataRow messages as the backend produces them.
pub struct EncodingSink {
    out: BytesMut,
    events: mpsc::Sender<ExecEvent>,
    formats: Vec<i16>,
    described: Option<Arc<Vec<Column>>>,
    send_row_description: bool,
    max_rows: u64,
    rows: u64,
    columns: Option<Vec<Column>>,
    types: Vec<(Oid, i32, Format)>,
    held: VecDeque<Bytes>,
}

impl EncodingSink {
    pub fn new(req: &ExecRequest, events: mpsc::Sender<ExecEvent>) -> EncodingSink {
        EncodingSink {
            out: BytesMut::with_capacity(4096),
            events,
            formats: req.result_formats.clone(),
            described: req.described.clone(),
            send_row_description: req.send_row_description,
            max_rows: req.max_rows,
            rows: 0,
            columns: None,
            types: Vec::new(),
            held: VecDeque::new(),
        }
    }

    fn flush(&mut self) -> Result<(), PgError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let chunk = self.out.split().freeze();
        self.events
            .blocking_send(ExecEvent::Data(chunk))
            .map_err(|_| PgError::query_canceled())
    }

    /// Output encoded but not sent yet.
    pub fn take_pending(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// Builds the final report, carrying what is left of the output.
    pub fn finish(
        mut self,
        outcome: ExecOutcome,
        in_transaction: bool,
    ) -> Result<ExecDone, PgError> {
        let tail = self.out.split().freeze();
        let outcome = if self.columns.is_some() {
            ExecOutcome {
                rows: self.rows,
                returned_rows: true,
            }
        } else {
            outcome
        };
        Ok(ExecDone {
            outcome,
            in_transaction,
            columns: self.columns,
            held: self.held,
            tail,
        })
    }
}

/// Checks Bind's result formats against the columns: count and binary
/// support (PostgreSQL checks both when the portal is created).
pub fn check_result_formats(
    columns: &[Column],
    formats: &[i16],
) -> Result<Vec<(Oid, i32, Format)>, PgError> {
    if formats.len() > 1 && formats.len() != columns.len() {
        return Err(PgError::protocol_violation(format!(
            "bind message has {} result formats but query has {} columns",
            formats.len(),
            columns.len()
        )));
    }
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = Format::from_code(msg::format_for(formats, i))?;
            if f == Format::Binary && !types::supports_binary(c.type_oid) {
                return Err(PgError::error(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!(
                        "no binary output function available for type {}",
                        types::type_name(c.type_oid)
                    ),
                ));
            }
            Ok((c.type_oid, c.type_modifier, f))
        })
        .collect()
}

/// Appends one DataRow. On error (a value its column's type cannot
/// render) nothing is appended: a half-written row would corrupt the
/// message stream.
pub fn encode_data_row(
    out: &mut BytesMut,
    cells: &[Cell<'_>],
    types: &[(Oid, i32, Format)],
) -> Result<(), PgError> {
    let start = out.len();
    let r = encode_data_row_into(out, cells, types);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn encode_data_row_into(
    out: &mut BytesMut,
    cells: &[Cell<'_>],
    types: &[(Oid, i32, Format)],
) -> Result<(), PgError> {
    let at = msg::begin(out, b'D');
    out.put_i16(cells.len() as i16);
    for (cell, (oid, typmod, format)) in cells.iter().zip(types) {
        if matches!(cell, Cell::Null) {
            out.put_i32(-1);
            continue;
        }
        let len_at = out.len();
        out.put_i32(0);
        match format {
            Format::Text => types::encode_text_with_typmod(*cell, *oid, *typmod, out)?,
            Format::Binary => types::encode_binary_with_typmod(*cell, *oid, *typmod, out)?,
        }
        let len = (out.len() - len_at - 4) as i32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
    msg::finish(out, at);
    Ok(())
}

impl RowSink for EncodingSink {
    fn columns(&mut self, columns: &[Column]) -> Result<(), PgError> {
        let cols: Vec<Column> = match &self.described {
            Some(d) => {
                if d.len() != columns.len() {
                    return Err(PgError::feature_not_supported(
                        "cached plan must not change result type",
                    ));
                }
                d.as_ref().clone()
            }
            None => columns.to_vec(),
        };
        self.types = check_result_formats(&cols, &self.formats)?;
        if self.send_row_description {
            msg::row_description(&mut self.out, &cols, &self.formats);
        }
        self.columns = Some(cols);
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), PgError> {
        if cells.len() != self.types.len() {
            return Err(PgError::internal("row width does not match its columns"));
        }
        self.rows += 1;
        if self.max_rows > 0 && self.rows > self.max_rows {
            let mut row = BytesMut::new();
            encode_data_row(&mut row, cells, &self.types)?;
            self.held.push_back(row.freeze());
            return Ok(());
        }
        encode_data_row(&mut self.out, cells, &self.types)?;
        if self.out.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::backend::{BackendMessage, split_messages};
    use crate::wire::types::oid;

    fn req(max_rows: u64, formats: Vec<i16>) -> ExecRequest {
        ExecRequest {
            sql: "x".into(),
            params: vec![],
            param_types: vec![],
            session: Arc::new(SessionSnapshot::default()),
            result_formats: formats,
            described: None,
            send_row_description: true,
            max_rows,
        }
    }

    #[test]
    fn a_row_that_fails_to_encode_leaves_nothing_behind() {
        // Found by the random message sequences of tests/hostile_protocol.rs:
        // `SELECT $1::int` with a text 'x' left a DataRow whose length word
        // was never written before the ErrorResponse.
        let types = vec![(oid::INT4, -1, Format::Text), (oid::INT4, -1, Format::Text)];
        let mut out = BytesMut::from(&b"prefix"[..]);
        let e = encode_data_row(&mut out, &[Cell::Int(1), Cell::Text("x")], &types).unwrap_err();
        assert_eq!(e.code, "22P02");
        assert_eq!(&out[..], b"prefix");
        encode_data_row(&mut out, &[Cell::Int(1), Cell::Null], &types).unwrap();
        let msgs = split_messages(&out[6..]).unwrap();
        assert_eq!(msgs.len(), 1);
    }

    #[test]
    fn sink_encodes_and_holds() {
        let (tx, mut rx) = mpsc::channel(16);
        let r = req(1, vec![]);
        let mut sink = EncodingSink::new(&r, tx);
        sink.columns(&[Column::new("a", oid::INT4), Column::new("b", oid::TEXT)])
            .unwrap();
        sink.row(&[Cell::Int(1), Cell::Text("x")]).unwrap();
        sink.row(&[Cell::Int(2), Cell::Null]).unwrap();
        let done = sink.finish(ExecOutcome::default(), false).unwrap();
        assert_eq!(done.outcome.rows, 2);
        assert!(done.outcome.returned_rows);
        assert_eq!(done.held.len(), 1);
        // A small result travels whole with Done.
        assert!(rx.try_recv().is_err());
        let msgs = split_messages(&done.tail).unwrap();
        assert!(matches!(msgs[0], BackendMessage::RowDescription(_)));
        assert_eq!(
            msgs[1],
            BackendMessage::DataRow(vec![
                Some(Bytes::from_static(b"1")),
                Some(Bytes::from_static(b"x"))
            ])
        );
        let held = split_messages(&done.held[0]).unwrap();
        assert_eq!(
            held[0],
            BackendMessage::DataRow(vec![Some(Bytes::from_static(b"2")), None])
        );
    }

    #[test]
    fn a_row_that_cannot_be_encoded_leaves_nothing_behind() {
        let mut out = BytesMut::from(&b"before"[..]);
        for format in [Format::Text, Format::Binary] {
            let types = [(oid::INT4, -1, format), (oid::INT4, -1, format)];
            let e =
                encode_data_row(&mut out, &[Cell::Int(1), Cell::Text("abc")], &types).unwrap_err();
            assert_eq!(e.code, "22P02");
            assert_eq!(&out[..], b"before");
        }
    }

    #[test]
    fn result_format_checks() {
        let cols = [Column::new("a", oid::INT4), Column::new("b", oid::INTERVAL)];
        assert!(check_result_formats(&cols, &[0, 0, 0]).is_err());
        assert_eq!(check_result_formats(&cols, &[1]).unwrap_err().code, "42883");
        assert!(check_result_formats(&cols, &[1, 0]).is_ok());
        assert_eq!(check_result_formats(&cols, &[2]).unwrap_err().code, "08P01");
    }
}
