//! The SQL text paths: the lexer, the statement splitter, statement
//! classification, the SQLite translator and type inference of the
//! embedded backend, and the IRIS rewriter and chunker.
//!
//! Beyond "no panic": tokens are in order, never overlap, lie on character
//! boundaries and leave only white space between them; statements are
//! non-empty, ordered, non-overlapping slices of the input that start and
//! end on significant tokens; the translator returns the input itself when
//! it has nothing to rewrite; the IRIS rewriter references only parameters
//! it counted; chunks concatenate back to the input within their size.

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use pgiris::backend::embedded::{infer, translate};
use pgiris::backend::iris::sql as iris_sql;
use pgiris::session::sql as session_sql;
use pgiris::sql::lexer::{self, Lexer, TokenKind};

fn offset(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };

    let mut end = 0;
    let all: Vec<_> = Lexer::new(sql).collect();
    for t in &all {
        assert!(
            t.start >= end && t.start < t.end && t.end <= sql.len(),
            "{t:?}"
        );
        assert!(sql.is_char_boundary(t.start) && sql.is_char_boundary(t.end));
        let gap = &sql[end..t.start];
        assert!(
            gap.bytes()
                .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)),
            "non-space {gap:?} between tokens"
        );
        end = t.end;
    }
    let significant: Vec<_> = all
        .iter()
        .copied()
        .filter(|t| t.kind != TokenKind::Comment)
        .collect();
    assert_eq!(lexer::tokens(sql), significant);

    let mut last = 0;
    for stmt in lexer::split_statements(sql) {
        let at = offset(sql, stmt);
        assert!(!stmt.is_empty() && at >= last && at + stmt.len() <= sql.len());
        last = at + stmt.len();
        assert!(significant.iter().any(|t| t.start == at));
        assert!(significant.iter().any(|t| t.end == last));
        let _ = lexer::first_keywords(stmt, 3);
        let _ = session_sql::classify(stmt);
    }

    if let Ok(Cow::Borrowed(out)) = translate::to_sqlite(sql) {
        assert_eq!(out, sql);
    }
    let _ = infer::select_items(sql);
    let _ = infer::declared_column_types(sql);
    let _ = infer::typed_expr(sql, &[23, 25]);
    let _ = infer::pg_column_name(sql);
    let _ = infer::type_from_decl(sql);

    if let Ok(r) = iris_sql::rewrite(sql, iris_sql::SessionValues::Placeholder) {
        assert!(r.param_refs.iter().all(|&i| i < r.param_count), "{r:?}");
    }
    let _ = iris_sql::is_query(sql);
    let max = usize::from(data.first().copied().unwrap_or(1) % 16) + 1;
    let chunks = iris_sql::chunks(sql, max);
    assert_eq!(chunks.concat(), sql);
    assert!(chunks.iter().all(|c| c.chars().count() <= max));
});
