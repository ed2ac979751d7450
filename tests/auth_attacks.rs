//! Hostile clients at the byte level: messages other than the password
//! response before authentication ends, replayed and forged SCRAM
//! messages, truncated and oversize SASL messages, channel-binding
//! downgrades and misuse. Each refusal is checked for its exact SQLSTATE
//! and message, and for leaving nothing behind (no statement ran, no
//! secret echoed).

mod common;

use common::tlsauth::*;

fn server() -> TestServer {
    TestServer::start(ServerSpec::default().scram_user("alice"))
}

/// Fails if a table named `pwned` exists (the side effect of an injected
/// statement).
fn assert_no_pwned_table(s: &TestServer) {
    let mut raw = Raw::plain(s.addr);
    scram_login(&mut raw, "alice", PASSWORD);
    raw.send(&query("SELECT * FROM pwned"));
    let e = raw.expect_error();
    assert_eq!(e.code(), "42P01", "{:?}", e.0);
    assert_eq!(raw.expect().0, b'Z');
}

#[test]
fn queries_before_authentication_ends_are_refused_and_never_run() {
    let s = server();
    let create = "CREATE TABLE pwned (x int)";
    // 1. Pipelined right behind the StartupMessage.
    let mut raw = Raw::plain(s.addr);
    let mut bytes = startup_message("alice", "postgres");
    bytes.extend_from_slice(&query(create));
    raw.send(&bytes);
    assert_eq!(auth_request(&raw.expect()).0, 10);
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "expected SASL response, got message type 81");

    // 2. Parse instead of the SASLInitialResponse, over TLS.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    start_sasl(&mut raw, "alice");
    raw.send(&parse(create));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "expected SASL response, got message type 80");

    // 3. A Query in the middle of the SCRAM exchange.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    assert_eq!(auth_request(&raw.expect()).0, 11);
    raw.send(&query(create));
    raw.expect_fatal("08P01");

    // 4. A Query during an unknown user's mock exchange.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "nosuchuser");
    raw.send(&query(create));
    raw.expect_fatal("08P01");

    s.logs
        .wait_for("protocol_violation", |l| l["message_type"] == 81);
    assert_no_pwned_table(&s);
}

#[test]
fn a_replayed_client_final_message_fails() {
    let s = server();
    // A successful exchange, recorded.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    let first = script.client_first();
    raw.send(&sasl_initial("SCRAM-SHA-256", first.as_bytes()));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let (last, proof) = script.client_final(PASSWORD, &sf);
    s.add_secret(proof);
    raw.send(&sasl_response(last.as_bytes()));
    assert_eq!(auth_request(&raw.expect()).0, 12);
    assert_eq!(auth_request(&raw.expect()).0, 0);
    raw.until_ready();

    // Both messages replayed verbatim on a new connection: the server's
    // nonce is new, so the old client-final no longer fits.
    let mut replay = Raw::plain(s.addr);
    start_sasl(&mut replay, "alice");
    replay.send(&sasl_initial("SCRAM-SHA-256", first.as_bytes()));
    let sf2 = parse_server_first(&auth_request(&replay.expect()).1);
    assert_ne!(sf2.nonce, sf.nonce, "a fresh server nonce per exchange");
    replay.send(&sasl_response(last.as_bytes()));
    let e = replay.expect_fatal("08P01");
    assert_eq!(e.message(), "invalid SCRAM response");
    assert_eq!(e.detail(), Some("Nonce does not match."));
    s.logs.wait_for("authentication_failed", |l| {
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Nonce does not match"))
    });
}

#[test]
fn a_proof_computed_for_a_different_nonce_fails() {
    let s = server();
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    // The right password, but the AuthMessage of another server nonce.
    let forged_nonce = format!("{}AAAAAAAAAAAAAAAAAAAAAAAA", script.client_nonce);
    let forged_first = ServerFirst {
        text: sf.text.replace(&sf.nonce, &forged_nonce),
        nonce: forged_nonce.clone(),
        salt: sf.salt.clone(),
        iterations: sf.iterations,
    };
    let auth_message = format!(
        "{},{},{}",
        script.client_first_bare,
        forged_first.text,
        script.without_proof(&forged_nonce)
    );
    let proof = client_proof(PASSWORD, &forged_first, &auth_message);
    s.add_secret(proof.clone());
    // Sent with the real nonce, so only the proof is wrong.
    let last = format!("{},p={proof}", script.without_proof(&sf.nonce));
    raw.send(&sasl_response(last.as_bytes()));
    let e = raw.expect_fatal("28P01");
    assert_eq!(
        e.message(),
        "password authentication failed for user \"alice\""
    );
}

