//! The relation part of the catalog: `pg_class`, `pg_attribute`,
//! `pg_attrdef`, `pg_index` and `pg_constraint`, filled from the main
//! database's `sqlite_schema` and `pragma_table_info` / `pragma_index_list`
//! each time a statement reads one of them ([`refresh`]), so they always
//! describe the schema that statement sees (also inside a transaction, and
//! after a rollback).
//!
//! What SQLite cannot know is reported as PostgreSQL reports a plain heap
//! table with nothing extra: owner oid 10 (the connected user, see
//! `pg_get_userbyid`), schema `public`, access method heap (btree for
//! indexes), no triggers, rules, row security, partitions or inheritance,
//! no collation other than the type's. Oids are `16384 + 4 * rowid` of the
//! object's `sqlite_schema` row (stable while the schema is unchanged); an
//! `INTEGER PRIMARY KEY` (SQLite's rowid, which has no index of its own) is
//! shown with the `<table>_pkey` index PostgreSQL would have, oid
//! `table + 1`; a constraint's oid is its index's `+ 2`. `serial` keys show
//! PostgreSQL's `nextval('<table>_<column>_seq'::regclass)` default (the
//! sequence itself is not listed). Temporary tables are in `pg_temp_3`.
//! Names are folded as PostgreSQL folds them (`CREATE TABLE Foo` lists
//! `foo`). `pg_roles` and `pg_user` hold the connected user alone (oid
//! 10, a superuser without replication or RLS bypass); `pg_auth_members`
//! is empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use super::super::infer;
use crate::wire::types::Oid;

/// The first oid PostgreSQL gives user objects.
pub const FIRST_USER_OID: i64 = 16384;
const HEAP_AM: i64 = 2;
const BTREE_AM: i64 = 403;

/// The relations this module fills (refreshed before a statement that
/// names one of them).
pub const DYNAMIC: &[&str] = &[
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_index",
    "pg_constraint",
    "pg_database",
    "pg_roles",
    "pg_user",
];

/// Catalog relations that are always empty in pgiris (no row-level
/// security, extended statistics, publications, inheritance, triggers,
/// rewrite rules, comments, collations beyond the types' own).
pub const ALWAYS_EMPTY: &[&str] = &[
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_inherits",
    "pg_trigger",
    "pg_rewrite",
    "pg_description",
    "pg_auth_members",
    "pg_sequence",
    "pg_opclass",
];

pub(super) const DDL: &str = "
CREATE TABLE pg_catalog.pg_class (
    oid oid NOT NULL, relname TEXT NOT NULL, relnamespace oid NOT NULL,
    reltype oid NOT NULL DEFAULT 0, reloftype oid NOT NULL DEFAULT 0,
    relowner oid NOT NULL DEFAULT 10, relam oid NOT NULL DEFAULT 0,
    relfilenode oid NOT NULL DEFAULT 0, reltablespace oid NOT NULL DEFAULT 0,
    relpages INTEGER NOT NULL DEFAULT 0, reltuples REAL NOT NULL DEFAULT -1,
    relallvisible INTEGER NOT NULL DEFAULT 0, reltoastrelid oid NOT NULL DEFAULT 0,
    relhasindex BOOLEAN NOT NULL, relisshared BOOLEAN NOT NULL DEFAULT 0,
    relpersistence TEXT NOT NULL DEFAULT 'p', relkind TEXT NOT NULL,
    relnatts SMALLINT NOT NULL, relchecks SMALLINT NOT NULL DEFAULT 0,
    relhasrules BOOLEAN NOT NULL DEFAULT 0, relhastriggers BOOLEAN NOT NULL DEFAULT 0,
    relhassubclass BOOLEAN NOT NULL DEFAULT 0, relrowsecurity BOOLEAN NOT NULL DEFAULT 0,
    relforcerowsecurity BOOLEAN NOT NULL DEFAULT 0, relispopulated BOOLEAN NOT NULL DEFAULT 1,
    relreplident TEXT NOT NULL DEFAULT 'd', relispartition BOOLEAN NOT NULL DEFAULT 0,
    relrewrite oid NOT NULL DEFAULT 0, relfrozenxid TEXT NOT NULL DEFAULT '0',
    relminmxid TEXT NOT NULL DEFAULT '0', relacl TEXT, reloptions TEXT, relpartbound TEXT);
