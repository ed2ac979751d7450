//! Memory under hostile input: no allocation is sized by a length the client
//! announced before the bytes arrive, and a client that stops reading does
//! not make the server buffer its results. The server runs in this process,
//! so its memory is this process's: each scenario resets the peak RSS
//! (`VmHWM`), runs, and compares the peak with the RSS before it. A positive
//! control (a 64 MB query whose bytes really arrive) shows the measurement
//! sees what the server holds.
//!
//! One test, scenarios in sequence: nothing else in this binary allocates
//! while a scenario is measured. The figures are printed (`--nocapture`) and
//! recorded in HARDENING.md.

mod common;

use std::time::{Duration, Instant};

use common::health::Health;
use common::memory::{MB, peak, reset_peak, rss, virtual_size};
use common::raw::RawClient;
use common::{TestServer, USER_ALICE};
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::startup::PROTOCOL_3_0;

/// How far the peak RSS rose above the RSS before `f` ran.
async fn growth<F: std::future::Future<Output = ()>>(f: F) -> u64 {
    reset_peak();
    let before = rss();
    f.await;
    peak().saturating_sub(before)
}

fn report_pipeline(sent: usize) {
    eprintln!(
        "pipelined {} of Sync before the socket filled",
        mb(sent as u64)
    );
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

async fn logins(server: &TestServer, n: usize) -> Vec<RawClient> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(RawClient::login(server.addr, USER_ALICE, None).await.0);
    }
    out
}

