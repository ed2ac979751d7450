//! Black-box tests of backend connections under the extended protocol:
//! a client that disconnects mid-statement has the statement interrupted
//! and its transaction (explicit or the implicit one of an unfinished batch)
//! rolled back, and its connection goes back to the pool clean (with one
//! connection in the pool, the next client gets it at once); in transaction
//! pool mode a few connections serve many clients, and a transaction's
//! statements stay on one connection.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ext::{bind, execute, parse, sync};
use common::raw::{encode, scalar, tags};
use common::{ADMIN_USER, RawClient, TestServer, code_of, connect};
use pgiris::config::PoolMode;
use pgiris::wire::frontend::FrontendMessage;

const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

const WAIT: Duration = Duration::from_secs(5);

/// How long the next client may wait for the only connection after the
/// previous client vanished mid-statement.
const PROMPT: Duration = Duration::from_secs(1);

/// One pooled connection; a leaked lease would make the next checkout wait
/// `query_wait_timeout` and fail.
fn one_connection(mode: PoolMode) -> TestServer {
    TestServer::with(|s| {
        s.backend.pool_mode = mode;
        s.backend.pool_size = 1;
        s.backend.query_wait_timeout = Duration::from_secs(3);
    })
}

/// How a client leaves.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// Orderly close (FIN).
    Close,
    /// Reset (RST), as a killed client's kernel may send.
    Reset,
}

fn leave(c: RawClient, how: Leave) {
    match how {
        Leave::Close => drop(c),
        Leave::Reset => c.abort(),
    }
}

/// The next client (in session mode its login takes the connection) gets
/// in and sees a clean state promptly; returns it.
async fn next_client(server: &TestServer) -> RawClient {
    let t0 = Instant::now();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    // Writes at once: no transaction (and no SQLite write lock) was left
    // open, and no temp table of the previous client survives.
    let r = c.query("INSERT INTO t VALUES (100)").await;
    assert_eq!(tags(&r), ["INSERT 0 1"], "{r:#?}");
    let r = c.query("SELECT count(*) FROM leftover").await;
    assert_eq!(
        common::ext::briefs(&r)[0],
        "E ERROR 42P01 relation \"leftover\" does not exist"
    );
    assert!(
        t0.elapsed() < PROMPT,
        "the next client waited {:?} for the connection",
        t0.elapsed()
    );
    c
}

async fn setup(server: &TestServer) {
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("CREATE TABLE t (a int)").await;
    c.terminate().await;
    server.wait_sessions(0, WAIT).await;
}

/// Explicit transaction: BEGIN, INSERT, a temp table, then an endless
/// Execute; the client vanishes.
#[tokio::test]
async fn a_client_vanishing_mid_execute_in_a_block_is_rolled_back() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        for how in [Leave::Close, Leave::Reset] {
            let server = one_connection(mode);
            setup(&server).await;
            let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
            c.query("BEGIN").await;
            c.query("INSERT INTO t VALUES (1)").await;
            c.query("CREATE TEMP TABLE leftover (a int)").await;
            c.send(&encode(&[
                parse("", ENDLESS, &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ]))
            .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            leave(c, how);
            server.wait_sessions(0, WAIT).await;
            let mut c = next_client(&server).await;
            assert_eq!(
                scalar(&c.query("SELECT count(*) FROM t").await),
                "1",
                "{mode:?} {how:?}: only the new client's row"
            );
            c.terminate().await;
        }
    }
}

/// The implicit transaction of an unfinished batch (no Sync yet): the
/// INSERT before the endless Execute is rolled back, the statements after
/// it never run.
#[tokio::test]
async fn a_client_vanishing_mid_batch_leaves_nothing_behind() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let server = one_connection(mode);
        setup(&server).await;
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        c.send(&encode(&[
            parse("ins", "INSERT INTO t VALUES ($1)", &[]),
            bind("", "ins", &[Some("1")]),
            execute("", 0),
            parse("", ENDLESS, &[]),
            bind("", "", &[]),
            execute("", 0),
            bind("", "ins", &[Some("2")]),
            execute("", 0),
        ]))
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.abort();
        server.wait_sessions(0, WAIT).await;
        let mut c = next_client(&server).await;
        assert_eq!(
            scalar(&c.query("SELECT count(*) FROM t").await),
            "1",
            "{mode:?}"
        );
        c.terminate().await;
    }
}