CREATE TABLE pg_catalog.pg_attribute (
    attrelid oid NOT NULL, attname TEXT NOT NULL, atttypid oid NOT NULL,
    attstattarget INTEGER NOT NULL DEFAULT -1, attlen SMALLINT NOT NULL DEFAULT -1,
    attnum SMALLINT NOT NULL, attndims INTEGER NOT NULL DEFAULT 0,
    attcacheoff INTEGER NOT NULL DEFAULT -1, atttypmod INTEGER NOT NULL DEFAULT -1,
    attbyval BOOLEAN NOT NULL DEFAULT 0, attalign TEXT NOT NULL DEFAULT 'i',
    attstorage TEXT NOT NULL DEFAULT 'p', attcompression TEXT NOT NULL DEFAULT '',
    attnotnull BOOLEAN NOT NULL, atthasdef BOOLEAN NOT NULL,
    atthasmissing BOOLEAN NOT NULL DEFAULT 0, attidentity TEXT NOT NULL DEFAULT '',
    attgenerated TEXT NOT NULL DEFAULT '', attisdropped BOOLEAN NOT NULL DEFAULT 0,
    attislocal BOOLEAN NOT NULL DEFAULT 1, attinhcount INTEGER NOT NULL DEFAULT 0,
    attcollation oid NOT NULL DEFAULT 0, attacl TEXT, attoptions TEXT,
    attfdwoptions TEXT, attmissingval TEXT);
CREATE TABLE pg_catalog.pg_attrdef (
    oid oid NOT NULL, adrelid oid NOT NULL, adnum SMALLINT NOT NULL, adbin TEXT NOT NULL);
CREATE TABLE pg_catalog.pg_index (
    indexrelid oid NOT NULL, indrelid oid NOT NULL, indnatts SMALLINT NOT NULL,
    indnkeyatts SMALLINT NOT NULL, indisunique BOOLEAN NOT NULL,
    indnullsnotdistinct BOOLEAN NOT NULL DEFAULT 0, indisprimary BOOLEAN NOT NULL,
    indisexclusion BOOLEAN NOT NULL DEFAULT 0, indimmediate BOOLEAN NOT NULL DEFAULT 1,
    indisclustered BOOLEAN NOT NULL DEFAULT 0, indisvalid BOOLEAN NOT NULL DEFAULT 1,
    indcheckxmin BOOLEAN NOT NULL DEFAULT 0, indisready BOOLEAN NOT NULL DEFAULT 1,
    indislive BOOLEAN NOT NULL DEFAULT 1, indisreplident BOOLEAN NOT NULL DEFAULT 0,
    indkey TEXT NOT NULL, indcollation TEXT NOT NULL DEFAULT '', indclass TEXT NOT NULL DEFAULT '',
    indoption TEXT NOT NULL DEFAULT '', indexprs TEXT, indpred TEXT);
CREATE TABLE pg_catalog.pg_constraint (
    oid oid NOT NULL, conname TEXT NOT NULL, connamespace oid NOT NULL, contype TEXT NOT NULL,
    condeferrable BOOLEAN NOT NULL DEFAULT 0, condeferred BOOLEAN NOT NULL DEFAULT 0,
    convalidated BOOLEAN NOT NULL DEFAULT 1, conrelid oid NOT NULL, contypid oid NOT NULL DEFAULT 0,
    conindid oid NOT NULL, conparentid oid NOT NULL DEFAULT 0, confrelid oid NOT NULL DEFAULT 0,
    confupdtype TEXT NOT NULL DEFAULT ' ', confdeltype TEXT NOT NULL DEFAULT ' ',
    confmatchtype TEXT NOT NULL DEFAULT ' ', conislocal BOOLEAN NOT NULL DEFAULT 1,
    coninhcount INTEGER NOT NULL DEFAULT 0, connoinherit BOOLEAN NOT NULL DEFAULT 0,
    conkey TEXT, confkey TEXT, conbin TEXT);
