//! The authentication driver a session runs after its hba rule is known:
//! which AuthenticationXXX request to send, how to read each 'p' message the
//! client answers with, and when the client is in. Independent of the
//! transport: the caller frames and sends [`AuthRequest`]s and hands over
//! message bodies.
//!
//! Every password failure, whatever its cause (unknown user, wrong
//! password, a user without a usable secret), ends in the same FATAL 28P01
//! `password authentication failed for user "x"`; the cause goes to
//! [`AuthFailure::reason`] for the log.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hba::{self, ConnFacts};
use super::md5::{self, Md5Hash};
use super::scram::{
    ChannelBindingData, MockSecret, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramExchange, ScramFailure,
    ScramSecret, ScramStep,
};
use super::users::Credential;
use crate::backend::Secret;
use crate::wire::error::{PgError, sqlstate};

/// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH: the longest PasswordMessage read.
pub const MAX_PASSWORD_MESSAGE_LEN: usize = 65535;

/// An hba method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
    ScramSha256,
    Md5,
    /// Cleartext password checked against the users file.
    Password,
    /// Cleartext password checked by logging in to IRIS.
    Iris,
}

impl Method {
    /// The name as written in pg_hba.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Trust => "trust",
            Method::Reject => "reject",
            Method::ScramSha256 => "scram-sha-256",
            Method::Md5 => "md5",
            Method::Password => "password",
            Method::Iris => "iris",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The AuthenticationXXX request to send to the client. `Debug` shows no
/// SASL payload (it carries nonces and salts).
#[derive(Clone, PartialEq, Eq)]
pub enum AuthRequest {
    Ok,
    CleartextPassword,
    Md5Password { salt: [u8; 4] },
    Sasl { mechanisms: Vec<&'static str> },
    SaslContinue(Vec<u8>),
    SaslFinal(Vec<u8>),
}

impl AuthRequest {
    /// The Int32 request code after the message length.
    pub fn code(&self) -> i32 {
        match self {
            AuthRequest::Ok => 0,
            AuthRequest::CleartextPassword => 3,
            AuthRequest::Md5Password { .. } => 5,
            AuthRequest::Sasl { .. } => 10,
            AuthRequest::SaslContinue(_) => 11,
            AuthRequest::SaslFinal(_) => 12,
        }
    }

    /// Appends the whole message: `R`, Int32 length, Int32 code, payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        match self {
            AuthRequest::Ok | AuthRequest::CleartextPassword => {}
            AuthRequest::Md5Password { salt } => payload.extend_from_slice(salt),
            AuthRequest::Sasl { mechanisms } => {
                for m in mechanisms {
                    payload.extend_from_slice(m.as_bytes());
                    payload.push(0);
                }
                payload.push(0);
            }
            AuthRequest::SaslContinue(data) | AuthRequest::SaslFinal(data) => {
                payload.extend_from_slice(data)
            }
        }
        out.push(b'R');
        // Auth payloads are bounded (SASL data is a few hundred bytes).
        let len = i32::try_from(8 + payload.len()).unwrap_or(i32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.code().to_be_bytes());
        out.extend_from_slice(&payload);
    }
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthRequest::Ok => f.write_str("AuthenticationOk"),
            AuthRequest::CleartextPassword => f.write_str("AuthenticationCleartextPassword"),
            AuthRequest::Md5Password { .. } => f.write_str("AuthenticationMD5Password"),
            AuthRequest::Sasl { mechanisms } => write!(f, "AuthenticationSASL({mechanisms:?})"),
            AuthRequest::SaslContinue(d) => {
                write!(f, "AuthenticationSASLContinue({} bytes)", d.len())
            }
            AuthRequest::SaslFinal(d) => write!(f, "AuthenticationSASLFinal({} bytes)", d.len()),
        }
    }
}

/// What the session does next.
#[derive(Debug)]
pub enum Step {
    /// Send this request and wait for the client's next 'p' message.
    Send(AuthRequest),
    /// Authenticated: send `final_message` (SASLFinal) if any, then
    /// AuthenticationOk.
    Success { final_message: Option<AuthRequest> },
    /// Method `iris`: log in to the backend as the user with this password,
    /// then call [`Exchange::on_verdict`] with the result.
    VerifyWithBackend { password: Secret },
    /// Method `password` against a SCRAM verifier: run
    /// [`PasswordCheck::verify`] **on a blocking thread** (one PBKDF2), then
    /// call [`Exchange::on_verdict`] with its result.
    CheckPassword(PasswordCheck),
    /// Send `error` (FATAL) and close.
    Failure(AuthFailure),
}

