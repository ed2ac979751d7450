//! The real `IrisBackend` against the in-process IRIS **test double** over
//! real sockets on 127.0.0.1: login, parameters, NULL vs '', update counts,
//! fetch-more, continued frames, transactions, SQLCODE errors, cancel, a
//! server that dies mid-query, refused connections, login failures, TLS.

#[path = "iris/support.rs"]
mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pgiris::backend::iris::IrisBackend;
use pgiris::backend::iris::test_double::{DoubleConfig, TestDouble};
use pgiris::backend::{
    Backend, BackendConnection, Identity, Secret, Statement, Target, TxOp, Value,
};
use pgiris::wire::types::oid;

use support::{Collect, backend, rows, run, s, settings, snapshot};

fn service() -> Target {
    Target {
        database: "USER".into(),
        identity: Identity::Service,
    }
}

fn double() -> TestDouble {
    TestDouble::start(DoubleConfig::default()).expect("double starts")
}

fn connect(b: &IrisBackend) -> Box<dyn BackendConnection> {
    b.connect(&service()).expect("connects")
}

fn setup_table(conn: &mut dyn BackendConnection) {
    run(
        conn,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, nick VARCHAR(20), score NUMERIC(10,2))",
        &[],
    )
    .expect("create table");
}

#[test]
fn query_with_parameters() {
    let d = double();
    let b = backend(d.addr());
    let mut c = connect(&b);
    setup_table(c.as_mut());
    for (id, name) in [(1, "Ann"), (2, "Bob"), (3, "Cé")] {
        let (outcome, _) = run(
            c.as_mut(),
            "INSERT INTO people (id, name) VALUES ($1, $2)",
            &[Value::Int(id), Value::Text(name.into())],
        )
        .unwrap();
        assert_eq!(outcome.rows, 1);
        assert!(!outcome.returned_rows);
    }
    let (outcome, got) = run(
        c.as_mut(),
        "SELECT id, name FROM people WHERE id >= $1 AND name <> $2 ORDER BY id",
        &[Value::Int(2), Value::Text("nobody".into())],
    )
    .unwrap();
    assert!(outcome.returned_rows);
    assert_eq!(outcome.rows, 2);
    assert_eq!(
        got.rows,
        vec![vec![s("2"), s("Bob")], vec![s("3"), s("Cé")]]
    );
    assert_eq!(got.columns[0].name, "id");
    assert_eq!(got.columns[0].type_oid, oid::INT4);
    assert_eq!(got.columns[1].type_oid, oid::VARCHAR);
    assert_eq!(got.columns[1].type_modifier, 54);
    // The same parameter twice, out of order.
    let got = rows(
        c.as_mut(),
        "SELECT name FROM people WHERE id = $2 OR id = $1 OR id = $2 ORDER BY id",
        &[Value::Int(1), Value::Int(3)],
    );
    assert_eq!(got, vec![vec![s("Ann")], vec![s("Cé")]]);
}

#[test]
fn null_and_empty_string_stay_apart() {
    let d = double();
    let mut c = connect(&backend(d.addr()));
    setup_table(c.as_mut());
    run(
        c.as_mut(),
        "INSERT INTO people (id, name, nick) VALUES (1, 'a', $1), (2, 'b', $2)",
        &[Value::Null, Value::Text(String::new())],
    )
    .unwrap();
    let got = rows(c.as_mut(), "SELECT nick FROM people ORDER BY id", &[]);
    assert_eq!(got, vec![vec![None], vec![s("")]]);
    let got = rows(
        c.as_mut(),
        "SELECT count(*) FROM people WHERE nick IS NULL",
        &[],
    );
    assert_eq!(got, vec![vec![s("1")]]);
}

