//! Backends: where SQL runs.
//!
//! A [`Backend`] opens [`BackendConnection`]s; each connection lives on its
//! own executor thread (see [`worker`]) and is driven by blocking calls, so a
//! slow database never stalls a session's arbiter. Two implementations:
//! [`embedded`] (SQLite, the default) and [`iris`] (a native SuperServer
//! client).
//!
//! The contract is deliberately small: describe a statement without running
//! it, execute one statement streaming its rows into a [`RowSink`], run
//! transaction control, and expose an [`Interrupter`] that another thread can
//! call to stop the statement in progress (query cancellation).

pub mod embedded;
pub mod iris;
pub mod worker;

use std::fmt;
use std::sync::Arc;

use crate::wire::error::PgError;
use crate::wire::types::Oid;

/// A result column as RowDescription reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: Oid,
    /// atttypmod: -1 when unknown; varchar(n) is n + 4; numeric(p,s) is
    /// ((p << 16) | s) + 4.
    pub type_modifier: i32,
    /// OID of the table the column comes from, 0 if none.
    pub table_oid: u32,
    /// Attribute number within that table, 0 if none.
    pub column_id: i16,
}

impl Column {
    pub fn new(name: impl Into<String>, type_oid: Oid) -> Column {
        Column {
            name: name.into(),
            type_oid,
            type_modifier: -1,
            table_oid: 0,
            column_id: 0,
        }
    }
}

/// One cell of a result row, borrowed from the backend's buffers. The
/// column's type OID says how it is rendered; the cell says what the backend
/// holds (SQLite's storage classes, IRIS's `$LIST` item forms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An exact decimal in plain text form, e.g. `-12.34`.
    Numeric(&'a str),
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// A parameter value after Bind decoding, owned. Dates, times, timestamps and
/// UUIDs travel as their canonical PostgreSQL text form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Numeric(String),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn as_cell(&self) -> Cell<'_> {
        match self {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Int(i) => Cell::Int(*i),
            Value::Float(f) => Cell::Float(*f),
            Value::Numeric(s) => Cell::Numeric(s),
            Value::Text(s) => Cell::Text(s),
            Value::Bytes(b) => Cell::Bytes(b),
        }
    }
}

/// What Describe reports about a statement: its parameter types (as given by
/// the client or inferred) and its result columns (`None` = NoData).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    pub params: Vec<Oid>,
    pub columns: Option<Vec<Column>>,
}

/// Transaction control, mapped by each backend onto its own mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOp {
    /// BEGIN / START TRANSACTION (the isolation clause is kept as written).
    Begin {
        isolation: Option<String>,
    },
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
}

/// The session facts some SQL functions answer from (`version()`,
/// `current_user`, `current_setting()` ...). Rebuilt by the session when a
/// setting changes; shared by `Arc` with the executor thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSnapshot {
    pub user: String,
    pub database: String,
    pub backend_pid: i32,
    /// The full text `version()` returns.
    pub version: String,
    /// Every setting SHOW knows, by lower-case name.
    pub settings: crate::session::params::SettingsView,
}

/// One statement to execute.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    pub sql: &'a str,
    pub params: &'a [Value],
    /// Parameter types as the client declared them (0 = unspecified). May be
    /// shorter than `params`.
    pub param_types: &'a [Oid],
    pub session: &'a Arc<SessionSnapshot>,
}

/// Receives a statement's result as the backend produces it.
pub trait RowSink {
    /// Called once, before the first row, when the statement returns rows.
    /// `columns` are the backend's own view; the sink may already hold the
    /// described columns (extended protocol) and use those.
    fn columns(&mut self, columns: &[Column]) -> Result<(), PgError>;
    /// Called per row, `cells.len()` equal to the column count.
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), PgError>;
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    /// Rows returned when the statement produced a result set, otherwise rows
    /// affected (INSERT/UPDATE/DELETE), 0 for DDL.
    pub rows: u64,
    /// True when the statement produced a result set (even an empty one).
    pub returned_rows: bool,
}

/// Stops the statement running on a connection, callable from any thread.
/// Calling it while nothing runs has no effect.
#[derive(Clone)]
pub struct Interrupter(Arc<dyn Fn() + Send + Sync>);

impl Interrupter {
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Interrupter {
        Interrupter(Arc::new(f))
    }

    pub fn interrupt(&self) {
        (self.0)()
    }
}

impl fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interrupter")
    }
}

/// A string that must never be printed: passwords, keys. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Who a backend connection acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The configured service account (embedded: nobody in particular).
    Service,
    /// A client's own credentials, checked by the backend (hba method `iris`).
    User { name: String, password: Secret },
}

/// Which connection a session needs: a database (embedded) or namespace
/// (IRIS), and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub database: String,
    pub identity: Identity,
}

/// A live connection to a backend. Used by exactly one executor thread.
pub trait BackendConnection: Send {
    /// Parameter types and result columns, without running the statement.
    fn describe(&mut self, sql: &str, param_types: &[Oid]) -> Result<Description, PgError>;

    /// Runs one statement, streaming rows into `sink`.
    fn execute(
        &mut self,
        stmt: &Statement<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError>;

    /// BEGIN / COMMIT / ROLLBACK / SAVEPOINT ...
    fn transaction(&mut self, op: &TxOp) -> Result<(), PgError>;

    /// Whether a transaction is open on this connection.
    fn in_transaction(&self) -> bool;

    /// A handle that stops the running statement from another thread.
    fn interrupter(&self) -> Interrupter;

    /// Puts the connection back in a clean state before another session
    /// uses it (rolls back an open transaction). An error means: discard it.
    fn reset(&mut self) -> Result<(), PgError>;

    /// False once the connection is known to be unusable (lost socket ...).
    fn is_usable(&self) -> bool {
        true
    }
}

/// A backend: opens connections and answers questions that need no
/// connection.
pub trait Backend: Send + Sync {
    /// "embedded" or "iris", for logs.
    fn kind(&self) -> &'static str;

    /// Whether `database` is one this backend is configured to serve. A name
    /// outside the configuration is FATAL 3D000 without touching the backend.
    fn serves_database(&self, database: &str) -> bool;

    /// Opens a connection (blocking; called on an executor thread).
    fn connect(&self, target: &Target) -> Result<Box<dyn BackendConnection>, PgError>;

    /// A short description of the backend for `version()`, e.g. "SQLite 3.50".
    fn describe_backend(&self) -> String;
}