/// A failed authentication: what the client sees, and why (log only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// FATAL 28P01 `password authentication failed for user "x"` for every
    /// password failure; 28000 for hba refusals and channel-binding
    /// failures; 08P01 / 0A000 for malformed messages.
    pub error: PgError,
    /// For the server log; never a password, proof, nonce or verifier.
    pub reason: String,
}

/// A cleartext password to check against a SCRAM verifier. **Expensive**:
/// `verify` runs PBKDF2 with the verifier's iteration count. `Debug` hides
/// the password.
pub struct PasswordCheck {
    password: Vec<u8>,
    secret: ScramSecret,
    /// A mock check (unknown user): same cost, always false.
    doomed: bool,
}

impl PasswordCheck {
    /// Whether the password matches. **Expensive; never on an async worker.**
    pub fn verify(&self) -> bool {
        let matches = self.secret.matches_password(&self.password);
        matches && !self.doomed
    }
}

impl fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordCheck(***)")
    }
}

/// One client's authentication, from the first request to the verdict.
pub struct Exchange {
    user: String,
    label: &'static str,
    state: State,
}

enum State {
    NotStarted(Plan),
    Sasl(Box<ScramExchange>),
    Md5 {
        hash: Md5Hash,
        salt: [u8; 4],
    },
    Cleartext(Cleartext),
    /// Waiting for [`Exchange::on_verdict`]; `reason` is logged on `false`.
    AwaitingVerdict {
        reason: String,
    },
    Done,
}

enum Plan {
    Trust,
    Refuse(AuthFailure),
    Sasl(Box<ScramExchange>),
    Md5(Md5Hash),
    Cleartext(Cleartext),
}

/// What a cleartext password will be checked against.
enum Cleartext {
    Plain(Secret),
    Md5(Md5Hash),
    Scram(ScramSecret),
    /// Unknown user: a mock PBKDF2 that fails.
    Mock {
        secret: ScramSecret,
        reason: String,
    },
    Iris,
}

impl Exchange {
    /// Plans the exchange (cheap; no I/O, no PBKDF2).
    ///
    /// - `method`, `allow_plaintext`: from the matching hba rule;
    /// - `facts`: the connection (user, database, address, TLS); a Unix
    ///   socket or TLS counts as a secure transport for cleartext methods;
    /// - `credential`: the user's entry in the users file, `None` if absent;
    /// - `channel_binding`: the TLS end-point hash; with it SCRAM offers
    ///   SCRAM-SHA-256-PLUS;
    /// - `mock`: the per-process secret behind mock exchanges.
    ///
    /// Method choice follows PostgreSQL: `md5` runs SCRAM for users with a
    /// SCRAM verifier and for unknown users; `scram-sha-256` runs a mock
    /// exchange for users without a SCRAM secret. `trust` does not consult
    /// the users file.
    pub fn new(
        method: Method,
        allow_plaintext: bool,
        facts: &ConnFacts<'_>,
        credential: Option<&Credential>,
        channel_binding: Option<&ChannelBindingData>,
        mock: &MockSecret,
    ) -> Exchange {
        let user = facts.user;
        let secure_transport = facts.tls || facts.addr.is_none();
        let scram = || -> Box<ScramExchange> {
            let binding = channel_binding.cloned();
            Box::new(match credential.and_then(Credential::scram_secret) {
                Some(secret) => ScramExchange::new(secret.clone(), binding),
                None => ScramExchange::mock(
                    mock,
                    user,
                    missing_secret_reason(user, credential),
                    binding,
                ),
            })
        };
        let plan = match method {
            Method::Trust => Plan::Trust,
            Method::Reject => Plan::Refuse(AuthFailure {
                error: hba::reject_error(facts),
                reason: "the matching pg_hba.conf rule says reject".into(),
            }),
            Method::Password | Method::Iris if !secure_transport && !allow_plaintext => {
                Plan::Refuse(AuthFailure {
                    error: hba::reject_error(facts).with_hint(
                        "The cleartext password method of this connection requires SSL.",
                    ),
                    reason: format!(
                        "method {method} on a connection without TLS, and the rule lacks allow_plaintext=1"
                    ),
                })
            }
            Method::ScramSha256 => Plan::Sasl(scram()),
            Method::Md5 => match credential.and_then(|c| c.md5_hash(user)) {
                Some(hash) => Plan::Md5(hash),
                None => Plan::Sasl(scram()),
            },
            Method::Password => Plan::Cleartext(match credential {
                Some(Credential::Plaintext { password, .. }) => Cleartext::Plain(password.clone()),
                Some(Credential::Md5(hash)) => Cleartext::Md5(hash.clone()),
                Some(Credential::Scram(secret)) => Cleartext::Scram(secret.clone()),
                None => Cleartext::Mock {
                    secret: mock.scram_secret_for(user),
                    reason: missing_secret_reason(user, None),
                },
            }),
            Method::Iris => Plan::Cleartext(Cleartext::Iris),
        };
        let label = match &plan {
            Plan::Sasl(_) => SCRAM_SHA_256,
            _ => method.as_str(),
        };
        Exchange {
            user: user.to_string(),
            label,
            state: State::NotStarted(plan),
        }
    }