#[test]
fn truncated_sasl_messages_are_protocol_violations() {
    let s = server();
    // SASLInitialResponse announcing 100 bytes of data and carrying 10.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&100i32.to_be_bytes());
    body.extend_from_slice(b"n,,n=,r=ab");
    raw.send(&message(b'p', &body));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "insufficient data left in message");

    // The mechanism name without its terminator.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    raw.send(&message(b'p', b"SCRAM-SHA-256"));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "invalid string in message");

    // A client-first cut off after the GS2 header.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    raw.send(&sasl_initial("SCRAM-SHA-256", b"n,,"));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "malformed SCRAM message");

    // An empty client-final.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    auth_request(&raw.expect());
    raw.send(&sasl_response(b""));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "malformed SCRAM message");
    assert_eq!(e.detail(), Some("The message is empty."));

    // A client-final without its proof.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    raw.send(&sasl_response(script.without_proof(&sf.nonce).as_bytes()));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "malformed SCRAM message");
}

#[test]
fn oversize_sasl_messages_are_protocol_violations() {
    let s = server();
    // Over the 10,000-byte limit for any message before authentication:
    // refused from the length word, before the body is read.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let mut header = vec![b'p'];
    header.extend_from_slice(&20_004i32.to_be_bytes());
    raw.send(&header);
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "invalid message length");

    // Under that, but over PostgreSQL's 1,024-byte SASL limit.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let mut first = b"n,,n=,r=".to_vec();
    first.extend(std::iter::repeat_n(b'a', 2000));
    raw.send(&sasl_initial("SCRAM-SHA-256", &first));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "invalid message length");

    // The same for the client-final.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("n,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let mut last = script.without_proof(&sf.nonce).into_bytes();
    last.extend_from_slice(b",p=");
    last.extend(std::iter::repeat_n(b'A', 4000));
    raw.send(&sasl_response(&last));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "invalid message length");
}

#[test]
fn channel_binding_downgrades_and_misuse_are_refused() {
    let s = server();
    // GS2 'y' ("I support binding, I think you don't") while the server
    // offered PLUS over TLS: a downgrade.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    assert_eq!(
        start_sasl(&mut raw, "alice"),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    );
    let script = ScramScript::new("y,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let e = raw.expect_fatal("28000");
    assert_eq!(e.message(), "SCRAM channel binding negotiation error");

    // Over plaintext PLUS is not offered, so 'y' is honest: it logs in.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("y,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let (last, proof) = script.client_final(PASSWORD, &sf);
    s.add_secret(proof);
    raw.send(&sasl_response(last.as_bytes()));
    assert_eq!(auth_request(&raw.expect()).0, 12);
    assert_eq!(auth_request(&raw.expect()).0, 0);

    // 'p' without TLS: SCRAM-SHA-256-PLUS was not offered ...
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    let script = ScramScript::new("p=tls-server-end-point,,", b"");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256-PLUS",
        script.client_first().as_bytes(),
    ));
    let e = raw.expect_fatal("08P01");
    assert_eq!(
        e.message(),
        "client selected an invalid SASL authentication mechanism"
    );
    // ... and binding data under plain SCRAM-SHA-256 is malformed.
    let mut raw = Raw::plain(s.addr);
    start_sasl(&mut raw, "alice");
    raw.send(&sasl_initial(
        "SCRAM-SHA-256",
        script.client_first().as_bytes(),
    ));
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "malformed SCRAM message");
    assert_eq!(
        e.detail(),
        Some(
            "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data."
        )
    );

    // PLUS over TLS with another certificate's binding data.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    start_sasl(&mut raw, "alice");
    let other = s.pki.issue_server_cert("other", &["localhost"]).unwrap();
    let wrong = pgiris::net::tls::tls_server_end_point(other.cert_der.as_ref()).unwrap();
    let script = ScramScript::new("p=tls-server-end-point,,", &wrong);
    raw.send(&sasl_initial(
        "SCRAM-SHA-256-PLUS",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let (last, proof) = script.client_final(PASSWORD, &sf);
    s.add_secret(proof);
    raw.send(&sasl_response(last.as_bytes()));
    let e = raw.expect_fatal("28000");
    assert_eq!(e.message(), "SCRAM channel binding check failed");

    // And with the right binding data it works.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    let cert = raw.peer_cert.clone().unwrap();
    start_sasl(&mut raw, "alice");
    let right = pgiris::net::tls::tls_server_end_point(&cert).unwrap();
    let script = ScramScript::new("p=tls-server-end-point,,", &right);
    raw.send(&sasl_initial(
        "SCRAM-SHA-256-PLUS",
        script.client_first().as_bytes(),
    ));
    let sf = parse_server_first(&auth_request(&raw.expect()).1);
    let (last, proof) = script.client_final(PASSWORD, &sf);
    s.add_secret(proof);
    raw.send(&sasl_response(last.as_bytes()));
    assert_eq!(auth_request(&raw.expect()).0, 12);
    assert_eq!(auth_request(&raw.expect()).0, 0);
    raw.until_ready();
}
