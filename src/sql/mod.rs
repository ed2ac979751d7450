//! SQL text as PostgreSQL lexes it, shared by the session (statement
//! splitting and classification) and the backends (translation, parameter
//! mapping, type inference).

pub mod lexer;
