//! The end-to-end scenario through pgiris with `backend.kind = "iris"`,
//! shared by the test-double tier (`tests/iris_e2e.rs`) and the live tier
//! (`tests/iris_live.rs`): a pgiris server pointed at an IRIS (or the IRIS
//! test double) with the service password in a file, and the checks psql and
//! tokio-postgres run through it.
//!
//! The SQL is written so that IRIS and the double's SQLite both accept it;
//! every check names the table it was given, so runs never collide.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pgiris::config::{BackendKind, IrisSettings, Settings};
use tempfile::TempDir;
use tokio_postgres::NoTls;

use crate::common::{PgClient, TestServer, code_of, pg_config, psql_env, try_connect_with};

/// A pgiris server with the IRIS backend, and the directory holding its
/// service password file.
pub struct IrisPgiris {
    pub server: TestServer,
    pub secrets: TempDir,
}

impl std::ops::Deref for IrisPgiris {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// Starts pgiris on 127.0.0.1:0 with `iris` as its backend settings, the
/// service password written to a file (never the process environment), and
/// `tweak` applied last.
pub fn start_pgiris(
    iris: IrisSettings,
    service_password: &str,
    tweak: impl FnOnce(&mut Settings),
) -> IrisPgiris {
    let secrets = tempfile::tempdir().expect("temp dir for the password file");
    let file = secrets.path().join("iris-password");
    std::fs::write(&file, format!("{service_password}\n")).expect("write password file");
    let server = TestServer::with(|s| {
        s.backend.kind = BackendKind::Iris;
        s.backend.iris = IrisSettings {
            password_file: file.to_string_lossy().into_owned(),
            ..iris
        };
        tweak(s);
    });
    IrisPgiris { server, secrets }
}

/// Connects with tokio-postgres; panics with the server's log on failure.
pub async fn connect(server: &TestServer, user: &str, db: &str) -> PgClient {
    match try_connect_with(&pg_config(server.addr, user, db)).await {
        Ok(c) => c,
        Err(e) => panic!(
            "connect as {user} to {db}: {e:?}\nlog:\n{}",
            server.log.dump()
        ),
    }
}

/// The text of the first column of the first row of a simple query.
pub async fn scalar(c: &PgClient, sql: &str) -> String {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    for m in msgs {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            return r.get(0).unwrap_or("<NULL>").to_string();
        }
    }
    panic!("{sql}: no row");
}

/// A statement that runs for many seconds on IRIS and on SQLite (a 5-way
/// self join of `table`, which must hold `SLOW_ROWS` rows), to be
/// cancelled.
pub fn slow_query(table: &str) -> String {
    format!("SELECT COUNT(*) FROM {table} a, {table} b, {table} c, {table} d, {table} e")
}

/// Rows the slow query's table needs.
pub const SLOW_ROWS: i32 = 60;

/// CREATE TABLE for the scenario's main table.
pub fn create_table(table: &str) -> String {
    format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INTEGER)")
}

/// Runs `sql` on `c` while another task cancels it after `after`; returns
/// the statement's error code and how long it took.
pub async fn cancel_after(c: &PgClient, sql: &str, after: Duration) -> (String, Duration) {
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        token.cancel_query(NoTls).await
    });
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), c.simple_query(sql))
        .await
        .expect("the cancelled statement ended within 60 s");
    let took = start.elapsed();
    canceller
        .await
        .expect("cancel task")
        .expect("cancel request sent");
    match r {
        Ok(_) => panic!("{sql} finished before the cancel ({took:?}); make it slower"),
        Err(e) => (code_of(&e), took),
    }
}

