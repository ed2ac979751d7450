//! Shared helpers for the black-box tests in `tests/`: each test file says
//! `mod common;` and uses what it needs.
//!
//! - [`server::TestServer`]: the real server in-process on 127.0.0.1:0 with
//!   a temp data directory, trust hba/users files, a settings-tweak closure,
//!   its registry counters and a captured log ([`log::CapturedLog`]).
//! - [`process::ServerProcess`]: the real binary as a subprocess with a temp
//!   config file and its JSON log captured (signals, reload, CLI).
//! - [`raw::RawClient`]: exact bytes out, decoded backend messages in, every
//!   read bounded by a timeout; helpers to pick rows, tags, errors apart.
//! - [`clients`]: tokio-postgres connect helpers and a `psql` runner.
//! - [`ext`]: extended-protocol message builders, pipelined exchanges and
//!   a one-line rendering of backend messages.
//! - [`health::Health`]: a healthy session querying while a test attacks
//!   the server; [`memory`]: the process's RSS and its peak.
//!
//! Every wait is a poll with a deadline, never a blind sleep, and every
//! server listens on port 0, so the tests run in parallel.
//!
//! The TLS and authentication tests use [`tlsauth`] instead: a server with
//! real hba, users and TLS files whose log is checked for secrets, and a
//! blocking raw client over plain TCP or TLS with SCRAM arithmetic.

#![allow(dead_code, unused_imports)]

pub mod clients;
pub mod ext;
pub mod health;
pub mod log;
pub mod memory;
pub mod process;
pub mod raw;
pub mod server;
pub mod tlsauth;

use std::time::Duration;

pub use clients::{
    PgClient, code_of, connect, pg_config, psql, psql_command, psql_env, try_connect_with,
};
pub use process::{ProcessConfig, ServerProcess, run_binary};
pub use raw::{RawClient, Read};
pub use server::{ADMIN_USER, TestServer, USER_ALICE, USER_BOB};

/// Polls `cond` every 10 ms until it holds (true) or `timeout` passes
/// (false).
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The blocking twin of [`wait_until`] for synchronous tests.
pub fn wait_until_blocking(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