    /// What actually ran, for the log: `trust`, `reject`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-256-PLUS`, `md5`, `password` or `iris`.
    pub fn mechanism(&self) -> &'static str {
        self.label
    }

    /// The first step: a request to send, or an immediate verdict (`trust`,
    /// `reject`, a refused cleartext method).
    pub fn start(&mut self) -> Step {
        let plan = match std::mem::replace(&mut self.state, State::Done) {
            State::NotStarted(plan) => plan,
            _ => return internal("the authentication exchange was started twice"),
        };
        match plan {
            Plan::Trust => Step::Success {
                final_message: None,
            },
            Plan::Refuse(failure) => Step::Failure(failure),
            Plan::Sasl(exchange) => {
                let mechanisms = exchange.mechanisms();
                self.state = State::Sasl(exchange);
                Step::Send(AuthRequest::Sasl { mechanisms })
            }
            Plan::Md5(hash) => {
                let salt = md5::random_salt();
                self.state = State::Md5 { hash, salt };
                Step::Send(AuthRequest::Md5Password { salt })
            }
            Plan::Cleartext(target) => {
                self.state = State::Cleartext(target);
                Step::Send(AuthRequest::CleartextPassword)
            }
        }
    }

    /// Handles the body of the client's 'p' message (PasswordMessage,
    /// SASLInitialResponse or SASLResponse, whichever the exchange expects),
    /// parsed strictly. Cheap: at most a few HMACs or one MD5.
    pub fn on_message(&mut self, body: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sasl(mut exchange) => {
                let step = exchange.on_message(body);
                if exchange.uses_channel_binding() {
                    self.label = SCRAM_SHA_256_PLUS;
                }
                match step {
                    ScramStep::Continue(data) => {
                        self.state = State::Sasl(exchange);
                        Step::Send(AuthRequest::SaslContinue(data))
                    }
                    ScramStep::Success(data) => Step::Success {
                        final_message: Some(AuthRequest::SaslFinal(data)),
                    },
                    ScramStep::Failure(ScramFailure::Refused(error)) => refused(error),
                    ScramStep::Failure(ScramFailure::InvalidPassword { reason }) => {
                        self.password_failed(reason)
                    }
                }
            }
            State::Md5 { hash, salt } => match read_password(body) {
                Err(error) => refused(error),
                Ok(response) if hash.verify_response(salt, response) => Step::Success {
                    final_message: None,
                },
                Ok(_) => self.password_failed(format!(
                    "Password does not match for user \"{}\" (md5).",
                    self.user
                )),
            },
            State::Cleartext(target) => match read_password(body) {
                Err(error) => refused(error),
                Ok(password) => self.check_cleartext(target, password),
            },
            State::NotStarted(_) | State::AwaitingVerdict { .. } | State::Done => {
                refused(PgError::fatal(
                    sqlstate::PROTOCOL_VIOLATION,
                    "unexpected password message during authentication",
                ))
            }
        }
    }

    /// The result of a [`Step::CheckPassword`] or [`Step::VerifyWithBackend`].
    pub fn on_verdict(&mut self, ok: bool) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingVerdict { .. } if ok => Step::Success {
                final_message: None,
            },
            State::AwaitingVerdict { reason } => self.password_failed(reason),
            _ => internal("a password verdict arrived when none was awaited"),
        }
    }

    fn check_cleartext(&mut self, target: Cleartext, password: &[u8]) -> Step {
        let mismatch = || format!("Password does not match for user \"{}\".", self.user);
        match target {
            Cleartext::Plain(stored) => {
                // Hashing first makes the comparison independent of lengths.
                let a = Sha256::digest(password);
                let b = Sha256::digest(stored.expose().as_bytes());
                if bool::from(a.ct_eq(&b)) {
                    Step::Success {
                        final_message: None,
                    }
                } else {
                    self.password_failed(mismatch())
                }
            }
            Cleartext::Md5(hash) => {
                if hash.matches_password(password, &self.user) {
                    Step::Success {
                        final_message: None,
                    }
                } else {
                    self.password_failed(mismatch())
                }
            }
            Cleartext::Scram(secret) => {
                self.state = State::AwaitingVerdict { reason: mismatch() };
                Step::CheckPassword(PasswordCheck {
                    password: password.to_vec(),
                    secret,
                    doomed: false,
                })
            }
            Cleartext::Mock { secret, reason } => {
                self.state = State::AwaitingVerdict { reason };
                Step::CheckPassword(PasswordCheck {
                    password: password.to_vec(),
                    secret,
                    doomed: true,
                })
            }
            Cleartext::Iris => match std::str::from_utf8(password) {
                Ok(text) => {
                    self.state = State::AwaitingVerdict {
                        reason: format!("IRIS refused the password of user \"{}\".", self.user),
                    };
                    Step::VerifyWithBackend {
                        password: Secret::new(text),
                    }
                }
                Err(_) => self.password_failed("the password is not valid UTF-8".into()),
            },
        }
    }

    fn password_failed(&self, reason: String) -> Step {
        Step::Failure(AuthFailure {
            error: password_failed_error(&self.user),
            reason,
        })
    }
}

