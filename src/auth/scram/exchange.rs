//! The server side of one SCRAM exchange: an owned state machine a session
//! keeps between frames. Feed it the body of each 'p' message the client
//! sends after AuthenticationSASL; it answers with the next step.
//!
//! Cheap: a few HMACs per exchange, no PBKDF2 (the secret is already
//! derived).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::channel_binding::{ChannelBinding, ChannelBindingData};
use super::messages::{
    MAX_SASL_MESSAGE_LEN, parse_client_final, parse_client_first, parse_sasl_initial_response,
};
use super::secret::{MockSecret, ScramSecret};
use super::{
    RAW_NONCE_LEN, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, hmac, malformed, protocol_violation, sha256,
};
use crate::wire::error::{PgError, sqlstate};

/// What to do after a client message.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// Send AuthenticationSASLContinue with these bytes and wait for a
    /// SASLResponse.
    Continue(Vec<u8>),
    /// The proof verified: send AuthenticationSASLFinal with these bytes
    /// (server-final, `v=<ServerSignature>`), then AuthenticationOk.
    Success(Vec<u8>),
    Failure(ScramFailure),
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScramFailure {
    /// The client broke the protocol or the channel-binding rules: send
    /// this error as is.
    Refused(PgError),
    /// A wrong proof, or a mock exchange reaching its end: the caller sends
    /// the same 28P01 text it sends for every password failure. `reason` is
    /// for the server log only.
    InvalidPassword { reason: String },
}

/// One SCRAM-SHA-256(-PLUS) exchange.
pub struct ScramExchange {
    secret: ScramSecret,
    /// Set for mock exchanges: the exchange runs to the end and then fails
    /// with this reason (log only).
    doomed: Option<String>,
    binding: Option<ChannelBindingData>,
    server_nonce: String,
    state: State,
}

enum State {
    /// Waiting for SASLInitialResponse.
    Initial,
    /// SASLInitialResponse had no data (length -1): client-first comes in a
    /// SASLResponse.
    AwaitingClientFirst {
        plus: bool,
    },
    AwaitingClientFinal(Box<ServerFirstSent>),
    Done,
}

/// What the client-final is checked against.
struct ServerFirstSent {
    channel_binding: ChannelBinding,
    plus: bool,
    client_first_bare: Vec<u8>,
    server_first: Vec<u8>,
    /// Client nonce followed by server nonce.
    nonce: Vec<u8>,
}

impl ScramExchange {
    /// An exchange against a real secret. `binding` is the connection's
    /// channel-binding data (TLS with a usable certificate hash); with it
    /// the exchange offers -PLUS.
    pub fn new(secret: ScramSecret, binding: Option<ChannelBindingData>) -> ScramExchange {
        let mut raw = [0u8; RAW_NONCE_LEN];
        rand::fill(&mut raw);
        ScramExchange {
            secret,
            doomed: None,
            binding,
            server_nonce: STANDARD.encode(raw),
            state: State::Initial,
        }
    }

    /// A mock exchange for a user without a SCRAM secret (unknown, or with
    /// only an md5 hash): the same messages as a real one, with a salt
    /// derived from the user name and `mock`, failing at the end exactly as
    /// a wrong password does. `reason` is for the log.
    pub fn mock(
        mock: &MockSecret,
        user: &str,
        reason: impl Into<String>,
        binding: Option<ChannelBindingData>,
    ) -> ScramExchange {
        let mut exchange = ScramExchange::new(mock.scram_secret_for(user), binding);
        exchange.doomed = Some(reason.into());
        exchange
    }

    /// Replaces the random server nonce (snapshot tests).
    #[cfg(test)]
    pub(crate) fn with_server_nonce(mut self, nonce: &str) -> ScramExchange {
        self.server_nonce = nonce.to_string();
        self
    }

    /// The mechanism list for AuthenticationSASL, preferred first.
    pub fn mechanisms(&self) -> Vec<&'static str> {
        if self.binding.is_some() {
            vec![SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        } else {
            vec![SCRAM_SHA_256]
        }
    }

