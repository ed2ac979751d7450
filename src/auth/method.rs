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
    /// An md5 hash or a plaintext password: checked at once.
    Cheap(Credential),
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
                    error: hba::reject_error(facts)
                        .with_hint("This server accepts a cleartext password only over SSL."),
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
                Some(Credential::Scram(secret)) => Cleartext::Scram(secret.clone()),
                Some(cheap) => Cleartext::Cheap(cheap.clone()),
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
            Cleartext::Cheap(credential) => {
                if credential.matches_password(&self.user, password) {
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::OnceLock;

    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    use super::*;

    const END_POINT: [u8; 32] = [0xab; 32];

    fn mock() -> MockSecret {
        MockSecret::from_bytes([42; 32])
    }

    /// alice's verifier, made by postgres-protocol (as a client tool would).
    fn alice() -> Credential {
        static ALICE: OnceLock<String> = OnceLock::new();
        let verifier =
            ALICE.get_or_init(|| postgres_protocol::password::scram_sha_256(b"wonderland"));
        Credential::from_secret("alice", verifier).unwrap()
    }

    /// bob's md5 hash of `pw`.
    fn bob_md5() -> Credential {
        Credential::from_secret("bob", &postgres_protocol::password::md5(b"pw", "bob")).unwrap()
    }

    /// An exchange on a connection from 192.0.2.7, without channel binding
    /// data and without allow_plaintext.
    fn exchange(
        method: Method,
        user: &str,
        tls: bool,
        credential: Option<&Credential>,
    ) -> Exchange {
        Exchange::new(method, false, &facts(user, tls), credential, None, &mock())
    }

    fn facts(user: &str, tls: bool) -> ConnFacts<'_> {
        ConnFacts {
            addr: Some(IpAddr::from([192, 0, 2, 7])),
            local_addr: None,
            tls,
            user,
            database: "db",
            replication: false,
        }
    }

    /// A SCRAM-method exchange; `cb` is the connection's end-point hash.
    fn scram_exchange(
        user: &str,
        tls: bool,
        credential: Option<&Credential>,
        cb: Option<&[u8]>,
    ) -> Exchange {
        let cb = cb.map(|h| ChannelBindingData::tls_server_end_point(h.to_vec()));
        Exchange::new(
            Method::ScramSha256,
            false,
            &facts(user, tls),
            credential,
            cb.as_ref(),
            &mock(),
        )
    }

    fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
        crate::auth::scram::messages::SaslInitialResponse {
            mechanism: mechanism.as_bytes(),
            data: Some(data),
        }
        .encode()
    }

    fn password_message(password: &str) -> Vec<u8> {
        let mut body = password.as_bytes().to_vec();
        body.push(0);
        body
    }

    fn failure(step: Step) -> AuthFailure {
        match step {
            Step::Failure(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn sent(step: Step) -> AuthRequest {
        match step {
            Step::Send(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Runs a SCRAM login with postgres-protocol's client. Returns the
    /// offered mechanisms, the server-first message and the outcome.
    fn scram_login(
        exchange: &mut Exchange,
        password: &str,
        binding: ChannelBinding,
        mechanism: &str,
    ) -> (Vec<&'static str>, Vec<u8>, Result<(), AuthFailure>) {
        let AuthRequest::Sasl { mechanisms } = sent(exchange.start()) else {
            panic!("expected AuthenticationSASL");
        };
        let mut client = ScramSha256::new(password.as_bytes(), binding);
        let step = exchange.on_message(&sasl_initial(mechanism, client.message()));
        let server_first = match step {
            Step::Send(AuthRequest::SaslContinue(data)) => data,
            Step::Failure(f) => return (mechanisms, Vec::new(), Err(f)),
            other => panic!("{other:?}"),
        };
        client.update(&server_first).unwrap();
        let outcome = match exchange.on_message(client.message()) {
            Step::Success {
                final_message: Some(AuthRequest::SaslFinal(data)),
            } => {
                client
                    .finish(&data)
                    .expect("the client accepts the server signature");
                Ok(())
            }
            Step::Failure(f) => Err(f),
            other => panic!("{other:?}"),
        };
        (mechanisms, server_first, outcome)
    }

    /// alice logs in with the right password over SCRAM: on TLS when
    /// `tls`, the connection's end-point hash `end_point`, the client's
    /// `binding` and `mechanism`. Returns the exchange, the mechanisms
    /// offered and the outcome.
    fn alice_scram(
        tls: bool,
        end_point: Option<&[u8]>,
        binding: ChannelBinding,
        mechanism: &str,
    ) -> (Exchange, Vec<&'static str>, Result<(), AuthFailure>) {
        let mut x = scram_exchange("alice", tls, Some(&alice()), end_point);
        let (mechanisms, _, outcome) = scram_login(&mut x, "wonderland", binding, mechanism);
        (x, mechanisms, outcome)
    }

    fn assert_password_failed(f: &AuthFailure, user: &str) {
        assert_eq!(f.error.code, sqlstate::INVALID_PASSWORD);
        assert_eq!(
            f.error.message,
            format!("password authentication failed for user \"{user}\"")
        );
        assert!(f.error.is_fatal());
        assert_eq!(f.error.detail, None);
    }

    #[test]
    fn scram_plain_connection() {
        let (x, mechs, outcome) =
            alice_scram(false, None, ChannelBinding::unsupported(), SCRAM_SHA_256);
        assert_eq!(mechs, vec!["SCRAM-SHA-256"]);
        outcome.unwrap();
        assert_eq!(x.mechanism(), "SCRAM-SHA-256");
    }

    #[test]
    fn scram_plus_with_the_right_end_point() {
        let (x, mechs, outcome) = alice_scram(
            true,
            Some(&END_POINT),
            ChannelBinding::tls_server_end_point(END_POINT.to_vec()),
            SCRAM_SHA_256_PLUS,
        );
        assert_eq!(mechs, vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        outcome.unwrap();
        assert_eq!(x.mechanism(), "SCRAM-SHA-256-PLUS");
    }

    #[test]
    fn scram_plus_with_a_wrong_end_point_is_refused() {
        let (_, _, outcome) = alice_scram(
            true,
            Some(&END_POINT),
            ChannelBinding::tls_server_end_point(vec![0xcd; 32]),
            SCRAM_SHA_256_PLUS,
        );
        let f = outcome.unwrap_err();
        assert_eq!(f.error.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
        assert_eq!(f.error.message, "SCRAM channel binding check failed");
    }

    #[test]
    fn gs2_y_is_a_downgrade_only_when_plus_was_offered() {
        let (_, _, outcome) = alice_scram(
            true,
            Some(&END_POINT),
            ChannelBinding::unrequested(),
            SCRAM_SHA_256,
        );
        let f = outcome.unwrap_err();
        assert_eq!(f.error.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
        assert_eq!(f.error.message, "SCRAM channel binding negotiation error");
        // TLS without binding data (say an Ed25519 certificate): no PLUS
        // offered, so `y` is honest.
        let (_, mechs, outcome) =
            alice_scram(true, None, ChannelBinding::unrequested(), SCRAM_SHA_256);
        assert_eq!(mechs, vec!["SCRAM-SHA-256"]);
        outcome.unwrap();
    }

    #[test]
    fn scram_plus_requested_without_binding_data_is_a_protocol_violation() {
        let (_, _, outcome) = alice_scram(
            false,
            None,
            ChannelBinding::tls_server_end_point(END_POINT.to_vec()),
            SCRAM_SHA_256_PLUS,
        );
        let f = outcome.unwrap_err();
        assert_eq!(f.error.code, sqlstate::PROTOCOL_VIOLATION);
        assert_eq!(
            f.error.message,
            "client selected an invalid SASL authentication mechanism"
        );
        // `p` with the plain mechanism.
        let (_, _, outcome) = alice_scram(
            false,
            None,
            ChannelBinding::tls_server_end_point(END_POINT.to_vec()),
            SCRAM_SHA_256,
        );
        let f = outcome.unwrap_err();
        assert_eq!(f.error.code, sqlstate::PROTOCOL_VIOLATION);
        assert_eq!(f.error.message, "malformed SCRAM message");
    }

    #[test]
    fn wrong_password_unknown_user_and_md5_user_fail_alike() {
        let cred = alice();
        let md5_user = bob_md5();
        let cases: Vec<(&str, Option<&Credential>, &str)> = vec![
            ("alice", Some(&cred), "wrong"),
            ("ghost", None, "wonderland"),
            ("bob", Some(&md5_user), "pw"),
        ];
        let mut shapes = Vec::new();
        for (user, credential, password) in cases {
            let mut x = scram_exchange(user, false, credential, None);
            let (mechs, server_first, outcome) = scram_login(
                &mut x,
                password,
                ChannelBinding::unsupported(),
                SCRAM_SHA_256,
            );
            let f = outcome.unwrap_err();
            assert_password_failed(&f, user);
            assert!(!f.reason.contains(password), "{}", f.reason);
            // r=<client nonce 24><server nonce 24>,s=<24>,i=4096
            let text = String::from_utf8(server_first).unwrap();
            let parts: Vec<usize> = text.split(',').map(str::len).collect();
            shapes.push((mechs, parts, text.ends_with(",i=4096")));
        }
        assert!(shapes.windows(2).all(|w| w[0] == w[1]), "{shapes:?}");
    }

    #[test]
    fn md5_method() {
        let md5_user = bob_md5();
        let plain = Credential::from_secret("dev", "devpw").unwrap();
        for (user, cred, password) in [("bob", &md5_user, "pw"), ("dev", &plain, "devpw")] {
            for (attempt, ok) in [(password, true), ("nope", false)] {
                let mut x = exchange(Method::Md5, user, false, Some(cred));
                let AuthRequest::Md5Password { salt } = sent(x.start()) else {
                    panic!("expected an MD5 challenge");
                };
                let response = postgres_protocol::authentication::md5_hash(
                    user.as_bytes(),
                    attempt.as_bytes(),
                    salt,
                );
                match x.on_message(&password_message(&response)) {
                    Step::Success {
                        final_message: None,
                    } => assert!(ok),
                    Step::Failure(f) => {
                        assert!(!ok);
                        assert_password_failed(&f, user);
                    }
                    other => panic!("{other:?}"),
                }
                assert_eq!(x.mechanism(), "md5");
            }
        }
        // SCRAM credential or unknown user: md5 runs SCRAM, as PostgreSQL.
        let cred = alice();
        let mut x = exchange(Method::Md5, "alice", false, Some(&cred));
        scram_login(
            &mut x,
            "wonderland",
            ChannelBinding::unsupported(),
            SCRAM_SHA_256,
        )
        .2
        .unwrap();
        let mut x = exchange(Method::Md5, "ghost", false, None);
        assert!(matches!(sent(x.start()), AuthRequest::Sasl { .. }));
    }

    #[test]
    fn md5_challenges_use_fresh_salts() {
        let md5_user = bob_md5();
        let salts: std::collections::HashSet<[u8; 4]> = (0..8)
            .map(|_| {
                let mut x = exchange(Method::Md5, "bob", false, Some(&md5_user));
                match sent(x.start()) {
                    AuthRequest::Md5Password { salt } => salt,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert!(salts.len() > 1);
    }

    #[test]
    fn password_method_refused_on_plaintext_tcp_without_allow_plaintext() {
        for method in [Method::Password, Method::Iris] {
            let mut x = exchange(method, "alice", false, Some(&alice()));
            let f = failure(x.start());
            assert_eq!(f.error.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
            assert!(f.reason.contains("allow_plaintext"));
            // TLS, a Unix socket, or allow_plaintext=1: the password is asked.
            let unix = ConnFacts {
                addr: None,
                ..facts("alice", false)
            };
            for (allow, f) in [
                (false, facts("alice", true)),
                (false, unix),
                (true, facts("alice", false)),
            ] {
                let mut x = Exchange::new(method, allow, &f, Some(&alice()), None, &mock());
                assert_eq!(sent(x.start()), AuthRequest::CleartextPassword);
            }
        }
    }

    #[test]
    fn password_method_against_each_credential() {
        let md5_user = bob_md5();
        let plain = Credential::from_secret("dev", "devpw").unwrap();
        // Cheap checks answer at once.
        for (user, cred, password) in [("bob", &md5_user, "pw"), ("dev", &plain, "devpw")] {
            for (attempt, ok) in [(password, true), ("nope", false), ("devpwx", false)] {
                let mut x = exchange(Method::Password, user, true, Some(cred));
                assert_eq!(sent(x.start()), AuthRequest::CleartextPassword);
                match x.on_message(&password_message(attempt)) {
                    Step::Success {
                        final_message: None,
                    } => assert!(ok),
                    Step::Failure(f) => {
                        assert!(!ok);
                        assert_password_failed(&f, user);
                        assert!(!f.reason.contains(attempt));
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        // A SCRAM verifier needs PBKDF2: deferred to the caller.
        let cred = alice();
        for (attempt, ok) in [("wonderland", true), ("nope", false)] {
            let mut x = exchange(Method::Password, "alice", true, Some(&cred));
            sent(x.start());
            let Step::CheckPassword(check) = x.on_message(&password_message(attempt)) else {
                panic!("expected a deferred check");
            };
            assert_eq!(format!("{check:?}"), "PasswordCheck(***)");
            let verdict = check.verify();
            assert_eq!(verdict, ok);
            match x.on_verdict(verdict) {
                Step::Success {
                    final_message: None,
                } => assert!(ok),
                Step::Failure(f) => assert_password_failed(&f, "alice"),
                other => panic!("{other:?}"),
            }
        }
        // Unknown user: the same deferred check, which always fails.
        let mut x = exchange(Method::Password, "ghost", true, None);
        sent(x.start());
        let Step::CheckPassword(check) = x.on_message(&password_message("anything")) else {
            panic!("expected a deferred check");
        };
        assert!(!check.verify());
        let f = failure(x.on_verdict(false));
        assert_password_failed(&f, "ghost");
        assert!(f.reason.contains("does not exist"));
    }

    #[test]
    fn iris_method_defers_to_the_backend() {
        let mut x = exchange(Method::Iris, "carol", true, None);
        assert_eq!(sent(x.start()), AuthRequest::CleartextPassword);
        match x.on_message(&password_message("s3cret")) {
            Step::VerifyWithBackend { password } => assert_eq!(password.expose(), "s3cret"),
            other => panic!("{other:?}"),
        }
        assert_password_failed(&failure(x.on_verdict(false)), "carol");
        let mut x = exchange(Method::Iris, "carol", true, None);
        sent(x.start());
        x.on_message(&password_message("s3cret"));
        assert!(matches!(
            x.on_verdict(true),
            Step::Success {
                final_message: None
            }
        ));
        // Not UTF-8: cannot be passed on; fails like a wrong password.
        let mut x = exchange(Method::Iris, "carol", true, None);
        sent(x.start());
        assert_password_failed(&failure(x.on_message(b"\xff\xfe\0")), "carol");
    }

    #[test]
    fn trust_and_reject() {
        let mut x = exchange(Method::Trust, "anyone", false, None);
        assert!(matches!(
            x.start(),
            Step::Success {
                final_message: None
            }
        ));
        let mut x = exchange(Method::Reject, "anyone", false, None);
        let f = failure(x.start());
        assert_eq!(f.error.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
        assert_eq!(
            f.error.message,
            "pg_hba.conf rejects connection for host \"192.0.2.7\", user \"anyone\", database \"db\", no encryption"
        );
    }

    #[test]
    fn malformed_password_messages() {
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                b"".to_vec(),
                sqlstate::PROTOCOL_VIOLATION,
                "invalid password packet size",
            ),
            (
                b"abc".to_vec(),
                sqlstate::PROTOCOL_VIOLATION,
                "invalid password packet size",
            ),
            (
                b"ab\0c\0".to_vec(),
                sqlstate::PROTOCOL_VIOLATION,
                "invalid password packet size",
            ),
            (
                b"abc\0\0".to_vec(),
                sqlstate::PROTOCOL_VIOLATION,
                "invalid password packet size",
            ),
            (
                b"\0".to_vec(),
                sqlstate::INVALID_PASSWORD,
                "empty password returned by client",
            ),
            (
                vec![b'a'; 70_000],
                sqlstate::PROTOCOL_VIOLATION,
                "invalid message length",
            ),
        ];
        for method in [Method::Password, Method::Md5] {
            for (body, code, message) in &cases {
                let plain = Credential::from_secret("dev", "devpw").unwrap();
                let mut x = exchange(method, "dev", true, Some(&plain));
                sent(x.start());
                let f = failure(x.on_message(body));
                assert_eq!(
                    (f.error.code, f.error.message.as_str()),
                    (*code, *message),
                    "{method}"
                );
            }
        }
    }

    #[test]
    fn out_of_order_calls_fail_cleanly() {
        let mut x = exchange(Method::ScramSha256, "alice", false, Some(&alice()));
        assert_eq!(
            failure(x.on_message(b"x")).error.code,
            sqlstate::PROTOCOL_VIOLATION
        );
        let mut x = exchange(Method::Trust, "a", false, None);
        x.start();
        assert_eq!(failure(x.start()).error.code, sqlstate::INTERNAL_ERROR);
        assert_eq!(
            failure(x.on_verdict(true)).error.code,
            sqlstate::INTERNAL_ERROR
        );
        assert_eq!(
            failure(x.on_message(b"p\0")).error.code,
            sqlstate::PROTOCOL_VIOLATION
        );
    }

    #[test]
    fn auth_requests_encode_as_postgres_does() {
        let mut out = Vec::new();
        AuthRequest::Sasl {
            mechanisms: vec![SCRAM_SHA_256_PLUS, SCRAM_SHA_256],
        }
        .encode(&mut out);
        assert_eq!(
            out,
            b"R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
        );
        let mut out = Vec::new();
        AuthRequest::Md5Password { salt: [1, 2, 3, 4] }.encode(&mut out);
        assert_eq!(out, b"R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04");
        let mut out = Vec::new();
        AuthRequest::Ok.encode(&mut out);
        assert_eq!(out, b"R\0\0\0\x08\0\0\0\0");
        let mut out = Vec::new();
        AuthRequest::SaslFinal(b"v=x".to_vec()).encode(&mut out);
        assert_eq!(out, b"R\0\0\0\x0b\0\0\0\x0cv=x");
        assert_eq!(AuthRequest::CleartextPassword.code(), 3);
        assert_eq!(AuthRequest::SaslContinue(vec![]).code(), 11);
        assert_eq!(
            format!("{:?}", AuthRequest::SaslContinue(b"r=abc".to_vec())),
            "AuthenticationSASLContinue(5 bytes)"
        );
    }

    #[test]
    fn random_messages_never_panic() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let cred = alice();
        let plain = Credential::from_secret("dev", "devpw").unwrap();
        let cb = ChannelBindingData::tls_server_end_point(END_POINT.to_vec());
        for i in 0..2000 {
            let len = rng.random_range(0..64);
            let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let method = [
                Method::ScramSha256,
                Method::Md5,
                Method::Password,
                Method::Iris,
            ][i % 4];
            let credential = [Some(&cred), Some(&plain), None][i % 3];
            let mut x = Exchange::new(
                method,
                true,
                &facts("u", true),
                credential,
                Some(&cb),
                &mock(),
            );
            x.start();
            for _ in 0..3 {
                match x.on_message(&junk) {
                    Step::Send(_) => continue,
                    _ => break,
                }
            }
            let _ = x.on_verdict(false);
        }
    }
}
