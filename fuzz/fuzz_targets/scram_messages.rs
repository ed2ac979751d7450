//! The SCRAM message parsers: `parse_sasl_initial_response`,
//! `parse_client_first` and `parse_client_final`, each over the whole input.
//!
//! Beyond "no panic": what they return are slices of the input in the
//! places the grammar puts them (client-first-bare is a suffix, the nonce is
//! printable and inside it; client-final is exactly
//! `without-proof ",p=" base64(proof)`); the SASLInitialResponse data, when
//! present, is exactly the rest of the body; every refusal is FATAL.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use pgiris::auth::scram::messages::{
    parse_client_final, parse_client_first, parse_sasl_initial_response,
};
use pgiris::wire::PgError;
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};

fn check_refusal(e: &PgError) {
    assert!(e.is_fatal(), "{e:?}");
    assert!(
        ["08P01", "0A000"].contains(&e.code),
        "unexpected SQLSTATE {} ({})",
        e.code,
        e.message
    );
}

fn contains(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fuzz_target!(|data: &[u8]| {
    reset_allocations();
    match parse_sasl_initial_response(data) {
        Ok(m) => {
            let nul = m.mechanism.len();
            assert_eq!(&data[..nul], m.mechanism);
            assert_eq!(data[nul], 0);
            let len =
                i32::from_be_bytes([data[nul + 1], data[nul + 2], data[nul + 3], data[nul + 4]]);
            match m.data {
                None => assert_eq!((len, data.len()), (-1, nul + 5)),
                Some(d) => {
                    assert_eq!(len as usize, d.len());
                    assert_eq!(&data[nul + 5..], d);
                }
            }
        }
        Err(e) => check_refusal(&e),
    }

    match parse_client_first(data) {
        Ok(m) => {
            assert!(data.ends_with(m.bare));
            assert!(contains(m.bare, m.nonce));
            assert!(!m.nonce.is_empty());
            assert!(
                m.nonce
                    .iter()
                    .all(|&c| (0x21..=0x7e).contains(&c) && c != b',')
            );
            assert!(!data.contains(&0));
        }
        Err(e) => check_refusal(&e),
    }

    match parse_client_final(data) {
        Ok(m) => {
            assert!(data.starts_with(m.without_proof));
            let tail = &data[m.without_proof.len()..];
            assert!(tail.starts_with(b",p="), "{tail:?}");
            assert_eq!(
                STANDARD.decode(&tail[3..]).ok().as_deref(),
                Some(&m.proof[..])
            );
            assert!(contains(m.without_proof, m.channel_binding));
            assert!(contains(m.without_proof, m.nonce));
        }
        Err(e) => check_refusal(&e),
    }
    assert_allocations_bounded("SCRAM parsers", data.len(), 4, 1024);
});
