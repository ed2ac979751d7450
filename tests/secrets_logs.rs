//! Secrets never reach the log, and passwords never reach a client.
//!
//! A server logging through the real drains (`pgiris::log::build`: JSON and
//! terminal formats, level trace, connection events on) sees logins that
//! succeed and fail with every method (SCRAM-SHA-256 against a verifier and
//! against a plaintext users-file entry, md5, `password` over TLS, an
//! unknown user, a client that sends its password where the SASL message
//! belongs), queries with bind parameters, and errors caused by parameter
//! values. Every password and parameter carries a distinctive marker.
//!
//! The rule checked (HARDENING.md, "Secrets"):
//! - the log holds no password, no parameter value, no verifier, no md5
//!   hash; a SQL comment in a query's text may appear (the text is SQL);
//! - no error sent to a client holds a password;
//! - an error may quote a parameter value to the client that sent it, as
//!   PostgreSQL does (`invalid input syntax for type integer: "..."`): the
//!   client already has it, and the value identifies the problem.

mod common;

use std::path::Path;
use std::time::Duration;

use common::TestServer;
use common::log::CapturedLog;
use common::raw::RawClient;
use pgiris::auth::md5::Md5Hash;
use pgiris::auth::passwd_line;
use pgiris::config::{LogFormat, LogSettings};
use pgiris::net::tls::testing::TestPki;
use pgiris::wire::backend::BackendMessage;
use pgiris::wire::frontend::FrontendMessage;
use pgiris::wire::startup::PROTOCOL_3_0;
use tokio_postgres::config::SslMode;

const SCRAM_USER: &str = "alice";
const SCRAM_PW: &str = "p4ssw0rd-SECRET-7f3a";
const PLAIN_USER: &str = "dave";
const PLAIN_PW: &str = "plain-SECRET-d4e5";
const MD5_USER: &str = "mallory";
const MD5_PW: &str = "md5pw-SECRET-2b8e";
const TLS_USER: &str = "carol";
const TLS_PW: &str = "tlspw-SECRET-c4d9";
const WRONG_PWS: [&str; 5] = [
    "wrong-SECRET-a11c",
    "wrong2-SECRET-b22d",
    "wrong3-SECRET-c33e",
    "wrong4-SECRET-d44f",
    "ghost-SECRET-0d0d",
];
const PARAM: &str = "param-SECRET-91c2";
const BAD_PARAM: &str = "bad-SECRET-5e17";
const BINARY_PARAM: &str = "bin-SECRET-6f28";
/// May appear: it is part of the SQL text.
const COMMENT: &str = "comment-SECRET-ok";

fn passwords() -> Vec<&'static str> {
    let mut v = vec![SCRAM_PW, PLAIN_PW, MD5_PW, TLS_PW];
    v.extend(WRONG_PWS);
    v
}

fn never_logged() -> Vec<&'static str> {
    let mut v = passwords();
    v.extend([PARAM, BAD_PARAM, BINARY_PARAM]);
    v
}

/// `pgiris::log::build` installs a process-wide scope logger: one test at
/// a time builds one.
static REAL_LOGGER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const HBA: &str = "\
hostssl all carol 127.0.0.1/32 password
hostnossl all carol 127.0.0.1/32 reject
host    all mallory 127.0.0.1/32 md5
host    all all 127.0.0.1/32 scram-sha-256
";

/// Writes the users file; returns the stored secrets (verifiers, hashes),
/// which must not be logged either.
fn write_users(path: &Path) -> Vec<String> {
    let md5 = Md5Hash::from_password(MD5_PW.as_bytes(), MD5_USER).to_stored();
    let lines = [
        passwd_line(SCRAM_USER, SCRAM_PW, 4096),
        passwd_line(TLS_USER, TLS_PW, 4096),
        format!("\"{MD5_USER}\" \"{md5}\""),
        format!("\"{PLAIN_USER}\" \"{PLAIN_PW}\""),
    ];
    std::fs::write(path, lines.join("\n") + "\n").expect("write users file");
    let mut stored: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split('"').nth(3).map(str::to_owned))
        .filter(|s| s.starts_with("SCRAM-SHA-256$") || s.starts_with("md5"))
        .collect();
    // The keys of the verifiers on their own.
    let keys: Vec<String> = stored
        .iter()
        .filter_map(|v| v.split('$').nth(2))
        .flat_map(|k| k.split(':').map(str::to_owned))
        .collect();
    stored.extend(keys);
    stored
}

