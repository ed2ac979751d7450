//! TLS at the byte level and with real TLS clients: data pipelined after
//! SSLRequest, direct TLS without (or with the wrong) ALPN, old protocol
//! versions, `tls.min_version`, a stalled handshake, CancelRequest inside
//! TLS, hostssl/hostnossl refusals, psql `\conninfo` and verify-full,
//! `openssl s_client -starttls postgres`, and the security log.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::tlsauth::*;

fn default_server() -> TestServer {
    TestServer::start(
        ServerSpec::default()
            .hba(
                "hostssl   all ssluser   127.0.0.1/32 scram-sha-256\n\
                 hostnossl all nossluser 127.0.0.1/32 scram-sha-256\n\
                 host      all alice     127.0.0.1/32 scram-sha-256\n",
            )
            .scram_user("alice")
            .scram_user("ssluser")
            .scram_user("nossluser"),
    )
}

#[test]
fn bytes_pipelined_after_ssl_request_are_refused() {
    let s = default_server();
    let mut raw = Raw::plain(s.addr);
    // SSLRequest and a StartupMessage in one write, as an injecting man in
    // the middle would send them.
    let mut bytes = SSL_REQUEST.to_vec();
    bytes.extend_from_slice(&startup_message("alice", "postgres"));
    raw.send(&bytes);
    assert_eq!(raw.read_bytes(1), b"S");
    let e = raw.expect_fatal("08P01");
    assert_eq!(e.message(), "received unencrypted data after SSL request");
    assert_eq!(e.detail(), Some(MITM_DETAIL));
    s.logs.wait_for("protocol_violation", |l| {
        l["error"] == "received unencrypted data after SSL request"
    });
    // No session was started for the injected startup packet.
    assert_eq!(s.logs.count("authenticated"), 0);
    assert_eq!(s.logs.count("authentication_failed"), 0);
}

const MITM_DETAIL: &str = "This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.";

/// As PostgreSQL: whatever the answer ('S' or 'N'), nothing may be
/// buffered behind an SSLRequest or GSSENCRequest.
#[test]
fn bytes_pipelined_after_a_refused_encryption_request_are_refused() {
    let plain_server = TestServer::start(ServerSpec::default().tls(false).scram_user("alice"));
    let tls_server = default_server();
    let gssenc: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
    let cases: [(&TestServer, &[u8], &str); 3] = [
        (
            &plain_server,
            &SSL_REQUEST,
            "received unencrypted data after SSL request",
        ),
        (
            &plain_server,
            &gssenc,
            "received unencrypted data after GSSAPI encryption request",
        ),
        (
            &tls_server,
            &gssenc,
            "received unencrypted data after GSSAPI encryption request",
        ),
    ];
    for (s, request, message) in cases {
        let mut raw = Raw::plain(s.addr);
        let mut bytes = request.to_vec();
        bytes.extend_from_slice(&startup_message("alice", "postgres"));
        raw.send(&bytes);
        assert_eq!(raw.read_bytes(1), b"N");
        let e = raw.expect_fatal("08P01");
        assert_eq!(e.message(), message);
        assert_eq!(e.detail(), Some(MITM_DETAIL));
        // Sent one after the other, the same requests are fine.
        let mut raw = Raw::plain(s.addr);
        raw.send(request);
        assert_eq!(raw.read_bytes(1), b"N");
        scram_login(&mut raw, "alice", PASSWORD);
    }
}

#[test]
fn requests_inside_tls_are_answered_as_postgres_does() {
    let s = default_server();
    // Inside direct TLS an SSLRequest is answered 'N' (PostgreSQL 17: "no
    // SSL negotiation if we already have a direct SSL connection").
    let mut raw = Raw::direct(s.addr, s.client_tls()).unwrap();
    raw.send(&SSL_REQUEST);
    assert_eq!(raw.read_bytes(1), b"N");
    scram_login(&mut raw, "alice", PASSWORD);
    // After a negotiated handshake neither request may come again.
    let gssenc: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
    for (request, version) in [(&SSL_REQUEST, "1234.5679"), (&gssenc, "1234.5680")] {
        let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
        raw.send(request);
        let e = raw.expect_fatal("0A000");
        assert_eq!(
            e.message(),
            format!("unsupported frontend protocol {version}: server supports 3.0 to 3.2")
        );
    }
}

