//! Black-box tests of query cancellation on the embedded backend: a
//! statement that never ends (a recursive CTE counting forever) cancelled
//! from psql's Ctrl-C path (libpq's PQcancel), from tokio-postgres'
//! `cancel_token`, over TLS, and with a protocol 3.2 32-byte key. The client
//! gets 57014 "canceling statement due to user request" well under a second
//! after the cancel is sent, and its session goes on. A wrong key cancels
//! nothing and is logged; a flood of unmatched cancels from one source
//! cancels nothing, does not slow other sessions, and runs into that
//! source's budget while other sources' cancels still land.
//!
//! Latencies are printed (`--nocapture`) as `cancel latency <path>: <ms>`.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::ext::{bind, briefs, execute, parse, sync};
use common::raw::{V3_2, assert_error, encode, message_of, scalar, status};
use common::{ADMIN_USER, RawClient, TestServer, code_of, connect, pg_config, psql_command};
use pgiris::config::PoolMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A statement that runs until it is interrupted.
const ENDLESS: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

/// How long a statement is given to start before it is cancelled (it starts
/// within a millisecond on an idle server; a cancel that arrives before it
/// starts has nothing to cancel, as in PostgreSQL).
const START: Duration = Duration::from_millis(250);

/// The asserted outer bound on the time from sending a cancel to the client
/// reading 57014: the issue's "under a second". Measured latency is a few
/// ms (printed by `report`); 0.7 s was seen only with other test suites
/// loading both cores, so the bound is the requirement, not the typical
/// figure (speed belongs to bench/, not to timed tests).
const CANCEL_BOUND: Duration = Duration::from_secs(1);

const WAIT: Duration = Duration::from_secs(5);

/// How long a cancelled statement that is slow to start may take to end
/// before the cancel counts as lost (the statement never ends by itself).
const LOST: Duration = Duration::from_secs(30);

const USER_CANCEL: &str = "canceling statement due to user request";

/// Sends a CancelRequest from `local` and waits for the server to close
/// the connection (it never answers).
async fn cancel_from(local: IpAddr, addr: SocketAddr, pid: i32, secret: &[u8]) {
    let mut k = RawClient::connect_from(local, addr).await;
    k.send_cancel(pid, secret).await;
    k.expect_closed().await;
}

async fn cancel(addr: SocketAddr, pid: i32, secret: &[u8]) {
    cancel_from(IpAddr::V4(Ipv4Addr::LOCALHOST), addr, pid, secret).await;
}

/// Asserts the server sends nothing on `c` for `d` (its statement still
/// runs).
async fn assert_still_running(c: &mut RawClient, d: Duration) {
    if let Ok(m) = tokio::time::timeout(d, c.read()).await {
        panic!("the statement should still run, but the server sent {m:?}");
    }
}

/// Reads the answer to a cancelled simple query: 57014 with PostgreSQL's
/// text, then ReadyForQuery with `want_status`; returns how long it took.
async fn expect_canceled(c: &mut RawClient, from: Instant, want_status: u8) -> Duration {
    let r = c.read_until_ready().await;
    let latency = from.elapsed();
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_error(&r[0], "ERROR", "57014");
    assert_eq!(message_of(&r[0]), USER_CANCEL);
    assert_eq!(status(&r), want_status);
    latency
}

fn report(path: &str, latency: Duration) {
    eprintln!(
        "cancel latency {path}: {:.1} ms",
        latency.as_secs_f64() * 1000.0
    );
    assert!(
        latency < CANCEL_BOUND,
        "{path}: 57014 came {latency:?} after the cancel (bound {CANCEL_BOUND:?})"
    );
}

async fn matched(server: &TestServer) -> usize {
    server.stats().cancels_matched.load(Ordering::SeqCst)
}

async fn unmatched(server: &TestServer) -> usize {
    server.stats().cancels_unmatched.load(Ordering::SeqCst)
}

