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
