//! Writes the seed corpora under `fuzz/corpus/<target>/`: valid messages
//! built with the crate's own encoders (the unit tests' vectors), the IRIS
//! captures under `tests/iris/captures/`, the shipped conf files and the SQL
//! of the translator tests. Run from anywhere:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! Seeds are named `seed-<label>`; files the fuzzer adds (hash names) are
//! left alone. Re-running rewrites the seeds with the same content.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use pgiris::backend::iris::list::ListWriter;
use pgiris::backend::iris::message::{self, ColumnInfo, Metadata, ParamInfo};
use pgiris::wire::frontend::{FrontendMessage, Target};
use pgiris::wire::startup::{
    self, GSSENC_REQUEST_CODE, PROTOCOL_3_0, PROTOCOL_3_2, SSL_REQUEST_CODE,
};
use pgiris::wire::types::{Format, Oid, encode_binary, oid};
use pgiris_fuzz::join_messages;

struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        let dir = root.join(target);
        fs::create_dir_all(&dir).expect("corpus dir");
        for entry in fs::read_dir(&dir).expect("read corpus dir").flatten() {
            if entry.file_name().to_string_lossy().starts_with("seed-") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Corpus { dir, count: 0 }
    }

    fn add(&mut self, label: &str, bytes: &[u8]) {
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        self.count += 1;
        let name = format!("seed-{:03}-{clean}", self.count);
        fs::write(self.dir.join(name), bytes).expect("write seed");
    }
}

fn encode(m: &FrontendMessage) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out);
    out.to_vec()
}

fn frontend_messages() -> Vec<FrontendMessage> {
    vec![
        FrontendMessage::Query("SELECT 1".into()),
        FrontendMessage::Query("BEGIN; SELECT 'a;b'; COMMIT".into()),
        FrontendMessage::Parse {
            name: "s1".into(),
            query: "SELECT $1".into(),
            param_types: vec![23, 0],
        },
        FrontendMessage::Parse {
            name: "".into(),
            query: "INSERT INTO t VALUES ($1, $2, $3)".into(),
            param_types: vec![25, 1700, 1184],
        },
        FrontendMessage::Bind {
            portal: "".into(),
            statement: "s1".into(),
            param_formats: vec![1],
            params: vec![Some(Bytes::from_static(&[0, 0, 0, 1])), None],
            result_formats: vec![0, 1],
        },
        FrontendMessage::Bind {
            portal: "p".into(),
            statement: "".into(),
            param_formats: vec![0, 1],
            params: vec![
                Some(Bytes::from_static(b"42")),
                Some(Bytes::from_static(b"x")),
            ],
            result_formats: vec![],
        },
        FrontendMessage::Describe {
            target: Target::Statement,
            name: "s1".into(),
        },
        FrontendMessage::Describe {
            target: Target::Portal,
            name: "".into(),
        },
        FrontendMessage::Execute {
            portal: "p".into(),
            max_rows: 10,
        },
        FrontendMessage::Close {
            target: Target::Portal,
            name: "p".into(),
        },
        FrontendMessage::Sync,
        FrontendMessage::Flush,
        FrontendMessage::Terminate,
        FrontendMessage::Password(Bytes::from_static(b"secret\0")),
        FrontendMessage::CopyData,
        FrontendMessage::CopyDone,
        FrontendMessage::CopyFail("x".into()),
        FrontendMessage::FunctionCall,
    ]
}