CREATE TABLE pg_catalog.pg_database (
    oid oid NOT NULL, datname TEXT NOT NULL, datdba oid NOT NULL DEFAULT 10,
    encoding INTEGER NOT NULL DEFAULT 6, datlocprovider TEXT NOT NULL DEFAULT 'c',
    datistemplate BOOLEAN NOT NULL DEFAULT 0, datallowconn BOOLEAN NOT NULL DEFAULT 1,
    datconnlimit INTEGER NOT NULL DEFAULT -1, dattablespace oid NOT NULL DEFAULT 1663,
    datcollate TEXT NOT NULL DEFAULT 'C', datctype TEXT NOT NULL DEFAULT 'C',
    daticulocale TEXT, datcollversion TEXT, datacl TEXT);
CREATE TABLE pg_catalog.pg_roles (
    rolname TEXT NOT NULL, rolsuper BOOLEAN NOT NULL DEFAULT 1,
    rolinherit BOOLEAN NOT NULL DEFAULT 1, rolcreaterole BOOLEAN NOT NULL DEFAULT 1,
    rolcreatedb BOOLEAN NOT NULL DEFAULT 1, rolcanlogin BOOLEAN NOT NULL DEFAULT 1,
    rolreplication BOOLEAN NOT NULL DEFAULT 0, rolconnlimit INTEGER NOT NULL DEFAULT -1,
    rolpassword TEXT NOT NULL DEFAULT '********', rolvaliduntil TIMESTAMPTZ,
    rolbypassrls BOOLEAN NOT NULL DEFAULT 0, rolconfig TEXT, oid oid NOT NULL DEFAULT 10);
CREATE TABLE pg_catalog.pg_user (
    usename TEXT NOT NULL, usesysid oid NOT NULL DEFAULT 10,
    usecreatedb BOOLEAN NOT NULL DEFAULT 1, usesuper BOOLEAN NOT NULL DEFAULT 1,
    userepl BOOLEAN NOT NULL DEFAULT 0, usebypassrls BOOLEAN NOT NULL DEFAULT 0,
    passwd TEXT NOT NULL DEFAULT '********', valuntil TIMESTAMPTZ, useconfig TEXT);
CREATE TABLE pg_catalog.pg_sequence (seqrelid oid, seqtypid oid, seqstart INT8, seqincrement INT8, seqmax INT8, seqmin INT8, seqcache INT8, seqcycle BOOLEAN);
CREATE TABLE pg_catalog.pg_opclass (oid oid, opcmethod oid, opcname TEXT, opcnamespace oid, opcowner oid, opcfamily oid, opcintype oid, opcdefault BOOLEAN, opckeytype oid);
CREATE TABLE pg_catalog.pg_auth_members (roleid oid, member oid, grantor oid, admin_option BOOLEAN);
CREATE TABLE pg_catalog.pg_am (oid oid NOT NULL, amname TEXT NOT NULL, amhandler TEXT NOT NULL, amtype TEXT NOT NULL);
INSERT INTO pg_catalog.pg_am VALUES (2, 'heap', 'heap_tableam_handler', 't'), (403, 'btree', 'bthandler', 'i');
CREATE TABLE pg_catalog.pg_collation (
    oid oid NOT NULL, collname TEXT NOT NULL, collnamespace oid NOT NULL DEFAULT 11,
    collowner oid NOT NULL DEFAULT 10, collprovider TEXT NOT NULL DEFAULT 'c');