#[test]
fn direct_tls_without_alpn_is_refused_after_the_handshake() {
    let s = default_server();
    let mut config = s.client_tls();
    config.alpn_protocols.clear();
    let mut raw = Raw::direct(s.addr, config).expect("the handshake itself succeeds");
    let e = raw.expect_fatal("08P01");
    assert_eq!(
        e.message(),
        "received direct SSL connection request without ALPN protocol negotiation extension"
    );
    s.logs.wait_for("protocol_violation", |l| {
        l["error"]
            .as_str()
            .is_some_and(|m| m.contains("without ALPN protocol negotiation extension"))
    });
    // The same client with ALPN `postgresql` gets a session.
    let mut raw = Raw::direct(s.addr, s.client_tls()).expect("direct TLS with ALPN");
    scram_login(&mut raw, "alice", PASSWORD);
}

#[test]
fn a_foreign_alpn_protocol_fails_the_handshake() {
    let s = default_server();
    let mut config = s.client_tls();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let direct = Raw::direct(s.addr, config.clone());
    match direct {
        Err(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) => {}
        Err(e) => panic!("expected the no_application_protocol alert, got {e}"),
        Ok(_) => panic!("a handshake offering only http/1.1 must fail"),
    }
    // On the SSLRequest path ALPN is optional, but if offered it must be
    // `postgresql` too.
    match Raw::ssl_request(s.addr, config) {
        Err(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) => {}
        Err(e) => panic!("expected the no_application_protocol alert, got {e}"),
        Ok(_) => panic!("a handshake offering only http/1.1 must fail"),
    }
    let failed = s.logs.wait_for("tls_failed", |_| true);
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    // Without ALPN on the SSLRequest path: fine.
    let mut config = s.client_tls();
    config.alpn_protocols.clear();
    let mut raw = Raw::ssl_request(s.addr, config).expect("SSLRequest without ALPN");
    scram_login(&mut raw, "alice", PASSWORD);
}

/// A TLS 1.1 ClientHello (no supported_versions extension), as an old
/// client sends it; `record_version` is the record layer's version.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version TLS 1.1
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // suites
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// A single fatal alert record and nothing else: protocol_version (70)
/// or handshake_failure (40), whichever rustls finds first.
fn assert_fatal_alert(answer: &[u8]) {
    assert!(
        answer.len() == 7
            && answer[0] == 0x15
            && answer[3..5] == [0, 2]
            && answer[5] == 2
            && (answer[6] == 70 || answer[6] == 40),
        "expected one fatal alert, got {answer:02x?}"
    );
}

/// Reads what the server answers to a ClientHello until it closes.
fn read_to_close(tcp: &mut std::net::TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    answer
}

