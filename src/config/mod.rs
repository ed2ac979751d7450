//! Typed settings, loaded with the `config` crate from a TOML file and
//! `PGIRIS__SECTION__KEY` environment overrides.
//!
//! The key names are a contract with operators' files and the tests: add keys
//! freely, rename none. Every key has a default so an empty file is valid;
//! `conf/pgiris.toml` documents each one.

mod duration;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use duration::{format_duration, parse_duration, serde_duration};

/// Everything pgiris reads from its configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub auth: AuthSettings,
    pub backend: BackendSettings,
    pub log: LogSettings,
    /// Fault injection for tests; refused by release builds.
    pub testing: TestingSettings,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Addresses to listen on ("127.0.0.1:5432", "[::1]:5432").
    pub listen: Vec<String>,
    /// Worker arbiters (threads running sessions); 0 = one per core.
    pub workers: usize,
    /// Concurrent client sessions, as PostgreSQL's max_connections.
    pub max_connections: usize,
    /// Of `max_connections`, slots only `admin_users` may take.
    pub reserved_connections: usize,
    pub admin_users: Vec<String>,
    /// Per-user cap on sessions, 0 = none (see also `user_connection_limits`).
    pub max_user_connections: usize,
    /// Per-database cap on sessions, 0 = none.
    pub max_db_connections: usize,
    /// Caps for named users, overriding `max_user_connections`.
    pub user_connection_limits: BTreeMap<String, usize>,
    /// Caps for named databases, overriding `max_db_connections`.
    pub database_connection_limits: BTreeMap<String, usize>,
    /// Connections still negotiating (before their startup packet is read)
    /// beyond which new sockets are closed at once; 0 = 2 x max_connections.
    pub max_pending_connections: usize,
    /// One deadline from accept to ReadyForQuery (PostgreSQL's
    /// authentication_timeout).
    #[serde(with = "serde_duration")]
    pub login_timeout: Duration,
    /// Defaults for the session timeouts; 0 = off. Clients may SET them.
    #[serde(with = "serde_duration")]
    pub statement_timeout: Duration,
    #[serde(with = "serde_duration")]
    pub idle_in_transaction_session_timeout: Duration,
    #[serde(with = "serde_duration")]
    pub idle_session_timeout: Duration,
    /// How long SIGTERM waits for sessions to finish before closing them.
    #[serde(with = "serde_duration")]
    pub shutdown_timeout: Duration,
    /// The version string reported as server_version (drivers parse it).
    pub server_version: String,
    /// TimeZone reported to clients.
    pub timezone: String,
    /// Concurrently processed CancelRequests that matched no session; more
    /// are dropped (a flood of bogus cancels must not cost anything).
    pub max_unmatched_cancels_per_second: u32,
    /// How often the counters (sessions, pending sockets, cancel requests)
    /// are logged as a `stats` event; 0 = never (PgBouncer's stats_period).
    #[serde(with = "serde_duration")]
    pub stats_period: Duration,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain; TLS is off when empty and no dev cert is made.
    pub cert_file: String,
    pub key_file: String,
    /// "1.2" or "1.3".
    pub min_version: String,
    /// PEM CA bundle to request and verify client certificates; empty = none.
    pub ca_file: String,
    /// Make a self-signed ECDSA P-256 certificate at cert_file/key_file when
    /// they do not exist. For development only.
    pub generate_dev_cert: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub hba_file: String,
    pub users_file: String,
    /// Failures from one address within `failure_window` before throttling.
    pub max_failures: u32,
    #[serde(with = "serde_duration")]
    pub failure_window: Duration,
    /// Delay added to every further attempt from a throttled address.
    #[serde(with = "serde_duration")]
    pub failure_delay: Duration,
    /// Iterations for verifiers made by `pgiris passwd`.
    pub scram_iterations: u32,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Embedded,
    Iris,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// A session keeps one backend connection from login to logout.
    Session,
    /// A session holds a backend connection only while a transaction (or a
    /// single statement outside one) runs.
    Transaction,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackendSettings {
    pub kind: BackendKind,
    /// Backend connections per database (and identity); sessions wait for one
    /// when all are busy.
    pub pool_size: usize,
    pub pool_mode: PoolMode,
    /// How long a session waits for a free backend connection.
    #[serde(with = "serde_duration")]
    pub query_wait_timeout: Duration,
    pub embedded: EmbeddedSettings,
    pub iris: IrisSettings,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedSettings {
    /// Directory holding one SQLite file per database.
    pub data_dir: String,
    /// Database names served; a client's `database` must be one of them.
    pub databases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IrisSettings {
    pub host: String,
    pub port: u16,
    /// Service account used for SCRAM/trust users.
    pub user: String,
    /// File holding the service account's password (first line); the
    /// environment variable PGIRIS_IRIS_PASSWORD is used when empty.
    pub password_file: String,
    /// Namespace used when a client names none it may use.
    pub namespace: String,
    /// Namespaces clients may select with `database`; empty = only `namespace`.
    pub namespaces: Vec<String>,
    /// TLS to IRIS (implicit TLS from the first byte).
    pub tls: bool,
    /// CA bundle to verify IRIS's certificate; empty = the system roots.
    pub tls_ca_file: String,
    #[serde(with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Per statement sent to IRIS; 0 = none.
    #[serde(with = "serde_duration")]
    pub query_timeout: Duration,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Term,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// trace, debug, info, warning, error, critical.
    pub level: String,
    pub format: LogFormat,
    /// Empty = stderr.
    pub file: String,
    /// Log each connection received, authorized and disconnected (as
    /// PostgreSQL's log_connections / log_disconnections).
    pub connections: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TestingSettings {
    /// Debug builds only: a statement equal to this text panics inside the
    /// backend call (exercises executor supervision).
    pub panic_on_query: String,
    /// Debug builds only: a statement equal to this text panics inside the
    /// session actor (exercises slot release on panic).
    pub panic_in_session_on_query: String,
    /// Debug builds only: the registry panics when this user asks for a slot
    /// (exercises the panic policy: the process must abort).
    pub panic_in_registry_on_user: String,
    /// Debug builds only: the listener's accept loop panics on a connection
    /// from this IP address (exercises the panic policy too).
    pub panic_in_listener_on_peer: String,
}

impl TestingSettings {
    /// Whether any fault injection is configured.
    pub fn any(&self) -> bool {
        !(self.panic_on_query.is_empty()
            && self.panic_in_session_on_query.is_empty()
            && self.panic_in_registry_on_user.is_empty()
            && self.panic_in_listener_on_peer.is_empty())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: vec!["127.0.0.1:5432".into()],
            workers: 0,
            max_connections: 100,
            reserved_connections: 3,
            admin_users: vec!["postgres".into()],
            max_user_connections: 0,
            max_db_connections: 0,
            user_connection_limits: BTreeMap::new(),
            database_connection_limits: BTreeMap::new(),
            max_pending_connections: 0,
            login_timeout: Duration::from_secs(60),
            statement_timeout: Duration::ZERO,
            idle_in_transaction_session_timeout: Duration::ZERO,
            idle_session_timeout: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            server_version: format!("16.9 (pgiris {})", crate::PGIRIS_VERSION),
            timezone: "Etc/UTC".into(),
            max_unmatched_cancels_per_second: 100,
            stats_period: Duration::from_secs(60),
        }
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_file: String::new(),
            key_file: String::new(),
            min_version: "1.2".into(),
            ca_file: String::new(),
            generate_dev_cert: false,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            hba_file: String::new(),
            users_file: String::new(),
            max_failures: 20,
            failure_window: Duration::from_secs(60),
            failure_delay: Duration::from_secs(2),
            scram_iterations: 4096,
        }
    }
}

impl Default for BackendSettings {
    fn default() -> Self {
        BackendSettings {
            kind: BackendKind::Embedded,
            pool_size: 100,
            pool_mode: PoolMode::Session,
            query_wait_timeout: Duration::from_secs(120),
            embedded: EmbeddedSettings::default(),
            iris: IrisSettings::default(),
        }
    }
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            data_dir: "data".into(),
            databases: vec!["postgres".into()],
        }
    }
}