    /// Whether the client chose -PLUS (known after the first message).
    pub fn uses_channel_binding(&self) -> bool {
        match &self.state {
            State::AwaitingClientFirst { plus } => *plus,
            State::AwaitingClientFinal(sent) => sent.plus,
            State::Initial | State::Done => false,
        }
    }

    /// Handles the body of the client's next 'p' message: SASLInitialResponse
    /// first, SASLResponse after. Any failure ends the exchange.
    pub fn on_message(&mut self, body: &[u8]) -> ScramStep {
        if body.len() > MAX_SASL_MESSAGE_LEN {
            self.state = State::Done;
            return refused(protocol_violation("invalid message length"));
        }
        let result = match std::mem::replace(&mut self.state, State::Done) {
            State::Initial => self.on_initial_response(body),
            State::AwaitingClientFirst { plus } => self.on_client_first(plus, body),
            State::AwaitingClientFinal(sent) => self.on_client_final(&sent, body),
            State::Done => Err(protocol_violation(
                "unexpected SASL response after the SCRAM exchange ended",
            )),
        };
        match result {
            Ok(step) => step,
            Err(error) => {
                self.state = State::Done;
                refused(error)
            }
        }
    }

    fn on_initial_response(&mut self, body: &[u8]) -> Result<ScramStep, PgError> {
        let initial = parse_sasl_initial_response(body)?;
        let plus = if initial.mechanism == SCRAM_SHA_256_PLUS.as_bytes() && self.binding.is_some() {
            true
        } else if initial.mechanism == SCRAM_SHA_256.as_bytes() {
            false
        } else {
            return Err(protocol_violation(
                "client selected an invalid SASL authentication mechanism",
            ));
        };
        match initial.data {
            // No Initial Client Response: an empty challenge asks for it.
            None => {
                self.state = State::AwaitingClientFirst { plus };
                Ok(ScramStep::Continue(Vec::new()))
            }
            Some(data) => self.on_client_first(plus, data),
        }
    }

    fn on_client_first(&mut self, plus: bool, data: &[u8]) -> Result<ScramStep, PgError> {
        let first = parse_client_first(data)?;
        match first.channel_binding {
            ChannelBinding::NotSupportedClient | ChannelBinding::NotSupportedServer if plus => {
                return Err(malformed(
                    "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
                ));
            }
            ChannelBinding::NotSupportedServer if self.binding.is_some() => {
                return Err(PgError::fatal(
                    sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                    "SCRAM channel binding negotiation error",
                )
                .with_detail(
                    "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.",
                ));
            }
            ChannelBinding::Required if !plus => {
                return Err(malformed(
                    "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
                ));
            }
            _ => {}
        }
        let mut nonce = first.nonce.to_vec();
        nonce.extend_from_slice(self.server_nonce.as_bytes());
        let mut server_first = b"r=".to_vec();
        server_first.extend_from_slice(&nonce);
        server_first.extend_from_slice(b",s=");
        server_first.extend_from_slice(STANDARD.encode(&self.secret.salt).as_bytes());
        server_first.extend_from_slice(format!(",i={}", self.secret.iterations).as_bytes());
        self.state = State::AwaitingClientFinal(Box::new(ServerFirstSent {
            channel_binding: first.channel_binding,
            plus,
            client_first_bare: first.bare.to_vec(),
            server_first: server_first.clone(),
            nonce,
        }));
        Ok(ScramStep::Continue(server_first))
    }

