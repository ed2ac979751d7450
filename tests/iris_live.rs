//! Live tier: the IRIS backend against a real InterSystems IRIS.
//!
//! Runs only when `PGIRIS_TEST_IRIS` names one, as
//! `iris://user:password@host:1972/NAMESPACE` (`iriss://` for TLS, with the
//! CA in `PGIRIS_TEST_IRIS_CA` or the system roots); otherwise each test
//! prints why it skips and passes. With `PGIRIS_TEST_IRIS_RECORD=FILE` (plain
//! TCP only) the traffic goes through the recording proxy and the real
//! server's replies land in FILE, in the captures' format.
//!
//! Example with the community container:
//!
//! ```text
//! docker run -d -p 1972:1972 intersystems/iris-community:latest
//! PGIRIS_TEST_IRIS=iris://_SYSTEM:SYS@127.0.0.1:1972/USER cargo test --test iris_live
//! ```
//!
//! The statements are written so that IRIS and SQLite both accept them, so
//! the same tier can be pointed at the test double to check the tests
//! themselves. Each run uses its own table and drops it afterwards.
//!
//! Besides the backend-level checks, `live_*_through_pgiris` run the
//! end-to-end scenario of `tests/iris_e2e.rs` (`tests/iris/e2e.rs`) through a
//! pgiris server with `backend.kind = "iris"` pointed at the live IRIS:
//! tokio-postgres and psql with parameters, transactions, errors and a
//! cancel.

mod common;
#[path = "iris/e2e.rs"]
mod e2e;
#[path = "iris/support.rs"]
mod support;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgiris::backend::iris::IrisBackend;
use pgiris::backend::{Backend, BackendConnection, Identity, Secret, Target, TxOp, Value};
use pgiris::config::IrisSettings;

use support::{rows, run, s, snapshot};

struct Live {
    settings: IrisSettings,
    user: String,
    password: String,
    namespace: String,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(hex) = std::str::from_utf8(&b[i + 1..i + 3])
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `iris[s]://user:password@host[:port]/NAMESPACE`.
fn parse_url(url: &str) -> Result<Live, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("iriss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("iris://") {
        (false, r)
    } else {
        return Err("the URL must start with iris:// or iriss://".into());
    };
    let (cred, rest) = rest.rsplit_once('@').ok_or("missing user:password@")?;
    let (user, password) = cred.split_once(':').ok_or("missing :password")?;
    let (hostport, namespace) = rest.split_once('/').ok_or("missing /NAMESPACE")?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "bad port")?),
        None => (hostport, 1972),
    };
    let namespace = percent_decode(namespace);
    let settings = IrisSettings {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        user: percent_decode(user),
        namespace: namespace.clone(),
        tls,
        tls_ca_file: std::env::var("PGIRIS_TEST_IRIS_CA").unwrap_or_default(),
        connect_timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(60),
        ..IrisSettings::default()
    };
    Ok(Live {
        settings,
        user: percent_decode(user),
        password: percent_decode(password),
        namespace,
    })
}

/// The live target, or `None` (after saying why) when the tier is off.
fn live(test: &str) -> Option<Live> {
    match std::env::var("PGIRIS_TEST_IRIS") {
        Ok(url) if !url.is_empty() => match parse_url(&url) {
            Ok(mut l) => {
                if let Ok(record) = std::env::var("PGIRIS_TEST_IRIS_RECORD") {
                    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
                    let addr = listener.local_addr().expect("proxy address");
                    let upstream = format!("{}:{}", l.settings.host, l.settings.port);
                    let out = format!("{record}.{test}");
                    thread::spawn(move || {
                        let _ = pgiris::backend::iris::recorder::run_recorder(
                            listener,
                            upstream,
                            Some(out.into()),
                        );
                    });
                    l.settings.host = addr.ip().to_string();
                    l.settings.port = addr.port();
                }
                Some(l)
            }
            Err(e) => panic!("PGIRIS_TEST_IRIS is not usable: {e}"),
        },
        _ => {
            println!(
                "skipping {test}: set PGIRIS_TEST_IRIS=iris://user:pass@host:1972/NAMESPACE to run the live IRIS tier"
            );
            None
        }
    }
}

impl Live {
    fn backend(&self) -> IrisBackend {
        IrisBackend::with_password(&self.settings, Some(Secret::new(self.password.clone())))
            .expect("backend")
    }

    fn connect(&self) -> Box<dyn BackendConnection> {
        self.backend()
            .connect(&Target {
                database: self.namespace.clone(),
                identity: Identity::Service,
            })
            .unwrap_or_else(|e| panic!("login to live IRIS failed: {e} ({:?})", e.hint))
    }
}

/// A table of this run, dropped at the end whatever happens.
struct Table {
    name: String,
    live_settings: IrisSettings,
    password: String,
    namespace: String,
}