#[test]
fn update_counts_and_ddl() {
    let d = double();
    let mut c = connect(&backend(d.addr()));
    setup_table(c.as_mut());
    let (o, _) = run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        &[],
    )
    .unwrap();
    assert_eq!(o.rows, 3);
    let (o, _) = run(
        c.as_mut(),
        "UPDATE people SET score = $1 WHERE id > $2",
        &[Value::Numeric("12.34".into()), Value::Int(1)],
    )
    .unwrap();
    assert_eq!(o.rows, 2);
    let got = rows(c.as_mut(), "SELECT score FROM people WHERE id = 3", &[]);
    assert_eq!(got, vec![vec![s("12.34")]]);
    let (o, _) = run(c.as_mut(), "DELETE FROM people;", &[]).unwrap();
    assert_eq!(o.rows, 3);
    let (o, _) = run(c.as_mut(), "CREATE TABLE other (x INTEGER)", &[]).unwrap();
    assert_eq!(o.rows, 0);
    assert!(!o.returned_rows);
}

#[test]
fn fetch_more_and_continued_frames() {
    let d = TestDouble::start(DoubleConfig {
        batch_rows: 3,
        max_frame_body: 50,
        ..DoubleConfig::default()
    })
    .unwrap();
    let mut c = connect(&backend(d.addr()));
    run(
        c.as_mut(),
        "CREATE TABLE many (n INTEGER, t VARCHAR(200))",
        &[],
    )
    .unwrap();
    for n in 0..10 {
        run(
            c.as_mut(),
            "INSERT INTO many VALUES ($1, $2)",
            &[Value::Int(n), Value::Text("x".repeat(40 + n as usize))],
        )
        .unwrap();
    }
    let (o, got) = run(c.as_mut(), "SELECT n, t FROM many ORDER BY n", &[]).unwrap();
    assert_eq!(o.rows, 10);
    assert_eq!(got.column_calls, 1);
    for (n, row) in got.rows.iter().enumerate() {
        assert_eq!(row[0], Some(n.to_string()));
        assert_eq!(row[1], Some("x".repeat(40 + n)));
    }
    // An empty result still describes its columns.
    let (o, got) = run(c.as_mut(), "SELECT n FROM many WHERE n < 0", &[]).unwrap();
    assert!(o.returned_rows);
    assert_eq!(o.rows, 0);
    assert_eq!(got.column_calls, 1);
}

#[test]
fn describe_then_execute_uses_the_prepared_statement() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("cap.jsonl");
    let d = TestDouble::start(DoubleConfig {
        record: Some(record.clone()),
        ..DoubleConfig::default()
    })
    .unwrap();
    let mut c = connect(&backend(d.addr()));
    setup_table(c.as_mut());
    let desc = c
        .describe("SELECT id, name FROM people WHERE id = $1", &[])
        .unwrap();
    assert_eq!(desc.params, vec![oid::INT4]);
    let cols = desc.columns.unwrap();
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[1].type_oid, oid::VARCHAR);
    let ins = c
        .describe(
            "INSERT INTO people (id, name) VALUES ($1, $2)",
            &[0, oid::TEXT],
        )
        .unwrap();
    assert_eq!(ins.params, vec![oid::INT4, oid::TEXT]);
    assert_eq!(ins.columns, None);
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES ($1, $2)",
        &[Value::Int(5), Value::Text("Eve".into())],
    )
    .unwrap();
    let got = rows(
        c.as_mut(),
        "SELECT id, name FROM people WHERE id = $1",
        &[Value::Int(5)],
    );
    assert_eq!(got, vec![vec![s("5"), s("Eve")]]);
    drop(c);
    // The double records DC once it has read it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.connection_count() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    d.stop();
    let capture = std::fs::read_to_string(&record).unwrap();
    let codes: Vec<String> = capture
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["dir"] == "C->S")
        .map(|v| v["code"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        codes,
        vec!["HS", "CN", "DU", "PP", "PP", "PU", "PQ", "DC"],
        "{capture}"
    );
}

#[test]
fn session_functions_answer_from_the_snapshot() {
    let d = double();
    let mut c = connect(&backend(d.addr()));
    let got = rows(
        c.as_mut(),
        "SELECT version(), current_user, current_database(), current_setting('TimeZone'), pg_backend_pid()",
        &[],
    );
    let snap = snapshot();
    assert_eq!(
        got,
        vec![vec![
            Some(snap.version.clone()),
            s("alice"),
            s("USER"),
            s("Etc/UTC"),
            s("4711")
        ]]
    );
    let e = run(c.as_mut(), "SELECT current_setting('no_such')", &[]).unwrap_err();
    assert_eq!(e.code, "42704");
}

