//! pgiris: a PostgreSQL wire-protocol server for InterSystems IRIS.
//!
//! The core under `src/` is plain Rust that knows nothing of actix: the wire
//! codec, TLS, authentication, the per-client session state machine and the
//! backends. The actor shell lives in `../actors` and is mounted here so that
//! the crate is one package; a move away from actix touches only that folder.

pub mod auth;
pub mod backend;
pub mod config;
pub mod log;
pub mod net;
pub mod session;
pub mod sql;
pub mod supervise;
pub mod wire;

#[path = "../actors/mod.rs"]
pub mod actors;

/// The version of pgiris itself, reported in `version()`.
pub const PGIRIS_VERSION: &str = env!("CARGO_PKG_VERSION");
