//! Black-box tests of the simple query protocol and session statements on
//! the embedded default backend: raw bytes for exact message sequences,
//! tokio-postgres and psql as real clients.

mod common;

use common::raw::{assert_error, message_of, rows, scalar, status, tags};
use common::{ADMIN_USER, RawClient, TestServer, USER_ALICE, code_of, connect, psql};
use pgiris::config::PoolMode;
use pgiris::wire::backend::BackendMessage;

fn cc(tag: &str) -> BackendMessage {
    BackendMessage::CommandComplete(tag.to_owned())
}

fn rfq(s: u8) -> BackendMessage {
    BackendMessage::ReadyForQuery(s)
}

fn ps(name: &str, value: &str) -> BackendMessage {
    BackendMessage::ParameterStatus {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

#[tokio::test]
async fn several_statements_in_one_query_run_in_an_implicit_transaction() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let r = c
        .query("CREATE TABLE t (a int); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); SELECT a FROM t ORDER BY a")
        .await;
    assert_eq!(
        tags(&r),
        vec!["CREATE TABLE", "INSERT 0 1", "INSERT 0 1", "SELECT 2"]
    );
    assert_eq!(
        rows(&r),
        vec![vec![Some("1".to_owned())], vec![Some("2".to_owned())]]
    );
    assert_eq!(status(&r), b'I');

    // The second statement fails: the first is rolled back with it, and
    // the statements after the error do not run.
    let r = c
        .query("INSERT INTO t VALUES (3); INSERT INTO nosuch VALUES (4); INSERT INTO t VALUES (5)")
        .await;
    assert_eq!(r.len(), 3, "{r:#?}");
    assert_eq!(r[0], cc("INSERT 0 1"));
    assert_error(&r[1], "ERROR", "42P01");
    assert_eq!(r[2], rfq(b'I'));
    let r = c.query("SELECT count(*) FROM t").await;
    assert_eq!(scalar(&r), "2");
    c.terminate().await;
}

#[tokio::test]
async fn empty_queries_get_empty_query_response() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    for q in ["", ";", "  ;  ; ", "\n"] {
        let r = c.query(q).await;
        assert_eq!(
            r,
            vec![BackendMessage::EmptyQueryResponse, rfq(b'I')],
            "{q:?}"
        );
    }
    c.terminate().await;
}

#[tokio::test]
async fn command_tags_are_written_as_postgresql_does() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let cases = [
        ("CREATE TABLE tags (a int, b text)", "CREATE TABLE"),
        (
            "INSERT INTO tags VALUES (1, 'x'), (2, 'y'), (3, 'z')",
            "INSERT 0 3",
        ),
        ("UPDATE tags SET b = 'w' WHERE a >= 2", "UPDATE 2"),
        ("UPDATE tags SET b = 'v' WHERE a > 100", "UPDATE 0"),
        ("DELETE FROM tags WHERE a = 1", "DELETE 1"),
        ("SELECT * FROM tags", "SELECT 2"),
        ("SELECT 1", "SELECT 1"),
        ("DROP TABLE tags", "DROP TABLE"),
    ];
    for (sql, tag) in cases {
        let r = c.query(sql).await;
        assert_eq!(tags(&r), vec![tag], "{sql}: {r:#?}");
        assert_eq!(status(&r), b'I');
    }
    c.terminate().await;
}

#[tokio::test]
async fn row_descriptions_carry_postgresql_type_oids() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("CREATE TABLE typed (i int, t text, b bigint)")
        .await;
    c.query("INSERT INTO typed VALUES (7, 'seven', 9000000000)")
        .await;
    let r = c.query("SELECT i, t, b FROM typed").await;
    let BackendMessage::RowDescription(cols) = &r[0] else {
        panic!("expected RowDescription first: {r:#?}");
    };
    let summary: Vec<(&str, u32, i16, i32, i16)> = cols
        .iter()
        .map(|(name, _, _, oid, size, typmod, format)| {
            (name.as_str(), *oid, *size, *typmod, *format)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("i", 23, 4, -1, 0),
            ("t", 25, -1, -1, 0),
            ("b", 20, 8, -1, 0)
        ]
    );
    assert_eq!(
        r[1],
        BackendMessage::DataRow(vec![
            Some("7".into()),
            Some("seven".into()),
            Some("9000000000".into())
        ])
    );
    assert_eq!(r[2], cc("SELECT 1"));
    assert_eq!(r[3], rfq(b'I'));
    assert_eq!(r.len(), 4);

    // An expression without a declared type: int4 from its value, named
    // ?column? as PostgreSQL names it.
    let r = c.query("SELECT 1").await;
    let BackendMessage::RowDescription(cols) = &r[0] else {
        panic!("{r:#?}")
    };
    assert_eq!(cols[0].0, "?column?");
    assert_eq!(cols[0].3, 23);
    c.terminate().await;
}

