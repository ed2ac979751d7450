//! Hostile clients that attack with time and sockets rather than bytes:
//! slowloris at one byte per second (bounded by a low login_timeout),
//! clients that go quiet after the startup packet, half-open sockets (the
//! client shuts its write side), many connections sending garbage at once.
//! Each runs beside a healthy session that must keep answering, and ends
//! with the server's session and pending counts back at their baseline.

mod common;

use std::time::{Duration, Instant};

use common::health::Health;
use common::raw::{RawClient, Read};
use common::{TestServer, USER_ALICE};
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup::{self, PROTOCOL_3_0};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const LOGIN_TIMEOUT: Duration = Duration::from_secs(2);

fn server(hba: Option<&'static str>) -> TestServer {
    TestServer::with(move |s| {
        s.server.login_timeout = LOGIN_TIMEOUT;
        s.server.max_connections = 300;
        s.server.max_pending_connections = 600;
        s.backend.pool_size = 50;
        s.auth.max_failures = 1_000_000;
        if let Some(text) = hba {
            std::fs::write(&s.auth.hba_file, text).expect("write hba");
        }
    })
}

fn health(server: &TestServer) -> Health {
    let mut c = common::pg_config(server.addr, USER_ALICE, "postgres");
    c.password(USER_ALICE);
    Health::start(c)
}

async fn started(server: &TestServer, h: &Health) {
    // Its SCRAM login runs a debug-build PBKDF2 in the client, which takes
    // seconds on a busy machine.
    assert!(
        common::wait_until(Duration::from_secs(30), || h.queries() > 0).await,
        "the healthy session did not start"
    );
    let _ = server;
}

/// Writes `bytes` to `s` one per `gap` until the server closes the socket
/// or `limit` passes since `start`; returns when the close was seen.
async fn dribble(
    mut s: TcpStream,
    bytes: &[u8],
    gap: Duration,
    start: Instant,
    limit: Duration,
) -> Option<Duration> {
    for b in bytes.iter().cycle() {
        if start.elapsed() > limit {
            return None;
        }
        if s.write_all(&[*b]).await.is_err() {
            return Some(start.elapsed());
        }
        // A close shows on a read sooner than on a write.
        let mut probe = [0u8; 4096];
        match tokio::time::timeout(gap, s.peek(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {
                // The server said something (an error): read it away.
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut probe).await;
            }
            Err(_) => {}
        }
    }
    None
}

/// A client that sent its StartupMessage and got the SASL mechanism list
/// (AuthenticationSASL), the point where SCRAM begins.
async fn at_sasl_request(server: &TestServer) -> RawClient {
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(PROTOCOL_3_0, &[("user", USER_ALICE)]).await;
    assert!(matches!(
        c.read_message().await,
        BackendMessage::Authentication { code: 10, .. }
    ));
    c
}

#[tokio::test]
async fn slowloris_connections_are_cut_at_the_login_timeout() {
    let server = server(Some(
        "host all alice 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n",
    ));
    let h = health(&server);
    started(&server, &h).await;
    let mark = server.log.mark();
    let mut set = JoinSet::new();
    // 20 clients dribble a startup packet at one byte per second; 10 send
    // their startup packet at once, then dribble a SASLInitialResponse.
    for i in 0..30 {
        let addr = server.addr;
        set.spawn(async move {
            let start = Instant::now();
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let bytes = if i < 20 {
                startup::encode_startup(PROTOCOL_3_0, &[("user", "bob")])
            } else {
                s.write_all(&startup::encode_startup(
                    PROTOCOL_3_0,
                    &[("user", USER_ALICE)],
                ))
                .await
                .expect("send startup");
                // AuthenticationSASL: 'R', length, 10, mechanisms.
                let mut head = [0u8; 9];
                tokio::io::AsyncReadExt::read_exact(&mut s, &mut head)
                    .await
                    .expect("AuthenticationSASL");
                assert_eq!((head[0], head[8]), (b'R', 10));
                let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                let mut rest = vec![0u8; len - 8];
                tokio::io::AsyncReadExt::read_exact(&mut s, &mut rest)
                    .await
                    .expect("mechanisms");
                let mut body = b"SCRAM-SHA-256\0".to_vec();
                body.extend_from_slice(&24i32.to_be_bytes());
                body.extend_from_slice(b"n,,n=,r=abcdefghijklmnop");
                let mut msg = vec![b'p'];
                msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
                msg.extend_from_slice(&body);
                msg
            };
            dribble(
                s,
                &bytes,
                Duration::from_secs(1),
                start,
                Duration::from_secs(10),
            )
            .await
        });
    }
    let mut times = Vec::new();
    while let Some(r) = set.join_next().await {
        let t = r
            .expect("slow client task")
            .expect("the server kept a slow client past 10 s");
        times.push(t);
    }
    let worst = times.iter().max().copied().unwrap_or_default();
    assert!(
        worst <= LOGIN_TIMEOUT + Duration::from_millis(1500),
        "a slow client was cut after {worst:?} (login_timeout {LOGIN_TIMEOUT:?})"
    );
    let report = h.finish(Duration::from_secs(2)).await;
    server.wait_sessions(1, Duration::from_secs(5)).await;
    let timeouts = server
        .log
        .since(mark)
        .iter()
        .filter(|r| r.event() == Some("login_timeout") || r.msg.contains("negotiation"))
        .count();
    assert!(
        timeouts >= 30,
        "{timeouts} login timeouts logged:\n{}",
        server.log.dump()
    );
    eprintln!(
        "30 slowloris clients cut after at most {worst:?}; healthy session {} queries, slowest {:?}",
        report.queries, report.worst
    );
}

