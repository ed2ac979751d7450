//! The small part of PostgreSQL's system catalog that drivers read when
//! they connect: `pg_catalog.pg_type` and `pg_catalog.pg_namespace`, in an
//! in-memory database attached to every embedded connection as
//! `pg_catalog` (so both `pg_catalog.pg_type` and plain `pg_type` resolve).
//! Drivers look up types there (psycopg's TypeInfo, SQLAlchemy's dialect
//! initialisation); an absent row means "no such type", as in PostgreSQL.

use rusqlite::{Connection, params};

use crate::wire::types;

/// pg_namespace rows: (oid, nspname).
const NAMESPACES: &[(i64, &str)] = &[
    (11, "pg_catalog"),
    (2200, "public"),
    (13000, "information_schema"),
];

/// typcategory of a type, as PostgreSQL assigns it (approximately, for the
/// types pgiris knows).
fn category(oid: u32, name: &str) -> &'static str {
    use types::oid;
    if name.starts_with('_') {
        return "A";
    }
    match oid {
        oid::BOOL => "B",
        oid::INT2
        | oid::INT4
        | oid::INT8
        | oid::FLOAT4
        | oid::FLOAT8
        | oid::NUMERIC
        | oid::OID
        | oid::MONEY => "N",
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::CHAR => "S",
        oid::DATE | oid::TIME | oid::TIMESTAMP | oid::TIMESTAMPTZ | oid::TIMETZ => "D",
        oid::INTERVAL => "T",
        oid::UNKNOWN | oid::CSTRING | oid::RECORD | oid::VOID => "X",
        _ => "U",
    }
}

/// PostgreSQL's format_type(oid, typmod): the SQL spelling of a type.
pub fn format_type(oid: u32, typmod: i32) -> String {
    use types::oid as o;
    let m = |base: &str| {
        if typmod >= 4 {
            format!("{base}({})", typmod - 4)
        } else {
            base.to_owned()
        }
    };
    match oid {
        o::INT2 => "smallint".into(),
        o::INT4 => "integer".into(),
        o::INT8 => "bigint".into(),
        o::FLOAT4 => "real".into(),
        o::FLOAT8 => "double precision".into(),
        o::BOOL => "boolean".into(),
        o::VARCHAR => m("character varying"),
        o::BPCHAR => m("character"),
        o::TIME => "time without time zone".into(),
        o::TIMESTAMP => "timestamp without time zone".into(),
        o::TIMESTAMPTZ => "timestamp with time zone".into(),
        o::TIMETZ => "time with time zone".into(),
        o::NUMERIC if typmod >= 4 => {
            let t = typmod - 4;
            format!("numeric({},{})", (t >> 16) & 0xffff, t & 0xffff)
        }
        _ => match types::type_name(oid) {
            "???" => "???".into(),
            name if name.starts_with('_') => format!("{}[]", format_type_name(&name[1..])),
            name => name.to_owned(),
        },
    }
}

fn format_type_name(name: &str) -> String {
    types::parse_type_name(name)
        .map(|(oid, _)| format_type(oid, -1))
        .unwrap_or_else(|| name.to_owned())
}

/// SQL functions over the catalog: to_regtype(name) (NULL when unknown)
/// and format_type(oid, typmod).
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("to_regtype", 1, flags, |ctx| {
        let name: Option<String> = ctx.get(0)?;
        Ok(name
            .and_then(|n| types::parse_type_name(&n))
            .map(|(oid, _)| i64::from(oid)))
    })?;
    conn.create_scalar_function("format_type", 2, flags, |ctx| {
        let oid: Option<i64> = ctx.get(0)?;
        let typmod: Option<i64> = ctx.get(1)?;
        Ok(oid.map(|o| {
            format_type(
                u32::try_from(o).unwrap_or(0),
                typmod.and_then(|t| i32::try_from(t).ok()).unwrap_or(-1),
            )
        }))
    })
}

/// Attaches and fills the catalog database.
pub fn attach(conn: &Connection) -> rusqlite::Result<()> {
    register_functions(conn)?;
    conn.execute_batch(
        "ATTACH DATABASE ':memory:' AS pg_catalog;
         CREATE TABLE pg_catalog.pg_namespace (
             oid INTEGER PRIMARY KEY, nspname TEXT NOT NULL, nspowner INTEGER NOT NULL DEFAULT 10);
         CREATE TABLE pg_catalog.pg_type (
             oid INTEGER PRIMARY KEY, typname TEXT NOT NULL, typnamespace INTEGER NOT NULL,
             typowner INTEGER NOT NULL DEFAULT 10, typlen SMALLINT NOT NULL, typbyval BOOLEAN NOT NULL,
             typtype TEXT NOT NULL, typcategory TEXT NOT NULL, typdelim TEXT NOT NULL DEFAULT ',',
             typrelid INTEGER NOT NULL DEFAULT 0, typelem INTEGER NOT NULL DEFAULT 0,
             typarray INTEGER NOT NULL DEFAULT 0, typbasetype INTEGER NOT NULL DEFAULT 0,
             typtypmod INTEGER NOT NULL DEFAULT -1, typnotnull BOOLEAN NOT NULL DEFAULT 0,
             typndims INTEGER NOT NULL DEFAULT 0);",
    )?;
    {
        let mut ns =
            conn.prepare("INSERT INTO pg_catalog.pg_namespace (oid, nspname) VALUES (?1, ?2)")?;
        for (oid, name) in NAMESPACES {
            ns.execute(params![oid, name])?;
        }
    }
    let mut ty = conn.prepare(
        "INSERT INTO pg_catalog.pg_type (oid, typname, typnamespace, typlen, typbyval, typtype, typcategory, typelem, typarray)
         VALUES (?1, ?2, 11, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let all: Vec<_> = types::known_types().collect();
    for &(oid, name, len, array) in &all {
        // An array type's element is the type whose array it is.
        let elem = all
            .iter()
            .find(|(_, _, _, a)| *a == oid)
            .map(|(o, _, _, _)| *o)
            .unwrap_or(0);
        let typtype =
            if oid == types::oid::RECORD || oid == types::oid::VOID || oid == types::oid::CSTRING {
                "p"
            } else {
                "b"
            };
        ty.execute(params![
            oid,
            name,
            len,
            (1..=8).contains(&len),
            typtype,
            category(oid, name),
            elem,
            array
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_find_types_by_name_and_oid() {
        let c = Connection::open_in_memory().unwrap();
        attach(&c).unwrap();
        let (oid, arr): (i64, i64) = c
            .query_row(
                "SELECT oid, typarray FROM pg_catalog.pg_type WHERE typname = 'int4'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((oid, arr), (23, 1007));
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM pg_type t JOIN pg_namespace ns ON t.typnamespace = ns.oid WHERE typname = 'hstore'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
        let elem: i64 = c
            .query_row("SELECT typelem FROM pg_type WHERE oid = 1007", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(elem, 23);
        let oid: Option<i64> = c
            .query_row("SELECT to_regtype('hstore')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(oid, None);
        let oid: Option<i64> = c
            .query_row("SELECT to_regtype('integer')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(oid, Some(23));
    }

    #[test]
    fn format_type_spellings() {
        assert_eq!(format_type(23, -1), "integer");
        assert_eq!(format_type(1043, 24), "character varying(20)");
        assert_eq!(format_type(1700, ((10 << 16) | 2) + 4), "numeric(10,2)");
        assert_eq!(format_type(1184, -1), "timestamp with time zone");
        assert_eq!(format_type(1007, -1), "integer[]");
        assert_eq!(format_type(999_999, -1), "???");
    }
}
