//! Entry points of the differential test `tests/iris/differential.py`,
//! ignored by default (they wait for or drive an external process):
//!
//! * `differential_double_server`: a recording IRIS test double for the
//!   official Python driver. Prints `LISTENING <port>`, records every frame
//!   to `$PGIRIS_DIFF_RECORD`, stops when standard input closes.
//! * `differential_pgiris_client`: pgiris's client running the same
//!   scenario against its own recording double (`$PGIRIS_DIFF_RECORD`).
//!
//! The script compares the two captures' requests byte for byte, except the
//! client-identity items of the login (`CN` items 4–8).

#[path = "iris/support.rs"]
mod support;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use pgiris::backend::iris::test_double::{DoubleConfig, TestDouble};
use pgiris::backend::iris::{ClientOptions, IrisBackend, message};
use pgiris::backend::{Backend, BackendConnection, Identity, Secret, Target, TxOp, Value};

use support::{captured_insert_values, run, s, settings};

/// Tables the scenario expects (SQLite syntax).
const INIT: &[&str] = &[
    "CREATE TABLE t (a INTEGER, b INTEGER, c VARCHAR(20), d VARCHAR(20), e VARCHAR(20), f DOUBLE, g NUMERIC(10,2), h VARCHAR(20))",
    "CREATE TABLE many (a INTEGER)",
    "INSERT INTO many VALUES (1), (2), (3)",
];

fn double_config() -> DoubleConfig {
    let record = std::env::var_os("PGIRIS_DIFF_RECORD").map(PathBuf::from);
    DoubleConfig {
        batch_rows: 2,
        record,
        init_sql: INIT.iter().map(|s| s.to_string()).collect(),
        ..DoubleConfig::default()
    }
}

#[test]
#[ignore = "driven by tests/iris/differential.py"]
fn differential_double_server() {
    let double = TestDouble::start(double_config()).expect("double");
    println!("LISTENING {}", double.addr().port());
    // Serve until the driving script closes our standard input.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    double.stop();
}

/// The scenario, in the order the Python side runs it (see differential.py).
fn scenario(c: &mut dyn BackendConnection) {
    let insert = "INSERT INTO t ( a , b , c , d , e , f , g , h ) VALUES ( $1 , $2 , $3 , $4 , $5 , $6 , $7 , $8 )";
    c.describe(insert, &[]).unwrap();
    let values = captured_insert_values();
    assert_eq!(run(c, insert, &values).unwrap().0.rows, 1);

    let select = "SELECT a FROM t WHERE a = $1";
    c.describe(select, &[]).unwrap();
    let (_, got) = run(c, select, &[Value::Int(42)]).unwrap();
    assert_eq!(got.rows, vec![vec![s("42")]]);

    let many = "SELECT a FROM many";
    c.describe(many, &[]).unwrap();
    let (_, got) = run(c, many, &[]).unwrap();
    assert_eq!(got.rows.len(), 3);

    let e = c.describe("SELECT * FROM bad", &[]).unwrap_err();
    assert_eq!(e.code, "42P01");

    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    let ins_many = "INSERT INTO many ( a ) VALUES ( $1 )";
    c.describe(ins_many, &[]).unwrap();
    run(c, ins_many, &[Value::Int(4)]).unwrap();
    c.transaction(&TxOp::Commit).unwrap();

    c.transaction(&TxOp::Begin { isolation: None }).unwrap();
    let ins_t = "INSERT INTO t ( a ) VALUES ( $1 )";
    c.describe(ins_t, &[]).unwrap();
    run(c, ins_t, &[Value::Int(5)]).unwrap();
    c.transaction(&TxOp::Rollback).unwrap();
}

#[test]
#[ignore = "driven by tests/iris/differential.py"]
fn differential_pgiris_client() {
    let double = TestDouble::start(double_config()).expect("double");
    let mut st = settings(double.addr());
    st.connect_timeout = Duration::from_secs(5);
    // The official native driver asks for protocol 69; everything else is
    // pgiris's default.
    let backend = IrisBackend::with_password(&st, Some(Secret::new("SYS")))
        .unwrap()
        .with_client_options(ClientOptions {
            protocol: message::PROTOCOL_69,
            ..ClientOptions::default()
        });
    let mut c = backend
        .connect(&Target {
            database: "USER".into(),
            identity: Identity::Service,
        })
        .expect("login");
    scenario(c.as_mut());
    drop(c);
    // Let the double record the disconnect before it stops.
    for _ in 0..100 {
        if double.connection_count() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    double.stop();
}
