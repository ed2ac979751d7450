//! Golden-bytes tests against the captures in `tests/iris/captures/`.
//!
//! * Encoders: every request message pgiris sends is rebuilt and compared
//!   byte for byte (header and body) with what the official and open-source
//!   drivers sent: login with injected identity fields, the 8-parameter
//!   INSERT (`PP` + `PU`), the prepared SELECT (`PP` + `PQ`), direct queries
//!   (`DQ`), fetch-more (`FD`), `OE`, commit, rollback, autocommit off,
//!   disconnect.
//! * Replays: the real client (`IrisConnection`) runs the captured scenario
//!   against a scripted server that answers with the captured replies; the
//!   client's whole byte stream must equal the official driver's. The same
//!   replay runs again with every reply re-encoded in non-minimal forms and
//!   split into continued frames, and the client must read the same results.
//! * Decoders: every captured reply decodes (handshake, login, metadata,
//!   batches, error texts in their three shapes, login failure).

#[path = "iris/support.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use pgiris::backend::iris::frame::{self, CONTINUED, HEADER_LEN, Header, code};
use pgiris::backend::iris::list::{ListReader, ListWriter};
use pgiris::backend::iris::message::{
    self, HandshakeReply, LoginFields, LoginReply, PROTOCOL_65, PROTOCOL_69, Params,
};
use pgiris::backend::iris::{ClientOptions, ConnectParams, IrisConnection, OpenError};
use pgiris::backend::iris::{sqlcode, types};
use pgiris::backend::{BackendConnection, Secret, Value};
use pgiris::wire::types::oid;

use support::{captured_insert_values, run, s};

