//! Authentication with real clients (psql/libpq and tokio-postgres) and
//! the exact AuthenticationSASL bytes: correct and wrong passwords, unknown
//! users indistinguishable from wrong passwords, SCRAM-SHA-256-PLUS with
//! `channel_binding=require`, md5 (with an md5 entry, and with a SCRAM
//! user, which runs SCRAM), cleartext `password` only over TLS unless the
//! rule allows plaintext, `reject`, and no matching hba line.

mod common;

use common::tlsauth::*;

const HBA: &str = "\
host      all rejected  127.0.0.0/8 reject
host      all md5user   127.0.0.0/8 md5
host      all md5scram  127.0.0.0/8 md5
host      all pwuser    127.0.0.0/8 password
host      all pwplain   127.0.0.0/8 password allow_plaintext=1
host      all alice,ghost,phantom 127.0.0.0/8 scram-sha-256
";

const MD5_PASSWORD: &str = "md5-only-secret-9";
const PW_PASSWORD: &str = "cleartext-secret-7";

fn server() -> TestServer {
    TestServer::start(
        ServerSpec::default()
            .hba(HBA)
            .scram_user("alice")
            .scram_user("rejected")
            .user("md5user", Secret::Md5(MD5_PASSWORD.into()))
            .scram_user("md5scram")
            .user("pwuser", Secret::Scram(PW_PASSWORD.into()))
            .user("pwplain", Secret::Plain(PW_PASSWORD.into())),
    )
}

fn failed_for(user: &str) -> String {
    format!("FATAL:  password authentication failed for user \"{user}\"")
}