/// Every text of an error a client received.
#[derive(Default)]
struct ClientErrors(Vec<String>);

impl ClientErrors {
    fn add_pg(&mut self, e: &tokio_postgres::Error) {
        self.0.push(e.to_string());
        if let Some(db) = e.as_db_error() {
            self.0.push(db.message().to_owned());
            self.0.extend(db.detail().map(str::to_owned));
            self.0.extend(db.hint().map(str::to_owned));
        }
    }

    fn add_raw(&mut self, msgs: &[BackendMessage]) {
        for m in msgs {
            if let BackendMessage::ErrorResponse(fields) | BackendMessage::NoticeResponse(fields) =
                m
            {
                self.0.extend(fields.iter().map(|(_, v)| v.clone()));
            }
        }
    }
}

fn config(addr: std::net::SocketAddr, user: &str, password: &str) -> tokio_postgres::Config {
    let mut c = common::pg_config(addr, user, "postgres");
    c.password(password);
    c
}

/// carol over TLS to `localhost` (the test certificate's name).
fn tls_config(addr: std::net::SocketAddr, password: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host("localhost")
        .hostaddr(addr.ip())
        .port(addr.port())
        .user(TLS_USER)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5))
        .ssl_mode(SslMode::Require);
    c
}

/// Logs in (or fails to), runs what the session is for, returns the error
/// if the login failed.
async fn login(
    c: &tokio_postgres::Config,
    tls: Option<&rustls::ClientConfig>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    match tls {
        None => common::try_connect_with(c).await.map(|p| p.client),
        Some(cfg) => {
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(cfg.clone());
            let (client, conn) = c.connect(connector).await?;
            tokio::spawn(conn);
            Ok(client)
        }
    }
}

async fn expect_login(
    errors: &mut ClientErrors,
    c: &tokio_postgres::Config,
    tls: Option<&rustls::ClientConfig>,
    code: Option<&str>,
) -> Option<tokio_postgres::Client> {
    match (login(c, tls).await, code) {
        (Ok(client), None) => Some(client),
        (Err(e), Some(code)) => {
            assert_eq!(common::code_of(&e), code, "{e:?}");
            errors.add_pg(&e);
            None
        }
        (Ok(_), Some(code)) => panic!("login succeeded, expected {code}"),
        (Err(e), None) => panic!("login failed: {e:?}"),
    }
}

fn fe(m: FrontendMessage) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    m.encode(&mut out);
    out.to_vec()
}