#[derive(Debug, Clone)]
struct Line {
    c2s: bool,
    header: Vec<u8>,
    body: Vec<u8>,
    code: String,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn load(name: &str) -> Vec<Line> {
    let path = format!("{}/tests/iris/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("dir").is_some())
        .map(|v| Line {
            c2s: v["dir"] == "C->S",
            header: unhex(v["header_hex"].as_str().unwrap_or("")),
            body: unhex(v["body_hex"].as_str().unwrap_or("")),
            code: v["code"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// The client requests of a capture, in order.
fn requests(lines: &[Line]) -> Vec<&Line> {
    lines.iter().filter(|l| l.c2s).collect()
}

fn request<'a>(lines: &'a [Line], code: &str, nth: usize) -> &'a Line {
    lines
        .iter()
        .filter(|l| l.c2s && l.code == code)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {code} #{nth}"))
}

/// Asserts our frame (code, msg id, stmt id, body) equals a captured line.
fn assert_frame(line: &Line, code: [u8; 2], msg_id: u32, stmt_id: u32, body: &[u8]) {
    let mut ours = Vec::new();
    frame::encode_frame(&mut ours, code, msg_id, stmt_id, body);
    let mut theirs = line.header.clone();
    theirs.extend_from_slice(&line.body);
    assert_eq!(hex(&ours), hex(&theirs), "{} frame differs", line.code);
}

fn fork_identity() -> LoginFields {
    LoginFields {
        namespace: "USER".into(),
        user: "_SYSTEM".into(),
        password: "SYS".into(),
        os_user: "root".into(),
        host: "vm".into(),
        app_name: "golden".into(),
        client_info: vec![0; 12],
        client_ip: "127.0.0.1".into(),
        event_class: Some(String::new()),
        autocommit: true,
        isolation: 1,
        features: 32,
    }
}

fn encoded(values: &[Value], compact: bool) -> Vec<u8> {
    let mut w = ListWriter::new();
    for v in values {
        types::push_param(&mut w, v, 0, compact).unwrap();
    }
    w.into_bytes()
}

const INSERT_PG: &str = "INSERT INTO t ( a , b , c , d , e , f , g , h ) VALUES ( $1 , $2 , $3 , $4 , $5 , $6 , $7 , $8 )";
const INSERT_IRIS: &str = "INSERT INTO t ( a , b , c , d , e , f , g , h ) VALUES ( :%qpar(1) , :%qpar(2) , :%qpar(3) , :%qpar(4) , :%qpar(5) , :%qpar(6) , :%qpar(7) , :%qpar(8) )";

#[test]
fn login_with_injected_identity_matches_every_client() {
    // Open-source fork.
    let lines = load("cap2_caret.jsonl");
    assert_frame(
        request(&lines, "HS", 0),
        code::HANDSHAKE,
        1,
        0,
        &message::handshake_body(PROTOCOL_65),
    );
    assert_frame(
        request(&lines, "CN", 0),
        code::CONNECT,
        3,
        0,
        &fork_identity().encode(true),
    );
    // Official pure-Python 3.2.0.
    let lines = load("cap2_off320.jsonl");
    let off320 = LoginFields {
        app_name: "_IRISConnection.py".into(),
        ..fork_identity()
    };
    assert_frame(
        request(&lines, "CN", 0),
        code::CONNECT,
        3,
        0,
        &off320.encode(true),
    );
    // Official native 5.4.1: C strings, garbage client info, NULL event
    // class, isolation 0, protocol 69.
    let lines = load("cap2_off541.jsonl");
    assert_frame(
        request(&lines, "HS", 0),
        code::HANDSHAKE,
        1,
        0,
        &message::handshake_body(PROTOCOL_69),
    );
    let cn = request(&lines, "CN", 0);
    let parsed = LoginFields::parse(&cn.body).unwrap();
    assert_eq!(parsed.user, "_SYSTEM");
    assert_eq!(parsed.password, "SYS");
    let native = LoginFields {
        os_user: "root\0".into(),
        host: "vm\0".into(),
        app_name: "python\0".into(),
        client_info: parsed.client_info.clone(),
        event_class: None,
        isolation: 0,
        ..fork_identity()
    };
    assert_frame(cn, code::CONNECT, 3, 0, &native.encode(true));
    // JDBC: client info is a nested $LIST.
    let lines = load("cap2_jdbc.jsonl");
    let cn = request(&lines, "CN", 0);
    let parsed = LoginFields::parse(&cn.body).unwrap();
    let nested: Vec<String> = ListReader::new(&parsed.client_info)
        .map(|i| i.unwrap().to_text().unwrap())
        .collect();
    assert_eq!(nested[0], "JDBC");
    assert_eq!(nested[2], "3.10.2.0");
    let jdbc = LoginFields {
        app_name: "com.sun.tools.javac.launcher.Main".into(),
        client_info: parsed.client_info.clone(),
        features: 59,
        ..fork_identity()
    };
    assert_frame(cn, code::CONNECT, 3, 0, &jdbc.encode(true));
}

#[test]
fn eight_parameter_insert_prepare_and_update() {
    let iris = pgiris::backend::iris::sql::rewrite(
        INSERT_PG,
        pgiris::backend::iris::sql::SessionValues::Placeholder,
    )
    .unwrap();
    assert_eq!(iris.text, INSERT_IRIS);
    let values = encoded(&captured_insert_values(), false);
    let params = Params {
        count: 8,
        items: &values,
    };
    for cap in ["cap2_off320.jsonl", "cap2_off541.jsonl"] {
        let lines = load(cap);
        assert_frame(
            request(&lines, "PP", 0),
            code::PREPARE,
            5,
            1,
            &message::prepare(INSERT_IRIS, 8),
        );
        assert_frame(
            request(&lines, "PU", 0),
            code::PREPARED_UPDATE,
            7,
            1,
            &message::prepared_update(params, 0),
        );
    }
    // Compact doubles (server feature bit 1): 3.5 as a 2-byte f32.
    let lines = load("cap6_off541.jsonl");
    let compact = encoded(&captured_insert_values(), true);
    assert_frame(
        request(&lines, "PU", 0),
        code::PREPARED_UPDATE,
        7,
        1,
        &message::prepared_update(
            Params {
                count: 8,
                items: &compact,
            },
            0,
        ),
    );
}

#[test]
fn prepared_select_direct_queries_and_fetch() {
    let lines = load("cap2_off320.jsonl");
    let sel = "SELECT a FROM t WHERE a = :%qpar(1)";
    let v300 = encoded(&[Value::Int(300)], false);
    let one = Params {
        count: 1,
        items: &v300,
    };
    assert_frame(
        request(&lines, "PP", 1),
        code::PREPARE,
        9,
        2,
        &message::prepare(sel, 1),
    );
    assert_frame(
        request(&lines, "PQ", 0),
        code::PREPARED_QUERY,
        11,
        2,
        &message::prepared_query(one, 0, 0),
    );
    assert_frame(
        request(&lines, "PP", 2),
        code::PREPARE,
        13,
        3,
        &message::prepare("SELECT a FROM MANY", 0),
    );
    assert_frame(
        request(&lines, "PQ", 1),
        code::PREPARED_QUERY,
        15,
        3,
        &message::prepared_query(Params::default(), 0, 0),
    );
    assert_frame(request(&lines, "FD", 0), code::FETCH_DATA, 17, 3, &[]);

    let lines = load("cap2_caret.jsonl");
    assert_frame(
        request(&lines, "DQ", 0),
        code::DIRECT_QUERY,
        9,
        2,
        &message::direct_query(sel, one, 0, 0),
    );
    assert_frame(
        request(&lines, "DQ", 1),
        code::DIRECT_QUERY,
        11,
        3,
        &message::direct_query("SELECT a FROM MANY", Params::default(), 0, 0),
    );
    assert_frame(request(&lines, "FD", 0), code::FETCH_DATA, 13, 3, &[]);
    assert_frame(
        request(&lines, "OE", 0),
        code::GET_ERROR,
        17,
        4,
        &message::error_text_request(0xFFFF),
    );
    assert_frame(request(&lines, "DC", 0), code::DISCONNECT, 0, 0, &[]);
    // JDBC's OE for a positive status.
    let lines = load("cap8.jsonl");
    assert_frame(
        request(&lines, "OE", 0),
        code::GET_ERROR,
        19,
        0,
        &message::error_text_request(1),
    );
}

#[test]
fn commit_rollback_and_autocommit_off() {
    let lines = load("cap2_caret.jsonl");
    assert_frame(request(&lines, "TC", 0), code::COMMIT, 19, 0, &[]);
    assert_frame(request(&lines, "TR", 0), code::ROLLBACK, 21, 0, &[]);
    let lines = load("cap2_jdbc.jsonl");
    assert_frame(request(&lines, "AF", 0), code::AUTOCOMMIT_OFF, 19, 0, &[]);
    assert_frame(request(&lines, "TC", 0), code::COMMIT, 21, 0, &[]);
    assert_frame(request(&lines, "TR", 0), code::ROLLBACK, 23, 0, &[]);
}

#[test]
fn direct_update_shape() {
    // cap4 (JDBC): DU with a replaced literal ("c", int format). pgiris sends
    // "?"/0 paramInfo, so compare the items after paramInfo.
    let lines = load("cap4.jsonl");
    let du = request(&lines, "DU", 0);
    let ours = message::direct_update(
        "UPDATE BAD SET x = :%qpar(1)",
        Params {
            count: 1,
            items: &encoded(&[Value::Text("1".into())], false),
        },
        0,
    );
    let tail = |b: &[u8]| -> String {
        let mut r = ListReader::new(b);
        r.skip_items(2 + 1 + 2, "prefix").unwrap();
        hex(r.rest())
    };
    assert_eq!(tail(&ours), tail(&du.body));
}

#[test]
fn every_captured_reply_decodes() {
    let lines = load("cap2_off320.jsonl");
    let replies: Vec<&Line> = lines.iter().filter(|l| !l.c2s).collect();
    let hs = HandshakeReply::parse(&replies[0].body).unwrap();
    assert_eq!(
        (hs.protocol, hs.unicode(), hs.locale.as_str()),
        (65, true, "LATIN1")
    );
    let login = LoginReply::parse(&replies[1].body).unwrap();
    assert!(login.server_version.contains("2024.1 (Build 267U)"));
    assert_eq!(login.job, "4242");
    assert_eq!(login.features, 0);
    let insert_meta = message::parse_metadata(&replies[2].body, false).unwrap();
    assert_eq!(insert_meta.columns, None);
    assert_eq!(insert_meta.params.len(), 8);
    assert!(insert_meta.cached);
    assert_eq!(message::parse_row_count(&replies[3].body).unwrap(), 1);
    let select_meta = message::parse_metadata(&replies[4].body, true).unwrap();
    let cols = select_meta.columns.unwrap();
    assert_eq!(cols[0].name, "ONE");
    assert_eq!(types::column_for(&cols[0]).type_oid, oid::INT4);
    assert_eq!(select_meta.params.len(), 1);

    // The error text in all its captured shapes.
    for cap in ["cap3.jsonl", "cap3_code_msg.jsonl", "cap3_msg.jsonl"] {
        let lines = load(cap);
        let err = lines.iter().find(|l| !l.c2s && l.code == "0xe2ff").unwrap();
        let text = message::error_text(&err.body);
        let e = sqlcode::to_pg_error(0xFFE2, &text);
        assert_eq!(e.code, "42P01", "{cap}: {text:?}");
        assert_eq!(e.message, "Table 'SQLUSER.BAD' not found", "{cap}");
    }
    // Login refused: status 417 with one string.
    let lines = load("cap5.jsonl");
    let refused = lines.iter().find(|l| !l.c2s && l.code == "0xa101").unwrap();
    assert_eq!(
        Header::decode(refused.header[..HEADER_LEN].try_into().unwrap()).status(),
        417
    );
    assert_eq!(message::error_text(&refused.body), "Access Denied");
}

// ---------------------------------------------------------------------------
// Replays: the real client against the captured replies.

/// Re-encodes a $LIST body in legal but non-minimal forms: every item with
/// the 7-byte header, integers and decimals with a redundant sign byte.
/// Bodies that are not $LISTs (the handshake reply) are returned as is.
/// Item boundaries are found here independently of the codec under test.
fn non_minimal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (hdr, len) = match body[i] {
            0 if i + 2 < body.len() => {
                let n = u16::from_le_bytes([body[i + 1], body[i + 2]]) as usize;
                if n != 0 {
                    (3, n)
                } else if i + 6 < body.len() {
                    (
                        7,
                        u32::from_le_bytes([body[i + 3], body[i + 4], body[i + 5], body[i + 6]])
                            as usize,
                    )
                } else {
                    return body.to_vec();
                }
            }
            1 => {
                out.push(1);
                i += 1;
                continue;
            }
            0 => return body.to_vec(),
            l => (1, l as usize - 1),
        };
        if i + hdr + len > body.len() || len == 0 {
            return body.to_vec();
        }
        let ty = body[i + hdr];
        let mut payload = body[i + hdr + 1..i + hdr + len].to_vec();
        match ty {
            4 | 6 => payload.push(0x00),
            5 | 7 => payload.push(0xFF),
            _ => {}
        }
        if ty == 6 || ty == 7 {
            // A decimal needs its exponent byte; an empty one stays minimal.
            if payload.len() == 1 {
                payload.pop();
            }
        }
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&((payload.len() + 1) as u32).to_le_bytes());
        out.push(ty);
        out.extend_from_slice(&payload);
        i += hdr + len;
    }
    out
}

struct Script {
    lines: Vec<Line>,
    /// Re-encode reply bodies (not the handshake reply).
    mutate: bool,
    /// Split replies into continued frames of this many body bytes.
    split: usize,
}

/// A scripted server: for each captured request, reads the client's frame
/// and answers with the captured replies that follow it. Returns the frames
/// the client sent (header + body).
fn serve_script(script: Script) -> (std::net::SocketAddr, thread::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut i = 0;
        let lines = script.lines;
        while i < lines.len() {
            let line = &lines[i];
            i += 1;
            if line.c2s {
                let mut h = [0u8; HEADER_LEN];
                if sock.read_exact(&mut h).is_err() {
                    break;
                }
                let header = Header::decode(&h);
                let mut body = vec![0u8; header.length as usize];
                sock.read_exact(&mut body).unwrap();
                let mut frame_bytes = h.to_vec();
                frame_bytes.extend_from_slice(&body);
                got.push(frame_bytes);
                continue;
            }
            let header = Header::decode(line.header[..HEADER_LEN].try_into().unwrap());
            let body = if script.mutate && header.msg_id != 1 {
                non_minimal(&line.body)
            } else {
                line.body.clone()
            };
            let mut wire = Vec::new();
            frame::write_split(
                &mut wire,
                header.code,
                header.msg_id,
                header.stmt_id,
                &body,
                script.split,
            )
            .unwrap();
            sock.write_all(&wire).unwrap();
        }
        got
    });
    (addr, handle)
}