/// A raw session (3.0, 4-byte key) cancelled in session and in transaction
/// pool mode, in and out of a transaction block, simple and extended
/// protocol; each time the session goes on.
#[tokio::test]
async fn a_raw_cancel_interrupts_the_statement_and_the_session_goes_on() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let server = TestServer::with(|s| {
            s.backend.pool_mode = mode;
            s.backend.pool_size = 2;
        });
        let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
        assert_eq!(login.secret.len(), 4);
        c.query("CREATE TABLE t (a int)").await;

        // Simple protocol, outside a block.
        c.send_query(ENDLESS).await;
        tokio::time::sleep(START).await;
        let t0 = Instant::now();
        cancel(server.addr, login.pid, &login.secret).await;
        report(
            &format!("raw simple {mode:?}"),
            expect_canceled(&mut c, t0, b'I').await,
        );
        assert_eq!(scalar(&c.query("SELECT 1").await), "1");

        // Inside a block: the block fails ('E') and rolls back.
        c.query("BEGIN").await;
        c.query("INSERT INTO t VALUES (1)").await;
        c.send_query(ENDLESS).await;
        tokio::time::sleep(START).await;
        let t0 = Instant::now();
        cancel(server.addr, login.pid, &login.secret).await;
        report(
            &format!("raw in a block {mode:?}"),
            expect_canceled(&mut c, t0, b'E').await,
        );
        assert_eq!(
            briefs(&c.query("SELECT 1").await)[0],
            "E ERROR 25P02 current transaction is aborted, commands ignored until end of transaction block"
        );
        assert_eq!(status(&c.query("ROLLBACK").await), b'I');
        assert_eq!(scalar(&c.query("SELECT count(*) FROM t").await), "0");

        // Extended protocol: the error, then everything to Sync skipped.
        c.send(&encode(&[
            parse("", ENDLESS, &[]),
            bind("", "", &[]),
            execute("", 0),
            parse("", "INSERT INTO t VALUES (2)", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ]))
        .await;
        tokio::time::sleep(START).await;
        let t0 = Instant::now();
        cancel(server.addr, login.pid, &login.secret).await;
        // ParseComplete and BindComplete wait in the buffer with the error.
        let r = c.read_until_ready().await;
        report(&format!("raw extended {mode:?}"), t0.elapsed());
        assert_eq!(
            briefs(&r),
            ["1", "2", &format!("E ERROR 57014 {USER_CANCEL}"), "Z I"]
        );
        assert_eq!(scalar(&c.query("SELECT count(*) FROM t").await), "0");
        assert_eq!(matched(&server).await, 3);
        assert_eq!(unmatched(&server).await, 0);
        c.terminate().await;
    }
}

/// A cancel that arrives while the session is idle cancels nothing, now or
/// later: the next statements run normally.
#[tokio::test]
async fn a_cancel_while_idle_does_not_hit_the_next_statement() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    for _ in 0..3 {
        cancel(server.addr, login.pid, &login.secret).await;
    }
    assert!(
        common::wait_until(WAIT, || server
            .stats()
            .cancels_matched
            .load(Ordering::SeqCst)
            == 3)
        .await
    );
    assert_eq!(
        scalar(
            &c.query("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 200000) SELECT count(*) FROM r")
                .await
        ),
        "200000"
    );
    assert_eq!(scalar(&c.query("SELECT 2").await), "2");
}

/// An endless statement that takes a long time to get going: a 200,000
/// element IN list the session and the backend work through (hundreds of
/// ms in a debug build) before the backend starts executing it.
fn slow_to_start_endless() -> String {
    let list: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
    format!(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
         SELECT count(*) FROM r WHERE n IN ({})",
        list.join(",")
    )
}

