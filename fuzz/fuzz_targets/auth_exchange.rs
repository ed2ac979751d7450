//! The whole authentication exchange (`auth::method::Exchange`) driven with
//! arbitrary 'p' message bodies, for every method, credential kind and
//! transport; and, in "client" mode, a correct client (postgres-protocol's
//! SCRAM and md5 code) with the right or a wrong password.
//!
//! Input: byte 0 picks method and credential, byte 1 the flags (TLS,
//! channel binding, allow_plaintext, client mode, right password, -PLUS),
//! then messages as u16-length-prefixed bodies.
//!
//! Beyond "no panic":
//! - a correct client with the right password gets in, and the server's
//!   SCRAM signature verifies on the client; with a wrong password it gets
//!   28P01; an unknown user never gets in;
//! - arbitrary bodies never authenticate a SCRAM or md5 exchange, and a
//!   cleartext one only with the right password;
//! - once the exchange ended, every further message is refused (08P01);
//! - failures carry the designed SQLSTATEs, and neither the client-visible
//!   error nor the log reason ever holds the password a client sent.

#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgiris::auth::method::{AuthRequest, Exchange, Method, Step};
use pgiris::auth::scram::ChannelBindingData;
use pgiris::auth::{ConnFacts, Credential, MockSecret, ScramSecret};
use pgiris_fuzz::split_messages;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

const USER: &str = "alice";
const PASSWORD: &str = "pencil";
/// A wrong password that a leak check can find anywhere.
const WRONG: &str = "wrong-SECRET-4bd1";
const END_POINT: [u8; 32] = [0xab; 32];

fn credentials() -> &'static [Option<Credential>; 4] {
    static C: OnceLock<[Option<Credential>; 4]> = OnceLock::new();
    C.get_or_init(|| {
        // One PBKDF2 iteration keeps the fuzzer fast; the exchange does not
        // care how the verifier was made.
        let scram = ScramSecret::derive(PASSWORD.as_bytes(), b"0123456789abcdef", 1).to_verifier();
        let md5 = pgiris::auth::md5::Md5Hash::from_password(PASSWORD.as_bytes(), USER).to_stored();
        [
            None,
            Some(Credential::from_secret(USER, &scram).expect("verifier")),
            Some(Credential::from_secret(USER, &md5).expect("md5")),
            Some(Credential::from_secret(USER, PASSWORD).expect("plaintext")),
        ]
    })
}

fn mock() -> &'static MockSecret {
    static M: OnceLock<MockSecret> = OnceLock::new();
    M.get_or_init(|| MockSecret::from_bytes([42; 32]).with_iterations(1))
}

const METHODS: [Method; 6] = [
    Method::ScramSha256,
    Method::Md5,
    Method::Password,
    Method::Iris,
    Method::Trust,
    Method::Reject,
];

/// Where an exchange stands after a step.
#[derive(Debug, PartialEq)]
enum Outcome {
    Pending(AuthRequest),
    In,
    Refused(&'static str),
}

/// Resolves the intermediate steps a session would resolve itself
/// (password checks, backend logins) and checks every failure.
/// `password_sent`: what the client sent, which no error text may hold.
fn resolve(x: &mut Exchange, mut step: Step, password_sent: Option<&[u8]>) -> Outcome {
    loop {
        step = match step {
            Step::Send(request) => return Outcome::Pending(request),
            Step::Success { .. } => return Outcome::In,
            Step::CheckPassword(check) => {
                let ok = check.verify();
                x.on_verdict(ok)
            }
            Step::VerifyWithBackend { password } => {
                let ok = password.expose() == PASSWORD;
                x.on_verdict(ok)
            }
            Step::Failure(f) => {
                assert!(f.error.is_fatal(), "{f:?}");
                assert!(
                    ["08P01", "28P01", "28000", "0A000"].contains(&f.error.code),
                    "unexpected SQLSTATE in {f:?}"
                );
                for text in [
                    Some(&f.error.message),
                    f.error.detail.as_ref(),
                    f.error.hint.as_ref(),
                    Some(&f.reason),
                ]
                .into_iter()
                .flatten()
                {
                    let sent = password_sent.map(|p| p.strip_suffix(&[0]).unwrap_or(p));
                    if let Some(p) = sent.filter(|p| p.len() >= 12) {
                        let p = String::from_utf8_lossy(p);
                        assert!(!text.contains(&*p), "the password in {f:?}");
                    }
                }
                return Outcome::Refused(f.error.code);
            }
        }
    }
}

fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
    pgiris::auth::scram::messages::SaslInitialResponse {
        mechanism: mechanism.as_bytes(),
        data: Some(data),
    }
    .encode()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let method = METHODS[usize::from(data[0]) % METHODS.len()];
    let credential = credentials()[usize::from(data[0] / 6) % 4].as_ref();
    let flags = data[1];
    let tls = flags & 1 != 0;
    let binding = (tls && flags & 2 != 0)
        .then(|| ChannelBindingData::tls_server_end_point(END_POINT.to_vec()));
    let allow_plaintext = flags & 4 != 0;
    let client_mode = flags & 8 != 0;
    let right = flags & 16 != 0;
    let plus = flags & 32 != 0;
    let facts = ConnFacts {
        addr: Some(IpAddr::from([192, 0, 2, 7])),
        local_addr: None,
        tls,
        user: USER,
        database: "db",
        replication: false,
    };
    let mut x = Exchange::new(
        method,
        allow_plaintext,
        &facts,
        credential,
        binding.as_ref(),
        mock(),
    );
    let first = x.start();
    let mut outcome = resolve(&mut x, first, None);
    let known = credential.is_some();
    // SCRAM can succeed only against a SCRAM secret (a verifier, or one
    // derived from a plaintext password); md5 hashes get a mock exchange.
    let has_scram = credential.and_then(Credential::scram_secret).is_some();

