//! Randomised tests of the `$LIST` codec (fixed seeds, so failures
//! reproduce): every value written reads back as itself, in lists of mixed
//! items and nested lists, and no byte string makes the reader panic or loop.

use pgiris::backend::iris::list::{Item, ListReader, ListWriter};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Undefined,
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Dec(i64, i8),
    F64(f64),
    Nested(Vec<V>),
}

fn random_string(rng: &mut StdRng, max: usize) -> String {
    let len = rng.random_range(0..=max);
    (0..len)
        .map(|_| match rng.random_range(0..4) {
            0 => char::from(rng.random_range(0x20u8..0x7f)),
            1 => char::from(rng.random_range(0xa0u8..=0xff)),
            2 => char::from_u32(rng.random_range(0x100u32..0xd7ff)).unwrap_or('x'),
            _ => char::from_u32(rng.random_range(0x1_0000u32..0x1_fff0)).unwrap_or('y'),
        })
        .collect()
}

fn random_len(rng: &mut StdRng) -> usize {
    // Mostly short, sometimes across the 1-byte/3-byte/7-byte boundaries.
    match rng.random_range(0..20) {
        0 => rng.random_range(250..260),
        1 => rng.random_range(65_530..65_540),
        _ => rng.random_range(0..40),
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> V {
    match rng.random_range(0..if depth < 2 { 9 } else { 8 }) {
        0 => V::Null,
        1 => V::Undefined,
        2 => V::Str(random_string(rng, 30)),
        3 => {
            let len = random_len(rng);
            V::Bytes((0..len).map(|_| rng.random()).collect())
        }
        4 => V::Int(match rng.random_range(0..4) {
            0 => rng.random(),
            1 => rng.random_range(-300..300),
            2 => [i64::MIN, i64::MAX, 0, -1, 255, 256, -256, -257][rng.random_range(0..8)],
            _ => rng.random::<i32>() as i64,
        }),
        5 => V::Dec(rng.random(), rng.random_range(-20..20)),
        6 => {
            let f: f64 = match rng.random_range(0..4) {
                0 => rng.random::<f64>() * 1e6 - 5e5,
                1 => f64::from(rng.random::<f32>()),
                2 => f64::from_bits(rng.random()),
                _ => {
                    [0.0, -0.0, 1.0, 3.5, 0.1, f64::MAX, f64::MIN_POSITIVE][rng.random_range(0..7)]
                }
            };
            if f.is_nan() { V::F64(1.5) } else { V::F64(f) }
        }
        7 => V::Str(String::new()),
        _ => {
            let n = rng.random_range(0..5);
            V::Nested((0..n).map(|_| random_value(rng, depth + 1)).collect())
        }
    }
}

fn write(w: &mut ListWriter, v: &V, compact: bool) {
    match v {
        V::Null => w.push_null(),
        V::Undefined => w.push_undefined(),
        V::Str(s) => w.push_str(s),
        V::Bytes(b) => w.push_bytes(b),
        V::Int(i) => w.push_int(*i),
        V::Dec(m, e) => w.push_decimal(*m, *e),
        V::F64(f) => w.push_f64(*f, compact),
        V::Nested(items) => {
            let mut inner = ListWriter::new();
            for i in items {
                write(&mut inner, i, compact);
            }
            if inner.is_empty() {
                // An empty nested list is indistinguishable from NULL.
                w.push_null();
            } else {
                w.push_list(inner.as_bytes());
            }
        }
    }
}

fn check(item: &Item<'_>, v: &V) {
    match v {
        V::Null => assert_eq!(*item, Item::Null),
        V::Undefined => assert_eq!(*item, Item::Undefined),
        V::Str(s) if s.is_empty() => assert!(item.is_empty_string(), "{item:?}"),
        V::Str(s) => assert_eq!(item.to_text().as_deref(), Some(s.as_str())),
        V::Bytes(b) if b.is_empty() => assert!(item.is_empty_string()),
        V::Bytes(b) => assert_eq!(*item, Item::Str8(b)),
        V::Int(i) => assert_eq!(*item, Item::Int(*i)),
        V::Dec(m, e) => assert_eq!(
            *item,
            Item::Decimal {
                mantissa: i128::from(*m),
                exponent: *e
            }
        ),
        V::F64(f) => match item {
            Item::Double(d) => assert_eq!(d.to_bits(), f.to_bits(), "{f}"),
            other => panic!("{f}: {other:?}"),
        },
        V::Nested(items) if items.is_empty() => assert_eq!(*item, Item::Null),
        V::Nested(items) => {
            let Item::Str8(inner) = item else {
                panic!("nested list read as {item:?}")
            };
            let got: Vec<Item<'_>> = ListReader::new(inner).map(|i| i.unwrap()).collect();
            assert_eq!(got.len(), items.len());
            for (g, v) in got.iter().zip(items) {
                check(g, v);
            }
        }
    }
}

#[test]
fn random_lists_round_trip() {
    let mut rng = StdRng::seed_from_u64(0x1_5EED_1972);
    for round in 0..3_000 {
        let compact = round % 2 == 1;
        let values: Vec<V> = (0..rng.random_range(1..12))
            .map(|_| random_value(&mut rng, 0))
            .collect();
        let mut w = ListWriter::new();
        for v in &values {
            write(&mut w, v, compact);
        }
        let items: Vec<Item<'_>> = ListReader::new(w.as_bytes())
            .map(|i| i.unwrap_or_else(|e| panic!("round {round}: {e}")))
            .collect();
        assert_eq!(items.len(), values.len(), "round {round}");
        for (item, v) in items.iter().zip(&values) {
            check(item, v);
        }
    }
}

#[test]
fn random_bytes_never_panic_or_loop() {
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..20_000 {
        let len = rng.random_range(0..64);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let mut r = ListReader::new(&data);
        let mut steps = 0;
        while let Ok(Some(item)) = r.next_item() {
            let _ = item.to_text();
            let _ = item.as_i64();
            steps += 1;
            assert!(steps <= data.len(), "reader did not advance");
        }
    }
}

#[test]
fn truncating_a_valid_list_is_an_error_never_garbage() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let mut w = ListWriter::new();
        let v = random_value(&mut rng, 0);
        write(&mut w, &v, false);
        let bytes = w.as_bytes();
        for cut in 1..bytes.len() {
            let mut r = ListReader::new(&bytes[..cut]);
            assert!(r.next_item().is_err(), "{v:?} cut at {cut} decoded");
        }
    }
}

