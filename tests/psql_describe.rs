//! Black-box tests of psql's describe commands (`\dt`, `\d`, `\d t`,
//! `\dv`, `\di`, `\du`) on the embedded default backend: the real psql against a
//! real server, its output compared line for line with what psql prints
//! for the same tables on PostgreSQL 15 (the sequence a `serial` column
//! makes is not listed by pgiris).

mod common;

use common::{ADMIN_USER, TestServer, USER_ALICE, psql};

const SETUP: &str = "CREATE TABLE t (id serial primary key, name text not null, price numeric(10,2) default 0, at timestamptz);
CREATE INDEX t_name ON t (name);
CREATE VIEW v AS SELECT id FROM t;
CREATE TABLE u (a varchar(20) unique, b int);";

fn setup(server: &TestServer) {
    let out = psql(server.addr, ADMIN_USER, "postgres", &["-c", SETUP]);
    assert!(out.success(), "{out:?}");
}

/// Runs one psql meta-command as `user`; its stdout.
fn describe(server: &TestServer, user: &str, command: &str) -> String {
    let out = psql(server.addr, user, "postgres", &["-c", command]);
    assert!(out.success(), "{command}: {out:?}");
    assert_eq!(out.stderr, "", "{command}");
    out.stdout
}

#[test]
fn dt_lists_the_tables_of_public_owned_by_the_user() {
    let server = TestServer::start();
    setup(&server);
    assert_eq!(
        describe(&server, USER_ALICE, "\\dt"),
        "       List of relations
 Schema | Name | Type  | Owner 
--------+------+-------+-------
 public | t    | table | alice
 public | u    | table | alice
(2 rows)

"
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\dv"),
        "        List of relations
 Schema | Name | Type |  Owner   
--------+------+------+----------
 public | v    | view | postgres
(1 row)

"
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\di"),
        "              List of relations
 Schema |  Name   | Type  |  Owner   | Table 
--------+---------+-------+----------+-------
 public | t_name  | index | postgres | t
 public | t_pkey  | index | postgres | t
 public | u_a_key | index | postgres | u
(3 rows)

"
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d"),
        "        List of relations
 Schema | Name | Type  |  Owner   
--------+------+-------+----------
 public | t    | table | postgres
 public | u    | table | postgres
 public | v    | view  | postgres
(3 rows)

"
    );
}

#[test]
fn d_table_shows_columns_types_nullability_defaults_and_indexes() {
    let server = TestServer::start();
    setup(&server);
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d t"),
        r#"                                     Table "public.t"
 Column |           Type           | Collation | Nullable |            Default            
--------+--------------------------+-----------+----------+-------------------------------
 id     | integer                  |           | not null | nextval('t_id_seq'::regclass)
 name   | text                     |           | not null | 
 price  | numeric(10,2)            |           |          | 0
 at     | timestamp with time zone |           |          | 
Indexes:
    "t_pkey" PRIMARY KEY, btree (id)
    "t_name" btree (name)

"#
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d u"),
        r#"                        Table "public.u"
 Column |         Type          | Collation | Nullable | Default 
--------+-----------------------+-----------+----------+---------
 a      | character varying(20) |           |          | 
 b      | integer               |           |          | 
Indexes:
    "u_a_key" UNIQUE CONSTRAINT, btree (a)

"#
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d v"),
        r#"                  View "public.v"
 Column |  Type   | Collation | Nullable | Default 
--------+---------+-----------+----------+---------
 id     | integer |           |          | 

"#
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d t_pkey"),
        r#"        Index "public.t_pkey"
 Column |  Type   | Key? | Definition 
--------+---------+------+------------
 id     | integer | yes  | id
primary key, btree, for table "public.t"

"#
    );
}

#[test]
fn d_of_a_missing_relation_says_so() {
    let server = TestServer::start();
    setup(&server);
    for command in ["\\d nosuch", "\\dt nosuch"] {
        let out = psql(server.addr, ADMIN_USER, "postgres", &["-c", command]);
        assert_eq!(out.stdout, "", "{command}: {out:?}");
        assert_eq!(
            out.stderr, "Did not find any relation named \"nosuch\".\n",
            "{command}: {out:?}"
        );
    }
    // An empty database: no relations at all.
    let out = psql(server.addr, ADMIN_USER, "other", &["-c", "\\d"]);
    assert_eq!(out.stderr, "Did not find any relations.\n", "{out:?}");
}

