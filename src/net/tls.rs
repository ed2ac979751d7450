//! TLS configuration: the certificate, key and rustls `ServerConfig` a
//! session encrypts with, the `tls-server-end-point` channel-binding value
//! that goes with them, the reloadable store sessions take them from, the
//! development certificate, and the facts of a finished handshake that the
//! security log records.
//!
//! rustls 0.23 with the *ring* provider, passed explicitly so a stray
//! aws-lc-rs in the tree can never change (or make ambiguous) the provider.
//! rustls has no TLS 1.0 or 1.1 at all, so `tls.min_version` chooses only
//! between "1.2" (TLS 1.2 and 1.3) and "1.3"; older clients always fail the
//! handshake with `protocol_version`.
//!
//! How the negotiation uses it: a session calls [`TlsStore::current`] once at
//! accept and keeps that [`TlsContext`] for its whole life, so a SIGHUP that
//! swaps in a new certificate never breaks a handshake in flight nor the
//! channel binding of a login in progress.

mod channel_binding;
#[doc(hidden)]
pub mod testing;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{CipherSuite, InconsistentKeys, ProtocolVersion, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

pub use channel_binding::{EndPointHash, end_point_hash, tls_server_end_point};

/// The ALPN protocol name PostgreSQL 17 registered; required on direct TLS.
pub const PG_ALPN: &[u8] = b"postgresql";

/// TLS 1.2 session-ID resumption entries kept in memory. TLS 1.3 (and 1.2
/// clients that support tickets) resume with stateless tickets instead.
const SESSION_CACHE_ENTRIES: usize = 1024;

/// A PEM file larger than this is a misconfiguration (a CA bundle of every
/// public root is about 200 KiB), not something to read into memory.
const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A configuration problem with the TLS files or settings. Messages name the
/// setting and the file and never include file contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {}: file not found", .path.display())]
    NotFound {
        setting: &'static str,
        path: PathBuf,
    },
    #[error("{setting} {}: cannot read the file: {source}", .path.display())]
    Read {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{setting} {}: the file is larger than 4 MiB", .path.display())]
    TooLarge {
        setting: &'static str,
        path: PathBuf,
    },
    #[error("{setting} {}: not valid PEM: {reason}", .path.display())]
    Pem {
        setting: &'static str,
        path: PathBuf,
        reason: &'static str,
    },
    #[error("{setting} {}: no certificate in the file (expected a PEM \"BEGIN CERTIFICATE\" section)", .path.display())]
    NoCertificate {
        setting: &'static str,
        path: PathBuf,
    },
    #[error("{setting} {}: unusable certificate: {reason}", .path.display())]
    InvalidCertificate {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("tls.key_file {}: no private key in the file (expected a PEM PKCS#8, RSA or EC private key)", .path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("tls.key_file {}: the private key is encrypted; pgiris needs an unencrypted key protected by file permissions", .path.display())]
    EncryptedKey { path: PathBuf },
    #[error("tls.key_file {}: unusable private key: {reason}", .path.display())]
    InvalidKey { path: PathBuf, reason: String },
    #[error("tls.key_file {} does not match the certificate in tls.cert_file {}", .key.display(), .cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "tls.min_version {0:?} is not supported: use \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are never available)"
    )]
    UnsupportedMinVersion(String),
    #[error("{0}")]
    Settings(&'static str),
    #[error("cannot generate the development certificate {}: {reason}", .path.display())]
    DevCert { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Rustls(String),
}

/// A loaded certificate and key, and everything derived from them.
pub struct TlsContext {
    /// Give this to the TLS acceptor (`tokio_rustls::TlsAcceptor::from`).
    pub server_config: Arc<ServerConfig>,
    /// `tls-server-end-point` channel-binding data for the served
    /// certificate; `None` means SCRAM-SHA-256-PLUS must not be offered.
    pub end_point: Option<Vec<u8>>,
    /// Where the certificate came from (for log lines).
    pub cert_file: PathBuf,
    /// Whether `tls.ca_file` is set: client certificates are requested and,
    /// when sent, verified (clients without one are still accepted).
    pub verifies_client_certificates: bool,
    /// This load generated the development certificate; the caller logs
    /// `cert_file` so the operator knows where it is.
    pub dev_cert_generated: bool,
}

impl fmt::Debug for TlsContext {
    // By hand: ServerConfig's Debug walks into the signing key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("cert_file", &self.cert_file)
            .field("channel_binding", &self.end_point.is_some())
            .field(
                "verifies_client_certificates",
                &self.verifies_client_certificates,
            )
            .field("dev_cert_generated", &self.dev_cert_generated)
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Loads `tls.cert_file` / `tls.key_file` (generating the development
    /// certificate first when `tls.generate_dev_cert` is on and they do not
    /// exist) and builds the server configuration.
    pub fn load(settings: &TlsSettings) -> Result<TlsContext, TlsError> {
        let versions = protocol_versions(&settings.min_version)?;
        if settings.cert_file.is_empty() || settings.key_file.is_empty() {
            return Err(TlsError::Settings(
                "tls.cert_file and tls.key_file must both be set for TLS",
            ));
        }
        let cert_path = PathBuf::from(&settings.cert_file);
        let key_path = PathBuf::from(&settings.key_file);
        let dev_cert_generated =
            settings.generate_dev_cert && ensure_dev_cert(&cert_path, &key_path)?;

        let chain = load_certificates("tls.cert_file", &cert_path)?;
        let key = load_private_key(&key_path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = certified_key(chain, key, &provider, &cert_path, &key_path)?;
        let end_point = certified
            .cert
            .first()
            .and_then(|leaf| tls_server_end_point(leaf));

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let verifies_client_certificates = !settings.ca_file.is_empty();
        let builder = if verifies_client_certificates {
            let ca_path = PathBuf::from(&settings.ca_file);
            let roots = load_client_roots(&ca_path)?;
            // As PostgreSQL with ssl_ca_file: ask for a certificate, verify
            // one when sent, admit clients that send none (pg_hba decides).
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::InvalidCertificate {
                    setting: "tls.ca_file",
                    path: ca_path,
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![PG_ALPN.to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        // Stateless tickets: a reconnecting client (JDBC, rustls-based
        // drivers) resumes without a full handshake and without server
        // memory. Each context has its own ticket key, so a ticket issued
        // under an old certificate never resumes under a new one, which
        // would break tls-server-end-point. One ticket per connection is
        // enough for serial reconnects and costs less than rustls's default
        // of two. Early data (0-RTT) stays off: it is replayable.
        config.ticketer =
            rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Rustls(e.to_string()))?;
        config.send_tls13_tickets = 1;

        Ok(TlsContext {
            server_config: Arc::new(config),
            end_point,
            cert_file: cert_path,
            verifies_client_certificates,
            dev_cert_generated,
        })
    }
}

/// The current [`TlsContext`], swappable on reload. Cheap to clone; all
/// clones see the same context.
#[derive(Clone)]
pub struct TlsStore {
    current: Arc<RwLock<Arc<TlsContext>>>,
}

impl fmt::Debug for TlsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsStore").field(&self.current()).finish()
    }
}

impl TlsStore {
    pub fn new(context: TlsContext) -> TlsStore {
        TlsStore {
            current: Arc::new(RwLock::new(Arc::new(context))),
        }
    }

    /// The store for `settings`, or `None` when TLS is off (no certificate
    /// configured).
    pub fn from_settings(settings: &TlsSettings) -> Result<Option<TlsStore>, TlsError> {
        if settings.cert_file.is_empty() && settings.key_file.is_empty() {
            if settings.generate_dev_cert {
                return Err(TlsError::Settings(
                    "tls.generate_dev_cert needs tls.cert_file and tls.key_file to say where",
                ));
            }
            // Still reject a bad min_version, so a typo is not silent until
            // TLS is turned on.
            protocol_versions(&settings.min_version)?;
            return Ok(None);
        }
        TlsContext::load(settings).map(|context| Some(TlsStore::new(context)))
    }

    /// The context a new connection should use; keep it for the session.
    pub fn current(&self) -> Arc<TlsContext> {
        // A panic while holding the lock cannot leave a half-written Arc,
        // so a poisoned lock still holds a valid context.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads `settings` and, if that works, makes it current. On error the
    /// old context stays in use and the error says what is wrong with which
    /// file. TLS cannot be turned off by a reload (restart for that).
    pub fn reload(&self, settings: &TlsSettings) -> Result<(), TlsError> {
        if settings.cert_file.is_empty() && settings.key_file.is_empty() {
            return Err(TlsError::Settings(
                "tls.cert_file is now empty, but TLS cannot be turned off by a reload; \
                 the current certificate stays in use until a restart",
            ));
        }
        let context = Arc::new(TlsContext::load(settings)?);
        match self.current.write() {
            Ok(mut guard) => *guard = context,
            Err(poisoned) => *poisoned.into_inner() = context,
        }
        Ok(())
    }
}

/// What a finished handshake negotiated, for the connection and security
/// logs. Names are the ones PostgreSQL logs and psql's `\conninfo` shows
/// (OpenSSL's): "TLSv1.3", "TLS_AES_256_GCM_SHA384",
/// "ECDHE-ECDSA-AES256-GCM-SHA384".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSessionInfo {
    pub version: &'static str,
    pub cipher: &'static str,
    /// Symmetric key bits, as PostgreSQL's `bits=` log field.
    pub bits: u16,
    /// Server name the client asked for (SNI); rustls admits only valid DNS
    /// names here, so it is safe to log.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol; only ever [`PG_ALPN`] or `None`.
    pub alpn: Option<Vec<u8>>,
}

impl fmt::Display for TlsSessionInfo {
    /// As PostgreSQL's "SSL enabled (protocol=..., cipher=..., bits=...)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protocol={}, cipher={}, bits={}",
            self.version, self.cipher, self.bits
        )?;
        if let Some(sni) = &self.sni {
            write!(f, ", sni={sni}")?;
        }
        if let Some(alpn) = &self.alpn {
            write!(f, ", alpn={}", String::from_utf8_lossy(alpn))?;
        }
        Ok(())
    }
}

/// The facts of `conn`'s handshake, or `None` while it is still handshaking.
pub fn session_info(conn: &rustls::ServerConnection) -> Option<TlsSessionInfo> {
    if conn.is_handshaking() {
        return None;
    }
    let version = match conn.protocol_version()? {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "unknown",
    };
    let (cipher, bits) = cipher_name(conn.negotiated_cipher_suite()?.suite());
    Some(TlsSessionInfo {
        version,
        cipher,
        bits,
        sni: conn.server_name().map(str::to_owned),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    })
}

/// OpenSSL's name and the key size of every suite the ring provider has.
fn cipher_name(suite: CipherSuite) -> (&'static str, u16) {
    match suite {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        CipherSuite::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            ("ECDHE-ECDSA-AES256-GCM-SHA384", 256)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            ("ECDHE-ECDSA-AES128-GCM-SHA256", 128)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", 256)
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-RSA-CHACHA20-POLY1305", 256)
        }
        other => (other.as_str().unwrap_or("unknown"), 0),
    }
}

/// When `cert` and `key` both do not exist, writes a self-signed ECDSA P-256
/// certificate for `localhost`, `127.0.0.1` and `::1` there (the key with
/// mode 0600) and returns true. Returns false when both exist. One without
/// the other is an error: regenerating would overwrite a real file.
pub fn ensure_dev_cert(cert: &Path, key: &Path) -> Result<bool, TlsError> {
    let exists = |setting: &'static str, path: &Path| {
        path.try_exists().map_err(|source| TlsError::Read {
            setting,
            path: path.to_path_buf(),
            source,
        })
    };
    match (exists("tls.cert_file", cert)?, exists("tls.key_file", key)?) {
        (true, true) => return Ok(false),
        (false, false) => {}
        (true, false) | (false, true) => {
            return Err(TlsError::DevCert {
                path: cert.to_path_buf(),
                reason: format!(
                    "only one of it and {} exists; remove the other to generate a new pair, \
                     or turn tls.generate_dev_cert off",
                    key.display()
                ),
            });
        }
    }
    let (cert_pem, key_pem) = dev_cert_pem().map_err(|e| dev_cert_error(cert, e))?;
    for path in [cert, key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| dev_cert_error(path, e))?;
        }
    }
    write_new_file(key, key_pem.as_bytes(), 0o600).map_err(|e| dev_cert_error(key, e))?;
    if let Err(e) = write_new_file(cert, cert_pem.as_bytes(), 0o644) {
        // Leave nothing half made: a lone key would block the next attempt.
        let _ = fs::remove_file(key);
        return Err(dev_cert_error(cert, e));
    }
    Ok(true)
}