fn startup_seeds(root: &Path) {
    let mut c = Corpus::new(root, "startup");
    c.add(
        "user",
        &startup::encode_startup(PROTOCOL_3_0, &[("user", "alice")]),
    );
    c.add(
        "psql",
        &startup::encode_startup(
            PROTOCOL_3_0,
            &[
                ("user", "alice"),
                ("database", "postgres"),
                ("application_name", "psql"),
                ("client_encoding", "UTF8"),
                ("options", "-c search_path=x"),
            ],
        ),
    );
    c.add(
        "v3_2",
        &startup::encode_startup(PROTOCOL_3_2, &[("user", "u")]),
    );
    c.add(
        "v3_9999_grease",
        &startup::encode_startup((3 << 16) | 9999, &[("user", "u"), ("_pq_.grease", "1")]),
    );
    c.add(
        "v3_1",
        &startup::encode_startup((3 << 16) | 1, &[("user", "u")]),
    );
    c.add("v4", &startup::encode_startup(4 << 16, &[("user", "u")]));
    c.add("v2", &startup::encode_startup(2 << 16, &[("user", "u")]));
    c.add(
        "replication",
        &startup::encode_startup(PROTOCOL_3_0, &[("user", "u"), ("replication", "true")]),
    );
    c.add(
        "long_user",
        &startup::encode_startup(PROTOCOL_3_0, &[("user", &"é".repeat(40))]),
    );
    c.add(
        "no_user",
        &startup::encode_startup(PROTOCOL_3_0, &[("database", "d")]),
    );
    c.add("ssl", &startup::encode_request(SSL_REQUEST_CODE));
    c.add("gssenc", &startup::encode_request(GSSENC_REQUEST_CODE));
    c.add("cancel4", &startup::encode_cancel(7, &[1, 2, 3, 4]));
    c.add("cancel32", &startup::encode_cancel(7, &[5; 32]));
    let mut pkt = startup::encode_startup(PROTOCOL_3_0, &[("user", "u")]);
    pkt.pop();
    c.add("no_terminator", &pkt);
    let mut b = 12i32.to_be_bytes().to_vec();
    b.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    b.extend_from_slice(b"user\0\xff\0\0");
    c.add("bad_utf8", &b);
    c.add("huge_length", &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]);
    c.add("negative_length", &[0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0]);
}

fn frontend_seeds(root: &Path) {
    let mut c = Corpus::new(root, "frontend");
    for m in frontend_messages() {
        let bytes = encode(&m);
        let mut seed = vec![bytes[0]];
        seed.extend_from_slice(&bytes[5..]);
        c.add(&format!("{}", bytes[0] as char), &seed);
    }
    c.add("parse_huge_count", b"Ps\0q\0\x7f\xff");
    c.add("bind_long_value", b"B\0\0\0\0\0\x01\x00\x00\x00\x10ab\0\0");
    c.add(
        "bind_formats",
        b"B\0\0\0\x02\0\0\0\0\0\x01\xff\xff\xff\xff\0\0",
    );
    c.add("unknown", b"Z");
}

fn codec_seeds(root: &Path) {
    let mut c = Corpus::new(root, "codec");
    let mut stream = Vec::new();
    for m in frontend_messages() {
        stream.extend_from_slice(&encode(&m));
    }
    for (flags, pieces, label) in [
        (0u8, &[][..], "whole"),
        (0, &[1u8][..], "bytes"),
        (1, &[3, 7, 200][..], "preauth_pieces"),
        (0, &[5, 1, 64][..], "pieces"),
    ] {
        let mut seed = vec![flags, pieces.len() as u8];
        seed.extend_from_slice(pieces);
        seed.extend_from_slice(&stream);
        c.add(label, &seed);
    }
    c.add(
        "huge_announced",
        &[0, 0, b'Q', 0x3f, 0xff, 0xff, 0xff, b'x'],
    );
    c.add("preauth_over", &[1, 0, b'p', 0, 0, 0x27, 0x12]);
    c.add("short_length", &[0, 0, b'Q', 0, 0, 0, 3]);
}

const PROOF_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";

fn sasl_initial(mechanism: &str, data: Option<&[u8]>) -> Vec<u8> {
    pgiris::auth::scram::messages::SaslInitialResponse {
        mechanism: mechanism.as_bytes(),
        data,
    }
    .encode()
}

fn scram_seeds(root: &Path) {
    let mut c = Corpus::new(root, "scram_messages");
    let proof = STANDARD.encode([7u8; 32]);
    for (label, text) in [
        ("first", PROOF_FIRST.to_string()),
        ("first_y", "y,,n=,r=abc".into()),
        ("first_p", "p=tls-server-end-point,,n=,r=abc,x=ext,z=".into()),
        ("first_authzid", "n,a=bob,n=,r=abc".into()),
        ("first_ext", "n,,m=ext,n=,r=abc".into()),
        ("final", format!("c=biws,r=abcdef,p={proof}")),
        ("final_ext", format!("c=biws,r=abcdef,x=1,p={proof}")),
        (
            "final_rfc",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".into(),
        ),
    ] {
        c.add(label, text.as_bytes());
    }
    c.add(
        "initial",
        &sasl_initial("SCRAM-SHA-256", Some(PROOF_FIRST.as_bytes())),
    );
    c.add("initial_none", &sasl_initial("SCRAM-SHA-256", None));
    c.add(
        "initial_plus",
        &sasl_initial(
            "SCRAM-SHA-256-PLUS",
            Some(b"p=tls-server-end-point,,n=,r=abc"),
        ),
    );
}

