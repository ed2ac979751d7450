//! The embedded backend: SQLite (bundled), one file per configured database
//! under `backend.embedded.data_dir`.
//!
//! A database name from a client is only ever used to look up the
//! configured list; the file name comes from the configuration, so no client
//! input becomes a path. PostgreSQL syntax SQLite lacks is rewritten first
//! (`translate`), and result types are taken from declared column types and
//! the statement text (`infer`), so RowDescription carries PostgreSQL OIDs.

pub mod catalog;
pub mod errors;
pub mod infer;
pub mod schema;
pub mod translate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::backend::{
    Backend, BackendConnection, Cell, Column, Description, ExecOutcome, Interrupter, RowSink,
    SessionSnapshot, Statement, Target, TxOp, Value,
};
use crate::config::{EmbeddedSettings, valid_database_name};
use crate::wire::error::{PgError, sqlstate};
use crate::wire::types::{self, Oid, oid};

use errors::map_error as map_sqlite_error;
use schema::Schema;
use translate::TransactionClock;

/// A SQLite error as PostgreSQL would report it; errors raised by the
/// translation's SQL functions carry their own SQLSTATE.
fn map_error(e: rusqlite::Error) -> PgError {
    translate::pg_error_from_sqlite(&e).unwrap_or_else(|| map_sqlite_error(e))
}

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite backend.
pub struct EmbeddedBackend {
    data_dir: PathBuf,
    databases: Vec<String>,
}

impl EmbeddedBackend {
    /// Creates the data directory if needed.
    pub fn new(settings: &EmbeddedSettings) -> Result<EmbeddedBackend, PgError> {
        let data_dir = PathBuf::from(&settings.data_dir);
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            PgError::error(
                sqlstate::IO_ERROR,
                format!(
                    "could not create data directory {}: {e}",
                    data_dir.display()
                ),
            )
        })?;
        Ok(EmbeddedBackend {
            data_dir,
            databases: settings.databases.clone(),
        })
    }

    fn path_of(&self, database: &str) -> Option<PathBuf> {
        // Only a configured name (validated at load) becomes a file name.
        let name = self.databases.iter().find(|d| *d == database)?;
        valid_database_name(name).then(|| self.data_dir.join(format!("{name}.sqlite3")))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Backend for EmbeddedBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn serves_database(&self, database: &str) -> bool {
        self.path_of(database).is_some()
    }

    fn connect(&self, target: &Target) -> Result<Box<dyn BackendConnection>, PgError> {
        let path = self.path_of(&target.database).ok_or_else(|| {
            PgError::fatal(
                sqlstate::INVALID_CATALOG_NAME,
                format!("database \"{}\" does not exist", target.database),
            )
        })?;
        Ok(Box::new(EmbeddedConnection::open(&path)?))
    }

    fn describe_backend(&self) -> String {
        format!("SQLite {}", rusqlite::version())
    }
}

/// One SQLite connection.
pub struct EmbeddedConnection {
    conn: Connection,
    /// Set by the interrupter: SQLite's own interrupt stops SQL, this stops
    /// pgiris's functions that wait (pg_sleep).
    cancelled: Arc<AtomicBool>,
    session: Arc<Mutex<Arc<SessionSnapshot>>>,
    clock: TransactionClock,
    schema: Schema,
    plans: HashMap<String, Arc<ColumnPlan>>,
    catalog: catalog::Catalog,
}

impl EmbeddedConnection {
    pub fn open(path: &Path) -> Result<EmbeddedConnection, PgError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| {
            // SQLite's open error names the file; a client is not told
            // server paths, only what went wrong.
            let reason = match &e {
                rusqlite::Error::SqliteFailure(f, _) => f.to_string(),
                _ => "unknown error".to_owned(),
            };
            PgError::error(
                sqlstate::IO_ERROR,
                format!("could not open the database file: {reason}"),
            )
        })?;
        Self::setup(conn)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<EmbeddedConnection, PgError> {
        Self::setup(Connection::open_in_memory().map_err(map_error)?)
    }

    fn setup(conn: Connection) -> Result<EmbeddedConnection, PgError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_error)?;
        enable_wal(&conn).map_err(map_error)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(map_error)?;
        conn.set_prepared_statement_cache_capacity(256);
        let session = Arc::new(Mutex::new(Arc::new(SessionSnapshot::default())));
        register_session_functions(&conn, &session).map_err(map_error)?;
        let cancelled = Arc::new(AtomicBool::new(false));
        register_pg_sleep(&conn, &cancelled).map_err(map_error)?;
        let clock = TransactionClock::new();
        translate::register_functions_with_clock(&conn, &clock).map_err(map_error)?;
        let catalog = catalog::attach(&conn).map_err(map_error)?;
        Ok(EmbeddedConnection {
            conn,
            cancelled,
            session,
            clock,
            schema: Schema::default(),
            plans: HashMap::new(),
            catalog,
        })
    }

    fn set_session(&self, s: &Arc<SessionSnapshot>) {
        if let Ok(mut g) = self.session.lock()
            && !Arc::ptr_eq(&g, s)
        {
            *g = s.clone();
        }
    }
}

