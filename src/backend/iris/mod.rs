//! The IRIS backend: a native client of the SuperServer protocol.

pub mod frame;
pub mod list;
pub mod message;
pub mod sql;
pub mod sqlcode;
pub mod types;
