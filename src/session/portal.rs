//! Prepared statements and portals of the extended query protocol.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::backend::{Column, Description, Value};
use crate::session::sql::Command;
use crate::wire::types::{Oid, oid};

/// What a prepared statement runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The empty query: Execute answers EmptyQueryResponse.
    Empty,
    /// A statement the session answers itself.
    Session(Command),
    /// A statement for the backend, with its CommandComplete verb.
    Backend { sql: Arc<str>, verb: String },
}

/// A parsed statement (named, or the unnamed one).
#[derive(Debug)]
pub struct Prepared {
    pub body: Body,
    pub params: Vec<Oid>,
    /// Result columns; None = NoData.
    pub columns: Option<Arc<Vec<Column>>>,
}

impl Prepared {
    pub fn new(body: Body, description: Description) -> Prepared {
        Prepared {
            body,
            params: description.params,
            columns: description.columns.map(Arc::new),
        }
    }

    /// The columns a session statement returns (SHOW has rows).
    pub fn session_columns(cmd: &Command) -> Option<Vec<Column>> {
        match cmd {
            Command::Show(name) => Some(vec![Column::new(name.clone(), oid::TEXT)]),
            Command::ShowAll => Some(vec![
                Column::new("name", oid::TEXT),
                Column::new("setting", oid::TEXT),
                Column::new("description", oid::TEXT),
            ]),
            _ => None,
        }
    }
}

/// Where a portal is in its execution.
#[derive(Debug)]
pub enum PortalState {
    /// Not run yet.
    Ready,
    /// Ran with a row limit: rows not yet sent and the verb for the final
    /// tag.
    Suspended { held: VecDeque<Bytes>, verb: String },
    /// Ran to completion.
    Done,
}

/// A bound statement.
#[derive(Debug)]
pub struct Portal {
    pub statement: Arc<Prepared>,
    pub params: Vec<Value>,
    pub result_formats: Vec<i16>,
    pub state: PortalState,
}