fn dev_cert_error(path: &Path, error: impl fmt::Display) -> TlsError {
    TlsError::DevCert {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

fn dev_cert_pem() -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "pgiris development certificate (localhost)",
    );
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates `path` (failing if it exists) with `mode` on Unix.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

type Versions = &'static [&'static rustls::SupportedProtocolVersion];
static TLS_1_2_AND_1_3: Versions = &[&rustls::version::TLS13, &rustls::version::TLS12];
static TLS_1_3: Versions = &[&rustls::version::TLS13];

fn protocol_versions(min_version: &str) -> Result<Versions, TlsError> {
    match min_version {
        "1.2" => Ok(TLS_1_2_AND_1_3),
        "1.3" => Ok(TLS_1_3),
        other => Err(TlsError::UnsupportedMinVersion(other.to_string())),
    }
}

fn read_pem_file(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_error = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            TlsError::NotFound {
                setting,
                path: path.to_path_buf(),
            }
        } else {
            TlsError::Read {
                setting,
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let file = fs::File::open(path).map_err(read_error)?;
    let mut contents = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut contents)
        .map_err(read_error)?;
    if contents.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            setting,
            path: path.to_path_buf(),
        });
    }
    Ok(contents)
}

/// Our own words for a PEM error: the library's messages may quote lines of
/// the file, and the file may be a private key.
fn pem_error(setting: &'static str, path: &Path, error: pem::Error) -> TlsError {
    let reason = match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        pem::Error::NoItemsFound => "nothing usable found",
        pem::Error::Io(_) => "read error",
        _ => "unrecognised content",
    };
    TlsError::Pem {
        setting,
        path: path.to_path_buf(),
        reason,
    }
}