INSERT INTO pg_catalog.pg_collation (oid, collname) VALUES (100, 'default'), (950, 'C'), (951, 'POSIX');
CREATE TABLE pg_catalog.pg_policy (oid oid, polname TEXT, polrelid oid, polcmd TEXT, polpermissive BOOLEAN, polroles TEXT, polqual TEXT, polwithcheck TEXT);
CREATE TABLE pg_catalog.pg_statistic_ext (oid oid, stxrelid oid, stxname TEXT, stxnamespace oid, stxowner oid, stxstattarget INTEGER, stxkeys TEXT, stxkind TEXT, stxexprs TEXT);
CREATE TABLE pg_catalog.pg_publication (oid oid, pubname TEXT, pubowner oid, puballtables BOOLEAN, pubinsert BOOLEAN, pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN);
CREATE TABLE pg_catalog.pg_publication_namespace (oid oid, pnpubid oid, pnnspid oid);
CREATE TABLE pg_catalog.pg_publication_rel (oid oid, prpubid oid, prrelid oid, prqual TEXT, prattrs TEXT);
CREATE TABLE pg_catalog.pg_inherits (inhrelid oid, inhparent oid, inhseqno INTEGER, inhdetachpending BOOLEAN);
CREATE TABLE pg_catalog.pg_trigger (oid oid, tgrelid oid, tgparentid oid, tgname TEXT, tgfoid oid, tgtype SMALLINT, tgenabled TEXT, tgisinternal BOOLEAN);
CREATE TABLE pg_catalog.pg_rewrite (oid oid, rulename TEXT, ev_class oid, ev_type TEXT, ev_enabled TEXT, is_instead BOOLEAN);
CREATE TABLE pg_catalog.pg_description (objoid oid, classoid oid, objsubid INTEGER, description TEXT);
";

/// What `pg_get_indexdef(oid)` and `pg_get_constraintdef(oid)` answer,
/// filled by [`refresh`] next to the tables.
#[derive(Debug, Default)]
pub struct Definitions {
    pub index: HashMap<i64, String>,
    /// Sizes in bytes by oid (tables and indexes), when asked for.
    pub size: HashMap<i64, i64>,
    /// A table's size with its indexes, when asked for.
    pub total_size: HashMap<i64, i64>,
    /// (SQLite schema, SQLite name, oid, the table of an index).
    objects: Vec<(&'static str, String, i64, Option<i64>)>,
    /// A view's query, for `pg_get_viewdef(oid)`.
    pub view: HashMap<i64, String>,
    /// Each index column's definition, for `pg_get_indexdef(oid, n, _)`.
    pub index_columns: HashMap<i64, Vec<String>>,
    pub constraint: HashMap<i64, String>,
}

pub type SharedDefinitions = Arc<Mutex<Definitions>>;

/// PostgreSQL's quote_ident for a name in a definition.
fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A column default as PostgreSQL prints it: SQLite keeps the text after
/// `DEFAULT`, which the translator wrapped in parentheses.
pub fn pg_default(dflt: &str) -> String {
    let mut d = dflt.trim();
    while let Some(inner) = d.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        // Only one pair that encloses the whole text: `(a) + (b)` stays.
        let mut depth = 0i32;
        let mut encloses = true;
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 && i + 1 < inner.len() {
                encloses = false;
                break;
            }
        }
        if !encloses || depth != 0 {
            break;
        }
        d = inner.trim();
    }
    d.replace("pg_now()", "now()")
}

/// The name a CREATE TABLE / VIEW / INDEX statement gives its object,
/// folded as PostgreSQL folds it (`CREATE TABLE Foo` makes `foo`; SQLite
/// keeps `Foo`).
pub fn declared_name(sql: &str) -> Option<String> {
    use crate::sql::lexer::{Lexer, TokenKind};
    let toks: Vec<_> = Lexer::significant(sql).collect();
    let kind = toks
        .iter()
        .position(|t| ["table", "view", "index"].iter().any(|w| t.is_word(sql, w)))?;
    let mut i = kind + 1;
    while toks
        .get(i)
        .is_some_and(|t| t.is_word(sql, "if") || t.is_word(sql, "not") || t.is_word(sql, "exists"))
    {
        i += 1;
    }
    // The last part of a qualified name.
    while toks.get(i + 1).is_some_and(|t| t.kind == TokenKind::Dot) && i + 2 < toks.len() {
        i += 2;
    }
    let t = toks.get(i)?;
    matches!(t.kind, TokenKind::Ident | TokenKind::QuotedIdent)
        .then(|| infer::fold_ident(t.text(sql)))
}

