//! The small part of PostgreSQL's system catalog that drivers read when
//! they connect: `pg_catalog.pg_type` and `pg_catalog.pg_namespace`, in an
//! in-memory database attached to every embedded connection as
//! `pg_catalog` (so both `pg_catalog.pg_type` and plain `pg_type` resolve).
//! Drivers look up types there (psycopg's TypeInfo, SQLAlchemy's dialect
//! initialisation); an absent row means "no such type", as in PostgreSQL.
//!
//! The relations (`pg_class`, `pg_attribute`, `pg_attrdef`, `pg_index`,
//! `pg_constraint`) live there too, refilled from SQLite's schema before a
//! statement reads them (see [`relations`]), with `pg_am`, `pg_collation`
//! and the catalogs pgiris keeps empty. With the functions
//! registered here (`pg_table_is_visible`, `pg_get_expr`,
//! `pg_get_indexdef`, `pg_get_constraintdef`, `pg_size_pretty`,
//! `obj_description`, `regexp` for the translated `~` operators ...) that
//! is what psql's `\d` family reads.

pub mod relations;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, params};

pub use relations::{ALWAYS_EMPTY, DYNAMIC, SharedDefinitions};

use crate::wire::types;

/// pg_namespace rows: (oid, nspname).
const NAMESPACES: &[(i64, &str)] = &[
    (11, "pg_catalog"),
    (2200, "public"),
    (13000, "information_schema"),
    // Where temporary tables are listed (as in a first PostgreSQL session).
    (relations::TEMP_NAMESPACE, "pg_temp_3"),
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

/// Whether values of the type carry a collation (typcollation 100,
/// "default", in PostgreSQL).
pub fn collatable(oid: u32) -> bool {
    use types::oid as o;
    matches!(oid, o::TEXT | o::VARCHAR | o::BPCHAR | o::NAME)
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

/// The relation catalogs of one connection.
#[derive(Debug, Default)]
pub struct Catalog {
    definitions: SharedDefinitions,
}

impl Catalog {
    /// Refills the relation catalogs if `sql` reads one of them (a cheap
    /// scan otherwise). A failure leaves them as they were: the statement
    /// then sees older rows rather than failing.
    pub fn refresh_for(&self, conn: &Connection, sql: &str) {
        if mentions_dynamic(sql) {
            let sizes = sql.to_ascii_lowercase().contains("_size(");
            let _ = relations::refresh(conn, &self.definitions, sizes);
        }
    }
}

/// Does `sql` name one of the relations [`relations::refresh`] fills?
pub fn mentions_dynamic(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    if !bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"pg_")) {
        return false;
    }
    crate::sql::lexer::Lexer::significant(sql).any(|t| {
        let text = t.text(sql);
        let text = text.trim_matches('"');
        DYNAMIC.iter().any(|d| d.eq_ignore_ascii_case(text))
    })
}

/// The PostgreSQL text form (`{a,"b c",NULL}`) of a JSON array, the form
/// arrays take inside the embedded backend (`ARRAY(SELECT ...)`), for a
/// result column of an array type; `None` when `json` is no JSON array
/// (a value already in PostgreSQL's form stays as it is).
pub fn json_array_literal(json: &str) -> Option<String> {
    if !json.starts_with('[') {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v @ serde_json::Value::Array(_)) => {
            let mut out = String::new();
            write_array_element(&mut out, &v);
            Some(out)
        }
        _ => None,
    }
}