/// FATAL 28P01 `password authentication failed for user "x"`: the one text
/// every password failure ends with.
pub fn password_failed_error(user: &str) -> PgError {
    PgError::fatal(
        sqlstate::INVALID_PASSWORD,
        format!("password authentication failed for user \"{user}\""),
    )
}

fn missing_secret_reason(user: &str, credential: Option<&Credential>) -> String {
    match credential {
        None => format!("Role \"{user}\" does not exist in the users file."),
        Some(c) => format!(
            "User \"{user}\" does not have a valid SCRAM secret (the users file has a {} secret).",
            c.kind()
        ),
    }
}

fn refused(error: PgError) -> Step {
    let reason = match &error.detail {
        Some(detail) => format!("{} ({detail})", error.message),
        None => error.message.clone(),
    };
    Step::Failure(AuthFailure { error, reason })
}

fn internal(message: &str) -> Step {
    refused(PgError::fatal(sqlstate::INTERNAL_ERROR, message))
}

/// A PasswordMessage body: one NUL-terminated string filling the message
/// (PostgreSQL's `recv_password_packet`). Returns the bytes before the NUL.
fn read_password(body: &[u8]) -> Result<&[u8], PgError> {
    if body.len() > MAX_PASSWORD_MESSAGE_LEN {
        return Err(PgError::fatal(
            sqlstate::PROTOCOL_VIOLATION,
            "invalid message length",
        ));
    }
    match body.iter().position(|&b| b == 0) {
        Some(nul) if nul + 1 == body.len() => {
            if nul == 0 {
                Err(PgError::fatal(
                    sqlstate::INVALID_PASSWORD,
                    "empty password returned by client",
                ))
            } else {
                Ok(&body[..nul])
            }
        }
        _ => Err(PgError::fatal(
            sqlstate::PROTOCOL_VIOLATION,
            "invalid password packet size",
        )),
    }
}
