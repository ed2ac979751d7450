//! Logging: slog setup (term or JSON) and security-event helpers.