fn auth_seeds(root: &Path) {
    let mut c = Corpus::new(root, "auth_exchange");
    let initial = sasl_initial("SCRAM-SHA-256", Some(PROOF_FIRST.as_bytes()));
    let proof = STANDARD.encode([7u8; 32]);
    let last = format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,p={proof}");
    let arbitrary = join_messages(&[&initial, last.as_bytes(), b"pencil\0"]);
    let cleartext = join_messages(&[b"pencil\0", b"more\0"]);
    for selector in 0u8..24 {
        for flags in [
            0u8,
            1 | 2 | 4,
            8 | 16,
            8,
            1 | 2 | 8 | 16 | 32,
            1 | 8 | 16 | 4,
        ] {
            let mut seed = vec![selector, flags];
            seed.extend_from_slice(if selector % 6 < 2 {
                &arbitrary
            } else {
                &cleartext
            });
            c.add(&format!("m{selector}_f{flags}"), &seed);
        }
    }
}

fn hba_seeds(root: &Path, repo: &Path) {
    let mut c = Corpus::new(root, "hba");
    if let Ok(text) = fs::read(repo.join("conf/pg_hba.conf")) {
        c.add("shipped", &text);
    }
    c.add(
        "doc_example",
        b"local      all             all                         scram-sha-256\n\
host       all             all        127.0.0.1/32     scram-sha-256\n\
hostssl    sales,\"Mixed\"   alice,bob  10.0.0.0 255.0.0.0  password\n\
host       all             all        ::1/128          iris  allow_plaintext=1\n\
host       all             all        all              reject\n",
    );
    c.add(
        "varied",
        b"hostnossl sameuser all samehost md5 # comment\n\
hostgssenc all all 0.0.0.0/0 trust\n\
hostnogssenc replication postgres ::ffff:10.0.0.0/104 trust\n\
host all \"all\" 192.168.0.0/16 \\\n  password allow_plaintext=1\n\
host db1, db2 u1,u2 10.1.2.3 255.255.255.255 scram-sha-256\n",
    );
    c.add(
        "errors",
        b"host all all\nhost @file all all trust\nlocal all +group trust\n",
    );
}

fn users_seeds(root: &Path, repo: &Path) {
    let mut c = Corpus::new(root, "users");
    let mut raw = |label: &str, text: &[u8]| {
        let mut seed = vec![0u8];
        seed.extend_from_slice(text);
        c.add(label, &seed);
    };
    if let Ok(text) = fs::read(repo.join("conf/userlist.txt")) {
        raw("shipped", &text);
    }
    raw(
        "kinds",
        b"; comment\n# comment\n\"bob\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n\
\"o\"\"q\"  \"a \"\"quoted\"\" secret\" trailing words\n\r\n\
\"alice\" \"SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=:VpYlBuxyzeCI1KnctrefdljpB1mk3Gp7sBI/t11+NkQ=\"\n",
    );
    raw(
        "errors",
        b"bob secret\n\"\" \"x\"\n\"a\" \"b\"\n\"a\" \"c\"\n\"u\"\"v\"x\n",
    );
    let built = join_messages(&[
        b"alice",
        b"pw",
        b"o\"q",
        b"SCRAM-SHA-256$1:AA==$x:y",
        b"bob",
        b"md5",
    ]);
    let mut seed = vec![1u8];
    seed.extend_from_slice(&built);
    c.add("built", &seed);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// One captured message: direction (`C->S`, `S->C`), header, body.
type Captured = (String, Vec<u8>, Vec<u8>);

/// Every captured message, per file (by stem).
fn captures(repo: &Path) -> Vec<(String, Vec<Captured>)> {
    let dir = repo.join("tests/iris/captures");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        let mut msgs = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            msgs.push((
                field("dir"),
                hex(&field("header_hex")),
                hex(&field("body_hex")),
            ));
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((stem, msgs));
    }
    out
}

