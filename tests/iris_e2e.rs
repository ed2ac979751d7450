//! End to end through pgiris with `backend.kind = "iris"` against the IRIS
//! **test double** (in-process, 127.0.0.1:0; it runs the SQL on SQLite):
//! real clients (psql, tokio-postgres; pgJDBC in `iris_e2e_jdbc.rs`), both
//! pool modes, supervision (IRIS down at start, killed mid-session, lost
//! transactions), the hba method `iris`, and namespace selection.
//!
//! Every server and double listens on port 0, so the tests run in parallel;
//! every wait is bounded.

mod common;
#[path = "iris/e2e.rs"]
mod e2e;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgiris::backend::iris::test_double::{DoubleConfig, TestDouble};
use pgiris::config::{IrisSettings, PoolMode, Settings};

use common::{ADMIN_USER, USER_ALICE, USER_BOB, code_of, pg_config, psql_env, try_connect_with};
use e2e::{IrisPgiris, cancel_after, connect, scalar, start_pgiris};

const SERVICE_PASSWORD: &str = "SYS";

fn iris_settings(addr: SocketAddr) -> IrisSettings {
    IrisSettings {
        host: addr.ip().to_string(),
        port: addr.port(),
        user: "_SYSTEM".into(),
        namespace: "USER".into(),
        namespaces: vec!["USER".into(), "SAMPLES".into(), "GHOST".into()],
        connect_timeout: Duration::from_secs(5),
        ..IrisSettings::default()
    }
}

/// The double with namespaces USER and SAMPLES (GHOST is allowed by pgiris
/// but unknown to the double), the service account and two IRIS users.
fn double_config() -> DoubleConfig {
    DoubleConfig {
        users: vec![
            ("_SYSTEM".into(), SERVICE_PASSWORD.into()),
            ("alice".into(), "alice-iris-pw".into()),
            ("carol".into(), "carol-iris-pw".into()),
        ],
        namespaces: vec!["USER".into(), "SAMPLES".into()],
        batch_rows: 7,
        init_sql: vec![
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INTEGER)"
                .into(),
            "CREATE TABLE log (client INTEGER, n INTEGER, conn INTEGER)".into(),
        ],
        ..DoubleConfig::default()
    }
}

fn start_double() -> TestDouble {
    TestDouble::start(double_config()).expect("start the IRIS test double")
}

fn pgiris_for(double: &TestDouble, tweak: impl FnOnce(&mut Settings)) -> IrisPgiris {
    start_pgiris(iris_settings(double.addr()), SERVICE_PASSWORD, tweak)
}

/// A port nothing listens on yet: bound (so no other test's socket can
/// take it meanwhile, as a released port could be) but not listening, so
/// connections to it are refused until [`ReservedPort::listen`].
struct ReservedPort {
    socket: socket2::Socket,
    addr: SocketAddr,
}

impl ReservedPort {
    fn listen(self) -> TcpListener {
        self.socket
            .listen(128)
            .expect("listen on the reserved port");
        self.socket.into()
    }
}

fn reserved_port() -> ReservedPort {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    socket.bind(&any.into()).expect("bind");
    let addr = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("an IP address");
    ReservedPort { socket, addr }
}

async fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        common::wait_until(timeout, cond).await,
        "timed out waiting for {what}"
    );
}

// ---------------------------------------------------------------------------
// Clients: tokio-postgres and psql.

#[tokio::test]
async fn tokio_postgres_session_pool_mode() {
    let double = start_double();
    let p = pgiris_for(&double, |s| s.backend.pool_size = 4);
    e2e::tokio_postgres_scenario(&p, ADMIN_USER, "USER", "e2e_tp_session").await;
    // Every IRIS connection was opened as the service account.
    assert!(
        double.login_users().iter().all(|u| u == "_SYSTEM"),
        "{:?}",
        double.login_users()
    );
    assert!(double.max_connections() <= 4);
}

#[tokio::test]
async fn tokio_postgres_transaction_pool_mode() {
    let double = start_double();
    let p = pgiris_for(&double, |s| {
        s.backend.pool_mode = PoolMode::Transaction;
        s.backend.pool_size = 2;
    });
    e2e::tokio_postgres_scenario(&p, ADMIN_USER, "USER", "e2e_tp_txn").await;
    // The cancel replaces a connection; the double may still be ending the
    // old one's job when the new one logs in (so may IRIS).
    assert!(
        double.max_connections() <= 3,
        "{}",
        double.max_connections()
    );
}

