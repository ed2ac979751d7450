//! Unit tests for the TLS configuration layer. Handshakes run between a
//! rustls client and server in memory, so they prove what a real client sees.

use std::fs;
use std::ops::DerefMut;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, ConnectionCommon, HandshakeKind,
    PeerIncompatible, ServerConnection,
};
use sha2::{Digest, Sha256, Sha384};

use super::testing::TestPki;
use super::*;

/// Moves everything `from` wants to send into `to` and lets `to` process it.
fn pump<F, T, DF, DT>(from: &mut F, to: &mut T) -> Result<(), rustls::Error>
where
    F: DerefMut<Target = ConnectionCommon<DF>>,
    T: DerefMut<Target = ConnectionCommon<DT>>,
{
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    let mut unread = &wire[..];
    while !unread.is_empty() {
        to.read_tls(&mut unread).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// What each side reported when a handshake failed.
#[derive(Debug)]
struct Failure {
    server: Option<rustls::Error>,
    client: Option<rustls::Error>,
}

fn handshake(
    client_config: Arc<ClientConfig>,
    server_config: Arc<ServerConfig>,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), Box<Failure>> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(client_config, name).unwrap();
    let mut server = ServerConnection::new(server_config).unwrap();
    for _ in 0..16 {
        if let Err(e) = pump(&mut client, &mut server) {
            let client_error = pump(&mut server, &mut client).err();
            return Err(Box::new(Failure {
                server: Some(e),
                client: client_error,
            }));
        }
        if let Err(e) = pump(&mut server, &mut client) {
            let server_error = pump(&mut client, &mut server).err();
            return Err(Box::new(Failure {
                server: server_error,
                client: Some(e),
            }));
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
    }
    panic!("the in-memory handshake did not finish");
}

fn client(pki: &TestPki) -> Arc<ClientConfig> {
    Arc::new(pki.client_config().unwrap())
}

/// A client limited to `versions`, trusting `pki`'s CA, offering `alpn`.
fn client_with(
    pki: &TestPki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn served_leaf(client: &ClientConnection) -> Vec<u8> {
    client.peer_certificates().unwrap()[0].to_vec()
}

fn pki() -> (tempfile::TempDir, TestPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path()).unwrap();
    (dir, pki)
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn loads_good_pem_files() {
    let (_dir, pki) = pki();
    let context = TlsContext::load(&pki.settings()).unwrap();
    assert_eq!(context.server_config.alpn_protocols, vec![PG_ALPN.to_vec()]);
    assert_eq!(context.cert_file, pki.server.cert_file);
    assert!(!context.verifies_client_certificates);
    assert!(!context.dev_cert_generated);
    assert!(context.end_point.is_some());

    let (client, server) = handshake(client(&pki), context.server_config.clone(), "localhost")
        .expect("handshake with the loaded certificate");
    assert_eq!(served_leaf(&client), pki.server.cert_der.to_vec());
    // Nothing in the Debug output comes from the key.
    assert!(!format!("{context:?}").contains("PRIVATE"));
    drop(server);
}

#[test]
fn a_chain_file_serves_the_whole_chain() {
    let (_dir, pki) = pki();
    let mut settings = pki.settings();
    let chain = pki.dir.join("chain.crt");
    fs::write(&chain, format!("{}{}", pki.server.cert_pem, pki.ca_pem)).unwrap();
    settings.cert_file = path_string(&chain);
    let context = TlsContext::load(&settings).unwrap();
    let (client, _) = handshake(client(&pki), context.server_config.clone(), "localhost").unwrap();
    let served = client.peer_certificates().unwrap();
    assert_eq!(served.len(), 2);
    assert_eq!(served[1], pki.ca_der);
    // Channel binding covers the leaf only.
    assert_eq!(
        context.end_point,
        Some(Sha256::digest(&pki.server.cert_der).to_vec())
    );
}

/// Writes `contents` as the named file in `pki.dir` and loads settings with
/// it in place of `field`'s file.
fn load_with(pki: &TestPki, field: &str, name: &str, contents: &str) -> TlsError {
    let path = pki.dir.join(name);
    fs::write(&path, contents).unwrap();
    let mut settings = pki.settings();
    match field {
        "cert" => settings.cert_file = path_string(&path),
        "key" => settings.key_file = path_string(&path),
        "ca" => settings.ca_file = path_string(&path),
        _ => unreachable!(),
    }
    TlsContext::load(&settings).unwrap_err()
}

#[test]
fn every_broken_file_gives_its_error() {
    let (_dir, pki) = pki();
    let other = pki.issue_server_cert("other", &["localhost"]).unwrap();
    let missing = path_string(&pki.dir.join("missing.pem"));

    let mut settings = pki.settings();
    settings.cert_file = missing.clone();
    let e = TlsContext::load(&settings).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::NotFound {
                setting: "tls.cert_file",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("tls.cert_file {missing}: file not found")
    );

    let mut settings = pki.settings();
    settings.key_file = missing.clone();
    let e = TlsContext::load(&settings).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::NotFound {
                setting: "tls.key_file",
                ..
            }
        ),
        "{e:?}"
    );

    let mut settings = pki.settings();
    settings.cert_file = path_string(&pki.dir);
    let e = TlsContext::load(&settings).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::Read {
                setting: "tls.cert_file",
                ..
            }
        ),
        "{e:?}"
    );

    let e = load_with(&pki, "cert", "empty.crt", "");
    assert!(
        matches!(
            e,
            TlsError::NoCertificate {
                setting: "tls.cert_file",
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(&pki, "cert", "only-key.crt", &pki.server.key_pem);
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");

    let truncated = &pki.server.cert_pem[..pki.server.cert_pem.len() / 2];
    let e = load_with(&pki, "cert", "truncated.crt", truncated);
    assert!(
        matches!(
            e,
            TlsError::Pem {
                reason: "a section has no END line",
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(
        &pki,
        "cert",
        "base64.crt",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
    let e = load_with(
        &pki,
        "cert",
        "not-der.crt",
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    );
    assert!(
        matches!(
            e,
            TlsError::InvalidCertificate {
                setting: "tls.cert_file",
                ..
            }
        ),
        "{e:?}"
    );

    let e = load_with(&pki, "key", "only-cert.key", &pki.server.cert_pem);
    assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e:?}");
    let e = load_with(
        &pki,
        "key",
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    assert!(matches!(e, TlsError::EncryptedKey { .. }), "{e:?}");
    let e = load_with(
        &pki,
        "key",
        "garbage.key",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n-----END PRIVATE KEY-----\n",
    );
    assert!(matches!(e, TlsError::InvalidKey { .. }), "{e:?}");
    // Key material never reaches the message, even when it is unusable.
    assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    let e = load_with(&pki, "key", "truncated.key", &pki.server.key_pem[..60]);
    assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
    let body = pki.server.key_pem.lines().nth(1).unwrap();
    assert!(!e.to_string().contains(&body[..20]), "{e}");

    let e = load_with(&pki, "key", "other.key", &other.key_pem);
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e:?}");
    assert!(
        e.to_string().contains("does not match the certificate"),
        "{e}"
    );

    let mut settings = pki.settings();
    settings.ca_file = missing;
    let e = TlsContext::load(&settings).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::NotFound {
                setting: "tls.ca_file",
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(&pki, "ca", "empty-ca.crt", "# no certificates here\n");
    assert!(
        matches!(
            e,
            TlsError::NoCertificate {
                setting: "tls.ca_file",
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(
        &pki,
        "ca",
        "bad-ca.crt",
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    );
    assert!(
        matches!(
            e,
            TlsError::InvalidCertificate {
                setting: "tls.ca_file",
                ..
            }
        ),
        "{e:?}"
    );

    for version in ["1.0", "1.1", "", "TLSv1.2"] {
        let mut settings = pki.settings();
        settings.min_version = version.into();
        let e = TlsContext::load(&settings).unwrap_err();
        assert!(matches!(e, TlsError::UnsupportedMinVersion(_)), "{e:?}");
    }
}

#[test]
fn from_settings_without_a_certificate_is_off() {
    assert!(
        TlsStore::from_settings(&TlsSettings::default())
            .unwrap()
            .is_none()
    );
    let settings = TlsSettings {
        generate_dev_cert: true,
        ..TlsSettings::default()
    };
    assert!(matches!(
        TlsStore::from_settings(&settings),
        Err(TlsError::Settings(_))
    ));
    let settings = TlsSettings {
        min_version: "1.1".into(),
        ..TlsSettings::default()
    };
    assert!(matches!(
        TlsStore::from_settings(&settings),
        Err(TlsError::UnsupportedMinVersion(_))
    ));
}

#[test]
fn reload_keeps_the_old_context_on_failure_and_swaps_on_success() {
    let (_dir, pki) = pki();
    let store = TlsStore::from_settings(&pki.settings()).unwrap().unwrap();
    let sibling = store.clone();
    let before = store.current();

    // Broken files: the error names the file, the old context stays.
    fs::write(&pki.server.cert_file, "not a certificate").unwrap();
    let e = store.reload(&pki.settings()).unwrap_err();
    assert!(
        e.to_string().contains(&path_string(&pki.server.cert_file)),
        "{e}"
    );
    assert!(Arc::ptr_eq(&before, &store.current()));
    let off = TlsSettings::default();
    assert!(matches!(store.reload(&off), Err(TlsError::Settings(_))));
    assert!(Arc::ptr_eq(&before, &store.current()));
    let (client_conn, _) = handshake(
        client(&pki),
        store.current().server_config.clone(),
        "localhost",
    )
    .unwrap();
    assert_eq!(served_leaf(&client_conn), pki.server.cert_der.to_vec());

    // A good new pair: new connections get the new certificate, on every
    // clone of the store.
    let renewed = pki.issue_server_cert("renewed", &["localhost"]).unwrap();
    let mut settings = pki.settings();
    settings.cert_file = path_string(&renewed.cert_file);
    settings.key_file = path_string(&renewed.key_file);
    store.reload(&settings).unwrap();
    let after = sibling.current();
    assert!(!Arc::ptr_eq(&before, &after));
    let (client_conn, _) =
        handshake(client(&pki), after.server_config.clone(), "localhost").unwrap();
    assert_eq!(served_leaf(&client_conn), renewed.cert_der.to_vec());
    assert_eq!(
        after.end_point,
        Some(Sha256::digest(&renewed.cert_der).to_vec())
    );

    // A session that took its snapshot before the reload still serves, and
    // binds to, the old certificate.
    let (client_conn, _) =
        handshake(client(&pki), before.server_config.clone(), "localhost").unwrap();
    assert_eq!(served_leaf(&client_conn), pki.server.cert_der.to_vec());
    assert_eq!(
        before.end_point,
        Some(Sha256::digest(&pki.server.cert_der).to_vec())
    );
}

#[test]
fn end_point_hashes_follow_the_signature_algorithm() {
    let (_dir, pki) = pki();
    let context = TlsContext::load(&pki.settings()).unwrap();
    assert_eq!(
        end_point_hash(&pki.server.cert_der),
        Some(EndPointHash::Sha256)
    );
    assert_eq!(
        context.end_point,
        Some(Sha256::digest(&pki.server.cert_der).to_vec())
    );

    let dir = tempfile::tempdir().unwrap();
    let p384 = TestPki::create_with(dir.path(), &rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let context = TlsContext::load(&p384.settings()).unwrap();
    assert_eq!(
        end_point_hash(&p384.server.cert_der),
        Some(EndPointHash::Sha384)
    );
    assert_eq!(
        context.end_point,
        Some(Sha384::digest(&p384.server.cert_der).to_vec())
    );
}

#[test]
fn ed25519_certificates_get_no_channel_binding() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create_with(dir.path(), &rcgen::PKCS_ED25519).unwrap();
    let context = TlsContext::load(&pki.settings()).unwrap();
    assert_eq!(context.end_point, None);
}

#[test]
fn min_version_1_3_refuses_a_tls_1_2_only_client() {
    let (_dir, pki) = pki();
    let mut settings = pki.settings();
    settings.min_version = "1.3".into();
    let context = TlsContext::load(&settings).unwrap();
    let tls12 = client_with(&pki, &[&rustls::version::TLS12], &[PG_ALPN]);
    let failure = handshake(tls12.clone(), context.server_config.clone(), "localhost").unwrap_err();
    assert_eq!(
        failure.server,
        Some(rustls::Error::PeerIncompatible(
            PeerIncompatible::Tls12NotOfferedOrEnabled
        ))
    );
    assert_eq!(
        failure.client,
        Some(rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion
        ))
    );

    // The default ("1.2") accepts the same client, with OpenSSL-style names.
    let context = TlsContext::load(&pki.settings()).unwrap();
    let (_, server) = handshake(tls12, context.server_config.clone(), "localhost").unwrap();
    let info = session_info(&server).unwrap();
    assert_eq!(info.version, "TLSv1.2");
    assert!(info.cipher.starts_with("ECDHE-ECDSA-"), "{info:?}");
}

#[test]
fn alpn_postgresql_is_negotiated_and_reported() {
    let (_dir, pki) = pki();
    let context = TlsContext::load(&pki.settings()).unwrap();
    let (client_conn, server) =
        handshake(client(&pki), context.server_config.clone(), "localhost").unwrap();
    assert_eq!(client_conn.alpn_protocol(), Some(PG_ALPN));
    let info = session_info(&server).unwrap();
    assert_eq!(
        info,
        TlsSessionInfo {
            version: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            bits: 256,
            sni: Some("localhost".into()),
            alpn: Some(PG_ALPN.to_vec()),
        }
    );
    assert_eq!(
        info.to_string(),
        "protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256, sni=localhost, alpn=postgresql"
    );

    // Without ALPN (libpq before 17, the SSLRequest path) the handshake
    // works and nothing is negotiated; an IP address sends no SNI.
    let no_alpn = client_with(&pki, &[&rustls::version::TLS13], &[]);
    let (_, server) = handshake(no_alpn, context.server_config.clone(), "127.0.0.1").unwrap();
    let info = session_info(&server).unwrap();
    assert_eq!((info.alpn, info.sni), (None, None));
}

#[test]
fn session_info_is_none_while_handshaking() {
    let (_dir, pki) = pki();
    let context = TlsContext::load(&pki.settings()).unwrap();
    let server = ServerConnection::new(context.server_config.clone()).unwrap();
    assert_eq!(session_info(&server), None);
}

#[test]
fn a_client_offering_only_http_fails_with_no_application_protocol() {
    let (_dir, pki) = pki();
    let context = TlsContext::load(&pki.settings()).unwrap();
    let http = client_with(&pki, &[&rustls::version::TLS13], &[b"http/1.1"]);
    let failure = handshake(http, context.server_config.clone(), "localhost").unwrap_err();
    assert_eq!(failure.server, Some(rustls::Error::NoApplicationProtocol));
    assert_eq!(
        failure.client,
        Some(rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol
        ))
    );
}

#[test]
fn reconnects_resume_and_a_reload_ends_resumption() {
    let (_dir, pki) = pki();
    let store = TlsStore::from_settings(&pki.settings()).unwrap().unwrap();
    let client_config = client(&pki);
    let config = store.current().server_config.clone();
    let (first, _) = handshake(client_config.clone(), config.clone(), "localhost").unwrap();
    assert_eq!(first.handshake_kind(), Some(HandshakeKind::Full));
    let (second, _) = handshake(client_config.clone(), config, "localhost").unwrap();
    assert_eq!(second.handshake_kind(), Some(HandshakeKind::Resumed));

    // A ticket from before a reload must not resume: the certificate (and
    // so the channel binding) may have changed.
    store.reload(&pki.settings()).unwrap();
    let config = store.current().server_config.clone();
    let (third, _) = handshake(client_config, config, "localhost").unwrap();
    assert_eq!(third.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn ca_file_verifies_client_certificates_when_sent() {
    let (_dir, pki) = pki();
    let mut settings = pki.settings();
    settings.ca_file = path_string(&pki.ca_file);
    let context = TlsContext::load(&settings).unwrap();
    assert!(context.verifies_client_certificates);
    let config = context.server_config.clone();

    let alice = pki.issue_client_cert("alice", "alice").unwrap();
    let with_cert = Arc::new(pki.client_config_with_cert(&alice).unwrap());
    let (_, server) = handshake(with_cert, config.clone(), "localhost").unwrap();
    assert_eq!(
        server.peer_certificates().map(|c| c[0].to_vec()),
        Some(alice.cert_der.to_vec())
    );

    let (_, server) = handshake(client(&pki), config.clone(), "localhost").unwrap();
    assert!(server.peer_certificates().is_none());

    // A certificate from a CA the server does not trust is refused.
    let dir = tempfile::tempdir().unwrap();
    let stranger_pki = TestPki::create(dir.path()).unwrap();
    let mallory = stranger_pki.issue_client_cert("mallory", "alice").unwrap();
    // Trusts our CA, presents a certificate from another.
    let stranger = pki.client_config_with_cert(&mallory).unwrap();
    let failure = handshake(Arc::new(stranger), config, "localhost").unwrap_err();
    assert!(
        matches!(failure.server, Some(rustls::Error::InvalidCertificate(_))),
        "{failure:?}"
    );
}

#[test]
fn dev_cert_is_generated_once() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("dev/server.crt");
    let key = dir.path().join("dev/server.key");
    assert!(ensure_dev_cert(&cert, &key).unwrap());
    let (cert_pem, key_pem) = (fs::read(&cert).unwrap(), fs::read(&key).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!ensure_dev_cert(&cert, &key).unwrap());
    assert_eq!(fs::read(&cert).unwrap(), cert_pem);
    assert_eq!(fs::read(&key).unwrap(), key_pem);

    // One file without the other is not overwritten.
    fs::remove_file(&key).unwrap();
    assert!(matches!(
        ensure_dev_cert(&cert, &key),
        Err(TlsError::DevCert { .. })
    ));
    assert_eq!(fs::read(&cert).unwrap(), cert_pem);
}

#[test]
fn from_settings_generates_the_dev_cert_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("server.crt");
    let settings = TlsSettings {
        cert_file: path_string(&cert),
        key_file: path_string(&dir.path().join("server.key")),
        generate_dev_cert: true,
        ..TlsSettings::default()
    };
    let store = TlsStore::from_settings(&settings).unwrap().unwrap();
    let context = store.current();
    assert!(context.dev_cert_generated);
    assert_eq!(context.cert_file, cert);
    let again = TlsStore::from_settings(&settings).unwrap().unwrap();
    assert!(!again.current().dev_cert_generated);

    // The self-signed certificate verifies as its own root for every name
    // it was made for.
    let der = CertificateDer::from_pem_file(&cert).unwrap();
    assert_eq!(end_point_hash(&der), Some(EndPointHash::Sha256));
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let client_config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for name in ["localhost", "127.0.0.1", "::1"] {
        handshake(client_config.clone(), context.server_config.clone(), name)
            .unwrap_or_else(|f| panic!("{name}: {f:?}"));
    }
    let failure =
        handshake(client_config, context.server_config.clone(), "example.com").unwrap_err();
    assert!(matches!(
        failure.client,
        Some(rustls::Error::InvalidCertificate(_))
    ));
}