/// The tokio-postgres half of the scenario: parameters, transactions
/// (commit and rollback seen from a second session), errors with their
/// SQLSTATEs, and a cancel after which the session goes on. `table` must
/// not exist yet; it is created here.
pub async fn tokio_postgres_scenario(server: &TestServer, user: &str, db: &str, table: &str) {
    let c = connect(server, user, db).await;
    let other = connect(server, user, db).await;
    c.batch_execute(&create_table(table))
        .await
        .unwrap_or_else(|e| panic!("create table: {e:?}"));

    // Parameters, through Parse/Describe/Bind/Execute: NULL and '' apart.
    let insert = format!("INSERT INTO {table} (id, name, qty) VALUES ($1, $2, $3)");
    let n = c
        .execute(insert.as_str(), &[&1i32, &"one", &Some(10i32)])
        .await
        .unwrap_or_else(|e| panic!("insert with parameters: {e:?}"));
    assert_eq!(n, 1);
    c.execute(insert.as_str(), &[&2i32, &"", &None::<i32>])
        .await
        .unwrap_or_else(|e| panic!("insert with NULL and '': {e:?}"));
    let rows = c
        .query(
            format!("SELECT id, name, qty FROM {table} WHERE id >= $1 ORDER BY id").as_str(),
            &[&1i32],
        )
        .await
        .unwrap_or_else(|e| panic!("select with a parameter: {e:?}"));
    let got: Vec<(i32, String, Option<i32>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![(1, "one".to_string(), Some(10)), (2, String::new(), None)]
    );
    let n = c
        .execute(
            format!("UPDATE {table} SET qty = $1 WHERE id = $2").as_str(),
            &[&11i32, &1i32],
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "update count");

    // Transactions: rollback leaves nothing, commit is seen by others.
    let count = |t: &str| format!("SELECT COUNT(*) FROM {t}");
    {
        let mut c = connect(server, user, db).await;
        let tx = c.client.transaction().await.unwrap();
        tx.execute(insert.as_str(), &[&10i32, &"rolled back", &None::<i32>])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(scalar(&other, &count(table)).await, "2", "after ROLLBACK");
        let tx = c.client.transaction().await.unwrap();
        tx.execute(insert.as_str(), &[&11i32, &"committed", &None::<i32>])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(scalar(&other, &count(table)).await, "3", "after COMMIT");
    }

    // Errors: SQLSTATEs, and the session goes on.
    let e = c
        .query("SELECT * FROM pgiris_e2e_no_such_table", &[])
        .await
        .expect_err("missing table");
    assert_eq!(code_of(&e), "42P01", "{e:?}");
    let e = c
        .execute(insert.as_str(), &[&1i32, &"duplicate", &None::<i32>])
        .await
        .expect_err("duplicate key");
    assert_eq!(code_of(&e), "23505", "{e:?}");
    let e = c
        .batch_execute(&format!("INSERT INTO {table} (id, name) VALUES (99, NULL)"))
        .await
        .expect_err("NULL into NOT NULL");
    assert_eq!(code_of(&e), "23502", "{e:?}");
    // An error inside a transaction: 25P02 until ROLLBACK, as PostgreSQL.
    c.batch_execute("BEGIN").await.unwrap();
    let e = c
        .batch_execute("SELECT * FROM pgiris_e2e_no_such_table")
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "42P01");
    let e = c.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), "25P02");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(scalar(&c, &count(table)).await, "3");

    // Cancel: IRIS has no cancel message; the busy IRIS connection is
    // closed and replaced, and the session goes on.
    let fill = format!("INSERT INTO {table} (id, name) VALUES ($1, 'x')");
    for id in 100..100 + SLOW_ROWS - 3 {
        c.execute(fill.as_str(), &[&id]).await.unwrap();
    }
    let (code, took) = cancel_after(&c, &slow_query(table), Duration::from_millis(300)).await;
    assert_eq!(code, "57014");
    assert!(took < Duration::from_secs(20), "cancel took {took:?}");
    let rows = c
        .query(
            format!("SELECT name FROM {table} WHERE id = $1").as_str(),
            &[&1i32],
        )
        .await
        .unwrap_or_else(|e| panic!("the session after a cancel: {e:?}"));
    assert_eq!(rows[0].get::<_, String>(0), "one");
    // The second session was never disturbed.
    assert_eq!(scalar(&other, &count(table)).await, (SLOW_ROWS).to_string());
    c.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap_or_else(|e| panic!("drop table: {e:?}"));
}

/// The psql half: a simple-protocol session per invocation with queries,
/// a rolled-back and a committed transaction, errors with their SQLSTATE
/// (`VERBOSITY=verbose` prints it), and a statement cancelled by
/// statement_timeout (the same interrupt as a cancel request) after which
/// the session goes on. `table` must not exist yet.
pub fn psql_scenario(addr: SocketAddr, user: &str, db: &str, table: &str, env: &[(&str, &str)]) {
    let run = |args: &[&str]| {
        let mut all = vec!["-Atq", "-v", "VERBOSITY=verbose"];
        all.extend_from_slice(args);
        psql_env(addr, user, db, &all, env)
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(out.success(), "psql {args:?} failed: {}", out.stderr);
        out.stdout
    };
    ok(&["-c", &create_table(table)]);
    ok(&[
        "-c",
        &format!("INSERT INTO {table} (id, name, qty) VALUES (1, 'one', 10)"),
        "-c",
        &format!("INSERT INTO {table} (id, name) VALUES (2, '')"),
    ]);
    let out = ok(&[
        "-c",
        &format!("SELECT id, name, qty FROM {table} ORDER BY id"),
    ]);
    assert_eq!(out, "1|one|10\n2||\n");
    let out = ok(&[
        "-c",
        "BEGIN",
        "-c",
        &format!("INSERT INTO {table} (id, name) VALUES (3, 'gone')"),
        "-c",
        "ROLLBACK",
        "-c",
        &format!("SELECT COUNT(*) FROM {table}"),
        "-c",
        "BEGIN",
        "-c",
        &format!("INSERT INTO {table} (id, name) VALUES (4, 'kept')"),
        "-c",
        "COMMIT",
        "-c",
        &format!("SELECT COUNT(*) FROM {table}"),
    ]);
    assert_eq!(out, "2\n3\n");

    let out = run(&["-c", "SELECT * FROM pgiris_e2e_no_such_table"]);
    assert!(!out.success());
    assert!(out.stderr.contains("ERROR:  42P01:"), "{}", out.stderr);
    let out = run(&[
        "-c",
        &format!("INSERT INTO {table} (id, name) VALUES (1, 'dup')"),
        "-c",
        "SELECT 'still here'",
    ]);
    assert!(out.stderr.contains("ERROR:  23505:"), "{}", out.stderr);
    assert_eq!(out.stdout, "still here\n");

    for id in 100..100 + SLOW_ROWS - 3 {
        ok(&[
            "-c",
            &format!("INSERT INTO {table} (id, name) VALUES ({id}, 'x')"),
        ]);
    }
    let start = Instant::now();
    let out = run(&[
        "-c",
        "SET statement_timeout = '300ms'",
        "-c",
        &slow_query(table),
        "-c",
        "SET statement_timeout = 0",
        "-c",
        &format!("SELECT name FROM {table} WHERE id = 1"),
    ]);
    assert!(out.stderr.contains("ERROR:  57014:"), "{}", out.stderr);
    assert!(out.stderr.contains("statement timeout"), "{}", out.stderr);
    assert_eq!(out.stdout, "one\n", "the session after the cancel");
    assert!(start.elapsed() < Duration::from_secs(20));
    ok(&["-c", &format!("DROP TABLE {table}")]);
}