/// Vanishing while statements are queued behind the running one, many
/// times over, on one pooled connection: the running statement is
/// interrupted, nothing queued behind it runs (the session ends with it),
/// and every time the next client gets the connection at once.
#[tokio::test]
async fn repeated_abandoned_statements_do_not_leak_the_connection() {
    let server = one_connection(PoolMode::Transaction);
    setup(&server).await;
    let endless_write = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
                         INSERT INTO t SELECT count(*) FROM r";
    for i in 0..6 {
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        // A write in autocommit mode that never finishes, then another
        // transaction queued behind it, over either protocol.
        let mut msgs = if i % 2 == 0 {
            vec![FrontendMessage::Query(endless_write.into())]
        } else {
            vec![
                parse("", endless_write, &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ]
        };
        msgs.push(FrontendMessage::Query("INSERT INTO t VALUES (-1)".into()));
        c.send(&encode(&msgs)).await;
        if i % 3 == 1 {
            // Let it start (the others vanish before their turn).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        leave(c, if i == 5 { Leave::Reset } else { Leave::Close });
    }
    server.wait_sessions(0, WAIT).await;
    let mut c = next_client(&server).await;
    assert_eq!(scalar(&c.query("SELECT count(*) FROM t").await), "1");
    assert_eq!(server.pending(), 0);
    c.terminate().await;
}

/// Transaction pool mode, two connections, ten clients at once: all of
/// them finish, and each transaction's statements (with other clients'
/// transactions interleaved) run on one connection: a temp table created
/// in the transaction is there for its later statements.
#[tokio::test]
async fn transaction_mode_multiplexes_ten_clients_over_two_connections() {
    const CLIENTS: usize = 10;
    const TRANSACTIONS: usize = 8;
    let server = TestServer::with(|s| {
        s.backend.pool_mode = PoolMode::Transaction;
        s.backend.pool_size = 2;
        s.backend.query_wait_timeout = Duration::from_secs(10);
    });
    let setup = connect(server.addr, ADMIN_USER, "postgres").await;
    setup
        .batch_execute("CREATE TABLE log (client int, tx int)")
        .await
        .expect("create");
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let addr = server.addr;
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let c = connect(addr, ADMIN_USER, "postgres").await;
                // Every client holds a session before any transaction runs.
                barrier.wait().await;
                let insert = c
                    .prepare("INSERT INTO log VALUES ($1, $2)")
                    .await
                    .expect("prepare");
                for tx in 0..TRANSACTIONS {
                    c.batch_execute("BEGIN").await.expect("begin");
                    c.batch_execute("CREATE TEMP TABLE mine (a int)")
                        .await
                        .expect("temp table");
                    c.execute(&insert, &[&(client as i32), &(tx as i32)])
                        .await
                        .expect("insert");
                    // Let the other clients run in between.
                    tokio::task::yield_now().await;
                    c.execute("INSERT INTO mine VALUES ($1)", &[&(tx as i32)])
                        .await
                        .unwrap_or_else(|e| {
                            panic!("client {client} tx {tx}: the transaction moved: {e:?}")
                        });
                    let n: i64 = c
                        .query_one("SELECT count(*) FROM mine", &[])
                        .await
                        .expect("count")
                        .get(0);
                    assert_eq!(n, 1);
                    c.batch_execute("DROP TABLE mine").await.expect("drop");
                    c.batch_execute("COMMIT").await.expect("commit");
                }
                // Between transactions nothing is held: a temp table made
                // in autocommit mode does not outlive its statement's
                // connection lease in a way others can see.
                c.batch_execute("SELECT 1").await.expect("select");
            })
        })
        .collect();
    for c in clients {
        c.await.expect("a client finished");
    }
    let n: i64 = setup
        .query_one("SELECT count(*) FROM log", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, (CLIENTS * TRANSACTIONS) as i64);
    eprintln!(
        "{CLIENTS} clients x {TRANSACTIONS} transactions over 2 connections in {:?}",
        t0.elapsed()
    );
}

/// The contrast: in session mode a client holds its connection for the
/// whole session, so with two connections a third client waits, and gets
/// 53300 when none frees up in time; once one leaves, it gets in.
#[tokio::test]
async fn session_mode_holds_a_connection_per_client() {
    let server = TestServer::with(|s| {
        s.backend.pool_mode = PoolMode::Session;
        s.backend.pool_size = 2;
        // Long enough for the first two logins to open their connections
        // on a busy machine (each waits this long at most).
        s.backend.query_wait_timeout = Duration::from_secs(2);
    });
    let a = connect(server.addr, ADMIN_USER, "postgres").await;
    let _b = connect(server.addr, ADMIN_USER, "postgres").await;
    let e = common::try_connect_with(&common::pg_config(server.addr, ADMIN_USER, "postgres"))
        .await
        .err()
        .expect("no third connection");
    assert_eq!(code_of(&e), "53300");
    drop(a);
    server.wait_sessions(1, WAIT).await;
    let c = connect(server.addr, ADMIN_USER, "postgres").await;
    let one: i32 = c
        .query_one("SELECT 1::int4", &[])
        .await
        .expect("select")
        .get(0);
    assert_eq!(one, 1);
}
