//! The users file (`UserList::parse`): arbitrary text, and files built from
//! fuzzer-chosen user names and secrets quoted the way the format says.
//!
//! Input: byte 0 bit 0 chooses the mode. Raw mode parses the rest as text.
//! Built mode reads entries as u16-length-prefixed pairs (user, secret),
//! quotes them (doubling `"`), marks every secret with `S3CRET` and writes
//! one line each.
//!
//! Beyond "no panic": errors name a line that exists and never quote a
//! secret; `Debug` of the list never shows one; in built mode a file whose
//! users are distinct, non-empty and one-line parses, and each user maps to
//! the credential kind its secret calls for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pgiris::auth::{Credential, UserList};
use pgiris_fuzz::split_messages;

const MARK: &str = "S3CRET";

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn expected_kind(secret: &str) -> &'static str {
    if secret.starts_with("SCRAM-SHA-256$") {
        "SCRAM-SHA-256"
    } else if secret.len() == 35
        && secret.starts_with("md5")
        && secret[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        "md5"
    } else {
        "plaintext"
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let text = String::from_utf8_lossy(rest);
        let lines = text.split('\n').count();
        match UserList::parse(&text) {
            Ok(list) => {
                let _ = format!("{list:?}");
            }
            Err(e) => assert!(e.line >= 1 && e.line <= lines, "{e}"),
        }
        return;
    }
    let parts = split_messages(rest);
    let mut entries: Vec<(String, String)> = Vec::new();
    for pair in parts.chunks_exact(2) {
        let user = String::from_utf8_lossy(pair[0]).into_owned();
        let secret = format!("{}{MARK}", String::from_utf8_lossy(pair[1]));
        entries.push((user, secret));
    }
    // Leak checks need the mark to come from a secret, not a user name.
    if entries.iter().any(|(u, _)| u.contains(MARK)) {
        return;
    }
    let text: String = entries
        .iter()
        .map(|(u, s)| format!("{} {}\n", quote(u), quote(s)))
        .collect();
    let one_line = |s: &str| !s.contains('\n') && !s.contains('\r') && !s.contains('\0');
    let mut seen = std::collections::HashSet::new();
    let clean = entries
        .iter()
        .all(|(u, s)| !u.is_empty() && one_line(u) && one_line(s) && seen.insert(u.clone()));
    match UserList::parse(&text) {
        Ok(list) => {
            assert!(!format!("{list:?}").contains(MARK));
            if clean {
                assert_eq!(list.len(), entries.len());
                for (u, s) in &entries {
                    let c: &Credential = list.get(u).expect("listed user");
                    assert_eq!(c.kind(), expected_kind(s), "{u:?}");
                    assert!(!format!("{c:?}").contains(MARK));
                }
            }
        }
        Err(e) => {
            assert!(!e.to_string().contains(MARK), "a secret in the error: {e}");
            // A malformed verifier is the one refusal a clean file may get.
            assert!(
                !clean || e.message.contains("verifier"),
                "a clean file was refused: {e}"
            );
        }
    }
});