/// A cancel that arrives while the server is still working towards the
/// statement (parsing, translating, preparing) is not lost: PostgreSQL
/// cancels whatever it is doing for the query, and so does pgiris, once
/// the statement would start. (An interrupt that reached the backend
/// before its statement was under way used to be dropped, leaving the
/// statement to run forever.)
#[tokio::test]
async fn a_cancel_before_the_statement_gets_going_is_not_lost() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let sql = slow_to_start_endless();
    for round in 0..3 {
        c.send_query(&sql).await;
        // A cancel that comes while the server is still reading the 1.3 MB
        // message finds the session waiting for the client, and is ignored
        // as PostgreSQL ignores it: wait until the server has it all (on a
        // busy machine that can take longer than any fixed sleep), then a
        // moment more for the session to take it up.
        c.wait_server_read_all(WAIT).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let t0 = Instant::now();
        cancel(server.addr, login.pid, &login.secret).await;
        // The server honours the cancel when the statement would start,
        // after working through the list: a few ms on an idle machine, but
        // seconds on a busy one (2.4 s measured on one loaded core). A lost
        // cancel runs forever, so a generous bound still tells them apart.
        c.timeout = LOST;
        let r = tokio::time::timeout(LOST, c.read_until_ready())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the cancel was lost"));
        eprintln!(
            "cancel latency before the start, round {round}: {:.1} ms",
            t0.elapsed().as_secs_f64() * 1000.0
        );
        assert_eq!(
            briefs(&r),
            [format!("E ERROR 57014 {USER_CANCEL}"), "Z I".to_owned()]
        );
    }
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
}

/// In transaction pool mode a statement may wait for a free connection; a
/// cancel stops the wait at once (not after backend.query_wait_timeout), as
/// PostgreSQL stops a statement waiting for a lock.
#[tokio::test]
async fn a_cancel_stops_a_statement_waiting_for_a_connection() {
    let server = TestServer::with(|s| {
        s.backend.pool_mode = PoolMode::Transaction;
        s.backend.pool_size = 1;
        s.backend.query_wait_timeout = Duration::from_secs(30);
    });
    let (mut holder, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    holder.query("BEGIN").await;
    assert_eq!(scalar(&holder.query("SELECT 1").await), "1");
    let (mut waiter, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    waiter.send_query("SELECT 2").await;
    assert_still_running(&mut waiter, Duration::from_millis(300)).await;
    let t0 = Instant::now();
    cancel(server.addr, login.pid, &login.secret).await;
    report(
        "waiting for a connection",
        expect_canceled(&mut waiter, t0, b'I').await,
    );
    // The connection is still the holder's; once it commits, the waiter
    // gets it.
    assert_eq!(status(&holder.query("COMMIT").await), b'I');
    assert_eq!(scalar(&waiter.query("SELECT 3").await), "3");
}

/// psql's Ctrl-C: SIGINT makes psql send a CancelRequest (libpq PQcancel);
/// psql prints the 57014 error and exits 1.
#[tokio::test]
async fn psql_ctrl_c_cancels_the_running_statement() {
    let server = TestServer::start();
    let home = tempfile::tempdir().expect("temp HOME");
    let child = psql_command(
        server.addr,
        ADMIN_USER,
        "postgres",
        &["-v", "VERBOSITY=verbose", "-c", ENDLESS],
        home.path(),
    )
    .spawn()
    .expect("psql is installed (postgresql-client)");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    server.wait_sessions(1, WAIT).await;
    // psql installs its SIGINT handler only after it connected; a SIGINT
    // before that kills it outright (no cancel, empty stderr, as seen on a
    // heavily loaded core). Wait until it catches SIGINT.
    let catches_sigint = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
            .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
    };
    assert!(
        common::wait_until(WAIT, catches_sigint).await,
        "psql did not set up its SIGINT handler"
    );
    tokio::time::sleep(START).await;
    assert!(rx.try_recv().is_err(), "psql ended before the cancel");
    let t0 = Instant::now();
    // SAFETY: `pid` is our child, not reaped yet (its waiter holds it).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = tokio::task::spawn_blocking(move || rx.recv_timeout(WAIT))
        .await
        .expect("join")
        .unwrap_or_else(|_| {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("psql did not end within {WAIT:?} of SIGINT: the cancel had no effect");
        })
        .expect("psql output");
    let latency = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  57014: canceling statement due to user request"),
        "stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(matched(&server).await, 1);
    // psql's own handling (signal, cancel connection, exit) included.
    report("psql SIGINT (until psql exits)", latency);
    server.wait_sessions(0, WAIT).await;
}

/// tokio-postgres' cancel token, plain TCP, in both pool modes.
#[tokio::test]
async fn tokio_postgres_cancel_token_cancels_the_running_statement() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let server = TestServer::with(|s| s.backend.pool_mode = mode);
        let c = Arc::new(connect(server.addr, ADMIN_USER, "postgres").await);
        let token = c.cancel_token();
        for round in 0..2 {
            let running = tokio::spawn({
                let c = c.clone();
                async move { c.simple_query(ENDLESS).await.map(|_| ()) }
            });
            tokio::time::sleep(START).await;
            assert!(!running.is_finished(), "the statement ended by itself");
            let t0 = Instant::now();
            token
                .cancel_query(tokio_postgres::NoTls)
                .await
                .expect("cancel");
            let e = running.await.expect("join").expect_err("canceled");
            report(&format!("tokio-postgres {mode:?} #{round}"), t0.elapsed());
            assert_eq!(code_of(&e), "57014");
            assert_eq!(e.as_db_error().map(|d| d.message()), Some(USER_CANCEL));
            let one: i32 = c
                .query_one("SELECT 1::int4", &[])
                .await
                .expect("usable")
                .get(0);
            assert_eq!(one, 1);
        }
        assert_eq!(matched(&server).await, 2);
    }
}