#[test]
fn dt_follows_ddl_in_the_same_session_and_transaction() {
    let server = TestServer::start();
    setup(&server);
    let out = psql(
        server.addr,
        ADMIN_USER,
        "postgres",
        &[
            "-c",
            "BEGIN",
            "-c",
            "DROP TABLE u",
            "-c",
            "\\dt",
            "-c",
            "ROLLBACK",
            "-c",
            "\\dt u",
        ],
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        "BEGIN
DROP TABLE
        List of relations
 Schema | Name | Type  |  Owner   
--------+------+-------+----------
 public | t    | table | postgres
(1 row)

ROLLBACK
        List of relations
 Schema | Name | Type  |  Owner   
--------+------+-------+----------
 public | u    | table | postgres
(1 row)

"
    );
}

#[test]
fn names_are_folded_and_temporary_tables_are_in_pg_temp() {
    let server = TestServer::start();
    let out = psql(
        server.addr,
        ADMIN_USER,
        "postgres",
        &[
            "-c",
            "CREATE TABLE Foo (Id int, \"Mixed\" text); CREATE TEMP TABLE tt (x int)",
            "-c",
            "\\dt",
            "-c",
            "\\d foo",
        ],
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        r#"CREATE TABLE
CREATE TABLE
          List of relations
  Schema   | Name | Type  |  Owner   
-----------+------+-------+----------
 pg_temp_3 | tt   | table | postgres
 public    | foo  | table | postgres
(2 rows)

                Table "public.foo"
 Column |  Type   | Collation | Nullable | Default 
--------+---------+-----------+----------+---------
 id     | integer |           |          | 
 Mixed  | text    |           |          | 

"#
    );
}

#[test]
fn verbose_forms_show_storage_access_method_size_and_view_definition() {
    let server = TestServer::start();
    setup(&server);
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d+ t"),
        r#"                                                                Table "public.t"
 Column |           Type           | Collation | Nullable |            Default            | Storage  | Compression | Stats target | Description 
--------+--------------------------+-----------+----------+-------------------------------+----------+-------------+--------------+-------------
 id     | integer                  |           | not null | nextval('t_id_seq'::regclass) | plain    |             |              | 
 name   | text                     |           | not null |                               | extended |             |              | 
 price  | numeric(10,2)            |           |          | 0                             | main     |             |              | 
 at     | timestamp with time zone |           |          |                               | plain    |             |              | 
Indexes:
    "t_pkey" PRIMARY KEY, btree (id)
    "t_name" btree (name)
Access method: heap

"#
    );
    // The view's query as written (PostgreSQL prints its own deparse).
    assert_eq!(
        describe(&server, ADMIN_USER, "\\d+ v"),
        r#"                              View "public.v"
 Column |  Type   | Collation | Nullable | Default | Storage | Description 
--------+---------+-----------+----------+---------+---------+-------------
 id     | integer |           |          |         | plain   | 
View definition:
 SELECT id FROM t;

"#
    );
    // Sizes are SQLite's: one 4 kB page for an empty table.
    assert_eq!(
        describe(&server, ADMIN_USER, "\\dt+ u"),
        "                                     List of relations
 Schema | Name | Type  |  Owner   | Persistence | Access method |    Size    | Description 
--------+------+-------+----------+-------------+---------------+------------+-------------
 public | u    | table | postgres | permanent   | heap          | 4096 bytes | 
(1 row)

"
    );
}

#[test]
fn l_lists_the_connected_database() {
    let server = TestServer::start();
    assert_eq!(
        describe(&server, USER_ALICE, "\\l"),
        "                                        List of databases
   Name   | Owner | Encoding | Collate | Ctype | ICU Locale | Locale Provider | Access privileges 
----------+-------+----------+---------+-------+------------+-----------------+-------------------
 postgres | alice | UTF8     | C       | C     |            | libc            | 
(1 row)

"
    );
}

#[test]
fn du_lists_the_connected_user_as_a_superuser() {
    let server = TestServer::start();
    let expected = |user: &str| {
        format!(
            "                       List of roles
 Role name |            Attributes             | Member of 
-----------+-----------------------------------+-----------
 {user:<9} | Superuser, Create role, Create DB | {{}}

"
        )
    };
    assert_eq!(describe(&server, USER_ALICE, "\\du"), expected("alice"));
    assert_eq!(describe(&server, ADMIN_USER, "\\dg"), expected("postgres"));
    assert_eq!(
        describe(&server, ADMIN_USER, "\\du+"),
        "                              List of roles
 Role name |            Attributes             | Member of | Description 
-----------+-----------------------------------+-----------+-------------
 postgres  | Superuser, Create role, Create DB | {}        | 

"
    );
    assert_eq!(
        describe(&server, ADMIN_USER, "\\du nobody"),
        "           List of roles
 Role name | Attributes | Member of 
-----------+------------+-----------

"
    );
}
