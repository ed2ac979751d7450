//! Black-box tests of connection negotiation and the startup phase, with a
//! raw-socket client against the real server: the exact bytes PostgreSQL
//! sends (or its silence) for every well-formed and malformed case.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::raw::{V3_0, V3_2, assert_error, login_from, message_of, version};
use common::{ADMIN_USER, RawClient, Read, TestServer, USER_ALICE, USER_BOB};
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup::encode_startup;

const SHORT: Duration = Duration::from_secs(5);

fn auth_ok() -> BackendMessage {
    BackendMessage::Authentication {
        code: 0,
        data: bytes::Bytes::new(),
    }
}

/// Asserts a negotiation refusal was logged as a protocol violation with
/// `reason`, and that the pending count went back to zero.
async fn assert_logged_refusal(server: &TestServer, mark: usize, reason: &str) {
    server
        .log
        .wait_for(mark, SHORT, reason, |r| {
            r.event() == Some("protocol_violation") && r.get("reason") == Some(reason)
        })
        .await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn ssl_request_is_answered_n_when_tls_is_off_and_login_continues() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_ssl_request().await;
    assert_eq!(c.read_bytes(1).await, b"N");
    c.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
    let login = login_from(c.read_until_ready().await);
    assert_eq!(login.messages[0], auth_ok());
    c.terminate().await;
}

#[tokio::test]
async fn gssenc_request_is_answered_n_and_login_continues() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_gssenc_request().await;
    assert_eq!(c.read_bytes(1).await, b"N");
    c.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
    login_from(c.read_until_ready().await);
    c.terminate().await;
}

#[tokio::test]
async fn gssenc_and_ssl_requests_may_come_in_either_order() {
    let server = TestServer::start();
    for gss_first in [true, false] {
        let mut c = RawClient::connect(server.addr).await;
        if gss_first {
            c.send_gssenc_request().await;
            assert_eq!(c.read_bytes(1).await, b"N");
            c.send_ssl_request().await;
            assert_eq!(c.read_bytes(1).await, b"N");
        } else {
            c.send_ssl_request().await;
            assert_eq!(c.read_bytes(1).await, b"N");
            c.send_gssenc_request().await;
            assert_eq!(c.read_bytes(1).await, b"N");
        }
        c.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
        login_from(c.read_until_ready().await);
        c.terminate().await;
    }
}