/// Over TLS: tokio-postgres (sslmode=require) sends its cancel through
/// SSLRequest and a TLS handshake, and so does a raw client; both land.
#[tokio::test]
async fn a_cancel_over_tls_cancels_the_running_statement() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = pgiris::net::tls::testing::TestPki::create(dir.path()).expect("test PKI");
    let server = TestServer::with(|s| s.tls = pki.settings());
    let client_config = pki.client_config().expect("client TLS config");
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config.clone());
    let mut config = pg_config(server.addr, ADMIN_USER, "postgres");
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let (client, connection) = config.connect(tls.clone()).await.expect("TLS login");
    tokio::spawn(connection);
    let client = Arc::new(client);

    let mark = server.log.mark();
    let running = tokio::spawn({
        let c = client.clone();
        async move { c.simple_query(ENDLESS).await.map(|_| ()) }
    });
    tokio::time::sleep(START).await;
    let t0 = Instant::now();
    client
        .cancel_token()
        .cancel_query(tls.clone())
        .await
        .expect("cancel over TLS");
    let e = running.await.expect("join").expect_err("canceled");
    report("tokio-postgres over TLS", t0.elapsed());
    assert_eq!(code_of(&e), "57014");
    // The cancel connection negotiated TLS before its request matched.
    let records = server.log.since(mark);
    let tls_at = records
        .iter()
        .position(|r| r.event() == Some("tls_negotiated"));
    let matched_at = records
        .iter()
        .position(|r| r.event() == Some("cancel_request") && r.get("outcome") == Some("matched"));
    assert!(
        tls_at.is_some() && matched_at.is_some() && tls_at < matched_at,
        "{}",
        server.log.dump()
    );
    let one: i32 = client
        .query_one("SELECT 1::int4", &[])
        .await
        .expect("usable")
        .get(0);
    assert_eq!(one, 1);

    // A raw client: SSLRequest, 'S', TLS handshake, CancelRequest inside.
    let (mut victim, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    victim.send_query(ENDLESS).await;
    tokio::time::sleep(START).await;
    let t0 = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(&pgiris::wire::startup::encode_request(
        pgiris::wire::startup::SSL_REQUEST_CODE,
    ))
    .await
    .expect("SSLRequest");
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"S");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    stream
        .write_all(&pgiris::wire::startup::encode_cancel(
            login.pid,
            &login.secret,
        ))
        .await
        .expect("CancelRequest");
    stream.flush().await.expect("flush");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "a cancel gets no answer: {rest:?}");
    report("raw over TLS", expect_canceled(&mut victim, t0, b'I').await);
    assert_eq!(scalar(&victim.query("SELECT 1").await), "1");
    assert_eq!(matched(&server).await, 2);
}