fn params_for(addr: std::net::SocketAddr, client: ClientOptions) -> ConnectParams {
    ConnectParams {
        host: "127.0.0.1".into(),
        port: addr.port(),
        namespace: "USER".into(),
        user: "_SYSTEM".into(),
        password: Secret::new("SYS"),
        tls: None,
        connect_timeout: Duration::from_secs(5),
        query_timeout: Duration::ZERO,
        client,
    }
}

fn off320_client() -> ClientOptions {
    ClientOptions {
        protocol: PROTOCOL_65,
        os_user: "root".into(),
        host_name: "vm".into(),
        app_name: "_IRISConnection.py".into(),
        client_info: vec![0; 12],
        client_ip: Some("127.0.0.1".into()),
        event_class: Some(String::new()),
        isolation: 1,
        features: 32,
    }
}

/// The scenario of the captures, through the BackendConnection API.
fn scenario(conn: &mut dyn BackendConnection, with_error: bool) {
    let d = conn.describe(INSERT_PG, &[]).unwrap();
    assert_eq!(d.params, vec![oid::INT4; 8]);
    assert_eq!(d.columns, None);
    let (o, _) = run(conn, INSERT_PG, &captured_insert_values()).unwrap();
    assert_eq!(o.rows, 1);

    let sel = "SELECT a FROM t WHERE a = $1";
    let d = conn.describe(sel, &[]).unwrap();
    assert_eq!(d.params, vec![oid::INT4]);
    let (_, got) = run(conn, sel, &[Value::Int(300)]).unwrap();
    assert_eq!(got.columns[0].name, "ONE");
    assert_eq!(got.rows, vec![vec![s("1")]]);

    conn.describe("SELECT a FROM MANY", &[]).unwrap();
    let (o, got) = run(conn, "SELECT a FROM MANY", &[]).unwrap();
    assert_eq!(o.rows, 3);
    assert_eq!(got.rows, vec![vec![s("1")], vec![s("2")], vec![s("3")]]);

    if with_error {
        let e = conn.describe("SELECT * FROM BAD", &[]).unwrap_err();
        assert_eq!(e.code, "42601");
        assert_eq!(e.message, "fake error");
        assert!(conn.is_usable());
    }
}