#[test]
fn psql_session_pool_mode() {
    let double = start_double();
    let p = pgiris_for(&double, |_| {});
    e2e::psql_scenario(p.addr, ADMIN_USER, "USER", "e2e_psql", &[]);
}

#[test]
fn psql_transaction_pool_mode() {
    let double = start_double();
    let p = pgiris_for(&double, |s| {
        s.backend.pool_mode = PoolMode::Transaction;
        s.backend.pool_size = 1;
    });
    e2e::psql_scenario(p.addr, ADMIN_USER, "USER", "e2e_psql_txn", &[]);
    // At most one, plus the cancelled one while its job ends.
    assert!(
        double.max_connections() <= 2,
        "{}",
        double.max_connections()
    );
}

#[tokio::test]
async fn session_functions_answer_from_pgiris() {
    let double = start_double();
    let p = pgiris_for(&double, |_| {});
    let c = connect(&p, USER_ALICE, "user").await;
    let row = c
        .query_one("SELECT current_user, current_database(), version()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), USER_ALICE);
    assert_eq!(row.get::<_, String>(1), "user");
    let version: String = row.get(2);
    assert!(
        version.contains("pgiris") && version.contains("InterSystems IRIS"),
        "{version}"
    );
}

/// The client cancels a long statement: IRIS has no cancel message, so the
/// executor closes the busy IRIS connection; the double sees it go, the
/// client gets 57014, and the next statement runs on a new connection.
#[tokio::test]
async fn cancel_replaces_the_busy_iris_connection() {
    let double = start_double();
    let p = pgiris_for(&double, |s| s.backend.pool_size = 2);
    let c = connect(&p, ADMIN_USER, "USER").await;
    let before = double.login_users().len();
    let (code, took) = cancel_after(
        &c,
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) SELECT COUNT(*) FROM n",
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(code, "57014");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(scalar(&c, "SELECT 40 + 2").await, "42");
    assert_eq!(
        double.login_users().len(),
        before + 1,
        "one new IRIS login replaced the cancelled connection"
    );
    wait_for(
        "the old IRIS connection to close",
        Duration::from_secs(5),
        || double.connection_count() == 1,
    )
    .await;
    // The pool serves other sessions too.
    let d = connect(&p, USER_BOB, "USER").await;
    assert_eq!(scalar(&d, "SELECT COUNT(*) FROM items").await, "0");
}

// ---------------------------------------------------------------------------
// Pool modes.

/// Transaction pool mode: ten clients over two IRIS connections. Each runs
/// transactions whose statements must all land on one IRIS connection
/// (`double_connection_id()`), interleaved with the others' statements.
#[tokio::test]
async fn transaction_mode_multiplexes_ten_clients_over_two_connections() {
    let double = start_double();
    let p = pgiris_for(&double, |s| {
        s.backend.pool_mode = PoolMode::Transaction;
        s.backend.pool_size = 2;
        s.backend.query_wait_timeout = Duration::from_secs(30);
    });
    let p = Arc::new(p);
    let mut tasks = Vec::new();
    for client in 0..10i32 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let c = connect(&p, ADMIN_USER, "USER").await;
            for n in 0..5i32 {
                c.batch_execute("BEGIN").await.unwrap();
                // Write first: SQLite (under the double) takes its write lock
                // here, so two transactions never wait on each other's reads.
                c.execute(
                    "INSERT INTO log (client, n, conn) VALUES ($1, $2, double_connection_id())",
                    &[&client, &n],
                )
                .await
                .unwrap();
                tokio::task::yield_now().await;
                let mut seen = Vec::new();
                for _ in 0..3 {
                    let row = c
                        .query_one("SELECT double_connection_id()", &[])
                        .await
                        .unwrap();
                    seen.push(row.get::<_, i32>(0));
                    tokio::task::yield_now().await;
                }
                let row = c
                    .query_one(
                        "SELECT conn FROM log WHERE client = $1 AND n = $2",
                        &[&client, &n],
                    )
                    .await
                    .unwrap();
                seen.push(row.get::<_, i32>(0));
                c.batch_execute("COMMIT").await.unwrap();
                assert!(
                    seen.windows(2).all(|w| w[0] == w[1]),
                    "client {client} transaction {n} moved between IRIS connections: {seen:?}"
                );
                // An autocommit statement between transactions.
                let row = c
                    .query_one("SELECT COUNT(*) FROM log WHERE client = $1", &[&client])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), n + 1);
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a client did not finish within 60 s")
            .expect("client task");
    }
    let c = connect(&p, ADMIN_USER, "USER").await;
    assert_eq!(scalar(&c, "SELECT COUNT(*) FROM log").await, "50");
    assert!(
        double.max_connections() <= 2,
        "the double saw {} connections at once",
        double.max_connections()
    );
    // Both connections were used.
    assert_eq!(
        scalar(&c, "SELECT COUNT(DISTINCT conn) FROM log").await,
        "2",
        "ten busy clients should have used both IRIS connections"
    );
}