impl Default for IrisSettings {
    fn default() -> Self {
        IrisSettings {
            host: "127.0.0.1".into(),
            port: 1972,
            user: "_SYSTEM".into(),
            password_file: String::new(),
            namespace: "USER".into(),
            namespaces: Vec::new(),
            tls: false,
            tls_ca_file: String::new(),
            connect_timeout: Duration::from_secs(10),
            query_timeout: Duration::ZERO,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            format: LogFormat::Term,
            file: String::new(),
            connections: true,
        }
    }
}

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Keys whose environment values are comma-separated lists.
const LIST_KEYS: &[&str] = &[
    "server.listen",
    "server.admin_users",
    "backend.embedded.databases",
    "backend.iris.namespaces",
];

impl Settings {
    /// Loads `path` (which must exist when given) and the `PGIRIS__*`
    /// environment, then validates.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(path, None)
    }

    /// As [`Settings::load`], with an explicit environment (tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        let mut environment = config::Environment::with_prefix("PGIRIS")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        if let Some(env) = env {
            environment = environment.source(Some(env));
        }
        builder = builder.add_source(environment);
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Resolves relative file names against `base` (the config file's
    /// directory), so `conf/pgiris.toml` can say `hba_file = "pg_hba.conf"`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |s: &mut String| {
            if !s.is_empty() && Path::new(s.as_str()).is_relative() {
                *s = base.join(s.as_str()).to_string_lossy().into_owned();
            }
        };
        fix(&mut self.tls.cert_file);
        fix(&mut self.tls.key_file);
        fix(&mut self.tls.ca_file);
        fix(&mut self.auth.hba_file);
        fix(&mut self.auth.users_file);
        fix(&mut self.backend.iris.password_file);
        fix(&mut self.backend.iris.tls_ca_file);
        fix(&mut self.backend.embedded.data_dir);
        fix(&mut self.log.file);
    }

    /// Checks values that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.listen.is_empty() {
            return Err(invalid("server.listen", "at least one address is needed"));
        }
        for addr in &s.listen {
            addr.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "server.listen",
                    format!("{addr:?} is not an address like 127.0.0.1:5432"),
                )
            })?;
        }
        if s.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if s.reserved_connections >= s.max_connections {
            return Err(invalid(
                "server.reserved_connections",
                format!(
                    "must be less than server.max_connections ({})",
                    s.max_connections
                ),
            ));
        }
        let login = s.login_timeout;
        if login < Duration::from_secs(1) || login > Duration::from_secs(600) {
            return Err(invalid(
                "server.login_timeout",
                "must be between 1s and 600s",
            ));
        }
        if s.server_version.trim().is_empty()
            || !s.server_version.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(invalid(
                "server.server_version",
                "must start with a version number such as 16.9 (drivers parse it)",
            ));
        }
        match self.tls.min_version.as_str() {
            "1.2" | "1.3" => {}
            other => {
                return Err(invalid(
                    "tls.min_version",
                    format!("{other:?} is not \"1.2\" or \"1.3\""),
                ));
            }
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            return Err(invalid(
                "tls.key_file",
                "tls.cert_file and tls.key_file go together",
            ));
        }
        if self.auth.failure_window.is_zero() {
            return Err(invalid("auth.failure_window", "must be more than 0s"));
        }
        if !(1..=1_000_000_000).contains(&self.auth.scram_iterations) {
            return Err(invalid(
                "auth.scram_iterations",
                "must be between 1 and 1000000000",
            ));
        }
        let b = &self.backend;
        if b.pool_size == 0 {
            return Err(invalid("backend.pool_size", "must be at least 1"));
        }
        if b.kind == BackendKind::Embedded {
            if b.embedded.databases.is_empty() {
                return Err(invalid(
                    "backend.embedded.databases",
                    "at least one database is needed",
                ));
            }
            for db in &b.embedded.databases {
                if !valid_database_name(db) {
                    return Err(invalid(
                        "backend.embedded.databases",
                        format!(
                            "{db:?}: names are 1 to 63 letters, digits, '_' or '-', not starting with '-'"
                        ),
                    ));
                }
            }
            if b.embedded.data_dir.is_empty() {
                return Err(invalid("backend.embedded.data_dir", "must not be empty"));
            }
        }
        if b.kind == BackendKind::Iris {
            if b.iris.host.is_empty() {
                return Err(invalid("backend.iris.host", "must not be empty"));
            }
            if b.iris.namespace.is_empty() {
                return Err(invalid("backend.iris.namespace", "must not be empty"));
            }
        }
        match self.log.level.as_str() {
            "trace" | "debug" | "info" | "warning" | "warn" | "error" | "critical" => {}
            other => {
                return Err(invalid(
                    "log.level",
                    format!("{other:?} is not one of trace, debug, info, warning, error, critical"),
                ));
            }
        }
        if !cfg!(debug_assertions) && self.testing.any() {
            return Err(invalid(
                "testing",
                "fault injection is only available in debug builds",
            ));
        }
        Ok(())
    }

    /// The listen addresses, parsed (validated already).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.server
            .listen
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Effective worker count.
    pub fn workers(&self) -> usize {
        if self.server.workers > 0 {
            self.server.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.backend.embedded.data_dir)
    }
}