/// pg_sleep(seconds): sleeps in short steps so that a cancel (or a
/// statement timeout) stops it at once, as in PostgreSQL.
fn register_pg_sleep(conn: &Connection, cancelled: &Arc<AtomicBool>) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let cancelled = cancelled.clone();
    conn.create_scalar_function("pg_sleep", 1, FunctionFlags::SQLITE_UTF8, move |ctx| {
        let secs: f64 = ctx.get::<Option<f64>>(0)?.unwrap_or(0.0);
        let end = std::time::Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 1e7));
        while std::time::Instant::now() < end {
            if cancelled.load(Ordering::SeqCst) {
                return Err(rusqlite::Error::UserFunctionError(
                    "[57014] canceling statement due to user request".into(),
                ));
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
        Ok(rusqlite::types::Null)
    })
}

/// Switches the file to WAL (a setting kept in the file). SQLite answers a
/// second connection switching at the same time with SQLITE_BUSY at once,
/// without calling the busy handler (two connections upgrading their shared
/// locks would deadlock), so a burst of first connections to a fresh file
/// retries here, within the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.execute_batch("PRAGMA journal_mode = WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// SQL functions that answer from the session: version(), current_user ...
fn register_session_functions(
    conn: &Connection,
    session: &Arc<Mutex<Arc<SessionSnapshot>>>,
) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8;
    let text_fn = |name: &str, f: fn(&SessionSnapshot) -> String| {
        let s = session.clone();
        conn.create_scalar_function(name, 0, flags, move |_ctx| {
            let snap = s.lock().map(|g| g.clone()).unwrap_or_default();
            Ok(f(&snap))
        })
    };
    text_fn("version", |s| s.version.clone())?;
    text_fn("current_user", |s| s.user.clone())?;
    text_fn("session_user", |s| s.user.clone())?;
    text_fn("current_database", |s| s.database.clone())?;
    text_fn("current_schema", |_| "public".to_owned())?;
    // Every object belongs to the connected user (owner oid 10, as the
    // bootstrap superuser in PostgreSQL).
    let s = session.clone();
    conn.create_scalar_function("pg_get_userbyid", 1, flags, move |ctx| {
        let id: Option<i64> = ctx.get(0)?;
        Ok(id.map(|id| {
            if id == 10 {
                s.lock().map(|g| g.user.clone()).unwrap_or_default()
            } else {
                format!("unknown (OID={id})")
            }
        }))
    })?;
    let s = session.clone();
    conn.create_scalar_function("pg_backend_pid", 0, flags, move |_ctx| {
        Ok(s.lock().map(|g| g.backend_pid).unwrap_or(0))
    })?;
    for n_arg in [1, 2] {
        let s = session.clone();
        conn.create_scalar_function("current_setting", n_arg, flags, move |ctx| {
            let name: String = ctx.get(0)?;
            let missing_ok = n_arg == 2 && ctx.get::<bool>(1).unwrap_or(false);
            let snap = s.lock().map(|g| g.clone()).unwrap_or_default();
            match snap.settings.get(&name.to_ascii_lowercase()) {
                Some(v) => Ok(Some(v.clone())),
                None if missing_ok => Ok(None),
                None => Err(rusqlite::Error::UserFunctionError(
                    format!("unrecognized configuration parameter \"{name}\"").into(),
                )),
            }
        })?;
    }
    Ok(())
}

/// The type of a value when nothing is declared.
fn type_from_value(v: ValueRef<'_>) -> Oid {
    match v {
        ValueRef::Integer(i) if i32::try_from(i).is_ok() => oid::INT4,
        ValueRef::Integer(_) => oid::INT8,
        ValueRef::Real(_) => oid::FLOAT8,
        ValueRef::Blob(_) => oid::BYTEA,
        ValueRef::Null | ValueRef::Text(_) => oid::TEXT,
    }
}

