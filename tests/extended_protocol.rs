//! Black-box tests of the extended query protocol over a raw socket: exact
//! message sequences for Parse / Bind / Describe / Execute / Sync / Flush /
//! Close with named and unnamed statements and portals, errors and the
//! discard-until-Sync rule, row-limited Execute, the implicit transaction
//! that lasts until Sync, and the protocol errors' SQLSTATEs.
//!
//! Every scenario runs twice, in session and in transaction pool mode
//! (`session_pool::*`, `transaction_pool::*`). The expected conversations
//! are PostgreSQL 15's, message for message: with
//! `PGIRIS_REFERENCE_PG=host:port` (a PostgreSQL trusting user `postgres`)
//! the session-mode scenarios run against it instead, each in a fresh
//! database, and pass (`-- --include-ignored` too); the few pgiris-only
//! expectations are marked and skipped there.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::ext::{
    bind, bind_with, brief, briefs, close_portal, close_statement, describe_portal,
    describe_statement, exchange_brief, execute, flush, parse, sync,
};
use common::raw::{encode, scalar};
use common::{ADMIN_USER, RawClient, TestServer};
use pgiris::config::PoolMode;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::types::oid;

fn query(sql: &str) -> FrontendMessage {
    FrontendMessage::Query(sql.into())
}

/// Where a scenario runs: a fresh pgiris, or (with `PGIRIS_REFERENCE_PG`
/// set to `host:port` of a PostgreSQL with trust for `postgres`) a fresh
/// database there, to check the expectations against the real thing.
pub struct Target {
    addr: SocketAddr,
    database: String,
    _server: Option<TestServer>,
}

async fn target(mode: PoolMode, name: &str) -> Target {
    if let Ok(reference) = std::env::var("PGIRIS_REFERENCE_PG") {
        let addr: SocketAddr = reference.parse().expect("PGIRIS_REFERENCE_PG=host:port");
        let database = format!("x_{name}");
        let (mut c, _) = RawClient::login(addr, ADMIN_USER, Some("postgres")).await;
        c.query(&format!("DROP DATABASE IF EXISTS {database}"))
            .await;
        c.query(&format!("CREATE DATABASE {database}")).await;
        return Target {
            addr,
            database,
            _server: None,
        };
    }
    let server = TestServer::with(|s| {
        s.backend.pool_mode = mode;
        s.backend.pool_size = 4;
    });
    Target {
        addr: server.addr,
        database: "postgres".into(),
        _server: Some(server),
    }
}

impl Target {
    fn is_reference(&self) -> bool {
        self._server.is_none()
    }
}

async fn login(t: &Target) -> RawClient {
    RawClient::login(t.addr, ADMIN_USER, Some(&t.database))
        .await
        .0
}

/// Runs simple queries that must succeed.
async fn setup(c: &mut RawClient, statements: &[&str]) {
    for s in statements {
        let r = c.query(s).await;
        assert!(
            !r.iter()
                .any(|m| matches!(m, pgiris::wire::backend::BackendMessage::ErrorResponse(_))),
            "{s}: {r:#?}"
        );
    }
}

async fn count(c: &mut RawClient, table: &str) -> i64 {
    scalar(&c.query(&format!("SELECT count(*) FROM {table}")).await)
        .parse()
        .expect("a count")
}

/// Asserts nothing arrives within `d` (the server is waiting for more).
async fn assert_silent(c: &mut RawClient, d: Duration) {
    if let Ok(m) = tokio::time::timeout(d, c.read()).await {
        panic!("expected silence, got {m:?}");
    }
}

/// The five rows every row-limit test pages through.
const FIVE: &[&str] = &[
    "CREATE TABLE five (n int)",
    "INSERT INTO five VALUES (1), (2), (3), (4), (5)",
];

// ---------------------------------------------------------------------------
// Scenarios (each runs in both pool modes, see the bottom of the file)
// ---------------------------------------------------------------------------