/// Runs every login and query against `server`; returns the client-visible
/// error texts.
async fn exercise(server: &TestServer, pki: &TestPki) -> ClientErrors {
    let addr = server.addr;
    let mut errors = ClientErrors::default();
    let tls = pki.client_config().expect("client TLS config");

    // SCRAM against a verifier, then queries with parameters.
    let client = expect_login(&mut errors, &config(addr, SCRAM_USER, SCRAM_PW), None, None)
        .await
        .expect("alice");
    let row = client
        .query_one("SELECT $1::text", &[&PARAM])
        .await
        .expect("parameter query");
    assert_eq!(row.get::<_, String>(0), PARAM);
    client
        .batch_execute(&format!(
            "/* {COMMENT} */ CREATE TABLE secret_t (a int, b text UNIQUE)"
        ))
        .await
        .expect("create");
    client
        .execute("INSERT INTO secret_t VALUES (1, $1)", &[&PARAM])
        .await
        .expect("insert");
    // A unique violation caused by a parameter value.
    let e = client
        .execute("INSERT INTO secret_t VALUES (2, $1)", &[&PARAM])
        .await
        .expect_err("duplicate");
    errors.add_pg(&e);
    // A statement error after binding a parameter.
    let e = client
        .query("SELECT nope FROM secret_t WHERE b = $1", &[&PARAM])
        .await
        .expect_err("unknown column");
    errors.add_pg(&e);
    drop(client);

    // SCRAM against a verifier derived from a plaintext users-file entry.
    expect_login(&mut errors, &config(addr, PLAIN_USER, PLAIN_PW), None, None).await;
    // Wrong passwords, an unknown user.
    expect_login(
        &mut errors,
        &config(addr, SCRAM_USER, WRONG_PWS[0]),
        None,
        Some("28P01"),
    )
    .await;
    expect_login(
        &mut errors,
        &config(addr, PLAIN_USER, WRONG_PWS[1]),
        None,
        Some("28P01"),
    )
    .await;
    expect_login(
        &mut errors,
        &config(addr, "ghost", WRONG_PWS[4]),
        None,
        Some("28P01"),
    )
    .await;
    // md5, right and wrong.
    expect_login(&mut errors, &config(addr, MD5_USER, MD5_PW), None, None).await;
    expect_login(
        &mut errors,
        &config(addr, MD5_USER, WRONG_PWS[2]),
        None,
        Some("28P01"),
    )
    .await;
    // The cleartext `password` method over TLS, right and wrong, and the
    // same user without TLS (refused before a password is asked for).
    expect_login(&mut errors, &tls_config(addr, TLS_PW), Some(&tls), None).await;
    expect_login(
        &mut errors,
        &tls_config(addr, WRONG_PWS[3]),
        Some(&tls),
        Some("28P01"),
    )
    .await;
    expect_login(
        &mut errors,
        &config(addr, TLS_USER, TLS_PW),
        None,
        Some("28000"),
    )
    .await;

    // A confused client sends its password where SCRAM expects the
    // SASLInitialResponse, and another as a whole cleartext message.
    for body in [
        format!("{SCRAM_PW}\0"),
        format!("SCRAM-SHA-256\0\0\0\0\x14{SCRAM_PW}"),
    ] {
        let mut raw = RawClient::connect(addr).await;
        raw.send_startup(PROTOCOL_3_0, &[("user", SCRAM_USER)])
            .await;
        let _sasl = raw.read_message().await;
        raw.send_msg(&FrontendMessage::Password(bytes::Bytes::from(body)))
            .await;
        let msgs = raw.read_until_closed().await;
        assert!(
            matches!(msgs.last(), Some(BackendMessage::ErrorResponse(_))),
            "{msgs:?}"
        );
        errors.add_raw(&msgs);
    }

    // Raw extended protocol as alice: data errors caused by parameters.
    let mut raw = RawClient::connect(addr).await;
    raw.send_startup(PROTOCOL_3_0, &[("user", SCRAM_USER)])
        .await;
    scram_login(&mut raw, SCRAM_PW).await;
    let parse = |q: &str, types: &[u32]| {
        fe(FrontendMessage::Parse {
            name: String::new(),
            query: q.into(),
            param_types: types.to_vec(),
        })
    };
    let bind = |formats: Vec<i16>, value: &[u8]| {
        fe(FrontendMessage::Bind {
            portal: String::new(),
            statement: String::new(),
            param_formats: formats,
            params: vec![Some(bytes::Bytes::copy_from_slice(value))],
            result_formats: Vec::new(),
        })
    };
    let exec = fe(FrontendMessage::Execute {
        portal: String::new(),
        max_rows: 0,
    });
    let sync = fe(FrontendMessage::Sync);
    for (label, batch, code) in [
        (
            "text int4",
            [
                parse("SELECT $1", &[23]),
                bind(vec![0], BAD_PARAM.as_bytes()),
            ]
            .concat(),
            "22P02",
        ),
        (
            "binary int4 of the wrong length",
            [
                parse("SELECT $1", &[23]),
                bind(vec![1], BINARY_PARAM.as_bytes()),
            ]
            .concat(),
            "22P03",
        ),
        (
            "text date",
            [
                parse("SELECT $1", &[1082]),
                bind(vec![0], BAD_PARAM.as_bytes()),
            ]
            .concat(),
            "22007",
        ),
        (
            "text to an int column",
            [
                parse("INSERT INTO secret_t (a) VALUES ($1)", &[]),
                bind(vec![0], BAD_PARAM.as_bytes()),
                exec.clone(),
            ]
            .concat(),
            "",
        ),
    ] {
        raw.send(&[batch, sync.clone()].concat()).await;
        let msgs = raw.read_until_ready().await;
        let error = msgs
            .iter()
            .find(|m| matches!(m, BackendMessage::ErrorResponse(_)));
        if !code.is_empty() {
            let e = error.unwrap_or_else(|| panic!("{label}: no error in {msgs:?}"));
            assert_eq!(e.field(b'C'), Some(code), "{label}: {e:?}");
        }
        errors.add_raw(&msgs);
    }
    raw.terminate().await;
    errors
}