fn write_array_element(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::Array(items) => {
            out.push('{');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_array_element(out, item);
            }
            out.push('}');
        }
        J::Null => out.push_str("NULL"),
        J::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        J::Number(n) => out.push_str(&n.to_string()),
        J::String(s) => {
            let quote = s.is_empty()
                || s.eq_ignore_ascii_case("null")
                || s.chars()
                    .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
            if quote {
                out.push('"');
                for c in s.chars() {
                    if matches!(c, '"' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
        J::Object(_) => {
            let text = v.to_string();
            write_array_element(out, &J::String(text));
        }
    }
}

/// array_to_string(array, sep[, null]) over the array forms the embedded
/// backend produces: a JSON array (`ARRAY(SELECT ...)`) or a PostgreSQL
/// array literal `{a,b}` (without quoting subtleties). NULL elements are
/// skipped unless `null` replaces them.
pub fn array_to_string(array: &str, sep: &str, null: Option<&str>) -> String {
    let items: Vec<Option<String>> = match serde_json::from_str::<serde_json::Value>(array) {
        Ok(serde_json::Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            })
            .collect(),
        _ => {
            let inner = array.trim();
            let inner = inner
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or(inner);
            if inner.is_empty() {
                Vec::new()
            } else {
                inner
                    .split(',')
                    .map(|e| {
                        let e = e.trim();
                        (!e.eq_ignore_ascii_case("null")).then(|| e.trim_matches('"').to_owned())
                    })
                    .collect()
            }
        }
    };
    items
        .into_iter()
        .filter_map(|i| i.or_else(|| null.map(str::to_owned)))
        .collect::<Vec<_>>()
        .join(sep)
}

/// PostgreSQL's pg_size_pretty(bigint).
pub fn size_pretty(size: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if size.abs() < LIMIT {
        return format!("{size} bytes");
    }
    // One extra bit for rounding.
    let mut size = size >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} PB", half_rounded(size))
}

/// Registers `name` (with each of `arities`) as a function of an oid first
/// argument answering from the current definitions (NULL for a NULL or
/// unknown oid).
fn by_oid<T: rusqlite::ToSql + 'static>(
    conn: &Connection,
    name: &str,
    arities: &[i32],
    definitions: &SharedDefinitions,
    pick: fn(&relations::Definitions, i64) -> Option<T>,
) -> rusqlite::Result<()> {
    // Not deterministic: the definitions change with the schema.
    let flags = FunctionFlags::SQLITE_UTF8;
    for &n in arities {
        let defs = definitions.clone();
        conn.create_scalar_function(name, n, flags, move |ctx| {
            let Some(oid) = oid_arg(ctx, 0)? else {
                return Ok(None);
            };
            Ok(defs.lock().ok().and_then(|d| pick(&d, oid)))
        })?;
    }
    Ok(())
}

fn oid_arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match ctx.get_raw(i) {
        rusqlite::types::ValueRef::Integer(n) => Some(n),
        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        rusqlite::types::ValueRef::Real(f) => Some(f as i64),
        _ => None,
    })
}

/// `regexp(pattern, value)` (SQLite's `value REGEXP pattern`, what the
/// translator makes of `~`): PostgreSQL's ARE syntax where it agrees with
/// the `regex` crate's (anchors, classes, groups, alternation, `\d` ...);
/// a bad pattern is 2201B.
fn register_regexp(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("regexp", 2, flags, |ctx| {
        let value: Option<String> = match ctx.get_raw(1) {
            rusqlite::types::ValueRef::Null => None,
            _ => Some(ctx.get::<rusqlite::types::Value>(1).map(|v| match v {
                rusqlite::types::Value::Text(s) => s,
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                _ => String::new(),
            })?),
        };
        let Some(value) = value else {
            return Ok(None);
        };
        if matches!(ctx.get_raw(0), rusqlite::types::ValueRef::Null) {
            return Ok(None);
        }
        let re = ctx.get_or_create_aux(0, |v| -> Result<regex::Regex, String> {
            let pattern = v.as_str().map_err(|e| e.to_string())?;
            regex::Regex::new(pattern).map_err(|e| {
                let first = e.to_string();
                let last = first.lines().last().unwrap_or("").trim().to_owned();
                format!(
                    "[{}] invalid regular expression: {}",
                    super::translate::INVALID_REGULAR_EXPRESSION,
                    last.strip_prefix("error: ").unwrap_or(&last)
                )
            })
        })?;
        Ok(Some(re.is_match(&value)))
    })
}