/// Parse, Describe (statement), Bind, Describe (portal), Execute, Sync on the
/// unnamed statement and portal, as libpq's PQexecParams sends them.
async fn unnamed_statement_full_cycle(server: Target) {
    let mut c = login(&server).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT $1::int4 + 1 AS x", &[]),
            describe_statement(""),
            bind("", "", &[Some("41")]),
            describe_portal(""),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "t [23]",
            "T [x:23/-1/0]",
            "2",
            "T [x:23/-1/0]",
            "D [42]",
            "C SELECT 1",
            "Z I"
        ]
    );
    // The unnamed statement is replaced by the next Parse.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT 'a'::text AS y", &[]),
            bind("", "", &[]),
            describe_portal(""),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "T [y:25/-1/0]", "D [a]", "C SELECT 1", "Z I"]);
}

/// The whole answer to one pipelined cycle, byte for byte as PostgreSQL 15
/// sends it (binary int4 parameter and result, text result, per-column
/// result formats).
async fn exact_bytes_of_a_cycle(server: Target) {
    let mut c = login(&server).await;
    c.send(&encode(&[
        parse("", "SELECT $1::int4 AS n, $2::text AS s", &[]),
        describe_statement(""),
        bind_with(
            "",
            "",
            &[1, 0],
            vec![Some(vec![0, 0, 0, 7]), Some(b"x".to_vec())],
            &[1, 0],
        ),
        execute("", 0),
        sync(),
    ]))
    .await;
    let expected: &[u8] = b"1\x00\x00\x00\x04\
t\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19\
T\x00\x00\x00\x2e\x00\x02\
n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00\
s\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00\
2\x00\x00\x00\x04\
D\x00\x00\x00\x13\x00\x02\x00\x00\x00\x04\x00\x00\x00\x07\x00\x00\x00\x01x\
C\x00\x00\x00\x0dSELECT 1\x00\
Z\x00\x00\x00\x05I";
    let got = c.read_bytes(expected.len()).await;
    assert_eq!(got, expected, "got {:?}", String::from_utf8_lossy(&got));
    assert_silent(&mut c, Duration::from_millis(100)).await;
}

/// A named statement and a named portal: Describe of both, Execute, Close
/// of both; after Close the names are gone (26000 / 34000).
async fn named_statement_and_portal(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, &["CREATE TABLE t (id int PRIMARY KEY, v text)"]).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("ins", "INSERT INTO t VALUES ($1, $2)", &[]),
            describe_statement("ins"),
            bind("p", "ins", &[Some("1"), Some("one")]),
            describe_portal("p"),
            execute("p", 0),
            close_portal("p"),
            // The statement outlives its portal and binds again.
            bind("p", "ins", &[Some("2"), None]),
            execute("p", 0),
            close_portal("p"),
            close_statement("ins"),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "t [23 25]",
            "n",
            "2",
            "n",
            "C INSERT 0 1",
            "3",
            "2",
            "C INSERT 0 1",
            "3",
            "3",
            "Z I"
        ]
    );
    let r = exchange_brief(&mut c, &[bind("", "ins", &[Some("3"), None]), sync()]).await;
    assert_eq!(
        r,
        [
            "E ERROR 26000 prepared statement \"ins\" does not exist",
            "Z I"
        ]
    );
    let r = exchange_brief(&mut c, &[execute("p", 0), sync()]).await;
    assert_eq!(r, ["E ERROR 34000 portal \"p\" does not exist", "Z I"]);
    // Closing what does not exist is not an error.
    let r = exchange_brief(
        &mut c,
        &[close_statement("nosuch"), close_portal("nosuch"), sync()],
    )
    .await;
    assert_eq!(r, ["3", "3", "Z I"]);
    let r = c.query("SELECT id, v FROM t ORDER BY id").await;
    assert_eq!(
        common::raw::rows(&r),
        vec![
            vec![Some("1".into()), Some("one".into())],
            vec![Some("2".into()), None]
        ]
    );
}