/// A SCRAM login on a raw connection (after the startup packet).
async fn scram_login(raw: &mut RawClient, password: &str) {
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    let m = raw.read_message().await;
    assert!(
        matches!(m, BackendMessage::Authentication { code: 10, .. }),
        "{m:?}"
    );
    let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&(scram.message().len() as i32).to_be_bytes());
    body.extend_from_slice(scram.message());
    raw.send_msg(&FrontendMessage::Password(body.into())).await;
    let BackendMessage::Authentication { code: 11, data } = raw.read_message().await else {
        panic!("no SASLContinue");
    };
    scram.update(&data).expect("server-first");
    raw.send_msg(&FrontendMessage::Password(scram.message().to_vec().into()))
        .await;
    let BackendMessage::Authentication { code: 12, data } = raw.read_message().await else {
        panic!("no SASLFinal");
    };
    scram.finish(&data).expect("server signature");
    let rest = raw.read_until_ready().await;
    common::raw::login_from(rest);
}

fn check(format: &str, log: &str, errors: &ClientErrors, stored: &[String]) {
    // The log was written and saw these logins (the check can see things).
    for needle in [
        "alice",
        "mallory",
        "carol",
        "ghost",
        "authentication_failed",
    ] {
        assert!(
            log.contains(needle),
            "{format} log never mentions {needle}:\n{log}"
        );
    }
    for secret in never_logged() {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            hits.is_empty(),
            "{format} log holds {secret:?}:\n{}",
            hits.join("\n")
        );
    }
    for s in stored {
        assert!(
            !log.contains(s.as_str()),
            "{format} log holds a stored secret {s:?}"
        );
    }
    // Whatever else says SECRET in the log must be the SQL comment.
    for line in log.lines() {
        let b = line.as_bytes();
        for at in (0..b.len()).filter(|&i| b[i..].starts_with(b"SECRET")) {
            let ok = at >= 8 && b[at - 8..].starts_with(COMMENT.as_bytes());
            assert!(ok, "{format} log line holds a marked value: {line}");
        }
    }
    // The value did travel through an error: the client that bound it sees
    // it quoted (as PostgreSQL shows it), so the log check above is not
    // vacuous.
    assert!(
        errors.0.iter().any(|t| t.contains(BAD_PARAM)),
        "no client error quotes the bad parameter: {:?}",
        errors.0
    );
    // Clients never see a password.
    for text in &errors.0 {
        for pw in passwords() {
            assert!(
                !text.contains(pw),
                "a client saw the password {pw:?} in {text:?}"
            );
        }
    }
}

#[tokio::test]
async fn no_password_or_parameter_reaches_the_log_in_either_format() {
    let _one_at_a_time = REAL_LOGGER.lock().await;
    for format in [LogFormat::Json, LogFormat::Term] {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = TestPki::create(dir.path()).expect("test PKI");
        let log_file = dir.path().join("pgiris.log");
        let users = dir.path().join("users.txt");
        let stored = write_users(&users);
        let hba = dir.path().join("hba.conf");
        std::fs::write(&hba, HBA).expect("write hba");
        let settings = LogSettings {
            level: "trace".into(),
            format,
            file: log_file.to_string_lossy().into_owned(),
            connections: true,
        };
        let (logger, _level, guard) = pgiris::log::build(&settings).expect("logger");
        let tls = pki.settings();
        let server = TestServer::with_logger(
            |s| {
                s.log = settings.clone();
                s.tls = tls;
                s.auth.hba_file = hba.to_string_lossy().into_owned();
                s.auth.users_file = users.to_string_lossy().into_owned();
                s.auth.max_failures = 1_000_000;
            },
            CapturedLog::default(),
            logger,
        );
        let errors = exercise(&server, &pki).await;
        drop(server);
        // Flushes the asynchronous drain.
        drop(guard);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = std::fs::read_to_string(&log_file).expect("read log");
        let name = format!("{format:?}");
        check(&name, &log, &errors, &stored);
        eprintln!(
            "{name}: {} log lines, {} client error texts, no secret",
            log.lines().count(),
            errors.0.len()
        );
    }
}

const IRIS_USER: &str = "irisuser";
const IRIS_PW: &str = "irispw-SECRET-e5f6";
const IRIS_WRONG: &str = "iriswrong-SECRET-f607";

