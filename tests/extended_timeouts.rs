//! Black-box tests of the session timeouts set every way a client can: in
//! the configuration file's defaults, with SET and SET LOCAL (simple and
//! extended protocol), and with startup options. `statement_timeout` ends a
//! statement with 57014 "canceling statement due to statement timeout";
//! `idle_in_transaction_session_timeout` ends the session with FATAL 25P03,
//! `idle_session_timeout` with FATAL 57P05. (The foundation tests cover the
//! configuration path of the idle timeouts and SET of the idle-in-transaction
//! one.)

mod common;

use std::time::{Duration, Instant};

use common::ext::{bind, briefs, exchange_brief, execute, parse, sync};
use common::raw::{assert_error, message_of, scalar, status};
use common::{ADMIN_USER, RawClient, TestServer, code_of, pg_config, try_connect_with};
use pgiris::config::PoolMode;

const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

const TIMEOUT_MESSAGE: &str = "canceling statement due to statement timeout";

const WAIT: Duration = Duration::from_secs(5);

/// Runs ENDLESS (simple protocol) and asserts it ends with the
/// statement-timeout error after about `timeout`; returns the status.
async fn times_out(c: &mut RawClient, timeout: Duration) -> u8 {
    let t0 = Instant::now();
    let r = c.query(ENDLESS).await;
    let took = t0.elapsed();
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(message_of(&r[0]), TIMEOUT_MESSAGE);
    // The upper bound only checks that the timeout, not something else,
    // ended it: generous, for a debug build on a busy machine.
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(3),
        "timed out after {took:?}, want {timeout:?}"
    );
    status(&r)
}

/// Runs ENDLESS and cancels it after `after`: it must still be running
/// then (no timeout applied), and end with the user-request error.
async fn runs_past(
    c: &mut RawClient,
    pid: i32,
    secret: &[u8],
    addr: std::net::SocketAddr,
    after: Duration,
) {
    c.send_query(ENDLESS).await;
    tokio::time::sleep(after).await;
    let mut k = RawClient::connect(addr).await;
    k.send_cancel(pid, secret).await;
    k.expect_closed().await;
    let r = c.read_until_ready().await;
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(
        message_of(&r[0]),
        "canceling statement due to user request",
        "the statement should have run until cancelled"
    );
}

#[tokio::test]
async fn statement_timeout_from_the_configuration_and_overridden_by_set() {
    let server = TestServer::with(|s| s.server.statement_timeout = Duration::from_millis(300));
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "300ms");
    assert_eq!(times_out(&mut c, Duration::from_millis(300)).await, b'I');
    // SET 0 turns it off.
    c.query("SET statement_timeout = 0").await;
    runs_past(
        &mut c,
        login.pid,
        &login.secret,
        server.addr,
        Duration::from_millis(600),
    )
    .await;
    // A bare number is milliseconds.
    c.query("SET statement_timeout = 150").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "150ms");
    assert_eq!(times_out(&mut c, Duration::from_millis(150)).await, b'I');
    // RESET goes back to the configuration's value.
    c.query("RESET statement_timeout").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "300ms");
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
}

/// Over the extended protocol, in both pool modes: the timeout set by an
/// extended-protocol SET cancels an Execute; the rest of the batch is
/// skipped and the session goes on.
#[tokio::test]
async fn statement_timeout_set_over_the_extended_protocol() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let server = TestServer::with(|s| s.backend.pool_mode = mode);
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        let r = exchange_brief(
            &mut c,
            &[
                parse("", "SET statement_timeout = '200ms'", &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        )
        .await;
        assert_eq!(r, ["1", "2", "C SET", "Z I"]);
        let t0 = Instant::now();
        let r = exchange_brief(
            &mut c,
            &[
                parse("", ENDLESS, &[]),
                bind("", "", &[]),
                execute("", 0),
                parse("", "SELECT 1", &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        )
        .await;
        let took = t0.elapsed();
        assert_eq!(
            r,
            ["1", "2", &format!("E ERROR 57014 {TIMEOUT_MESSAGE}"), "Z I"],
            "{mode:?}"
        );
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(4),
            "{took:?}"
        );
        let r = exchange_brief(
            &mut c,
            &[
                parse("", "SELECT 2", &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        )
        .await;
        assert_eq!(r, ["1", "2", "D [2]", "C SELECT 1", "Z I"]);
    }
}

/// SET LOCAL lasts until the end of the transaction: it times out a
/// statement inside the block, and is gone after COMMIT or ROLLBACK. A
/// plain SET inside a block that rolls back is undone too.
#[tokio::test]
async fn statement_timeout_set_local_lasts_one_transaction() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("BEGIN").await;
    c.query("SET LOCAL statement_timeout = '200ms'").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "200ms");
    assert_eq!(times_out(&mut c, Duration::from_millis(200)).await, b'E');
    assert_eq!(status(&c.query("ROLLBACK").await), b'I');
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "0");
    runs_past(
        &mut c,
        login.pid,
        &login.secret,
        server.addr,
        Duration::from_millis(400),
    )
    .await;

    // Committed: still only for that transaction.
    c.query("BEGIN").await;
    c.query("SET LOCAL statement_timeout = 100").await;
    c.query("COMMIT").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "0");

    // A session-level SET in a rolled-back block is undone.
    c.query("BEGIN").await;
    c.query("SET statement_timeout = '100ms'").await;
    c.query("ROLLBACK").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "0");
    // ... and kept when the block commits.
    c.query("BEGIN").await;
    c.query("SET statement_timeout = '150ms'").await;
    c.query("COMMIT").await;
    assert_eq!(times_out(&mut c, Duration::from_millis(150)).await, b'I');

    // SET LOCAL outside a block warns and changes nothing.
    c.query("RESET statement_timeout").await;
    let r = c.query("SET LOCAL statement_timeout = '100ms'").await;
    assert_eq!(
        briefs(&r),
        [
            "N WARNING 25P01 SET LOCAL can only be used in transaction blocks",
            "C SET",
            "Z I"
        ]
    );
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "0");
}

