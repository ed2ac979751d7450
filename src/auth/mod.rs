//! Client authentication: pg_hba.conf rules, the users file, and the
//! methods (trust, reject, SCRAM-SHA-256(-PLUS), md5, password, iris).
//!
//! Interim version: trust and reject only; the full implementation replaces
//! this module with the same driver shape (`Exchange`, `Step`).

use crate::backend::Secret;
use crate::wire::error::{PgError, sqlstate};

/// What an hba line says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
}

/// The AuthenticationXXX request to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    Ok,
    CleartextPassword,
    Md5Password { salt: [u8; 4] },
    Sasl { mechanisms: Vec<&'static str> },
    SaslContinue(Vec<u8>),
    SaslFinal(Vec<u8>),
}

/// A failed login: what the client sees and what the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub error: PgError,
    pub reason: String,
}

/// The next thing a login does.
#[derive(Debug)]
pub enum Step {
    Send(AuthRequest),
    Success { final_message: Option<AuthRequest> },
    VerifyWithBackend { password: Secret },
    Failure(AuthFailure),
}

/// One login's exchange.
#[derive(Debug)]
pub struct Exchange {
    method: Method,
    user: String,
}

impl Exchange {
    pub fn new(method: Method, user: &str) -> Exchange {
        Exchange {
            method,
            user: user.to_owned(),
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn start(&mut self) -> Step {
        match self.method {
            Method::Trust => Step::Success {
                final_message: None,
            },
            Method::Reject => Step::Failure(AuthFailure {
                error: PgError::fatal(
                    sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                    format!("pg_hba.conf rejects connection for user \"{}\"", self.user),
                ),
                reason: "rejected by pg_hba.conf".into(),
            }),
        }
    }

    pub fn on_message(&mut self, _body: &[u8]) -> Step {
        Step::Failure(AuthFailure {
            error: PgError::fatal(sqlstate::PROTOCOL_VIOLATION, "unexpected password message"),
            reason: "unexpected password message".into(),
        })
    }
}
