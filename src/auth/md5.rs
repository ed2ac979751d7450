//! PostgreSQL's MD5 password scheme: the stored hash `md5` +
//! hex(md5(password + user)) and the challenge response `md5` +
//! hex(md5(hex hash + 4-byte salt)). Deprecated by PostgreSQL 18; pgiris
//! uses it only where an hba line says `md5` and the user has an md5 hash
//! (or a plaintext password). Cheap.

use std::fmt;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The 32 lowercase hex digits of md5(password + user), as stored after the
/// `md5` prefix. `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Hash([u8; 32]);

impl Md5Hash {
    /// md5(password + user), as PostgreSQL stores it (without the prefix).
    pub fn from_password(password: &[u8], user: &str) -> Md5Hash {
        let mut h = Md5::new();
        h.update(password);
        h.update(user.as_bytes());
        Md5Hash(hex32(&h.finalize().into()))
    }

    /// Parses `md5` followed by exactly 32 lowercase hex digits (PostgreSQL's
    /// `get_password_type` test); anything else is not an md5 hash.
    pub fn parse(stored: &str) -> Option<Md5Hash> {
        let hex = stored.strip_prefix("md5")?;
        let bytes: [u8; 32] = hex.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then_some(Md5Hash(bytes))
    }

    /// The stored form, `md5` + hex.
    pub fn to_stored(&self) -> String {
        let mut s = String::with_capacity(35);
        s.push_str("md5");
        s.extend(self.0.iter().map(|&b| b as char));
        s
    }

    /// The PasswordMessage a client answers an MD5 challenge with.
    pub fn challenge_response(&self, salt: [u8; 4]) -> [u8; 35] {
        let mut h = Md5::new();
        h.update(self.0);
        h.update(salt);
        let mut out = [0u8; 35];
        out[..3].copy_from_slice(b"md5");
        out[3..].copy_from_slice(&hex32(&h.finalize().into()));
        out
    }

    /// Whether `response` (the PasswordMessage string) answers the challenge
    /// with `salt`; constant time in the content.
    pub fn verify_response(&self, salt: [u8; 4], response: &[u8]) -> bool {
        bool::from(self.challenge_response(salt).as_slice().ct_eq(response))
    }

    /// Whether a cleartext password produced this hash (hba `password`
    /// against an md5 credential); constant time in the content.
    pub fn matches_password(&self, password: &[u8], user: &str) -> bool {
        bool::from(Md5Hash::from_password(password, user).0.ct_eq(&self.0))
    }
}

impl fmt::Debug for Md5Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Hash(***)")
    }
}

fn hex32(digest: &[u8; 16]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    out
}

/// A fresh 4-byte challenge salt from a CSPRNG.
pub fn random_salt() -> [u8; 4] {
    let mut salt = [0u8; 4];
    rand::fill(&mut salt);
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_string(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_postgres_protocol() {
        let stored = postgres_protocol::password::md5(b"secret", "alice");
        let hash = Md5Hash::parse(&stored).unwrap();
        assert_eq!(hash, Md5Hash::from_password(b"secret", "alice"));
        assert_eq!(hash.to_stored(), stored);
        assert!(hash.matches_password(b"secret", "alice"));
        assert!(!hash.matches_password(b"secret", "bob"));
    }

    #[test]
    fn challenge_response_known_value() {
        // md5("md5" + ...) computed independently: md5(password+user) for
        // "pw"/"u" is md5("pwu"); the response hashes its hex with the salt.
        let hash = Md5Hash::from_password(b"pw", "u");
        let inner = hex_string(&Md5::digest(b"pwu"));
        assert_eq!(hash.to_stored(), format!("md5{inner}"));
        let salt = [1, 2, 3, 4];
        let mut outer_input = inner.into_bytes();
        outer_input.extend_from_slice(&salt);
        let expected = format!("md5{}", hex_string(&Md5::digest(&outer_input)));
        assert_eq!(
            hash.challenge_response(salt).as_slice(),
            expected.as_bytes()
        );
        assert!(hash.verify_response(salt, expected.as_bytes()));
        assert!(!hash.verify_response([0, 2, 3, 4], expected.as_bytes()));
        assert!(!hash.verify_response(salt, &expected.as_bytes()[..34]));
    }

    #[test]
    fn parse_is_strict() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(Md5Hash::parse(&format!("md5{hex}")).is_some());
        assert!(Md5Hash::parse(&format!("md5{}", hex.to_uppercase())).is_none());
        assert!(Md5Hash::parse(&format!("md5{hex}0")).is_none());
        assert!(Md5Hash::parse(&format!("md5{}", &hex[1..])).is_none());
        assert!(Md5Hash::parse(&format!("MD5{hex}")).is_none());
        assert!(Md5Hash::parse("md5").is_none());
        assert_eq!(
            format!("{:?}", Md5Hash::parse(&format!("md5{hex}")).unwrap()),
            "Md5Hash(***)"
        );
    }
}