#[test]
fn transactions_commit_and_rollback() {
    let d = double();
    let b = backend(d.addr());
    let mut c = connect(&b);
    let mut other = connect(&b);
    setup_table(c.as_mut());
    assert!(!c.in_transaction());
    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    assert!(c.in_transaction());
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (1, 'gone')",
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::Rollback).unwrap();
    assert!(!c.in_transaction());
    assert_eq!(
        rows(c.as_mut(), "SELECT count(*) FROM people", &[]),
        vec![vec![s("0")]]
    );

    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (2, 'kept')",
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::Savepoint("sp1".into())).unwrap();
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (3, 'undone')",
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::RollbackTo("sp1".into())).unwrap();
    c.transaction(&TxOp::Release("sp1".into())).unwrap();
    c.transaction(&TxOp::Commit).unwrap();
    assert!(!c.in_transaction());
    assert_eq!(
        rows(other.as_mut(), "SELECT id, name FROM people", &[]),
        vec![vec![s("2"), s("kept")]]
    );
    // reset() rolls back an open transaction.
    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (4, 'reset')",
        &[],
    )
    .unwrap();
    c.reset().unwrap();
    assert!(!c.in_transaction());
    assert_eq!(
        rows(other.as_mut(), "SELECT count(*) FROM people", &[]),
        vec![vec![s("1")]]
    );
    // Isolation levels IRIS cannot honour are refused, not weakened.
    let e = c
        .transaction(&TxOp::Begin {
            isolation: Some("ISOLATION LEVEL SERIALIZABLE".into()),
        })
        .unwrap_err();
    assert_eq!(e.code, "0A000");
    assert!(!c.in_transaction());
    c.transaction(&TxOp::Begin {
        isolation: Some("ISOLATION LEVEL READ COMMITTED".into()),
    })
    .unwrap();
    c.transaction(&TxOp::Commit).unwrap();
    assert!(c.is_usable());
}

#[test]
fn sqlcode_errors_become_sqlstates() {
    let d = double();
    let mut c = connect(&backend(d.addr()));
    setup_table(c.as_mut());
    let e = run(c.as_mut(), "SELECT * FROM missing", &[]).unwrap_err();
    assert_eq!(e.code, "42P01", "{e:?}");
    assert!(e.detail.unwrap_or_default().contains("SQLCODE -30"));
    let e = run(c.as_mut(), "SELECT nope FROM people", &[]).unwrap_err();
    assert_eq!(e.code, "42703");
    let e = run(c.as_mut(), "SELEKT 1", &[]).unwrap_err();
    assert_eq!(e.code, "42601");
    run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (1, 'a')",
        &[],
    )
    .unwrap();
    let e = run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES (1, 'b')",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.code, "23505");
    let e = run(
        c.as_mut(),
        "INSERT INTO people (id, name) VALUES ($1, $2)",
        &[Value::Int(2), Value::Null],
    )
    .unwrap_err();
    assert_eq!(e.code, "23502");
    // Errors leave the connection usable.
    assert!(c.is_usable());
    assert_eq!(
        rows(c.as_mut(), "SELECT count(*) FROM people", &[]),
        vec![vec![s("1")]]
    );
}

const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT max(x) FROM c";

#[test]
fn interrupt_cancels_a_slow_query() {
    let d = double();
    let b = backend(d.addr());
    let mut c = connect(&b);
    let interrupter = c.interrupter();
    // Interrupting while idle does nothing.
    interrupter.interrupt();
    assert!(c.is_usable());
    assert_eq!(rows(c.as_mut(), "SELECT 1", &[]), vec![vec![s("1")]]);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        interrupter.interrupt();
    });
    let start = Instant::now();
    let e = run(c.as_mut(), SLOW, &[]).unwrap_err();
    t.join().unwrap();
    assert_eq!(e.code, "57014", "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!c.is_usable());
    let e = run(c.as_mut(), "SELECT 1", &[]).unwrap_err();
    assert_eq!(e.code, "08006");
    // A new connection works.
    let mut fresh = connect(&b);
    assert_eq!(rows(fresh.as_mut(), "SELECT 2", &[]), vec![vec![s("2")]]);
}

