//! The IRIS backend: a native, blocking client of the InterSystems IRIS
//! SuperServer protocol (TCP port 1972), as the official JDBC, ODBC and
//! Python drivers speak it. No IRIS software is needed on the pgiris host.
//!
//! Layers, bottom up:
//!
//! * [`frame`]: the 14-byte header and continued frames;
//! * [`list`]: the `$LIST` value codec;
//! * [`message`]: request and reply bodies (handshake, login, statements);
//! * [`sql`]: PostgreSQL `$n` → IRIS `:%qpar(n)`, session functions;
//! * [`types`]: ODBC column types → PostgreSQL OIDs, values → cells
//!   (the type table is there);
//! * [`sqlcode`]: IRIS SQLCODE → SQLSTATE (the one table is there);
//! * [`connection`]: one connection, implementing [`BackendConnection`];
//! * [`test_double`]: a stand-in IRIS server over SQLite, for tests;
//! * [`recorder`]: a recording proxy writing the captures' JSON lines.
//!
//! How the PostgreSQL side maps onto IRIS:
//!
//! * the `database` a client names is the IRIS namespace; it must be
//!   `backend.iris.namespace` or one of `backend.iris.namespaces`
//!   (case-insensitive), anything else is 3D000;
//! * statements starting with SELECT, WITH, EXPLAIN or `(` go as queries
//!   (`DQ`, rows fetched with `FD` until status 100), everything else as
//!   updates (`DU`, the row count is the command tag's count); a statement
//!   `describe`d first is prepared (`PP`) and executed with `PQ` / `PU`;
//! * the connection stays in autocommit; BEGIN sends `AF`, COMMIT /
//!   ROLLBACK send `TC` / `TR` then `AN`; savepoints are SQL; RELEASE
//!   SAVEPOINT is accepted and does nothing (IRIS has none);
//! * cancel shuts the socket down (IRIS has no cancel message): 57014, and
//!   the connection is replaced;
//! * login failure: 28P01 for a client's own credentials (hba method
//!   `iris`), 08006 with the reason for the service account; IRIS
//!   unreachable: 08006 naming the address.

pub mod connection;
pub mod frame;
pub mod list;
pub mod message;
pub mod recorder;
pub mod sql;
pub mod sqlcode;
pub mod test_double;
pub mod types;

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::backend::{Backend, BackendConnection, Identity, Secret, Target};
use crate::config::IrisSettings;
use crate::wire::error::{PgError, sqlstate};

pub use connection::{ClientOptions, ConnectParams, IrisConnection, OpenError};

/// The environment variable holding the service account's password when no
/// `password_file` is configured.
pub const PASSWORD_ENV: &str = "PGIRIS_IRIS_PASSWORD";