/// Parameter types given in Parse win; missing ones (0) are inferred from
/// the context, as PostgreSQL infers them.
async fn parameter_types_given_or_inferred(server: Target) {
    let mut c = login(&server).await;
    setup(
        &mut c,
        &["CREATE TABLE t (id int PRIMARY KEY, v text, at date)"],
    )
    .await;
    let r = exchange_brief(
        &mut c,
        &[
            // Given.
            parse("", "SELECT $1", &[oid::INT8]),
            describe_statement(""),
            // Inferred from the columns compared with and assigned to.
            parse("", "SELECT v FROM t WHERE id = $1 AND v = $2", &[]),
            describe_statement(""),
            parse("", "UPDATE t SET v = $1 WHERE id = $2", &[]),
            describe_statement(""),
            parse("", "INSERT INTO t (id, at) VALUES ($1, $2)", &[]),
            describe_statement(""),
            // Inferred from a cast.
            parse("", "SELECT $1::date AS d", &[]),
            describe_statement(""),
            // Partly given: 0 means "infer this one".
            parse(
                "",
                "SELECT v FROM t WHERE id = $1 AND v = $2",
                &[0, oid::VARCHAR],
            ),
            describe_statement(""),
            // Nothing to infer from: text, as PostgreSQL resolves unknown.
            parse("", "SELECT $1", &[]),
            describe_statement(""),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "t [20]",
            "T [?column?:20/-1/0]",
            "1",
            "t [23 25]",
            "T [v:25/-1/0]",
            "1",
            "t [25 23]",
            "n",
            "1",
            "t [23 1082]",
            "n",
            "1",
            "t [1082]",
            "T [d:1082/-1/0]",
            "1",
            "t [23 1043]",
            "T [v:25/-1/0]",
            "1",
            "t [25]",
            "T [?column?:25/-1/0]",
            "Z I"
        ]
    );
}

/// Describe answers RowDescription for statements with a result and NoData
/// for the others, session statements included.
async fn row_description_or_no_data(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, &["CREATE TABLE t (id int, v varchar(10))"]).await;
    let mut msgs = Vec::new();
    for sql in [
        "SELECT id, v FROM t",
        "INSERT INTO t VALUES (1, 'a')",
        "INSERT INTO t VALUES (1, 'a') RETURNING v",
        "DELETE FROM t",
        "SET application_name = 'x'",
        "SHOW application_name",
        "BEGIN",
        "",
    ] {
        msgs.push(parse("", sql, &[]));
        msgs.push(describe_statement(""));
    }
    msgs.push(sync());
    let r = exchange_brief(&mut c, &msgs).await;
    assert_eq!(
        r,
        [
            "1",
            "t []",
            "T [id:23/-1/0 v:1043/14/0]",
            "1",
            "t []",
            "n",
            "1",
            "t []",
            "T [v:1043/14/0]",
            "1",
            "t []",
            "n",
            "1",
            "t []",
            "n",
            "1",
            "t []",
            "T [application_name:25/-1/0]",
            "1",
            "t []",
            "n",
            "1",
            "t []",
            "n",
            "Z I"
        ]
    );
    // Describe ran nothing: no row was inserted or deleted.
    assert_eq!(count(&mut c, "t").await, 0);
}

/// Several complete batches pipelined in one write before a single Sync:
/// every result comes back in order and there is one ReadyForQuery.
async fn pipelined_batches_before_one_sync(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, &["CREATE TABLE t (id int PRIMARY KEY, v text)"]).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("ins", "INSERT INTO t VALUES ($1, $2)", &[]),
            bind("", "ins", &[Some("1"), Some("a")]),
            execute("", 0),
            bind("", "ins", &[Some("2"), Some("b")]),
            execute("", 0),
            parse("", "SELECT v FROM t ORDER BY id", &[]),
            bind("", "", &[]),
            describe_portal(""),
            execute("", 0),
            parse("", "SELECT count(*) FROM t", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "C INSERT 0 1",
            "2",
            "C INSERT 0 1",
            "1",
            "2",
            "T [v:25/-1/0]",
            "D [a]",
            "D [b]",
            "C SELECT 2",
            "1",
            "2",
            "D [2]",
            "C SELECT 1",
            "Z I"
        ]
    );
    // Three Syncs in one write: three ReadyForQuery, in order.
    let r = exchange_brief(
        &mut c,
        &[
            bind("", "ins", &[Some("3"), Some("c")]),
            execute("", 0),
            sync(),
            bind("", "ins", &[Some("3"), Some("again")]),
            execute("", 0),
            sync(),
            bind("", "ins", &[Some("4"), Some("d")]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "2",
            "C INSERT 0 1",
            "Z I",
            "2",
            &r[4], // the 23505 text is the backend's
            "Z I",
            "2",
            "C INSERT 0 1",
            "Z I"
        ]
    );
    assert!(r[4].starts_with("E ERROR 23505 "), "{r:#?}");
    assert_eq!(count(&mut c, "t").await, 4);
}

