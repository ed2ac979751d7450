//! Tests of the public API across types: cell conversions, golden wire
//! bytes from PostgreSQL 15.18, round trips, errors, and a randomized
//! no-panic sweep over every OID.

use bytes::BytesMut;

use super::*;

fn text(cell: Cell<'_>, oid: Oid) -> String {
    let mut out = BytesMut::new();
    encode_text(cell, oid, &mut out).unwrap_or_else(|e| panic!("{cell:?} as {oid}: {e}"));
    String::from_utf8(out.to_vec()).unwrap()
}

fn text_err(cell: Cell<'_>, oid: Oid) -> PgError {
    let mut out = BytesMut::from(&b"keep"[..]);
    let e = encode_text(cell, oid, &mut out).unwrap_err();
    assert_eq!(&out[..], b"keep", "a failed encode must append nothing");
    e
}

fn binary(cell: Cell<'_>, oid: Oid) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_binary(cell, oid, &mut out).unwrap_or_else(|e| panic!("{cell:?} as {oid}: {e}"));
    out.to_vec()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn from_text(s: &str, oid: Oid) -> Result<Value, PgError> {
    decode_param(s.as_bytes(), oid, Format::Text)
}

fn from_binary(b: &[u8], oid: Oid) -> Result<Value, PgError> {
    decode_param(b, oid, Format::Binary)
}

#[test]
fn format_codes() {
    assert_eq!(Format::from_code(0).unwrap(), Format::Text);
    assert_eq!(Format::from_code(1).unwrap(), Format::Binary);
    assert_eq!(Format::from_code(2).unwrap_err().code, "08P01");
    assert_eq!(Format::Binary.code(), 1);
}

#[test]
fn null_writes_nothing() {
    for oid in [oid::INT4, oid::TEXT, oid::NUMERIC, oid::DATE, oid::UUID] {
        let mut out = BytesMut::new();
        encode_text(Cell::Null, oid, &mut out).unwrap();
        encode_binary(Cell::Null, oid, &mut out).unwrap();
        assert!(out.is_empty());
    }
}

#[test]
fn bool_from_backend_values() {
    assert_eq!(text(Cell::Bool(true), oid::BOOL), "t");
    assert_eq!(text(Cell::Int(0), oid::BOOL), "f");
    assert_eq!(text(Cell::Int(1), oid::BOOL), "t");
    assert_eq!(text(Cell::Int(-3), oid::BOOL), "t");
    assert_eq!(text(Cell::Text("true"), oid::BOOL), "t");
    assert_eq!(text(Cell::Text("0"), oid::BOOL), "f");
    assert_eq!(text(Cell::Text("off"), oid::BOOL), "f");
    let e = text_err(Cell::Text("maybe"), oid::BOOL);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("22P02", "invalid input syntax for type boolean: \"maybe\"")
    );
    assert_eq!(binary(Cell::Bool(true), oid::BOOL), [1]);
    assert_eq!(binary(Cell::Int(0), oid::BOOL), [0]);
}

#[test]
fn integers_from_backend_values() {
    assert_eq!(text(Cell::Int(i64::MIN), oid::INT8), "-9223372036854775808");
    assert_eq!(text(Cell::Int(32767), oid::INT2), "32767");
    assert_eq!(text(Cell::Text("12"), oid::INT4), "12");
    assert_eq!(text(Cell::Text(" 12.0 "), oid::INT4), "12");
    assert_eq!(text(Cell::Text("1e3"), oid::INT4), "1000");
    assert_eq!(text(Cell::Float(42.0), oid::INT8), "42");
    assert_eq!(text(Cell::Float(-0.0), oid::INT8), "0");
    assert_eq!(text(Cell::Numeric("-7.000"), oid::INT2), "-7");
    assert_eq!(text(Cell::Bool(true), oid::INT4), "1");
    assert_eq!(text(Cell::Int(-1), oid::OID), "4294967295");
    assert_eq!(
        text(Cell::Float(-9223372036854775808.0), oid::INT8),
        "-9223372036854775808"
    );

    let e = text_err(Cell::Int(32768), oid::INT2);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("22003", "smallint out of range")
    );
    assert_eq!(
        text_err(Cell::Int(1 << 31), oid::INT4).message,
        "integer out of range"
    );
    assert_eq!(
        text_err(Cell::Float(9.3e18), oid::INT8).message,
        "bigint out of range"
    );
    assert_eq!(
        text_err(Cell::Float(f64::NAN), oid::INT4).message,
        "integer out of range"
    );
    assert_eq!(
        text_err(Cell::Numeric("1e10"), oid::INT4).message,
        "integer out of range"
    );
    let e = text_err(Cell::Text("abc"), oid::INT4);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("22P02", "invalid input syntax for type integer: \"abc\"")
    );
    assert_eq!(
        text_err(Cell::Text("1.5"), oid::INT8).message,
        "invalid input syntax for type bigint: \"1.5\""
    );
    assert_eq!(
        text_err(Cell::Text("1e10"), oid::INT4).message,
        "value \"1e10\" is out of range for type integer"
    );
    assert_eq!(
        text_err(Cell::Float(1.5), oid::INT4).message,
        "invalid input syntax for type integer: \"1.5\""
    );
    assert_eq!(
        text_err(Cell::Numeric("NaN"), oid::INT4).message,
        "invalid input syntax for type integer: \"NaN\""
    );
}

