//! Black-box tests of a session's life against the in-process server: the
//! login deadline, idle and statement timeouts, cancellation, panics (in a
//! session and in a backend call) and clients that vanish mid-statement.

mod common;

use std::time::{Duration, Instant};

use common::raw::{V3_0, assert_error, message_of, scalar, status};
use common::{ADMIN_USER, RawClient, TestServer, USER_ALICE};
use pgiris::wire::backend::BackendMessage;

const SHORT: Duration = Duration::from_secs(5);

/// A statement that runs until interrupted.
const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

#[tokio::test]
async fn the_login_deadline_drops_stalled_clients_silently() {
    let server = TestServer::with(|s| s.server.login_timeout = Duration::from_secs(1));
    let mark = server.log.mark();
    let started = Instant::now();
    // Sends nothing at all.
    let mut silent = RawClient::connect(server.addr).await;
    // Sends half a startup packet.
    let mut partial = RawClient::connect(server.addr).await;
    let packet = pgiris::wire::startup::encode_startup(V3_0, &[("user", ADMIN_USER)]);
    partial.send(&packet[..10]).await;
    // Sends an SSLRequest, gets 'N', then stalls.
    let mut after_ssl = RawClient::connect(server.addr).await;
    after_ssl.send_ssl_request().await;
    assert_eq!(after_ssl.read_bytes(1).await, b"N");
    for c in [&mut silent, &mut partial, &mut after_ssl] {
        c.timeout = Duration::from_secs(4);
        c.expect_closed().await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
    let ok = common::wait_until(SHORT, || {
        server
            .log
            .since(mark)
            .iter()
            .filter(|r| r.event() == Some("login_timeout"))
            .count()
            == 3
    })
    .await;
    assert!(
        ok,
        "expected 3 login_timeout events:\n{}",
        server.log.dump()
    );
    server.wait_sessions(0, SHORT).await;
    // A prompt client is not affected.
    let (c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.terminate().await;
}

/// Needs an authentication method that waits for the client (SCRAM); the
/// interim authentication module accepts every login with trust.
#[tokio::test]
async fn the_login_deadline_covers_a_stalled_authentication_exchange() {
    let server = TestServer::with(|s| {
        s.server.login_timeout = Duration::from_secs(1);
        let hba = std::path::Path::new(&s.auth.hba_file).to_path_buf();
        std::fs::write(&hba, "host all all 127.0.0.1/32 scram-sha-256\n").expect("hba");
    });
    let mark = server.log.mark();
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
    match c.read_message().await {
        BackendMessage::Authentication { code: 10, .. } => {}
        other => panic!("expected AuthenticationSASL, got {other:?}"),
    }
    c.timeout = Duration::from_secs(4);
    // PostgreSQL says nothing when authentication_timeout expires.
    let rest = c.read_until_closed().await;
    assert!(rest.is_empty(), "{rest:?}");
    server
        .log
        .wait_for(mark, SHORT, "login_timeout", |r| {
            r.event() == Some("login_timeout")
        })
        .await;
    server.wait_sessions(0, SHORT).await;
}

/// Needs an authentication method that reads a message (SCRAM).
#[tokio::test]
async fn a_bad_message_length_during_authentication_is_fatal_08p01() {
    let server = TestServer::with(|s| {
        let hba = std::path::Path::new(&s.auth.hba_file).to_path_buf();
        std::fs::write(&hba, "host all all 127.0.0.1/32 scram-sha-256\n").expect("hba");
    });
    for header in [[b'p', 0, 0, 0, 3], [b'p', 0, 0, 0x27, 0x12]] {
        // 3 < 4; 10002 > 10,000 (the limit before authentication).
        let mut c = RawClient::connect(server.addr).await;
        c.send_startup(V3_0, &[("user", ADMIN_USER)]).await;
        match c.read_message().await {
            BackendMessage::Authentication { code: 10, .. } => {}
            other => panic!("expected AuthenticationSASL, got {other:?}"),
        }
        c.send(&header).await;
        c.expect_fatal("08P01").await;
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn idle_session_timeout_ends_the_session_with_57p05() {
    // The timeout leaves a wide margin over the 150 ms pauses below (a busy
    // machine may stall the client between an answer and the next query).
    let server = TestServer::with(|s| s.server.idle_session_timeout = Duration::from_millis(1200));
    let mark = server.log.mark();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    // Activity keeps it alive past the timeout.
    // The idle clock restarts at each ReadyForQuery; the lower bound is the
    // instant before the last query went out, never after its answer arrived.
    let mut idle_from = Instant::now();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        idle_from = Instant::now();
        assert_eq!(scalar(&c.query("SELECT 1").await), "1");
    }
    let e = c.expect_fatal("57P05").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to idle-session timeout"
    );
    assert!(idle_from.elapsed() >= Duration::from_millis(1200));
    server
        .log
        .wait_for(mark, SHORT, "session_timeout", |r| {
            r.event() == Some("session_timeout")
        })
        .await;
    server.wait_sessions(0, SHORT).await;

    // Inside a transaction block the idle-session timer does not run.
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("BEGIN").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&c.query("SELECT 1").await), b'T');
    c.terminate().await;
}