/// attstorage of a column of the type, as PostgreSQL sets it: `x`
/// (extended) for variable-length types, `m` (main) for numeric, `p`
/// (plain) for fixed-length ones.
fn storage(typ: Oid) -> &'static str {
    use crate::wire::types::{oid as o, type_name};
    match typ {
        o::NUMERIC => "m",
        o::TEXT | o::VARCHAR | o::BPCHAR | o::BYTEA | o::JSON | o::JSONB => "x",
        t if type_name(t).starts_with('_') => "x",
        _ => "p",
    }
}

/// `pg_get_viewdef`'s answer from a CREATE VIEW statement: its query,
/// as written, with a leading space and a closing semicolon.
fn view_query(sql: &str) -> Option<String> {
    use crate::sql::lexer::Lexer;
    let as_at = Lexer::significant(sql).find(|t| t.is_word(sql, "as"))?;
    let body = sql[as_at.end..].trim().trim_end_matches(';').trim_end();
    Some(format!(" {body};"))
}

struct Column {
    name: String,
    decl: String,
    notnull: bool,
    default: Option<String>,
    pk: i64,
}

struct IndexRow {
    oid: i64,
    name: String,
    unique: bool,
    primary: bool,
    /// `Some('p' | 'u')` when a constraint backs it.
    constraint: Option<char>,
    columns: Vec<(i64, String, bool)>,
    predicate: Option<String>,
    /// SQLite's name (none for an INTEGER PRIMARY KEY's).
    sqlite_name: Option<String>,
}

/// Refills the relation catalogs and `defs` from the main database.
///
/// With `sizes`, also each relation's size from SQLite's `dbstat` (a scan
/// of the whole database file, so only for statements that ask).
pub fn refresh(conn: &Connection, defs: &SharedDefinitions, sizes: bool) -> rusqlite::Result<()> {
    conn.execute_batch(
        "SAVEPOINT pgiris_catalog;
         DELETE FROM pg_catalog.pg_class; DELETE FROM pg_catalog.pg_attribute;
         DELETE FROM pg_catalog.pg_attrdef; DELETE FROM pg_catalog.pg_index;
         DELETE FROM pg_catalog.pg_constraint; DELETE FROM pg_catalog.pg_database;
         DELETE FROM pg_catalog.pg_roles; DELETE FROM pg_catalog.pg_user;",
    )?;
    // The connected database only (the session registers
    // current_database(); without it, no row).
    let _ = conn.execute_batch(
        "INSERT INTO pg_catalog.pg_database (oid, datname) SELECT 16384, current_database()",
    );
    // One role, the connected user (oid 10, the owner of every object):
    // a superuser that can log in, create roles and databases, without
    // replication or RLS bypass, as `\du` shows a database's owner.
    let _ = conn.execute_batch(
        "INSERT INTO pg_catalog.pg_roles (rolname) SELECT current_user();
         INSERT INTO pg_catalog.pg_user (usename) SELECT current_user();",
    );
    let mut d = Definitions::default();
    match fill(conn, &mut d) {
        Ok(()) => {
            conn.execute_batch("RELEASE pgiris_catalog")?;
            if sizes {
                // Without dbstat (or on error) sizes stay unknown (NULL).
                let _ = fill_sizes(conn, &mut d);
            }
            if let Ok(mut g) = defs.lock() {
                *g = d;
            }
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO pgiris_catalog; RELEASE pgiris_catalog");
            Err(e)
        }
    }
}