#[tokio::test]
async fn the_iris_method_keeps_passwords_out_of_the_log() {
    let _one_at_a_time = REAL_LOGGER.lock().await;
    // Method `iris` hands the cleartext password to IRIS (the test double
    // here) as the user's own login: a refusal there must not bring the
    // password into the log either.
    use pgiris::backend::iris::test_double::{DoubleConfig, TestDouble};
    use pgiris::config::{BackendKind, IrisSettings};

    let double = TestDouble::start(DoubleConfig {
        users: vec![
            ("_SYSTEM".into(), "SYS".into()),
            (IRIS_USER.into(), IRIS_PW.into()),
        ],
        ..DoubleConfig::default()
    })
    .expect("IRIS test double");
    let dir = tempfile::tempdir().expect("temp dir");
    let log_file = dir.path().join("pgiris.log");
    let service_pw = dir.path().join("iris.pw");
    std::fs::write(&service_pw, "SYS\n").expect("password file");
    let hba = dir.path().join("hba.conf");
    std::fs::write(
        &hba,
        "host all irisuser 127.0.0.1/32 iris allow_plaintext=1\n",
    )
    .expect("hba");
    let settings = LogSettings {
        level: "trace".into(),
        format: LogFormat::Json,
        file: log_file.to_string_lossy().into_owned(),
        connections: true,
    };
    let (logger, _level, guard) = pgiris::log::build(&settings).expect("logger");
    let addr = double.addr();
    let server = TestServer::with_logger(
        |s| {
            s.log = settings.clone();
            s.auth.hba_file = hba.to_string_lossy().into_owned();
            s.backend.kind = BackendKind::Iris;
            s.backend.iris = IrisSettings {
                host: addr.ip().to_string(),
                port: addr.port(),
                user: "_SYSTEM".into(),
                password_file: service_pw.to_string_lossy().into_owned(),
                namespace: "USER".into(),
                namespaces: vec!["USER".into()],
                connect_timeout: Duration::from_secs(5),
                ..IrisSettings::default()
            };
        },
        CapturedLog::default(),
        logger,
    );
    let mut errors = ClientErrors::default();
    let mut c = common::pg_config(server.addr, IRIS_USER, "USER");
    c.password(IRIS_PW);
    let client = expect_login(&mut errors, &c, None, None)
        .await
        .expect("irisuser logs in through IRIS");
    match client.query_one("SELECT $1::text", &[&PARAM]).await {
        Ok(row) => assert_eq!(row.get::<_, String>(0), PARAM),
        Err(e) => errors.add_pg(&e),
    }
    drop(client);
    let mut c = common::pg_config(server.addr, IRIS_USER, "USER");
    c.password(IRIS_WRONG);
    expect_login(&mut errors, &c, None, Some("28P01")).await;
    drop(server);
    drop(guard);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(&log_file).expect("read log");
    assert!(
        log.contains(IRIS_USER) && log.contains("authentication_failed"),
        "{log}"
    );
    for secret in [IRIS_PW, IRIS_WRONG, PARAM, "SYS\""] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    for text in &errors.0 {
        assert!(
            !text.contains(IRIS_PW) && !text.contains(IRIS_WRONG),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_client_cannot_forge_log_lines() {
    // Names a client chooses before it is authenticated (user, database,
    // application_name) reach the log; in the terminal format a line break
    // or an escape sequence in them must not start a line of its own or
    // drive the terminal of whoever reads the log.
    let _one_at_a_time = REAL_LOGGER.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log_file = dir.path().join("pgiris.log");
    let settings = LogSettings {
        level: "trace".into(),
        format: LogFormat::Term,
        file: log_file.to_string_lossy().into_owned(),
        connections: true,
    };
    let (logger, _level, guard) = pgiris::log::build(&settings).expect("logger");
    let server =
        TestServer::with_logger(|s| s.log = settings.clone(), CapturedLog::default(), logger);
    let forged = "\nFORGED INFO connection authorized; user: postgres\r\nFORGED2 \x1b[2J";
    let mut c = RawClient::connect(server.addr).await;
    c.send_startup(PROTOCOL_3_0, &[("user", &format!("mallory{forged}"))])
        .await;
    let _ = c.read_until_closed().await;
    let (c, _) = RawClient::login_with(
        server.addr,
        PROTOCOL_3_0,
        &[
            ("user", "alice"),
            ("application_name", &format!("psql{forged}")),
        ],
    )
    .await;
    c.terminate().await;
    drop(server);
    drop(guard);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(&log_file).expect("read log");
    assert!(log.contains("mallory"), "{log}");
    for line in log.lines() {
        assert!(
            !line.starts_with("FORGED"),
            "a client started a log line:\n{log}"
        );
    }
    assert!(
        !log.contains('\x1b'),
        "an escape sequence reached the log:\n{log}"
    );
    assert!(
        !log.contains('\r'),
        "a carriage return reached the log:\n{log}"
    );
}