/// After an error every message up to Sync is discarded (nothing runs,
/// nothing is answered), then ReadyForQuery 'I'; the next batch works.
async fn an_error_discards_everything_up_to_sync(server: Target) {
    let mut c = login(&server).await;
    setup(
        &mut c,
        &[
            "CREATE TABLE t (id int PRIMARY KEY)",
            "CREATE TABLE side (n int)",
        ],
    )
    .await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT * FROM nosuch", &[]),
            // Discarded: none of these is answered or run.
            bind("", "", &[]),
            describe_portal(""),
            execute("", 0),
            parse("side", "INSERT INTO side VALUES (1)", &[]),
            bind("", "side", &[]),
            execute("", 0),
            flush(),
            close_statement("side"),
            describe_statement("nosuch"),
            sync(),
            // The next batch is served normally.
            parse("", "SELECT 1 AS one", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "E ERROR 42P01 relation \"nosuch\" does not exist",
            "Z I",
            "1",
            "2",
            "D [1]",
            "C SELECT 1",
            "Z I"
        ]
    );
    assert_eq!(count(&mut c, "side").await, 0);
    // The discarded Parse created nothing.
    let r = exchange_brief(&mut c, &[describe_statement("side"), sync()]).await;
    assert_eq!(
        r,
        [
            "E ERROR 26000 prepared statement \"side\" does not exist",
            "Z I"
        ]
    );
    // An error at Execute time discards the rest the same way.
    let r = exchange_brief(
        &mut c,
        &[
            parse("ins", "INSERT INTO t VALUES ($1)", &[]),
            bind("", "ins", &[Some("1")]),
            execute("", 0),
            bind("", "ins", &[Some("1")]),
            execute("", 0),
            parse("", "INSERT INTO side VALUES (2)", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r.len(), 6, "{r:#?}");
    assert_eq!(r[..4], ["1", "2", "C INSERT 0 1", "2"]);
    assert!(r[4].starts_with("E ERROR 23505 "), "{r:#?}");
    assert_eq!(r[5], "Z I");
    assert_eq!(count(&mut c, "side").await, 0);
}

/// Inside BEGIN an error leaves the block failed: ReadyForQuery 'E', then
/// 25P02 for everything but ROLLBACK/COMMIT (which answers ROLLBACK).
async fn errors_inside_a_transaction_block(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, &["CREATE TABLE t (id int)"]).await;
    assert_eq!(briefs(&c.query("BEGIN").await), ["C BEGIN", "Z T"]);
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "INSERT INTO t VALUES (1)", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "C INSERT 0 1", "Z T"]);
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT * FROM nosuch", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        ["E ERROR 42P01 relation \"nosuch\" does not exist", "Z E"]
    );
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT 1", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "E ERROR 25P02 current transaction is aborted, commands ignored until end of transaction block",
            "Z E"
        ]
    );
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "COMMIT", &[]),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "C ROLLBACK", "Z I"]);
    assert_eq!(count(&mut c, "t").await, 0);
}

/// Execute with a row limit: PortalSuspended after each full page, then the
/// rest. As PostgreSQL, the final tag counts the rows of the last Execute,
/// a page that ends exactly at the last row is still suspended, and a
/// finished portal answers `SELECT 0`.
async fn row_limited_execute_suspends_and_resumes(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, FIVE).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five ORDER BY n", &[]),
            bind("", "", &[]),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "D [1]",
            "D [2]",
            "s",
            "D [3]",
            "D [4]",
            "s",
            "D [5]",
            "C SELECT 1",
            "C SELECT 0",
            "Z I"
        ]
    );
    // A page ending exactly at the last row.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five WHERE n <= 4 ORDER BY n", &[]),
            bind("", "", &[]),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "D [1]",
            "D [2]",
            "s",
            "D [3]",
            "D [4]",
            "s",
            "C SELECT 0",
            "Z I"
        ]
    );
    // A limit larger than the result, a limit of 0 after a page, no rows.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five ORDER BY n", &[]),
            bind("", "", &[]),
            execute("", 1),
            execute("", 0),
            bind("", "", &[]),
            execute("", 10),
            parse("", "SELECT n FROM five WHERE n > 100", &[]),
            bind("", "", &[]),
            execute("", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "D [1]",
            "s",
            "D [2]",
            "D [3]",
            "D [4]",
            "D [5]",
            "C SELECT 4",
            "2",
            "D [1]",
            "D [2]",
            "D [3]",
            "D [4]",
            "D [5]",
            "C SELECT 5",
            "1",
            "2",
            "C SELECT 0",
            "Z I"
        ]
    );
}