fn fill_sizes(conn: &Connection, d: &mut Definitions) -> rusqlite::Result<()> {
    for schema in ["main", "temp"] {
        let mut s = conn.prepare_cached("SELECT name, pgsize FROM dbstat(?1, 1)")?;
        let pages: HashMap<String, i64> = s
            .query_map([schema], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (sch, name, oid, _) in &d.objects {
            if *sch == schema {
                d.size.insert(*oid, pages.get(name).copied().unwrap_or(0));
            }
        }
    }
    for (_, _, oid, table) in &d.objects {
        let size = d.size.get(oid).copied().unwrap_or(0);
        *d.total_size.entry(table.unwrap_or(*oid)).or_insert(0) += size;
    }
    Ok(())
}

fn fill(conn: &Connection, defs: &mut Definitions) -> rusqlite::Result<()> {
    fill_schema(conn, defs, &MAIN)?;
    fill_schema(conn, defs, &TEMP)
}

/// One SQLite schema and how its relations appear in the catalog.
struct Space {
    /// SQLite's schema name.
    schema: &'static str,
    /// The pg_namespace oid, the schema PostgreSQL would show.
    namespace: i64,
    /// PostgreSQL's name for it.
    nspname: &'static str,
    /// relpersistence.
    persistence: &'static str,
    /// Added to `4 * rowid` for oids.
    first_oid: i64,
}

const MAIN: Space = Space {
    schema: "main",
    namespace: 2200,
    nspname: "public",
    persistence: "p",
    first_oid: FIRST_USER_OID,
};

/// Temporary tables: schema `pg_temp_3` (as a first PostgreSQL session's),
/// oids from 1,000,000,000.
const TEMP: Space = Space {
    schema: "temp",
    namespace: TEMP_NAMESPACE,
    nspname: "pg_temp_3",
    persistence: "t",
    first_oid: 1_000_000_000,
};

/// pg_namespace oid of `pg_temp_3`.
pub const TEMP_NAMESPACE: i64 = 16386;

fn fill_schema(conn: &Connection, defs: &mut Definitions, space: &Space) -> rusqlite::Result<()> {
    let schema = space.schema;
    let rels: Vec<(i64, String, String, Option<String>)> = {
        let mut s = conn.prepare_cached(&format!(
            "SELECT rowid, type, name, sql FROM {schema}.sqlite_schema
             WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ))?;
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?
    };
    let index_rowid: HashMap<String, (i64, Option<String>)> = {
        let mut s = conn.prepare_cached(&format!(
            "SELECT name, rowid, sql FROM {schema}.sqlite_schema WHERE type = 'index'"
        ))?;
        s.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
            .collect::<Result<_, _>>()?
    };
    let mut class = conn.prepare_cached(
        "INSERT INTO pg_catalog.pg_class (oid, relname, relnamespace, relam, relhasindex, relkind, relnatts, relpersistence)
         VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6, ?8)",
    )?;
    let mut attr = conn.prepare_cached(
        "INSERT INTO pg_catalog.pg_attribute (attrelid, attname, atttypid, attnum, atttypmod, attnotnull, atthasdef, attcollation, attstorage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut attrdef = conn.prepare_cached(
        "INSERT INTO pg_catalog.pg_attrdef (oid, adrelid, adnum, adbin) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut index = conn.prepare_cached(
        "INSERT INTO pg_catalog.pg_index (indexrelid, indrelid, indnatts, indnkeyatts, indisunique, indisprimary, indkey, indpred, indoption)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut constraint = conn.prepare_cached(
        "INSERT INTO pg_catalog.pg_constraint (oid, conname, connamespace, contype, conrelid, conindid, conkey)
         VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6)",
    )?;
    for (rowid, kind, sqlite_name, sql) in rels {
        let oid = space.first_oid + 4 * rowid;
        let is_table = kind == "table";
        let name = sql
            .as_deref()
            .and_then(declared_name)
            .unwrap_or_else(|| sqlite_name.clone());
        let mut columns = table_columns(conn, &sqlite_name, schema)?;
        let declared = match (&sql, is_table) {
            (Some(sql), true) => infer::declared_column_types(sql),
            _ => Vec::new(),
        };
        // Column names as PostgreSQL folds them, when the declaration
        // lists exactly the columns SQLite has.
        if declared.len() == columns.len() {
            for (c, (n, _, _)) in columns.iter_mut().zip(&declared) {
                if c.name.eq_ignore_ascii_case(n) {
                    c.name = n.clone();
                }
            }
        }
        let autoincrement = is_table
            && sql
                .as_deref()
                .is_some_and(|s| s.to_ascii_lowercase().contains("autoincrement"));
        let pk_count = columns.iter().filter(|c| c.pk > 0).count();
        let types: Vec<(Oid, i32)> = columns
            .iter()
            .map(|c| {
                let folded = c.name.to_lowercase();
                declared
                    .iter()
                    .find(|(n, _, _)| *n == folded)
                    .map(|(_, t, m)| (*t, *m))
                    .unwrap_or_else(|| infer::type_from_decl(&c.decl))
            })
            .collect();
        for (i, c) in columns.iter().enumerate() {
            let attnum = i as i64 + 1;
            let (typ, typmod) = types[i];
            let default = if autoincrement && c.pk == 1 && pk_count == 1 {
                Some(format!("nextval('{}_{}_seq'::regclass)", name, c.name))
            } else {
                c.default.as_deref().map(pg_default)
            };
            let collation = if super::collatable(typ) { 100 } else { 0 };
            attr.execute(params![
                oid,
                c.name,
                typ,
                attnum,
                typmod,
                is_table && (c.notnull || c.pk > 0),
                default.is_some(),
                collation,
                storage(typ)
            ])?;
            if let Some(def) = default {
                attrdef.execute(params![oid * 1000 + attnum, oid, attnum, def])?;
            }
        }
        if !is_table && let Some(body) = sql.as_deref().and_then(view_query) {
            defs.view.insert(oid, body);
        }
        let indexes = if is_table {
            table_indexes(
                conn,
                space,
                &sqlite_name,
                &name,
                oid,
                &columns,
                &index_rowid,
            )?
        } else {
            Vec::new()
        };
        if is_table {
            defs.objects.push((schema, sqlite_name.clone(), oid, None));
        }
        class.execute(params![
            oid,
            name,
            if is_table { HEAP_AM } else { 0 },
            !indexes.is_empty(),
            if is_table { "r" } else { "v" },
            columns.len() as i64,
            space.namespace,
            space.persistence
        ])?;
        for ix in indexes {
            let cols: Vec<String> = ix
                .columns
                .iter()
                .map(|(_, n, desc)| {
                    let q = if n.starts_with('(') {
                        n.clone()
                    } else {
                        quote_ident(n)
                    };
                    if *desc { format!("{q} DESC") } else { q }
                })
                .collect();
            let mut def = format!(
                "CREATE {}INDEX {} ON {}.{} USING btree ({})",
                if ix.unique { "UNIQUE " } else { "" },
                quote_ident(&ix.name),
                space.nspname,
                quote_ident(&name),
                cols.join(", ")
            );
            if let Some(p) = &ix.predicate {
                def.push_str(" WHERE ");
                def.push_str(p);
            }
            defs.index.insert(ix.oid, def);
            if let Some(n) = &ix.sqlite_name {
                defs.objects.push((schema, n.clone(), ix.oid, Some(oid)));
            }
            defs.index_columns.insert(ix.oid, cols.clone());
            // The index's own columns, typed as the table's.
            for (k, (attnum, name, _)) in ix.columns.iter().enumerate() {
                let (typ, typmod) = usize::try_from(*attnum - 1)
                    .ok()
                    .and_then(|a| types.get(a).copied())
                    .unwrap_or((crate::wire::types::oid::TEXT, -1));
                let collation = if super::collatable(typ) { 100 } else { 0 };
                attr.execute(params![
                    ix.oid,
                    name,
                    typ,
                    k as i64 + 1,
                    typmod,
                    false,
                    false,
                    collation,
                    storage(typ)
                ])?;
            }
            let indkey: Vec<String> = ix.columns.iter().map(|(n, _, _)| n.to_string()).collect();
            // indoption per column: DESC is 3 (DESC, NULLS FIRST as
            // PostgreSQL defaults it), ASC 0.
            let indoption: Vec<&str> = ix
                .columns
                .iter()
                .map(|(_, _, desc)| if *desc { "3" } else { "0" })
                .collect();
            class.execute(params![
                ix.oid,
                ix.name,
                BTREE_AM,
                false,
                "i",
                ix.columns.len() as i64,
                space.namespace,
                space.persistence
            ])?;
            index.execute(params![
                ix.oid,
                oid,
                ix.columns.len() as i64,
                ix.unique,
                ix.primary,
                indkey.join(" "),
                ix.predicate,
                indoption.join(" ")
            ])?;
            if let Some(kind) = ix.constraint {
                let con = ix.oid + 2;
                constraint.execute(params![
                    con,
                    ix.name,
                    kind.to_string(),
                    oid,
                    ix.oid,
                    format!("{{{}}}", indkey.join(",")),
                    space.namespace
                ])?;
                defs.constraint.insert(
                    con,
                    format!(
                        "{} ({})",
                        if kind == 'p' { "PRIMARY KEY" } else { "UNIQUE" },
                        cols.join(", ")
                    ),
                );
            }
        }
    }
    Ok(())
}

