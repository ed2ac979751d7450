//! The negotiation matrix, in the style of PostgreSQL's
//! `src/test/libpq_encryption/t/001_negotiate_encryption.pl`: client
//! sslmode (disable, prefer, require) x sslnegotiation (postgres, direct)
//! x server TLS on/off x hba line type (host, hostssl, hostnossl), each row
//! with its expected outcome, run with libpq (psql 15, which has no direct
//! negotiation) and tokio-postgres (which has both).
//!
//! The three hba line types are three users, as in PostgreSQL's test:
//! `testuser` matches a `host` line, `ssluser` only a `hostssl` line,
//! `nossluser` only a `hostnossl` line.

mod common;

use common::tlsauth::{PASSWORD, ServerSpec, TestServer, TpOutcome, Transport};

const HBA: &str = "\
hostssl   all ssluser   127.0.0.1/32 scram-sha-256
hostnossl all nossluser 127.0.0.1/32 scram-sha-256
host      all testuser  127.0.0.1/32 scram-sha-256
";

fn server(tls: bool) -> TestServer {
    TestServer::start(
        ServerSpec::default()
            .tls(tls)
            .hba(HBA)
            .scram_user("testuser")
            .scram_user("ssluser")
            .scram_user("nossluser"),
    )
}

/// What a row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Plain,
    Tls,
    /// The server refuses with FATAL 28000 (no pg_hba.conf entry).
    NoHbaEntry,
    /// The client gives up without a server error.
    ClientRefuses,
}

/// The rows for libpq 15: (server TLS, user, sslmode, outcome).
///
/// `nossluser` with `prefer` on a TLS server: libpq's first attempt over
/// TLS is refused by the hba rule, and libpq then retries without TLS
/// (PostgreSQL's table: "connect, sslaccept, authfail, reconnect, authok
/// -> plain").
const LIBPQ_ROWS: &[(bool, &str, &str, Expect)] = &[
    (true, "testuser", "disable", Expect::Plain),
    (true, "testuser", "prefer", Expect::Tls),
    (true, "testuser", "require", Expect::Tls),
    (true, "ssluser", "disable", Expect::NoHbaEntry),
    (true, "ssluser", "prefer", Expect::Tls),
    (true, "ssluser", "require", Expect::Tls),
    (true, "nossluser", "disable", Expect::Plain),
    (true, "nossluser", "prefer", Expect::Plain),
    (true, "nossluser", "require", Expect::NoHbaEntry),
    (false, "testuser", "disable", Expect::Plain),
    (false, "testuser", "prefer", Expect::Plain),
    (false, "testuser", "require", Expect::ClientRefuses),
    (false, "ssluser", "disable", Expect::NoHbaEntry),
    (false, "ssluser", "prefer", Expect::NoHbaEntry),
    (false, "ssluser", "require", Expect::ClientRefuses),
    (false, "nossluser", "disable", Expect::Plain),
    (false, "nossluser", "prefer", Expect::Plain),
    (false, "nossluser", "require", Expect::ClientRefuses),
];

fn libpq_outcome(server: &TestServer, user: &str, sslmode: &str) -> (Expect, String) {
    let run = server.psql(
        &format!("user={user} sslmode={sslmode}"),
        Some(PASSWORD),
        &["\\conninfo", "SELECT 40 + 2"],
    );
    let summary = format!("stdout: {:?} stderr: {:?}", run.stdout, run.stderr);
    if run.ok {
        assert!(run.stdout.contains("42"), "query result missing: {summary}");
        return match run.tls_version() {
            Some(v) => {
                assert_eq!(v, "TLSv1.3", "{summary}");
                (Expect::Tls, summary)
            }
            None => (Expect::Plain, summary),
        };
    }
    let encryption = if run.stderr.contains("SSL encryption") {
        "SSL encryption"
    } else {
        "no encryption"
    };
    let no_entry = format!(
        "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"{user}\", database \"postgres\", {encryption}"
    );
    if run.stderr.contains(&no_entry) {
        (Expect::NoHbaEntry, summary)
    } else if run
        .stderr
        .contains("server does not support SSL, but SSL was required")
    {
        (Expect::ClientRefuses, summary)
    } else {
        panic!("unexpected psql failure: {summary}");
    }
}