/// A timeout that expires before the backend started the statement (a
/// statement that takes long to parse and prepare) still stops it.
#[tokio::test]
async fn statement_timeout_before_the_statement_gets_going() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let list: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
    let sql = format!(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
         SELECT count(*) FROM r WHERE n IN ({})",
        list.join(",")
    );
    c.query("SET statement_timeout = 20").await;
    // Working through the list takes seconds on a busy machine before the
    // timeout can stop the statement; a lost timeout runs forever, so a
    // generous bound still tells them apart.
    c.timeout = Duration::from_secs(30);
    for _ in 0..2 {
        let r = tokio::time::timeout(Duration::from_secs(30), c.query(&sql))
            .await
            .expect("the timeout was lost: the statement ran on");
        assert_eq!(
            briefs(&r),
            [format!("E ERROR 57014 {TIMEOUT_MESSAGE}"), "Z I".to_owned()]
        );
    }
    // The session goes on (without the 20 ms timeout, which a busy machine
    // can exceed even for SELECT 1).
    c.query("SET statement_timeout = 0").await;
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
}

/// Startup options (`-c statement_timeout=...`) set the session's value.
#[tokio::test]
async fn statement_timeout_from_startup_options() {
    let server = TestServer::start();
    let mut config = pg_config(server.addr, ADMIN_USER, "postgres");
    config.options("-c statement_timeout=250");
    let c = try_connect_with(&config).await.expect("connect");
    let shown = c
        .simple_query("SHOW statement_timeout")
        .await
        .expect("show");
    let value = shown.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("250ms"));
    let t0 = Instant::now();
    let e = c.simple_query(ENDLESS).await.expect_err("timed out");
    assert_eq!(code_of(&e), "57014");
    assert_eq!(e.as_db_error().map(|d| d.message()), Some(TIMEOUT_MESSAGE));
    assert!(t0.elapsed() >= Duration::from_millis(250));
    // A prepared statement is timed out the same way.
    let e = c.query(ENDLESS, &[]).await.expect_err("timed out");
    assert_eq!(code_of(&e), "57014");
    assert_eq!(
        c.query_one("SELECT 1::int4", &[])
            .await
            .expect("usable")
            .get::<_, i32>(0),
        1
    );
}

#[tokio::test]
async fn idle_session_timeout_set_by_the_client() {
    let server = TestServer::start();
    // Simple protocol.
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    // The server's idle clock starts when it sends ReadyForQuery, which is
    // after this instant and before the client reads it: the lower bound is
    // taken before the SET goes out, so delivery delay cannot make it fail.
    let idle_from = Instant::now();
    c.query("SET idle_session_timeout = '300ms'").await;
    let e = c.expect_fatal("57P05").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to idle-session timeout"
    );
    assert!(idle_from.elapsed() >= Duration::from_millis(300));

    // Extended protocol; activity before the deadline keeps it alive, and an
    // open transaction block is not idle-session time. The timeout leaves a
    // wide margin over the 150 ms pauses (a busy machine may stall the
    // client between reading an answer and sending the next query).
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SET idle_session_timeout = 1000", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "C SET", "Z I"]);
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(scalar(&c.query("SELECT 1").await), "1");
    }
    c.query("BEGIN").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(status(&c.query("COMMIT").await), b'I');
    let e = c.expect_fatal("57P05").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to idle-session timeout"
    );
    server.wait_sessions(0, WAIT).await;
}

#[tokio::test]
async fn idle_in_transaction_timeout_from_the_configuration_and_set_local() {
    let server = TestServer::with(|s| {
        s.server.idle_in_transaction_session_timeout = Duration::from_millis(300)
    });
    // The configured default, over the extended protocol: BEGIN, Sync, idle.
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "BEGIN", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "C BEGIN", "Z T"]);
    let e = c.expect_fatal("25P03").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to idle-in-transaction timeout"
    );

    // Turned off for one transaction with SET LOCAL, back after it.
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("BEGIN").await;
    c.query("SET LOCAL idle_in_transaction_session_timeout = 0")
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status(&c.query("COMMIT").await), b'I');
    assert_eq!(
        scalar(&c.query("SHOW idle_in_transaction_session_timeout").await),
        "300ms"
    );
    c.query("BEGIN").await;
    c.expect_fatal("25P03").await;
    server.wait_sessions(0, WAIT).await;
}