/// The functions over the relation catalogs psql's `\d` calls.
fn register_relation_functions(
    conn: &Connection,
    definitions: &SharedDefinitions,
) -> rusqlite::Result<()> {
    register_regexp(conn)?;
    let flags = FunctionFlags::SQLITE_UTF8;
    // Every relation pgiris lists is in `public` or `pg_catalog`, both on
    // the search path.
    conn.create_scalar_function("pg_table_is_visible", 1, flags, |ctx| {
        Ok(oid_arg(ctx, 0)?.map(|_| true))
    })?;
    conn.create_scalar_function("pg_type_is_visible", 1, flags, |ctx| {
        Ok(oid_arg(ctx, 0)?.map(|_| true))
    })?;
    conn.create_scalar_function("pg_collation_is_visible", 1, flags, |ctx| {
        Ok(oid_arg(ctx, 0)?.map(|_| true))
    })?;
    // No sequence is listed (a serial column's is implicit in SQLite), so
    // no column has one to name.
    conn.create_scalar_function("pg_get_serial_sequence", 2, flags, |_| Ok(None::<String>))?;
    // pg_attrdef.adbin holds the expression's text already.
    for n in [2, 3] {
        conn.create_scalar_function("pg_get_expr", n, flags, |ctx| ctx.get::<Option<String>>(0))?;
    }
    for n in [1, 3] {
        let defs = definitions.clone();
        conn.create_scalar_function("pg_get_indexdef", n, flags, move |ctx| {
            let Some(oid) = oid_arg(ctx, 0)? else {
                return Ok(None);
            };
            // pg_get_indexdef(oid, column, pretty): that column's
            // definition; column 0, the whole CREATE INDEX.
            let column = if n == 3 {
                oid_arg(ctx, 1)?.unwrap_or(0)
            } else {
                0
            };
            Ok(defs.lock().ok().and_then(|d| {
                if column > 0 {
                    let cols = d.index_columns.get(&oid)?;
                    cols.get(usize::try_from(column - 1).ok()?).cloned()
                } else {
                    d.index.get(&oid).cloned()
                }
            }))
        })?;
    }
    by_oid(
        conn,
        "pg_get_constraintdef",
        &[1, 2],
        definitions,
        |d, oid| d.constraint.get(&oid).cloned(),
    )?;
    for n in [2, 3] {
        conn.create_scalar_function("array_to_string", n, flags, move |ctx| {
            let Some(array) = ctx.get::<Option<String>>(0)? else {
                return Ok(None);
            };
            let sep: String = ctx.get::<Option<String>>(1)?.unwrap_or_default();
            let null: Option<String> = if n == 3 { ctx.get(2)? } else { None };
            Ok(Some(array_to_string(&array, &sep, null.as_deref())))
        })?;
    }
    by_oid(conn, "pg_get_viewdef", &[1, 2], definitions, |d, oid| {
        d.view.get(&oid).cloned()
    })?;
    conn.create_scalar_function("pg_encoding_to_char", 1, flags, |ctx| {
        Ok(ctx.get::<Option<i64>>(0)?.map(|e| match e {
            0 => "SQL_ASCII",
            6 => "UTF8",
            _ => "",
        }))
    })?;
    conn.create_scalar_function("pg_size_pretty", 1, flags, |ctx| {
        Ok(ctx.get::<Option<i64>>(0)?.map(size_pretty))
    })?;
    // Sizes from SQLite's dbstat, filled when the statement calls one of
    // these (NULL for a relation pgiris does not list). A table's size is
    // its b-tree's, without indexes; an INTEGER PRIMARY KEY's index has
    // none of its own (0).
    for f in ["pg_table_size", "pg_relation_size"] {
        by_oid(conn, f, &[1], definitions, |d, oid| {
            d.size.get(&oid).copied()
        })?;
    }
    by_oid(
        conn,
        "pg_total_relation_size",
        &[1],
        definitions,
        |d, oid| d.total_size.get(&oid).copied(),
    )?;
    // No comments are kept.
    for n in [1, 2] {
        conn.create_scalar_function("obj_description", n, flags, |_| Ok(None::<String>))?;
    }
    conn.create_scalar_function("col_description", 2, flags, |_| Ok(None::<String>))?;
    conn.create_scalar_function("shobj_description", 2, flags, |_| Ok(None::<String>))?;
    Ok(())
}