/// Why the IRIS backend could not be set up from its settings.
#[derive(Debug, thiserror::Error)]
pub enum IrisSetupError {
    #[error("backend.iris.password_file {path:?}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("backend.iris.tls_ca_file {path:?}: {reason}")]
    CaFile { path: String, reason: String },
    #[error(
        "backend.iris.tls is on but no CA certificates were found; set backend.iris.tls_ca_file"
    )]
    NoTrustAnchors,
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Bundles where distributions keep the system's trusted CAs.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The TLS client configuration for IRIS: the CA file given, or the system
/// bundle (`SSL_CERT_FILE`, then the usual paths).
pub fn tls_client_config(ca_file: &str) -> Result<Arc<rustls::ClientConfig>, IrisSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let candidates: Vec<String> = if !ca_file.is_empty() {
        vec![ca_file.to_string()]
    } else {
        std::env::var("SSL_CERT_FILE")
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(|s| s.to_string()))
            .collect()
    };
    use rustls_pki_types::pem::PemObject;
    for path in &candidates {
        if ca_file.is_empty() && !Path::new(path).exists() {
            continue;
        }
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
            IrisSetupError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| IrisSetupError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            // A bundle may hold certificates rustls rejects; skip those.
            let _ = roots.add(cert);
        }
        if !roots.is_empty() {
            break;
        }
    }
    if roots.is_empty() {
        return Err(IrisSetupError::NoTrustAnchors);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| IrisSetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads the service password: the first line of `password_file`, else the
/// environment variable [`PASSWORD_ENV`], else none.
pub fn service_password(settings: &IrisSettings) -> Result<Option<Secret>, IrisSetupError> {
    if !settings.password_file.is_empty() {
        let text = std::fs::read_to_string(&settings.password_file).map_err(|source| {
            IrisSetupError::PasswordFile {
                path: settings.password_file.clone(),
                source,
            }
        })?;
        let line = text.lines().next().unwrap_or("");
        return Ok(Some(Secret::new(line.trim_end_matches('\r'))));
    }
    Ok(std::env::var(PASSWORD_ENV).ok().map(Secret::new))
}

/// The IRIS backend: opens SuperServer connections per namespace and
/// identity.
pub struct IrisBackend {
    settings: IrisSettings,
    password: Option<Secret>,
    tls: Option<Arc<rustls::ClientConfig>>,
    client: ClientOptions,
    /// The version string of the last server logged in to.
    server_version: Mutex<Option<String>>,
}

impl std::fmt::Debug for IrisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrisBackend")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("user", &self.settings.user)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl IrisBackend {
    /// Reads the service password (file or environment) and builds the TLS
    /// configuration. Nothing connects yet: pgiris starts while IRIS is down.
    pub fn new(settings: &IrisSettings) -> Result<IrisBackend, IrisSetupError> {
        let password = service_password(settings)?;
        IrisBackend::with_password(settings, password)
    }

    /// As [`new`](Self::new) with the service password given.
    pub fn with_password(
        settings: &IrisSettings,
        password: Option<Secret>,
    ) -> Result<IrisBackend, IrisSetupError> {
        let tls = if settings.tls {
            Some(tls_client_config(&settings.tls_ca_file)?)
        } else {
            None
        };
        Ok(IrisBackend {
            settings: settings.clone(),
            password,
            tls,
            client: ClientOptions::default(),
            server_version: Mutex::new(None),
        })
    }

    /// Replaces what the client reports about itself at login (tests fix
    /// these to reproduce captured bytes).
    pub fn with_client_options(mut self, client: ClientOptions) -> IrisBackend {
        self.client = client;
        self
    }

    /// The configured spelling of a namespace clients may use, matched
    /// case-insensitively.
    pub fn namespace_for(&self, database: &str) -> Option<&str> {
        let allowed: &[String] = if self.settings.namespaces.is_empty() {
            std::slice::from_ref(&self.settings.namespace)
        } else {
            &self.settings.namespaces
        };
        allowed
            .iter()
            .find(|ns| ns.eq_ignore_ascii_case(database))
            .map(String::as_str)
    }

    /// Opens a connection (the concrete type; [`Backend::connect`] boxes it).
    pub fn open(&self, target: &Target) -> Result<IrisConnection, PgError> {
        let namespace = self.namespace_for(&target.database).ok_or_else(|| {
            PgError::error(
                sqlstate::INVALID_CATALOG_NAME,
                format!("database \"{}\" does not exist", target.database),
            )
        })?;
        let (user, password) = match &target.identity {
            Identity::Service => {
                let password = self.password.clone().ok_or_else(|| {
                    PgError::error(
                        sqlstate::CONNECTION_FAILURE,
                        "no password is configured for the IRIS service account",
                    )
                    .with_hint(format!(
                        "set backend.iris.password_file or the environment variable {PASSWORD_ENV}"
                    ))
                })?;
                (self.settings.user.clone(), password)
            }
            Identity::User { name, password } => (name.clone(), password.clone()),
        };
        let params = ConnectParams {
            host: self.settings.host.clone(),
            port: self.settings.port,
            namespace: namespace.to_string(),
            user,
            password,
            tls: self.tls.clone(),
            connect_timeout: self.settings.connect_timeout,
            query_timeout: self.settings.query_timeout,
            client: self.client.clone(),
        };
        match IrisConnection::open(&params) {
            Ok(conn) => {
                if let Ok(mut v) = self.server_version.lock() {
                    *v = Some(conn.server_info().login.server_version.clone());
                }
                Ok(conn)
            }
            Err(e) => Err(self.open_error(&params, &target.identity, e)),
        }
    }

    fn open_error(&self, p: &ConnectParams, identity: &Identity, e: OpenError) -> PgError {
        let at = format!("{}:{}", p.host, p.port);
        match e {
            OpenError::Unreachable(why) => PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("could not connect to IRIS at {at}: {why}"),
            ),
            OpenError::Tls(why) => PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("TLS handshake with IRIS at {at} failed: {why}"),
            ),
            OpenError::Io(why) => PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("IRIS at {at} did not complete the login: {why}"),
            ),
            OpenError::Protocol(why) => PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("IRIS at {at} cannot be used: {why}"),
            ),
            OpenError::Rejected { status, text } => {
                let lower = text.to_ascii_lowercase();
                if lower.contains("namespace") {
                    return PgError::error(
                        sqlstate::INVALID_CATALOG_NAME,
                        format!("database \"{}\" does not exist", p.namespace),
                    )
                    .with_detail(format!("IRIS: {text}"));
                }
                if lower.contains("license") || lower.contains("licence") {
                    return PgError::error(
                        sqlstate::TOO_MANY_CONNECTIONS,
                        format!("IRIS refused the connection: {text}"),
                    );
                }
                match identity {
                    Identity::User { name, .. } => {
                        // The reason stays in the log, as for every
                        // password failure.
                        log::warn!(
                            "IRIS refused the login of user {name:?} to namespace {:?}: status {status}: {text}",
                            p.namespace
                        );
                        PgError::error(
                            sqlstate::INVALID_PASSWORD,
                            format!("password authentication failed for user \"{name}\""),
                        )
                    }
                    Identity::Service => PgError::error(
                        sqlstate::CONNECTION_FAILURE,
                        format!(
                            "IRIS refused the login of the service account \"{}\" to namespace \"{}\": {}",
                            p.user,
                            p.namespace,
                            if text.is_empty() {
                                format!("status {status}")
                            } else {
                                text
                            }
                        ),
                    )
                    .with_hint("check backend.iris.user and its password"),
                }
            }
        }
    }
}