/// Inside a transaction block a named portal survives Sync and resumes in
/// the next batch; the end of the transaction closes it (34000), as it
/// closes every portal outside a block at Sync.
async fn portals_live_until_their_transaction_ends(server: Target) {
    let mut c = login(&server).await;
    setup(&mut c, FIVE).await;
    assert_eq!(briefs(&c.query("BEGIN").await), ["C BEGIN", "Z T"]);
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five ORDER BY n", &[]),
            bind("cur", "", &[]),
            execute("cur", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "2", "D [1]", "D [2]", "s", "Z T"]);
    // A simple query inside the block leaves the portal alone.
    assert_eq!(scalar(&c.query("SELECT 7").await), "7");
    let r = exchange_brief(&mut c, &[execute("cur", 2), sync()]).await;
    assert_eq!(r, ["D [3]", "D [4]", "s", "Z T"]);
    let r = exchange_brief(
        &mut c,
        &[
            parse("commit", "COMMIT", &[]),
            bind("", "commit", &[]),
            execute("", 0),
            execute("cur", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "C COMMIT",
            "E ERROR 34000 portal \"cur\" does not exist",
            "Z I"
        ]
    );
    // Outside a block, Sync ends the implicit transaction and its portals.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five ORDER BY n", &[]),
            bind("cur", "", &[]),
            execute("cur", 2),
            sync(),
            execute("cur", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "D [1]",
            "D [2]",
            "s",
            "Z I",
            "E ERROR 34000 portal \"cur\" does not exist",
            "Z I"
        ]
    );
    // So does a simple query.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five ORDER BY n", &[]),
            bind("cur", "", &[]),
            execute("cur", 2),
            sync(),
            query("SELECT 1"),
            execute("cur", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r[r.len() - 2..],
        ["E ERROR 34000 portal \"cur\" does not exist", "Z I"]
    );
    // ROLLBACK closes them too.
    c.query("BEGIN").await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SELECT n FROM five", &[]),
            bind("cur", "", &[]),
            execute("cur", 1),
            parse("", "ROLLBACK", &[]),
            bind("", "", &[]),
            execute("", 0),
            execute("cur", 1),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r[r.len() - 3..],
        [
            "C ROLLBACK",
            "E ERROR 34000 portal \"cur\" does not exist",
            "Z I"
        ]
    );
}

/// Describe never runs a statement, and a bound statement runs exactly
/// once however often its portal is executed: a finished portal answers
/// without running again (55000 for a command, zero rows for a query).
async fn describe_never_runs_and_a_statement_runs_once(server: Target) {
    let mut c = login(&server).await;
    setup(
        &mut c,
        &["CREATE TABLE counter (n int)", "CREATE TABLE t (id int)"],
    )
    .await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("bump", "INSERT INTO counter VALUES (1)", &[]),
            describe_statement("bump"),
            bind("p", "bump", &[]),
            describe_portal("p"),
            describe_portal("p"),
            sync(),
        ],
    )
    .await;
    assert_eq!(r, ["1", "t []", "n", "2", "n", "n", "Z I"]);
    assert_eq!(count(&mut c, "counter").await, 0);

    c.query("BEGIN").await;
    let r = exchange_brief(
        &mut c,
        &[
            bind("p", "bump", &[]),
            describe_portal("p"),
            execute("p", 0),
            execute("p", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "2",
            "n",
            "C INSERT 0 1",
            "E ERROR 55000 portal \"p\" cannot be run",
            "Z E"
        ]
    );
    c.query("ROLLBACK").await;

    let r = exchange_brief(
        &mut c,
        &[
            bind("", "bump", &[]),
            execute("", 0),
            sync(),
            parse(
                "",
                "INSERT INTO counter VALUES (2), (3), (4) RETURNING n",
                &[],
            ),
            describe_statement(""),
            bind("", "", &[]),
            describe_portal(""),
            execute("", 2),
            execute("", 2),
            execute("", 2),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "2",
            "C INSERT 0 1",
            "Z I",
            "1",
            "t []",
            "T [n:23/-1/0]",
            "2",
            "T [n:23/-1/0]",
            "D [2]",
            "D [3]",
            "s",
            "D [4]",
            "C INSERT 0 1",
            "C INSERT 0 0",
            "Z I"
        ]
    );
    let r = c.query("SELECT count(*), sum(n) FROM counter").await;
    assert_eq!(
        common::raw::rows(&r),
        vec![vec![Some("4".into()), Some("10".into())]]
    );
    // Session statements run once too; the empty query answers each time.
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SET statement_timeout = 0", &[]),
            bind("", "", &[]),
            execute("", 0),
            execute("", 0),
            sync(),
            parse("", "SHOW client_encoding", &[]),
            bind("", "", &[]),
            execute("", 0),
            execute("", 0),
            parse("", "", &[]),
            bind("", "", &[]),
            execute("", 0),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "C SET",
            "E ERROR 55000 portal \"\" cannot be run",
            "Z I",
            "1",
            "2",
            "D [UTF8]",
            "C SHOW",
            "C SHOW",
            "1",
            "2",
            "I",
            "I",
            "Z I"
        ]
    );
}