#[test]
fn floats_from_backend_values() {
    assert_eq!(text(Cell::Float(0.1), oid::FLOAT8), "0.1");
    assert_eq!(text(Cell::Float(0.1), oid::FLOAT4), "0.1");
    // float4 rounds to single precision first.
    assert_eq!(text(Cell::Float(0.30000001192092896), oid::FLOAT4), "0.3");
    assert_eq!(text(Cell::Float(16777217.0), oid::FLOAT4), "1.6777216e+07");
    assert_eq!(text(Cell::Int(3), oid::FLOAT8), "3");
    assert_eq!(
        text(Cell::Int(i64::MAX), oid::FLOAT8),
        "9.223372036854776e+18"
    );
    assert_eq!(text(Cell::Text(" 1e20 "), oid::FLOAT8), "1e+20");
    assert_eq!(text(Cell::Text("-inf"), oid::FLOAT8), "-Infinity");
    assert_eq!(text(Cell::Numeric("12.50"), oid::FLOAT8), "12.5");
    assert_eq!(text(Cell::Float(f64::NAN), oid::FLOAT4), "NaN");
    assert_eq!(text(Cell::Float(5e-324), oid::FLOAT8), "5e-324");
    assert_eq!(
        text_err(Cell::Float(1e300), oid::FLOAT4).message,
        "value out of range: overflow"
    );
    assert_eq!(
        text_err(Cell::Text("x"), oid::FLOAT4).message,
        "invalid input syntax for type real: \"x\""
    );
}

#[test]
fn numerics_from_backend_values() {
    assert_eq!(text(Cell::Numeric("12.340"), oid::NUMERIC), "12.340");
    assert_eq!(text(Cell::Numeric(".5"), oid::NUMERIC), "0.5");
    assert_eq!(text(Cell::Numeric("-.5"), oid::NUMERIC), "-0.5");
    assert_eq!(text(Cell::Text("1.5e-3"), oid::NUMERIC), "0.0015");
    assert_eq!(text(Cell::Int(-42), oid::NUMERIC), "-42");
    assert_eq!(text(Cell::Float(0.1), oid::NUMERIC), "0.1");
    assert_eq!(text(Cell::Float(f64::INFINITY), oid::NUMERIC), "Infinity");
    assert_eq!(text(Cell::Text("NaN"), oid::NUMERIC), "NaN");
    let e = text_err(Cell::Text("12a"), oid::NUMERIC);
    assert_eq!(
        (e.code, e.message.as_str()),
        ("22P02", "invalid input syntax for type numeric: \"12a\"")
    );
    assert_eq!(
        binary(Cell::Int(12345), oid::NUMERIC),
        hex("000200010000000000010929")
    );
    assert_eq!(
        binary(Cell::Float(-0.5), oid::NUMERIC),
        hex("0001ffff400000011388")
    );
}

#[test]
fn text_types_from_anything() {
    for oid in [
        oid::TEXT,
        oid::VARCHAR,
        oid::BPCHAR,
        oid::NAME,
        oid::JSON,
        oid::JSONB,
        oid::UNKNOWN,
        oid::INTERVAL,
    ] {
        assert_eq!(text(Cell::Text("héllo"), oid), "héllo");
        assert_eq!(text(Cell::Int(-5), oid), "-5");
        assert_eq!(text(Cell::Float(1e20), oid), "1e+20");
        assert_eq!(text(Cell::Bool(false), oid), "false");
        assert_eq!(text(Cell::Bytes("ok".as_bytes()), oid), "ok");
    }
    assert_eq!(text(Cell::Numeric(".50"), oid::TEXT), "0.50");
    assert_eq!(
        text(Cell::Text("1 day 02:00:00"), oid::INTERVAL),
        "1 day 02:00:00"
    );
    let e = text_err(Cell::Bytes(&[b'a', 0xc3, 0x28]), oid::TEXT);
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28"
        )
    );
}

#[test]
fn bytea_from_backend_values() {
    assert_eq!(
        text(Cell::Bytes(&[0xde, 0xad, 0x00]), oid::BYTEA),
        "\\xdead00"
    );
    assert_eq!(text(Cell::Text("hé"), oid::BYTEA), "\\x68c3a9");
    assert_eq!(text(Cell::Int(5), oid::BYTEA), "\\x35");
    assert_eq!(binary(Cell::Bytes(&[0, 255]), oid::BYTEA), [0, 255]);
}

#[test]
fn dates_and_times_from_backend_values() {
    assert_eq!(text(Cell::Text("2024-01-02"), oid::DATE), "2024-01-02");
    assert_eq!(
        text(Cell::Text("2024-01-02T03:04:05Z"), oid::TIMESTAMP),
        "2024-01-02 03:04:05"
    );
    assert_eq!(
        text(Cell::Text("2024-01-02 03:04:05.123"), oid::TIMESTAMPTZ),
        "2024-01-02 03:04:05.123+00"
    );
    assert_eq!(
        text(Cell::Text("2024-01-02 03:04:05.123456789"), oid::TIMESTAMP),
        "2024-01-02 03:04:05.123457"
    );
    assert_eq!(
        text(Cell::Text("2024-01-02T03:04:05+02:00"), oid::TIMESTAMPTZ),
        "2024-01-02 01:04:05+00"
    );
    assert_eq!(
        text(Cell::Int(0), oid::TIMESTAMPTZ),
        "1970-01-01 00:00:00+00"
    );
    assert_eq!(text(Cell::Int(86_400), oid::DATE), "1970-01-02");
    assert_eq!(
        text(Cell::Float(2451545.0), oid::TIMESTAMP),
        "2000-01-01 12:00:00"
    );
    assert_eq!(text(Cell::Text("12:34:56.5"), oid::TIME), "12:34:56.5");
    let e = text_err(Cell::Text("yesterday-ish"), oid::DATE);
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            "22007",
            "invalid input syntax for type date: \"yesterday-ish\""
        )
    );
    assert_eq!(text_err(Cell::Int(1), oid::TIME).code, "22007");
}