#[test]
fn iris_dying_mid_query_is_an_error_not_a_hang() {
    let d = Arc::new(double());
    let b = backend(d.addr());
    let mut c = connect(&b);
    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    let killer = d.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        killer.kill_connections();
    });
    let start = Instant::now();
    let e = run(c.as_mut(), SLOW, &[]).unwrap_err();
    t.join().unwrap();
    assert_eq!(e.code, "08006", "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!c.is_usable());
    // The session can tell a transaction was lost.
    assert!(c.in_transaction());
    assert_eq!(c.transaction(&TxOp::Commit).unwrap_err().code, "08006");
}

#[test]
fn refused_connection_is_08006_with_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = backend(addr).connect(&service()).err().expect("refused");
    assert_eq!(e.code, "08006");
    assert!(e.message.contains(&addr.to_string()), "{}", e.message);
}

#[test]
fn login_failures() {
    let d = double();
    let wrong = IrisBackend::with_password(&settings(d.addr()), Some(Secret::new("nope"))).unwrap();
    let e = wrong.connect(&service()).err().expect("refused");
    assert_eq!(e.code, "08006");
    assert!(e.message.contains("service account"), "{}", e.message);
    assert!(e.message.contains("Access Denied"));
    assert!(!e.message.contains("nope"));

    let b = backend(d.addr());
    let e = b
        .connect(&Target {
            database: "USER".into(),
            identity: Identity::User {
                name: "mallory".into(),
                password: Secret::new("guess"),
            },
        })
        .err()
        .expect("refused");
    assert_eq!(e.code, "28P01");
    assert_eq!(
        e.message,
        "password authentication failed for user \"mallory\""
    );
    // A user with the right password logs in as themselves.
    let mut ok = b
        .connect(&Target {
            database: "user".into(),
            identity: Identity::User {
                name: "_SYSTEM".into(),
                password: Secret::new("SYS"),
            },
        })
        .expect("user login");
    assert_eq!(rows(ok.as_mut(), "SELECT 1", &[]), vec![vec![s("1")]]);
    // Allowed by pgiris but unknown to IRIS.
    let e = b
        .connect(&Target {
            database: "SAMPLES".into(),
            identity: Identity::Service,
        })
        .err()
        .expect("unknown namespace");
    assert_eq!(e.code, "3D000");
    assert!(!b.serves_database("OTHER"));
    assert!(b.describe_backend().starts_with("InterSystems IRIS 2024.1"));
}

#[test]
fn tls_from_the_first_byte() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, key.cert.pem()).unwrap();
    let cert = key.cert.der().clone();
    let pkey = rustls_pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], pkey)
    .unwrap();
    let d = TestDouble::start(DoubleConfig {
        tls: Some(Arc::new(server)),
        ..DoubleConfig::default()
    })
    .unwrap();
    let mut st = settings(d.addr());
    st.tls = true;
    st.tls_ca_file = ca.to_string_lossy().into_owned();
    let b = IrisBackend::with_password(&st, Some(Secret::new("SYS"))).unwrap();
    let mut c = b.connect(&service()).expect("TLS login");
    assert_eq!(
        rows(c.as_mut(), "SELECT 'over tls'", &[]),
        vec![vec![s("over tls")]]
    );
    // Plain TCP to a TLS server fails cleanly.
    let plain = backend(d.addr());
    let e = plain.connect(&service()).err().expect("plain refused");
    assert_eq!(e.code, "08006");
    // A CA that did not sign the server's certificate is refused.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let wrong_ca = dir.path().join("wrong.pem");
    std::fs::write(&wrong_ca, other.cert.pem()).unwrap();
    st.tls_ca_file = wrong_ca.to_string_lossy().into_owned();
    let b = IrisBackend::with_password(&st, Some(Secret::new("SYS"))).unwrap();
    let e = b.connect(&service()).err().expect("untrusted");
    assert_eq!(e.code, "08006");
    assert!(e.message.contains("TLS"), "{}", e.message);
}