impl Backend for IrisBackend {
    fn kind(&self) -> &'static str {
        "iris"
    }

    fn serves_database(&self, database: &str) -> bool {
        self.namespace_for(database).is_some()
    }

    fn connect(&self, target: &Target) -> Result<Box<dyn BackendConnection>, PgError> {
        Ok(Box::new(self.open(target)?))
    }

    fn describe_backend(&self) -> String {
        let version = self.server_version.lock().ok().and_then(|v| v.clone());
        match version.as_deref().and_then(short_version) {
            Some(v) => format!("InterSystems IRIS {v}"),
            None => "InterSystems IRIS".into(),
        }
    }
}

/// "IRIS for UNIX (…) 2024.1 (Build 267U) Fri Mar 1 2024 …" -> "2024.1
/// (Build 267U)".
fn short_version(full: &str) -> Option<String> {
    let full = full.split('|').next().unwrap_or(full);
    let close = full.find(')')?;
    let rest = full[close + 1..].trim_start();
    let end = rest.find(')').map(|p| p + 1).unwrap_or(rest.len());
    let v = rest[..end].trim();
    (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> IrisSettings {
        IrisSettings {
            namespaces: vec!["USER".into(), "%SYS".into()],
            ..IrisSettings::default()
        }
    }

    #[test]
    fn namespaces_match_case_insensitively() {
        let b = IrisBackend::with_password(&settings(), None).unwrap();
        assert!(b.serves_database("user"));
        assert_eq!(b.namespace_for("%sys"), Some("%SYS"));
        assert!(!b.serves_database("SAMPLES"));
        let only_default = IrisBackend::with_password(&IrisSettings::default(), None).unwrap();
        assert!(only_default.serves_database("USER"));
        assert!(!only_default.serves_database("postgres"));
    }

    #[test]
    fn service_without_password_is_a_clear_error() {
        let b = IrisBackend::with_password(&settings(), None).unwrap();
        let e = b
            .open(&Target {
                database: "USER".into(),
                identity: Identity::Service,
            })
            .unwrap_err();
        assert_eq!(e.code, "08006");
        assert!(e.hint.unwrap_or_default().contains(PASSWORD_ENV));
        let e = b
            .open(&Target {
                database: "NOPE".into(),
                identity: Identity::Service,
            })
            .unwrap_err();
        assert_eq!(e.code, "3D000");
    }

    #[test]
    fn password_file_first_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"s3cret\r\nignored\n").unwrap();
        let s = IrisSettings {
            password_file: f.path().to_string_lossy().into_owned(),
            ..IrisSettings::default()
        };
        assert_eq!(service_password(&s).unwrap().unwrap().expose(), "s3cret");
        let missing = IrisSettings {
            password_file: "/nonexistent/pw".into(),
            ..IrisSettings::default()
        };
        assert!(service_password(&missing).is_err());
    }

    #[test]
    fn version_text() {
        assert_eq!(
            short_version("IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 267U) Fri Mar 1 2024 00:00:00 EST").as_deref(),
            Some("2024.1 (Build 267U)")
        );
        assert_eq!(short_version("weird"), None);
    }
}