#[test]
fn uuids_from_backend_values() {
    let raw = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    assert_eq!(
        text(Cell::Bytes(&raw), oid::UUID),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        text(Cell::Text("A0EEBC999C0B4EF8BB6D6BB9BD380A11"), oid::UUID),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        binary(
            Cell::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            oid::UUID
        ),
        raw
    );
    assert_eq!(text_err(Cell::Bytes(&raw[..15]), oid::UUID).code, "22021");
    assert_eq!(text_err(Cell::Text("nope"), oid::UUID).code, "22P02");
}

#[test]
fn char_type() {
    assert_eq!(text(Cell::Text("abc"), oid::CHAR), "a");
    assert_eq!(text(Cell::Text(""), oid::CHAR), "");
    assert_eq!(text(Cell::Text("é"), oid::CHAR), "\\303");
    assert_eq!(text(Cell::Text("\\101"), oid::CHAR), "A");
    assert_eq!(binary(Cell::Text("a"), oid::CHAR), [0x61]);
    assert_eq!(
        from_binary(&[0xc8], oid::CHAR).unwrap(),
        Value::Text("\\310".into())
    );
    assert_eq!(from_text("r", oid::CHAR).unwrap(), Value::Text("r".into()));
}

/// Golden bytes from PostgreSQL 15.18 (`SELECT <type>send(...)`).
#[test]
fn binary_output_matches_postgres() {
    let cases: Vec<(Cell<'_>, Oid, &str)> = vec![
        (Cell::Bool(true), oid::BOOL, "01"),
        (Cell::Int(-2), oid::INT2, "fffe"),
        (Cell::Int(-2), oid::INT4, "fffffffe"),
        (Cell::Int(-2), oid::INT8, "fffffffffffffffe"),
        (Cell::Int(4294967295), oid::OID, "ffffffff"),
        (Cell::Float(0.1), oid::FLOAT8, "3fb999999999999a"),
        (Cell::Float(-0.0), oid::FLOAT8, "8000000000000000"),
        (Cell::Float(f64::NAN), oid::FLOAT8, "7ff8000000000000"),
        (Cell::Float(5e-324), oid::FLOAT8, "0000000000000001"),
        (Cell::Float(1e20), oid::FLOAT8, "4415af1d78b58c40"),
        (Cell::Float(0.1), oid::FLOAT4, "3dcccccd"),
        (Cell::Float(f64::NEG_INFINITY), oid::FLOAT4, "ff800000"),
        (Cell::Int(16777215), oid::FLOAT4, "4b7fffff"),
        (Cell::Text("hé"), oid::TEXT, "68c3a9"),
        (Cell::Text("hé"), oid::VARCHAR, "68c3a9"),
        (Cell::Text("{\"a\":1}"), oid::JSON, "7b2261223a317d"),
        (Cell::Text("{\"a\": 1}"), oid::JSONB, "017b2261223a20317d"),
        (Cell::Bytes(&[0x00, 0xff]), oid::BYTEA, "00ff"),
        (Cell::Text("a"), oid::CHAR, "61"),
        (Cell::Text("2000-01-01"), oid::DATE, "00000000"),
        (Cell::Text("1999-12-31"), oid::DATE, "ffffffff"),
        (Cell::Text("2024-02-29"), oid::DATE, "00002279"),
        (Cell::Text("0001-01-01"), oid::DATE, "fff4dbf9"),
        (Cell::Text("infinity"), oid::DATE, "7fffffff"),
        (Cell::Text("-infinity"), oid::DATE, "80000000"),
        (Cell::Text("4714-11-24 BC"), oid::DATE, "ffda97a7"),
        (
            Cell::Text("2000-01-01 00:00:00"),
            oid::TIMESTAMP,
            "0000000000000000",
        ),
        (
            Cell::Text("2024-01-02 03:04:05.123456"),
            oid::TIMESTAMP,
            "0002b0ec8517d580",
        ),
        (Cell::Text("1970-01-01"), oid::TIMESTAMP, "fffca2fec4c82000"),
        (Cell::Text("infinity"), oid::TIMESTAMP, "7fffffffffffffff"),
        (
            Cell::Text("-infinity"),
            oid::TIMESTAMPTZ,
            "8000000000000000",
        ),
        (
            Cell::Text("2024-01-02 03:04:05.123456+02"),
            oid::TIMESTAMPTZ,
            "0002b0ead7f08d80",
        ),
        (Cell::Text("24:00:00"), oid::TIME, "000000141dd76000"),
        (Cell::Text("13:14:15.5"), oid::TIME, "0000000b187d38e0"),
        (
            Cell::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            oid::UUID,
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        ),
        (
            Cell::Numeric("12.340"),
            oid::NUMERIC,
            "0002000000000003000c0d48",
        ),
        (Cell::Numeric("0.00"), oid::NUMERIC, "0000000000000002"),
        (Cell::Text("NaN"), oid::NUMERIC, "00000000c0000000"),
        (Cell::Text("-Infinity"), oid::NUMERIC, "00000000f0000020"),
    ];
    for (cell, oid, want) in cases {
        assert_eq!(
            binary(cell, oid),
            hex(want),
            "{cell:?} as {}",
            type_name(oid)
        );
        // The same bytes decode back, and re-encode identically.
        let value = from_binary(&hex(want), oid).unwrap();
        assert_eq!(binary(value.as_cell(), oid), hex(want), "{value:?}");
    }
}

