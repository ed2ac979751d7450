//! Translation tests. The execution tests run the translated SQL on an
//! in-memory SQLite database and compare every value with what PostgreSQL 15
//! answered for the original statement: the expected rows below were produced
//! by `psql -X -A -t -F '|' -P null='<null>' -f queries.sql` against a
//! PostgreSQL 15.18 server (TimeZone UTC), pasted verbatim.

use bytes::BytesMut;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::*;
use crate::backend::embedded::infer;
use crate::backend::{Cell, Value};
use crate::wire::types::{self, Format, Oid};

/// The per-session functions the backend registers, stubbed with fixed
/// answers so translated statements that call them run.
fn register_session_functions_stub(conn: &Connection) {
    use rusqlite::functions::FunctionFlags;
    for (name, answer) in [
        ("current_user", "postgres"),
        ("session_user", "postgres"),
        ("current_schema", "public"),
        ("current_database", "postgres"),
    ] {
        conn.create_scalar_function(name, 0, FunctionFlags::SQLITE_UTF8, move |_| Ok(answer))
            .expect("stub function registers");
    }
}

fn db() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory database");
    register_functions(&conn).expect("functions register");
    register_session_functions_stub(&conn);
    conn
}

/// Renders a SQLite value the way PostgreSQL prints a value of type `ty`:
/// with the backend's own encoder and the inferred column type.
fn render(v: ValueRef<'_>, ty: Option<(Oid, i32)>) -> String {
    let (ty, typmod) = ty.unwrap_or((oid::TEXT, -1));
    if v == ValueRef::Null {
        return "<null>".to_owned();
    }
    let mut out = BytesMut::new();
    match types::encode_text_with_typmod(super::super::cell(v), ty, typmod, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("<{}: {}>", e.code, e.message),
    }
}

/// Translates and runs `pg_sql`, returning its first row rendered with the
/// inferred column types, `|`-separated like `psql -A`.
fn run_row(conn: &Connection, pg_sql: &str) -> Result<String, String> {
    let sqlite_sql = to_sqlite(pg_sql).map_err(|e| format!("translate: {e}"))?;
    let types: Vec<Option<(Oid, i32)>> = infer::select_items(pg_sql)
        .unwrap_or_default()
        .iter()
        .map(|item| infer::typed_expr(&item.expr, &[]))
        .collect();
    let mut stmt = conn
        .prepare(&sqlite_sql)
        .map_err(|e| format!("prepare {sqlite_sql}: {e}"))?;
    let n = stmt.column_count();
    let mut rows = stmt.query([]).map_err(|e| format!("query: {e}"))?;
    let row = rows
        .next()
        .map_err(|e| match pg_error_from_sqlite(&e) {
            Some(pg) => format!("{}: {}", pg.code, pg.message),
            None => format!("step: {e}"),
        })?
        .ok_or("no row")?;
    let mut out = Vec::new();
    for i in 0..n {
        let v = row.get_ref(i).map_err(|e| e.to_string())?;
        out.push(render(v, types.get(i).copied().flatten()));
    }
    Ok(out.join("|"))
}

/// (PostgreSQL statement, the row PostgreSQL 15 returned).
const SAME_ANSWERS: &[(&str, &str)] = &[
    ("select 1, 'a', true, false, null", "1|a|t|f|<null>"),
    (
        "select 't'::bool, 'yes'::boolean, 'off'::bool, ' 1 '::bool, 0::bool, 'TRU'::bool",
        "t|t|f|t|f|t",
    ),
    (
        "select '42'::int4 + 1, ' 12 '::int, 2.5::int, 3.5::int, (-2.5)::int, '-7'::int2, '9000000000'::int8",
        "43|12|3|4|-3|-7|9000000000",
    ),
    (
        "select 1.5::float8, '1e3'::float8, ' -0.25 '::float8, 1e20::float8, 0.00001::float8",
        "1.5|1000|-0.25|1e+20|1e-05",
    ),
    (
        "select '1.50'::numeric(10,2), 1.555::numeric(5,2), '12'::numeric, 2.5::numeric(3,0), '-0.004'::numeric(4,2)",
        "1.50|1.56|12|3|0.00",
    ),
    (
        "select 'abc'::varchar(2), 'ab'::char(4), 'héllo'::varchar(2), 'x'::char",
        "ab|ab  |hé|x",
    ),
    (
        "select '2024-1-5 1:2:3.1234567'::timestamp, '2024-01-05T10:00:00+02'::timestamptz, \
         '2024-01-05 10:00:00.5 +05:30'::timestamptz, '10:00 pm'::time, date '2024-02-29', \
         '2024-01-05'::timestamp(0), '2024-01-05 10:00:00.555'::timestamp(1), \
         '2024-01-05 23:59:59.9999999'::timestamp, '12:30'::time(0), timestamp '2024-03-01 00:00:00-05'",
        "2024-01-05 01:02:03.123457|2024-01-05 08:00:00+00|2024-01-05 04:30:00.5+00|22:00:00|\
         2024-02-29|2024-01-05 00:00:00|2024-01-05 10:00:00.6|2024-01-06 00:00:00|12:30:00|\
         2024-03-01 00:00:00",
    ),
    (
        "select 'A8A51E35EF544C3F9D0A0A8B1D2E3F40'::uuid, '{a8a5-1e35-ef54-4c3f-9d0a-0a8b-1d2e-3f40}'::uuid, \
         '{\"b\":1,\"a\":[1,2],\"aa\":{\"y\":null,\"x\":true}}'::jsonb, '{\"b\": 1}'::json, \
         '\\x0102'::bytea, 'a\\\\b\\001'::bytea",
        "a8a51e35-ef54-4c3f-9d0a-0a8b1d2e3f40|a8a51e35-ef54-4c3f-9d0a-0a8b1d2e3f40|\
         {\"a\": [1, 2], \"b\": 1, \"aa\": {\"x\": true, \"y\": null}}|{\"b\": 1}|\\x0102|\\x615c6201",
    ),
    (
        "select E'a\\tb\\x41\\101\\u00e9''\\'', $$x'y$$, $q$a$$b$q$, N'n', e'\\\\'",
        "a\tbAAé''|x'y|a$$b|n|\\",
    ),
    (
        "select 'Abc' like 'A%', 'abc' like 'A%', 'ABC' ilike 'a%', 'a_c' like 'a\\_c', \
         'abc' like 'a\\_c', 'a%' like 'a!%' escape '!', 'x*y' like 'x*y', 'xzy' like 'x*y', \
         '[a]' like '[a]', 'abc' not like 'a%', 'a\\b' like 'a\\\\b', 'ABC' ilike 'a_c'",
        "t|f|t|t|f|t|t|f|t|f|t|t",
    ),
    (
        "select length('héllo'), char_length('abc'), character_length('ab'), strpos('hello', 'l'), \
         substring('hello', 2, 3), upper('a') || lower('B'), substring('hello', 3)",
        "5|3|2|3|ell|Ab|llo",
    ),
    (
        "select coalesce(null, 2), nullif(1, 1), abs(-3), 7 / 2, 7 % 3, 2 + 3 * 4, -7 / 2, 1 = 1, 2 < 1",
        "2|<null>|3|3|1|14|-3|t|f",
    ),
    (
        "select cast('12' as integer) + 1, cast(1 as text) || 'x', cast('2024-01-05' as date), \
         cast('t' as boolean), CAST(1.5 AS numeric(5,2)), cast('ab' as varchar(1))",
        "13|1x|2024-01-05|t|1.50|a",
    ),
    (
        "select case when 1 = 1 then 'y' else 'n' end, case 2 when 1 then 'a' when 2 then 'b' end",
        "y|b",
    ),
    (
        "select 1::text::int + 1, '5'::text::int8, (2 + 3)::text, '0001'::int::text",
        "2|5|5|1",
    ),
    (
        "select 'x' collate \"C\" < 'y', 'b' > 'a' collate \"C\"",
        "t|t",
    ),
    ("select '1.5'::float4, 0.1::float4", "1.5|0.1"),
];