/// Session pool mode: a session holds its IRIS connection from login to
/// logout; with two connections, ten clients take turns (the others wait
/// at login) and all complete.
#[tokio::test]
async fn session_mode_ten_clients_take_turns_on_two_connections() {
    let double = start_double();
    let p = Arc::new(pgiris_for(&double, |s| {
        s.backend.pool_size = 2;
        s.backend.query_wait_timeout = Duration::from_secs(30);
    }));
    let mut tasks = Vec::new();
    for client in 0..10i32 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let c = connect(&p, ADMIN_USER, "USER").await;
            let first = c
                .query_one("SELECT double_connection_id()", &[])
                .await
                .unwrap()
                .get::<_, i32>(0);
            for n in 0..5i32 {
                c.execute(
                    "INSERT INTO log (client, n, conn) VALUES ($1, $2, double_connection_id())",
                    &[&client, &n],
                )
                .await
                .unwrap();
            }
            let row = c
                .query_one(
                    "SELECT COUNT(*) FROM log WHERE client = $1 AND conn = $2",
                    &[&client, &first],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), 5, "the session kept its connection");
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a client did not finish within 60 s")
            .expect("client task");
    }
    assert!(
        double.max_connections() <= 2,
        "{}",
        double.max_connections()
    );
    let c = connect(&p, ADMIN_USER, "USER").await;
    assert_eq!(scalar(&c, "SELECT COUNT(*) FROM log").await, "50");
}

// ---------------------------------------------------------------------------
// Supervision.

/// pgiris starts while IRIS is down. A login that needs IRIS (session pool
/// mode) gets FATAL 08006 naming the address; repeated logins during the
/// outage do not turn into a connect attempt each (backoff); once IRIS is
/// up, logins work.
#[tokio::test]
async fn starts_while_iris_is_down_and_recovers() {
    let port = reserved_port();
    let addr = port.addr;
    let p = start_pgiris(iris_settings(addr), SERVICE_PASSWORD, |_| {});
    let e = try_connect_with(&pg_config(p.addr, ADMIN_USER, "USER"))
        .await
        .err()
        .expect("login while IRIS is down must fail");
    assert_eq!(code_of(&e), "08006", "{e:?}");
    let db = e.as_db_error().expect("a server error");
    assert_eq!(db.severity(), "FATAL");
    assert!(
        db.message()
            .contains(&format!("could not connect to IRIS at {addr}")),
        "{}",
        db.message()
    );

    // A burst of logins during the outage: each fails at once with the
    // same reason, and pgiris does not try to connect for each.
    let mark = p.log.mark();
    let start = Instant::now();
    for _ in 0..20 {
        let e = try_connect_with(&pg_config(p.addr, ADMIN_USER, "USER"))
            .await
            .err()
            .expect("still down");
        assert_eq!(code_of(&e), "08006");
    }
    let burst = start.elapsed();
    let attempts = p
        .log
        .since(mark)
        .iter()
        .filter(|r| r.msg == "backend connection failed")
        .count();
    assert!(
        attempts <= 2 + (burst.as_millis() / 200) as usize,
        "{attempts} connect attempts for 20 logins in {burst:?}"
    );

    // IRIS comes up on its address: new logins work within the backoff.
    let double = TestDouble::start_on(port.listen(), double_config()).expect("double");
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = loop {
        match try_connect_with(&pg_config(p.addr, ADMIN_USER, "USER")).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(code_of(&e), "08006", "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no login within 10 s of IRIS coming up: {e:?}"),
        }
    };
    assert_eq!(scalar(&c, "SELECT COUNT(*) FROM items").await, "0");
    assert_eq!(double.connection_count(), 1);
}