#[tokio::test]
async fn idle_in_transaction_timeout_ends_the_session_with_25p03() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    c.query("SET idle_in_transaction_session_timeout = '200ms'")
        .await;
    // Idle outside a transaction: nothing happens.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        c.query("BEGIN").await.last(),
        Some(&BackendMessage::ReadyForQuery(b'T'))
    );
    let e = c.expect_fatal("25P03").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to idle-in-transaction timeout"
    );
    server.wait_sessions(0, SHORT).await;

    // A failed block counts as a transaction too.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    c.query("SET idle_in_transaction_session_timeout = '200ms'")
        .await;
    c.query("BEGIN").await;
    assert_eq!(status(&c.query("SELECT * FROM nosuch").await), b'E');
    c.expect_fatal("25P03").await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn statement_timeout_cancels_a_long_statement_with_57014() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("SET statement_timeout = '200ms'").await;
    let started = Instant::now();
    let r = c.query(ENDLESS).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(
        message_of(&r[0]),
        "canceling statement due to statement timeout"
    );
    assert_eq!(r[1], BackendMessage::ReadyForQuery(b'I'));
    // Inside a block the timeout fails the block.
    c.query("BEGIN").await;
    let r = c.query(ENDLESS).await;
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(status(&r), b'E');
    c.query("ROLLBACK").await;
    // The session and its backend connection are fine afterwards.
    c.query("RESET statement_timeout").await;
    assert_eq!(scalar(&c.query("SELECT 7").await), "7");
    c.terminate().await;
}

