//! Extended-query-protocol helpers for raw-socket tests: message builders,
//! a pipelined send-and-collect, and a one-line rendering of every backend
//! message that keeps everything a test asserts on (names, OIDs, typmods,
//! formats, cell bytes, SQLSTATEs, tags), so whole conversations compare as
//! short string lists.

use bytes::Bytes;
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::{FrontendMessage, Target};
use pgiris::wire::types::Oid;

use super::raw::{RawClient, encode};

/// Parse of `sql` as statement `name` ("" = unnamed) with `types`.
pub fn parse(name: &str, sql: &str, types: &[Oid]) -> FrontendMessage {
    FrontendMessage::Parse {
        name: name.into(),
        query: sql.into(),
        param_types: types.to_vec(),
    }
}

/// Bind with text parameters (None = NULL) and text results.
pub fn bind(portal: &str, statement: &str, params: &[Option<&str>]) -> FrontendMessage {
    bind_with(
        portal,
        statement,
        &[],
        params
            .iter()
            .map(|p| p.map(|s| s.as_bytes().to_vec()))
            .collect(),
        &[],
    )
}

/// Bind with explicit parameter format codes, raw parameter bytes and
/// result format codes.
pub fn bind_with(
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    params: Vec<Option<Vec<u8>>>,
    result_formats: &[i16],
) -> FrontendMessage {
    FrontendMessage::Bind {
        portal: portal.into(),
        statement: statement.into(),
        param_formats: param_formats.to_vec(),
        params: params.into_iter().map(|p| p.map(Bytes::from)).collect(),
        result_formats: result_formats.to_vec(),
    }
}

pub fn describe_statement(name: &str) -> FrontendMessage {
    FrontendMessage::Describe {
        target: Target::Statement,
        name: name.into(),
    }
}

pub fn describe_portal(name: &str) -> FrontendMessage {
    FrontendMessage::Describe {
        target: Target::Portal,
        name: name.into(),
    }
}

/// Execute `portal` returning at most `max_rows` rows (0 = all).
pub fn execute(portal: &str, max_rows: i32) -> FrontendMessage {
    FrontendMessage::Execute {
        portal: portal.into(),
        max_rows,
    }
}

pub fn close_statement(name: &str) -> FrontendMessage {
    FrontendMessage::Close {
        target: Target::Statement,
        name: name.into(),
    }
}

pub fn close_portal(name: &str) -> FrontendMessage {
    FrontendMessage::Close {
        target: Target::Portal,
        name: name.into(),
    }
}

pub fn sync() -> FrontendMessage {
    FrontendMessage::Sync
}

pub fn flush() -> FrontendMessage {
    FrontendMessage::Flush
}

/// Sends `msgs` in one write (pipelined) and reads one ReadyForQuery per
/// Sync and simple Query among them; returns everything read.
pub async fn exchange(c: &mut RawClient, msgs: &[FrontendMessage]) -> Vec<BackendMessage> {
    let readies = msgs
        .iter()
        .filter(|m| matches!(m, FrontendMessage::Sync | FrontendMessage::Query(_)))
        .count();
    assert!(readies > 0, "exchange needs a Sync or a Query to end on");
    c.send(&encode(msgs)).await;
    let mut out = Vec::new();
    for _ in 0..readies {
        out.extend(c.read_until_ready().await);
    }
    out
}

/// As [`exchange`], rendered with [`brief`].
pub async fn exchange_brief(c: &mut RawClient, msgs: &[FrontendMessage]) -> Vec<String> {
    exchange(c, msgs).await.iter().map(brief).collect()
}

/// A cell as text when it is printable UTF-8, else `0x` and hex.
pub fn cell(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_owned(),
        _ => format!("0x{}", hex(b)),
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One line per message:
/// `1` ParseComplete, `2` BindComplete, `3` CloseComplete, `n` NoData,
/// `s` PortalSuspended, `I` EmptyQueryResponse, `C <tag>`,
/// `t [oids]`, `T [name:oid/typmod/format ...]`, `D [cells]` (NULL for
/// null), `E <severity> <code> <message>`, `N <severity> <code> <message>`,
/// `Z <status>`, `S <name>=<value>`.
pub fn brief(m: &BackendMessage) -> String {
    match m {
        BackendMessage::ParseComplete => "1".into(),
        BackendMessage::BindComplete => "2".into(),
        BackendMessage::CloseComplete => "3".into(),
        BackendMessage::NoData => "n".into(),
        BackendMessage::PortalSuspended => "s".into(),
        BackendMessage::EmptyQueryResponse => "I".into(),
        BackendMessage::CommandComplete(t) => format!("C {t}"),
        BackendMessage::ParameterDescription(oids) => format!(
            "t [{}]",
            oids.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        BackendMessage::RowDescription(cols) => format!(
            "T [{}]",
            cols.iter()
                .map(|(name, _, _, oid, _, typmod, fmt)| format!("{name}:{oid}/{typmod}/{fmt}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        BackendMessage::DataRow(cells) => format!(
            "D [{}]",
            cells
                .iter()
                .map(|c| c.as_ref().map(|b| cell(b)).unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        BackendMessage::ErrorResponse(_) | BackendMessage::NoticeResponse(_) => format!(
            "{} {} {} {}",
            if matches!(m, BackendMessage::ErrorResponse(_)) {
                "E"
            } else {
                "N"
            },
            m.field(b'V').unwrap_or("?"),
            m.field(b'C').unwrap_or("?"),
            m.field(b'M').unwrap_or("?")
        ),
        BackendMessage::ReadyForQuery(s) => format!("Z {}", *s as char),
        BackendMessage::ParameterStatus { name, value } => format!("S {name}={value}"),
        other => format!("{other:?}"),
    }
}

/// The `brief` lines of `msgs`.
pub fn briefs(msgs: &[BackendMessage]) -> Vec<String> {
    msgs.iter().map(brief).collect()
}

/// The raw cell bytes of every DataRow (binary results).
pub fn raw_rows(msgs: &[BackendMessage]) -> Vec<Vec<Option<Bytes>>> {
    msgs.iter()
        .filter_map(|m| match m {
            BackendMessage::DataRow(cells) => Some(cells.clone()),
            _ => None,
        })
        .collect()
}