/// Lines SQLite's result columns up with the statement's select list: one
/// item per column, a single `*` covering the columns left over.
fn align(items: &[infer::SelectItem], n: usize) -> Vec<Option<&infer::SelectItem>> {
    let stars = items.iter().filter(|i| i.is_star).count();
    match stars {
        0 if items.len() == n => items.iter().map(Some).collect(),
        1 if n + 1 >= items.len() => {
            let width = n + 1 - items.len();
            let mut out = Vec::with_capacity(n);
            for it in items {
                if it.is_star {
                    out.extend(std::iter::repeat_n(None, width));
                } else {
                    out.push(Some(it));
                }
            }
            out
        }
        _ => vec![None; n],
    }
}

/// The result columns worked out for a statement text, reused while the
/// schema stays the same (this connection's DDL clears the cache).
struct ColumnPlan {
    columns: Vec<Column>,
    /// Columns whose type only a row can tell (text until one arrives).
    from_row: Vec<usize>,
}

impl ColumnPlan {
    /// The columns, with the undecided ones typed from `row`.
    fn with_row(&self, row: Option<&rusqlite::Row<'_>>) -> Vec<Column> {
        let mut cols = self.columns.clone();
        if let Some(row) = row {
            for &i in &self.from_row {
                if let (Some(c), Ok(v)) = (cols.get_mut(i), row.get_ref(i)) {
                    c.type_oid = type_from_value(v);
                }
            }
        }
        cols
    }
}

/// Most statement texts whose column plans a connection keeps.
const PLAN_CACHE: usize = 256;

/// The result columns of a prepared statement, typed as PostgreSQL would:
/// a column of a table has its declared type; an expression is typed from
/// its text; otherwise the first row's value decides (text without one).
fn plan_columns(
    stmt: &rusqlite::Statement<'_>,
    original: &str,
    param_types: &[Oid],
    schema: &Schema,
) -> ColumnPlan {
    let meta: Vec<(Option<String>, Option<String>)> = stmt
        .columns_with_metadata()
        .map(|c| {
            (
                c.table_name().map(str::to_owned),
                c.origin_name().map(str::to_owned),
            )
        })
        .collect();
    let n = meta.len();
    let items = infer::select_items(original).unwrap_or_default();
    let aligned = align(&items, n);
    let lookup = |table: Option<&str>, column: &str| schema.column_in(original, table, column);
    let mut from_row = Vec::new();
    let columns = stmt
        .columns()
        .enumerate()
        .map(|(i, c)| {
            let item = aligned.get(i).copied().flatten();
            let (table, origin) = meta.get(i).cloned().unwrap_or_default();
            let typed = match (&table, &origin) {
                (Some(t), Some(o)) => schema
                    .column(Some(t), o)
                    .or_else(|| c.decl_type().map(infer::type_from_decl)),
                _ => None,
            }
            .or_else(|| {
                item.and_then(|it| infer::typed_expr_with_columns(&it.expr, param_types, &lookup))
            })
            .or_else(|| c.decl_type().map(infer::type_from_decl));
            let (type_oid, type_modifier) = typed.unwrap_or_else(|| {
                from_row.push(i);
                (oid::TEXT, -1)
            });
            let name = match item {
                Some(it) => match &it.alias {
                    Some(a) => a.clone(),
                    None => infer::pg_column_name(&it.expr),
                },
                None => origin.unwrap_or_else(|| c.name().to_owned()),
            };
            Column {
                name,
                type_oid,
                type_modifier,
                table_oid: 0,
                column_id: 0,
            }
        })
        .collect();
    ColumnPlan { columns, from_row }
}

