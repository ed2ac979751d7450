//! The per-client protocol state machine: startup parameters, settings,
//! transaction status, prepared statements and portals.

pub mod driver;
pub mod params;
pub mod portal;
pub mod run;
pub mod sql;

pub use driver::{
    Authenticate, BackendAccess, Conversation, Flow, IdleTimer, LoginFacts, LoginPlan,
    SessionConfig,
};