#[tokio::test]
async fn announced_lengths_and_stalled_readers_do_not_cost_memory() {
    const CONNS: usize = 50;
    let server = TestServer::with(|s| {
        s.server.max_connections = 200;
        s.backend.pool_size = 100;
        s.server.login_timeout = Duration::from_secs(30);
    });
    let baseline = server.sessions();
    let mut health_config = common::pg_config(server.addr, USER_ALICE, "postgres");
    health_config.application_name("health");
    let health = Health::start(health_config);
    assert!(
        common::wait_until(Duration::from_secs(10), || health.queries() > 0).await,
        "the healthy session did not start"
    );
    let mut report = Vec::new();

    // 50 logged-in sessions each announce a Query of 1 GB - 1 and send
    // nothing more: 50 GB claimed.
    let mut clients = logins(&server, CONNS).await;
    let vm_before = virtual_size();
    let mut vm_during = 0;
    let g = growth(async {
        for c in &mut clients {
            c.send(&[b'Q', 0x3f, 0xff, 0xff, 0xff, b'S']).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        vm_during = virtual_size();
    })
    .await;
    let vm = vm_during.saturating_sub(vm_before);
    report.push(format!(
        "{CONNS} sessions announcing 1 GB queries: peak RSS +{}, virtual +{}",
        mb(g),
        mb(vm)
    ));
    assert!(g < 64 * MB, "50 announced 1 GB queries cost {}", mb(g));
    // Reserved but unwritten memory does not show in RSS: a buffer sized
    // by the announced length would show here (50 GB).
    assert!(
        vm < 512 * MB,
        "50 announced 1 GB queries reserved {}",
        mb(vm)
    );
    // They are still waiting for their bytes, not refused.
    assert_eq!(server.sessions(), baseline + 1 + CONNS);
    for c in clients.drain(..) {
        c.abort();
    }
    server
        .wait_sessions(baseline + 1, Duration::from_secs(10))
        .await;

    // 50 connections announce a 10,000-byte startup packet (the largest
    // allowed) and send 100 bytes of it.
    let mut raw = Vec::new();
    let g = growth(async {
        for _ in 0..CONNS {
            let mut c = RawClient::connect(server.addr).await;
            let mut bytes = 10_000i32.to_be_bytes().to_vec();
            bytes.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
            bytes.extend_from_slice(&[b'a'; 96]);
            c.send(&bytes).await;
            raw.push(c);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .await;
    report.push(format!(
        "{CONNS} connections with partial 10,000-byte startup packets: peak +{}",
        mb(g)
    ));
    assert!(g < 32 * MB, "partial startup packets cost {}", mb(g));
    for c in raw.drain(..) {
        c.abort();
    }
    server
        .wait_sessions(baseline + 1, Duration::from_secs(10))
        .await;

    // A client asks for a large result (about 200 MB of rows) and stops
    // reading: the server must block on the socket, not buffer the rest.
    let (mut stalled, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    let g = growth(async {
        stalled
            .send_query(&format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) \
                 SELECT x, '{}' FROM c",
                "x".repeat(100)
            ))
            .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    report.push(format!(
        "a session that stops reading a ~200 MB result: peak +{}",
        mb(g)
    ));
    assert!(g < 64 * MB, "a stalled reader cost {}", mb(g));
    // The query did run: its rows are waiting in the socket.
    assert!(matches!(
        stalled.read_message().await,
        BackendMessage::RowDescription(_)
    ));
    assert!(matches!(
        stalled.read_message().await,
        BackendMessage::DataRow(_)
    ));
    // The client vanishes without reading: the session must end.
    let gone = Instant::now();
    stalled.abort();
    server
        .wait_sessions(baseline + 1, Duration::from_secs(15))
        .await;
    report.push(format!(
        "the stalled session ended {:?} after its client vanished",
        gone.elapsed()
    ));

    // A client pipelines 32 MB of Sync messages (6.7 million answers due)
    // and never reads: the server blocks writing, stops reading, and TCP
    // pushes back on the client; nothing piles up in between.
    let (pipeliner, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    let g = growth(async {
        let mut p = pipeliner;
        let chunk: Vec<u8> = b"S\0\0\0\x04".repeat(200_000);
        let mut sent = 0usize;
        let deadline = Instant::now() + Duration::from_secs(3);
        while sent < 32 * MB as usize && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(200), p.try_send(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len(),
                // The socket is full: the server stopped reading.
                _ => break,
            }
        }
        report_pipeline(sent);
        p.abort();
    })
    .await;
    report.push(format!(
        "a client pipelining Sync without reading: peak +{}",
        mb(g)
    ));
    assert!(g < 64 * MB, "a pipelining client cost {}", mb(g));
    server
        .wait_sessions(baseline + 1, Duration::from_secs(15))
        .await;

    // Positive control: a 64 MB query whose bytes arrive is held whole (the
    // message limit is 1 GB), and the peak shows it. The client streams it
    // from one 1 MB buffer so its own memory does not count.
    let (mut big, _) = RawClient::login(server.addr, USER_ALICE, None).await;
    let g = growth(async {
        let body_len = 64 * MB as usize;
        let head = b"SELECT 1 --";
        let mut frame = vec![b'Q'];
        frame.extend_from_slice(&((4 + body_len) as i32).to_be_bytes());
        frame.extend_from_slice(head);
        big.send(&frame).await;
        let chunk = vec![b'x'; MB as usize];
        let mut left = body_len - head.len() - 1;
        while left > 0 {
            let n = left.min(chunk.len());
            big.send(&chunk[..n]).await;
            left -= n;
        }
        big.send(&[0]).await;
        big.timeout = Duration::from_secs(60);
        let msgs = big.read_until_ready().await;
        assert_eq!(common::raw::scalar(&msgs), "1");
    })
    .await;
    report.push(format!(
        "control: one 64 MB query that arrives: peak +{}",
        mb(g)
    ));
    assert!(
        g >= 64 * MB,
        "the measurement missed a 64 MB message ({})",
        mb(g)
    );
    big.terminate().await;

    let h = health.finish(Duration::from_secs(5)).await;
    report.push(format!(
        "healthy session: {} queries, slowest {:?}",
        h.queries, h.worst
    ));
    server
        .wait_sessions(baseline, Duration::from_secs(10))
        .await;
    eprintln!("memory bounds:\n  {}", report.join("\n  "));
}