#[tokio::test]
async fn a_client_silent_after_its_startup_packet_is_closed_at_the_login_timeout() {
    let server = server(Some("host all all 127.0.0.1/32 scram-sha-256\n"));
    // The server's login deadline runs from accept, which is after this
    // instant: the lower bound holds however long the connect and the
    // startup exchange take on a busy machine.
    let start = Instant::now();
    let mut c = at_sasl_request(&server).await;
    c.timeout = Duration::from_secs(10);
    // PostgreSQL closes without a message when authentication times out.
    let rest = c.read_to_close().await;
    let took = start.elapsed();
    assert!(rest.is_empty(), "expected a silent close, got {rest:?}");
    assert!(
        took >= LOGIN_TIMEOUT && took <= LOGIN_TIMEOUT + Duration::from_secs(3),
        "closed after {took:?}"
    );
    server.wait_sessions(0, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn half_open_sockets_end_their_sessions() {
    let server = server(None);
    let h = health(&server);
    started(&server, &h).await;

    // The client shuts its write side after logging in: the session ends.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    c.shutdown_write().await;
    c.expect_closed().await;

    // A query, then the write side shut at once. The end of the stream
    // reads as the client gone, so a statement still running is
    // interrupted (issue 5; PostgreSQL does the same when
    // client_connection_check_interval is set). Either the query finished
    // first and its row arrived, or it was interrupted with 08006; the
    // session ends both ways.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    c.send_query("SELECT 42").await;
    c.shutdown_write().await;
    let msgs = c.read_until_closed().await;
    let answered = common::raw::rows(&msgs) == vec![vec![Some("42".to_string())]];
    let lost = matches!(msgs.last(), Some(m) if m.field(b'C') == Some("08006"));
    assert!(answered || lost, "{msgs:?}");

    // Shut in the middle of a message.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    c.send(&[b'Q', 0, 0, 0, 20, b'S', b'E']).await;
    c.shutdown_write().await;
    c.expect_closed().await;

    // Shut in the middle of a startup packet, and during SCRAM.
    let mut c = RawClient::connect(server.addr).await;
    c.send(&startup::encode_startup(PROTOCOL_3_0, &[("user", USER_ALICE)])[..9])
        .await;
    c.shutdown_write().await;
    c.expect_closed().await;

    // In a transaction, with a statement half sent.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    let msgs = c.query("BEGIN").await;
    assert_eq!(common::raw::status(&msgs), b'T');
    c.send(&[b'P', 0, 0, 0, 50]).await;
    c.shutdown_write().await;
    c.expect_closed().await;

    // The client vanishes with a reset while idle and while in a
    // transaction.
    for sql in ["SELECT 1", "BEGIN"] {
        let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
        c.query(sql).await;
        c.abort();
    }
    server.wait_sessions(1, Duration::from_secs(10)).await;
    h.finish(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn half_open_during_scram_ends_the_attempt() {
    let server = server(Some("host all all 127.0.0.1/32 scram-sha-256\n"));
    let mut c = at_sasl_request(&server).await;
    c.shutdown_write().await;
    let start = Instant::now();
    c.expect_closed().await;
    assert!(
        start.elapsed() < LOGIN_TIMEOUT,
        "waited for the timeout instead of the end of stream"
    );
    server.wait_sessions(0, Duration::from_secs(5)).await;
}

/// A deterministic generator (xorshift) so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test]
async fn many_connections_sending_garbage_at_once_leave_others_unaffected() {
    const CLIENTS: u64 = 200;
    let server = server(None);
    let h = health(&server);
    started(&server, &h).await;
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..CLIENTS {
        let addr = server.addr;
        set.spawn(async move {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (i + 1).wrapping_mul(0x9e37_79b9));
            let garbage: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
            let mut c = if i % 2 == 0 {
                // Garbage where the startup packet goes.
                RawClient::connect(addr).await
            } else {
                // Garbage after a login.
                RawClient::login(addr, USER_ALICE, None).await.0
            };
            let _ = c.try_send(&garbage).await;
            // Then it leaves. (Garbage that happens to start like a valid
            // message with a long length would otherwise be waited for, as
            // PostgreSQL waits: only idle_session_timeout bounds that.)
            c.shutdown_write().await;
            // The server closes (after at most one error message).
            let _ = c.read_to_close().await;
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("garbage client task");
    }
    let took = start.elapsed();
    server.wait_sessions(1, Duration::from_secs(10)).await;
    let report = h.finish(Duration::from_secs(3)).await;
    // The server still logs in and serves new clients.
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    assert_eq!(common::raw::scalar(&c.query("SELECT 2").await), "2");
    c.terminate().await;
    eprintln!(
        "{CLIENTS} garbage clients done in {took:?}; healthy session {} queries, slowest {:?}",
        report.queries, report.worst
    );
}

#[tokio::test]
async fn a_huge_announced_message_during_authentication_is_refused_at_once() {
    // Before authentication the limit is 10,000 bytes: a 'p' announcing
    // 1 GB is refused without waiting for (or reserving) anything.
    let server = server(Some("host all all 127.0.0.1/32 scram-sha-256\n"));
    let mut c = at_sasl_request(&server).await;
    c.send(&[b'p', 0x3f, 0xff, 0xff, 0xff]).await;
    c.expect_fatal("08P01").await;
    assert!(matches!(c.read().await, Read::Closed));
    // And a Terminate during authentication just ends it.
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(PROTOCOL_3_0, &[("user", USER_ALICE)]).await;
    let _ = c.read_message().await;
    c.send_msg(&FrontendMessage::Terminate).await;
    c.expect_closed().await;
    server.wait_sessions(0, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn garbage_in_place_of_a_tls_handshake_is_refused() {
    // After 'S' to an SSLRequest, and on direct TLS (first byte 0x16), the
    // next bytes go to the TLS library: garbage, a truncated ClientHello,
    // or a client that says nothing more end the connection (at once, or
    // at the login timeout), while TLS logins keep working.
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = pgiris::net::tls::testing::TestPki::create(dir.path()).expect("PKI");
    let tls = pki.settings();
    let server = TestServer::with(move |s| {
        s.tls = tls;
        s.server.login_timeout = LOGIN_TIMEOUT;
    });
    let h = health(&server);
    started(&server, &h).await;
    let mut rng = Rng(0x7777_1234_5678_9abc);
    let mut set = JoinSet::new();
    for i in 0..60u64 {
        let addr = server.addr;
        let garbage: Vec<u8> = (0..1 + rng.next() % 600)
            .map(|_| rng.next() as u8)
            .collect();
        set.spawn(async move {
            let start = Instant::now();
            let mut c = RawClient::connect(addr).await;
            match i % 4 {
                0 => {
                    c.send_ssl_request().await;
                    assert_eq!(c.read_bytes(1).await, b"S");
                    let _ = c.try_send(&garbage).await;
                }
                1 => {
                    // A TLS record header announcing a long ClientHello.
                    let mut hello = vec![0x16, 3, 1, 0x40, 0, 1, 0, 0x3f, 0xfc, 3, 3];
                    hello.extend_from_slice(&garbage);
                    let _ = c.try_send(&hello).await;
                }
                2 => {
                    c.send_ssl_request().await;
                    assert_eq!(c.read_bytes(1).await, b"S");
                    // Then nothing: the login timeout ends it.
                }
                _ => {
                    let mut direct = vec![0x16];
                    direct.extend_from_slice(&garbage);
                    let _ = c.try_send(&direct).await;
                }
            }
            let _ = c.read_to_close().await;
            start.elapsed()
        });
    }
    let mut worst = Duration::ZERO;
    while let Some(r) = set.join_next().await {
        worst = worst.max(r.expect("TLS garbage task"));
    }
    assert!(
        worst <= LOGIN_TIMEOUT + Duration::from_millis(1500),
        "{worst:?}"
    );
    server.wait_sessions(1, Duration::from_secs(5)).await;
    h.finish(Duration::from_secs(2)).await;
    // A real TLS login still works.
    let connector =
        tokio_postgres_rustls::MakeRustlsConnect::new(pki.client_config().expect("client config"));
    let mut c = tokio_postgres::Config::new();
    c.host("localhost")
        .hostaddr(server.addr.ip())
        .port(server.addr.port())
        .user(USER_ALICE)
        .password(USER_ALICE)
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    let (client, conn) = c.connect(connector).await.expect("TLS login");
    tokio::spawn(conn);
    let row = client.query_one("SELECT 3", &[]).await.expect("query");
    assert_eq!(row.get::<_, i32>(0), 3);
}