/// Type modifiers applied as PostgreSQL 15.18 stores the values
/// (`SELECT 12.3::float8::numeric(10,2)`, `bpcharsend('ab'::char(5))` ...).
#[test]
fn typmods_shape_values_like_postgres() {
    let with = |cell: Cell<'_>, oid: Oid, typmod: i32| {
        let mut out = BytesMut::new();
        encode_text_with_typmod(cell, oid, typmod, &mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    };
    let with_binary = |cell: Cell<'_>, oid: Oid, typmod: i32| {
        let mut out = BytesMut::new();
        encode_binary_with_typmod(cell, oid, typmod, &mut out).unwrap();
        out.to_vec()
    };
    let numeric_10_2 = (10 << 16 | 2) + 4;
    assert_eq!(with(Cell::Float(12.3), oid::NUMERIC, numeric_10_2), "12.30");
    assert_eq!(
        with(Cell::Numeric("9.995"), oid::NUMERIC, numeric_10_2),
        "10.00"
    );
    assert_eq!(with(Cell::Int(7), oid::NUMERIC, numeric_10_2), "7.00");
    assert_eq!(with(Cell::Float(12.3), oid::NUMERIC, -1), "12.3");
    assert_eq!(
        with_binary(Cell::Float(12.3), oid::NUMERIC, numeric_10_2),
        hex("0002000000000002000c0bb8")
    );
    assert_eq!(with(Cell::Text("ab"), oid::BPCHAR, 5 + 4), "ab   ");
    assert_eq!(with(Cell::Text("é"), oid::BPCHAR, 3 + 4), "é  ");
    assert_eq!(with(Cell::Int(42), oid::BPCHAR, 4 + 4), "42  ");
    assert_eq!(with(Cell::Text("abcdef"), oid::BPCHAR, 3 + 4), "abcdef");
    assert_eq!(with(Cell::Text("ab"), oid::BPCHAR, -1), "ab");
    assert_eq!(
        with_binary(Cell::Text("ab"), oid::BPCHAR, 5 + 4),
        hex("6162202020")
    );
    assert_eq!(
        with(Cell::Text("2024-01-02 03:04:05.5555555"), oid::TIMESTAMP, 2),
        "2024-01-02 03:04:05.56"
    );
    assert_eq!(
        with(Cell::Text("2024-01-02 03:04:05.5"), oid::TIMESTAMPTZ, 0),
        "2024-01-02 03:04:06+00"
    );
    assert_eq!(with(Cell::Text("12:00:00.5"), oid::TIME, 0), "12:00:01");
    assert_eq!(
        with_binary(Cell::Text("12:00:00.5"), oid::TIME, 0),
        binary(Cell::Text("12:00:01"), oid::TIME)
    );
    // Type modifiers of other types change nothing.
    assert_eq!(with(Cell::Text("abc"), oid::VARCHAR, 2 + 4), "abc");
}