fn table_columns(conn: &Connection, table: &str, schema: &str) -> rusqlite::Result<Vec<Column>> {
    let mut s = conn.prepare_cached(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1, ?2) ORDER BY cid",
    )?;
    s.query_map([table, schema], |r| {
        Ok(Column {
            name: r.get(0)?,
            decl: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            notnull: r.get(2)?,
            default: r.get(3)?,
            pk: r.get(4)?,
        })
    })?
    .collect()
}

fn table_indexes(
    conn: &Connection,
    space: &Space,
    sqlite_table: &str,
    table: &str,
    table_oid: i64,
    columns: &[Column],
    index_rowid: &HashMap<String, (i64, Option<String>)>,
) -> rusqlite::Result<Vec<IndexRow>> {
    let schema = space.schema;
    let list: Vec<(String, bool, String, bool)> = {
        let mut s = conn.prepare_cached(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, ?2)",
        )?;
        s.query_map([sqlite_table, schema], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    let mut pk: Vec<(i64, &Column)> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pk > 0)
        .map(|(i, c)| (i as i64 + 1, c))
        .collect();
    pk.sort_by_key(|(_, c)| c.pk);
    if !pk.is_empty() && !list.iter().any(|(_, _, origin, _)| origin == "pk") {
        // An INTEGER PRIMARY KEY is the rowid: no index of its own.
        out.push(IndexRow {
            oid: table_oid + 1,
            name: format!("{table}_pkey"),
            unique: true,
            primary: true,
            constraint: Some('p'),
            columns: pk
                .iter()
                .map(|(n, c)| (*n, c.name.clone(), false))
                .collect(),
            predicate: None,
            sqlite_name: None,
        });
    }
    let mut info = conn.prepare_cached(
        "SELECT cid, \"desc\" FROM pragma_index_xinfo(?1, ?2) WHERE key ORDER BY seqno",
    )?;
    for (name, unique, origin, partial) in list {
        let cols: Vec<(i64, String, bool)> = info
            .query_map([name.as_str(), schema], |r| {
                let cid: i64 = r.get(0)?;
                Ok((cid, r.get(1)?))
            })?
            .map(|r| {
                r.map(|(cid, desc)| {
                    let col = usize::try_from(cid)
                        .ok()
                        .and_then(|c| columns.get(c))
                        .map_or_else(|| "(expression)".to_owned(), |c| c.name.clone());
                    (if cid >= 0 { cid + 1 } else { 0 }, col, desc)
                })
            })
            .collect::<Result<_, _>>()?;
        let (rowid, sql) = index_rowid
            .get(&name)
            .cloned()
            .map_or((None, None), |(r, s)| (Some(r), s));
        let names: Vec<&str> = cols.iter().map(|(_, n, _)| n.as_str()).collect();
        let (pg_name, constraint) = match origin.as_str() {
            "pk" => (format!("{table}_pkey"), Some('p')),
            "u" => (format!("{table}_{}_key", names.join("_")), Some('u')),
            _ => (
                sql.as_deref()
                    .and_then(declared_name)
                    .unwrap_or_else(|| name.clone()),
                None,
            ),
        };
        let predicate = if partial {
            sql.and_then(|s| {
                let lower = s.to_ascii_lowercase();
                lower
                    .rfind(" where ")
                    .map(|at| format!("({})", s[at + 7..].trim()))
            })
        } else {
            None
        };
        out.push(IndexRow {
            oid: rowid.map_or(table_oid + 3, |r| space.first_oid + 4 * r),
            name: pg_name,
            unique,
            primary: origin == "pk",
            constraint,
            columns: cols,
            predicate,
            sqlite_name: Some(name),
        });
    }
    Ok(out)
}