/// Transaction pool mode needs no IRIS connection to log in: the login
/// works while IRIS is down, statements get ERROR 08006 (the session stays),
/// and the same session works once IRIS is up.
#[tokio::test]
async fn transaction_mode_session_survives_an_outage() {
    let port = reserved_port();
    let p = start_pgiris(iris_settings(port.addr), SERVICE_PASSWORD, |s| {
        s.backend.pool_mode = PoolMode::Transaction;
    });
    let c = connect(&p, ADMIN_USER, "USER").await;
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), "08006", "{e:?}");
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), "08006", "{e:?}");
    let double = TestDouble::start_on(port.listen(), double_config()).expect("double");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.simple_query("SELECT 40 + 2").await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(code_of(&e), "08006", "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("session did not recover within 10 s: {e:?}"),
        }
    }
    assert_eq!(scalar(&c, "SELECT 40 + 2").await, "42");
    drop(double);
}

/// IRIS dies while a statement runs: the client gets an error at once (not
/// a hang), and the next statement runs on a fresh connection.
#[tokio::test]
async fn iris_killed_mid_statement() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let double = start_double();
        let p = pgiris_for(&double, |s| s.backend.pool_mode = mode);
        let c = connect(&p, ADMIN_USER, "USER").await;
        c.batch_execute("INSERT INTO items VALUES (1, 'one', 1)")
            .await
            .unwrap();
        let slow = c.simple_query(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) SELECT COUNT(*) FROM n",
        );
        let killer = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            double.kill_connections();
        };
        let start = Instant::now();
        let (r, ()) = tokio::time::timeout(Duration::from_secs(20), async {
            tokio::join!(slow, killer)
        })
        .await
        .expect("the statement ended after IRIS died (no hang)");
        let e = r.expect_err("the statement cannot succeed");
        assert_eq!(code_of(&e), "08006", "{mode:?}: {e:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        let row = c
            .query_one("SELECT name FROM items WHERE id = $1", &[&1i32])
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: next statement: {e:?}"));
        assert_eq!(row.get::<_, String>(0), "one");
    }
}

/// IRIS closes an idle connection (restart, idle timeout): pgiris notices
/// before sending and opens a new one, so the client sees nothing.
#[tokio::test]
async fn iris_connection_closed_while_idle_is_replaced() {
    let double = start_double();
    let p = pgiris_for(&double, |_| {});
    let c = connect(&p, ADMIN_USER, "USER").await;
    assert_eq!(scalar(&c, "SELECT 1").await, "1");
    double.kill_connections();
    wait_for("the double to close", Duration::from_secs(5), || {
        double.connection_count() == 0
    })
    .await;
    assert_eq!(scalar(&c, "SELECT 2").await, "2");
    assert_eq!(double.connection_count(), 1);
}

