//! The users file (`auth.users_file`), in PgBouncer's `auth_file` format:
//!
//! ```text
//! ; comment (also #)
//! "alice" "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"
//! "bob"   "md5<32 lowercase hex digits>"
//! "dev"   "plaintext password, for development only"
//! "o""q"  "a quote inside a field is doubled"
//! ```
//!
//! One user per line: two double-quoted fields, user name and secret. The
//! secret is a PostgreSQL SCRAM-SHA-256 verifier (copy it from
//! `pg_authid.rolpassword` or make one with `pgiris passwd USER`), an md5
//! hash (`md5` + md5(password + user name)), or else a plaintext password.
//! Text after the second field (separated by white space) is ignored, as
//! PgBouncer does. A user listed twice is an error.
//!
//! Plaintext passwords are for development: the file then holds the
//! password itself. For SCRAM logins a verifier is derived from each one
//! when the file is loaded, with a salt fixed per user name, so a login
//! still costs only a few HMACs.
//!
//! Errors and `Debug` output name users and lines, never a secret.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use subtle::ConstantTimeEq;

use crate::backend::Secret;

use super::md5::Md5Hash;
use super::scram::{self, DEFAULT_ITERATIONS, SALT_LEN, ScramSecret};

/// What the users file holds for one user.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A PostgreSQL SCRAM-SHA-256 verifier.
    Scram(ScramSecret),
    /// PostgreSQL's md5 hash of password + user name.
    Md5(Md5Hash),
    /// A plaintext password (development), with the SCRAM verifier derived
    /// from it at load time.
    Plaintext {
        password: Secret,
        scram: ScramSecret,
    },
}

impl Credential {
    /// Classifies a secret as PostgreSQL does: a `SCRAM-SHA-256$` prefix is a
    /// verifier (and must parse), `md5` + 32 lowercase hex digits an md5
    /// hash, anything else a plaintext password. **Expensive** for
    /// plaintext (one PBKDF2).
    pub fn from_secret(user: &str, secret: &str) -> Result<Credential, String> {
        if ScramSecret::looks_like_verifier(secret) {
            return ScramSecret::parse(secret)
                .map(Credential::Scram)
                .map_err(|e| format!("invalid SCRAM-SHA-256 verifier for user \"{user}\": {e}"));
        }
        if let Some(hash) = Md5Hash::parse(secret) {
            return Ok(Credential::Md5(hash));
        }
        Ok(Credential::Plaintext {
            password: Secret::new(secret),
            scram: ScramSecret::derive(
                secret.as_bytes(),
                &plaintext_salt(user),
                DEFAULT_ITERATIONS,
            ),
        })
    }

    /// The SCRAM secret a SCRAM exchange can use, if any.
    pub fn scram_secret(&self) -> Option<&ScramSecret> {
        match self {
            Credential::Scram(s) | Credential::Plaintext { scram: s, .. } => Some(s),
            Credential::Md5(_) => None,
        }
    }

    /// The md5 hash an MD5 challenge can use, if any.
    pub fn md5_hash(&self, user: &str) -> Option<Md5Hash> {
        match self {
            Credential::Md5(h) => Some(h.clone()),
            Credential::Plaintext { password, .. } => {
                Some(Md5Hash::from_password(password.expose().as_bytes(), user))
            }
            Credential::Scram(_) => None,
        }
    }

    /// Whether a cleartext password (hba `password`) matches, in constant
    /// time in the content. **Expensive** for a SCRAM verifier (one PBKDF2
    /// with its iteration count); cheap for md5 and plaintext.
    pub fn matches_password(&self, user: &str, password: &[u8]) -> bool {
        match self {
            Credential::Scram(secret) => secret.matches_password(password),
            Credential::Md5(hash) => hash.matches_password(password, user),
            Credential::Plaintext {
                password: stored, ..
            } => {
                // Hashing first makes the comparison independent of lengths.
                let a = scram::sha256(&[password]);
                let b = scram::sha256(&[stored.expose().as_bytes()]);
                bool::from(a.ct_eq(&b))
            }
        }
    }

    /// Whether [`Credential::matches_password`] runs PBKDF2.
    pub fn password_check_is_expensive(&self) -> bool {
        matches!(self, Credential::Scram(_))
    }

    /// For the log: "SCRAM-SHA-256", "md5" or "plaintext".
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Scram(_) => "SCRAM-SHA-256",
            Credential::Md5(_) => "md5",
            Credential::Plaintext { .. } => "plaintext",
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential::{}(***)", self.kind())
    }
}

/// The salt of verifiers derived from plaintext passwords: fixed per user
/// name so that reloading the file gives the same verifier.
fn plaintext_salt(user: &str) -> [u8; SALT_LEN] {
    let digest = scram::sha256(&[b"pgiris users file salt\0", user.as_bytes()]);
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&digest[..SALT_LEN]);
    salt
}

/// A problem in the users file. `line` is 1-based; 0 means the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if *line > 0 { format!("line {line}: ") } else { String::new() })]
pub struct UsersError {
    pub line: usize,
    pub message: String,
}