/// The capture without the requests the scenario does not make (explicit
/// commit/rollback outside a transaction), keeping DC.
fn without(lines: Vec<Line>, codes: &[&str]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut skipping = false;
    for l in lines {
        if l.c2s {
            skipping = codes.contains(&l.code.as_str());
        }
        if !skipping {
            out.push(l);
        }
    }
    out
}

fn replay(
    cap: &str,
    client: ClientOptions,
    skip: &[&str],
    mutate: bool,
    split: usize,
    with_error: bool,
) {
    let lines = without(load(cap), skip);
    let expected: Vec<String> = requests(&lines)
        .iter()
        .map(|l| hex(&[l.header.clone(), l.body.clone()].concat()))
        .collect();
    let (addr, server) = serve_script(Script {
        lines,
        mutate,
        split,
    });
    let mut conn = IrisConnection::open(&params_for(addr, client)).unwrap();
    scenario(&mut conn, with_error);
    drop(conn);
    let got: Vec<String> = server.join().unwrap().iter().map(|b| hex(b)).collect();
    assert_eq!(got.len(), expected.len(), "request count");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "request #{i}");
    }
}

#[test]
fn replay_official_python_byte_for_byte() {
    replay(
        "cap2_off320.jsonl",
        off320_client(),
        &["TC", "TR"],
        false,
        usize::MAX,
        true,
    );
}

