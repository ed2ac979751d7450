//! The actor shell: one file per actor, thin, calling into the core.