/// Whether a statement changes the schema (column plans are dropped).
fn is_ddl(sql: &str) -> bool {
    crate::sql::lexer::first_keywords(sql, 1)
        .first()
        .is_some_and(|w| {
            ["create", "drop", "alter"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
}

/// Binds PostgreSQL `$n` parameters by number.
fn bind_params(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<(), PgError> {
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                PgError::error(sqlstate::SYNTAX_ERROR, "parameters are written $1, $2, ...")
            })?;
        let value = params
            .get(n.wrapping_sub(1))
            .ok_or_else(|| PgError::error("42P02", format!("there is no parameter ${n}")))?;
        let r = match value {
            Value::Null => stmt.raw_bind_parameter(i, rusqlite::types::Null),
            Value::Bool(b) => stmt.raw_bind_parameter(i, *b as i64),
            Value::Int(v) => stmt.raw_bind_parameter(i, v),
            // SQLite stores a NaN REAL as NULL; as text it stays NaN (the
            // float encoders read it back).
            Value::Float(v) if v.is_nan() => stmt.raw_bind_parameter(i, "NaN"),
            Value::Float(v) => stmt.raw_bind_parameter(i, v),
            Value::Numeric(s) | Value::Text(s) => stmt.raw_bind_parameter(i, s.as_str()),
            Value::Bytes(b) => stmt.raw_bind_parameter(i, b.as_slice()),
        };
        r.map_err(map_error)?;
    }
    Ok(())
}

/// The highest `$n` a statement uses.
fn param_count(stmt: &rusqlite::Statement<'_>) -> usize {
    (1..=stmt.parameter_count())
        .filter_map(|i| {
            stmt.parameter_name(i)?
                .strip_prefix('$')?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

fn cell(v: ValueRef<'_>) -> Cell<'_> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Cell::Text(s),
            Err(_) => Cell::Bytes(t),
        },
        ValueRef::Blob(b) => Cell::Bytes(b),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl BackendConnection for EmbeddedConnection {
    fn describe(&mut self, sql: &str, param_types: &[Oid]) -> Result<Description, PgError> {
        let translated = translate::to_sqlite(sql)?;
        self.catalog.refresh_for(&self.conn, sql);
        self.schema.refresh(&self.conn);
        let stmt = self.conn.prepare_cached(&translated).map_err(map_error)?;
        let n = param_count(&stmt).max(param_types.len());
        let params = schema::infer_param_types(sql, n, param_types, &self.schema);
        let columns = (stmt.column_count() > 0)
            .then(|| plan_columns(&stmt, sql, &params, &self.schema).columns);
        Ok(Description { params, columns })
    }

    fn execute(
        &mut self,
        st: &Statement<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        self.set_session(st.session);
        self.cancelled.store(false, Ordering::SeqCst);
        let translated = translate::to_sqlite(st.sql)?;
        let autocommit = self.conn.is_autocommit();
        if autocommit {
            self.clock.begin();
        }
        self.catalog.refresh_for(&self.conn, st.sql);
        let r = self.run(st, &translated, sink);
        if autocommit {
            self.clock.end();
        }
        r
    }

    fn transaction(&mut self, op: &TxOp) -> Result<(), PgError> {
        let r = self.run_transaction(op);
        if self.conn.is_autocommit() {
            self.clock.end();
        } else if matches!(op, TxOp::Begin { .. }) {
            self.clock.begin();
        }
        r
    }

    fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    fn interrupter(&self) -> Interrupter {
        let handle = self.conn.get_interrupt_handle();
        let cancelled = self.cancelled.clone();
        Interrupter::new(move || {
            cancelled.store(true, Ordering::SeqCst);
            handle.interrupt();
        })
    }

    fn reset(&mut self) -> Result<(), PgError> {
        self.reset_connection()
    }
}

impl EmbeddedConnection {
    fn run(
        &mut self,
        st: &Statement<'_>,
        sql: &str,
        sink: &mut dyn RowSink,
    ) -> Result<ExecOutcome, PgError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_error)?;
        bind_params(&mut stmt, st.params)?;
        if stmt.column_count() == 0 {
            stmt.raw_execute().map_err(map_error)?;
            drop(stmt);
            if is_ddl(st.sql) {
                self.plans.clear();
            }
            return Ok(ExecOutcome {
                rows: self.conn.changes(),
                returned_rows: false,
            });
        }
        let plan = match self.plans.get(st.sql) {
            Some(p) if p.columns.len() == stmt.column_count() => p.clone(),
            _ => {
                self.schema.refresh(&self.conn);
                let p = Arc::new(plan_columns(&stmt, st.sql, st.param_types, &self.schema));
                if self.plans.len() >= PLAN_CACHE {
                    self.plans.clear();
                }
                self.plans.insert(st.sql.to_owned(), p.clone());
                p
            }
        };
        let width = plan.columns.len();
        // Array columns: the JSON arrays the dialect layer builds are sent
        // in PostgreSQL's text form.
        let arrays: Vec<usize> = (0..width)
            .filter(|&i| types::element_type(plan.columns[i].type_oid).is_some())
            .collect();
        let mut rows = stmt.raw_query();
        let mut count = 0u64;
        let mut described = false;
        while let Some(row) = rows.next().map_err(map_error)? {
            if !described {
                if plan.from_row.is_empty() {
                    sink.columns(&plan.columns)?;
                } else {
                    sink.columns(&plan.with_row(Some(row)))?;
                }
                described = true;
            }
            let literals: Vec<Option<String>> = arrays
                .iter()
                .map(|&i| match row.get_ref(i) {
                    Ok(ValueRef::Text(t)) => std::str::from_utf8(t)
                        .ok()
                        .and_then(catalog::json_array_literal),
                    _ => None,
                })
                .collect();
            let mut cells = (0..width)
                .map(|i| row.get_ref(i).map(cell))
                .collect::<Result<Vec<Cell<'_>>, _>>()
                .map_err(map_error)?;
            for (&i, lit) in arrays.iter().zip(&literals) {
                if let Some(lit) = lit {
                    cells[i] = Cell::Text(lit);
                }
            }
            sink.row(&cells)?;
            count += 1;
        }
        if !described {
            sink.columns(&plan.columns)?;
        }
        Ok(ExecOutcome {
            rows: count,
            returned_rows: true,
        })
    }

    fn run_transaction(&mut self, op: &TxOp) -> Result<(), PgError> {
        let sql = match op {
            TxOp::Begin { .. } => "BEGIN".to_owned(),
            TxOp::Commit => "COMMIT".to_owned(),
            TxOp::Rollback => "ROLLBACK".to_owned(),
            TxOp::Savepoint(n) => format!("SAVEPOINT {}", quote_ident(n)),
            TxOp::Release(n) => format!("RELEASE SAVEPOINT {}", quote_ident(n)),
            TxOp::RollbackTo(n) => format!("ROLLBACK TO SAVEPOINT {}", quote_ident(n)),
        };
        if matches!(op, TxOp::Commit | TxOp::Rollback) && self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch(&sql).map_err(map_error)
    }

    fn reset_connection(&mut self) -> Result<(), PgError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(map_error)?;
        }
        self.clock.end();
        // Temporary tables belong to the session that made them.
        let temps: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT name FROM temp.sqlite_master WHERE type = 'table'")
                .map_err(map_error)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(map_error)?;
            rows.filter_map(Result::ok).collect()
        };
        for t in temps {
            self.conn
                .execute_batch(&format!("DROP TABLE temp.{}", quote_ident(&t)))
                .map_err(map_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::worker::{EncodingSink, ExecRequest};
    use tokio::sync::mpsc;

    fn run(
        conn: &mut EmbeddedConnection,
        sql: &str,
        params: &[Value],
    ) -> Result<(ExecOutcome, Vec<Column>), PgError> {
        struct Collect(Vec<Column>);
        impl RowSink for Collect {
            fn columns(&mut self, c: &[Column]) -> Result<(), PgError> {
                self.0 = c.to_vec();
                Ok(())
            }
            fn row(&mut self, _: &[Cell<'_>]) -> Result<(), PgError> {
                Ok(())
            }
        }
        let snap = Arc::new(SessionSnapshot::default());
        let mut sink = Collect(vec![]);
        let out = conn.execute(
            &Statement {
                sql,
                params,
                param_types: &[],
                session: &snap,
            },
            &mut sink,
        )?;
        Ok((out, sink.0))
    }

    #[test]
    fn dml_and_queries() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        run(
            &mut c,
            "CREATE TABLE t (id int, name varchar(20), v bigint)",
            &[],
        )
        .unwrap();
        let (o, _) = run(
            &mut c,
            "INSERT INTO t VALUES ($1, $2, $3)",
            &[Value::Int(1), Value::Text("a".into()), Value::Null],
        )
        .unwrap();
        assert_eq!(
            o,
            ExecOutcome {
                rows: 1,
                returned_rows: false
            }
        );
        let (o, cols) = run(&mut c, "SELECT id, name, v, 1, count(*) FROM t", &[]).unwrap();
        assert_eq!(
            o,
            ExecOutcome {
                rows: 1,
                returned_rows: true
            }
        );
        let types: Vec<(String, Oid, i32)> = cols
            .iter()
            .map(|c| (c.name.clone(), c.type_oid, c.type_modifier))
            .collect();
        assert_eq!(
            types,
            vec![
                ("id".into(), oid::INT4, -1),
                ("name".into(), oid::VARCHAR, 24),
                ("v".into(), oid::INT8, -1),
                ("?column?".into(), oid::INT4, -1),
                ("count".into(), oid::INT8, -1),
            ]
        );
        let (o, cols) = run(&mut c, "SELECT * FROM t WHERE id = 99", &[]).unwrap();
        assert_eq!(o.rows, 0);
        assert_eq!(cols.len(), 3);
        assert_eq!(
            run(&mut c, "SELECT $2", &[Value::Int(1)]).unwrap_err().code,
            "42P02"
        );
    }

    #[test]
    fn describe_infers_parameter_and_column_types() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        run(
            &mut c,
            "CREATE TABLE t (id bigserial primary key, name varchar(20), n int, at timestamptz)",
            &[],
        )
        .unwrap();
        let d = c
            .describe("SELECT id, name, n + 1, $2::int8 FROM t WHERE n = $1", &[])
            .unwrap();
        assert_eq!(d.params, vec![oid::INT4, oid::INT8]);
        let cols: Vec<(String, Oid)> = d
            .columns
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.type_oid))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("id".to_owned(), oid::INT8),
                ("name".to_owned(), oid::VARCHAR),
                ("?column?".to_owned(), oid::INT4),
                ("int8".to_owned(), oid::INT8),
            ]
        );
        let d = c
            .describe("INSERT INTO t (name, at) VALUES ($1, $2) RETURNING id", &[])
            .unwrap();
        assert_eq!(d.params, vec![oid::VARCHAR, oid::TIMESTAMPTZ]);
        let d = c.describe("SELECT $1", &[oid::INT4]).unwrap();
        assert_eq!(d.params, vec![oid::INT4]);
        assert_eq!(d.columns.unwrap()[0].type_oid, oid::INT4);
        let d = c.describe("SELECT * FROM t LIMIT $1", &[]).unwrap();
        assert_eq!(d.params, vec![oid::INT8]);
        assert_eq!(d.columns.unwrap().len(), 4);
    }

    #[test]
    fn a_temp_table_made_after_a_describe_is_seen() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        run(&mut c, "CREATE TABLE t (a int)", &[]).unwrap();
        assert_eq!(
            c.describe("INSERT INTO t VALUES ($1)", &[]).unwrap().params,
            vec![oid::INT4]
        );
        run(&mut c, "CREATE TEMP TABLE tt (b int8, d date)", &[]).unwrap();
        assert_eq!(
            c.describe("INSERT INTO tt VALUES ($1, $2)", &[])
                .unwrap()
                .params,
            vec![oid::INT8, oid::DATE]
        );
    }

    #[test]
    fn transactions_and_reset() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        c.transaction(&TxOp::Begin { isolation: None }).unwrap();
        assert!(c.in_transaction());
        run(&mut c, "CREATE TEMP TABLE tt (a int)", &[]).unwrap();
        c.transaction(&TxOp::Savepoint("s".into())).unwrap();
        c.transaction(&TxOp::RollbackTo("s".into())).unwrap();
        c.transaction(&TxOp::Commit).unwrap();
        assert!(!c.in_transaction());
        c.transaction(&TxOp::Begin { isolation: None }).unwrap();
        c.reset().unwrap();
        assert!(!c.in_transaction());
        assert_eq!(
            run(&mut c, "SELECT * FROM tt", &[]).unwrap_err().code,
            "42P01"
        );
    }

    /// Interrupts through `i` after `after`, and again every 50 ms until
    /// `done` is set: an interrupt that comes before the statement is under
    /// way is dropped (SQLite ignores it and `execute` clears the flag), and
    /// on a busy machine the statement may start late. The session does the
    /// same (it repeats the interrupt until the statement ends).
    fn interrupt_until_done(
        i: Interrupter,
        after: Duration,
        done: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            std::thread::sleep(after);
            while !done.load(Ordering::SeqCst) {
                i.interrupt();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }

    #[test]
    fn interrupt_stops_a_long_query() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let t = interrupt_until_done(c.interrupter(), Duration::from_millis(100), done.clone());
        let e = run(
            &mut c,
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
            &[],
        )
        .unwrap_err();
        done.store(true, Ordering::SeqCst);
        t.join().unwrap();
        assert_eq!(e.code, "57014");
        // Usable afterwards.
        assert!(run(&mut c, "SELECT 1", &[]).is_ok());
    }

    #[test]
    fn open_errors_do_not_name_server_paths() {
        let e =
            EmbeddedConnection::open(Path::new("/nonexistent-dir-for-pgiris/secret-name.sqlite3"))
                .err()
                .expect("open must fail");
        assert_eq!(e.code, "58030");
        assert!(!e.message.contains("secret-name"), "{}", e.message);
        assert!(!e.message.contains("/nonexistent"), "{}", e.message);
    }

    #[test]
    fn pg_sleep_sleeps_and_stops_on_interrupt() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        let t0 = std::time::Instant::now();
        run(&mut c, "SELECT pg_sleep(0.05)", &[]).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(50));
        let done = Arc::new(AtomicBool::new(false));
        let t = interrupt_until_done(c.interrupter(), Duration::from_millis(100), done.clone());
        let t0 = std::time::Instant::now();
        let e = run(&mut c, "SELECT pg_sleep(30)", &[]).unwrap_err();
        done.store(true, Ordering::SeqCst);
        t.join().unwrap();
        assert_eq!(e.code, "57014");
        // Well short of the 30 s asked for: the interrupt stopped it.
        assert!(t0.elapsed() < Duration::from_secs(10));
        // The flag does not leak into the next statement.
        run(&mut c, "SELECT pg_sleep(0.01)", &[]).unwrap();
    }

    #[test]
    fn session_functions_answer_from_the_snapshot() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        let mut snap = SessionSnapshot {
            user: "alice".into(),
            database: "db".into(),
            backend_pid: 42,
            version: "PostgreSQL 16.9".into(),
            ..Default::default()
        };
        snap.settings
            .insert("application_name".into(), "app".into());
        assert_eq!(
            text_rows_in(
                &mut c,
                "SELECT version(), current_user(), current_database(), pg_backend_pid(), current_setting('application_name')",
                snap,
            )
            .unwrap(),
            strings(&[&["PostgreSQL 16.9", "alice", "db", "42", "app"]])
        );
    }

    /// Runs `sql` as `user`; the rows as PostgreSQL's text.
    fn text_rows(
        c: &mut EmbeddedConnection,
        sql: &str,
        user: &str,
    ) -> Result<Vec<Vec<Option<String>>>, PgError> {
        let snap = SessionSnapshot {
            user: user.into(),
            ..Default::default()
        };
        text_rows_in(c, sql, snap)
    }

    /// Runs `sql` in the session `snap` describes; the rows as PostgreSQL's
    /// text (a small result: all of it in the sink's tail).
    fn text_rows_in(
        c: &mut EmbeddedConnection,
        sql: &str,
        snap: SessionSnapshot,
    ) -> Result<Vec<Vec<Option<String>>>, PgError> {
        let (tx, mut rx) = mpsc::channel(8);
        let req = ExecRequest {
            sql: sql.into(),
            params: vec![],
            param_types: vec![],
            session: Arc::new(snap),
            result_formats: vec![],
            described: None,
            send_row_description: false,
            max_rows: 0,
        };
        let mut sink = EncodingSink::new(&req, tx);
        let out = c.execute(
            &Statement {
                sql: &req.sql,
                params: &[],
                param_types: &[],
                session: &req.session,
            },
            &mut sink,
        )?;
        let done = sink.finish(out, false)?;
        assert!(rx.try_recv().is_err(), "small results stay in the tail");
        Ok(crate::wire::backend::split_messages(&done.tail)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                crate::wire::backend::BackendMessage::DataRow(cells) => Some(
                    cells
                        .into_iter()
                        .map(|c| c.map(|b| String::from_utf8(b.to_vec()).unwrap()))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    fn strings(rows: &[&[&str]]) -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|c| (*c != "<null>").then(|| (*c).to_owned()))
                    .collect()
            })
            .collect()
    }

    /// The catalog queries psql 15 sends for `\dt`, `\d t` and `\d nosuch`
    /// (captured with `psql -E`), answered as PostgreSQL 15 answers them
    /// for the same tables (its answers pasted, oids aside).
    #[test]
    fn psql_describe_queries() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        for ddl in [
            "CREATE TABLE t (id serial primary key, name text not null, price numeric(10,2) default 0, at timestamptz)",
            "CREATE INDEX t_name ON t (name)",
            "CREATE VIEW v AS SELECT id FROM t",
            "CREATE TABLE u (a varchar(20) unique, b int)",
        ] {
            run(&mut c, ddl, &[]).unwrap();
        }
        let list = "SELECT n.nspname as \"Schema\",
  c.relname as \"Name\",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",
  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;";
        assert_eq!(
            text_rows(&mut c, list, "alice").unwrap(),
            strings(&[
                &["public", "t", "table", "alice"],
                &["public", "u", "table", "alice"]
            ])
        );
        let lookup = |name: &str| {
            format!(
                "SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^({name})$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;"
            )
        };
        assert!(
            text_rows(&mut c, &lookup("nosuch"), "alice")
                .unwrap()
                .is_empty()
        );
        let found = text_rows(&mut c, &lookup("t"), "alice").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0][1..], strings(&[&["public", "t"]])[0][..]);
        let oid = found[0][0].clone().unwrap();
        assert!(oid.parse::<u32>().unwrap() >= 16384);

        let details = format!("SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '{oid}';");
        assert_eq!(
            text_rows(&mut c, &details, "alice").unwrap(),
            strings(&[&[
                "0", "r", "t", "f", "f", "f", "f", "f", "f", "", "0", "", "p", "d", "heap"
            ]])
        );
        let attributes = format!("SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '{oid}' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;");
        assert_eq!(
            text_rows(&mut c, &attributes, "alice").unwrap(),
            strings(&[
                &[
                    "id",
                    "integer",
                    "nextval('t_id_seq'::regclass)",
                    "t",
                    "<null>",
                    "",
                    ""
                ],
                &["name", "text", "<null>", "t", "<null>", "", ""],
                &["price", "numeric(10,2)", "0", "f", "<null>", "", ""],
                &[
                    "at",
                    "timestamp with time zone",
                    "<null>",
                    "f",
                    "<null>",
                    "",
                    ""
                ],
            ])
        );
        let indexes = format!("SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = '{oid}' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;");
        assert_eq!(
            text_rows(&mut c, &indexes, "alice").unwrap(),
            strings(&[
                &[
                    "t_pkey",
                    "t",
                    "t",
                    "f",
                    "t",
                    "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
                    "PRIMARY KEY (id)",
                    "p",
                    "f",
                    "f",
                    "f",
                    "0"
                ],
                &[
                    "t_name",
                    "f",
                    "f",
                    "f",
                    "t",
                    "CREATE INDEX t_name ON public.t USING btree (name)",
                    "<null>",
                    "<null>",
                    "<null>",
                    "<null>",
                    "f",
                    "0"
                ],
            ])
        );
        // Row-level security policies: a catalog pgiris keeps empty, read
        // with array syntax SQLite has not.
        let policies = format!("SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{{0}}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '{oid}' ORDER BY 1;");
        assert!(text_rows(&mut c, &policies, "alice").unwrap().is_empty());
        // The catalog follows the schema, also within a transaction.
        run(&mut c, "BEGIN", &[]).unwrap();
        run(&mut c, "DROP TABLE u", &[]).unwrap();
        assert_eq!(
            text_rows(&mut c, list, "alice").unwrap(),
            strings(&[&["public", "t", "table", "alice"]])
        );
        run(&mut c, "ROLLBACK", &[]).unwrap();
        assert_eq!(text_rows(&mut c, list, "alice").unwrap().len(), 2);
    }

    #[test]
    fn regular_expression_operators() {
        let mut c = EmbeddedConnection::open_in_memory().unwrap();
        assert_eq!(
            text_rows(
                &mut c,
                "SELECT 'abc' ~ 'b', 'abc' !~ 'b', 'ABC' ~* 'b', 'ABC' !~* 'b', ~5, NULL ~ 'a'",
                "alice"
            )
            .unwrap(),
            strings(&[&["t", "f", "t", "f", "-6", "<null>"]])
        );
        let e = text_rows(&mut c, "SELECT 'abc' ~ '('", "alice").unwrap_err();
        assert_eq!(e.code, "2201B");
    }

    /// A burst of first connections to a fresh database file: switching it
    /// to WAL takes an exclusive lock, and SQLite answers a second
    /// connection's switch with SQLITE_BUSY at once (no busy handler: two
    /// readers upgrading would deadlock). Found by the soak test (55P03 on
    /// a warm-up query).
    #[test]
    fn a_burst_of_first_connections_to_a_fresh_file_all_open() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fresh.sqlite3");
            let barrier = Arc::new(std::sync::Barrier::new(16));
            let threads: Vec<_> = (0..16)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let mut c = EmbeddedConnection::open(&path)?;
                        run(&mut c, "SELECT 1", &[]).map(|_| ())
                    })
                })
                .collect();
            for t in threads {
                if let Err(e) = t.join().unwrap() {
                    panic!("round {round}: {} {}", e.code, e.message);
                }
            }
        }
    }
}