/// Database names that are safe as file names and as identifiers. The name
/// still never becomes a path by itself: it is looked up in the configured
/// list first.
pub fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;

    fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Some(f.path()), Some(env))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = load_str("", &[]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.server.max_connections, 100);
        assert_eq!(s.server.reserved_connections, 3);
        assert_eq!(s.server.login_timeout, Duration::from_secs(60));
    }

    #[test]
    fn file_and_env_layer() {
        let s = load_str(
            "[server]\nmax_connections = 5\nlogin_timeout = \"2s\"\n[backend.embedded]\ndatabases=[\"a\",\"b\"]\n",
            &[
                ("PGIRIS__SERVER__MAX_CONNECTIONS", "7"),
                ("PGIRIS__SERVER__LISTEN", "127.0.0.1:1,127.0.0.1:2"),
                ("PGIRIS__AUTH__FAILURE_DELAY", "250ms"),
            ],
        )
        .unwrap();
        assert_eq!(s.server.max_connections, 7);
        assert_eq!(s.server.login_timeout, Duration::from_secs(2));
        assert_eq!(s.server.listen, vec!["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(s.auth.failure_delay, Duration::from_millis(250));
        assert_eq!(s.backend.embedded.databases, vec!["a", "b"]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("[server]\nreserved_connections = 200\n", &[]).unwrap_err();
        assert!(e.to_string().contains("server.reserved_connections"), "{e}");
        let e = load_str("[server]\nlogin_timeout = \"forever\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("login_timeout"), "{e}");
        let e = load_str("[server]\nlisten = [\"nowhere\"]\n", &[]).unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
        let e = load_str("[server]\nno_such_key = 1\n", &[]).unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{e}");
        let e = load_str("[backend.embedded]\ndatabases = [\"../etc\"]\n", &[]).unwrap_err();
        assert!(e.to_string().contains("backend.embedded.databases"), "{e}");
        let e = load_str("[tls]\nmin_version = \"1.1\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("tls.min_version"), "{e}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = Settings::load(Some(Path::new("/nonexistent/pgiris.toml"))).unwrap_err();
        assert!(e.to_string().contains("does not exist"));
    }

    const FAULTS: &[&str] = &[
        "panic_on_query",
        "panic_in_session_on_query",
        "panic_in_registry_on_user",
        "panic_in_listener_on_peer",
    ];

    /// Fault injection loads in debug builds (the tests use it) ...
    #[cfg(debug_assertions)]
    #[test]
    fn fault_injection_keys_load_in_debug_builds() {
        assert!(!Settings::default().testing.any());
        for key in FAULTS {
            let s = load_str(&format!("[testing]\n{key} = \"x\"\n"), &[]).unwrap();
            assert!(s.testing.any(), "{key}");
        }
    }

    /// ... and is refused by release builds (`cargo test --release`).
    #[cfg(not(debug_assertions))]
    #[test]
    fn fault_injection_keys_are_refused_by_release_builds() {
        for key in FAULTS {
            let e = load_str(&format!("[testing]\n{key} = \"x\"\n"), &[]).unwrap_err();
            assert!(
                e.to_string().contains("only available in debug builds"),
                "{key}: {e}"
            );
        }
    }

    #[test]
    fn stats_period() {
        assert_eq!(
            Settings::default().server.stats_period,
            Duration::from_secs(60)
        );
        let s = load_str("[server]\nstats_period = \"250ms\"\n", &[]).unwrap();
        assert_eq!(s.server.stats_period, Duration::from_millis(250));
    }

    #[test]
    fn database_names() {
        assert!(valid_database_name("postgres"));
        assert!(valid_database_name("my-db_2"));
        assert!(!valid_database_name(""));
        assert!(!valid_database_name("../x"));
        assert!(!valid_database_name("a/b"));
        assert!(!valid_database_name("-x"));
        assert!(!valid_database_name(&"a".repeat(64)));
    }
}