#[test]
fn libpq_negotiation_matrix() {
    let servers = [server(true), server(false)];
    let mut failures = Vec::new();
    for &(tls, user, sslmode, expected) in LIBPQ_ROWS {
        let s = &servers[usize::from(!tls)];
        let (got, summary) = libpq_outcome(s, user, sslmode);
        let row = format!("server_tls={tls:<5} user={user:<9} sslmode={sslmode:<7}");
        if got != expected {
            failures.push(format!(
                "{row}: expected {expected:?}, got {got:?} ({summary})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "libpq rows failed:\n{}",
        failures.join("\n")
    );
    // The refusals that reached the server are in its log, with the reason.
    let refused = servers[0].logs.events("authentication_failed");
    assert!(
        refused.iter().any(|l| l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no pg_hba.conf line"))),
        "hba refusals are logged: {refused:?}"
    );
}

/// tokio-postgres rows: (server TLS, user, sslmode, sslnegotiation,
/// outcome). tokio-postgres does not retry without TLS after a refusal
/// (so `nossluser`/`prefer` on a TLS server fails where libpq retries),
/// and refuses `prefer` with direct negotiation by itself.
fn tp_rows() -> Vec<(bool, &'static str, &'static str, &'static str, TpOutcome)> {
    use TpOutcome::*;
    let plain = Connected(Transport::Plain);
    let negotiated = Connected(Transport::NegotiatedTls);
    let direct = Connected(Transport::DirectTls);
    let no_entry = ServerError("28000".into());
    vec![
        // Server with TLS, SSLRequest negotiation.
        (true, "testuser", "disable", "postgres", plain.clone()),
        (true, "testuser", "prefer", "postgres", negotiated.clone()),
        (true, "testuser", "require", "postgres", negotiated.clone()),
        (true, "ssluser", "disable", "postgres", no_entry.clone()),
        (true, "ssluser", "prefer", "postgres", negotiated.clone()),
        (true, "ssluser", "require", "postgres", negotiated.clone()),
        (true, "nossluser", "disable", "postgres", plain.clone()),
        (true, "nossluser", "prefer", "postgres", no_entry.clone()),
        (true, "nossluser", "require", "postgres", no_entry.clone()),
        // Server with TLS, direct negotiation.
        (true, "testuser", "disable", "direct", plain.clone()),
        (true, "testuser", "prefer", "direct", Refused),
        (true, "testuser", "require", "direct", direct.clone()),
        (true, "ssluser", "disable", "direct", no_entry.clone()),
        (true, "ssluser", "prefer", "direct", Refused),
        (true, "ssluser", "require", "direct", direct.clone()),
        (true, "nossluser", "disable", "direct", plain.clone()),
        (true, "nossluser", "prefer", "direct", Refused),
        (true, "nossluser", "require", "direct", no_entry.clone()),
        // Server without TLS, SSLRequest negotiation ('N').
        (false, "testuser", "disable", "postgres", plain.clone()),
        (false, "testuser", "prefer", "postgres", plain.clone()),
        (false, "testuser", "require", "postgres", Refused),
        (false, "ssluser", "disable", "postgres", no_entry.clone()),
        (false, "ssluser", "prefer", "postgres", no_entry.clone()),
        (false, "ssluser", "require", "postgres", Refused),
        (false, "nossluser", "disable", "postgres", plain.clone()),
        (false, "nossluser", "prefer", "postgres", plain.clone()),
        (false, "nossluser", "require", "postgres", Refused),
        // Server without TLS, direct negotiation: the ClientHello is
        // answered by closing the connection.
        (false, "testuser", "disable", "direct", plain.clone()),
        (false, "testuser", "prefer", "direct", Refused),
        (false, "testuser", "require", "direct", Refused),
        (false, "ssluser", "disable", "direct", no_entry.clone()),
        (false, "ssluser", "prefer", "direct", Refused),
        (false, "ssluser", "require", "direct", Refused),
        (false, "nossluser", "disable", "direct", plain.clone()),
        (false, "nossluser", "prefer", "direct", Refused),
        (false, "nossluser", "require", "direct", Refused),
    ]
}

#[tokio::test]
async fn tokio_postgres_negotiation_matrix() {
    let servers = [server(true), server(false)];
    let mut failures = Vec::new();
    let rows = tp_rows();
    assert_eq!(rows.len(), 36, "every combination has a row");
    for (tls, user, sslmode, negotiation, expected) in rows {
        let s = &servers[usize::from(!tls)];
        let got = s
            .tp_outcome(&format!(
                "user={user} password={PASSWORD} sslmode={sslmode} sslnegotiation={negotiation}"
            ))
            .await;
        if got != expected {
            failures.push(format!(
                "server_tls={tls:<5} user={user:<9} sslmode={sslmode:<7} sslnegotiation={negotiation:<8}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "tokio-postgres rows failed:\n{}",
        failures.join("\n")
    );
    // Direct TLS attempts against the server without TLS were closed and
    // logged as such, without a reply.
    servers[1].logs.wait_for("protocol_violation", |l| {
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("direct SSL connection requested but SSL is not enabled"))
    });
    // Every TLS session on the TLS server was logged with its facts, the
    // direct ones as direct.
    let negotiated = servers[0].logs.events("tls_negotiated");
    assert!(negotiated.iter().any(|l| l["direct"] == true));
    assert!(negotiated.iter().any(|l| l["direct"] == false));
    for l in &negotiated {
        assert_eq!(l["version"], "TLSv1.3", "{l}");
        assert_eq!(l["sni"], "localhost", "{l}");
    }
}
