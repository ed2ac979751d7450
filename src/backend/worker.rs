//! Executor threads: one per backend connection, running blocking calls.