#[tokio::test]
async fn an_error_is_an_error_response_with_s_v_c_m_then_ready_for_query() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let r = c.query("SELECT * FROM nosuch").await;
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_error(&r[0], "ERROR", "42P01");
    let BackendMessage::ErrorResponse(fields) = &r[0] else {
        unreachable!()
    };
    let codes: Vec<u8> = fields.iter().map(|(c, _)| *c).collect();
    assert_eq!(&codes[..4], b"SVCM");
    assert_eq!(r[1], rfq(b'I'));
    // The session goes on.
    assert_eq!(scalar(&c.query("SELECT 2").await), "2");
    c.terminate().await;
}

#[tokio::test]
async fn transaction_status_follows_begin_errors_and_rollback() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("CREATE TABLE tx (a int)").await;

    assert_eq!(c.query("BEGIN").await, vec![cc("BEGIN"), rfq(b'T')]);
    assert_eq!(
        c.query("INSERT INTO tx VALUES (1)").await,
        vec![cc("INSERT 0 1"), rfq(b'T')]
    );
    let r = c.query("SELECT * FROM nosuch").await;
    assert_eq!(r.len(), 2);
    assert_error(&r[0], "ERROR", "42P01");
    assert_eq!(r[1], rfq(b'E'));
    // Every statement is refused until the block ends.
    for q in [
        "SELECT 1",
        "INSERT INTO tx VALUES (2)",
        "SET application_name = 'x'",
    ] {
        let r = c.query(q).await;
        assert_eq!(r.len(), 2, "{q}: {r:#?}");
        assert_error(&r[0], "ERROR", "25P02");
        assert_eq!(
            message_of(&r[0]),
            "current transaction is aborted, commands ignored until end of transaction block"
        );
        assert_eq!(r[1], rfq(b'E'));
    }
    // COMMIT of a failed block answers ROLLBACK.
    assert_eq!(c.query("COMMIT").await, vec![cc("ROLLBACK"), rfq(b'I')]);
    assert_eq!(scalar(&c.query("SELECT count(*) FROM tx").await), "0");

    // ROLLBACK out of 'E' too, and a committed block keeps its rows.
    c.query("BEGIN").await;
    let r = c.query("SELECT * FROM nosuch").await;
    assert_eq!(status(&r), b'E');
    assert_eq!(c.query("ROLLBACK").await, vec![cc("ROLLBACK"), rfq(b'I')]);
    c.query("BEGIN").await;
    c.query("INSERT INTO tx VALUES (3)").await;
    assert_eq!(c.query("COMMIT").await, vec![cc("COMMIT"), rfq(b'I')]);
    assert_eq!(scalar(&c.query("SELECT count(*) FROM tx").await), "1");
    c.terminate().await;
}

#[tokio::test]
async fn commit_and_rollback_outside_a_transaction_warn_25p01() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    for (q, tag) in [
        ("COMMIT", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        ("END", "COMMIT"),
    ] {
        let r = c.query(q).await;
        assert_eq!(r.len(), 3, "{q}: {r:#?}");
        assert!(matches!(r[0], BackendMessage::NoticeResponse(_)), "{r:#?}");
        assert_eq!(r[0].field(b'S'), Some("WARNING"));
        assert_eq!(r[0].field(b'V'), Some("WARNING"));
        assert_eq!(r[0].field(b'C'), Some("25P01"));
        assert_eq!(message_of(&r[0]), "there is no transaction in progress");
        assert_eq!(r[1], cc(tag), "{q}");
        assert_eq!(r[2], rfq(b'I'));
    }
    // BEGIN inside a block: a 25001 warning, still in the block.
    c.query("BEGIN").await;
    let r = c.query("BEGIN").await;
    assert_eq!(r.len(), 3, "{r:#?}");
    assert_eq!(r[0].field(b'C'), Some("25001"));
    assert_eq!(
        message_of(&r[0]),
        "there is already a transaction in progress"
    );
    assert_eq!(r[1], cc("BEGIN"));
    assert_eq!(r[2], rfq(b'T'));
    c.terminate().await;
}