/// Attaches and fills the catalog database; the answer refreshes its
/// relations ([`Catalog::refresh_for`]).
pub fn attach(conn: &Connection) -> rusqlite::Result<Catalog> {
    let catalog = Catalog::default();
    register_functions(conn)?;
    register_relation_functions(conn, &catalog.definitions)?;
    conn.execute_batch(
        "ATTACH DATABASE ':memory:' AS pg_catalog;
         CREATE TABLE pg_catalog.pg_namespace (
             oid INTEGER PRIMARY KEY, nspname TEXT NOT NULL, nspowner INTEGER NOT NULL DEFAULT 10, nspacl TEXT);
         CREATE TABLE pg_catalog.pg_type (
             oid INTEGER PRIMARY KEY, typname TEXT NOT NULL, typnamespace INTEGER NOT NULL,
             typowner INTEGER NOT NULL DEFAULT 10, typlen SMALLINT NOT NULL, typbyval BOOLEAN NOT NULL,
             typtype TEXT NOT NULL, typcategory TEXT NOT NULL, typdelim TEXT NOT NULL DEFAULT ',',
             typrelid INTEGER NOT NULL DEFAULT 0, typelem INTEGER NOT NULL DEFAULT 0,
             typarray INTEGER NOT NULL DEFAULT 0, typbasetype INTEGER NOT NULL DEFAULT 0,
             typtypmod INTEGER NOT NULL DEFAULT -1, typnotnull BOOLEAN NOT NULL DEFAULT 0,
             typndims INTEGER NOT NULL DEFAULT 0, typcollation INTEGER NOT NULL DEFAULT 0);",
    )?;
    conn.execute_batch(relations::DDL)?;
    {
        let mut ns =
            conn.prepare("INSERT INTO pg_catalog.pg_namespace (oid, nspname) VALUES (?1, ?2)")?;
        for (oid, name) in NAMESPACES {
            ns.execute(params![oid, name])?;
        }
    }
    let mut ty = conn.prepare(
        "INSERT INTO pg_catalog.pg_type (oid, typname, typnamespace, typlen, typbyval, typtype, typcategory, typelem, typarray, typcollation)
         VALUES (?1, ?2, 11, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
            array,
            if collatable(oid) { 100 } else { 0 }
        ])?;
    }
    Ok(catalog)
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

#[cfg(test)]
mod relation_tests {
    use super::*;

