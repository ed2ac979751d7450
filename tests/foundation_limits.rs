//! Black-box tests of connection limits (total, reserved for admins, per
//! user, per database) and of slot accounting: every way out of a session
//! gives its slot back.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::raw::{V3_0, message_of};
use common::{ADMIN_USER, RawClient, TestServer, USER_ALICE, USER_BOB, code_of, psql};

const SHORT: Duration = Duration::from_secs(5);

/// Connects as `user` to `database` and expects the 53300 refusal, sent
/// before any authentication message; returns its message.
async fn refused(server: &TestServer, user: &str, database: &str) -> String {
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(V3_0, &[("user", user), ("database", database)])
        .await;
    let e = c.expect_fatal("53300").await;
    message_of(&e).to_owned()
}

async fn login(server: &TestServer, user: &str, database: &str) -> RawClient {
    RawClient::login(server.addr, user, Some(database)).await.0
}

#[tokio::test]
async fn max_connections_admits_n_and_refuses_the_next_with_53300() {
    let server = TestServer::with(|s| {
        s.server.max_connections = 3;
        s.server.reserved_connections = 0;
    });
    let mark = server.log.mark();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(login(&server, USER_ALICE, "postgres").await);
    }
    assert_eq!(server.sessions(), 3);
    assert_eq!(
        refused(&server, USER_ALICE, "postgres").await,
        "sorry, too many clients already"
    );
    // Admins are no exception once every slot is taken.
    assert_eq!(
        refused(&server, ADMIN_USER, "postgres").await,
        "sorry, too many clients already"
    );
    server
        .log
        .wait_for(mark, SHORT, "limit_rejected", |r| {
            r.event() == Some("limit_rejected")
                && r.get("reason") == Some("sorry, too many clients already")
        })
        .await;

    // The error reaches real clients too.
    let e = common::try_connect_with(&common::pg_config(server.addr, USER_ALICE, "postgres"))
        .await
        .err()
        .expect("a fourth connection must be refused");
    assert_eq!(code_of(&e), "53300");
    let addr = server.addr;
    let out = tokio::task::spawn_blocking(move || {
        psql(addr, USER_ALICE, "postgres", &["-c", "SELECT 1"])
    })
    .await
    .expect("psql");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("FATAL:  sorry, too many clients already"),
        "{out:?}"
    );

    // One leaves: one more gets in.
    held.pop().expect("a session").terminate().await;
    server.wait_sessions(2, SHORT).await;
    held.push(login(&server, USER_ALICE, "postgres").await);
    assert_eq!(server.sessions(), 3);
    for c in held {
        c.terminate().await;
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn reserved_connections_are_for_admin_users_only() {
    let server = TestServer::with(|s| {
        s.server.max_connections = 3;
        s.server.reserved_connections = 1;
        s.server.admin_users = vec![ADMIN_USER.into()];
    });
    let mut held = vec![
        login(&server, USER_ALICE, "postgres").await,
        login(&server, USER_BOB, "postgres").await,
    ];
    assert_eq!(
        refused(&server, USER_ALICE, "postgres").await,
        "remaining connection slots are reserved for roles with the SUPERUSER attribute"
    );
    // The admin takes the reserved slot, and is a superuser.
    let (admin, l) = RawClient::login(server.addr, ADMIN_USER, None).await;
    assert_eq!(l.param("is_superuser"), Some("on"));
    held.push(admin);
    assert_eq!(
        refused(&server, ADMIN_USER, "postgres").await,
        "sorry, too many clients already"
    );
    for c in held {
        c.terminate().await;
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn per_user_caps_refuse_with_too_many_connections_for_role() {
    let server = TestServer::with(|s| {
        s.server.max_user_connections = 2;
        s.server.user_connection_limits = BTreeMap::from([(USER_BOB.to_owned(), 1)]);
    });
    let bob = login(&server, USER_BOB, "postgres").await;
    assert_eq!(
        refused(&server, USER_BOB, "postgres").await,
        "too many connections for role \"bob\""
    );
    // The default cap applies to everyone else.
    let a1 = login(&server, USER_ALICE, "postgres").await;
    let a2 = login(&server, USER_ALICE, "other").await;
    assert_eq!(
        refused(&server, USER_ALICE, "postgres").await,
        "too many connections for role \"alice\""
    );
    // Leaving gives the user's slot back.
    bob.terminate().await;
    server.wait_sessions(2, SHORT).await;
    let bob = login(&server, USER_BOB, "postgres").await;
    for c in [bob, a1, a2] {
        c.terminate().await;
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn per_database_caps_refuse_with_too_many_connections_for_database() {
    let server = TestServer::with(|s| {
        s.server.max_db_connections = 2;
        s.server.database_connection_limits = BTreeMap::from([("other".to_owned(), 1)]);
    });
    let o = login(&server, USER_ALICE, "other").await;
    assert_eq!(
        refused(&server, USER_BOB, "other").await,
        "too many connections for database \"other\""
    );
    let p1 = login(&server, USER_ALICE, "postgres").await;
    let p2 = login(&server, USER_BOB, "postgres").await;
    assert_eq!(
        refused(&server, ADMIN_USER, "postgres").await,
        "too many connections for database \"postgres\""
    );
    o.terminate().await;
    server.wait_sessions(2, SHORT).await;
    let o = login(&server, USER_BOB, "other").await;
    for c in [o, p1, p2] {
        c.terminate().await;
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn slots_come_back_on_every_way_out() {
    let server = TestServer::with(|s| {
        s.server.max_connections = 2;
        s.server.reserved_connections = 0;
        s.server.max_user_connections = 1;
    });
    // Terminate.
    let c = login(&server, USER_ALICE, "postgres").await;
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;

    // A plain disconnect.
    let c = login(&server, USER_ALICE, "postgres").await;
    drop(c);
    server.wait_sessions(0, SHORT).await;

    // A half-close (end of stream, socket still open).
    let mut c = login(&server, USER_ALICE, "postgres").await;
    c.shutdown_write().await;
    c.expect_closed().await;
    server.wait_sessions(0, SHORT).await;

    // A FATAL protocol violation.
    let mut c = login(&server, USER_ALICE, "postgres").await;
    c.send(&[b'z', 0, 0, 0, 4]).await;
    c.expect_fatal("08P01").await;
    server.wait_sessions(0, SHORT).await;

    // An ordinary ERROR keeps the slot; the session then times out idle.
    let mut c = login(&server, USER_ALICE, "postgres").await;
    c.query("SELECT * FROM nosuch").await;
    assert_eq!(server.sessions(), 1);
    c.query("SET idle_session_timeout = '100ms'").await;
    c.expect_fatal("57P05").await;
    server.wait_sessions(0, SHORT).await;

    // Failed logins never keep one: unknown database, unknown parameter.
    for params in [
        vec![("user", USER_ALICE), ("database", "nosuchdb")],
        vec![("user", USER_ALICE), ("nosuch_param", "1")],
    ] {
        let mut c = RawClient::connect(server.addr).await;
        c.send_startup(V3_0, &params).await;
        c.read_until_closed().await;
        server.wait_sessions(0, SHORT).await;
    }

    // Refusals by a limit leave nothing pending.
    let held = login(&server, USER_ALICE, "postgres").await;
    refused(&server, USER_ALICE, "postgres").await;
    server.wait_sessions(1, SHORT).await;
    held.terminate().await;
    server.wait_sessions(0, SHORT).await;

    // After all that the user's cap still admits exactly one.
    let c = login(&server, USER_ALICE, "postgres").await;
    refused(&server, USER_ALICE, "postgres").await;
    c.terminate().await;
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn many_clients_coming_and_going_leave_no_slot_behind() {
    let server = TestServer::with(|s| s.server.max_connections = 50);
    let addr = server.addr;
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = RawClient::login(addr, USER_ALICE, Some("postgres")).await;
            let r = c.query("SELECT 1").await;
            assert_eq!(common::raw::scalar(&r), "1");
            match i % 3 {
                0 => c.terminate().await,
                1 => drop(c),
                _ => {
                    c.send(&[b'z', 0, 0, 0, 4]).await;
                    c.expect_fatal("08P01").await;
                }
            }
        }));
    }
    // Negotiations abandoned half-way, too.
    for _ in 0..10 {
        let mut c = RawClient::connect(addr).await;
        c.send(&[0, 0, 0]).await;
        drop(c);
    }
    for t in tasks {
        t.await.expect("client task");
    }
    server.wait_sessions(0, SHORT).await;
}

#[tokio::test]
async fn sockets_beyond_max_pending_connections_are_closed_at_once() {
    let server = TestServer::with(|s| s.server.max_pending_connections = 2);
    let mark = server.log.mark();
    // Two sockets that never send a startup packet hold both places.
    let _a = RawClient::connect(server.addr).await;
    let _b = RawClient::connect(server.addr).await;
    assert!(common::wait_until(SHORT, || server.pending() == 2).await);
    let mut c = RawClient::connect(server.addr).await;
    c.expect_closed().await;
    server
        .log
        .wait_for(mark, SHORT, "limit_rejected", |r| {
            r.event() == Some("limit_rejected")
        })
        .await;
    drop((_a, _b));
    server.wait_sessions(0, SHORT).await;
    // Places free again: a login goes through.
    let (c, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    c.terminate().await;
}