    fn on_client_final(
        &mut self,
        sent: &ServerFirstSent,
        data: &[u8],
    ) -> Result<ScramStep, PgError> {
        let last = parse_client_final(data)?;
        let expected_c = sent.channel_binding.expected_c(self.binding.as_ref());
        let c_matches = expected_c.as_deref().map(str::as_bytes) == Some(last.channel_binding);
        if sent.plus && !c_matches {
            return Err(PgError::fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "SCRAM channel binding check failed",
            ));
        }
        if !c_matches {
            return Err(protocol_violation(
                "unexpected SCRAM channel-binding attribute in client-final-message",
            ));
        }
        if last.nonce != sent.nonce.as_slice() {
            return Err(
                PgError::fatal(sqlstate::PROTOCOL_VIOLATION, "invalid SCRAM response")
                    .with_detail("Nonce does not match."),
            );
        }
        let auth_message: [&[u8]; 5] = [
            &sent.client_first_bare,
            b",",
            &sent.server_first,
            b",",
            last.without_proof,
        ];
        let client_signature = hmac(&self.secret.stored_key, &auth_message);
        let mut client_key = last.proof;
        for (k, s) in client_key.iter_mut().zip(client_signature) {
            *k ^= s;
        }
        // The proof is checked even for a mock exchange, so that an unknown
        // user costs the same time as a known one.
        let proof_ok = bool::from(sha256(&[&client_key]).ct_eq(&self.secret.stored_key));
        if let Some(reason) = &self.doomed {
            return Ok(invalid_password(reason.clone()));
        }
        if !proof_ok {
            return Ok(invalid_password(
                "the SCRAM proof does not match the stored verifier",
            ));
        }
        let server_signature = hmac(&self.secret.server_key, &auth_message);
        let mut server_final = b"v=".to_vec();
        server_final.extend_from_slice(STANDARD.encode(server_signature).as_bytes());
        Ok(ScramStep::Success(server_final))
    }
}

fn refused(error: PgError) -> ScramStep {
    ScramStep::Failure(ScramFailure::Refused(error))
}