#[tokio::test]
async fn set_show_reset_and_parameter_status() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    // A reported parameter: ParameterStatus right before ReadyForQuery.
    assert_eq!(
        c.query("SET application_name = 'reporter'").await,
        vec![cc("SET"), ps("application_name", "reporter"), rfq(b'I')]
    );
    let r = c.query("SHOW application_name").await;
    assert_eq!(r.len(), 4, "{r:#?}");
    let BackendMessage::RowDescription(cols) = &r[0] else {
        panic!("{r:#?}")
    };
    assert_eq!(cols.len(), 1);
    assert_eq!((cols[0].0.as_str(), cols[0].3), ("application_name", 25));
    assert_eq!(r[1], BackendMessage::DataRow(vec![Some("reporter".into())]));
    assert_eq!(r[2], cc("SHOW"));
    // The same value set again is not reported again.
    assert_eq!(
        c.query("SET application_name TO 'reporter'").await,
        vec![cc("SET"), rfq(b'I')]
    );
    assert_eq!(
        c.query("RESET application_name").await,
        vec![cc("RESET"), ps("application_name", ""), rfq(b'I')]
    );
    // Unreported parameters send no ParameterStatus.
    assert_eq!(
        c.query("SET search_path = myschema").await,
        vec![cc("SET"), rfq(b'I')]
    );
    assert_eq!(scalar(&c.query("SHOW search_path").await), "myschema");
    assert_eq!(
        scalar(&c.query("SHOW statement_timeout").await),
        "0",
        "an unset timeout shows as 0"
    );
    c.query("SET statement_timeout = 1500").await;
    assert_eq!(scalar(&c.query("SHOW statement_timeout").await), "1500ms");
    // SET in a rolled-back transaction is undone and reported again.
    c.query("BEGIN").await;
    assert_eq!(
        c.query("SET DateStyle = 'ISO, DMY'").await,
        vec![cc("SET"), ps("DateStyle", "ISO, DMY"), rfq(b'T')]
    );
    assert_eq!(
        c.query("ROLLBACK").await,
        vec![cc("ROLLBACK"), ps("DateStyle", "ISO, MDY"), rfq(b'I')]
    );
    // Errors.
    let r = c.query("SET nosuch_setting = 1").await;
    assert_error(&r[0], "ERROR", "42704");
    assert_eq!(
        message_of(&r[0]),
        "unrecognized configuration parameter \"nosuch_setting\""
    );
    let r = c.query("SHOW nosuch_setting").await;
    assert_error(&r[0], "ERROR", "42704");
    let r = c.query("SET server_version = '1'").await;
    assert_error(&r[0], "ERROR", "55P02");
    let r = c.query("SET client_encoding = 'LATIN1'").await;
    assert_error(&r[0], "ERROR", "22023");
    c.terminate().await;
}

#[tokio::test]
async fn show_all_lists_every_setting() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    let r = c.query("SHOW ALL").await;
    let BackendMessage::RowDescription(cols) = &r[0] else {
        panic!("{r:#?}")
    };
    let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, vec!["name", "setting", "description"]);
    let all = rows(&r);
    let get = |n: &str| {
        all.iter()
            .find(|row| row[0].as_deref() == Some(n))
            .and_then(|row| row[1].clone())
    };
    assert_eq!(get("is_superuser").as_deref(), Some("off"));
    assert_eq!(get("session_authorization").as_deref(), Some(USER_ALICE));
    assert_eq!(get("server_encoding").as_deref(), Some("UTF8"));
    assert_eq!(get("TimeZone").as_deref(), Some("Etc/UTC"));
    assert!(all.len() >= 14, "{all:?}");
    assert_eq!(tags(&r), vec!["SHOW"]);
    c.terminate().await;
}

