//! What the embedded backend knows of a database's tables: each column's
//! PostgreSQL type, read from the `CREATE TABLE` text SQLite keeps, reloaded
//! when SQLite's schema version changes. Used to type result columns and to
//! infer parameter types the way PostgreSQL would from context.

use std::collections::HashMap;

use rusqlite::Connection;

use super::infer;
use crate::sql::lexer::{self, TokenKind};
use crate::wire::types::{Oid, oid};

/// Columns per table (names folded as PostgreSQL folds them).
#[derive(Debug, Default)]
pub struct Schema {
    /// `schema_version` of the main and the temp database (a TEMP table
    /// changes only the latter).
    version: Option<(i64, i64)>,
    tables: HashMap<String, Vec<(String, Oid, i32)>>,
}

impl Schema {
    /// Reloads the tables when another statement changed the schema.
    pub fn refresh(&mut self, conn: &Connection) {
        let version_of = |pragma: &str| -> Option<i64> {
            conn.prepare_cached(pragma)
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .ok()
        };
        let version =
            version_of("PRAGMA main.schema_version").zip(version_of("PRAGMA temp.schema_version"));
        if version.is_some() && version == self.version {
            return;
        }
        self.version = version;
        self.tables.clear();
        self.load_catalog(conn);
        self.load_tables(
            conn,
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL \
             UNION ALL SELECT name, sql FROM sqlite_temp_schema WHERE type = 'table' AND sql IS NOT NULL",
        );
    }

    /// Records the declared column types of the tables `query` lists (its
    /// rows: name, CREATE statement); nothing when it cannot run.
    fn load_tables(&mut self, conn: &Connection, query: &str) {
        let Ok(mut stmt) = conn.prepare_cached(query) else {
            return;
        };
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)));
        if let Ok(rows) = rows {
            for (name, sql) in rows.flatten() {
                self.tables
                    .insert(name.to_lowercase(), infer::declared_column_types(&sql));
            }
        }
    }

    /// The catalog's relation tables (pg_class, pg_attribute ...), loaded
    /// first so that a user's table of the same name wins; pg_type and
    /// pg_namespace keep the types their values give, as drivers have
    /// always seen them. Nothing when no catalog is attached.
    fn load_catalog(&mut self, conn: &Connection) {
        self.load_tables(
            conn,
            "SELECT name, sql FROM pg_catalog.sqlite_schema WHERE type = 'table' AND sql IS NOT NULL \
             AND name NOT IN ('pg_type', 'pg_namespace')",
        );
    }

    /// A column's type, by table (if known) and column name.
    pub fn column(&self, table: Option<&str>, column: &str) -> Option<(Oid, i32)> {
        let column = column.to_lowercase();
        let find = |cols: &Vec<(String, Oid, i32)>| {
            cols.iter()
                .find(|(n, _, _)| *n == column)
                .map(|(_, o, m)| (*o, *m))
        };
        match table {
            Some(t) => self.tables.get(&t.to_lowercase()).and_then(find),
            None => None,
        }
    }

    /// A column's type looked up among the tables a statement names (the
    /// first table that has such a column).
    pub fn column_in(&self, sql: &str, table: Option<&str>, column: &str) -> Option<(Oid, i32)> {
        if table.is_some()
            && let Some(t) = self.column(table, column)
        {
            return Some(t);
        }
        for tok in lexer::Lexer::significant(sql) {
            let name = match tok.kind {
                TokenKind::Ident | TokenKind::QuotedIdent => infer::fold_ident(tok.text(sql)),
                _ => continue,
            };
            if self.tables.contains_key(&name)
                && let Some(t) = self.column(Some(&name), column)
            {
                return Some(t);
            }
        }
        None
    }

    /// The table's columns in order.
    pub fn table(&self, table: &str) -> Option<&[(String, Oid, i32)]> {
        self.tables.get(&table.to_lowercase()).map(Vec::as_slice)
    }
}

