//! PostgreSQL's SCRAM-SHA-256 verifier (`pg_authid.rolpassword`):
//! `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>`,
//! parsed and built, and the mock secret for users who have none.
//!
//! Expensive (PBKDF2, milliseconds each; call off the async threads):
//! [`ScramSecret::derive`], [`ScramSecret::matches_password`],
//! [`make_verifier`]. Everything else here is cheap.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::{DEFAULT_ITERATIONS, KEY_LEN, Key, SALT_LEN};

const PREFIX: &str = "SCRAM-SHA-256$";

/// PostgreSQL stores the iteration count in an `int`.
const MAX_ITERATIONS: u32 = i32::MAX as u32;

/// A parsed verifier. `Debug` shows the iteration count only.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    pub(crate) iterations: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) stored_key: Key,
    pub(crate) server_key: Key,
}

/// Why a string is not a usable verifier. Never quotes the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "not a SCRAM-SHA-256 verifier (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)"
    )]
    Shape,
    #[error("the iteration count must be a number from 1 to {MAX_ITERATIONS}")]
    Iterations,
    #[error("the salt is not non-empty base64")]
    Salt,
    #[error("StoredKey is not 32 bytes of base64")]
    StoredKey,
    #[error("ServerKey is not 32 bytes of base64")]
    ServerKey,
}

impl ScramSecret {
    /// Whether `s` claims to be a SCRAM verifier (as PostgreSQL's
    /// `get_password_type` decides: by its prefix).
    pub fn looks_like_verifier(s: &str) -> bool {
        s.starts_with(PREFIX)
    }

