//! Client authentication: pg_hba.conf rules, the users file, and the
//! methods (trust, reject, SCRAM-SHA-256(-PLUS), md5, password, iris).