fn invalid_password(reason: impl Into<String>) -> ScramStep {
    ScramStep::Failure(ScramFailure::InvalidPassword {
        reason: reason.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scram::{client_key, salted_password, server_key};

    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn initial(mechanism: &str, data: Option<&[u8]>) -> Vec<u8> {
        crate::auth::scram::messages::SaslInitialResponse {
            mechanism: mechanism.as_bytes(),
            data,
        }
        .encode()
    }

    /// The RFC 7677 user's verifier, derived once (PBKDF2 is slow in debug
    /// builds).
    fn pencil() -> ScramSecret {
        static PENCIL: std::sync::OnceLock<ScramSecret> = std::sync::OnceLock::new();
        PENCIL
            .get_or_init(|| {
                ScramSecret::derive(b"pencil", &STANDARD.decode(RFC_SALT).unwrap(), 4096)
            })
            .clone()
    }

    /// A test client's proof: what a client knowing `password` sends.
    fn proof(password: &[u8], secret: &ScramSecret, auth_message: &[u8]) -> String {
        let salted = salted_password(password, &secret.salt, secret.iterations);
        let ck = client_key(&salted);
        let sig = hmac(&sha256(&[&ck]), &[auth_message]);
        let mut p = ck;
        for (a, b) in p.iter_mut().zip(sig) {
            *a ^= b;
        }
        STANDARD.encode(p)
    }

    fn continue_data(step: ScramStep) -> Vec<u8> {
        match step {
            ScramStep::Continue(d) => d,
            other => panic!("expected Continue, got {other:?}"),
        }
    }

    fn refused_error(step: ScramStep) -> PgError {
        match step {
            ScramStep::Failure(ScramFailure::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn rfc_7677_test_vector() {
        let mut x = ScramExchange::new(pencil(), None).with_server_nonce(RFC_SERVER_NONCE);
        let first = format!("n,,n=user,r={RFC_CLIENT_NONCE}");
        let server_first =
            continue_data(x.on_message(&initial(SCRAM_SHA_256, Some(first.as_bytes()))));
        assert_eq!(
            server_first,
            format!("r={RFC_CLIENT_NONCE}{RFC_SERVER_NONCE},s={RFC_SALT},i=4096").as_bytes()
        );
        let last = format!(
            "c=biws,r={RFC_CLIENT_NONCE}{RFC_SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            x.on_message(last.as_bytes()),
            ScramStep::Success(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        );
    }

    #[test]
    fn rfc_7677_vector_against_a_parsed_verifier() {
        // The verifier a PostgreSQL server would store for "pencil" with the
        // RFC salt, parsed back: the RFC's proof must verify against it.
        let verifier = pencil().to_verifier();
        let secret = ScramSecret::parse(&verifier).unwrap();
        let salted = salted_password(b"pencil", &secret.salt, 4096);
        assert_eq!(sha256(&[&client_key(&salted)]), secret.stored_key);
        assert_eq!(server_key(&salted), secret.server_key);
        let mut x = ScramExchange::new(secret, None).with_server_nonce(RFC_SERVER_NONCE);
        let first = format!("n,,n=user,r={RFC_CLIENT_NONCE}");
        continue_data(x.on_message(&initial(SCRAM_SHA_256, Some(first.as_bytes()))));
        let last = format!(
            "c=biws,r={RFC_CLIENT_NONCE}{RFC_SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(matches!(
            x.on_message(last.as_bytes()),
            ScramStep::Success(_)
        ));
    }

    /// The expected strings were computed independently (Python's hashlib
    /// and hmac), not by this code.
    #[test]
    fn snapshot_with_fixed_nonce_and_salt() {
        let secret = ScramSecret::derive(b"secret", b"0123456789abcdef", 4096);
        assert_eq!(
            secret.to_verifier(),
            "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=:VpYlBuxyzeCI1KnctrefdljpB1mk3Gp7sBI/t11+NkQ="
        );
        let mut x =
            ScramExchange::new(secret.clone(), None).with_server_nonce("SERVERNONCE0123456789abc");
        // No Initial Client Response: an empty challenge first.
        assert_eq!(
            x.on_message(&initial(SCRAM_SHA_256, None)),
            ScramStep::Continue(Vec::new())
        );
        let server_first = continue_data(x.on_message(b"n,,n=,r=fyko+d2lbbFgONRv9qkxdawL"));
        assert_eq!(
            server_first,
            b"r=fyko+d2lbbFgONRv9qkxdawLSERVERNONCE0123456789abc,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=4096"
        );
        let without_proof = "c=biws,r=fyko+d2lbbFgONRv9qkxdawLSERVERNONCE0123456789abc";
        let auth_message = format!(
            "n=,r=fyko+d2lbbFgONRv9qkxdawL,{},{without_proof}",
            String::from_utf8(server_first).unwrap()
        );
        let p = proof(b"secret", &secret, auth_message.as_bytes());
        assert_eq!(p, "H5qiIii1zRRT6PCNnHSb8hxIwfWx3VvibeGA3viFm9w=");
        let step = x.on_message(format!("{without_proof},p={p}").as_bytes());
        assert_eq!(
            step,
            ScramStep::Success(b"v=3ajvuPcaquorDAEFB7X9mwYhHGSRcVn5p3ESTwGFWLU=".to_vec())
        );
    }

    #[test]
    fn random_server_nonce_has_postgres_shape() {
        let a = ScramExchange::new(pencil(), None);
        let b = ScramExchange::new(pencil(), None);
        assert_eq!(a.server_nonce.len(), 24);
        assert_eq!(
            STANDARD.decode(&a.server_nonce).unwrap().len(),
            RAW_NONCE_LEN
        );
        assert_ne!(a.server_nonce, b.server_nonce);
    }

    #[test]
    fn replayed_client_final_is_refused() {
        let secret = pencil();
        let run = |nonce: &str| {
            let mut x = ScramExchange::new(secret.clone(), None).with_server_nonce(nonce);
            let sf = continue_data(x.on_message(&initial(SCRAM_SHA_256, Some(b"n,,n=,r=abc"))));
            (x, String::from_utf8(sf).unwrap())
        };
        let (mut x, sf) = run("NONCE1");
        let wp = "c=biws,r=abcNONCE1";
        let last = format!(
            "{wp},p={}",
            proof(b"pencil", &secret, format!("n=,r=abc,{sf},{wp}").as_bytes())
        );
        assert!(matches!(
            x.on_message(last.as_bytes()),
            ScramStep::Success(_)
        ));
        // Again on the same exchange: it is over.
        let e = refused_error(x.on_message(last.as_bytes()));
        assert_eq!(e.code, sqlstate::PROTOCOL_VIOLATION);
        // On a new exchange (another server nonce): the nonce does not match.
        let (mut y, _) = run("NONCE2");
        let e = refused_error(y.on_message(last.as_bytes()));
        assert_eq!(
            (e.code, e.message.as_str()),
            (sqlstate::PROTOCOL_VIOLATION, "invalid SCRAM response")
        );
        assert_eq!(e.detail.as_deref(), Some("Nonce does not match."));
    }

    #[test]
    fn proof_for_a_different_nonce_fails_as_a_wrong_password() {
        let secret = pencil();
        let mut x = ScramExchange::new(secret.clone(), None).with_server_nonce("NONCE1");
        continue_data(x.on_message(&initial(SCRAM_SHA_256, Some(b"n,,n=,r=abc"))));
        // The proof is computed over another server-first (another nonce).
        let other = "n=,r=abc,r=abcNONCE2,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=abcNONCE2";
        let last = format!(
            "c=biws,r=abcNONCE1,p={}",
            proof(b"pencil", &secret, other.as_bytes())
        );
        assert!(matches!(
            x.on_message(last.as_bytes()),
            ScramStep::Failure(ScramFailure::InvalidPassword { .. })
        ));
    }

    #[test]
    fn mock_exchange_runs_to_the_end_and_fails_like_a_wrong_password() {
        let mock = MockSecret::from_bytes([3; 32]);
        let real = ScramSecret::derive(b"pw", &[5; 16], 4096);
        let mut r =
            ScramExchange::new(real.clone(), None).with_server_nonce("N".repeat(24).as_str());
        let mut m = ScramExchange::mock(&mock, "ghost", "no such user", None)
            .with_server_nonce("N".repeat(24).as_str());
        assert_eq!(r.mechanisms(), m.mechanisms());
        let body = initial(SCRAM_SHA_256, Some(b"n,,n=,r=abc"));
        let rf = String::from_utf8(continue_data(r.on_message(&body))).unwrap();
        let mf = String::from_utf8(continue_data(m.on_message(&body))).unwrap();
        // Same shape: nonce, 16-byte salt, default iterations.
        assert_eq!(rf.len(), mf.len());
        assert!(mf.ends_with(",i=4096"));
        assert_ne!(rf, mf);
        // A second probe of the same unknown user sees the same salt.
        let mut m2 = ScramExchange::mock(&mock, "ghost", "no such user", None)
            .with_server_nonce("N".repeat(24).as_str());
        assert_eq!(
            String::from_utf8(continue_data(m2.on_message(&body))).unwrap(),
            mf
        );
        let wp = format!("c=biws,r=abc{}", "N".repeat(24));
        let last = format!(
            "{wp},p={}",
            proof(b"pw", &real, format!("n=,r=abc,{mf},{wp}").as_bytes())
        );
        assert_eq!(
            m.on_message(last.as_bytes()),
            ScramStep::Failure(ScramFailure::InvalidPassword {
                reason: "no such user".into()
            })
        );
    }

    /// How a malformed-message case reaches the exchange.
    enum At {
        /// The whole SASLInitialResponse body.
        InitialBody(Vec<u8>),
        /// client-first inside a SASLInitialResponse with this mechanism.
        First(&'static str, &'static [u8]),
        /// client-final after a valid "n,,n=,r=abc" (nonce abcSRV).
        Final(&'static [u8]),
        /// client-final after a valid PLUS client-first.
        PlusFinal(&'static [u8]),
    }

    #[test]
    fn malformed_messages_are_refused_with_postgres_codes() {
        const FEATURE: &str = sqlstate::FEATURE_NOT_SUPPORTED;
        const PROTO: &str = sqlstate::PROTOCOL_VIOLATION;
        const AUTHZ: &str = sqlstate::INVALID_AUTHORIZATION_SPECIFICATION;
        const MALFORMED: &str = "malformed SCRAM message";
        let p = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let with_len = |mech: &str, len: i32, data: &[u8]| {
            let mut b = mech.as_bytes().to_vec();
            b.push(0);
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(data);
            b
        };
        let leak = |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
        let cases: Vec<(At, &str, &str, Option<&str>)> = vec![
            // SASLInitialResponse framing.
            (
                At::InitialBody(b"SCRAM-SHA-256".to_vec()),
                PROTO,
                "invalid string in message",
                None,
            ),
            (
                At::InitialBody(b"SCRAM-SHA-256\0".to_vec()),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(b"SCRAM-SHA-256\0\0\0".to_vec()),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", 100, b"n,,n=,r=abc")),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", i32::MAX, b"n,,")),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", -2, b"")),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", i32::MIN, b"")),
                PROTO,
                "insufficient data left in message",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", 3, b"n,,n=,r=abc")),
                PROTO,
                "invalid message format",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", -1, b"x")),
                PROTO,
                "invalid message format",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256", 2000, &[b'a'; 2000])),
                PROTO,
                "invalid message length",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-256-PLUS", 11, b"n,,n=,r=abc")),
                PROTO,
                "client selected an invalid SASL authentication mechanism",
                None,
            ),
            (
                At::InitialBody(with_len("SCRAM-SHA-1", 11, b"n,,n=,r=abc")),
                PROTO,
                "client selected an invalid SASL authentication mechanism",
                None,
            ),
            (
                At::InitialBody(with_len("", 11, b"n,,n=,r=abc")),
                PROTO,
                "client selected an invalid SASL authentication mechanism",
                None,
            ),
            (
                At::InitialBody(with_len("scram-sha-256", 11, b"n,,n=,r=abc")),
                PROTO,
                "client selected an invalid SASL authentication mechanism",
                None,
            ),
            // client-first.
            (
                At::First(SCRAM_SHA_256, b""),
                PROTO,
                MALFORMED,
                Some("The message is empty."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=ab\0c"),
                PROTO,
                MALFORMED,
                Some("Message length does not match input length."),
            ),
            (
                At::First(SCRAM_SHA_256, b"x,,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some("Unexpected channel-binding flag \"'x'\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"\x01,,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some("Unexpected channel-binding flag \"0x01\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n"),
                PROTO,
                MALFORMED,
                Some("Comma expected, but found character \"0x00\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n;,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some("Comma expected, but found character \"';'\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,a=bob,n=,r=abc"),
                FEATURE,
                "client uses authorization identity, but it is not supported",
                None,
            ),
            (
                At::First(SCRAM_SHA_256, b"n,x,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some("Unexpected attribute \"'x'\" in client-first-message."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,"),
                PROTO,
                MALFORMED,
                Some("Unexpected attribute \"0x00\" in client-first-message."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,m=ext,n=,r=abc"),
                FEATURE,
                "client requires an unsupported SCRAM extension",
                None,
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,r=abc"),
                PROTO,
                MALFORMED,
                Some("Expected attribute \"n\" but found \"'r'\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n"),
                PROTO,
                MALFORMED,
                Some("Expected character \"=\" for attribute \"n\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n="),
                PROTO,
                MALFORMED,
                Some("Expected attribute \"r\" but found \"0x00\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r="),
                PROTO,
                MALFORMED,
                Some("The client nonce is empty."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=ab c"),
                PROTO,
                "non-printable characters in SCRAM nonce",
                None,
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=ab\x80"),
                PROTO,
                "non-printable characters in SCRAM nonce",
                None,
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=abc,"),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found end of string."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=abc,1=x"),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found invalid character \"'1'\"."),
            ),
            (
                At::First(SCRAM_SHA_256, b"n,,n=,r=abc,x"),
                PROTO,
                MALFORMED,
                Some("Expected character \"=\" for attribute \"x\"."),
            ),
            (
                At::First(SCRAM_SHA_256_PLUS, b"p=tls-unique,,n=,r=abc"),
                PROTO,
                "unsupported SCRAM channel-binding type \"tls-unique\"",
                None,
            ),
            (
                At::First(SCRAM_SHA_256_PLUS, b"p"),
                PROTO,
                MALFORMED,
                Some("Expected character \"=\" for attribute \"p\"."),
            ),
            (
                At::First(SCRAM_SHA_256_PLUS, b"p=tls-server-end-point"),
                PROTO,
                MALFORMED,
                Some("Unexpected attribute \"0x00\" in client-first-message."),
            ),
            (
                At::First(SCRAM_SHA_256, b"p=tls-server-end-point,,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some(
                    "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
                ),
            ),
            (
                At::First(SCRAM_SHA_256_PLUS, b"n,,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some(
                    "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
                ),
            ),
            (
                At::First(SCRAM_SHA_256_PLUS, b"y,,n=,r=abc"),
                PROTO,
                MALFORMED,
                Some(
                    "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
                ),
            ),
            (
                At::First(SCRAM_SHA_256, b"y,,n=,r=abc"),
                AUTHZ,
                "SCRAM channel binding negotiation error",
                Some(
                    "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.",
                ),
            ),
            // client-final.
            (
                At::Final(b""),
                PROTO,
                MALFORMED,
                Some("The message is empty."),
            ),
            (
                At::Final(b"r=abcSRV,p=x"),
                PROTO,
                MALFORMED,
                Some("Expected attribute \"c\" but found \"'r'\"."),
            ),
            (
                At::Final(b"c=biws"),
                PROTO,
                MALFORMED,
                Some("Expected attribute \"r\" but found \"0x00\"."),
            ),
            (
                At::Final(leak(format!("c=eSws,r=abcSRV,p={p}"))),
                PROTO,
                "unexpected SCRAM channel-binding attribute in client-final-message",
                None,
            ),
            (
                At::Final(leak(format!("c=bi!s,r=abcSRV,p={p}"))),
                PROTO,
                "unexpected SCRAM channel-binding attribute in client-final-message",
                None,
            ),
            (
                At::Final(leak(format!("c=,r=abcSRV,p={p}"))),
                PROTO,
                "unexpected SCRAM channel-binding attribute in client-final-message",
                None,
            ),
            (
                At::Final(leak(format!("c=biws,r=abcXYZ,p={p}"))),
                PROTO,
                "invalid SCRAM response",
                Some("Nonce does not match."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abc,p={p}"))),
                PROTO,
                "invalid SCRAM response",
                Some("Nonce does not match."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRVX,p={p}"))),
                PROTO,
                "invalid SCRAM response",
                Some("Nonce does not match."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV"),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found end of string."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV,x=1"),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found end of string."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV,p=!!!!"),
                PROTO,
                MALFORMED,
                Some("Malformed proof in client-final-message."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV,p=AAAA"),
                PROTO,
                MALFORMED,
                Some("Malformed proof in client-final-message."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV,p="),
                PROTO,
                MALFORMED,
                Some("Malformed proof in client-final-message."),
            ),
            (
                At::Final(b"c=biws,r=abcSRV,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                PROTO,
                MALFORMED,
                Some("Malformed proof in client-final-message."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRV,p={p},x=1"))),
                PROTO,
                MALFORMED,
                Some("Garbage found at the end of client-final-message."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRV,p={p},"))),
                PROTO,
                MALFORMED,
                Some("Garbage found at the end of client-final-message."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRV,p={p}\0"))),
                PROTO,
                MALFORMED,
                Some("Message length does not match input length."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRV,1=x,p={p}"))),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found invalid character \"'1'\"."),
            ),
            (
                At::Final(leak(format!("c=biws,r=abcSRV,=x,p={p}"))),
                PROTO,
                MALFORMED,
                Some("Attribute expected, but found invalid character \"'='\"."),
            ),
            (
                At::PlusFinal(leak(format!("c=biws,r=abcSRV,p={p}"))),
                AUTHZ,
                "SCRAM channel binding check failed",
                None,
            ),
            (
                At::PlusFinal(leak(format!(
                    "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAQID,r=abcSRV,p={p}"
                ))),
                AUTHZ,
                "SCRAM channel binding check failed",
                None,
            ),
        ];
        assert!(cases.len() >= 30);
        let binding = ChannelBindingData::tls_server_end_point(vec![9; 32]);
        for (at, code, message, detail) in cases {
            let (label, step) = match at {
                At::InitialBody(body) => {
                    let mut x = ScramExchange::new(pencil(), None).with_server_nonce("SRV");
                    (format!("{body:?}"), x.on_message(&body))
                }
                At::First(mech, data) => {
                    let mut x = ScramExchange::new(pencil(), Some(binding.clone()))
                        .with_server_nonce("SRV");
                    (
                        format!("{mech} {:?}", String::from_utf8_lossy(data)),
                        x.on_message(&initial(mech, Some(data))),
                    )
                }
                At::Final(data) | At::PlusFinal(data) => {
                    let plus = matches!(at, At::PlusFinal(_));
                    let mut x = ScramExchange::new(pencil(), Some(binding.clone()))
                        .with_server_nonce("SRV");
                    let first = if plus {
                        initial(
                            SCRAM_SHA_256_PLUS,
                            Some(b"p=tls-server-end-point,,n=,r=abc"),
                        )
                    } else {
                        initial(SCRAM_SHA_256, Some(b"n,,n=,r=abc"))
                    };
                    continue_data(x.on_message(&first));
                    let step = x.on_message(data);
                    // Whatever went wrong, the exchange is over.
                    assert!(matches!(
                        x.on_message(data),
                        ScramStep::Failure(ScramFailure::Refused(_))
                    ));
                    (format!("final {:?}", String::from_utf8_lossy(data)), step)
                }
            };
            let e = refused_error(step);
            assert_eq!(e.code, code, "{label}: {e:?}");
            assert_eq!(e.message, message, "{label}");
            assert_eq!(e.detail.as_deref(), detail, "{label}");
            assert!(e.is_fatal(), "{label}");
        }
    }

    #[test]
    fn random_input_never_panics() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let alphabet = b"npyrcsmav=,\0\x80 SCRAM-SHA-256PLUStls-server-end-point AZaz09+/";
        let binding = ChannelBindingData::tls_server_end_point(vec![1; 32]);
        for i in 0..3000 {
            let len = rng.random_range(0..80);
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.8) {
                        alphabet[rng.random_range(0..alphabet.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            let mech = if i % 2 == 0 {
                SCRAM_SHA_256
            } else {
                SCRAM_SHA_256_PLUS
            };
            let mut x = ScramExchange::new(pencil(), Some(binding.clone()));
            let _ = x.on_message(&junk);
            let mut y = ScramExchange::new(pencil(), Some(binding.clone()));
            let _ = y.on_message(&initial(mech, Some(&junk)));
            let mut z = ScramExchange::new(pencil(), None).with_server_nonce("S");
            let _ = z.on_message(&initial(SCRAM_SHA_256, Some(b"n,,n=,r=a")));
            let _ = z.on_message(&junk);
            let mut prefixed = b"c=biws,r=aS,".to_vec();
            prefixed.extend_from_slice(&junk);
            let mut w = ScramExchange::new(pencil(), None).with_server_nonce("S");
            let _ = w.on_message(&initial(SCRAM_SHA_256, Some(b"y,,n=,r=a")));
            let _ = w.on_message(&prefixed);
        }
    }
}