#[test]
fn unsupported_binary_is_refused_cleanly() {
    for oid in [oid::INTERVAL, oid::TIMETZ, oid::INT4_ARRAY, 123_456] {
        assert!(!supports_binary(oid));
        let mut out = BytesMut::from(&b"keep"[..]);
        let e = encode_binary(Cell::Text("1 day"), oid, &mut out).unwrap_err();
        assert_eq!(e.code, "0A000");
        assert_eq!(&out[..], b"keep");
        assert_eq!(from_binary(b"x", oid).unwrap_err().code, "0A000");
    }
    let e = encode_binary(Cell::Text("1 day"), oid::INTERVAL, &mut BytesMut::new()).unwrap_err();
    assert_eq!(
        e.message,
        "binary output for type interval is not supported"
    );
    let e = encode_binary(Cell::Int(1), 123_456, &mut BytesMut::new()).unwrap_err();
    assert_eq!(
        e.message,
        "binary output for type with OID 123456 is not supported"
    );
    // A failing conversion leaves no partial jsonb version byte behind.
    let mut out = BytesMut::new();
    assert!(encode_binary(Cell::Bytes(&[0xff]), oid::JSONB, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn text_params_are_typed() {
    assert_eq!(from_text("t", oid::BOOL).unwrap(), Value::Bool(true));
    assert_eq!(
        from_text(" -32768 ", oid::INT2).unwrap(),
        Value::Int(-32768)
    );
    assert_eq!(
        from_text("2147483647", oid::INT4).unwrap(),
        Value::Int(2147483647)
    );
    assert_eq!(
        from_text("-9223372036854775808", oid::INT8).unwrap(),
        Value::Int(i64::MIN)
    );
    assert_eq!(from_text("-1", oid::OID).unwrap(), Value::Int(4294967295));
    assert_eq!(
        from_text("Infinity", oid::FLOAT8).unwrap(),
        Value::Float(f64::INFINITY)
    );
    assert_eq!(
        from_text("0.1", oid::FLOAT4).unwrap(),
        Value::Float(f64::from(0.1f32))
    );
    assert!(matches!(from_text("NaN", oid::FLOAT8).unwrap(), Value::Float(f) if f.is_nan()));
    assert_eq!(
        from_text("+1.50e1", oid::NUMERIC).unwrap(),
        Value::Numeric("15.0".into())
    );
    assert_eq!(
        from_text("\\x0aFF", oid::BYTEA).unwrap(),
        Value::Bytes(vec![10, 255])
    );
    assert_eq!(
        from_text("a\\\\b", oid::BYTEA).unwrap(),
        Value::Bytes(b"a\\b".to_vec())
    );
    assert_eq!(
        from_text("2024-1-2", oid::DATE).unwrap(),
        Value::Text("2024-01-02".into())
    );
    assert_eq!(
        from_text("1:2:3.40", oid::TIME).unwrap(),
        Value::Text("01:02:03.4".into())
    );
    assert_eq!(
        from_text("2024-01-02T03:04:05-01:30", oid::TIMESTAMPTZ).unwrap(),
        Value::Text("2024-01-02 04:34:05+00".into())
    );
    assert_eq!(
        from_text("2024-01-02T03:04:05-01:30", oid::TIMESTAMP).unwrap(),
        Value::Text("2024-01-02 03:04:05".into())
    );
    assert_eq!(
        from_text("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", oid::UUID).unwrap(),
        Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
    );
    assert_eq!(
        from_text("{\"a\": [1]}", oid::JSONB).unwrap(),
        Value::Text("{\"a\": [1]}".into())
    );
    for oid in [
        oid::TEXT,
        oid::VARCHAR,
        oid::BPCHAR,
        oid::UNKNOWN,
        oid::UNSPECIFIED,
        oid::INTERVAL,
    ] {
        assert_eq!(from_text(" x ", oid).unwrap(), Value::Text(" x ".into()));
    }
    let long = "n".repeat(70);
    assert_eq!(
        from_text(&long, oid::NAME).unwrap(),
        Value::Text("n".repeat(63))
    );
    let accents = "é".repeat(40);
    assert_eq!(
        from_text(&accents, oid::NAME).unwrap(),
        Value::Text("é".repeat(31))
    );
}

#[test]
fn text_param_errors_match_postgres() {
    let cases: &[(&str, Oid, &str, &str)] = &[
        (
            "abc",
            oid::INT4,
            "22P02",
            "invalid input syntax for type integer: \"abc\"",
        ),
        (
            "99999",
            oid::INT2,
            "22003",
            "value \"99999\" is out of range for type smallint",
        ),
        (
            "yes please",
            oid::BOOL,
            "22P02",
            "invalid input syntax for type boolean: \"yes please\"",
        ),
        (
            "1e400",
            oid::FLOAT8,
            "22003",
            "\"1e400\" is out of range for type double precision",
        ),
        (
            "x",
            oid::NUMERIC,
            "22P02",
            "invalid input syntax for type numeric: \"x\"",
        ),
        (
            "\\x0",
            oid::BYTEA,
            "22023",
            "invalid hexadecimal data: odd number of digits",
        ),
        (
            "2024-02-30",
            oid::DATE,
            "22008",
            "date/time field value out of range: \"2024-02-30\"",
        ),
        (
            "soon",
            oid::TIMESTAMP,
            "22007",
            "invalid input syntax for type timestamp: \"soon\"",
        ),
        (
            "12-34",
            oid::UUID,
            "22P02",
            "invalid input syntax for type uuid: \"12-34\"",
        ),
        (
            "{",
            oid::JSON,
            "22P02",
            "invalid input syntax for type json",
        ),
    ];
    for &(input, oid, code, message) in cases {
        let e = from_text(input, oid).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code, message), "{input:?}");
    }
}

#[test]
fn invalid_utf8_is_reported_like_postgres() {
    let cases: &[(&[u8], &str)] = &[
        (b"ab\xc3\x28", "0xc3 0x28"),
        (b"\xff", "0xff"),
        (b"a\xe2\x82", "0xe2 0x82"),
        (b"\xf0\x9f\x98", "0xf0 0x9f 0x98"),
        (b"a\x00b", "0x00"),
        (b"\xed\xa0\x80", "0xed 0xa0 0x80"),
    ];
    for &(bytes, shown) in cases {
        for format in [Format::Text, Format::Binary] {
            let e = decode_param(bytes, oid::TEXT, format).unwrap_err();
            assert_eq!(e.code, "22021");
            assert_eq!(
                e.message,
                format!("invalid byte sequence for encoding \"UTF8\": {shown}")
            );
        }
    }
}

#[test]
fn binary_params_have_exact_lengths() {
    let fixed: &[(Oid, usize)] = &[
        (oid::BOOL, 1),
        (oid::CHAR, 1),
        (oid::INT2, 2),
        (oid::INT4, 4),
        (oid::OID, 4),
        (oid::FLOAT4, 4),
        (oid::DATE, 4),
        (oid::INT8, 8),
        (oid::FLOAT8, 8),
        (oid::TIME, 8),
        (oid::TIMESTAMP, 8),
        (oid::TIMESTAMPTZ, 8),
        (oid::UUID, 16),
    ];
    for &(oid, len) in fixed {
        for wrong in [0, len - 1, len + 1] {
            let e = from_binary(&vec![0; wrong], oid).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                ("22P03", "incorrect binary data format"),
                "{oid} {wrong}"
            );
        }
        assert!(from_binary(&vec![0; len], oid).is_ok(), "{oid}");
    }
    assert_eq!(from_binary(&[], oid::JSONB).unwrap_err().code, "22P03");
    assert_eq!(
        from_binary(&[2, b'1'], oid::JSONB).unwrap_err().code,
        "XX000"
    );
    assert_eq!(
        from_binary(b"\x011", oid::JSONB).unwrap(),
        Value::Text("1".into())
    );
    assert_eq!(from_binary(&[], oid::NUMERIC).unwrap_err().code, "22P03");
}