#[test]
fn replay_official_native_with_compact_doubles() {
    let lines = load("cap6_off541.jsonl");
    let cn = LoginFields::parse(&request(&lines, "CN", 0).body).unwrap();
    let native = ClientOptions {
        protocol: PROTOCOL_69,
        os_user: "root\0".into(),
        host_name: "vm\0".into(),
        app_name: "python\0".into(),
        client_info: cn.client_info,
        client_ip: Some("127.0.0.1".into()),
        event_class: None,
        isolation: 0,
        features: 32,
    };
    replay("cap6_off541.jsonl", native, &[], false, usize::MAX, false);
}

#[test]
fn replay_with_non_minimal_replies_and_continued_frames() {
    for split in [1, 2, 3, 7, 64] {
        replay(
            "cap2_off320.jsonl",
            off320_client(),
            &["TC", "TR"],
            true,
            split,
            true,
        );
    }
}

#[test]
fn non_minimal_rewriter_really_changes_bodies() {
    // Guards the test above: the rewritten body differs yet decodes the same.
    let body = unhex("0304010501 4f4e45 0305f9".replace(' ', "").as_str());
    let changed = non_minimal(&body);
    assert_ne!(changed, body);
    let a: Vec<_> = ListReader::new(&body).map(|i| i.unwrap()).collect();
    let b: Vec<_> = ListReader::new(&changed).map(|i| i.unwrap()).collect();
    assert_eq!(a, b);
}

#[test]
fn login_refused_by_status_417() {
    let lines: Vec<Line> = load("cap5.jsonl")
        .into_iter()
        .filter(|l| l.code != "DC")
        .collect();
    let (addr, server) = serve_script(Script {
        lines,
        mutate: false,
        split: usize::MAX,
    });
    let err = IrisConnection::open(&params_for(addr, ClientOptions::default())).unwrap_err();
    assert_eq!(
        err,
        OpenError::Rejected {
            status: 417,
            text: "Access Denied".into()
        }
    );
    server.join().unwrap();
}

#[test]
fn continued_frame_bit_is_never_sent_by_the_client() {
    let mut out = Vec::new();
    frame::encode_frame(&mut out, code::DIRECT_QUERY, 1, 7, b"x");
    let h = Header::decode(out[..HEADER_LEN].try_into().unwrap());
    assert_eq!(h.stmt_id & CONTINUED, 0);
}
