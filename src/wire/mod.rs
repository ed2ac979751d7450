//! The PostgreSQL frontend/backend protocol: framing, strict decoding of
//! what clients send, encoding of what the server sends, SQLSTATEs and data
//! type formats.

pub mod backend;
pub mod buf;
pub mod codec;
pub mod error;
pub mod frontend;
pub mod startup;
pub mod types;

pub use error::{PgError, Severity, sqlstate};