#[test]
fn tls_1_1_is_refused_with_a_fatal_alert() {
    let s = default_server();
    // After SSLRequest.
    let mut tcp = tcp_connect(s.addr, None);
    tcp.write_all(&SSL_REQUEST).unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).unwrap();
    assert_eq!(answer[0], b'S');
    tcp.write_all(&tls11_client_hello()).unwrap();
    assert_fatal_alert(&read_to_close(&mut tcp));
    // Direct.
    let mut tcp = tcp_connect(s.addr, None);
    tcp.write_all(&tls11_client_hello()).unwrap();
    assert_fatal_alert(&read_to_close(&mut tcp));
    s.logs.wait_for("tls_failed", |l| {
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("could not accept SSL connection"))
    });
    // And a real TLS 1.1 client, where the local OpenSSL can still speak it.
    let mut cmd = std::process::Command::new("openssl");
    cmd.env("OPENSSL_CONF", "/dev/null")
        .args(["s_client", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        .args(["-starttls", "postgres", "-connect"])
        .arg(s.addr.to_string())
        .stdin(std::process::Stdio::null());
    let out = run_with_deadline(cmd, WAIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "openssl -tls1_1 must fail: {stdout}");
    assert!(
        stdout.contains("Cipher is (NONE)"),
        "no TLS 1.1 session may be established: {stdout}"
    );
    assert!(
        stderr.contains("alert handshake failure") || stderr.contains("alert protocol version"),
        "refused with an alert: {stderr}"
    );
}

#[test]
fn min_version_1_3_refuses_tls_1_2() {
    // The default (1.2) server takes a TLS 1.2 client ...
    let s = default_server();
    let mut raw = Raw::ssl_request(s.addr, tls12_only_client(&s.pki)).expect("TLS 1.2 on 1.2");
    assert_eq!(raw.tls_version, Some(rustls::ProtocolVersion::TLSv1_2));
    scram_login(&mut raw, "alice", PASSWORD);
    s.logs.wait_for("tls_negotiated", |l| {
        l["version"] == "TLSv1.2" && l["cipher"] == "ECDHE-ECDSA-AES256-GCM-SHA384"
    });
    drop(s);
    // ... the 1.3 server refuses it, and takes TLS 1.3.
    let s = TestServer::start(ServerSpec {
        min_version: "1.3",
        ..ServerSpec::default().scram_user("alice")
    });
    for attempt in [
        Raw::ssl_request(s.addr, tls12_only_client(&s.pki)),
        Raw::direct(s.addr, tls12_only_client(&s.pki)),
    ] {
        match attempt {
            Err(rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)) => {}
            Err(e) => panic!("expected the protocol_version alert, got {e}"),
            Ok(_) => panic!("TLS 1.2 must be refused with min_version = 1.3"),
        }
    }
    s.logs.wait_for("tls_failed", |_| true);
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS 1.3");
    assert_eq!(raw.tls_version, Some(rustls::ProtocolVersion::TLSv1_3));
    scram_login(&mut raw, "alice", PASSWORD);
}

/// Waits for the server to close `tcp`; returns how long that took.
fn time_to_close(tcp: &mut std::net::TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 64];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue, // a TLS alert or close_notify
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return started.elapsed();
            }
            Err(e) => panic!("the server did not close the stalled connection: {e}"),
        }
    }
}

