//! Test helpers (public so `tests/` can reach them, hidden from the docs): a
//! throwaway CA and certificates it signs, written to a directory the test
//! owns, so integration tests can run `sslmode=verify-full` with psql and
//! tokio-postgres and swap certificates for reload tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{PG_ALPN, TlsError};
use crate::config::TlsSettings;

/// A CA and the `localhost` server certificate it signed, in `dir`:
/// `ca.crt`, `server.crt`, `server.key`.
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA certificate in PEM (what a client's `sslrootcert` holds).
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub ca_file: PathBuf,
    pub server: CertFiles,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, written to disk.
pub struct CertFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
}

impl TestPki {
    /// An ECDSA P-256 CA (certificates it signs use ECDSA-SHA256).
    pub fn create(dir: &Path) -> Result<TestPki, TlsError> {
        Self::create_with(dir, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A CA whose key uses `ca_algorithm`, which decides the signature
    /// algorithm of every certificate it signs (and so the channel-binding
    /// hash): `rcgen::PKCS_ECDSA_P384_SHA384` gives ECDSA-SHA384.
    pub fn create_with(
        dir: &Path,
        ca_algorithm: &'static SignatureAlgorithm,
    ) -> Result<TestPki, TlsError> {
        let ca_file = dir.join("ca.crt");
        let fail = |e: rcgen::Error| rcgen_error(&ca_file, e);
        let ca_key = KeyPair::generate_for(ca_algorithm).map_err(fail)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name("pgiris test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).map_err(fail)?;
        let ca_pem = ca_cert.pem();
        write(&ca_file, &ca_pem)?;
        let issuer = Issuer::new(params, ca_key);
        let server = issue(
            dir,
            &issuer,
            "server",
            server_params(dir, "server", &["localhost", "127.0.0.1", "::1"])?,
        )?;
        Ok(TestPki {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_der: ca_cert.der().clone(),
            ca_file,
            server,
            issuer,
        })
    }

    /// Another server certificate from the same CA, as `<stem>.crt` and
    /// `<stem>.key` (for reload tests: clients trust both).
    pub fn issue_server_cert(&self, stem: &str, names: &[&str]) -> Result<CertFiles, TlsError> {
        let params = server_params(&self.dir, stem, names)?;
        issue(&self.dir, &self.issuer, stem, params)
    }

    /// A client certificate for `user` (CN), as PostgreSQL's `cert` method
    /// expects, as `<stem>.crt` and `<stem>.key`.
    pub fn issue_client_cert(&self, stem: &str, user: &str) -> Result<CertFiles, TlsError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        issue(&self.dir, &self.issuer, stem, params)
    }

    /// TLS settings serving the `localhost` server certificate.
    pub fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert_file: self.server.cert_file.to_string_lossy().into_owned(),
            key_file: self.server.key_file.to_string_lossy().into_owned(),
            ..TlsSettings::default()
        }
    }

    /// A rustls client (ring provider, TLS 1.2 and 1.3) that trusts this CA
    /// and offers ALPN `postgresql`.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let config = self.client_builder()?.with_no_client_auth();
        Ok(with_pg_alpn(config))
    }

    /// As [`TestPki::client_config`], presenting the client certificate
    /// `client` (from [`TestPki::issue_client_cert`]).
    pub fn client_config_with_cert(
        &self,
        client: &CertFiles,
    ) -> Result<rustls::ClientConfig, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes())
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let config = self
            .client_builder()?
            .with_client_auth_cert(vec![client.cert_der.clone()], key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(with_pg_alpn(config))
    }

    fn client_builder(
        &self,
    ) -> Result<
        rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
        TlsError,
    > {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots))
    }
}

fn with_pg_alpn(mut config: rustls::ClientConfig) -> rustls::ClientConfig {
    config.alpn_protocols = vec![PG_ALPN.to_vec()];
    config
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn server_params(dir: &Path, stem: &str, names: &[&str]) -> Result<CertificateParams, TlsError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(|e| rcgen_error(&dir.join(stem), e))?;
    params.distinguished_name = common_name("localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// A certificate for `params` with a new ECDSA P-256 key, signed by
/// `issuer`, written as `<stem>.crt` and `<stem>.key` in `dir`.
fn issue(
    dir: &Path,
    issuer: &Issuer<'static, KeyPair>,
    stem: &str,
    params: CertificateParams,
) -> Result<CertFiles, TlsError> {
    let cert_file = dir.join(format!("{stem}.crt"));
    let key_file = dir.join(format!("{stem}.key"));
    let fail = |e: rcgen::Error| rcgen_error(&cert_file, e);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let cert = params.signed_by(&key, issuer).map_err(fail)?;
    let files = CertFiles {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        cert_file,
        key_file,
    };
    write(&files.cert_file, &files.cert_pem)?;
    write(&files.key_file, &files.key_pem)?;
    Ok(files)
}

fn write(path: &Path, contents: &str) -> Result<(), TlsError> {
    fs::write(path, contents).map_err(|source| TlsError::Read {
        setting: "test file",
        path: path.to_path_buf(),
        source,
    })
}

fn rcgen_error(path: &Path, error: rcgen::Error) -> TlsError {
    TlsError::DevCert {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}
