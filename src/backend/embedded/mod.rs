//! The embedded backend: SQLite, one file per configured database.