/// A transaction whose IRIS connection is lost (IRIS rolled it back) is
/// never continued on a new connection: every statement but ROLLBACK gets a
/// clear error, ROLLBACK TO SAVEPOINT included, and nothing of it commits.
#[tokio::test]
async fn a_lost_transaction_is_never_retried() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let double = start_double();
        let p = pgiris_for(&double, |s| s.backend.pool_mode = mode);
        let c = connect(&p, ADMIN_USER, "USER").await;
        let count = || async { scalar(&c, "SELECT COUNT(*) FROM items").await };

        // Lost while idle inside the transaction.
        c.batch_execute("BEGIN; INSERT INTO items VALUES (1, 'lost', 1); SAVEPOINT s1")
            .await
            .unwrap();
        double.kill_connections();
        wait_for("the double to close", Duration::from_secs(5), || {
            double.connection_count() == 0
        })
        .await;
        let e = c
            .batch_execute("INSERT INTO items VALUES (2, 'after', 2)")
            .await
            .expect_err("the transaction's connection is gone");
        assert_eq!(code_of(&e), "08006", "{mode:?}: {e:?}");
        let msg = e.as_db_error().map(|d| d.message().to_string()).unwrap();
        assert!(msg.contains("transaction was rolled back"), "{msg}");
        let e = c
            .batch_execute("ROLLBACK TO SAVEPOINT s1")
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "08006", "{mode:?}: ROLLBACK TO: {e:?}");
        let e = c.batch_execute("SELECT 1").await.unwrap_err();
        assert_eq!(code_of(&e), "25P02");
        // COMMIT of a failed transaction is a rollback.
        let msgs = c.simple_query("COMMIT").await.unwrap();
        assert!(matches!(
            msgs.last(),
            Some(tokio_postgres::SimpleQueryMessage::CommandComplete(0))
        ));
        assert_eq!(count().await, "0", "{mode:?}: nothing of it committed");

        // Lost in the middle of a statement.
        c.batch_execute("BEGIN; INSERT INTO items VALUES (3, 'lost', 3)")
            .await
            .unwrap();
        let slow = c.simple_query(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) SELECT COUNT(*) FROM n",
        );
        let killer = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            double.kill_connections();
        };
        let (r, ()) = tokio::join!(slow, killer);
        assert_eq!(code_of(&r.unwrap_err()), "08006");
        let e = c
            .batch_execute("ROLLBACK TO SAVEPOINT s1")
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "08006");
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count().await, "0", "{mode:?}");

        // Cancelled inside a transaction: the cancel closed the connection,
        // so the savepoint is gone with it.
        c.batch_execute("BEGIN; SAVEPOINT s1; INSERT INTO items VALUES (4, 'lost', 4)")
            .await
            .unwrap();
        let (code, _) = cancel_after(
            &c,
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) SELECT COUNT(*) FROM n",
            Duration::from_millis(300),
        )
        .await;
        assert_eq!(code, "57014");
        let e = c
            .batch_execute("ROLLBACK TO SAVEPOINT s1")
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "08006", "{mode:?}: {e:?}");
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(count().await, "0", "{mode:?}");

        // And the session is fine afterwards.
        c.batch_execute("BEGIN; INSERT INTO items VALUES (5, 'kept', 5); COMMIT")
            .await
            .unwrap();
        assert_eq!(count().await, "1", "{mode:?}");
    }
}

// ---------------------------------------------------------------------------
// hba method `iris`.

const IRIS_HBA: &str = "\
host all alice 127.0.0.1/32 iris
host all carol 127.0.0.1/32 iris allow_plaintext=1
host all all 127.0.0.1/32 trust
";

fn with_iris_hba(dir: &std::path::Path, s: &mut Settings, tls: bool) {
    let hba = dir.join("iris_hba.conf");
    std::fs::write(&hba, IRIS_HBA).expect("write hba");
    s.auth.hba_file = hba.to_string_lossy().into_owned();
    if tls {
        s.tls.cert_file = dir.join("server.crt").to_string_lossy().into_owned();
        s.tls.key_file = dir.join("server.key").to_string_lossy().into_owned();
        s.tls.generate_dev_cert = true;
    }
}

fn pg_with_password(addr: SocketAddr, user: &str, password: &str) -> tokio_postgres::Config {
    let mut c = pg_config(addr, user, "USER");
    c.password(password);
    c
}

/// Without `allow_plaintext=1`, the `iris` method refuses plaintext TCP
/// (28000) before asking for a password; with it, the cleartext password is
/// checked by logging in to IRIS as that user, a wrong one is 28P01 with
/// PostgreSQL's text, and the session's IRIS connections run as that user.
#[tokio::test]
async fn hba_iris_method_over_plaintext() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let double = start_double();
        let dir = tempfile::tempdir().unwrap();
        let p = pgiris_for(&double, |s| {
            with_iris_hba(dir.path(), s, false);
            s.backend.pool_mode = mode;
        });

        let e = try_connect_with(&pg_with_password(p.addr, "alice", "alice-iris-pw"))
            .await
            .err()
            .expect("plaintext refused");
        assert_eq!(code_of(&e), "28000", "{e:?}");
        assert!(
            e.as_db_error().unwrap().message().starts_with(
                "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\""
            ),
            "{e:?}"
        );
        assert!(double.login_users().is_empty(), "no IRIS login was tried");

        let e = try_connect_with(&pg_with_password(p.addr, "carol", "Wr0ng-Secret-42"))
            .await
            .err()
            .expect("wrong password refused");
        assert_eq!(code_of(&e), "28P01", "{e:?}");
        assert_eq!(
            e.as_db_error().unwrap().message(),
            "password authentication failed for user \"carol\""
        );
        assert!(
            !p.log.dump().contains("Wr0ng-Secret-42"),
            "the password must not be logged"
        );

        let c = try_connect_with(&pg_with_password(p.addr, "carol", "carol-iris-pw"))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: carol: {e:?}\n{}", p.log.dump()));
        assert_eq!(scalar(&c, "SELECT current_user").await, "carol");
        c.execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            &[&1i32, &"by carol"],
        )
        .await
        .unwrap();
        // Carol's statements ran on an IRIS connection logged in as carol.
        let ids: Vec<String> = double.login_users();
        assert!(
            ids.iter().all(|u| u == "carol"),
            "{mode:?}: IRIS logins {ids:?}"
        );
        // A trust user runs as the service account.
        let b = connect(&p, USER_BOB, "USER").await;
        assert_eq!(scalar(&b, "SELECT name FROM items").await, "by carol");
        assert!(double.login_users().contains(&"_SYSTEM".to_string()));
        if mode == PoolMode::Session {
            assert_eq!(
                double.connection_users(),
                vec!["_SYSTEM".to_string(), "carol".to_string()]
            );
        }
    }
}

