//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677), server side,
//! as PostgreSQL's `auth-scram.c` speaks it.
//!
//! - [`messages`]: strict parsing of client-first and client-final, and of
//!   the SASLInitialResponse frame around them;
//! - [`secret`]: PostgreSQL verifiers (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`);
//! - [`channel_binding`]: the GS2 flag (`n`, `y`, `p=tls-server-end-point`);
//! - [`exchange`]: the owned state machine a session keeps between frames,
//!   including the mock exchange run for users without a SCRAM secret.
//!
//! Cost: a login with a stored verifier costs a few HMACs. PBKDF2 runs only
//! when a verifier is *derived* from a password ([`ScramSecret::derive`],
//! [`make_verifier`], [`ScramSecret::matches_password`]); callers run those
//! off the async threads.

pub mod channel_binding;
pub mod exchange;
pub mod messages;
pub mod secret;

pub use channel_binding::{ChannelBinding, ChannelBindingData};
pub use exchange::{ScramExchange, ScramFailure, ScramStep};
pub use secret::{MockSecret, ScramSecret, make_verifier, saslprep};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::wire::error::{PgError, sqlstate};

/// The mechanism names of AuthenticationSASL.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// PostgreSQL's `scram_iterations` default.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// PostgreSQL's SCRAM_DEFAULT_SALT_LEN.
pub const SALT_LEN: usize = 16;
/// PostgreSQL's SCRAM_RAW_NONCE_LEN: random bytes behind the server nonce.
pub const RAW_NONCE_LEN: usize = 18;
/// SHA-256 output: the length of every SCRAM key, proof and signature.
pub const KEY_LEN: usize = 32;

pub type Key = [u8; KEY_LEN];

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA-256 with a 32-byte key over the concatenation of `parts`.
pub(crate) fn hmac(key: &Key, parts: &[&[u8]]) -> Key {
    // HMAC zero-pads keys shorter than the hash block (RFC 2104 section 2),
    // so a 32-byte key padded to the 64-byte block is the same key; the
    // fixed-size constructor is infallible where `new_from_slice` is not.
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <HmacSha256 as KeyInit>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// `Hi(password, salt, i)`: PBKDF2-HMAC-SHA-256. Expensive by design.
pub(crate) fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    pbkdf2::pbkdf2_hmac_array::<Sha256, KEY_LEN>(password, salt, iterations)
}

pub(crate) fn client_key(salted_password: &Key) -> Key {
    hmac(salted_password, &[b"Client Key"])
}

pub(crate) fn server_key(salted_password: &Key) -> Key {
    hmac(salted_password, &[b"Server Key"])
}

/// 08P01 "malformed SCRAM message" with PostgreSQL's detail.
pub(crate) fn malformed(detail: impl Into<String>) -> PgError {
    PgError::fatal(sqlstate::PROTOCOL_VIOLATION, "malformed SCRAM message").with_detail(detail)
}

/// A 08P01 error with a message of its own (no detail).
pub(crate) fn protocol_violation(message: impl Into<String>) -> PgError {
    PgError::fatal(sqlstate::PROTOCOL_VIOLATION, message)
}

/// How PostgreSQL's `sanitize_char` shows a byte in an error detail:
/// printable ASCII quoted (`'x'`), anything else as hex (`0x0a`). The end of
/// the message shows as `0x00`, as C sees its terminator.
pub(crate) fn sanitize_char(c: Option<u8>) -> String {
    match c {
        Some(c @ 0x21..=0x7e) => format!("'{}'", c as char),
        Some(c) => format!("0x{c:02x}"),
        None => "0x00".to_string(),
    }
}

/// PostgreSQL's `sanitize_str`: at most 30 bytes, non-printables as `?`.
pub(crate) fn sanitize_str(s: &[u8]) -> String {
    s.iter()
        .take(30)
        .map(|&c| {
            if (0x21..=0x7e).contains(&c) {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses a 4-byte key; ours are 32 bytes, so check
        // the zero-padding argument directly against the slice constructor.
        let key = [7u8; KEY_LEN];
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(b"what do ya want for nothing?");
        let expected: Key = mac.finalize().into_bytes().into();
        assert_eq!(
            hmac(&key, &[b"what do ya want ", b"for nothing?"]),
            expected
        );
    }

    #[test]
    fn sanitizers_follow_postgres() {
        assert_eq!(sanitize_char(Some(b'x')), "'x'");
        assert_eq!(sanitize_char(Some(b' ')), "0x20");
        assert_eq!(sanitize_char(Some(0xff)), "0xff");
        assert_eq!(sanitize_char(None), "0x00");
        assert_eq!(sanitize_str(b"tls unique\x01"), "tls?unique?");
        assert_eq!(sanitize_str(&[b'a'; 40]).len(), 30);
    }
}