    if client_mode {
        let password = if right { PASSWORD } else { WRONG };
        outcome = match outcome {
            Outcome::Pending(AuthRequest::Sasl { mechanisms }) => {
                let use_plus = plus && binding.is_some();
                let (mechanism, cb) = if use_plus {
                    (
                        "SCRAM-SHA-256-PLUS",
                        ChannelBinding::tls_server_end_point(END_POINT.to_vec()),
                    )
                } else {
                    ("SCRAM-SHA-256", ChannelBinding::unsupported())
                };
                assert!(mechanisms.contains(&mechanism));
                let mut client = ScramSha256::new(password.as_bytes(), cb);
                let body = sasl_initial(mechanism, client.message());
                let step = x.on_message(&body);
                match resolve(&mut x, step, Some(password.as_bytes())) {
                    Outcome::Pending(AuthRequest::SaslContinue(server_first)) => {
                        client.update(&server_first).expect("server-first parses");
                        let step = x.on_message(client.message());
                        // Success carries SASLFinal: check it on the client.
                        match step {
                            Step::Success {
                                final_message: Some(AuthRequest::SaslFinal(v)),
                            } => {
                                client.finish(&v).expect("the server signature verifies");
                                assert!(right && has_scram, "a SCRAM login without the password");
                                Outcome::In
                            }
                            other => {
                                let o = resolve(&mut x, other, Some(password.as_bytes()));
                                assert_eq!(o, Outcome::Refused("28P01"));
                                assert!(!(right && has_scram), "the right password was refused");
                                o
                            }
                        }
                    }
                    other => panic!("client-first refused: {other:?}"),
                }
            }
            Outcome::Pending(AuthRequest::Md5Password { salt }) => {
                let response = md5_hash(USER.as_bytes(), password.as_bytes(), salt);
                let mut body = response.into_bytes();
                body.push(0);
                let step = x.on_message(&body);
                let o = resolve(&mut x, step, Some(password.as_bytes()));
                assert_eq!(o == Outcome::In, right && known, "md5: {o:?}");
                o
            }
            Outcome::Pending(AuthRequest::CleartextPassword) => {
                let mut body = password.as_bytes().to_vec();
                body.push(0);
                let step = x.on_message(&body);
                let o = resolve(&mut x, step, Some(password.as_bytes()));
                let can = right && (known || method == Method::Iris);
                assert_eq!(o == Outcome::In, can, "cleartext: {o:?}");
                o
            }
            other => other,
        };
    }

    for body in split_messages(&data[2..]) {
        match outcome {
            Outcome::Pending(_) => {
                // Arbitrary bodies may well spell out an error text, so the
                // leak check is for the client mode's distinctive passwords.
                let step = x.on_message(body);
                outcome = resolve(&mut x, step, None);
                if outcome == Outcome::In {
                    let cleartext =
                        matches!(method, Method::Password | Method::Iris) && body == b"pencil\0";
                    assert!(
                        cleartext && (known || method == Method::Iris),
                        "{method:?} let in arbitrary bytes {body:?}"
                    );
                }
            }
            Outcome::In | Outcome::Refused(_) => {
                let step = x.on_message(body);
                assert_eq!(
                    resolve(&mut x, step, None),
                    Outcome::Refused("08P01"),
                    "a message after the exchange ended"
                );
            }
        }
    }
});