#[tokio::test]
async fn a_cancel_request_interrupts_the_running_statement() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.send_query(ENDLESS).await;
    // Cancel until it lands (the statement may not have started yet).
    let deadline = Instant::now() + SHORT;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let canceller = tokio::spawn({
        let addr = server.addr;
        let secret = login.secret.clone();
        let (stop, sent) = (stop.clone(), sent.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut k = RawClient::connect(addr).await;
                k.send_cancel(login.pid, &secret).await;
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                k.expect_closed().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let r = c.read_until_ready().await;
    assert!(Instant::now() < deadline);
    // Let the canceller finish the cancel it may be sending, and the server
    // handle every cancel sent: one still in flight would otherwise hit
    // the next statement (as it did on a loaded machine).
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    canceller.await.expect("canceller");
    let all_handled = common::wait_until(SHORT, || {
        server
            .stats()
            .cancels_matched
            .load(std::sync::atomic::Ordering::SeqCst)
            == sent.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    assert!(all_handled, "the server did not handle every cancel sent");
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(message_of(&r[0]), "canceling statement due to user request");
    assert_eq!(status(&r), b'I');
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
    c.terminate().await;
}

#[tokio::test]
async fn a_panic_in_one_session_ends_only_that_session() {
    let server = TestServer::with(|s| {
        s.testing.panic_in_session_on_query = "SELECT 'boom'".into();
    });
    let (mut other, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    other.query("CREATE TABLE survivors (a int)").await;
    let (mut victim, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(server.sessions(), 2);
    victim.query("BEGIN").await;
    victim.query("INSERT INTO survivors VALUES (1)").await;
    victim.send_query("SELECT 'boom'").await;
    let rest = victim.read_until_closed().await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, BackendMessage::ReadyForQuery(_))),
        "{rest:#?}"
    );
    // The slot is released and the open transaction rolled back.
    server.wait_sessions(1, SHORT).await;
    assert_eq!(
        scalar(&other.query("SELECT count(*) FROM survivors").await),
        "0"
    );
    other.query("INSERT INTO survivors VALUES (2)").await;
    // New sessions connect and work.
    for _ in 0..2 {
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        assert_eq!(
            scalar(&c.query("SELECT count(*) FROM survivors").await),
            "1"
        );
        c.terminate().await;
    }
    other.terminate().await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn a_panicking_backend_call_fails_only_its_statement() {
    let server = TestServer::with(|s| {
        s.testing.panic_on_query = "SELECT 'backend boom'".into();
        s.backend.pool_size = 1;
    });
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("CREATE TABLE kept (a int)").await;
    for _ in 0..3 {
        let r = c.query("SELECT 'backend boom'").await;
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_error(&r[0], "ERROR", "XX000");
        assert_eq!(status(&r), b'I');
        // The same session goes on, on a replacement connection.
        assert_eq!(scalar(&c.query("SELECT count(*) FROM kept").await), "0");
    }
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;
    // The pool (one connection) still serves other sessions.
    for user in [ADMIN_USER, USER_ALICE] {
        let (mut c, _) = RawClient::login(server.addr, user, Some("postgres")).await;
        assert_eq!(scalar(&c.query("SELECT 5").await), "5");
        c.terminate().await;
    }
}

#[tokio::test]
async fn a_client_vanishing_mid_statement_interrupts_it_and_rolls_back() {
    let server = TestServer::with(|s| s.backend.pool_size = 2);
    let (mut setup, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    setup.query("CREATE TABLE pending (a int)").await;
    setup.terminate().await;

    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("BEGIN").await;
    c.query("INSERT INTO pending VALUES (1)").await;
    c.send_query(ENDLESS).await;
    // Give the statement time to start; the test holds either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(c);
    server.wait_sessions(0, Duration::from_secs(3)).await;

    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(scalar(&c.query("SELECT count(*) FROM pending").await), "0");
    // The write lock of the abandoned transaction is gone too.
    c.query("SET statement_timeout = '3s'").await;
    let r = c.query("INSERT INTO pending VALUES (2)").await;
    assert_eq!(common::raw::tags(&r), vec!["INSERT 0 1"], "{r:#?}");
    c.terminate().await;
}

#[tokio::test]
async fn a_client_vanishing_right_after_sending_a_statement_interrupts_it() {
    // The disconnect may be seen before the statement starts: it must be
    // interrupted all the same.
    let server = TestServer::with(|s| s.backend.pool_size = 4);
    for i in 0..4 {
        let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
        c.send_query(ENDLESS).await;
        if i % 2 == 0 {
            drop(c);
        } else {
            // A reset instead of an orderly close.
            c.abort();
        }
    }
    server.wait_sessions(0, Duration::from_secs(3)).await;
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
    c.terminate().await;
}

#[tokio::test]
async fn a_smart_shutdown_terminates_sessions_left_after_shutdown_timeout() {
    let server = TestServer::with(|s| s.server.shutdown_timeout = Duration::from_secs(1));
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let started = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || {
        server.shutdown(pgiris::session::run::Shutdown::Smart);
    });
    c.timeout = Duration::from_secs(4);
    let e = c.expect_fatal("57P01").await;
    assert_eq!(
        message_of(&e),
        "terminating connection due to administrator command"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    stopping.await.expect("shutdown");
}

/// Starts ENDLESS on a fresh session, then a fast shutdown; returns what
/// the client received before the close and how long it took.
async fn fast_shutdown_during_a_statement() -> (Vec<BackendMessage>, Duration) {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.send_query(ENDLESS).await;
    // Let the statement start; the outcome must be the same if it has not.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || {
        server.shutdown(pgiris::session::run::Shutdown::Fast);
    });
    let r = c.read_until_closed().await;
    let took = started.elapsed();
    stopping.await.expect("shutdown");
    (r, took)
}

#[tokio::test]
async fn a_fast_shutdown_interrupts_a_running_statement_and_ends_with_57p01() {
    let (r, took) = fast_shutdown_during_a_statement().await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    let last = r
        .last()
        .unwrap_or_else(|| panic!("nothing before the close"));
    assert_error(last, "FATAL", "57P01");
    assert_eq!(
        message_of(last),
        "terminating connection due to administrator command"
    );
}

/// PostgreSQL's fast shutdown answers a running statement with FATAL 57P01
/// alone (no ERROR 57014, no ReadyForQuery first).
#[tokio::test]
async fn a_fast_shutdown_mid_statement_sends_only_fatal_57p01() {
    let (r, _) = fast_shutdown_during_a_statement().await;
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_error(&r[0], "FATAL", "57P01");
}