/// Protocol 3.2: a 32-byte key cancels; shorter or altered keys do not.
#[tokio::test]
async fn a_protocol_3_2_session_is_cancelled_with_its_32_byte_key() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login_with(
        server.addr,
        V3_2,
        &[("user", ADMIN_USER), ("database", "postgres")],
    )
    .await;
    assert_eq!(login.secret.len(), 32);
    c.send_query(ENDLESS).await;
    tokio::time::sleep(START).await;
    let mut flipped = login.secret.to_vec();
    flipped[31] ^= 0x80;
    for wrong in [&login.secret[..4], &login.secret[..31], &flipped[..]] {
        cancel(server.addr, login.pid, wrong).await;
    }
    assert!(
        common::wait_until(WAIT, || server
            .stats()
            .cancels_unmatched
            .load(Ordering::SeqCst)
            == 3)
        .await
    );
    assert_still_running(&mut c, Duration::from_millis(300)).await;
    let t0 = Instant::now();
    cancel(server.addr, login.pid, &login.secret).await;
    report("raw 3.2 key", expect_canceled(&mut c, t0, b'I').await);
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
    assert_eq!(matched(&server).await, 1);
}

/// A wrong key (or a wrong pid) cancels nothing: the statement keeps
/// running, the attempt is counted and logged (without the key); the right
/// key then cancels it.
#[tokio::test]
async fn a_wrong_key_cancels_nothing_and_is_logged() {
    let server = TestServer::start();
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let mark = server.log.mark();
    c.send_query(ENDLESS).await;
    tokio::time::sleep(START).await;
    let mut wrong = login.secret.to_vec();
    wrong[0] ^= 1;
    cancel(server.addr, login.pid, &wrong).await;
    cancel(server.addr, login.pid.wrapping_add(1), &login.secret).await;
    assert!(
        common::wait_until(WAIT, || server
            .stats()
            .cancels_unmatched
            .load(Ordering::SeqCst)
            == 2)
        .await
    );
    assert_still_running(&mut c, Duration::from_millis(500)).await;
    assert_eq!(matched(&server).await, 0);
    let logged = server
        .log
        .wait_for(mark, WAIT, "the unmatched cancel", |r| {
            r.event() == Some("cancel_request") && r.get("outcome") == Some("no match")
        })
        .await;
    assert_eq!(logged.get("pid"), Some(login.pid.to_string().as_str()));
    assert_eq!(logged.get("peer"), Some("127.0.0.1"));
    let dump = server.log.dump();
    for key in [&login.secret[..], &wrong[..]] {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&hex), "a cancel key in the log:\n{dump}");
    }
    let t0 = Instant::now();
    cancel(server.addr, login.pid, &login.secret).await;
    report(
        "raw after wrong keys",
        expect_canceled(&mut c, t0, b'I').await,
    );
    assert_eq!(scalar(&c.query("SELECT 1").await), "1");
}

/// The budget for unmatched cancels is per source address: once a source
/// spent it, even its correct cancel is refused for a while (so guessing
/// keys is slow), while another source's cancel lands at once.
#[tokio::test]
async fn a_source_that_spent_its_budget_is_refused_and_others_are_not() {
    let server = TestServer::with(|s| s.server.max_unmatched_cancels_per_second = 1);
    let (mut c, login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.send_query(ENDLESS).await;
    tokio::time::sleep(START).await;
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let started = Instant::now();
    // The burst (10) of wrong guesses, then the right key from the same
    // source: refused, the statement runs on.
    for guess in 0..10u32 {
        cancel_from(guesser, server.addr, login.pid, &guess.to_be_bytes()).await;
    }
    cancel_from(guesser, server.addr, login.pid, &login.secret).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "too slow to test a 1/s budget: {:?}",
        started.elapsed()
    );
    assert!(
        common::wait_until(WAIT, || server
            .stats()
            .cancels_unmatched
            .load(Ordering::SeqCst)
            == 11)
        .await
    );
    assert_still_running(&mut c, Duration::from_millis(300)).await;
    assert_eq!(matched(&server).await, 0);
    // Another source is not affected.
    let t0 = Instant::now();
    cancel_from(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        server.addr,
        login.pid,
        &login.secret,
    )
    .await;
    report(
        "raw from another source",
        expect_canceled(&mut c, t0, b'I').await,
    );
    assert_eq!(matched(&server).await, 1);
}