/// Outside a transaction block the statements before Sync form one
/// transaction: two INSERTs and a failing one are all rolled back; a single
/// Execute + Sync commits; nothing is visible to others before Sync.
async fn the_implicit_transaction_lasts_until_sync(server: Target) {
    let mut c = login(&server).await;
    let mut other = login(&server).await;
    setup(&mut c, &["CREATE TABLE t (id int PRIMARY KEY)"]).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("ins", "INSERT INTO t VALUES ($1)", &[]),
            bind("", "ins", &[Some("1")]),
            execute("", 0),
            bind("", "ins", &[Some("2")]),
            execute("", 0),
            bind("", "ins", &[Some("1")]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(r.len(), 8, "{r:#?}");
    assert!(r[6].starts_with("E ERROR 23505 "), "{r:#?}");
    assert_eq!(r[7], "Z I");
    assert_eq!(count(&mut c, "t").await, 0);
    assert_eq!(count(&mut other, "t").await, 0);

    // A single Execute + Sync commits.
    let r = exchange_brief(
        &mut c,
        &[bind("", "ins", &[Some("5")]), execute("", 0), sync()],
    )
    .await;
    assert_eq!(r, ["2", "C INSERT 0 1", "Z I"]);
    assert_eq!(count(&mut other, "t").await, 1);

    // Two statements commit together at Sync, not before.
    c.send(&encode(&[
        bind("", "ins", &[Some("6")]),
        execute("", 0),
        bind("", "ins", &[Some("7")]),
        execute("", 0),
        flush(),
    ]))
    .await;
    for want in ["2", "C INSERT 0 1", "2", "C INSERT 0 1"] {
        assert_eq!(brief(&c.read_message().await), want);
    }
    assert_eq!(count(&mut other, "t").await, 1);
    let r = exchange_brief(&mut c, &[sync()]).await;
    assert_eq!(r, ["Z I"]);
    assert_eq!(count(&mut other, "t").await, 3);

    // A failure at Parse rolls back what ran before it in the batch.
    let r = exchange_brief(
        &mut c,
        &[
            bind("", "ins", &[Some("8")]),
            execute("", 0),
            parse("", "SELECT * FROM nosuch", &[]),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "2",
            "C INSERT 0 1",
            "E ERROR 42P01 relation \"nosuch\" does not exist",
            "Z I"
        ]
    );
    assert_eq!(count(&mut other, "t").await, 3);
}

/// Flush sends what is pending without ReadyForQuery; without Flush or Sync
/// nothing is sent.
async fn flush_sends_pending_output_without_ready_for_query(server: Target) {
    let mut c = login(&server).await;
    c.send(&encode(&[
        parse("", "SELECT 1 AS one", &[]),
        bind("", "", &[]),
    ]))
    .await;
    assert_silent(&mut c, Duration::from_millis(200)).await;
    c.send(&encode(&[describe_portal(""), execute("", 0), flush()]))
        .await;
    for want in ["1", "2", "T [one:23/-1/0]", "D [1]", "C SELECT 1"] {
        assert_eq!(brief(&c.read_message().await), want);
    }
    assert_silent(&mut c, Duration::from_millis(200)).await;
    let r = exchange_brief(&mut c, &[sync()]).await;
    assert_eq!(r, ["Z I"]);
    // Flush after an error sends the error, still without ReadyForQuery.
    c.send(&encode(&[parse("", "SELECT * FROM nosuch", &[]), flush()]))
        .await;
    assert_eq!(
        brief(&c.read_message().await),
        "E ERROR 42P01 relation \"nosuch\" does not exist"
    );
    assert_silent(&mut c, Duration::from_millis(200)).await;
    assert_eq!(exchange_brief(&mut c, &[sync()]).await, ["Z I"]);
}

/// The protocol's own errors, with PostgreSQL's SQLSTATEs and texts.
async fn protocol_errors(server: Target) {
    let mut c = login(&server).await;
    let cases: Vec<(Vec<FrontendMessage>, Vec<&str>)> = vec![
        (
            vec![parse("a", "SELECT 1", &[]), parse("a", "SELECT 2", &[])],
            vec!["1", "E ERROR 42P05 prepared statement \"a\" already exists"],
        ),
        // The unnamed statement may be replaced at will.
        (
            vec![parse("", "SELECT 1", &[]), parse("", "SELECT 2", &[])],
            vec!["1", "1"],
        ),
        (
            vec![bind("", "nosuch", &[])],
            vec!["E ERROR 26000 prepared statement \"nosuch\" does not exist"],
        ),
        (
            vec![describe_statement("nosuch")],
            vec!["E ERROR 26000 prepared statement \"nosuch\" does not exist"],
        ),
        (
            vec![execute("nosuch", 0)],
            vec!["E ERROR 34000 portal \"nosuch\" does not exist"],
        ),
        (
            vec![describe_portal("nosuch")],
            vec!["E ERROR 34000 portal \"nosuch\" does not exist"],
        ),
        (
            vec![parse("", "SELECT $1::int4", &[]), bind("", "", &[])],
            vec![
                "1",
                "E ERROR 08P01 bind message supplies 0 parameters, but prepared statement \"\" requires 1",
            ],
        ),
        (
            vec![
                parse("two", "SELECT 1", &[]),
                bind("", "two", &[Some("1"), Some("2")]),
            ],
            vec![
                "1",
                "E ERROR 08P01 bind message supplies 2 parameters, but prepared statement \"two\" requires 0",
            ],
        ),
        (
            vec![
                parse("", "SELECT 1, 2", &[]),
                bind_with("", "", &[], vec![], &[0, 0, 0]),
            ],
            vec![
                "1",
                "E ERROR 08P01 bind message has 3 result formats but query has 2 columns",
            ],
        ),
        // A binary parameter longer than its type.
        (
            vec![
                parse("", "SELECT $1::int4", &[]),
                bind_with("", "", &[1], vec![Some(vec![0, 0, 0, 0, 1])], &[]),
            ],
            vec![
                "1",
                "E ERROR 22P03 incorrect binary data format in bind parameter 1",
            ],
        ),
        (
            vec![parse("", "SELECT 1; SELECT 2", &[])],
            vec!["E ERROR 42601 cannot insert multiple commands into a prepared statement"],
        ),
    ];
    for (mut msgs, mut want) in cases {
        let what = format!("{msgs:?}");
        msgs.push(sync());
        want.push("Z I");
        assert_eq!(exchange_brief(&mut c, &msgs).await, want, "{what}");
    }
    // Still fine afterwards; the names that failed were not created.
    let r = exchange_brief(
        &mut c,
        &[
            bind("", "a", &[]),
            execute("", 0),
            describe_statement("two"),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "2",
            "D [1]",
            "C SELECT 1",
            "t []",
            "T [?column?:23/-1/0]",
            "Z I"
        ]
    );
    // pgiris has no binary output for interval (PostgreSQL has): asking for
    // it is refused at Bind, before any row, never answered with wrong
    // bytes; the other columns may still be binary.
    if !server.is_reference() {
        for formats in [&[1][..], &[0, 1]] {
            let r = exchange_brief(
                &mut c,
                &[
                    parse("", "SELECT 1 AS a, '1 day'::interval AS b", &[]),
                    bind_with("", "", &[], vec![], formats),
                    execute("", 0),
                    sync(),
                ],
            )
            .await;
            assert_eq!(
                r,
                [
                    "1",
                    "E ERROR 42883 no binary output function available for type interval",
                    "Z I"
                ],
                "{formats:?}"
            );
        }
        let r = exchange_brief(
            &mut c,
            &[
                parse("", "SELECT 1 AS a, '1 day'::interval AS b", &[]),
                bind_with("", "", &[], vec![], &[1, 0]),
                execute("", 0),
                sync(),
            ],
        )
        .await;
        assert_eq!(r, ["1", "2", "D [0x00000001 1 day]", "C SELECT 1", "Z I"]);
    }
}

/// COMMIT and ROLLBACK with no transaction answer a WARNING notice first
/// (25P01), over the extended protocol as over the simple one.
async fn commit_without_a_transaction_warns(server: Target) {
    let mut c = login(&server).await;
    for (sql, tag) in [("COMMIT", "C COMMIT"), ("ROLLBACK", "C ROLLBACK")] {
        let r = exchange_brief(
            &mut c,
            &[
                parse("", sql, &[]),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        )
        .await;
        assert_eq!(
            r,
            [
                "1",
                "2",
                "N WARNING 25P01 there is no transaction in progress",
                tag,
                "Z I"
            ]
        );
    }
    // BEGIN twice: the second one warns 25001.
    let r = exchange_brief(
        &mut c,
        &[
            parse("b", "BEGIN", &[]),
            bind("", "b", &[]),
            execute("", 0),
            bind("", "b", &[]),
            execute("", 0),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "C BEGIN",
            "2",
            "N WARNING 25001 there is already a transaction in progress",
            "C BEGIN",
            "Z T"
        ]
    );
    assert_eq!(briefs(&c.query("ROLLBACK").await), ["C ROLLBACK", "Z I"]);
}

/// PostgreSQL runs a SET in the implicit transaction of its batch, so an
/// error later in the batch undoes it (and no ParameterStatus is sent).
#[tokio::test]
async fn a_set_in_a_failed_implicit_transaction_is_rolled_back() {
    let t = target(PoolMode::Session, "set_rollback").await;
    let mut c = login(&t).await;
    let r = exchange_brief(
        &mut c,
        &[
            parse("", "SET application_name = 'undone'", &[]),
            bind("", "", &[]),
            execute("", 0),
            parse("", "SELECT * FROM nosuch", &[]),
            sync(),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            "1",
            "2",
            "C SET",
            "E ERROR 42P01 relation \"nosuch\" does not exist",
            "Z I"
        ]
    );
    assert_eq!(scalar(&c.query("SHOW application_name").await), "");
}

macro_rules! in_both_pool_modes {
    ($($name:ident),* $(,)?) => {
        mod session_pool {
            use pgiris::config::PoolMode;
            $(
                #[tokio::test]
                async fn $name() {
                    let t = super::target(PoolMode::Session, concat!("s_", stringify!($name))).await;
                    super::$name(t).await
                }
            )*
        }
        mod transaction_pool {
            use pgiris::config::PoolMode;
            $(
                #[tokio::test]
                async fn $name() {
                    let t = super::target(PoolMode::Transaction, concat!("t_", stringify!($name))).await;
                    super::$name(t).await
                }
            )*
        }
    };
}

in_both_pool_modes!(
    unnamed_statement_full_cycle,
    exact_bytes_of_a_cycle,
    named_statement_and_portal,
    parameter_types_given_or_inferred,
    row_description_or_no_data,
    pipelined_batches_before_one_sync,
    an_error_discards_everything_up_to_sync,
    errors_inside_a_transaction_block,
    row_limited_execute_suspends_and_resumes,
    portals_live_until_their_transaction_ends,
    describe_never_runs_and_a_statement_runs_once,
    the_implicit_transaction_lasts_until_sync,
    flush_sends_pending_output_without_ready_for_query,
    protocol_errors,
    commit_without_a_transaction_warns,
);