/// PostgreSQL's parameter types for a statement, as far as the context
/// shows them: `$n::type` and `CAST($n AS type)`, `column op $n` /
/// `$n op column`, `INSERT INTO t (cols) VALUES ($n, ...)`, `SET col = $n`,
/// `LIMIT` / `OFFSET $n` (int8). Declared types win; the rest are text, as
/// PostgreSQL resolves an unknown parameter.
pub fn infer_param_types(sql: &str, count: usize, declared: &[Oid], schema: &Schema) -> Vec<Oid> {
    let mut out: Vec<Oid> = (0..count)
        .map(|i| declared.get(i).copied().filter(|t| *t != 0).unwrap_or(0))
        .collect();
    let toks = lexer::tokens(sql);
    let text = |i: usize| toks.get(i).map(|t| t.text(sql)).unwrap_or("");
    let kind = |i: usize| toks.get(i).map(|t| t.kind);
    let param_index = |i: usize| -> Option<usize> {
        (kind(i) == Some(TokenKind::Param))
            .then(|| text(i)[1..].parse::<usize>().ok())
            .flatten()
            .and_then(|n| n.checked_sub(1))
            .filter(|n| *n < count)
    };
    let set = |out: &mut Vec<Oid>, n: usize, t: Oid| {
        if out[n] == 0 {
            out[n] = t;
        }
    };
    // The column reference ending at token `end` (inclusive): `col` or `t.col`.
    let column_before = |end: usize| -> Option<(Option<String>, String)> {
        if !matches!(kind(end), Some(TokenKind::Ident | TokenKind::QuotedIdent)) {
            return None;
        }
        let col = infer::fold_ident(text(end));
        if end >= 2 && kind(end - 1) == Some(TokenKind::Dot) {
            Some((Some(infer::fold_ident(text(end - 2))), col))
        } else {
            Some((None, col))
        }
    };
    let is_cmp = |i: usize| {
        kind(i) == Some(TokenKind::Operator)
            && matches!(text(i), "=" | "<>" | "!=" | "<" | ">" | "<=" | ">=")
    };
    for i in 0..toks.len() {
        let Some(n) = param_index(i) else { continue };
        // $n::type
        if kind(i + 1) == Some(TokenKind::TypeCast)
            && let Some((t, _)) = type_after(sql, &toks, i + 2)
        {
            set(&mut out, n, t);
            continue;
        }
        // CAST($n AS type)
        if i >= 2
            && kind(i - 1) == Some(TokenKind::LParen)
            && toks[i - 2].is_word(sql, "cast")
            && toks.get(i + 1).is_some_and(|t| t.is_word(sql, "as"))
            && let Some((t, _)) = type_after(sql, &toks, i + 2)
        {
            set(&mut out, n, t);
            continue;
        }
        // LIMIT $n / OFFSET $n
        if i >= 1 && (toks[i - 1].is_word(sql, "limit") || toks[i - 1].is_word(sql, "offset")) {
            set(&mut out, n, oid::INT8);
            continue;
        }
        // column op $n
        if i >= 2
            && is_cmp(i - 1)
            && let Some((table, col)) = column_before(i - 2)
            && let Some((t, _)) = schema.column_in(sql, table.as_deref(), &col)
        {
            set(&mut out, n, t);
            continue;
        }
        // $n op column
        if is_cmp(i + 1)
            && let Some(end) = (kind(i + 2).is_some()).then_some(i + 2)
        {
            let end = if kind(end + 1) == Some(TokenKind::Dot) {
                end + 2
            } else {
                end
            };
            if let Some((table, col)) = column_before(end)
                && let Some((t, _)) = schema.column_in(sql, table.as_deref(), &col)
            {
                set(&mut out, n, t);
                continue;
            }
        }
    }
    infer_insert_values(sql, &toks, count, schema, &mut out);
    for t in &mut out {
        if *t == 0 {
            *t = oid::TEXT;
        }
    }
    out
}

/// The type named at token `i` (`int`, `varchar(20)`, `double precision`).
fn type_after(sql: &str, toks: &[lexer::Token], i: usize) -> Option<(Oid, i32)> {
    let start = toks.get(i)?.start;
    // Longest prefix of the following tokens that names a type.
    let mut best = None;
    for j in i..toks.len().min(i + 6) {
        if let Some(t) = infer::type_from_name(&sql[start..toks[j].end]) {
            best = Some(t);
        }
    }
    best
}

/// `INSERT INTO t [(c1, c2 ...)] VALUES ($1, $2 ...)`: parameter types from
/// the target columns.
fn infer_insert_values(
    sql: &str,
    toks: &[lexer::Token],
    count: usize,
    schema: &Schema,
    out: &mut [Oid],
) {
    if !(toks.first().is_some_and(|t| t.is_word(sql, "insert"))
        && toks.get(1).is_some_and(|t| t.is_word(sql, "into")))
    {
        return;
    }
    let Some(table_tok) = toks.get(2) else { return };
    let table = infer::fold_ident(table_tok.text(sql));
    let Some(columns) = schema.table(&table) else {
        return;
    };
    let mut i = 3;
    let mut targets: Vec<String> = Vec::new();
    if toks.get(i).map(|t| t.kind) == Some(TokenKind::LParen) {
        i += 1;
        while let Some(t) = toks.get(i) {
            match t.kind {
                TokenKind::Ident | TokenKind::QuotedIdent => {
                    targets.push(infer::fold_ident(t.text(sql)))
                }
                TokenKind::RParen => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    } else {
        targets = columns.iter().map(|(n, _, _)| n.clone()).collect();
    }
    if !toks.get(i).is_some_and(|t| t.is_word(sql, "values")) {
        return;
    }
    // Each VALUES row: the k-th item of a row goes to targets[k] when the
    // item is a bare parameter.
    let mut depth = 0usize;
    let mut item = 0usize;
    let mut item_tokens: Vec<usize> = Vec::new();
    for (j, t) in toks.iter().enumerate().skip(i + 1) {
        match t.kind {
            TokenKind::LParen => {
                depth += 1;
                if depth == 1 {
                    item = 0;
                    item_tokens.clear();
                    continue;
                }
            }
            TokenKind::RParen => {
                if depth == 1 {
                    assign(sql, toks, &item_tokens, item, &targets, columns, count, out);
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            TokenKind::Comma if depth == 1 => {
                assign(sql, toks, &item_tokens, item, &targets, columns, count, out);
                item += 1;
                item_tokens.clear();
                continue;
            }
            _ => {}
        }
        if depth >= 1 {
            item_tokens.push(j);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn assign(
    sql: &str,
    toks: &[lexer::Token],
    item_tokens: &[usize],
    item: usize,
    targets: &[String],
    columns: &[(String, Oid, i32)],
    count: usize,
    out: &mut [Oid],
) {
    let [only] = item_tokens else { return };
    let t = toks[*only];
    if t.kind != TokenKind::Param {
        return;
    }
    let Some(n) = t.text(sql)[1..]
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
    else {
        return;
    };
    if n >= count || out[n] != 0 {
        return;
    }
    if let Some(target) = targets.get(item)
        && let Some((_, o, _)) = columns.iter().find(|(c, _, _)| c == target)
    {
        out[n] = *o;
    }
}