    /// Parses PostgreSQL's verifier format, strictly: canonical padded
    /// base64, 32-byte keys, a positive iteration count. Cheap.
    pub fn parse(s: &str) -> Result<ScramSecret, SecretError> {
        let rest = s.strip_prefix(PREFIX).ok_or(SecretError::Shape)?;
        let (params, keys) = rest.split_once('$').ok_or(SecretError::Shape)?;
        let (iterations, salt) = params.split_once(':').ok_or(SecretError::Shape)?;
        let (stored_key, server_key) = keys.split_once(':').ok_or(SecretError::Shape)?;
        if !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SecretError::Iterations);
        }
        let iterations: u32 = iterations.parse().map_err(|_| SecretError::Iterations)?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(SecretError::Iterations);
        }
        let salt = STANDARD.decode(salt).map_err(|_| SecretError::Salt)?;
        if salt.is_empty() {
            return Err(SecretError::Salt);
        }
        let stored_key = decode_key(stored_key).ok_or(SecretError::StoredKey)?;
        let server_key = decode_key(server_key).ok_or(SecretError::ServerKey)?;
        Ok(ScramSecret {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// The verifier from a password, as PostgreSQL's `scram_build_secret`:
    /// SASLprep (with PostgreSQL's fallback), then PBKDF2. **Expensive.**
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramSecret {
        let salted = super::salted_password(&saslprep(password), salt, iterations);
        let client_key = super::client_key(&salted);
        ScramSecret {
            iterations,
            salt: salt.to_vec(),
            stored_key: super::sha256(&[&client_key]),
            server_key: super::server_key(&salted),
        }
    }

    /// Whether `password` is the one this verifier was made from (the
    /// `password` hba method against a SCRAM credential, as PostgreSQL's
    /// `scram_verify_plain_password`). Both keys compared in constant time.
    /// **Expensive** (one PBKDF2 with the stored iteration count).
    pub fn matches_password(&self, password: &[u8]) -> bool {
        let other = ScramSecret::derive(password, &self.salt, self.iterations);
        let stored = other.stored_key.ct_eq(&self.stored_key);
        let server = other.server_key.ct_eq(&self.server_key);
        bool::from(stored & server)
    }

    /// The PostgreSQL verifier string (what `pg_authid` holds).
    pub fn to_verifier(&self) -> String {
        format!(
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn decode_key(s: &str) -> Option<Key> {
    STANDARD.decode(s).ok()?.try_into().ok()
}

/// A fresh verifier for `password` with a 16-byte salt from a CSPRNG, in
/// PostgreSQL's format (what `pgiris passwd` prints). **Expensive.**
pub fn make_verifier(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::fill(&mut salt);
    ScramSecret::derive(password.as_bytes(), &salt, iterations).to_verifier()
}

/// SASLprep (RFC 4013) as PostgreSQL applies it to passwords: pure ASCII is
/// used as is; otherwise the prepared form, unless the password is not UTF-8
/// or SASLprep prohibits it, in which case the raw bytes are used (libpq
/// does the same on the client side, so both ends agree).
pub fn saslprep(password: &[u8]) -> Cow<'_, [u8]> {
    if password.is_ascii() {
        return Cow::Borrowed(password);
    }
    match std::str::from_utf8(password).map(stringprep::saslprep) {
        Ok(Ok(prepared)) => Cow::Owned(prepared.into_owned().into_bytes()),
        _ => Cow::Borrowed(password),
    }
}

/// The per-process secret behind mock exchanges: unknown users get a salt
/// derived from their name and this, stable for the life of the process (a
/// second probe sees the same salt, as for a real user) and unpredictable
/// across restarts. `Debug` hides it.
#[derive(Clone)]
pub struct MockSecret {
    key: [u8; KEY_LEN],
    iterations: u32,
}

impl MockSecret {
    /// 32 bytes from a CSPRNG; make one at startup and keep it.
    pub fn generate() -> MockSecret {
        let mut bytes = [0u8; KEY_LEN];
        rand::fill(&mut bytes);
        MockSecret::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MockSecret {
        MockSecret {
            key: bytes,
            iterations: DEFAULT_ITERATIONS,
        }
    }

    /// The iteration count mock exchanges announce; set it to
    /// `auth.scram_iterations` so that mocks look like the verifiers
    /// `pgiris passwd` makes (default 4096, PostgreSQL's).
    pub fn with_iterations(mut self, iterations: u32) -> MockSecret {
        self.iterations = iterations.max(1);
        self
    }

    /// The secret a mock exchange for `user` runs with: PostgreSQL's
    /// `scram_mock_salt` shape (SHA-256 of the user name and the secret,
    /// first 16 bytes) and the configured iteration count. The keys are
    /// unrelated to any password; the exchange is doomed anyway.
    pub fn scram_secret_for(&self, user: &str) -> ScramSecret {
        let digest = super::sha256(&[user.as_bytes(), &self.key]);
        ScramSecret {
            iterations: self.iterations,
            salt: digest[..SALT_LEN].to_vec(),
            stored_key: super::hmac(&self.key, &[b"mock StoredKey\0", user.as_bytes()]),
            server_key: super::hmac(&self.key, &[b"mock ServerKey\0", user.as_bytes()]),
        }
    }
}

impl fmt::Debug for MockSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MockSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PENCIL_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

    #[test]
    fn parse_build_round_trip() {
        let salt = STANDARD.decode(PENCIL_SALT).unwrap();
        let secret = ScramSecret::derive(b"pencil", &salt, 4096);
        let text = secret.to_verifier();
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
        let back = ScramSecret::parse(&text).unwrap();
        assert_eq!(back, secret);
        assert_eq!(back.to_verifier(), text);
        assert!(back.matches_password(b"pencil"));
        assert!(!back.matches_password(b"pencil "));
    }

    #[test]
    fn verifier_from_postgres_protocol_is_accepted() {
        let text = postgres_protocol::password::scram_sha_256(b"s3cret");
        let secret = ScramSecret::parse(&text).unwrap();
        assert_eq!(secret.iterations(), 4096);
        assert_eq!(secret.salt().len(), 16);
        assert!(secret.matches_password(b"s3cret"));
        assert!(!secret.matches_password(b"S3cret"));
    }

    #[test]
    fn make_verifier_uses_fresh_salts() {
        let a = make_verifier("pw", 2);
        let b = make_verifier("pw", 2);
        assert_ne!(a, b);
        let sa = ScramSecret::parse(&a).unwrap();
        assert_eq!(sa.iterations(), 2);
        assert_eq!(sa.salt().len(), SALT_LEN);
        assert!(sa.matches_password(b"pw"));
    }

    #[test]
    fn malformed_verifiers_are_refused_without_quoting_them() {
        let good = ScramSecret::derive(b"x", b"salty", 1).to_verifier();
        let (_, keys) = good.rsplit_once('$').unwrap();
        let cases: Vec<(String, SecretError)> = vec![
            ("md5abc".into(), SecretError::Shape),
            ("SCRAM-SHA-256$".into(), SecretError::Shape),
            ("SCRAM-SHA-256$4096:c2FsdA==".into(), SecretError::Shape),
            ("SCRAM-SHA-256$4096$".to_string() + keys, SecretError::Shape),
            (
                format!("SCRAM-SHA-256$4096:c2FsdA==${}", "AAAA"),
                SecretError::Shape,
            ),
            (
                format!("SCRAM-SHA-256$0:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (
                format!("SCRAM-SHA-256$-1:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (
                format!("SCRAM-SHA-256$+5:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (
                format!("SCRAM-SHA-256$ 5:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (
                format!("SCRAM-SHA-256$2147483648:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (
                format!("SCRAM-SHA-256$99999999999:c2FsdA==${keys}"),
                SecretError::Iterations,
            ),
            (format!("SCRAM-SHA-256$4096:${keys}"), SecretError::Salt),
            (
                format!("SCRAM-SHA-256$4096:c2FsdA${keys}"),
                SecretError::Salt,
            ),
            (
                format!("SCRAM-SHA-256$4096:c2F*dA==${keys}"),
                SecretError::Salt,
            ),
            (
                "SCRAM-SHA-256$4096:c2FsdA==$AAAA:".to_string() + &"A".repeat(43) + "=",
                SecretError::StoredKey,
            ),
            (
                format!("{}:AAAA", good.rsplit_once(':').unwrap().0),
                SecretError::ServerKey,
            ),
            (format!("{good}:AAAA"), SecretError::ServerKey),
            (format!("{good}$"), SecretError::ServerKey),
        ];
        for (text, want) in cases {
            let got = ScramSecret::parse(&text);
            assert_eq!(got, Err(want.clone()), "{text}");
            assert!(!want.to_string().contains("c2FsdA"));
        }
    }

    #[test]
    fn debug_hides_keys() {
        let secret = ScramSecret::derive(b"x", b"salty", 1);
        let shown = format!("{secret:?}");
        assert_eq!(shown, "ScramSecret { iterations: 1, .. }");
        assert_eq!(
            format!("{:?}", MockSecret::from_bytes([1; 32])),
            "MockSecret(***)"
        );
    }

    #[test]
    fn saslprep_follows_postgres_fallback() {
        // ASCII (control characters too) is used as is.
        assert_eq!(&*saslprep(b"a\x01b"), b"a\x01b");
        // A non-ASCII space maps to a space; NFKC applies (U+2168 -> "IX").
        assert_eq!(&*saslprep("a\u{00A0}b".as_bytes()), b"a b");
        assert_eq!(&*saslprep("\u{2168}".as_bytes()), b"IX");
        // Prohibited (a private-use character) or not UTF-8: raw bytes.
        assert_eq!(&*saslprep("x\u{E000}".as_bytes()), "x\u{E000}".as_bytes());
        assert_eq!(&*saslprep(b"\xff\xfe"), b"\xff\xfe");
    }

    #[test]
    fn mock_secret_is_deterministic_per_user_and_process() {
        let m = MockSecret::from_bytes([9; 32]);
        let a1 = m.scram_secret_for("alice");
        let a2 = m.scram_secret_for("alice");
        let b = m.scram_secret_for("bob");
        assert_eq!(a1, a2);
        assert_ne!(a1.salt, b.salt);
        assert_eq!(a1.salt.len(), SALT_LEN);
        assert_eq!(a1.iterations, DEFAULT_ITERATIONS);
        let other = MockSecret::from_bytes([8; 32]).scram_secret_for("alice");
        assert_ne!(a1.salt, other.salt);
        let slow = MockSecret::from_bytes([9; 32]).with_iterations(10_000);
        assert_eq!(slow.scram_secret_for("alice").iterations, 10_000);
        assert_eq!(slow.scram_secret_for("alice").salt, a1.salt);
    }
}