#[test]
fn binary_params_decode_to_values() {
    assert_eq!(from_binary(&[7], oid::BOOL).unwrap(), Value::Bool(true));
    assert_eq!(
        from_binary(&[0x80, 0], oid::INT2).unwrap(),
        Value::Int(-32768)
    );
    assert_eq!(
        from_binary(&[0xff; 4], oid::OID).unwrap(),
        Value::Int(4294967295)
    );
    assert_eq!(
        from_binary(&hex("3dcccccd"), oid::FLOAT4).unwrap(),
        Value::Float(f64::from(0.1f32))
    );
    assert_eq!(
        from_binary(&hex("0002000000000003000c0d48"), oid::NUMERIC).unwrap(),
        Value::Numeric("12.340".into())
    );
    assert_eq!(
        from_binary(&hex("00002279"), oid::DATE).unwrap(),
        Value::Text("2024-02-29".into())
    );
    assert_eq!(
        from_binary(&hex("7fffffff"), oid::DATE).unwrap(),
        Value::Text("infinity".into())
    );
    assert_eq!(
        from_binary(&hex("0002b0ead7f08d80"), oid::TIMESTAMPTZ).unwrap(),
        Value::Text("2024-01-02 01:04:05.123456+00".into())
    );
    assert_eq!(
        from_binary(&hex("0002b0ec8517d580"), oid::TIMESTAMP).unwrap(),
        Value::Text("2024-01-02 03:04:05.123456".into())
    );
    assert_eq!(
        from_binary(&hex("0000000b187d38e0"), oid::TIME).unwrap(),
        Value::Text("13:14:15.5".into())
    );
    assert_eq!(
        from_binary(&hex("7fffffffffffffff"), oid::TIME)
            .unwrap_err()
            .message,
        "time out of range"
    );
    assert_eq!(
        from_binary(&hex("7ffffffe"), oid::DATE)
            .unwrap_err()
            .message,
        "date out of range"
    );
    assert_eq!(
        from_binary(b"\x00\xff", oid::BYTEA).unwrap(),
        Value::Bytes(vec![0, 255])
    );
    assert_eq!(
        from_binary("hé".as_bytes(), oid::VARCHAR).unwrap(),
        Value::Text("hé".into())
    );
    assert_eq!(
        from_binary(b"x", oid::UNSPECIFIED).unwrap(),
        Value::Text("x".into())
    );
}

/// Boundary values survive text and binary round trips through the
/// encoders and decode_param.
#[test]
fn round_trips_at_boundaries() {
    let ints: &[(Oid, &[i64])] = &[
        (
            oid::INT2,
            &[i64::from(i16::MIN), -1, 0, 1, i64::from(i16::MAX)],
        ),
        (oid::INT4, &[i64::from(i32::MIN), 0, i64::from(i32::MAX)]),
        (oid::INT8, &[i64::MIN, -1, 0, i64::MAX]),
        (oid::OID, &[0, 1, 4294967295]),
    ];
    for &(oid, values) in ints {
        for &v in values {
            let via_text = from_text(&text(Cell::Int(v), oid), oid).unwrap();
            let via_binary = from_binary(&binary(Cell::Int(v), oid), oid).unwrap();
            assert_eq!(via_text, Value::Int(v));
            assert_eq!(via_binary, Value::Int(v));
        }
    }

    let floats = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1e-310,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        123_456_789.123_456_79,
        1e15,
        1e16,
        9.5e21,
    ];
    for v in floats {
        for oid in [oid::FLOAT8, oid::FLOAT4] {
            let expected = if oid == oid::FLOAT4 {
                match float::narrow_f64(v) {
                    Ok(f) => f64::from(f),
                    Err(_) => continue,
                }
            } else {
                v
            };
            let Value::Float(t) = from_text(&text(Cell::Float(v), oid), oid).unwrap() else {
                panic!()
            };
            let Value::Float(b) = from_binary(&binary(Cell::Float(v), oid), oid).unwrap() else {
                panic!()
            };
            assert_eq!(t.to_bits(), expected.to_bits(), "{v:e} text as {oid}");
            assert_eq!(b.to_bits(), expected.to_bits(), "{v:e} binary as {oid}");
        }
    }
    let nan = from_binary(&binary(Cell::Float(f64::NAN), oid::FLOAT8), oid::FLOAT8).unwrap();
    assert!(matches!(nan, Value::Float(f) if f.is_nan()));

    let numerics = [
        "0",
        "0.00",
        "0.0001",
        "-0.0001",
        "100000000000000000000",
        "123456789012345678901234567890.123456789",
        "-12.340",
        "9999.9999",
        "10000.0001",
        "NaN",
        "Infinity",
        "-Infinity",
        "0.000000000000000000000000000001",
    ];
    for n in numerics {
        assert_eq!(
            from_text(&text(Cell::Numeric(n), oid::NUMERIC), oid::NUMERIC).unwrap(),
            Value::Numeric(n.into())
        );
        assert_eq!(
            from_binary(&binary(Cell::Numeric(n), oid::NUMERIC), oid::NUMERIC).unwrap(),
            Value::Numeric(n.into())
        );
    }

    let dates = [
        "2000-01-01",
        "1999-12-31",
        "2024-02-29",
        "2000-02-29",
        "1900-02-28",
        "0001-01-01",
        "0001-12-31 BC",
        "4714-11-24 BC",
        "5874897-12-31",
        "infinity",
        "-infinity",
    ];
    for d in dates {
        assert_eq!(
            from_text(&text(Cell::Text(d), oid::DATE), oid::DATE).unwrap(),
            Value::Text(d.into())
        );
        assert_eq!(
            from_binary(&binary(Cell::Text(d), oid::DATE), oid::DATE).unwrap(),
            Value::Text(d.into())
        );
    }
    let stamps = [
        "2000-01-01 00:00:00",
        "1999-12-31 23:59:59.999999",
        "2024-02-29 12:00:00.5",
        "0001-01-01 00:00:00",
        "4714-11-24 00:00:00 BC",
        "294276-12-31 23:59:59.999999",
        "1970-01-01 00:00:00.000001",
        "infinity",
    ];
    for t in stamps {
        assert_eq!(
            from_text(&text(Cell::Text(t), oid::TIMESTAMP), oid::TIMESTAMP).unwrap(),
            Value::Text(t.into())
        );
        assert_eq!(
            from_binary(&binary(Cell::Text(t), oid::TIMESTAMP), oid::TIMESTAMP).unwrap(),
            Value::Text(t.into())
        );
    }
    for t in ["00:00:00", "23:59:59.999999", "24:00:00", "12:00:00.000001"] {
        assert_eq!(
            from_binary(&binary(Cell::Text(t), oid::TIME), oid::TIME).unwrap(),
            Value::Text(t.into())
        );
    }
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(
        from_text(&text(Cell::Bytes(&bytes), oid::BYTEA), oid::BYTEA).unwrap(),
        Value::Bytes(bytes.clone())
    );
    assert_eq!(
        from_binary(&binary(Cell::Bytes(&bytes), oid::BYTEA), oid::BYTEA).unwrap(),
        Value::Bytes(bytes)
    );
}