/// 2,000 unmatched cancels from one source: nothing is cancelled, another
/// session's queries stay fast, a legitimate cancel from elsewhere lands
/// during the flood, every request is counted and the log stays short.
#[tokio::test]
async fn a_flood_of_unmatched_cancels_cancels_nothing_and_slows_nothing() {
    const FLOOD: usize = 2_000;
    const WORKERS: usize = 16;
    let server = TestServer::start();
    let (mut victim, victim_login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let (mut target, target_login) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let bystander = Arc::new(connect(server.addr, ADMIN_USER, "postgres").await);
    let mark = server.log.mark();
    victim.send_query(ENDLESS).await;
    target.send_query(ENDLESS).await;
    tokio::time::sleep(START).await;

    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = tokio::spawn({
        let c = bystander.clone();
        let flooding = flooding.clone();
        async move {
            let mut latencies = Vec::new();
            while flooding.load(Ordering::SeqCst) {
                let t = Instant::now();
                let one: i32 = c
                    .query_one("SELECT 1::int4", &[])
                    .await
                    .expect("bystander")
                    .get(0);
                assert_eq!(one, 1);
                latencies.push(t.elapsed());
            }
            latencies
        }
    });
    let flooder = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let addr = server.addr;
            let pid = victim_login.pid;
            let secret = victim_login.secret.clone();
            tokio::spawn(async move {
                for i in 0..FLOOD / WORKERS {
                    let n = (w * FLOOD / WORKERS + i) as u32;
                    // Wrong keys for the victim, and keys for pids nobody has.
                    if n.is_multiple_of(2) {
                        let mut wrong = secret.to_vec();
                        wrong.copy_from_slice(&(n + 1).to_be_bytes());
                        if wrong[..] == secret[..] {
                            wrong[0] ^= 0xff;
                        }
                        cancel_from(flooder, addr, pid, &wrong).await;
                    } else {
                        cancel_from(flooder, addr, pid.wrapping_add(n as i32), &secret).await;
                    }
                }
            })
        })
        .collect();
    // Mid-flood, a cancel from another source lands at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    cancel_from(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        server.addr,
        target_login.pid,
        &target_login.secret,
    )
    .await;
    report(
        "raw during a flood",
        expect_canceled(&mut target, t0, b'I').await,
    );
    for w in workers {
        w.await.expect("flood worker");
    }
    let flood_time = started.elapsed();
    flooding.store(false, Ordering::SeqCst);
    let mut latencies = probe.await.expect("probe");
    assert!(
        common::wait_until(WAIT, || server
            .stats()
            .cancels_unmatched
            .load(Ordering::SeqCst)
            == FLOOD)
        .await,
        "unmatched = {}",
        server.stats().cancels_unmatched.load(Ordering::SeqCst)
    );
    assert_eq!(matched(&server).await, 1);
    assert_still_running(&mut victim, Duration::from_millis(200)).await;

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = *latencies.last().expect("some queries ran");
    eprintln!(
        "flood of {FLOOD} unmatched cancels took {flood_time:?}; bystander SELECT 1 x{}: p50 {p50:?}, max {max:?}",
        latencies.len()
    );
    assert!(
        latencies.len() >= 5,
        "the bystander barely ran: {}",
        latencies.len()
    );
    assert!(
        max < Duration::from_secs(1),
        "a bystander query took {max:?}"
    );

    // At most one line a second about unmatched cancels, each saying how
    // many it stands for.
    let lines: Vec<_> = server
        .log
        .since(mark)
        .into_iter()
        .filter(|r| r.msg == "cancel request did not match any session")
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines.len() as u64 <= flood_time.as_secs() + 2,
        "{} lines in {flood_time:?}",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .all(|r| r.get("suppressed").is_some() && r.get("peer") == Some("127.0.0.3"))
    );

    // The victim is cancelled properly in the end (from another source).
    let t0 = Instant::now();
    cancel_from(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        server.addr,
        victim_login.pid,
        &victim_login.secret,
    )
    .await;
    report(
        "raw after a flood",
        expect_canceled(&mut victim, t0, b'I').await,
    );
    assert_eq!(scalar(&victim.query("SELECT 1").await), "1");
}
