//! The PostgreSQL frontend/backend protocol: framing, strict decoding of
//! what clients send, encoding of what the server sends, SQLSTATEs and data
//! type formats.

pub mod error;
pub mod types;

pub use error::{PgError, Severity, sqlstate};