/// A tiny deterministic generator (xorshift64*), enough for fuzzing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Random bytes biased toward the characters parsers care about.
    fn bytes(&mut self) -> Vec<u8> {
        const ALPHABET: &[u8] = b"0123456789+-.:eE TtZz{}[]\",\\xaAfFnNuU/BCbc\x00\x7f\xc3\xa9\xff";
        let len = self.below(40);
        (0..len)
            .map(|_| {
                if self.below(4) == 0 {
                    self.next() as u8
                } else {
                    ALPHABET[self.below(ALPHABET.len())]
                }
            })
            .collect()
    }
}

const ALL_OIDS: &[Oid] = &[
    oid::UNSPECIFIED,
    oid::BOOL,
    oid::BYTEA,
    oid::CHAR,
    oid::NAME,
    oid::INT8,
    oid::INT2,
    oid::INT4,
    oid::TEXT,
    oid::OID,
    oid::JSON,
    oid::FLOAT4,
    oid::FLOAT8,
    oid::UNKNOWN,
    oid::BPCHAR,
    oid::VARCHAR,
    oid::DATE,
    oid::TIME,
    oid::TIMESTAMP,
    oid::TIMESTAMPTZ,
    oid::INTERVAL,
    oid::NUMERIC,
    oid::UUID,
    oid::JSONB,
    oid::TIMETZ,
    oid::INT4_ARRAY,
    999_999,
];

/// Random input never panics, and whatever decodes re-encodes.
#[test]
fn randomized_inputs_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut out = BytesMut::new();
    for round in 0..20_000u32 {
        let bytes = rng.bytes();
        let oid = ALL_OIDS[rng.below(ALL_OIDS.len())];
        for format in [Format::Text, Format::Binary] {
            if let Ok(value) = decode_param(&bytes, oid, format) {
                out.clear();
                let _ = encode_text(value.as_cell(), oid, &mut out);
                let _ = encode_binary(value.as_cell(), oid, &mut out);
            }
        }
        let as_text = String::from_utf8_lossy(&bytes);
        let float = f64::from_bits(rng.next());
        let cells = [
            Cell::Text(&as_text),
            Cell::Numeric(&as_text),
            Cell::Bytes(&bytes),
            Cell::Int(rng.next() as i64),
            Cell::Int(i64::from(rng.next() as i16)),
            Cell::Float(float),
            Cell::Float(f64::from(f32::from_bits(rng.next() as u32))),
            Cell::Bool(round.is_multiple_of(2)),
        ];
        let typmods = [
            -1,
            0,
            2,
            9,
            (10 << 16 | 2) + 4,
            (5 << 16 | 0x7fe) + 4,
            rng.next() as i32 % 5000,
        ];
        let typmod = typmods[rng.below(typmods.len())];
        for cell in cells {
            out.clear();
            let _ = encode_text(cell, oid, &mut out);
            let _ = encode_binary(cell, oid, &mut out);
            let _ = encode_text_with_typmod(cell, oid, typmod, &mut out);
            let _ = encode_binary_with_typmod(cell, oid, typmod, &mut out);
        }
        let _ = parse_type_name(&as_text);
    }
}

