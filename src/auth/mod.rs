//! Client authentication: pg_hba.conf rules ([`hba`]), the users file
//! ([`users`]), the methods (trust, reject, SCRAM-SHA-256(-PLUS), md5,
//! password, iris) driven by [`Exchange`], and failure throttling
//! ([`throttle`]). Pure: no actix, no sockets; the only I/O is reading the
//! two files.
//!
//! How a session uses it:
//!
//! 1. `HbaRules::find(&facts)` picks the rule (none: send
//!    [`hba::no_match_error`]);
//! 2. `Exchange::new(rule.method, rule.allow_plaintext, &facts,
//!    users.get(user), channel_binding, &mock)`, then `start()`;
//! 3. feed each 'p' message body to `on_message` until `Success` or
//!    `Failure`; run `CheckPassword` / `VerifyWithBackend` off the async
//!    threads and report with `on_verdict`.
//!
//! Cost: everything on the login path is a few HMACs, except
//! [`PasswordCheck::verify`] (PBKDF2). Loading the users file
//! ([`UserList::parse`], [`UserList::load`]) runs PBKDF2 for each plaintext
//! password, and [`make_verifier`] / [`passwd_line`] run it once: call those
//! on a blocking thread, never on an async worker.

pub mod hba;
pub mod md5;
pub mod method;
pub mod scram;
pub mod throttle;
pub mod users;

pub use hba::{ConnFacts, HbaError, HbaRule, HbaRules, no_match_error, reject_error};
pub use method::{
    AuthFailure, AuthRequest, Exchange, Method, PasswordCheck, Step, password_failed_error,
};
pub use scram::{ChannelBindingData, MockSecret, ScramSecret, make_verifier};
pub use throttle::FailureThrottle;
pub use users::{Credential, UserList, UsersError, passwd_line};