#[tokio::test]
async fn version_and_current_setting_answer_from_the_session() {
    let server = TestServer::start();
    let mut config = common::pg_config(server.addr, ADMIN_USER, "postgres");
    config.application_name("tp-test");
    let c = common::try_connect_with(&config).await.expect("connect");
    let row = c.query_one("SELECT version()", &[]).await.expect("version");
    let v: String = row.get(0);
    let expected = format!("PostgreSQL {} on ", server.settings.server.server_version);
    assert!(v.starts_with(&expected), "{v}");
    let row = c
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .expect("current_setting");
    assert_eq!(row.get::<_, String>(0), "tp-test");
    c.batch_execute("SET application_name = 'changed'")
        .await
        .expect("set");
    let row = c
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .expect("current_setting");
    assert_eq!(row.get::<_, String>(0), "changed");
    let e = c
        .query_one("SELECT current_setting('nosuch_setting')", &[])
        .await
        .expect_err("unknown setting");
    assert_eq!(code_of(&e), "42704");
}

#[tokio::test]
async fn large_results_stream_completely() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let r = c
        .query("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20000) SELECT n, 'padding padding padding' FROM r")
        .await;
    let data = rows(&r);
    assert_eq!(data.len(), 20_000);
    assert_eq!(data[0][0].as_deref(), Some("1"));
    assert_eq!(data[19_999][0].as_deref(), Some("20000"));
    assert_eq!(tags(&r), vec!["SELECT 20000"]);
    assert_eq!(status(&r), b'I');
    c.terminate().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_query_is_an_error_and_the_session_goes_on() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    let body = b"SELECT '\xff'\0";
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(body);
    c.send(&msg).await;
    let r = c.read_until_ready().await;
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_error(&r[0], "ERROR", "22021");
    assert_eq!(status(&r), b'I');
    assert_eq!(scalar(&c.query("SELECT 3").await), "3");
    c.terminate().await;
}

#[tokio::test]
async fn terminate_inside_a_transaction_rolls_it_back() {
    let server = TestServer::start();
    let (mut c, _) = RawClient::login(server.addr, ADMIN_USER, None).await;
    c.query("CREATE TABLE left_open (a int)").await;
    c.query("BEGIN").await;
    c.query("INSERT INTO left_open VALUES (1)").await;
    c.terminate().await;
    let (mut c, _) = RawClient::login(server.addr, USER_ALICE, Some("postgres")).await;
    assert_eq!(
        scalar(&c.query("SELECT count(*) FROM left_open").await),
        "0"
    );
    // Not locked either.
    assert_eq!(
        tags(&c.query("INSERT INTO left_open VALUES (2)").await),
        vec!["INSERT 0 1"]
    );
    c.terminate().await;
}

#[tokio::test]
async fn databases_are_separate_files() {
    let server = TestServer::start();
    let (mut a, _) = RawClient::login(server.addr, ADMIN_USER, Some("postgres")).await;
    let (mut b, _) = RawClient::login(server.addr, ADMIN_USER, Some("other")).await;
    a.query("CREATE TABLE only_here (a int)").await;
    let r = b.query("SELECT * FROM only_here").await;
    assert_error(&r[0], "ERROR", "42P01");
    assert_eq!(scalar(&b.query("SELECT current_database()").await), "other");
    assert_eq!(
        scalar(&a.query("SELECT current_database()").await),
        "postgres"
    );
    a.terminate().await;
    b.terminate().await;
}

/// The integer in column `i`, whatever integer or text type describes it
/// (the embedded backend infers types of untyped expressions from values).
fn int_value(row: &tokio_postgres::Row, i: usize) -> i64 {
    use tokio_postgres::types::Type;
    let t = row.columns()[i].type_().clone();
    match t {
        Type::INT2 => i64::from(row.get::<_, i16>(i)),
        Type::INT4 => i64::from(row.get::<_, i32>(i)),
        Type::INT8 => row.get::<_, i64>(i),
        Type::TEXT | Type::VARCHAR => row.get::<_, String>(i).parse().expect("integer text"),
        other => panic!("column {i} has type {other}"),
    }
}

/// `SELECT count(*) FROM table` over the simple protocol.
async fn count(c: &tokio_postgres::Client, table: &str) -> i64 {
    let msgs = c
        .simple_query(&format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e:?}"));
    msgs.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                r.get(0).map(|v| v.parse().expect("count"))
            }
            _ => None,
        })
        .expect("a count row")
}