#[test]
fn translated_statements_give_postgres_answers() {
    let conn = db();
    let mut failures = Vec::new();
    for (pg_sql, expected) in SAME_ANSWERS {
        match run_row(&conn, pg_sql) {
            Ok(got) if got == *expected => {}
            Ok(got) => failures.push(format!("{pg_sql}\n  expected {expected}\n  got      {got}")),
            Err(e) => failures.push(format!("{pg_sql}\n  failed: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (statement, SQLSTATE and message PostgreSQL 15 answered).
const SAME_ERRORS: &[(&str, &str)] = &[
    (
        "select 'abc'::int",
        "22P02: invalid input syntax for type integer: \"abc\"",
    ),
    (
        "select '3000000000'::int",
        "22003: value \"3000000000\" is out of range for type integer",
    ),
    ("select 3000000000::int", "22003: integer out of range"),
    (
        "select '1.5'::int",
        "22P02: invalid input syntax for type integer: \"1.5\"",
    ),
    (
        "select 'x'::bool",
        "22P02: invalid input syntax for type boolean: \"x\"",
    ),
    (
        "select 'x'::date",
        "22007: invalid input syntax for type date: \"x\"",
    ),
    (
        "select '2024-13-01'::date",
        "22008: date/time field value out of range: \"2024-13-01\"",
    ),
    (
        "select '2024-02-30'::date",
        "22008: date/time field value out of range: \"2024-02-30\"",
    ),
    (
        "select 'x'::timestamptz",
        "22007: invalid input syntax for type timestamp with time zone: \"x\"",
    ),
    (
        "select 'x'::time",
        "22007: invalid input syntax for type time: \"x\"",
    ),
    (
        "select 'x'::uuid",
        "22P02: invalid input syntax for type uuid: \"x\"",
    ),
    (
        "select 'x'::numeric",
        "22P02: invalid input syntax for type numeric: \"x\"",
    ),
    (
        "select 123.456::numeric(4,2)",
        "22003: numeric field overflow",
    ),
    (
        "select '\\'::bytea",
        "22P02: invalid input syntax for type bytea",
    ),
    (
        "select 'x'::float8",
        "22P02: invalid input syntax for type double precision: \"x\"",
    ),
    (
        "select 'x'::real",
        "22P02: invalid input syntax for type real: \"x\"",
    ),
    ("select 1::date", "42846: cannot cast type integer to date"),
    (
        "select 'x'::json",
        "22P02: invalid input syntax for type json",
    ),
    ("select 'x'::foo", "42704: type \"foo\" does not exist"),
    ("select E'\\u12'", "22025: invalid Unicode escape"),
    (
        "select E'\\000'",
        "22021: invalid byte sequence for encoding \"UTF8\": 0x00",
    ),
    (
        "select E'\\xff'",
        "22021: invalid byte sequence for encoding \"UTF8\": 0xff",
    ),
];

#[test]
fn translated_statements_fail_like_postgres() {
    let conn = db();
    let mut failures = Vec::new();
    for (pg_sql, expected) in SAME_ERRORS {
        let got = match to_sqlite(pg_sql) {
            Err(e) => format!("{}: {}", e.code, e.message),
            Ok(_) => match run_row(&conn, pg_sql) {
                Ok(row) => format!("no error, row {row}"),
                Err(e) => e,
            },
        };
        if got != *expected {
            failures.push(format!("{pg_sql}\n  expected {expected}\n  got      {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_type_error_points_at_the_type() {
    // psql showed the caret under `foo`: character 13.
    let err = to_sqlite("select 'x'::foo").expect_err("unknown type");
    assert_eq!(err.position, Some(13));
    let err = to_sqlite("select 'é'::foo").expect_err("unknown type");
    assert_eq!(
        err.position,
        Some(13),
        "positions count characters, not bytes"
    );
}

#[test]
fn untouched_statements_are_borrowed() {
    for sql in [
        "SELECT 1",
        "select a, b from t where c = $1 and d <> 'x::int' -- ::int\n",
        "insert into t (a) values ($1) returning id",
        "select \"now\", \"x::y\" from t /* current_user */",
        "update t set flag = true where id = $2",
    ] {
        assert!(
            matches!(to_sqlite(sql), Ok(Cow::Borrowed(_))),
            "{sql} should pass through unchanged"
        );
    }
}

#[test]
fn rewrites_never_touch_literals_identifiers_or_comments() {
    let out = to_sqlite("select 'a::int', \"b::int\", c::int /* d::int */ -- e::int").expect("ok");
    assert_eq!(
        out,
        "select 'a::int', \"b::int\", pg_cast_int4(c) /* d::int */ -- e::int"
    );
    let out = to_sqlite("select 'now()', now(), \"current_user\", current_user").expect("ok");
    assert_eq!(
        out,
        "select 'now()', pg_now(), \"current_user\", current_user()"
    );
}

#[test]
fn cast_operands() {
    let cases = [
        ("select $1::int8", "select pg_cast_int8($1)"),
        ("select a.b.c::text", "select CAST(a.b.c AS TEXT)"),
        ("select f(x, y)::int", "select pg_cast_int4(f(x, y))"),
        ("select s.f(x)::int", "select pg_cast_int4(s.f(x))"),
        ("select (a + b)::int", "select pg_cast_int4((a + b))"),
        (
            "select a::text::int",
            "select pg_cast_int4(CAST(a AS TEXT))",
        ),
        ("select x[1]::int", "select pg_cast_int4(x[1])"),
        ("select -1::int", "select -pg_cast_int4(1)"),
        (
            "select case when a then 1 else 2 end::text",
            "select CAST(case when a then 1 else 2 end AS TEXT)",
        ),
        (
            "select count(*) over (partition by a)::int",
            "select pg_cast_int4(count(*) over (partition by a))",
        ),
        ("select x::varchar(3)", "select pg_cast_varchar(x, 3)"),
        (
            "select x::numeric(10, 2)",
            "select pg_cast_numeric(x, 10, 2)",
        ),
        ("select x::char(2)", "select pg_cast_bpchar(x, 2)"),
        ("select x::timestamp(3)", "select pg_cast_timestamp(x, 3)"),
        ("select x::double precision", "select pg_cast_float8(x)"),
        ("select x::pg_catalog.int4", "select pg_cast_int4(x)"),
        ("select x::int[]", "select CAST(x AS TEXT)"),
        ("select x::interval", "select CAST(x AS TEXT)"),
        ("select CAST(x AS int)", "select pg_cast_int4(x)"),
        (
            "select cast(x as varchar(2))",
            "select pg_cast_varchar(x, 2)",
        ),
        (
            "select CAST(x AS text)::int",
            "select pg_cast_int4(CAST(x AS TEXT))",
        ),
        (
            "select date '2024-01-05'",
            "select pg_cast_date('2024-01-05')",
        ),
        (
            "select date '2024-01-05'::text",
            "select CAST(pg_cast_date('2024-01-05') AS TEXT)",
        ),
        (
            "select timestamp with time zone '2024-01-05 10:00'",
            "select pg_cast_timestamptz('2024-01-05 10:00')",
        ),
        // `::` with no operand before it is left for SQLite to reject.
        ("::int", "::int"),
    ];
    for (pg, expected) in cases {
        assert_eq!(to_sqlite(pg).expect(pg), expected, "{pg}");
    }
}

#[test]
fn like_patterns() {
    let cases = [
        ("select a like 'x%'", "select a GLOB 'x*'"),
        ("select a like 'x_*?['", "select a GLOB 'x?[*][?][[]'"),
        ("select a like 'a\\%b'", "select a GLOB 'a%b'"),
        ("select a not like $1", "select a not GLOB pg_like_glob($1)"),
        (
            "select a like $1 escape '!'",
            "select a GLOB pg_like_glob($1, '!')",
        ),
        ("select a like 'a!%' escape '!'", "select a GLOB 'a%'"),
        ("select a ilike 'x%'", "select a LIKE 'x%' ESCAPE '\\'"),
        ("select a ilike b", "select a LIKE b"),
        // A pattern expression: SQLite's LIKE (case-insensitive) stays.
        ("select a like b || '%'", "select a like b || '%'"),
    ];
    for (pg, expected) in cases {
        assert_eq!(to_sqlite(pg).expect(pg), expected, "{pg}");
    }
}

#[test]
fn like_with_parameter_patterns_runs() {
    let conn = db();
    let sql =
        to_sqlite("select 'Abc' like $1, 'abc' like $1, 'a_c' like $2 escape '!'").expect("ok");
    let row: (i64, i64, i64) = conn
        .query_row(
            &sql,
            rusqlite::named_params! {"$1": "A%", "$2": "a!_c"},
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("runs");
    assert_eq!(row, (1, 0, 1));
}

#[test]
fn parameters_cast_from_text() {
    let conn = db();
    let sql = to_sqlite("select $1::int8 + 1, $2::bool, $3::timestamptz").expect("ok");
    let row: (i64, i64, String) = conn
        .query_row(
            &sql,
            rusqlite::named_params! {"$1": "41", "$2": "on", "$3": "2024-01-05 12:00:00+01"},
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("runs");
    assert_eq!(row, (42, 1, "2024-01-05 11:00:00+00".to_owned()));
}

#[test]
fn clock_functions_have_postgres_formats() {
    let conn = Connection::open_in_memory().expect("db");
    let clock = TransactionClock::new();
    register_functions_with_clock(&conn, &clock).expect("register");
    clock.begin();
    let sql = to_sqlite(
        "select now(), current_timestamp, current_date, localtimestamp, current_time, localtime, \
         current_timestamp(0), now() = now()",
    )
    .expect("ok");
    let row: (String, String, String, String, String, String, String, i64) = conn
        .query_row(&sql, [], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .expect("runs");
    let shape = |s: &str, pattern: &str| {
        // `9` matches a digit, anything else itself; the fraction is optional.
        let (main, _) = s.split_once('.').unwrap_or((s, ""));
        let main = main.trim_end_matches("+00");
        main.len() == pattern.len()
            && main.bytes().zip(pattern.bytes()).all(|(c, p)| {
                if p == b'9' {
                    c.is_ascii_digit()
                } else {
                    c == p
                }
            })
    };
    assert!(
        row.0.ends_with("+00") && shape(&row.0, "9999-99-99 99:99:99"),
        "{}",
        row.0
    );
    assert_eq!(
        row.0, row.1,
        "now() and current_timestamp agree within a transaction"
    );
    assert!(shape(&row.2, "9999-99-99"), "{}", row.2);
    assert!(
        !row.3.ends_with("+00") && shape(&row.3, "9999-99-99 99:99:99"),
        "{}",
        row.3
    );
    assert!(
        row.4.ends_with("+00") && shape(&row.4, "99:99:99"),
        "{}",
        row.4
    );
    assert!(shape(&row.5, "99:99:99"), "{}", row.5);
    assert!(
        !row.6.contains('.'),
        "precision 0 drops the fraction: {}",
        row.6
    );
    assert_eq!(row.7, 1);
    clock.end();
}

#[test]
fn ddl_keeps_postgres_types_and_autoincrements() {
    let conn = db();
    // The same table in PostgreSQL 15 gave these (attname, atttypid,
    // atttypmod) from pg_attribute.
    let expected: &[(&str, Oid, i32)] = &[
        ("id", 23, -1),
        ("big", 20, -1),
        ("small", 21, -1),
        ("name", 1043, 24),
        ("code", 1042, 7),
        ("price", 1700, 655366),
        ("ratio", 701, -1),
        ("score", 700, -1),
        ("active", 16, -1),
        ("created", 1184, -1),
        ("t3", 1114, 3),
        ("tt", 1266, -1),
        ("d", 1082, -1),
        ("tags", 25, -1),
        ("uid", 2950, -1),
        ("doc", 3802, -1),
        ("raw", 17, -1),
        ("at", 1184, -1),
        ("n2", 1700, 327684),
        ("iv", 1186, -1),
        ("i2", 21, -1),
        ("i8", 20, -1),
        ("dp", 701, -1),
        ("cv", 1043, 11),
        ("fl", 700, -1),
        ("arr", 1007, -1),
    ];
    let ddl = "CREATE TABLE items (id serial PRIMARY KEY, big bigserial, small smallserial, \
               name varchar(20) NOT NULL, code char(3), price numeric(10,2) DEFAULT 0, ratio float8, \
               score real, active boolean DEFAULT true, created timestamptz DEFAULT now(), \
               t3 timestamp(3) without time zone, tt time with time zone, d date, tags text, \
               uid uuid DEFAULT gen_random_uuid(), doc jsonb, raw bytea, at timestamp with time zone, \
               n2 numeric(5), iv interval, i2 int2, i8 int8, dp double precision, \
               cv character varying(7), fl float(10), arr int[])";
    conn.execute_batch(&to_sqlite(ddl).expect("translates"))
        .expect("SQLite runs it");
    let expected: Vec<(String, Oid, i32)> = expected
        .iter()
        .map(|(n, o, m)| ((*n).to_owned(), *o, *m))
        .collect();
    let stored: String = conn
        .query_row(
            "select sql from sqlite_schema where name = 'items'",
            [],
            |r| r.get(0),
        )
        .expect("schema");
    assert_eq!(infer::declared_column_types(&stored), expected);
    // The decltype alone gives the same, except that a bigserial /
    // smallserial key reads as INTEGER.
    let stmt = conn.prepare("select * from items").expect("prepare");
    let by_decltype: Vec<(String, Oid, i32)> = stmt
        .columns()
        .map(|c| {
            let (o, m) = infer::type_from_decl(c.decl_type().unwrap_or(""));
            (c.name().to_owned(), o, m)
        })
        .collect();
    for (got, want) in by_decltype.iter().zip(&expected) {
        if want.0 == "big" || want.0 == "small" {
            assert_eq!(got.1, oid::INT4, "{}", got.0);
        } else {
            assert_eq!(got, want);
        }
    }

    let insert =
        to_sqlite("insert into items (name) values ($1) returning id, price, active, created, uid")
            .expect("ok");
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let (id, price, active, created, uid): (i64, i64, i64, String, String) = conn
            .query_row(&insert, rusqlite::named_params! {"$1": name}, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("insert");
        assert_eq!((price, active), (0, 1));
        assert!(created.ends_with("+00") && created.len() >= 22, "{created}");
        let canonical = types::decode_param(uid.as_bytes(), oid::UUID, Format::Text);
        assert!(
            canonical.is_ok_and(|u| u == Value::Text(uid.clone())),
            "{uid}"
        );
        ids.push(id);
    }
    assert_eq!(ids, vec![1, 2]);
    // A serial never hands out an id again, even the highest one deleted.
    conn.execute("delete from items where id = 2", [])
        .expect("delete");
    let id: i64 = conn
        .query_row(&insert, rusqlite::named_params! {"$1": "c"}, |r| r.get(0))
        .expect("insert");
    assert_eq!(id, 3);
}

#[test]
fn identity_columns_autoincrement() {
    let conn = db();
    let ddl = "create table u (id bigint generated by default as identity primary key, \
               v int generated always as identity (start with 10), w text)";
    let sql = to_sqlite(ddl).expect("ok");
    assert_eq!(
        sql,
        "create table u (id INTEGER /*int8*/  primary key AUTOINCREMENT, v INTEGER , w text)"
    );
    conn.execute_batch(&sql).expect("runs");
    let id: i64 = conn
        .query_row("insert into u (w) values ('x') returning id", [], |r| {
            r.get(0)
        })
        .expect("insert");
    assert_eq!(id, 1);
    let stored: String = conn
        .query_row("select sql from sqlite_schema where name = 'u'", [], |r| {
            r.get(0)
        })
        .expect("schema");
    assert_eq!(
        infer::declared_column_types(&stored),
        vec![
            ("id".to_owned(), oid::INT8, -1),
            ("v".to_owned(), oid::INT4, -1),
            ("w".to_owned(), oid::TEXT, -1)
        ]
    );
}

#[test]
fn ddl_defaults_are_parenthesized_when_needed() {
    let cases = [
        (
            "create table t (a timestamptz default now(), b text default 'x', c int default -1)",
            "create table t (a timestamptz default (pg_now()), b text default 'x', c int default -1)",
        ),
        (
            "create table t (a text default 'x'::text not null, b date default current_date)",
            "create table t (a text default (CAST('x' AS TEXT)) not null, b date default (pg_current_date()))",
        ),
        (
            "create table t (a int default (1 + 2), b bool default false)",
            "create table t (a int default (1 + 2), b bool default false)",
        ),
        (
            "alter table t add column c timestamp with time zone default current_timestamp",
            "alter table t add column c timestamptz default (pg_now())",
        ),
    ];
    for (pg, expected) in cases {
        assert_eq!(to_sqlite(pg).expect(pg), expected, "{pg}");
    }
}

#[test]
fn statements_sqlite_lacks_are_rewritten_and_run() {
    let conn = db();
    for pg in [
        "create table t (id serial primary key, a text, b int)",
        "create unique index concurrently if not exists t_a on only t using btree (a)",
        "insert into t (a, b) values ('x', 1), ('y', 2)",
        "select * from t where b = $1::int for update of t skip locked",
        "select * from t for no key update nowait",
        "select a from t order by a limit all",
        "truncate table t restart identity cascade",
        "select current_user, session_user, current_schema, current_catalog, current_role",
        "select now(), clock_timestamp(), statement_timestamp(), transaction_timestamp()",
        "select random() < 1.0, gen_random_uuid()",
    ] {
        let sql = to_sqlite(pg).expect(pg);
        let mut stmt = conn
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{pg}\n=> {sql}\n{e}"));
        let n = stmt.parameter_count();
        let params: Vec<String> = (0..n).map(|_| "1".to_owned()).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .unwrap_or_else(|e| panic!("{pg}\n{e}"));
        while rows
            .next()
            .unwrap_or_else(|e| panic!("{pg}\n{e}"))
            .is_some()
        {}
    }
    let count: i64 = conn
        .query_row("select count(*) from t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 0, "TRUNCATE became DELETE");
}

#[test]
fn function_errors_carry_their_sqlstate() {
    let conn = db();
    let err = conn
        .query_row("select pg_cast_int4('abc')", [], |r| r.get::<_, i64>(0))
        .expect_err("fails");
    let pg = pg_error_from_sqlite(&err).expect("a pgiris function error");
    assert_eq!(pg.code, "22P02");
    assert_eq!(pg.message, "invalid input syntax for type integer: \"abc\"");
    let err = conn
        .query_row("select pg_cast_numeric(123.456, 4, 2)", [], |r| {
            r.get::<_, f64>(0)
        })
        .expect_err("fails");
    let pg = pg_error_from_sqlite(&err).expect("a pgiris function error");
    assert_eq!(
        pg.detail.as_deref(),
        Some("A field with precision 4, scale 2 must round to an absolute value less than 10^2.")
    );
    assert_eq!(function_error("no such table: x"), None);
    assert_eq!(function_error("[99999] not ours"), None);
}

/// The wire's input and output rules the casts use, at the edges PostgreSQL
/// 15 draws them.
#[test]
fn value_parsers_match_postgres_edge_cases() {
    let input = |s: &str, oid: Oid| types::decode_param(s.as_bytes(), oid, Format::Text).ok();
    let output = |cell: Cell<'_>, oid: Oid, typmod: i32| {
        let mut out = BytesMut::new();
        types::encode_text_with_typmod(cell, oid, typmod, &mut out).expect("encodes");
        String::from_utf8_lossy(&out).into_owned()
    };
    let numeric = |s: &str, p: i64, sc: i64| {
        let typmod = types::numeric_typmod(p, sc).expect("valid numeric(p,s)");
        types::numeric_text(s, typmod).ok()
    };
    let datetime = |s: &str, oid: Oid, typmod: i32| types::datetime_text(s, oid, typmod, 0);
    assert_eq!(input("of", oid::BOOL), Some(Value::Bool(false)));
    assert_eq!(input("o", oid::BOOL), None);
    assert_eq!(input("  Yes ", oid::BOOL), Some(Value::Bool(true)));
    assert_eq!(input("-32768", oid::INT2), Some(Value::Int(-32768)));
    assert_eq!(input("32768", oid::INT2), None);
    assert_eq!(input("+", oid::INT4), None);
    assert_eq!(input("1 2", oid::INT4), None);
    assert_eq!(types::numeric_text("1e3", -1).ok().as_deref(), Some("1000"));
    assert_eq!(numeric("-0.5", 1, 0).as_deref(), Some("-1"));
    assert_eq!(numeric("9.995", 4, 2).as_deref(), Some("10.00"));
    assert_eq!(numeric("9.995", 3, 2).as_deref(), None);
    assert_eq!(numeric("9.994", 3, 2).as_deref(), Some("9.99"));
    assert_eq!(output(Cell::Float(1.5), oid::NUMERIC, 655366), "1.50");
    assert_eq!(output(Cell::Float(1.5e-7), oid::NUMERIC, -1), "0.00000015");
    assert_eq!(
        output(Cell::Float(123456789.123), oid::FLOAT8, -1),
        "123456789.123"
    );
    assert_eq!(output(Cell::Float(1e15), oid::FLOAT8, -1), "1e+15");
    assert_eq!(
        output(Cell::Float(1e14), oid::FLOAT8, -1),
        "100000000000000"
    );
    assert_eq!(output(Cell::Float(-2.5e-5), oid::FLOAT8, -1), "-2.5e-05");
    assert_eq!(
        input("a8a51e35-ef54-4c3f-9d0a-0a8b1d2e3f4", oid::UUID),
        None
    );
    assert_eq!(input("-a8a51e35ef544c3f9d0a0a8b1d2e3f40", oid::UUID), None);
    assert_eq!(input("a8a51e35--ef544c3f9d0a0a8b1d2e3f40", oid::UUID), None);
    assert_eq!(
        input("\\x 01 ff", oid::BYTEA),
        Some(Value::Bytes(vec![1, 255]))
    );
    assert_eq!(input("\\x0", oid::BYTEA), None);
    assert_eq!(like_to_glob("100\\%", Some('\\')), "100%");
    assert_eq!(like_to_glob("a\\", Some('\\')), "a\\");
    assert_eq!(like_to_glob("%", None), "*");
    assert!(like_escape("ab").is_err());
    assert_eq!(
        datetime("epoch", oid::TIMESTAMPTZ, -1).ok().as_deref(),
        Some("1970-01-01 00:00:00+00")
    );
    // psql: '1999-12-31 23:59:59.5'::timestamp(0) is 1999-12-31 23:59:59,
    // rounded half away from zero counted from 2000-01-01.
    assert_eq!(
        datetime("1999-12-31 23:59:59.5", oid::TIMESTAMP, 0)
            .ok()
            .as_deref(),
        Some("1999-12-31 23:59:59")
    );
    assert_eq!(
        datetime("-infinity", oid::DATE, -1).ok().as_deref(),
        Some("-infinity")
    );
    assert!(datetime("2023-02-29", oid::DATE, -1).is_err());
    // PostgreSQL's last timestamps (294276 AD) are in range; past them, 22008.
    assert_eq!(
        datetime("294276-12-31 23:59:59", oid::TIMESTAMPTZ, -1)
            .ok()
            .as_deref(),
        Some("294276-12-31 23:59:59+00")
    );
    assert_eq!(
        datetime("294277-01-01", oid::TIMESTAMPTZ, -1).map_err(|e| e.code),
        Err("22008")
    );
    assert_eq!(
        datetime("294276-12-31", oid::DATE, -1).ok().as_deref(),
        Some("294276-12-31")
    );
    assert_eq!(
        datetime("200000-01-01", oid::TIMESTAMP, -1).ok().as_deref(),
        Some("200000-01-01 00:00:00")
    );
    assert!(datetime("10:61", oid::TIME, -1).is_err());
    assert_eq!(jsonb_text("[]").ok().as_deref(), Some("[]"));
    let uuid = random_uuid().expect("a uuid");
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
}

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "select",
    " ",
    "'",
    "\"",
    "$$",
    "$1",
    "$a$",
    "::",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "--",
    "\n",
    "/*",
    "*/",
    "E'",
    "\\",
    "cast",
    " as ",
    "int",
    "timestamp",
    " with time zone",
    "like",
    "ilike",
    "escape",
    "'%'",
    "now()",
    "current_timestamp",
    "case",
    "when",
    "then",
    "end",
    "create table",
    "serial",
    "primary key",
    "default",
    "generated always as identity",
    "varchar(",
    "numeric(",
    "1",
    "-",
    "9999999999999999999999",
    ".5e",
    "é",
    "\u{0}",
    "U&'",
    "x'",
    "b'",
    "for update",
    "truncate",
    "values",
    "returning",
    "with",
    "*",
    "t.",
    "distinct on",
    "over",
    "filter",
    "interval",
    "date '",
    "collate \"C\"",
    "limit all",
    "\u{feff}",
    "🦀",
];

fn random_sql(rng: &mut Xorshift) -> String {
    let len = rng.below(40);
    let mut s = String::new();
    for _ in 0..len {
        if rng.below(5) == 0 {
            // A random char, including control characters and multi-byte.
            let c = char::from_u32((rng.next() % 0x3000) as u32).unwrap_or('?');
            s.push(c);
        } else {
            s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        }
    }
    s
}

#[test]
fn nothing_panics_on_random_input() {
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let sql = random_sql(&mut rng);
        let _ = crate::sql::lexer::split_statements(&sql);
        let _ = crate::sql::lexer::first_keywords(&sql, 3);
        if let Ok(out) = to_sqlite(&sql) {
            // Whatever comes out is still valid UTF-8 text (a `String`).
            let _ = out.len();
        }
        if let Some(items) = infer::select_items(&sql) {
            for item in items {
                let _ = infer::pg_column_name(&item.expr);
                let _ = infer::type_from_expr(&item.expr, &[oid::INT4]);
            }
        }
        let _ = infer::pg_column_name(&sql);
        let _ = infer::type_from_expr(&sql, &[]);
        let _ = infer::type_from_decl(&sql);
    }
}

#[test]
fn fast_path_skips_only_statements_that_need_nothing() {
    let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
    // One statement per rewrite rule, each of which must take the full path.
    const RULES: &[&str] = &[
        "select x::int",
        "select cast(x as int)",
        "select date '2024-01-05'",
        "select numeric(5) '1'",
        "select E'x'",
        "select $$x$$",
        "select N'x'",
        "select now()",
        "select clock_timestamp(), random(), char_length(x), strpos(a, b), substring(a, 1)",
        "select current_timestamp, localtimestamp, current_time, localtime, current_date",
        "select current_user, current_role, session_user, current_schema, current_catalog",
        "select a like 'x', a ilike 'y'",
        "select a collate \"C\"",
        "select a from t for update",
        "select a from t limit all",
        "truncate t",
        "create table t (id serial primary key)",
        "alter table t add column c timestamp with time zone",
    ];
    for sql in RULES {
        assert!(needs_translation(sql), "{sql}");
        assert!(matches!(translate(sql), Ok(Cow::Owned(_))), "{sql}");
    }
    let fixed = SAME_ANSWERS
        .iter()
        .map(|(sql, _)| (*sql).to_owned())
        .chain(RULES.iter().map(|sql| (*sql).to_owned()))
        .chain(SAME_ERRORS.iter().map(|(sql, _)| (*sql).to_owned()));
    let random = (0..20_000).map(|_| random_sql(&mut rng));
    for sql in fixed.chain(random) {
        if !needs_translation(&sql) {
            let full = translate(&sql);
            assert!(
                matches!(full, Ok(Cow::Borrowed(_))),
                "the fast path skipped a statement the translator changes: {sql:?} => {full:?}"
            );
        }
    }
}

#[test]
fn nothing_panics_on_mutated_statements() {
    let mut rng = Xorshift(0xd1b5_4a32_d192_ed03);
    let seeds: Vec<&str> = SAME_ANSWERS
        .iter()
        .chain(SAME_ERRORS.iter())
        .map(|(sql, _)| *sql)
        .chain([
            "CREATE TABLE items (id serial PRIMARY KEY, n numeric(10,2) DEFAULT 0, \
             t timestamp(3) with time zone DEFAULT now(), g int generated always as identity)",
            "with x as (select 1 as a) select a::text, (select max(i) from t) m from x for update",
            "insert into t (a) values ($1::int8) returning a, b as \"B\"",
            "select '9999999-12-31 23:59:59.999999'::timestamp, '294276-12-31'::timestamptz",
        ])
        .collect();
    for _ in 0..5_000 {
        let mut sql = seeds[rng.below(seeds.len())].to_owned();
        for _ in 0..1 + rng.below(3) {
            let boundaries: Vec<usize> = (0..=sql.len())
                .filter(|i| sql.is_char_boundary(*i))
                .collect();
            let at = boundaries[rng.below(boundaries.len())];
            match rng.below(3) {
                0 => sql.insert_str(at, FRAGMENTS[rng.below(FRAGMENTS.len())]),
                1 => {
                    let to = boundaries[rng.below(boundaries.len())].max(at);
                    sql.replace_range(at..to, "");
                }
                _ => sql.truncate(at),
            }
        }
        let _ = crate::sql::lexer::split_statements(&sql);
        let _ = to_sqlite(&sql);
        if let Some(items) = infer::select_items(&sql) {
            for item in items {
                let _ = infer::pg_column_name(&item.expr);
                let _ = infer::typed_expr(&item.expr, &[oid::INT8]);
            }
        }
        let _ = infer::declared_column_types(&sql);
    }
    // The mutated statements also run, so the SQL functions see odd input.
    let conn = db();
    for _ in 0..2_000 {
        let mut sql = seeds[rng.below(seeds.len())].to_owned();
        let boundaries: Vec<usize> = (0..=sql.len())
            .filter(|i| sql.is_char_boundary(*i))
            .collect();
        let at = boundaries[rng.below(boundaries.len())];
        sql.insert_str(at, FRAGMENTS[rng.below(FRAGMENTS.len())]);
        if let Ok(translated) = to_sqlite(&sql)
            && let Ok(mut stmt) = conn.prepare(&translated)
            && stmt.parameter_count() == 0
            && let Ok(mut rows) = stmt.query([])
        {
            while let Ok(Some(_)) = rows.next() {}
        }
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let deep = format!("select {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let _ = to_sqlite(&deep);
    let _ = infer::select_items(&deep);
    let _ = infer::type_from_expr(&deep[7..], &[]);
    let _ = infer::pg_column_name(&deep[7..]);
    let casts = format!("select 1{}", "::int".repeat(50_000));
    assert!(to_sqlite(&casts).is_ok());
    let _ = infer::type_from_expr(&casts[7..], &[]);
    let subqueries = format!("{}1{}", "(select ".repeat(5_000), ")".repeat(5_000));
    let _ = infer::pg_column_name(&subqueries);
    let _ = infer::type_from_expr(&subqueries, &[]);
    let minus = format!("select {}1", "-".repeat(100_000));
    let _ = infer::type_from_expr(&minus[7..], &[]);
    let not = format!("select {}true", "not ".repeat(100_000));
    let _ = infer::type_from_expr(&not[7..], &[]);
}

#[test]
fn catalog_qualified_functions_lose_the_qualifier() {
    assert_eq!(
        to_sqlite("select pg_catalog.version()").unwrap(),
        "select version()"
    );
    assert_eq!(
        to_sqlite("SELECT pg_catalog.now()").unwrap(),
        "SELECT pg_now()"
    );
    // A catalog table keeps its name (no function call).
    assert_eq!(
        to_sqlite("select * from pg_catalog.pg_type").unwrap(),
        "select * from pg_catalog.pg_type"
    );
}

#[test]
fn regular_expression_operators_become_regexp() {
    let t = |sql: &str| to_sqlite(sql).unwrap().into_owned();
    assert_eq!(
        t("SELECT a FROM t WHERE a ~ '^x' AND b !~ 'y'"),
        "SELECT a FROM t WHERE a REGEXP '^x' AND b NOT REGEXP 'y'"
    );
    assert_eq!(
        t("SELECT a ~* 'x', a !~* 'y'"),
        "SELECT a REGEXP '(?i)' || 'x', a NOT REGEXP '(?i)' || 'y'"
    );
    assert_eq!(
        t("SELECT 1 WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default"),
        "SELECT 1 WHERE c.relname REGEXP '^(t)$' "
    );
    assert_eq!(t("SELECT 1 OPERATOR(pg_catalog.=) 1"), "SELECT 1 = 1");
    assert_eq!(t("SELECT 'a'~'b'"), "SELECT 'a' REGEXP 'b'");
    // Unary ~ is bitwise not in both; literals are never touched.
    assert_eq!(t("SELECT ~5, '~' || 'a ~ b'"), "SELECT ~5, '~' || 'a ~ b'");
    assert_eq!(t("SELECT 'x' COLLATE \"default\""), "SELECT 'x' ");
}

#[test]
fn selects_from_always_empty_catalogs_read_nothing() {
    let t = |sql: &str| to_sqlite(sql).unwrap().into_owned();
    assert_eq!(
        t(
            "SELECT pol.polname, array(select 1), 'd' = any(x) FROM pg_catalog.pg_policy pol WHERE pol.polrelid = '16385' ORDER BY 1"
        ),
        "SELECT NULL, NULL, NULL LIMIT 0"
    );
    assert_eq!(
        t(
            "SELECT pubname, NULL FROM pg_publication p JOIN pg_publication_rel pr ON p.oid = pr.prpubid \
           UNION SELECT c.oid::regclass, 1 FROM pg_class c, pg_inherits i WHERE c.oid = i.inhparent ORDER BY 1"
        ),
        "SELECT NULL, NULL LIMIT 0"
    );
    // A LEFT JOIN keeps the rows of the other side; `*` has no known width;
    // a branch without an empty catalog may have rows.
    for sql in [
        "SELECT c.relname FROM pg_class c LEFT JOIN pg_inherits i ON c.oid = i.inhrelid",
        "SELECT c.relname FROM pg_class c LEFT OUTER JOIN pg_inherits i ON c.oid = i.inhrelid",
        "SELECT * FROM pg_policy",
        "SELECT polname FROM pg_policy UNION SELECT relname FROM pg_class",
        "SELECT 1 FROM pg_class c RIGHT JOIN pg_policy p ON true",
    ] {
        assert!(!t(sql).contains("LIMIT 0"), "{sql}");
    }
}

#[test]
fn array_subqueries_and_unnest_in_from() {
    let t = |sql: &str| to_sqlite(sql).unwrap().into_owned();
    assert_eq!(
        t("SELECT array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)"),
        "SELECT (SELECT json_group_array(pg_array_elem) FROM (select 'toast.' || x AS pg_array_elem from (SELECT value AS x FROM json_each(tc.reloptions)) AS x))"
    );
    assert_eq!(
        t("SELECT u FROM unnest(a) WHERE true"),
        "SELECT u FROM (SELECT value AS unnest FROM json_each(a)) AS unnest WHERE true"
    );
    // Not a FROM item, or not a subquery: unchanged.
    assert_eq!(t("SELECT unnest(a)"), "SELECT unnest(a)");
    assert_eq!(
        t("SELECT array(select a, b from t)"),
        "SELECT array(select a, b from t)"
    );
    let c = db();
    crate::backend::embedded::catalog::attach(&c).unwrap();
    let sql = to_sqlite(
        "SELECT array_to_string(array(select x || '!' from unnest('[\"a\",\"b\"]') x), ', '), \
         array_to_string(NULL || array(select 'toast.' || x from pg_catalog.unnest(NULL) x), ', ')",
    )
    .unwrap();
    let (a, b): (String, Option<String>) = c
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((a.as_str(), b), ("a!, b!", None));
}

#[test]
fn array_literals_any_and_json_build_object() {
    let t = |sql: &str| to_sqlite(sql).unwrap().into_owned();
    assert_eq!(t("SELECT ARRAY[1, 2]"), "SELECT json_array(1, 2)");
    assert_eq!(
        t("SELECT array[[1], [2, 3]], ARRAY[]"),
        "SELECT json_array(json_array(1), json_array(2, 3)), json_array()"
    );
    // A subscript stays a subscript.
    assert_eq!(t("SELECT ARRAY[a[1]]"), "SELECT json_array(a[1])");
    assert_eq!(
        t("SELECT 1 FROM c WHERE c.relkind = ANY (ARRAY['r'::VARCHAR, 'v'])"),
        "SELECT 1 FROM c WHERE c.relkind IN (CAST('r' AS TEXT), 'v')"
    );
    assert_eq!(
        t("SELECT x = any(select y from u), x = ANY(a.b)"),
        "SELECT x IN(select y from u), x IN (SELECT value FROM json_each(pg_array_json(a.b)))"
    );
    // Other operators before ANY, and `any` as a name, are not touched.
    assert_eq!(
        t("SELECT x <> ANY(a), any(b)"),
        "SELECT x <> ANY(a), any(b)"
    );
    assert_eq!(
        t("SELECT pg_catalog.json_build_object('a', 1), jsonb_build_object()"),
        "SELECT json_object('a', 1), json_object()"
    );
    let c = db();
    for (sql, want) in [
        ("SELECT 'p' = ANY (ARRAY['r', 'p'])", "t"),
        ("SELECT 'x' = ANY (ARRAY['r', 'p'])", "f"),
        ("SELECT 3 = ANY (ARRAY[]::int[])", "f"),
        ("SELECT 2 = ANY (ARRAY[1, 2])", "t"),
        ("SELECT 2 = ANY (select 2)", "t"),
        ("SELECT 2 = ANY ('{1,2}')", "t"),
        ("SELECT 'b c' = ANY ('{a, \"b c\", NULL}')", "t"),
        ("SELECT 'x' = ANY ('[\"x\"]')", "t"),
        ("SELECT 3 = ANY ('{}')", "f"),
        ("SELECT 3 = ANY (NULL)", "f"),
    ] {
        assert_eq!(run_row(&c, sql).unwrap(), want, "{sql}");
    }
    let row: String = c
        .query_row(
            &to_sqlite("SELECT ARRAY['a', NULL, 'b c']").unwrap(),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(row, r#"["a",null,"b c"]"#);
    for bad in [
        "SELECT 1 = ANY ('x')",
        "SELECT 1 = ANY ('{1')",
        "SELECT 1 = ANY ('[1')",
        "SELECT 1 = ANY (2.5)",
        "SELECT 1 = ANY ('1 x')",
    ] {
        let e = run_row(&c, bad).unwrap_err();
        assert!(
            e.starts_with("22P02: malformed array literal"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn set_returning_calls_in_a_select_list_join_the_array() {
    let t = |sql: &str| to_sqlite(sql).unwrap().into_owned();
    assert_eq!(
        t(
            "SELECT c.x, unnest(i.indkey) AS attnum, generate_subscripts(i.indkey, $1) AS ord FROM c JOIN i ON c.id = i.id WHERE c.x > 0"
        ),
        "SELECT c.x, pg_srf.value AS attnum, CASE WHEN ( $1) = 1 THEN pg_srf.key + 1 END AS ord FROM c JOIN i ON c.id = i.id, json_each(pg_array_json(i.indkey)) AS pg_srf WHERE c.x > 0"
    );
    assert_eq!(
        t(
            "SELECT array_agg(a ORDER BY b), bool_and(c), bool_or(c), every(c) FROM (SELECT unnest(k) AS a FROM t) s"
        ),
        "SELECT json_group_array(a ORDER BY b), min(c), max(c), min(c) FROM (SELECT pg_srf.value AS a FROM t, json_each(pg_array_json(k)) AS pg_srf) s"
    );
    // Not a column, no FROM: untouched; two arrays are read in step.
    assert_eq!(
        t("SELECT unnest(f(k)) FROM t"),
        "SELECT unnest(f(k)) FROM t"
    );
    assert_eq!(
        t("SELECT unnest(a), unnest(b), generate_subscripts(b, 1) FROM t"),
        "SELECT pg_srf.value, pg_srf1.value, CASE WHEN ( 1) = 1 THEN pg_srf1.key + 1 END FROM t, json_each(pg_array_json(a)) AS pg_srf LEFT JOIN json_each(pg_array_json(b)) AS pg_srf1 ON pg_srf1.key = pg_srf.key"
    );
    assert_eq!(t("SELECT unnest(a)"), "SELECT unnest(a)");
    // An unqualified column named like one of json_each's: untouched.
    assert_eq!(
        t("SELECT id, unnest(a) FROM t"),
        "SELECT id, unnest(a) FROM t"
    );
    let c = db();
    c.execute_batch(
        "CREATE TABLE ix (id int, indkey text); INSERT INTO ix VALUES (1, '3 1'), (2, ''), (3, '2');",
    )
    .unwrap();
    let sql = to_sqlite(
        "SELECT ix.id, unnest(indkey) AS attnum, generate_subscripts(indkey, 1) AS ord FROM ix ORDER BY ix.id, ord",
    )
    .unwrap();
    let mut st = c.prepare(&sql).unwrap();
    let rows: Vec<(i64, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(1, 3, 1), (1, 1, 2), (3, 2, 1)]);
    let sql = to_sqlite(
        "SELECT s.id, unnest(indkey) AS k, unnest(s.other) AS o FROM (SELECT ix.id, indkey, '[\"x\"]' AS other FROM ix) s ORDER BY s.id",
    )
    .unwrap();
    let mut st = c.prepare(&sql).unwrap();
    let rows: Vec<(i64, i64, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, 3, Some("x".into())),
            (1, 1, None),
            (3, 2, Some("x".into()))
        ]
    );
    let sql = to_sqlite(
        "SELECT array_agg(x ORDER BY y DESC) FROM (SELECT 'a' x, 1 y UNION ALL SELECT 'b', 2) s",
    )
    .unwrap();
    let agg: String = c.query_row(&sql, [], |r| r.get(0)).unwrap();
    assert_eq!(agg, r#"["b","a"]"#);
}