fn iris_seeds(root: &Path, repo: &Path) {
    let caps = captures(repo);
    let mut list = Corpus::new(root, "iris_list");
    let mut reply = Corpus::new(root, "iris_reply");
    for (stem, msgs) in &caps {
        let mut replies = Vec::new();
        for (i, (dir, header, body)) in msgs.iter().enumerate() {
            if !body.is_empty() {
                list.add(&format!("{stem}-{i}"), body);
            }
            if dir == "S->C" {
                replies.extend_from_slice(header);
                replies.extend_from_slice(body);
                // Every reply through each body decoder; the handshake and
                // login replies are the first two.
                let which: &[u8] = match i {
                    1 => &[1],
                    3 => &[2],
                    _ => &[4, 5, 6, 8],
                };
                for &w in which {
                    let mut seed = vec![w];
                    seed.extend_from_slice(body);
                    reply.add(&format!("{stem}-{i}-d{w}"), &seed);
                }
            } else {
                let mut seed = vec![7u8];
                seed.extend_from_slice(body);
                reply.add(&format!("{stem}-{i}-req"), &seed);
                if header.get(12..14) == Some(b"CN") {
                    let mut seed = vec![3u8];
                    seed.extend_from_slice(body);
                    reply.add(&format!("{stem}-{i}-login"), &seed);
                }
            }
        }
        // The reply stream as framed on the wire, in short reads.
        let mut seed = vec![0u8, 3, 1, 7];
        seed.extend_from_slice(&replies);
        reply.add(&format!("{stem}-frames"), &seed);
    }
    // Rows: 3 columns (integer, varchar, numeric(10,2)) and two rows.
    let mut w = ListWriter::new();
    for (i, s, d) in [(1i64, "héllo", 1234i64), (-7, "Ωmega", -5)] {
        w.push_int(i);
        w.push_str(s);
        w.push_decimal(d, -2);
    }
    w.push_null();
    w.push_f64(3.5, true);
    let mut seed = vec![8u8, 2, 15, 0, 23, 10, 13, 90];
    seed.extend_from_slice(w.as_bytes());
    reply.add("rows", &seed);
    let meta = Metadata {
        columns: Some(vec![ColumnInfo {
            name: "a".into(),
            odbc_type: 4,
            precision: 10,
            nullable: 1,
            flags: vec![0; 12],
            ..ColumnInfo::default()
        }]),
        params: vec![ParamInfo {
            odbc_type: 12,
            precision: 50,
            scale: 0,
            nullable: 2,
        }],
        cached: true,
    };
    let mut seed = vec![4u8];
    seed.extend_from_slice(&message::encode_metadata(&meta));
    reply.add("metadata", &seed);
    let mut seed = vec![5u8];
    seed.extend_from_slice(&message::encode_update_reply(&meta.params, true, 3));
    reply.add("update", &seed);
}

fn decode_param_seeds(root: &Path) {
    let mut c = Corpus::new(root, "decode_param");
    let oids = pgiris_fuzz::PARAM_OIDS;
    let samples: &[(Oid, &[&str])] = &[
        (oid::BOOL, &["t", "false", " yes ", "on", "0"]),
        (oid::BYTEA, &["\\x0102ff", "abc\\\\\\001", "\\x"]),
        (oid::CHAR, &["a", "\\201", ""]),
        (oid::NAME, &["a_name"]),
        (oid::INT2, &["-32768", " 42 "]),
        (oid::INT4, &["2147483647", "+1", "abc"]),
        (oid::INT8, &["-9223372036854775808"]),
        (oid::OID, &["4294967295", "-1"]),
        (oid::FLOAT4, &["1.5", "NaN", "-Infinity", "3.4e38", "1e-45"]),
        (oid::FLOAT8, &["0.1", "1e308", "-0", "4.9e-324"]),
        (
            oid::NUMERIC,
            &[
                "12.340",
                "-0.001",
                "NaN",
                "Infinity",
                "1e10",
                "99999999999999999999.5",
            ],
        ),
        (
            oid::DATE,
            &["2024-02-29", "4713-01-01 BC", "infinity", "5874897-12-31"],
        ),
        (oid::TIME, &["24:00:00", "12:34:56.789", "allballs"]),
        (
            oid::TIMESTAMP,
            &[
                "2024-01-02 03:04:05.123456",
                "epoch",
                "294276-12-31 23:59:59",
            ],
        ),
        (
            oid::TIMESTAMPTZ,
            &["2024-01-02T03:04:05+05:30", "-infinity"],
        ),
        (
            oid::UUID,
            &[
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
            ],
        ),
        (
            oid::JSON,
            &["{\"a\": [1, 2.5e3, null, true]}", "\"\\u0000\""],
        ),
        (oid::JSONB, &["[{}]", "\"\\ud83d\\ude00\""]),
        (oid::TEXT, &["param-value"]),
    ];
    let index = |o: Oid| oids.iter().position(|&x| x == o).unwrap_or(0) as u8;
    for (o, values) in samples {
        for v in values.iter() {
            let mut seed = vec![index(*o), Format::Text.code() as u8];
            seed.extend_from_slice(v.as_bytes());
            c.add(&format!("{o}-text"), &seed);
            if let Ok(value) = pgiris::wire::types::decode_param(v.as_bytes(), *o, Format::Text) {
                let mut bin = BytesMut::new();
                if encode_binary(value.as_cell(), *o, &mut bin).is_ok() {
                    let mut seed = vec![index(*o), Format::Binary.code() as u8];
                    seed.extend_from_slice(&bin);
                    c.add(&format!("{o}-binary"), &seed);
                }
            }
        }
    }
    c.add("raw-oid", &[0xff, 0, 0x17, 0, 0, 0, b'1']);
}