/// The parsed users file.
#[derive(Default, Clone)]
pub struct UserList {
    users: HashMap<String, Credential>,
}

impl UserList {
    /// Parses the file's text. **Expensive** when the file holds plaintext
    /// passwords (one PBKDF2 each): call it on a blocking thread, never on
    /// an async worker.
    pub fn parse(text: &str) -> Result<UserList, UsersError> {
        let mut users = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let err = |message: String| UsersError { line, message };
            let Some((user, secret)) = parse_line(raw.strip_suffix('\r').unwrap_or(raw))
                .map_err(|m| err(m.to_string()))?
            else {
                continue;
            };
            if user.is_empty() {
                return Err(err("empty user name".into()));
            }
            if user.contains('\0') || secret.contains('\0') {
                return Err(err("a field contains a NUL character".into()));
            }
            if secret.is_empty() {
                return Err(err(format!("empty secret for user \"{user}\"")));
            }
            if let Some(first) = first_line.get(&user) {
                return Err(err(format!(
                    "user \"{user}\" is listed twice (first on line {first})"
                )));
            }
            let credential = Credential::from_secret(&user, &secret).map_err(err)?;
            first_line.insert(user.clone(), line);
            users.insert(user, credential);
        }
        Ok(UserList { users })
    }

    /// Reads and parses `path`. **Expensive**, as [`UserList::parse`].
    pub fn load(path: &Path) -> Result<UserList, UsersError> {
        let bytes = std::fs::read(path).map_err(|e| UsersError {
            line: 0,
            message: format!("could not read {}: {e}", path.display()),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            UsersError {
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "the file is not valid UTF-8".into(),
            }
        })?;
        UserList::parse(&text)
    }

    pub fn get(&self, user: &str) -> Option<&Credential> {
        self.users.get(user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl fmt::Debug for UserList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("UserList").field("users", &names).finish()
    }
}

/// One line: `None` for blank and comment lines, else (user, secret).
/// Error texts never include field contents.
fn parse_line(line: &str) -> Result<Option<(String, String)>, &'static str> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
        return Ok(None);
    }
    if !t.starts_with('"') {
        return Err("expected a line of the form \"user\" \"secret\"");
    }
    let (user, rest) = read_quoted(t).ok_or("unterminated quoted user name")?;
    if rest.trim().is_empty() {
        return Err("missing the quoted secret after the user name");
    }
    if !rest.starts_with(char::is_whitespace) {
        return Err("expected white space after the quoted user name");
    }
    let rest = rest.trim_start();
    if !rest.starts_with('"') {
        return Err("expected a quoted secret after the user name");
    }
    let (secret, rest) = read_quoted(rest).ok_or("unterminated quoted secret")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err("expected white space or the end of the line after the quoted secret");
    }
    Ok(Some((user, secret)))
}