fn load_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let contents = read_pem_file(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&contents)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(setting, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            setting,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let contents = read_pem_file("tls.key_file", path)?;
    match PrivateKeyDer::from_pem_slice(&contents) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            // pki-types skips sections it does not know, such as encrypted
            // PKCS#8 ("ENCRYPTED PRIVATE KEY") and legacy "Proc-Type:
            // 4,ENCRYPTED" keys; say so rather than "no key".
            let encrypted = contents.windows(9).any(|w| w == b"ENCRYPTED");
            let path = path.to_path_buf();
            Err(if encrypted {
                TlsError::EncryptedKey { path }
            } else {
                TlsError::NoPrivateKey { path }
            })
        }
        Err(e) => Err(pem_error("tls.key_file", path, e)),
    }
}

/// The chain and key as rustls serves them, checked to belong together.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::InvalidKey {
                path: key_path.to_path_buf(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half; rustls accepts that.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(e) => Err(TlsError::InvalidCertificate {
            setting: "tls.cert_file",
            path: cert_path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn load_client_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (index, cert) in load_certificates("tls.ca_file", path)?
        .into_iter()
        .enumerate()
    {
        roots.add(cert).map_err(|e| TlsError::InvalidCertificate {
            setting: "tls.ca_file",
            path: path.to_path_buf(),
            reason: format!("certificate {} of the file: {e}", index + 1),
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests;