#[tokio::test]
async fn a_second_ssl_or_gssenc_request_is_an_unsupported_protocol() {
    let server = TestServer::start();
    // PostgreSQL reads a repeated request code as a protocol version:
    // 80877103 is 1234.5679, 80877104 is 1234.5680.
    let mut c = RawClient::connect(server.addr).await;
    c.send_ssl_request().await;
    assert_eq!(c.read_bytes(1).await, b"N");
    c.send_ssl_request().await;
    let e = c.expect_fatal("0A000").await;
    assert_eq!(
        message_of(&e),
        "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.2"
    );

    let mut c = RawClient::connect(server.addr).await;
    c.send_gssenc_request().await;
    assert_eq!(c.read_bytes(1).await, b"N");
    c.send_gssenc_request().await;
    let e = c.expect_fatal("0A000").await;
    assert_eq!(
        message_of(&e),
        "unsupported frontend protocol 1234.5680: server supports 3.0 to 3.2"
    );
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn cancel_requests_get_no_reply_matched_or_not() {
    let server = TestServer::start();
    let (mut session, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let mark = server.log.mark();

    // A key that matches nothing: closed without a byte, logged.
    let mut c = RawClient::connect(server.addr).await;
    c.send_cancel(login.pid, &[0, 0, 0, 0]).await;
    c.expect_closed().await;
    server
        .log
        .wait_for(mark, SHORT, "unmatched cancel", |r| {
            r.event() == Some("cancel_request") && r.get("outcome") == Some("no match")
        })
        .await;

    // The right key: also closed without a byte; the idle session is not
    // disturbed.
    let mut c = RawClient::connect(server.addr).await;
    c.send_cancel(login.pid, &login.secret).await;
    c.expect_closed().await;
    let matched = common::wait_until(SHORT, || {
        server
            .stats()
            .cancels_matched
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    })
    .await;
    assert!(matched, "the cancel request did not match");
    let r = session.query("SELECT 1").await;
    assert_eq!(common::raw::scalar(&r), "1");
    session.terminate().await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn connecting_and_closing_logs_no_error() {
    let server = TestServer::start();
    let mark = server.log.mark();
    for _ in 0..3 {
        let c = RawClient::connect(server.addr).await;
        drop(c);
    }
    server.wait_sessions(0, SHORT).await;
    // A real login afterwards proves the closes were processed.
    let (c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;
    let problems: Vec<_> = server
        .log
        .since(mark)
        .into_iter()
        .filter(|r| r.is_problem() || r.event() == Some("protocol_violation"))
        .collect();
    assert!(problems.is_empty(), "unexpected log lines: {problems:#?}");
}

#[tokio::test]
async fn bad_startup_lengths_close_without_a_reply_and_are_logged() {
    let server = TestServer::start();
    for len in [0i32, 4, 7, 10_001, 100_000, -1] {
        let mark = server.log.mark();
        let mut c = RawClient::connect(server.addr).await;
        let mut packet = len.to_be_bytes().to_vec();
        packet.extend_from_slice(&196608i32.to_be_bytes());
        c.send(&packet).await;
        c.expect_closed().await;
        assert_logged_refusal(&server, mark, "invalid length of startup packet").await;
    }
}

#[tokio::test]
async fn a_partial_startup_packet_closes_without_a_reply_and_is_logged() {
    let server = TestServer::start();
    // Half a length word, then end of stream.
    let mark = server.log.mark();
    let mut c = RawClient::connect(server.addr).await;
    c.send(&[0, 0]).await;
    c.shutdown_write().await;
    c.expect_closed().await;
    assert_logged_refusal(&server, mark, "incomplete startup packet").await;

    // A whole length word announcing more than is sent.
    let mark = server.log.mark();
    let mut c = RawClient::connect(server.addr).await;
    let full = encode_startup(V3_0, &[("user", ADMIN_USER)]);
    c.send(&full[..full.len() - 3]).await;
    c.shutdown_write().await;
    c.expect_closed().await;
    assert_logged_refusal(&server, mark, "incomplete startup packet").await;
}

#[tokio::test]
async fn a_missing_terminator_is_fatal_08p01() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    let mut packet = encode_startup(V3_0, &[("user", ADMIN_USER)]);
    packet.pop();
    let len = (packet.len() as i32).to_be_bytes();
    packet[..4].copy_from_slice(&len);
    c.send(&packet).await;
    let e = c.expect_fatal("08P01").await;
    assert_eq!(
        message_of(&e),
        "invalid startup packet layout: expected terminator as last byte"
    );
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn a_missing_user_is_fatal_28000() {
    let server = TestServer::start();
    for params in [vec![("database", "postgres")], vec![("user", "")], vec![]] {
        let mut c = RawClient::connect(server.addr).await;
        c.send_startup(V3_0, &params).await;
        let e = c.expect_fatal("28000").await;
        assert_eq!(
            message_of(&e),
            "no PostgreSQL user name specified in startup packet"
        );
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn protocol_4_0_is_fatal_0a000() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(version(4, 0), &[("user", ADMIN_USER)]).await;
    let e = c.expect_fatal("0A000").await;
    assert_eq!(
        message_of(&e),
        "unsupported frontend protocol 4.0: server supports 3.0 to 3.2"
    );
}

#[tokio::test]
async fn protocol_2_0_gets_an_old_style_error() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(version(2, 0), &[("user", ADMIN_USER)]).await;
    let bytes = c.read_to_close().await;
    assert_eq!(
        bytes,
        b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.2\n\0".to_vec(),
        "got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn a_newer_minor_with_pq_options_is_negotiated_and_login_continues() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(
        version(3, 9999),
        &[
            ("user", ADMIN_USER),
            ("_pq_.x", "1"),
            ("application_name", "grease"),
        ],
    )
    .await;
    let messages = c.read_until_ready().await;
    assert_eq!(
        messages[0],
        BackendMessage::NegotiateProtocolVersion {
            newest_minor: version(3, 2),
            unrecognized: vec!["_pq_.x".to_owned()],
        }
    );
    assert_eq!(messages[1], auth_ok());
    let login = login_from(messages);
    // The session runs 3.2: a 32-byte key.
    assert_eq!(login.secret.len(), 32);
    assert_eq!(login.param("application_name"), Some("grease"));
    let r = c.query("SELECT 1").await;
    assert_eq!(common::raw::scalar(&r), "1");
    c.terminate().await;

    // 3.2 itself with an option: negotiated too; 3.2 alone: not.
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_2, &[("user", ADMIN_USER), ("_pq_.y", "z")])
        .await;
    let messages = c.read_until_ready().await;
    assert_eq!(
        messages[0],
        BackendMessage::NegotiateProtocolVersion {
            newest_minor: version(3, 2),
            unrecognized: vec!["_pq_.y".to_owned()],
        }
    );
    c.terminate().await;
    let (c, login) = RawClient::login_with(server.addr, V3_2, &[("user", ADMIN_USER)]).await;
    assert_eq!(login.messages[0], auth_ok());
    c.terminate().await;
}

#[tokio::test]
async fn cancel_key_lengths_follow_the_protocol_version() {
    let server = TestServer::start();
    let (c, l32) = RawClient::login_with(server.addr, V3_2, &[("user", ADMIN_USER)]).await;
    assert_eq!(l32.secret.len(), 32);
    c.terminate().await;
    let (c, l30) = RawClient::login_with(server.addr, V3_0, &[("user", ADMIN_USER)]).await;
    assert_eq!(l30.secret.len(), 4);
    c.terminate().await;
    // 3.1 was never released: served as 3.0, without negotiation.
    let (c, l31) = RawClient::login_with(server.addr, version(3, 1), &[("user", ADMIN_USER)]).await;
    assert_eq!(l31.secret.len(), 4);
    assert_eq!(l31.messages[0], auth_ok());
    c.terminate().await;
    assert!(l32.pid > 0 && l30.pid > 0);
    assert_ne!(l32.pid, l30.pid);
    // Two 32-byte secrets from a CSPRNG do not repeat.
    let (c, other) = RawClient::login_with(server.addr, V3_2, &[("user", ADMIN_USER)]).await;
    assert_ne!(other.secret, l32.secret);
    c.terminate().await;
}

fn expected_params(user: &str, superuser: bool, app: &str) -> Vec<(String, String)> {
    let version = pgiris::config::Settings::default().server.server_version;
    [
        ("application_name", app),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", if superuser { "on" } else { "off" }),
        ("scram_iterations", "4096"),
        ("server_encoding", "UTF8"),
        ("server_version", version.as_str()),
        ("session_authorization", user),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn the_login_sends_postgresqls_parameter_set_in_order() {
    let server = TestServer::start();
    let (c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    // AuthenticationOk, 14 ParameterStatus, BackendKeyData, ReadyForQuery.
    assert_eq!(login.messages.len(), 17, "{:#?}", login.messages);
    assert_eq!(login.messages[0], auth_ok());
    assert_eq!(login.params, expected_params(ADMIN_USER, true, ""));
    assert!(matches!(
        login.messages[15],
        BackendMessage::BackendKeyData { .. }
    ));
    assert_eq!(login.messages[16], BackendMessage::ReadyForQuery(b'I'));
    c.terminate().await;

    let (c, login) = RawClient::login_with(
        server.addr,
        V3_0,
        &[
            ("user", USER_ALICE),
            ("database", "postgres"),
            ("application_name", "my app"),
        ],
    )
    .await;
    assert_eq!(login.params, expected_params(USER_ALICE, false, "my app"));
    c.terminate().await;
}

#[tokio::test]
async fn an_unknown_startup_parameter_is_fatal_42704_after_authentication() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", ADMIN_USER), ("nosuchparam", "1")])
        .await;
    assert_eq!(c.read_message().await, auth_ok());
    let e = c.expect_fatal("42704").await;
    assert_eq!(
        message_of(&e),
        "unrecognized configuration parameter \"nosuchparam\""
    );
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn client_encoding_accepts_utf8_aliases_only() {
    let server = TestServer::start();
    for alias in ["utf-8", "unicode", "UTF8"] {
        let (c, login) = RawClient::login_with(
            server.addr,
            V3_0,
            &[("user", ADMIN_USER), ("client_encoding", alias)],
        )
        .await;
        assert_eq!(login.param("client_encoding"), Some("UTF8"), "{alias}");
        c.terminate().await;
    }
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", ADMIN_USER), ("client_encoding", "LATIN1")])
        .await;
    assert_eq!(c.read_message().await, auth_ok());
    let e = c.expect_fatal("22023").await;
    assert_eq!(
        message_of(&e),
        "invalid value for parameter \"client_encoding\": \"LATIN1\""
    );
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn startup_options_are_applied() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login_with(
        server.addr,
        V3_0,
        &[
            ("user", ADMIN_USER),
            (
                "options",
                "-c statement_timeout=5s --application_name=from\\ options",
            ),
            ("DateStyle", "ISO, DMY"),
        ],
    )
    .await;
    assert_eq!(login.param("application_name"), Some("from options"));
    assert_eq!(login.param("DateStyle"), Some("ISO, DMY"));
    let r = c.query("SHOW statement_timeout").await;
    assert_eq!(common::raw::scalar(&r), "5s");
    c.terminate().await;

    // A malformed options string is refused after authentication.
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", ADMIN_USER), ("options", "-x")])
        .await;
    assert_eq!(c.read_message().await, auth_ok());
    c.expect_fatal("42601").await;
}

#[tokio::test]
async fn replication_connections_are_refused() {
    let server = TestServer::start();
    for value in ["true", "database", "on"] {
        let mut c = RawClient::connect(server.addr).await;
        c.send_startup(V3_0, &[("user", ADMIN_USER), ("replication", value)])
            .await;
        let e = c.expect_fatal("28000").await;
        assert!(
            message_of(&e).starts_with("no pg_hba.conf entry for replication connection"),
            "{e:?}"
        );
    }
    // replication=false is an ordinary connection.
    let (c, _) = RawClient::login_with(
        server.addr,
        V3_0,
        &[("user", ADMIN_USER), ("replication", "false")],
    )
    .await;
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn an_unconfigured_database_is_fatal_3d000_after_authentication() {
    let server = TestServer::start();
    for db in ["nosuchdb", "../postgres", "data/postgres.sqlite3"] {
        let mut c = RawClient::connect(server.addr).await;
        c.send_startup(V3_0, &[("user", ADMIN_USER), ("database", db)])
            .await;
        assert_eq!(c.read_message().await, auth_ok());
        let e = c.expect_fatal("3D000").await;
        assert_eq!(message_of(&e), format!("database \"{db}\" does not exist"));
    }
    // The database defaults to the user name: user bob has none.
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", USER_BOB)]).await;
    assert_eq!(c.read_message().await, auth_ok());
    let e = c.expect_fatal("3D000").await;
    assert_eq!(message_of(&e), "database \"bob\" does not exist");
    server.wait_sessions(0, SHORT).await;
    // No file was created for any of those names.
    let mut files: Vec<String> = std::fs::read_dir(server.data_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    files.retain(|f| f.contains("nosuch") || f.contains("bob"));
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test]
async fn an_unknown_message_type_after_login_is_fatal_08p01() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let mark = server.log.mark();
    c.send(&[b'z', 0, 0, 0, 4]).await;
    let e = c.expect_fatal("08P01").await;
    assert_eq!(message_of(&e), "invalid frontend message type 122");
    server
        .log
        .wait_for(mark, SHORT, "protocol violation", |r| {
            r.event() == Some("protocol_violation")
        })
        .await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn a_bad_message_length_after_login_is_fatal_08p01() {
    let server = TestServer::start();
    for header in [[b'Q', 0, 0, 0, 3], [b'Q', 0xff, 0xff, 0xff, 0xff]] {
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        c.send(&header).await;
        let e = c.expect_fatal("08P01").await;
        assert_eq!(message_of(&e), "invalid message length");
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn a_query_pipelined_after_the_startup_packet_is_not_held_to_the_login_limit() {
    // With trust the login completes without reading a message, so a large
    // Query sent right behind the startup packet is an ordinary message
    // (PostgreSQL reads it only after ReadyForQuery).
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    let big = format!("SELECT '{}' AS x", "y".repeat(20_000));
    let mut bytes = encode_startup(V3_0, &[("user", ADMIN_USER)]);
    let mut q = BytesMut::new();
    FrontendMessage::Query(big).encode(&mut q);
    bytes.extend_from_slice(&q);
    c.send(&bytes).await;
    login_from(c.read_until_ready().await);
    let r = c.read_until_ready().await;
    assert_eq!(
        common::raw::scalar(&r).len(),
        20_000,
        "{:?}",
        error_in_or_none(&r)
    );
    c.terminate().await;
}

fn error_in_or_none(msgs: &[BackendMessage]) -> Option<&BackendMessage> {
    msgs.iter()
        .find(|m| matches!(m, BackendMessage::ErrorResponse(_)))
}

#[tokio::test]
async fn terminate_before_anything_else_ends_the_session_quietly() {
    let server = TestServer::start();
    let (c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(server.sessions(), 1);
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;
    let disconnected = server.log.events("disconnected");
    assert_eq!(disconnected.len(), 1, "{}", server.log.dump());
    assert_eq!(disconnected[0].get("reason"), Some("client terminated"));
}

#[tokio::test]
async fn errors_before_login_carry_s_v_c_m() {
    let server = TestServer::start();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(version(4, 0), &[("user", ADMIN_USER)]).await;
    match c.read().await {
        Read::Message(m) => {
            assert_error(&m, "FATAL", "0A000");
            let BackendMessage::ErrorResponse(fields) = &m else {
                unreachable!()
            };
            let codes: Vec<u8> = fields.iter().map(|(c, _)| *c).collect();
            assert_eq!(&codes[..4], b"SVCM");
        }
        Read::Closed => panic!("closed without an error"),
    }
}
