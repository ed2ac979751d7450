//! Failure throttling per source address (`auth.max_failures = 3`,
//! `auth.failure_window = 60s`, `auth.failure_delay = 1s`): the fourth
//! failing attempt from 127.0.0.1 waits a second for its answer and is
//! logged; a flood from 127.0.0.1 does not slow logins from 127.0.0.2
//! (loopback accepts any 127.x source address).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::tlsauth::*;

const DELAY: Duration = Duration::from_secs(1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn repeated_failures_slow_down_only_their_source() {
    let s = TestServer::start(ServerSpec {
        max_failures: 3,
        failure_window: "60s",
        failure_delay: "1s",
        ..ServerSpec::default().scram_user("alice")
    });
    // Warm the client's PBKDF2 cache so timings measure the server.
    timed_login(s.addr, None, "alice", PASSWORD);

    for attempt in 1..=3 {
        let (took, e) = cheap_failure(s.addr, None, "alice");
        assert_eq!(e.code(), "28P01");
        assert!(took < DELAY, "attempt {attempt} took {took:?}");
    }
    assert_eq!(s.logs.count("throttled"), 0);

    // The fourth: the same answer, a second later, and logged.
    let (took, e) = cheap_failure(s.addr, None, "alice");
    assert!(took >= DELAY, "throttled attempt took only {took:?}");
    assert_eq!(e.code(), "28P01");
    assert_eq!(
        e.message(),
        "password authentication failed for user \"alice\""
    );
    let line = s.logs.wait_for("throttled", |l| l["peer"] == "127.0.0.1");
    assert_eq!(line["delay_ms"], 1000);
    // An unknown user from there waits as well.
    let (took, e) = cheap_failure(s.addr, None, "nobody");
    assert!(took >= DELAY, "{took:?}");
    assert_eq!(e.code(), "28P01");
    // So does a correct password: the timing tells nothing.
    let took = timed_login(s.addr, None, "alice", PASSWORD);
    assert!(took >= DELAY, "a throttled success took only {took:?}");

    // A flood from 127.0.0.1 ...
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let addr = s.addr;
            std::thread::spawn(move || cheap_failure(addr, None, "alice").0)
        })
        .collect();
    // ... while 127.0.0.2 fails and logs in at full speed.
    let (took, e) = cheap_failure(s.addr, Some(OTHER), "alice");
    assert_eq!(e.code(), "28P01");
    assert!(took < DELAY, "a failure from 127.0.0.2 took {took:?}");
    let took = timed_login(s.addr, Some(OTHER), "alice", PASSWORD);
    assert!(took < DELAY, "a login from 127.0.0.2 took {took:?}");
    for f in flood {
        let took = f.join().expect("flood thread");
        assert!(took >= DELAY, "a flood attempt took only {took:?}");
    }
    // The logged facts: only 127.0.0.1 was throttled; 127.0.0.2's login is
    // logged with its own address.
    for l in s.logs.events("throttled") {
        assert_eq!(l["peer"], "127.0.0.1", "{l}");
    }
    s.logs.wait_for("authenticated", |l| {
        l["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.2:"))
    });
}

#[tokio::test]
async fn tokio_postgres_from_another_source_is_not_slowed() {
    // A longer delay than the other tests: each tokio-postgres login costs
    // a debug-build PBKDF2 in the client, which on a busy machine varies by
    // most of a second between two logins (measured 0.4 s against 1.1 s),
    // so one second of delay could not be told from that noise.
    const DELAY: Duration = Duration::from_secs(3);
    let s = TestServer::start(ServerSpec {
        max_failures: 3,
        failure_delay: "3s",
        ..ServerSpec::default().scram_user("alice")
    });
    for _ in 0..4 {
        cheap_failure(s.addr, None, "alice");
    }
    s.logs.wait_for("throttled", |_| true);
    let started = std::time::Instant::now();
    let c = s
        .tp_connect(&format!("user=alice password={PASSWORD}"), Some(OTHER))
        .await
        .expect("login from 127.0.0.2");
    // tokio-postgres derives its key itself (a debug-build PBKDF2 on every
    // login), so compare with the throttled source, which pays the same
    // client cost plus the delay.
    let fast = started.elapsed();
    assert_eq!(c.local.ip(), std::net::IpAddr::V4(OTHER));
    let started = std::time::Instant::now();
    let e = s
        .tp_connect("user=alice password=wrong-one", None)
        .await
        .err()
        .expect("refused");
    let slow = started.elapsed();
    assert_eq!(db_error(&e).0, "28P01");
    assert!(slow >= DELAY, "throttled source took {slow:?}");
    assert!(
        fast + DELAY / 2 < slow,
        "127.0.0.2 ({fast:?}) must not wait like 127.0.0.1 ({slow:?})"
    );
    // And the server says so: only 127.0.0.1 was throttled.
    let throttled = s.logs.events("throttled");
    assert!(!throttled.is_empty());
    for l in throttled {
        assert_eq!(l["peer"], "127.0.0.1", "{l}");
    }
}

#[test]
fn a_reload_keeps_the_failure_counts() {
    let s = TestServer::start(ServerSpec {
        max_failures: 3,
        ..ServerSpec::default().scram_user("alice")
    });
    for _ in 0..3 {
        let (took, _) = cheap_failure(s.addr, None, "alice");
        assert!(took < DELAY, "{took:?}");
    }
    // A SIGHUP (a certificate rotation, say) must not wipe an attacker's
    // record.
    s.reload();
    let (took, e) = cheap_failure(s.addr, None, "alice");
    assert_eq!(e.code(), "28P01");
    assert!(took >= DELAY, "still throttled after a reload: {took:?}");

    // Changed throttle settings do apply on reload.
    let config = std::fs::read_to_string(&s.config_path).unwrap();
    std::fs::write(
        &s.config_path,
        config.replace("max_failures = 3", "max_failures = 0"),
    )
    .unwrap();
    s.reload();
    let (took, _) = cheap_failure(s.addr, None, "alice");
    assert!(took < DELAY, "throttling turned off: {took:?}");
}