#[test]
fn sink_errors_close_the_cursor_and_keep_the_connection() {
    struct Refuse;
    impl pgiris::backend::RowSink for Refuse {
        fn columns(
            &mut self,
            _: &[pgiris::backend::Column],
        ) -> Result<(), pgiris::wire::error::PgError> {
            Ok(())
        }
        fn row(
            &mut self,
            _: &[pgiris::backend::Cell<'_>],
        ) -> Result<(), pgiris::wire::error::PgError> {
            Err(pgiris::wire::error::PgError::internal("client went away"))
        }
    }
    let d = TestDouble::start(DoubleConfig {
        batch_rows: 2,
        ..DoubleConfig::default()
    })
    .unwrap();
    let mut c = connect(&backend(d.addr()));
    run(c.as_mut(), "CREATE TABLE t (n INTEGER)", &[]).unwrap();
    run(
        c.as_mut(),
        "INSERT INTO t VALUES (1), (2), (3), (4), (5)",
        &[],
    )
    .unwrap();
    let snap = std::sync::Arc::new(snapshot());
    let stmt = Statement {
        sql: "SELECT n FROM t",
        params: &[],
        param_types: &[],
        session: &snap,
    };
    let e = c.execute(&stmt, &mut Refuse).unwrap_err();
    assert_eq!(e.message, "client went away");
    assert!(c.is_usable());
    let mut all = Collect::default();
    c.execute(&stmt, &mut all).unwrap();
    assert_eq!(all.rows.len(), 5);
}

#[test]
fn recording_proxy_forwards_and_records_both_directions() {
    let d = double();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.jsonl");
    let upstream = d.addr().to_string();
    let out2 = out.clone();
    thread::spawn(move || {
        let _ = pgiris::backend::iris::recorder::run_recorder(listener, upstream, Some(out2));
    });
    let b = backend(proxy);
    let mut c = connect(&b);
    assert_eq!(rows(c.as_mut(), "SELECT 7", &[]), vec![vec![s("7")]]);
    drop(c);
    // The proxy writes the closing line once both directions ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("\"event\":\"closed\"") || Instant::now() > deadline {
            break text;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let frames: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l.get("dir").is_some())
        .map(|l| {
            (
                l["dir"].as_str().unwrap().to_string(),
                l["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |d: &str, c: &str| (d.to_string(), c.to_string());
    assert_eq!(
        frames,
        vec![
            expect("C->S", "HS"),
            expect("S->C", "0x0000"),
            expect("C->S", "CN"),
            expect("S->C", "0x0000"),
            expect("C->S", "DQ"),
            expect("S->C", "0x0000"),
            expect("S->C", "0x6400"),
            expect("C->S", "DC"),
        ]
    );
    let dq = lines.iter().find(|l| l["code"] == "DQ").unwrap();
    assert_eq!(dq["msg_id"], 5);
    assert_eq!(dq["stmt_id"], 1);
    assert_eq!(dq["decoded"][1]["ascii"], "SELECT 7");
    assert_eq!(lines.last().unwrap()["event"], "closed");
}

#[test]
fn a_server_that_stops_answering_times_out() {
    // Login: a listener that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut st = settings(silent.local_addr().unwrap());
    st.connect_timeout = Duration::from_millis(500);
    let b = IrisBackend::with_password(&st, Some(Secret::new("SYS"))).unwrap();
    let start = Instant::now();
    let e = b.connect(&service()).err().expect("no answer");
    assert_eq!(e.code, "08006", "{e:?}");
    assert!(e.message.contains("login"), "{}", e.message);
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(silent);

    // A statement: the double does not honour IRIS's statement timeout, so
    // the socket's read timeout (query_timeout plus a grace) ends the wait.
    let d = double();
    let mut st = settings(d.addr());
    st.query_timeout = Duration::from_secs(1);
    let b = IrisBackend::with_password(&st, Some(Secret::new("SYS"))).unwrap();
    let mut c = b.connect(&service()).unwrap();
    let start = Instant::now();
    let e = run(c.as_mut(), SLOW, &[]).unwrap_err();
    assert_eq!(e.code, "57014", "{e:?}");
    assert!(e.message.contains("query timeout"), "{}", e.message);
    assert!(start.elapsed() < Duration::from_secs(6));
    assert!(!c.is_usable());
}