#[tokio::test]
async fn tokio_postgres_queries_transactions_and_errors() {
    let server = TestServer::start();
    let mut c = connect(server.addr, ADMIN_USER, "postgres").await;
    c.batch_execute("CREATE TABLE items (id int, name text); INSERT INTO items VALUES (1, 'one')")
        .await
        .expect("create");
    // Extended protocol with a parameter, typed result columns in binary.
    let rows = c
        .query("SELECT id, name FROM items WHERE name = $1", &[&"one"])
        .await
        .expect("select");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(rows[0].get::<_, String>(1), "one");
    // Untyped expressions in binary.
    let row = c
        .query_one("SELECT id + 41, count(*) FROM items", &[])
        .await
        .expect("expressions in binary");
    assert_eq!(int_value(&row, 0), 42);
    assert_eq!(int_value(&row, 1), 1);

    // A rolled-back transaction leaves nothing behind.
    let tx = c.client.transaction().await.expect("begin");
    tx.batch_execute("INSERT INTO items VALUES (2, 'two')")
        .await
        .expect("insert in tx");
    tx.rollback().await.expect("rollback");
    assert_eq!(count(&c, "items").await, 1);

    // An error inside a transaction aborts it: 25P02 until it ends.
    let tx = c.client.transaction().await.expect("begin");
    let e = tx.batch_execute("SELECT * FROM nosuch").await.unwrap_err();
    assert_eq!(code_of(&e), "42P01");
    let e = tx.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(code_of(&e), "25P02");
    drop(tx);
    assert_eq!(
        count(&c, "items").await,
        1,
        "session usable after the aborted block"
    );
}

/// A transaction's statements run on one backend connection: a temporary
/// table created in it is seen by its next statement, in both pool modes.
#[tokio::test]
async fn a_transaction_runs_on_one_backend_connection() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let server = TestServer::with(|s| {
            s.backend.pool_mode = mode;
            s.backend.pool_size = 4;
        });
        let a = connect(server.addr, ADMIN_USER, "postgres").await;
        let b = connect(server.addr, USER_ALICE, "postgres").await;
        a.batch_execute("BEGIN").await.expect("begin");
        a.batch_execute("CREATE TEMP TABLE scratch (x int)")
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: create temp: {e:?}"));
        // Another session's statements in between must not take the
        // connection away.
        for _ in 0..3 {
            b.batch_execute("SELECT 1").await.expect("other session");
        }
        a.batch_execute("INSERT INTO scratch VALUES (1)")
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: temp table not visible: {e:?}"));
        assert_eq!(count(&a, "scratch").await, 1, "{mode:?}");
        a.batch_execute("COMMIT").await.expect("commit");
    }
}

#[test]
fn psql_runs_select_1() {
    let server = TestServer::start();
    let out = psql(server.addr, ADMIN_USER, "postgres", &["-c", "SELECT 1"]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, " ?column? \n----------\n        1\n(1 row)\n\n");
    assert_eq!(out.stderr, "");
    let out = psql(
        server.addr,
        ADMIN_USER,
        "postgres",
        &["-tA", "-c", "SELECT 40 + 2"],
    );
    assert_eq!(out.stdout, "42\n", "{out:?}");
}

#[test]
fn psql_conninfo_describes_the_connection() {
    let server = TestServer::start();
    let out = psql(server.addr, USER_ALICE, "postgres", &["-c", "\\conninfo"]);
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "You are connected to database \"postgres\" as user \"{USER_ALICE}\" on host \"127.0.0.1\" at port \"{}\".\n",
            server.port()
        )
    );
}

#[test]
fn psql_shows_the_sqlstate_of_an_error_in_verbose_mode() {
    let server = TestServer::start();
    let out = psql(
        server.addr,
        ADMIN_USER,
        "postgres",
        &["-v", "VERBOSITY=verbose", "-c", "SELECT * FROM nosuch"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.starts_with("ERROR:  42P01: "), "{out:?}");
    let out = psql(
        server.addr,
        ADMIN_USER,
        "postgres",
        &[
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "\\set VERBOSITY verbose",
            "-c",
            "SELECT 1/0 FROM nosuch_either",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("ERROR:  42P01: "), "{out:?}");
}

#[test]
fn psql_reports_a_refused_database() {
    let server = TestServer::start();
    let out = psql(server.addr, ADMIN_USER, "nosuchdb", &["-c", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("FATAL:  database \"nosuchdb\" does not exist"),
        "{out:?}"
    );
}