#[test]
fn a_stalled_login_is_dropped_at_the_login_deadline() {
    let s = TestServer::start(ServerSpec {
        login_timeout: "1s",
        ..ServerSpec::default().scram_user("alice")
    });
    // 1. SSLRequest answered 'S', then no ClientHello.
    let started = Instant::now();
    let mut tcp = tcp_connect(s.addr, None);
    tcp.write_all(&SSL_REQUEST).unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).unwrap();
    assert_eq!(answer[0], b'S');
    let waited = time_to_close(&mut tcp, started);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "dropped after {waited:?}"
    );
    s.logs.wait_for("login_timeout", |_| true);

    // 2. A finished handshake, then no StartupMessage.
    let started = Instant::now();
    let mut tcp = tcp_connect(s.addr, None);
    tcp.write_all(&SSL_REQUEST).unwrap();
    tcp.read_exact(&mut answer).unwrap();
    let tls = tls_handshake(tcp, s.client_tls()).expect("handshake");
    let (_conn, mut tcp) = (tls.conn, tls.sock);
    let waited = time_to_close(&mut tcp, started);
    assert!(waited < Duration::from_secs(5), "dropped after {waited:?}");

    // 3. A StartupMessage, then no answer to AuthenticationSASL: the same
    // deadline, counted from accept. (The server closes before it logs, so
    // wait for case 2's line first.)
    let end = Instant::now() + WAIT;
    while s.logs.count("login_timeout") < 2 {
        assert!(
            Instant::now() < end,
            "login_timeout logged: {}",
            s.logs.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = s.logs.count("login_timeout");
    let started = Instant::now();
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).expect("handshake");
    start_sasl(&mut raw, "alice");
    raw.expect_closed();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "dropped after {waited:?}"
    );
    let end = Instant::now() + WAIT;
    while s.logs.count("login_timeout") < before + 1 {
        assert!(
            Instant::now() < end,
            "login_timeout logged for each: {}",
            s.logs.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const FOREVER: &str =
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c";

#[test]
fn cancel_request_inside_tls_cancels_a_running_query() {
    let s = default_server();
    let mut session = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS session");
    let login = scram_login(&mut session, "alice", PASSWORD).2;
    let (pid, secret) = backend_key(&login);

    session.send(&query(FOREVER));
    // The cancel may overtake the query; repeat it until the query ends.
    let deadline = Instant::now() + WAIT;
    let mut sent = 0;
    let error = loop {
        assert!(Instant::now() < deadline, "the query was never canceled");
        let mut cancel = Raw::ssl_request(s.addr, s.client_tls()).expect("TLS for the cancel");
        cancel.send(&cancel_request(pid, &secret));
        sent += 1;
        // The server never answers a CancelRequest; it closes.
        cancel.expect_closed();
        // Give the session a moment to report; poll with a short timeout.
        match poll_message(&mut session, Duration::from_millis(300)) {
            Some(m) => break m,
            None => continue,
        }
    };
    assert_eq!(error.0, b'E', "{:?}", String::from_utf8_lossy(&error.1));
    let e = ErrorFields::parse(&error.1);
    assert_eq!(e.code(), "57014");
    assert_eq!(e.message(), "canceling statement due to user request");
    assert_eq!(session.expect().0, b'Z');
    // Every cancel sent is handled before the next statement: one still in
    // flight (an earlier one, delayed on a busy machine) would hit it.
    let end = Instant::now() + WAIT;
    while s
        .logs
        .events("cancel_request")
        .iter()
        .filter(|l| l["outcome"] == "matched")
        .count()
        < sent
    {
        assert!(Instant::now() < end, "cancels handled: {}", s.logs.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    // The session goes on.
    session.send(&query("SELECT 1"));
    let replies = session.until_ready();
    assert!(replies.iter().any(|m| m.0 == b'D'));
}

/// The next message if one arrives within `limit`.
fn poll_message(raw: &mut Raw, limit: Duration) -> Option<(u8, Vec<u8>)> {
    raw.set_read_timeout(limit);
    let m = raw.try_recv();
    raw.set_read_timeout(WAIT);
    m
}

#[test]
fn hostssl_and_hostnossl_refuse_with_postgres_messages() {
    let s = default_server();
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("ssluser", "postgres"));
    let e = raw.expect_fatal("28000");
    assert_eq!(
        e.message(),
        "no pg_hba.conf entry for host \"127.0.0.1\", user \"ssluser\", database \"postgres\", no encryption"
    );
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    raw.send(&startup_message("nossluser", "postgres"));
    let e = raw.expect_fatal("28000");
    assert_eq!(
        e.message(),
        "no pg_hba.conf entry for host \"127.0.0.1\", user \"nossluser\", database \"postgres\", SSL encryption"
    );
    // The matching transports work.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    scram_login(&mut raw, "ssluser", PASSWORD);
    let mut raw = Raw::plain(s.addr);
    scram_login(&mut raw, "nossluser", PASSWORD);
    // The reason is only in the log.
    s.logs.wait_for("authentication_failed", |l| {
        l["reason"] == "no pg_hba.conf line matches the connection"
    });
}

#[test]
fn psql_conninfo_shows_tls_1_3_and_verify_full_works() {
    let s = default_server();
    let run = s.psql(
        "user=alice sslmode=require",
        Some(PASSWORD),
        &["\\conninfo"],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(run.tls_version().as_deref(), Some("TLSv1.3"), "{run:?}");

    let ca = s.pki.ca_file.display().to_string();
    let run = s.psql(
        &format!("user=alice sslmode=verify-full sslrootcert={ca}"),
        Some(PASSWORD),
        &["\\conninfo", "SELECT 7"],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(run.tls_version().as_deref(), Some("TLSv1.3"), "{run:?}");
    assert!(run.stdout.contains('7'));

    // A CA that did not sign the server's certificate: refused by libpq.
    let other = tempfile::tempdir().unwrap();
    let other_pki = pgiris::net::tls::testing::TestPki::create(other.path()).unwrap();
    let run = s.psql(
        &format!(
            "user=alice sslmode=verify-full sslrootcert={}",
            other_pki.ca_file.display()
        ),
        Some(PASSWORD),
        &["SELECT 1"],
    );
    // libpq reports OpenSSL's error: "certificate verify failed", or "EVP
    // lib" when the foreign CA has the same name as the real one (OpenSSL
    // then checks the signature with the wrong key).
    assert!(!run.ok);
    assert!(
        run.stderr.contains("SSL error: certificate verify failed")
            || run.stderr.contains("SSL error: EVP lib"),
        "{run:?}"
    );
    s.logs.wait_for("tls_failed", |_| true);
}

#[test]
fn openssl_s_client_starttls_postgres_completes_the_handshake() {
    let s = default_server();
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-brief", "-verify_return_error", "-CAfile"])
        .arg(&s.pki.ca_file)
        .args([
            "-servername",
            "localhost",
            "-starttls",
            "postgres",
            "-connect",
        ])
        .arg(s.addr.to_string());
    // A StartupMessage through the tunnel: the server reads it, so the
    // session (and its TLS facts) reach the log.
    let out = run_with_input(cmd, Some(&startup_message("alice", "postgres")), WAIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "s_client failed: {stderr}");
    assert!(stderr.contains("CONNECTION ESTABLISHED"), "{stderr}");
    assert!(stderr.contains("Protocol version: TLSv1.3"), "{stderr}");
    assert!(stderr.contains("Verification: OK"), "{stderr}");
    s.logs.wait_for("tls_negotiated", |l| {
        l["sni"] == "localhost" && l["direct"] == false
    });
}

#[test]
fn the_security_log_records_each_tls_session_and_failure() {
    let s = default_server();
    // With SNI (a host name) over direct TLS ...
    let mut raw = Raw::direct(s.addr, s.client_tls()).unwrap();
    scram_login(&mut raw, "alice", PASSWORD);
    let line = s.logs.wait_for("tls_negotiated", |l| l["direct"] == true);
    assert_eq!(line["version"], "TLSv1.3");
    assert_eq!(line["sni"], "localhost");
    let cipher = line["cipher"].as_str().unwrap_or_default();
    assert!(cipher.starts_with("TLS_"), "{line}");
    assert!(
        line["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:"))
    );

    // ... and without SNI (connecting by IP address), negotiated.
    let tcp = tcp_connect(s.addr, None);
    let local = tcp.local_addr().unwrap();
    let mut tcp = tcp;
    tcp.write_all(&SSL_REQUEST).unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(s.client_tls()), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream
        .write_all(&startup_message("alice", "postgres"))
        .unwrap();
    let line = s
        .logs
        .wait_for("tls_negotiated", |l| l["peer"] == local.to_string());
    assert_eq!(line["sni"], "", "no SNI for an IP address: {line}");
    assert_eq!(line["direct"], false);
    drop(stream);

    // A failed handshake, with its reason.
    let before = s.logs.count("tls_failed");
    let mut config = s.client_tls();
    config.alpn_protocols = vec![b"h2".to_vec()];
    assert!(Raw::direct(s.addr, config).is_err());
    let line = s.logs.wait_for("tls_failed", |_| true);
    assert!(s.logs.count("tls_failed") > before);
    assert!(
        line["reason"]
            .as_str()
            .is_some_and(|r| r.contains("could not accept SSL connection")),
        "{line}"
    );
}