/// Binary values with valid lengths but random contents: every decode
/// either fails cleanly or re-encodes to the same bytes where the type's
/// binary form is canonical.
#[test]
fn randomized_binary_values_round_trip() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let canonical: &[(Oid, usize)] = &[
        (oid::INT2, 2),
        (oid::INT4, 4),
        (oid::INT8, 8),
        (oid::OID, 4),
        (oid::FLOAT8, 8),
        (oid::DATE, 4),
        (oid::TIME, 8),
        (oid::TIMESTAMP, 8),
        (oid::TIMESTAMPTZ, 8),
        (oid::UUID, 16),
    ];
    for _ in 0..20_000 {
        let (oid, len) = canonical[rng.below(canonical.len())];
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0
            && matches!(
                oid,
                oid::DATE | oid::TIME | oid::TIMESTAMP | oid::TIMESTAMPTZ
            )
        {
            // Keep the value small enough to be in range.
            bytes[0] = 0;
            bytes[1] &= 0x0f;
        }
        let Ok(value) = from_binary(&bytes, oid) else {
            continue;
        };
        if matches!(value, Value::Float(f) if f.is_nan()) {
            continue;
        }
        assert_eq!(binary(value.as_cell(), oid), bytes, "{value:?} as {oid}");
        // And through the text form too.
        let again = from_text(&text(value.as_cell(), oid), oid).unwrap();
        assert_eq!(again, value, "{oid}");
    }
    // Random numerics: header sane, digits random.
    for _ in 0..5_000 {
        let ndigits = rng.below(6);
        let weight = rng.below(12) as i16 - 6;
        let sign: u16 = if rng.below(2) == 0 { 0 } else { 0x4000 };
        let dscale = rng.below(30) as u16;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(ndigits as u16).to_be_bytes());
        bytes.extend_from_slice(&weight.to_be_bytes());
        bytes.extend_from_slice(&sign.to_be_bytes());
        bytes.extend_from_slice(&dscale.to_be_bytes());
        for _ in 0..ndigits {
            bytes.extend_from_slice(&((rng.next() % 10000) as u16).to_be_bytes());
        }
        let Value::Numeric(n) = from_binary(&bytes, oid::NUMERIC).unwrap() else {
            panic!()
        };
        // Canonical text is a fixed point of numeric_in/numeric_out ...
        assert_eq!(
            from_text(&n, oid::NUMERIC).unwrap(),
            Value::Numeric(n.clone())
        );
        // ... and of numeric_send/numeric_recv.
        let resent = binary(Cell::Numeric(&n), oid::NUMERIC);
        assert_eq!(
            from_binary(&resent, oid::NUMERIC).unwrap(),
            Value::Numeric(n)
        );
    }
}

/// The single-value functions backends call, with PostgreSQL 15.18's
/// answers (`SELECT '...'::type(p)` with TimeZone UTC).
#[test]
fn single_values_for_backends() {
    assert_eq!(parse_bool(" of ").ok(), Some(false));
    assert_eq!(
        parse_bool("o").unwrap_err().message,
        "invalid input syntax for type boolean: \"o\""
    );
    assert_eq!(parse_bytea("\\x41 42").ok(), Some(b"AB".to_vec()));
    assert_eq!(parse_bytea("\\X41").unwrap_err().code, "22P02");

    let typmod = |p, s| numeric_typmod(p, s).unwrap();
    assert_eq!(numeric_text(" 1.50 ", -1).unwrap(), "1.50");
    assert_eq!(numeric_text("1.555", typmod(5, 2)).unwrap(), "1.56");
    assert_eq!(
        numeric_text("123.456", typmod(4, 2))
            .unwrap_err()
            .detail
            .as_deref(),
        Some("A field with precision 4, scale 2 must round to an absolute value less than 10^2.")
    );
    assert_eq!(numeric_typmod(10, 2), Some(655_366));
    assert_eq!(numeric_typmod(0, 0), None);
    assert_eq!(numeric_typmod(5, 1001), None);

    // 2024-01-02 03:04:05.5 UTC stands for the transaction start.
    let now = 1_704_164_645_500_000;
    let dt = |s: &str, oid: Oid, typmod: i32| datetime_text(s, oid, typmod, now);
    assert_eq!(
        dt("now", oid::TIMESTAMPTZ, -1).unwrap(),
        "2024-01-02 03:04:05.5+00"
    );
    assert_eq!(dt("now", oid::TIMESTAMP, 0).unwrap(), "2024-01-02 03:04:06");
    assert_eq!(dt("today", oid::DATE, -1).unwrap(), "2024-01-02");
    assert_eq!(dt("now", oid::TIME, -1).unwrap(), "03:04:05.5");
    assert_eq!(dt("10:00:00.25 pm", oid::TIME, 1).unwrap(), "22:00:00.3");
    assert_eq!(
        dt("2024-01-05 10:00:00.5 +05:30", oid::TIMESTAMPTZ, -1).unwrap(),
        "2024-01-05 04:30:00.5+00"
    );
    assert_eq!(
        dt("x", oid::DATE, -1).unwrap_err().message,
        "invalid input syntax for type date: \"x\""
    );
    assert_eq!(dt("2024-01-02", oid::TEXT, -1).unwrap_err().code, "XX000");

    assert_eq!(date_text(0).unwrap(), "1970-01-01");
    assert_eq!(date_text(-719_163).unwrap(), "0001-12-31 BC");
    assert_eq!(date_text(i64::MAX).unwrap_err().code, "22008");
    assert_eq!(time_text(3_661_000_000, -1), "01:01:01");
    assert_eq!(time_text(86_399_600_000, 0), "24:00:00");
    assert_eq!(
        timestamp_text(now, true, -1).unwrap(),
        "2024-01-02 03:04:05.5+00"
    );
    assert_eq!(
        timestamp_text(now, false, 0).unwrap(),
        "2024-01-02 03:04:06"
    );
    assert_eq!(
        timestamp_text(-62_135_683_200_000_000, true, -1).unwrap(),
        "0001-12-31 00:00:00+00 BC"
    );
    assert_eq!(
        timestamp_text(i64::MIN, false, -1).unwrap_err().code,
        "22008"
    );
}