/// The method the server logged for the latest successful login of `user`.
fn logged_method(s: &TestServer, user: &str) -> String {
    s.logs.wait_for("authenticated", |l| l["user"] == user);
    let lines = s.logs.events("authenticated");
    let last = lines.iter().rev().find(|l| l["user"] == user);
    last.and_then(|l| l["method"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn psql_password_outcomes() {
    let s = server();
    let wrong = "not-the-password";
    s.add_secret(wrong);
    for sslmode in ["disable", "require"] {
        let ok = s.psql(
            &format!("user=alice sslmode={sslmode}"),
            Some(PASSWORD),
            &["SELECT 1"],
        );
        assert!(ok.ok, "{sslmode}: {ok:?}");
        let bad = s.psql(
            &format!("user=alice sslmode={sslmode}"),
            Some(wrong),
            &["SELECT 1"],
        );
        assert!(!bad.ok);
        assert!(bad.stderr.contains(&failed_for("alice")), "{bad:?}");
        // An unknown user (matching an hba line, absent from the users
        // file) gets the very same text.
        let ghost = s.psql(
            &format!("user=ghost sslmode={sslmode}"),
            Some(PASSWORD),
            &["SELECT 1"],
        );
        assert!(!ghost.ok);
        let text = |r: &PsqlRun| {
            r.stderr
                .split("FATAL:")
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        assert_eq!(
            text(&ghost).replace("ghost", "USER"),
            text(&bad).replace("alice", "USER"),
            "unknown user and wrong password look alike"
        );
    }
    // libpq over TLS prefers channel binding.
    assert_eq!(logged_method(&s, "alice"), "SCRAM-SHA-256-PLUS");
    // The log knows which was which; the client does not.
    s.logs.wait_for("authentication_failed", |l| {
        l["user"] == "ghost"
            && l["reason"]
                .as_str()
                .is_some_and(|r| r.contains("does not exist"))
    });
    s.logs.wait_for("authentication_failed", |l| {
        l["user"] == "alice"
            && l["reason"]
                .as_str()
                .is_some_and(|r| r.contains("proof does not match"))
    });
}

#[tokio::test]
async fn tokio_postgres_password_outcomes() {
    let s = server();
    s.add_secret("wrong-password-x");
    for sslmode in ["disable", "require"] {
        let c = s
            .tp_connect(
                &format!("user=alice password={PASSWORD} sslmode={sslmode}"),
                None,
            )
            .await
            .expect("correct password");
        assert!(c.client.simple_query("SELECT 1").await.is_ok());
        let e = s
            .tp_connect(
                &format!("user=alice password=wrong-password-x sslmode={sslmode}"),
                None,
            )
            .await
            .err()
            .expect("wrong password refused");
        assert_eq!(
            db_error(&e),
            (
                "28P01".to_string(),
                "password authentication failed for user \"alice\"".to_string()
            )
        );
        let e = s
            .tp_connect(
                &format!("user=ghost password={PASSWORD} sslmode={sslmode}"),
                None,
            )
            .await
            .err()
            .expect("unknown user refused");
        assert_eq!(
            db_error(&e),
            (
                "28P01".to_string(),
                "password authentication failed for user \"ghost\"".to_string()
            )
        );
    }
}

#[tokio::test]
async fn channel_binding_require() {
    let s = server();
    // Over TLS: SCRAM-SHA-256-PLUS, with libpq ...
    let run = s.psql(
        "user=alice sslmode=require channel_binding=require",
        Some(PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(logged_method(&s, "alice"), "SCRAM-SHA-256-PLUS");
    // ... and tokio-postgres, negotiated and direct.
    for negotiation in ["postgres", "direct"] {
        let c = s
            .tp_connect(
                &format!(
                    "user=alice password={PASSWORD} sslmode=require sslnegotiation={negotiation} channel_binding=require"
                ),
                None,
            )
            .await
            .expect("PLUS login");
        assert!(c.client.simple_query("SELECT 1").await.is_ok());
    }
    let plus = s
        .logs
        .events("authenticated")
        .into_iter()
        .filter(|l| l["method"] == "SCRAM-SHA-256-PLUS")
        .count();
    assert_eq!(plus, 3);
    // A wrong password with channel binding is the same 28P01.
    let e = s
        .tp_connect(
            "user=alice password=nope sslmode=require channel_binding=require",
            None,
        )
        .await
        .err()
        .expect("refused");
    assert_eq!(db_error(&e).0, "28P01");

    // Over plaintext the server offers no PLUS and both clients refuse.
    let run = s.psql(
        "user=alice sslmode=disable channel_binding=require",
        Some(PASSWORD),
        &["SELECT 1"],
    );
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("channel binding required, but SSL not in use"),
        "{run:?}"
    );
    let e = s
        .tp_connect(
            &format!("user=alice password={PASSWORD} sslmode=disable channel_binding=require"),
            None,
        )
        .await
        .err()
        .expect("tokio-postgres refuses");
    assert!(e.as_db_error().is_none(), "refused by the client: {e:?}");
    // Channel binding cannot be had with md5 either.
    let run = s.psql(
        "user=md5user sslmode=require channel_binding=require",
        Some(MD5_PASSWORD),
        &["SELECT 1"],
    );
    assert!(!run.ok, "{run:?}");
}

#[tokio::test]
async fn md5_method() {
    let s = server();
    // A users-file md5 entry: the md5 challenge.
    let run = s.psql(
        "user=md5user sslmode=disable",
        Some(MD5_PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(logged_method(&s, "md5user"), "md5");
    let run = s.psql("user=md5user sslmode=disable", Some("wrong"), &["SELECT 1"]);
    assert!(!run.ok);
    assert!(run.stderr.contains(&failed_for("md5user")), "{run:?}");
    let c = s
        .tp_connect(
            &format!("user=md5user password={MD5_PASSWORD} sslmode=disable"),
            None,
        )
        .await
        .expect("tokio-postgres md5");
    assert!(c.client.simple_query("SELECT 1").await.is_ok());
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("md5user", "postgres"));
    let (code, salt) = auth_request(&raw.expect());
    assert_eq!((code, salt.len()), (5, 4), "AuthenticationMD5Password");
    // Anything but a PasswordMessage now: PostgreSQL's words for md5.
    raw.send(&query("SELECT 1"));
    let e = raw.expect_fatal("08P01");
    assert_eq!(
        e.message(),
        "expected password response, got message type 81"
    );

    // md5 for a user with a SCRAM verifier: SCRAM runs, as in PostgreSQL.
    let run = s.psql(
        "user=md5scram sslmode=disable",
        Some(PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(logged_method(&s, "md5scram"), "SCRAM-SHA-256");
    let mut raw = Raw::plain(s.addr);
    let mechanisms = start_sasl(&mut raw, "md5scram");
    assert_eq!(mechanisms, ["SCRAM-SHA-256"]);
}

#[tokio::test]
async fn cleartext_password_method_needs_tls_unless_allowed() {
    let s = server();
    // Plaintext, rule without allow_plaintext=1: refused before any
    // password is asked.
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("pwuser", "postgres"));
    let e = raw.expect_fatal("28000");
    assert_eq!(
        e.message(),
        "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"pwuser\", database \"postgres\", no encryption"
    );
    let run = s.psql(
        "user=pwuser sslmode=disable",
        Some(PW_PASSWORD),
        &["SELECT 1"],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("pg_hba.conf rejects connection"),
        "{run:?}"
    );

    // Over TLS: AuthenticationCleartextPassword, and the verifier checks it.
    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    raw.send(&startup_message("pwuser", "postgres"));
    assert_eq!(auth_request(&raw.expect()).0, 3);
    raw.send(&password_message(PW_PASSWORD));
    assert_eq!(auth_request(&raw.expect()).0, 0);
    raw.until_ready();
    let run = s.psql(
        "user=pwuser sslmode=require",
        Some(PW_PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
    let c = s
        .tp_connect(
            &format!("user=pwuser password={PW_PASSWORD} sslmode=require"),
            None,
        )
        .await
        .expect("tokio-postgres cleartext over TLS");
    assert!(c.client.simple_query("SELECT 1").await.is_ok());
    let run = s.psql("user=pwuser sslmode=require", Some("wrong"), &["SELECT 1"]);
    assert!(run.stderr.contains(&failed_for("pwuser")), "{run:?}");
    assert_eq!(logged_method(&s, "pwuser"), "password");

    // allow_plaintext=1: plaintext too.
    let run = s.psql(
        "user=pwplain sslmode=disable",
        Some(PW_PASSWORD),
        &["SELECT 1"],
    );
    assert!(run.ok, "{run:?}");
}

#[tokio::test]
async fn reject_and_no_matching_line() {
    let s = server();
    let run = s.psql(
        "user=rejected sslmode=disable",
        Some(PASSWORD),
        &["SELECT 1"],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains(
            "FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"rejected\", database \"postgres\", no encryption"
        ),
        "{run:?}"
    );
    let e = s
        .tp_connect(
            &format!("user=rejected password={PASSWORD} sslmode=require"),
            None,
        )
        .await
        .err()
        .expect("rejected");
    assert_eq!(
        db_error(&e),
        (
            "28000".into(),
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"rejected\", database \"postgres\", SSL encryption".into()
        )
    );
    let run = s.psql("user=nobody sslmode=require", Some(PASSWORD), &["SELECT 1"]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains(
            "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"nobody\", database \"postgres\", SSL encryption"
        ),
        "{run:?}"
    );
    let e = s
        .tp_connect(
            &format!("user=nobody password={PASSWORD} sslmode=disable"),
            None,
        )
        .await
        .err()
        .expect("no entry");
    assert_eq!(
        db_error(&e),
        (
            "28000".into(),
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"nobody\", database \"postgres\", no encryption".into()
        )
    );
    // The error carries no detail; the reason is in the log only.
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("nobody", "postgres"));
    let e = raw.expect_fatal("28000");
    assert_eq!(e.detail(), None);
    s.logs.wait_for("authentication_failed", |l| {
        l["user"] == "rejected" && l["reason"] == "the matching pg_hba.conf rule says reject"
    });
}

#[test]
fn authentication_sasl_lists_plus_only_over_tls() {
    let s = server();
    let mut raw = Raw::plain(s.addr);
    raw.send(&startup_message("alice", "postgres"));
    let (tag, body) = raw.expect();
    let mut got = vec![tag];
    got.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    got.extend_from_slice(&body);
    assert_eq!(got, b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0");

    let mut raw = Raw::ssl_request(s.addr, s.client_tls()).unwrap();
    raw.send(&startup_message("alice", "postgres"));
    let (tag, body) = raw.expect();
    let mut got = vec![tag];
    got.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    got.extend_from_slice(&body);
    assert_eq!(
        got,
        b"R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
    );

    // Direct TLS offers the same.
    let mut raw = Raw::direct(s.addr, s.client_tls()).unwrap();
    assert_eq!(
        start_sasl(&mut raw, "ghost"),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
        "unknown users are offered the same mechanisms"
    );
}

#[test]
fn unknown_users_get_a_deterministic_mock_exchange() {
    let s = server();
    let first = |user: &str| {
        let mut raw = Raw::plain(s.addr);
        start_sasl(&mut raw, user);
        let script = ScramScript::new("n,,", b"");
        raw.send(&sasl_initial(
            "SCRAM-SHA-256",
            script.client_first().as_bytes(),
        ));
        let (code, sf) = auth_request(&raw.expect());
        assert_eq!(code, 11);
        let sf = parse_server_first(&sf);
        let (last, proof) = script.client_final(PASSWORD, &sf);
        s.add_secret(proof);
        raw.send(&sasl_response(last.as_bytes()));
        let e = raw.expect_fatal("28P01");
        assert_eq!(
            e.message(),
            format!("password authentication failed for user \"{user}\"")
        );
        (sf, script.client_nonce)
    };
    let (a, nonce_a) = first("ghost");
    let (b, _) = first("ghost");
    let (c, _) = first("phantom");
    // A salt that changed per attempt would betray a missing user.
    assert_eq!(a.salt, b.salt);
    assert_ne!(a.salt, c.salt);
    assert_eq!(a.salt.len(), 16);
    assert_eq!(a.iterations, 4096);
    // The server nonce has the shape of a real one.
    assert_eq!(a.nonce.len(), nonce_a.len() + 24);
}