/// Over TLS the `iris` method needs no `allow_plaintext`: psql with
/// sslmode=require logs in as alice with her IRIS password.
#[test]
fn hba_iris_method_over_tls() {
    let double = start_double();
    let dir = tempfile::tempdir().unwrap();
    let p = pgiris_for(&double, |s| with_iris_hba(dir.path(), s, true));
    let env_ok = [("PGSSLMODE", "require"), ("PGPASSWORD", "alice-iris-pw")];
    let out = psql_env(
        p.addr,
        "alice",
        "USER",
        &[
            "-Atq",
            "-c",
            "SELECT current_user",
            "-c",
            "INSERT INTO items (id, name) VALUES (7, 'by alice')",
            "-c",
            "SELECT name FROM items WHERE id = 7",
        ],
        &env_ok,
    );
    assert!(out.success(), "{out:?}\n{}", p.log.dump());
    assert_eq!(out.stdout, "alice\nby alice\n");
    assert_eq!(double.login_users(), vec!["alice".to_string()]);

    let out = psql_env(
        p.addr,
        "alice",
        "USER",
        &["-c", "SELECT 1"],
        &[("PGSSLMODE", "require"), ("PGPASSWORD", "wrong")],
    );
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("FATAL:  password authentication failed for user \"alice\""),
        "{}",
        out.stderr
    );
    // Plaintext is still refused for alice.
    let out = psql_env(
        p.addr,
        "alice",
        "USER",
        &["-c", "SELECT 1"],
        &[("PGSSLMODE", "disable"), ("PGPASSWORD", "alice-iris-pw")],
    );
    assert!(!out.success());
    assert!(
        out.stderr.contains("pg_hba.conf rejects connection"),
        "{}",
        out.stderr
    );
    assert_eq!(double.login_users(), vec!["alice".to_string()]);
}

// ---------------------------------------------------------------------------
// Namespaces.

/// `database` selects the IRIS namespace (case-insensitively); a name
/// outside the allowed list, or one IRIS does not know, is FATAL 3D000.
#[tokio::test]
async fn database_selects_the_namespace() {
    let double = start_double();
    let p = pgiris_for(&double, |_| {});
    let user = connect(&p, ADMIN_USER, "USER").await;
    user.batch_execute("INSERT INTO items VALUES (1, 'in USER', 1)")
        .await
        .unwrap();
    let samples = connect(&p, ADMIN_USER, "samples").await;
    assert_eq!(
        scalar(&samples, "SELECT COUNT(*) FROM items").await,
        "0",
        "SAMPLES is its own namespace"
    );
    assert_eq!(scalar(&user, "SELECT COUNT(*) FROM items").await, "1");

    for (db, why) in [("OTHER", "not allowed"), ("GHOST", "unknown to IRIS")] {
        let e = try_connect_with(&pg_config(p.addr, ADMIN_USER, db))
            .await
            .err()
            .unwrap_or_else(|| panic!("{db} ({why}) must be refused"));
        assert_eq!(code_of(&e), "3D000", "{db}: {e:?}");
        let d = e.as_db_error().unwrap();
        assert_eq!(d.severity(), "FATAL");
        assert_eq!(
            d.message().to_ascii_uppercase(),
            format!("DATABASE \"{db}\" DOES NOT EXIST")
        );
    }
}