    #[test]
    fn sizes_print_like_pg_size_pretty() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(8192), "8192 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(100_000_000), "95 MB");
        assert_eq!(size_pretty(-10240), "-10 kB");
    }

    #[test]
    fn json_arrays_in_postgresql_text_form() {
        assert_eq!(json_array_literal("[]").as_deref(), Some("{}"));
        assert_eq!(
            json_array_literal(r#"["a","b c",null,"",1,2.5,"x\"y","NULL"]"#).as_deref(),
            Some(r#"{a,"b c",NULL,"",1,2.5,"x\"y","NULL"}"#)
        );
        assert_eq!(
            json_array_literal("[[1,2],[3,4]]").as_deref(),
            Some("{{1,2},{3,4}}")
        );
        assert_eq!(json_array_literal("{a,b}"), None);
        assert_eq!(json_array_literal("[not json"), None);
        assert_eq!(json_array_literal(""), None);
    }

    #[test]
    fn arrays_to_strings() {
        assert_eq!(array_to_string("[\"a\",null,3]", ", ", None), "a, 3");
        assert_eq!(array_to_string("[\"a\",null]", ",", Some("*")), "a,*");
        assert_eq!(array_to_string("{x,NULL,y}", "-", None), "x-y");
        assert_eq!(array_to_string("{}", ",", None), "");
    }

    #[test]
    fn defaults_lose_the_translator_parentheses() {
        assert_eq!(relations::pg_default("(0)"), "0");
        assert_eq!(relations::pg_default("((1) + (2))"), "(1) + (2)");
        assert_eq!(relations::pg_default("(1) + (2)"), "(1) + (2)");
        assert_eq!(relations::pg_default("(pg_now())"), "now()");
        assert_eq!(relations::pg_default("'x'"), "'x'");
    }

    #[test]
    fn sqlalchemy_reflection_helpers() {
        let c = Connection::open_in_memory().unwrap();
        let _catalog = attach(&c).unwrap();
        let row = |sql: &str| -> Option<String> { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            row("SELECT pg_collation_is_visible(100) || ''"),
            Some("1".into())
        );
        assert_eq!(row("SELECT pg_collation_is_visible(NULL)"), None);
        assert_eq!(row("SELECT pg_get_serial_sequence('t', 'id')"), None);
        assert_eq!(
            row("SELECT count(*) || '' FROM pg_catalog.pg_sequence"),
            Some("0".into())
        );
    }

    #[test]
    fn roles_hold_the_connected_user_only() {
        let c = Connection::open_in_memory().unwrap();
        let catalog = attach(&c).unwrap();
        c.create_scalar_function("current_user", 0, FunctionFlags::SQLITE_UTF8, |_| {
            Ok("alice".to_owned())
        })
        .unwrap();
        let row =
            |sql: &str| -> String { c.query_row(sql, [], |r| r.get::<_, String>(0)).unwrap() };
        // Not mentioned: no refresh, no rows yet.
        catalog.refresh_for(&c, "SELECT 1");
        assert_eq!(row("SELECT count(*) || '' FROM pg_catalog.pg_roles"), "0");
        catalog.refresh_for(&c, "SELECT * FROM pg_catalog.pg_roles");
        catalog.refresh_for(&c, "SELECT * FROM pg_roles r");
        assert_eq!(
            row(
                "SELECT group_concat(rolname || oid || rolsuper || rolinherit || rolcreaterole
                    || rolcreatedb || rolcanlogin || rolreplication || rolbypassrls
                    || rolconnlimit || coalesce(rolvaliduntil, 'null') || rolpassword)
                 FROM pg_catalog.pg_roles"
            ),
            "alice101111100-1null********"
        );
        assert_eq!(
            row(
                "SELECT group_concat(usename || usesysid || usesuper || usecreatedb || userepl)
                 FROM pg_catalog.pg_user"
            ),
            "alice10110"
        );
        assert_eq!(
            row("SELECT count(*) || '' FROM pg_catalog.pg_auth_members"),
            "0"
        );
    }

    #[test]
    fn relations_follow_the_sqlite_schema() {
        let c = Connection::open_in_memory().unwrap();
        let catalog = attach(&c).unwrap();
        c.execute_batch(
            "CREATE TABLE a (k INTEGER PRIMARY KEY AUTOINCREMENT, s varchar(5) UNIQUE, n int NOT NULL);
             CREATE TABLE b (x text, y int, PRIMARY KEY (x, y));
             CREATE INDEX b_y ON b (y DESC) WHERE y > 0;",
        )
        .unwrap();
        catalog.refresh_for(&c, "SELECT 1 FROM pg_catalog.pg_class");
        let q = |sql: &str| -> Vec<String> {
            let mut s = c.prepare(sql).unwrap();
            s.query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(
            q(
                "SELECT relname || ':' || relkind || ':' || relhasindex FROM pg_class ORDER BY relname"
            ),
            [
                "a:r:1",
                "a_pkey:i:0",
                "a_s_key:i:0",
                "b:r:1",
                "b_pkey:i:0",
                "b_y:i:0"
            ]
        );
        assert_eq!(
            q("SELECT pg_get_indexdef(indexrelid) FROM pg_index ORDER BY 1"),
            [
                "CREATE INDEX b_y ON public.b USING btree (y DESC) WHERE (y > 0)",
                "CREATE UNIQUE INDEX a_pkey ON public.a USING btree (k)",
                "CREATE UNIQUE INDEX a_s_key ON public.a USING btree (s)",
                "CREATE UNIQUE INDEX b_pkey ON public.b USING btree (x, y)",
            ]
        );
        // indkey and indoption (3: DESC, NULLS FIRST) as int2vectors.
        assert_eq!(
            q("SELECT indkey || ':' || indoption FROM pg_index ORDER BY indexrelid"),
            ["1:0", "2:0", "1 2:0 0", "2:3"]
        );
        assert_eq!(q("SELECT count(*) || '' FROM pg_opclass"), ["0"]);
        assert_eq!(
            q(
                "SELECT conname || ' ' || contype || ' ' || pg_get_constraintdef(oid) FROM pg_constraint ORDER BY 1"
            ),
            [
                "a_pkey p PRIMARY KEY (k)",
                "a_s_key u UNIQUE (s)",
                "b_pkey p PRIMARY KEY (x, y)"
            ]
        );
        assert_eq!(
            q("SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = 'b' ORDER BY attnum"),
            ["x text 1", "y integer 1"]
        );
        // Oids are user oids, distinct, and stable across refreshes.
        let oids = q("SELECT group_concat(oid) FROM (SELECT oid FROM pg_class ORDER BY oid)");
        catalog.refresh_for(&c, "SELECT * FROM pg_attribute");
        assert_eq!(
            q("SELECT group_concat(oid) FROM (SELECT oid FROM pg_class ORDER BY oid)"),
            oids
        );
        assert_eq!(
            q("SELECT count(DISTINCT oid) || ' ' || min(oid) FROM pg_class"),
            ["6 16388"]
        );
        c.execute_batch("DROP TABLE b").unwrap();
        catalog.refresh_for(&c, "SELECT * FROM pg_class");
        assert_eq!(
            q("SELECT group_concat(relname) FROM pg_class"),
            ["a,a_pkey,a_s_key"]
        );
        // Names folded as PostgreSQL folds them; temporary tables in
        // pg_temp_3.
        c.execute_batch(
            "CREATE TABLE Foo (Id int, \"Mixed\" text); CREATE INDEX Foo_Idx ON Foo (Id);
             CREATE TEMP TABLE tt (x int);",
        )
        .unwrap();
        catalog.refresh_for(&c, "SELECT * FROM pg_class");
        assert_eq!(
            q(
                "SELECT group_concat(attname) FROM pg_attribute WHERE attrelid = (SELECT oid FROM pg_class WHERE relname = 'foo')"
            ),
            ["id,Mixed"]
        );
        assert_eq!(
            q("SELECT pg_get_indexdef(oid) FROM pg_class WHERE relname = 'foo_idx'"),
            ["CREATE INDEX foo_idx ON public.foo USING btree (id)"]
        );
        assert_eq!(
            q(
                "SELECT n.nspname || '.' || c.relname || ':' || c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE relname = 'tt'"
            ),
            ["pg_temp_3.tt:t"]
        );
        assert!(!mentions_dynamic("SELECT 'pg_class'"));
        assert!(mentions_dynamic("select 1 from PG_CATALOG.PG_CLASS"));
    }
}