impl Table {
    fn create(l: &Live, c: &mut dyn BackendConnection) -> Table {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("pgiris_live_{}_{nanos}", std::process::id());
        run(
            c,
            &format!(
                "CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, nick VARCHAR(20), score NUMERIC(10,2))"
            ),
            &[],
        )
        .unwrap_or_else(|e| panic!("CREATE TABLE: {e}"));
        Table {
            name,
            live_settings: l.settings.clone(),
            password: l.password.clone(),
            namespace: l.namespace.clone(),
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let backend = IrisBackend::with_password(
            &self.live_settings,
            Some(Secret::new(self.password.clone())),
        );
        if let Ok(b) = backend
            && let Ok(mut c) = b.connect(&Target {
                database: self.namespace.clone(),
                identity: Identity::Service,
            })
        {
            let _ = run(c.as_mut(), &format!("DROP TABLE {}", self.name), &[]);
        }
    }
}

#[test]
fn live_queries_types_and_errors() {
    let Some(l) = live("live_queries_types_and_errors") else {
        return;
    };
    let mut c = l.connect();
    let t = Table::create(&l, c.as_mut());
    let name = &t.name;
    let insert = format!("INSERT INTO {name} (id, name, nick, score) VALUES ($1, $2, $3, $4)");
    for (id, n, nick) in [
        (1, "Ann", Value::Null),
        (2, "Bob", Value::Text(String::new())),
    ] {
        let (o, _) = run(
            c.as_mut(),
            &insert,
            &[
                Value::Int(id),
                Value::Text(n.into()),
                nick,
                Value::Numeric("12.34".into()),
            ],
        )
        .unwrap();
        assert_eq!(o.rows, 1);
    }
    let got = rows(
        c.as_mut(),
        &format!("SELECT id, name, nick, score FROM {name} WHERE id >= $1 ORDER BY id"),
        &[Value::Int(1)],
    );
    assert_eq!(
        got,
        vec![
            vec![s("1"), s("Ann"), None, s("12.34")],
            vec![s("2"), s("Bob"), s(""), s("12.34")],
        ]
    );
    let (o, _) = run(
        c.as_mut(),
        &format!("UPDATE {name} SET score = $1"),
        &[Value::Numeric("0.5".into())],
    )
    .unwrap();
    assert_eq!(o.rows, 2);
    let got = rows(
        c.as_mut(),
        &format!("SELECT score FROM {name} WHERE id = 1"),
        &[],
    );
    let score: f64 = got[0][0].as_deref().unwrap_or("").parse().unwrap();
    assert_eq!(score, 0.5);

    // Many rows: fetch-more loops on a real server.
    for id in 3..=300 {
        run(
            c.as_mut(),
            &insert,
            &[
                Value::Int(id),
                Value::Text(format!("row {id}")),
                Value::Null,
                Value::Null,
            ],
        )
        .unwrap();
    }
    let (o, got) = run(
        c.as_mut(),
        &format!("SELECT id, name FROM {name} ORDER BY id"),
        &[],
    )
    .unwrap();
    assert_eq!(o.rows, 300);
    assert_eq!(got.rows[299], vec![s("300"), s("row 300")]);

    // Errors and their SQLSTATEs.
    let e = run(c.as_mut(), "SELECT * FROM pgiris_no_such_table", &[]).unwrap_err();
    assert_eq!(e.code, "42P01", "{e:?}");
    let e = run(
        c.as_mut(),
        &format!("SELECT no_such_column FROM {name}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.code, "42703", "{e:?}");
    let e = run(
        c.as_mut(),
        &insert,
        &[
            Value::Int(1),
            Value::Text("dup".into()),
            Value::Null,
            Value::Null,
        ],
    )
    .unwrap_err();
    assert_eq!(e.code, "23505", "{e:?}");
    let e = run(
        c.as_mut(),
        &insert,
        &[Value::Int(999), Value::Null, Value::Null, Value::Null],
    )
    .unwrap_err();
    assert_eq!(e.code, "23502", "{e:?}");
    let e = run(c.as_mut(), "SELEKT 1", &[]).unwrap_err();
    assert_eq!(e.code, "42601", "{e:?}");
    assert!(c.is_usable());

    // Session functions answer from pgiris's snapshot.
    let got = rows(c.as_mut(), "SELECT version(), current_user", &[]);
    assert_eq!(got, vec![vec![Some(snapshot().version), s("alice")]]);
}

#[test]
fn live_transactions() {
    let Some(l) = live("live_transactions") else {
        return;
    };
    let mut c = l.connect();
    let mut other = l.connect();
    let t = Table::create(&l, c.as_mut());
    let name = &t.name;
    let count =
        |c: &mut dyn BackendConnection| rows(c, &format!("SELECT COUNT(*) FROM {name}"), &[]);
    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    run(
        c.as_mut(),
        &format!("INSERT INTO {name} (id, name) VALUES (1, 'gone')"),
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::Rollback).unwrap();
    assert_eq!(count(other.as_mut()), vec![vec![s("0")]]);
    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    run(
        c.as_mut(),
        &format!("INSERT INTO {name} (id, name) VALUES (2, 'kept')"),
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::Savepoint("sp1".into())).unwrap();
    run(
        c.as_mut(),
        &format!("INSERT INTO {name} (id, name) VALUES (3, 'undone')"),
        &[],
    )
    .unwrap();
    c.transaction(&TxOp::RollbackTo("sp1".into())).unwrap();
    c.transaction(&TxOp::Commit).unwrap();
    assert_eq!(count(other.as_mut()), vec![vec![s("1")]]);
    assert!(!c.in_transaction());
}

#[test]
fn live_cancel_and_login_failures() {
    let Some(l) = live("live_cancel_and_login_failures") else {
        return;
    };
    let mut c = l.connect();
    let t = Table::create(&l, c.as_mut());
    let name = &t.name;
    for id in 1..=60 {
        run(
            c.as_mut(),
            &format!("INSERT INTO {name} (id, name) VALUES ($1, 'x')"),
            &[Value::Int(id)],
        )
        .unwrap();
    }
    let slow = format!("SELECT COUNT(*) FROM {name} a, {name} b, {name} c, {name} d, {name} e");
    let interrupter = c.interrupter();
    let killer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        interrupter.interrupt();
    });
    let start = Instant::now();
    let result = run(c.as_mut(), &slow, &[]);
    killer.join().unwrap();
    match result {
        Err(e) => assert_eq!(e.code, "57014", "{e:?}"),
        Ok(_) => panic!("the slow query finished before the cancel; make it slower"),
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(!c.is_usable());

    let b = IrisBackend::with_password(&l.settings, Some(Secret::new("definitely-wrong"))).unwrap();
    let e = b
        .connect(&Target {
            database: l.namespace.clone(),
            identity: Identity::Service,
        })
        .err()
        .expect("wrong password refused");
    assert_eq!(e.code, "08006", "{e:?}");
    let e = l
        .backend()
        .connect(&Target {
            database: l.namespace.clone(),
            identity: Identity::User {
                name: l.user.clone(),
                password: Secret::new("definitely-wrong"),
            },
        })
        .err()
        .expect("wrong password refused");
    assert_eq!(e.code, "28P01", "{e:?}");
}

/// Tables of an end-to-end run, dropped at the end whatever happens (the
/// scenario drops them itself when it gets to its end).
struct DropTables {
    live: Live,
    names: Vec<String>,
}

impl Drop for DropTables {
    fn drop(&mut self) {
        if let Ok(mut c) = self.live.backend().connect(&Target {
            database: self.live.namespace.clone(),
            identity: Identity::Service,
        }) {
            for name in &self.names {
                let _ = run(c.as_mut(), &format!("DROP TABLE {name}"), &[]);
            }
        }
    }
}

fn run_table_name(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("pgiris_live_{what}_{}_{nanos}", std::process::id())
}

/// A pgiris server whose backend is the live IRIS.
fn pgiris_on(l: &Live) -> e2e::IrisPgiris {
    let mut iris = l.settings.clone();
    iris.namespaces = vec![l.namespace.clone()];
    e2e::start_pgiris(iris, &l.password, |s| s.backend.pool_size = 4)
}

#[tokio::test]
async fn live_tokio_postgres_through_pgiris() {
    let Some(l) = live("live_tokio_postgres_through_pgiris") else {
        return;
    };
    let p = pgiris_on(&l);
    let table = run_table_name("tp");
    let namespace = l.namespace.clone();
    let _guard = DropTables {
        live: l,
        names: vec![table.clone()],
    };
    e2e::tokio_postgres_scenario(&p, common::ADMIN_USER, &namespace, &table).await;
}

#[test]
fn live_psql_through_pgiris() {
    let Some(l) = live("live_psql_through_pgiris") else {
        return;
    };
    let p = pgiris_on(&l);
    let table = run_table_name("psql");
    let namespace = l.namespace.clone();
    let _guard = DropTables {
        live: l,
        names: vec![table.clone()],
    };
    e2e::psql_scenario(p.addr, common::ADMIN_USER, &namespace, &table, &[]);
}

#[test]
fn url_parsing() {
    let l = parse_url("iris://_SYSTEM:p%40ss@db.example:51773/USER").unwrap();
    assert_eq!(l.user, "_SYSTEM");
    assert_eq!(l.password, "p@ss");
    assert_eq!(l.settings.host, "db.example");
    assert_eq!(l.settings.port, 51773);
    assert_eq!(l.namespace, "USER");
    assert!(!l.settings.tls);
    let l = parse_url("iriss://u:p@h/%25SYS").unwrap();
    assert!(l.settings.tls);
    assert_eq!(l.settings.port, 1972);
    assert_eq!(l.namespace, "%SYS");
    assert!(parse_url("postgres://u:p@h/x").is_err());
}