/// Reads `"..."` at the start of `s` (which starts with a quote), with `""`
/// standing for one quote. Returns the content and what follows.
fn read_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if matches!(chars.peek(), Some((_, '"'))) {
                chars.next();
                out.push('"');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A users-file line for `user` with a fresh SCRAM-SHA-256 verifier of
/// `password` (what `pgiris passwd USER` prints). **Expensive** (PBKDF2).
pub fn passwd_line(user: &str, password: &str, iterations: u32) -> String {
    format!(
        "{} {}",
        quote(user),
        quote(&scram::make_verifier(password, iterations))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(pw: &str) -> String {
        ScramSecret::derive(pw.as_bytes(), b"saltsaltsaltsalt", 1).to_verifier()
    }

    #[test]
    fn parses_all_secret_kinds_with_escapes_and_comments() {
        let md5 = postgres_protocol::password::md5(b"pw", "bob");
        let text = format!(
            "; PgBouncer comment\n# hash comment\n\n  \"alice\" \"{}\"\r\n\"bob\"\t\"{md5}\"  trailing ignored\n\"o\"\"q\" \"dev \"\"pw\"\"\" ; note\n",
            verifier("a")
        );
        let list = UserList::parse(&text).unwrap();
        assert_eq!(list.len(), 3);
        assert!(matches!(list.get("alice"), Some(Credential::Scram(_))));
        assert!(matches!(list.get("bob"), Some(Credential::Md5(_))));
        match list.get("o\"q") {
            Some(Credential::Plaintext { password, scram }) => {
                assert_eq!(password.expose(), "dev \"pw\"");
                assert_eq!(scram.iterations(), DEFAULT_ITERATIONS);
                assert!(scram.matches_password(b"dev \"pw\""));
            }
            other => panic!("{other:?}"),
        }
        assert!(list.get("carol").is_none());
        assert!(list.get("Alice").is_none());
    }

    #[test]
    fn plaintext_salt_is_fixed_per_user() {
        let a = Credential::from_secret("u", "pw").unwrap();
        let b = Credential::from_secret("u", "pw").unwrap();
        let c = Credential::from_secret("v", "pw").unwrap();
        assert_eq!(a.scram_secret(), b.scram_secret());
        assert_ne!(
            a.scram_secret().unwrap().salt(),
            c.scram_secret().unwrap().salt()
        );
    }

    #[test]
    fn errors_carry_line_numbers_and_no_secrets() {
        let good = format!("\"alice\" \"{}\"\n", verifier("a"));
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("{good}alice \"topsecret\""),
                2,
                "expected a line of the form",
            ),
            (format!("{good}\"alice"), 2, "unterminated quoted user name"),
            (format!("{good}\"bob\""), 2, "missing the quoted secret"),
            (format!("{good}\"bob\"   "), 2, "missing the quoted secret"),
            (
                format!("{good}\"bob\"\"topsecret\""),
                2,
                "missing the quoted secret",
            ),
            (
                format!("{good}\"bob\"x \"topsecret\""),
                2,
                "expected white space after",
            ),
            (
                format!("{good}\"bob\" topsecret"),
                2,
                "expected a quoted secret",
            ),
            (
                format!("{good}\"bob\" \"topsecret"),
                2,
                "unterminated quoted secret",
            ),
            (
                format!("{good}\"bob\" \"topsecret\"x"),
                2,
                "expected white space or the end",
            ),
            (format!("{good}\"\" \"topsecret\""), 2, "empty user name"),
            (
                format!("{good}\"bob\" \"\""),
                2,
                "empty secret for user \"bob\"",
            ),
            (format!("{good}\"bob\" \"top\0secret\""), 2, "NUL"),
            (
                format!("\n{good}{good}"),
                3,
                "user \"alice\" is listed twice (first on line 2)",
            ),
            (
                format!("{good}\"bob\" \"SCRAM-SHA-256$4096:topsecret\""),
                2,
                "invalid SCRAM-SHA-256 verifier for user \"bob\"",
            ),
        ];
        for (text, line, needle) in cases {
            let e = UserList::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert!(!e.to_string().contains("topsecret"), "{e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn cleartext_checks_against_each_kind() {
        let md5 = Credential::from_secret("bob", &postgres_protocol::password::md5(b"pw", "bob"))
            .unwrap();
        let plain = Credential::from_secret("dev", "devpw").unwrap();
        let scram = Credential::from_secret("al", &verifier("a")).unwrap();
        assert!(md5.matches_password("bob", b"pw"));
        assert!(!md5.matches_password("bob", b"pw2"));
        assert!(!md5.matches_password("bobby", b"pw"));
        assert!(plain.matches_password("dev", b"devpw"));
        assert!(!plain.matches_password("dev", b"devpw "));
        assert!(!plain.matches_password("dev", b""));
        assert!(scram.matches_password("al", b"a"));
        assert!(!scram.matches_password("al", b"b"));
        assert!(scram.password_check_is_expensive());
        assert!(!plain.password_check_is_expensive() && !md5.password_check_is_expensive());
    }

    #[test]
    fn random_lines_never_panic() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let pieces = [
            "\"",
            "\"\"",
            " ",
            "\t",
            "a",
            ";",
            "#",
            "\u{e9}",
            "md5",
            "SCRAM-SHA-256$",
            "$",
            ":",
            "\r",
        ];
        for _ in 0..5000 {
            let n = rng.random_range(0..12);
            let line: String = (0..n)
                .map(|_| pieces[rng.random_range(0..pieces.len())])
                .collect();
            if let Ok(Some((user, secret))) = parse_line(&line) {
                // Classify without deriving (PBKDF2 is slow in debug builds).
                let _ = ScramSecret::parse(&secret);
                let _ = Md5Hash::parse(&secret);
                let _ = quote(&user);
            }
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let text = "\"dev\" \"topsecret\"\n\"bob\" \"md50123456789abcdef0123456789abcdef\"\n";
        let list = UserList::parse(text).unwrap();
        let shown = format!("{list:?} {:?} {:?}", list.get("dev"), list.get("bob"));
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("Credential::plaintext(***)"), "{shown}");
    }

    #[test]
    fn load_reports_io_and_encoding_errors() {
        let e = UserList::load(Path::new("/nonexistent/userlist.txt")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(
            e.to_string()
                .starts_with("could not read /nonexistent/userlist.txt")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.txt");
        std::fs::write(&path, b"; ok\n\"a\" \"\xff\"\n").unwrap();
        let e = UserList::load(&path).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "the file is not valid UTF-8")
        );
    }

    #[test]
    fn passwd_line_round_trips_through_the_parser() {
        let line = passwd_line("we\"ird", "pw", 16);
        assert!(
            line.starts_with("\"we\"\"ird\" \"SCRAM-SHA-256$16:"),
            "{line}"
        );
        let list = UserList::parse(&line).unwrap();
        match list.get("we\"ird") {
            Some(Credential::Scram(s)) => assert!(s.matches_password(b"pw")),
            other => panic!("{other:?}"),
        }
    }
}
