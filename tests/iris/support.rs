//! Helpers shared by the IRIS integration tests: a row sink that renders
//! cells as PostgreSQL text, a session snapshot, and backend settings for a
//! test double on 127.0.0.1.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use pgiris::backend::iris::IrisBackend;
use pgiris::backend::{
    BackendConnection, Cell, Column, ExecOutcome, RowSink, Secret, SessionSnapshot, Statement,
    Value,
};
use pgiris::config::IrisSettings;
use pgiris::wire::error::PgError;
use pgiris::wire::types::encode_text;

/// Collects a result as PostgreSQL text (None = NULL).
#[derive(Debug, Default)]
pub struct Collect {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
    pub column_calls: usize,
}

impl RowSink for Collect {
    fn columns(&mut self, columns: &[Column]) -> Result<(), PgError> {
        self.columns = columns.to_vec();
        self.column_calls += 1;
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), PgError> {
        let row = cells
            .iter()
            .zip(&self.columns)
            .map(|(cell, col)| {
                if *cell == Cell::Null {
                    return None;
                }
                let mut out = BytesMut::new();
                encode_text(*cell, col.type_oid, &mut out).expect("renderable cell");
                Some(String::from_utf8(out.to_vec()).expect("utf-8 text"))
            })
            .collect();
        self.rows.push(row);
        Ok(())
    }
}

pub fn snapshot() -> SessionSnapshot {
    let mut settings = BTreeMap::new();
    settings.insert("timezone".to_string(), "Etc/UTC".to_string());
    settings.insert("datestyle".to_string(), "ISO, MDY".to_string());
    SessionSnapshot {
        user: "alice".into(),
        database: "USER".into(),
        backend_pid: 4711,
        version: "PostgreSQL 16.9 (pgiris test) on InterSystems IRIS".into(),
        settings: pgiris::session::params::SettingsView::from_map(settings),
    }
}

pub fn settings(addr: SocketAddr) -> IrisSettings {
    IrisSettings {
        host: addr.ip().to_string(),
        port: addr.port(),
        user: "_SYSTEM".into(),
        namespace: "USER".into(),
        namespaces: vec!["USER".into(), "SAMPLES".into()],
        connect_timeout: Duration::from_secs(5),
        ..IrisSettings::default()
    }
}

pub fn backend(addr: SocketAddr) -> IrisBackend {
    IrisBackend::with_password(&settings(addr), Some(Secret::new("SYS"))).expect("backend")
}

/// Runs one statement with parameters.
pub fn run(
    conn: &mut dyn BackendConnection,
    sql: &str,
    params: &[Value],
) -> Result<(ExecOutcome, Collect), PgError> {
    let snap = std::sync::Arc::new(snapshot());
    let stmt = Statement {
        sql,
        params,
        param_types: &[],
        session: &snap,
    };
    let mut sink = Collect::default();
    let outcome = conn.execute(&stmt, &mut sink)?;
    Ok((outcome, sink))
}

/// Rows of a query that must succeed.
pub fn rows(
    conn: &mut dyn BackendConnection,
    sql: &str,
    params: &[Value],
) -> Vec<Vec<Option<String>>> {
    match run(conn, sql, params) {
        Ok((_, c)) => c.rows,
        Err(e) => panic!("{sql}: {e} ({:?})", e.detail),
    }
}

/// The eight parameters of the captured INSERT (the official Python
/// driver's `PU` in `cap2_off320.jsonl`): integers, Latin-1 and UTF-16
/// text, NULL, a double, a decimal and the empty string.
pub fn captured_insert_values() -> Vec<Value> {
    vec![
        Value::Int(42),
        Value::Int(-7),
        Value::Text("héllo".into()),
        Value::Text("Ωmega".into()),
        Value::Null,
        Value::Float(3.5),
        Value::Numeric("12.34".into()),
        Value::Text(String::new()),
    ]
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}