/// String literals of the translator tests that look like SQL.
fn sql_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, ch) in after.char_indices() {
            match ch {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        let lit = after[..end]
            .replace("\\\"", "\"")
            .replace("\\n", "\n")
            .replace("\\\\", "\\");
        let upper = lit.to_ascii_uppercase();
        if [
            "SELECT", "INSERT", "CREATE", "UPDATE", "DELETE", "WITH", "SET", "BEGIN", "SHOW",
        ]
        .iter()
        .any(|k| upper.contains(k))
        {
            out.push(lit);
        }
        rest = &after[end + 1..];
    }
    out
}

fn sql_seeds(root: &Path, repo: &Path) {
    let mut c = Corpus::new(root, "sql");
    let fixed = [
        "SELECT 1",
        "select 'a;b', $$x;y$$, $tag$ $$ $tag$, E'\\'', U&'\\0041', B'101', X'1F', \"q\"\"i\"",
        "SELECT /* a /* nested */ comment */ 1 -- end\n; SELECT 2;",
        "CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; SELECT 2; END; SELECT 3",
        "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END",
        "SELECT now()::timestamptz, x::int[], '1'::numeric(10,2) FROM t WHERE a = $1 AND b <> $2",
        "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING *",
        "WITH q AS (SELECT 1 AS a) SELECT a FROM q",
        "SET search_path TO public; SHOW search_path",
        "BEGIN ISOLATION LEVEL SERIALIZABLE; COMMIT",
        "SELECT current_setting('server_version'), current_user, version()",
        "CREATE TABLE t (id serial PRIMARY KEY, n numeric(10,2), ts timestamptz DEFAULT now(), j jsonb)",
        "SELECT a->>'k', b #> '{x}', c @> d, e ~* 'x', f IS DISTINCT FROM g FROM t",
        "SELECT 0x1f, 1e10, .5, 1., 1_000",
        "'unterminated",
        "\"unterminated",
        "/* unterminated",
        "$tag$ unterminated",
    ];
    for (i, s) in fixed.iter().enumerate() {
        c.add(&format!("fixed{i}"), s.as_bytes());
    }
    for file in [
        "src/backend/embedded/translate/tests.rs",
        "src/sql/lexer.rs",
        "src/session/sql.rs",
    ] {
        let text = fs::read_to_string(repo.join(file)).unwrap_or_default();
        for (i, lit) in sql_literals(&text).into_iter().enumerate() {
            let stem = Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            c.add(&format!("{stem}{i}"), lit.as_bytes());
        }
    }
}

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.parent().expect("repository root");
    let root = fuzz.join("corpus");
    startup_seeds(&root);
    frontend_seeds(&root);
    codec_seeds(&root);
    scram_seeds(&root);
    auth_seeds(&root);
    hba_seeds(&root, repo);
    users_seeds(&root, repo);
    iris_seeds(&root, repo);
    decode_param_seeds(&root);
    sql_seeds(&root, repo);
    for entry in fs::read_dir(&root).expect("corpus root").flatten() {
        let n = fs::read_dir(entry.path()).map(|d| d.count()).unwrap_or(0);
        println!("{}: {n} files", entry.file_name().to_string_lossy());
    }
}
