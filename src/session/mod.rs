//! The per-client protocol state machine: startup parameters, settings,
//! transaction status, prepared statements and portals.

pub mod params;
pub mod sql;
