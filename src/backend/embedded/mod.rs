//! The embedded backend: SQLite, one file per configured database.
pub mod infer;
pub mod lexer;
pub mod translate;
