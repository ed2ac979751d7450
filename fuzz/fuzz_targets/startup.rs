//! The packets a client sends before any typed message: the length-word
//! check and `startup::parse` (StartupMessage, SSLRequest, GSSENCRequest,
//! CancelRequest). The input is a whole packet, length word included.
//!
//! Beyond "no panic": accepted StartupMessages re-encode to a packet that
//! parses to the same message, with PostgreSQL's invariants (a non-empty
//! user of at most 63 bytes, no empty parameter name, version 3.0 or 3.2);
//! special requests re-encode to the same bytes; errors carry the codes
//! PostgreSQL uses; nothing allocates far beyond the packet's size. An
//! accepted packet is then applied as a session applies it (`options`
//! split, every parameter set), which may refuse but not panic.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pgiris::session::driver::parse_options;
use pgiris::session::params::{ParamDefaults, Params};
use pgiris::wire::startup::{
    self, MAX_IDENTIFIER_LENGTH, MAX_STARTUP_PACKET_LENGTH, MIN_STARTUP_PACKET_LENGTH,
    StartupError, StartupMessage, StartupPacket,
};
use pgiris_fuzz::{assert_allocations_bounded, reset_allocations};

/// What a session does with the packet after authentication: split
/// `options` and set each parameter (errors become FATAL; none may panic).
fn apply_as_a_session_would(m: &StartupMessage) {
    let mut params = Params::new(&ParamDefaults {
        server_version: "16.4",
        user: &m.user,
        is_superuser: false,
        timezone: "UTC",
        statement_timeout: Duration::ZERO,
        idle_in_transaction_session_timeout: Duration::ZERO,
        idle_session_timeout: Duration::ZERO,
    });
    let mut settings = Vec::new();
    for (name, value) in &m.params {
        match name.as_str() {
            "replication" => {}
            "options" => match parse_options(value) {
                Ok(pairs) => settings.extend(pairs),
                Err(e) => assert_eq!(e.code.len(), 5),
            },
            _ => settings.push((name.clone(), value.clone())),
        }
    }
    for (name, value) in settings {
        if let Err(e) = params.set_startup(&name, &value) {
            assert_eq!(e.code.len(), 5, "{e:?}");
        }
    }
    let _ = params.take_changed();
    let _ = params.show_all();
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    reset_allocations();
    let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let in_range = usize::try_from(len)
        .is_ok_and(|l| (MIN_STARTUP_PACKET_LENGTH..=MAX_STARTUP_PACKET_LENGTH).contains(&l));
    match startup::check_length(len) {
        Ok(n) => assert!(in_range && n as i32 == len),
        Err(StartupError::Close(_)) => assert!(!in_range),
        Err(other) => panic!("check_length({len}) gave {other:?}"),
    }
    let body = &data[4..];
    let parsed = startup::parse(body);
    assert_allocations_bounded("startup::parse", body.len(), 64, 4096);
    match parsed {
        Ok(StartupPacket::Startup(m)) => {
            assert!(!m.user.is_empty() && m.user.len() <= MAX_IDENTIFIER_LENGTH);
            assert!(!m.database.is_empty() && m.database.len() <= MAX_IDENTIFIER_LENGTH);
            assert_eq!(m.version.major, 3);
            assert!(m.version.minor == 0 || m.version.minor == 2);
            assert_eq!(m.requested.code().to_be_bytes(), body[..4]);
            assert!(
                m.params.iter().all(|(name, _)| !name.is_empty()),
                "an empty parameter name is the packet terminator: {:?}",
                m.params
            );
            let mut pairs: Vec<(&str, &str)> =
                vec![("user", m.user.as_str()), ("database", m.database.as_str())];
            pairs.extend(m.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            pairs.extend(m.unrecognized_options.iter().map(|n| (n.as_str(), "")));
            apply_as_a_session_would(&m);
            let again = startup::encode_startup(m.requested.code(), &pairs);
            match startup::parse(&again[4..]) {
                Ok(StartupPacket::Startup(m2)) => assert_eq!(m2, m),
                other => panic!("re-encoded {m:?} parsed as {other:?}"),
            }
        }
        Ok(StartupPacket::CancelRequest { pid, secret }) => {
            assert!((4..=256).contains(&secret.len()));
            assert_eq!(&startup::encode_cancel(pid, &secret)[4..], body);
        }
        Ok(StartupPacket::SslRequest) => {
            assert_eq!(
                &startup::encode_request(startup::SSL_REQUEST_CODE)[4..],
                body
            );
        }
        Ok(StartupPacket::GssEncRequest) => {
            assert_eq!(
                &startup::encode_request(startup::GSSENC_REQUEST_CODE)[4..],
                body
            );
        }
        Err(StartupError::Fatal(e)) => {
            assert!(e.is_fatal());
            assert!(
                ["08P01", "0A000", "28000", "22021"].contains(&e.code),
                "unexpected SQLSTATE {} ({})",
                e.code,
                e.message
            );
        }
        Err(StartupError::OldStyle(text)) => assert!(text.starts_with("FATAL:")),
        Err(StartupError::Close(_)) => {}
    }
});