#[test]
fn random_replies_never_panic_the_decoders() {
    use pgiris::backend::iris::message::{self, HandshakeReply, LoginFields, LoginReply};
    use pgiris::backend::iris::types::RowBuffers;
    use pgiris::backend::iris::{sql, sqlcode};

    let odbc_types = [
        -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 91,
        92, 93, 1091, 1092, 1093, 9999,
    ];
    let mut rng = StdRng::seed_from_u64(1972);
    for round in 0..1_500 {
        // Half random bytes, half well-formed lists of random values.
        let body: Vec<u8> = if round % 2 == 0 {
            (0..rng.random_range(0..48)).map(|_| rng.random()).collect()
        } else {
            let mut w = ListWriter::new();
            for _ in 0..rng.random_range(0..12) {
                write(&mut w, &random_value(&mut rng, 1), false);
            }
            w.into_bytes()
        };
        if body.len() > 2048 {
            // Long items are covered by the round-trip test; keep this fast.
            continue;
        }
        let _ = HandshakeReply::parse(&body);
        let _ = LoginReply::parse(&body);
        let _ = LoginFields::parse(&body);
        let _ = message::parse_metadata(&body, round % 3 == 0);
        let _ = message::parse_update_reply(&body);
        let _ = message::parse_row_count(&body);
        let text = message::error_text(&body);
        let _ = sqlcode::to_pg_error(rng.random(), &text);
        for code in [*b"DQ", *b"PP", *b"PQ", *b"DU", *b"PU"] {
            let _ = message::parse_statement_request(code, &body);
        }
        let mut bufs = RowBuffers::new(1);
        for item in ListReader::new(&body).map_while(Result::ok) {
            for t in odbc_types {
                let _ = bufs.set(0, t, &item);
                let _ = bufs.cells();
            }
        }
        let sql_text = String::from_utf8_lossy(&body).into_owned();
        let _ = sql::rewrite(&sql_text, sql::SessionValues::Placeholder);
        let _ = sql::is_query(&sql_text);
    }
}

#[test]
fn random_sql_keeps_text_outside_parameters() {
    use pgiris::backend::iris::sql;
    // Whatever the text, removing the :%qpar(k) markers and the $n they
    // replaced leaves the rest of the statement unchanged (trailing
    // semicolons aside).
    let pieces = [
        "SELECT ",
        "'a''b'",
        "\"q\"\"i\"",
        "$1",
        "$2",
        " -- c $1\n",
        "/* $3 */",
        "$$ $1 $$",
        "x",
        "(",
        ")",
        ",",
        " ",
        "é",
        "E'\\'$1'",
        "=",
        "?",
    ];
    let mut rng = StdRng::seed_from_u64(99);
    for _ in 0..2_000 {
        let sql_text: String = (0..rng.random_range(1..12))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let Ok(out) = sql::rewrite(&sql_text, sql::SessionValues::Placeholder) else {
            continue;
        };
        let mut restored = out.text.clone();
        for (k, &r) in out.param_refs.iter().enumerate().rev() {
            restored = restored.replacen(&format!(":%qpar({})", k + 1), &format!("${}", r + 1), 1);
        }
        let trimmed = sql_text.trim_end_matches([';', ' ']);
        assert!(
            trimmed.starts_with(restored.trim_end()) || restored == trimmed,
            "{sql_text:?} -> {:?}",
            out.text
        );
    }
}
