//! tokio-postgres driver of the client matrix (run by tests/clients/run, not
//! on its own): extended protocol with server-described parameter types and
//! binary parameters and results for every type, TLS through
//! tokio-postgres-rustls (which computes tls-server-end-point, so
//! `channel_binding=require` means SCRAM-SHA-256-PLUS), cancel through
//! `CancelToken::cancel_query` over the same TLS setup.
//!
//! Reads PGIRIS_MATRIX_* from the environment and prints one JSON line per
//! case (tests/clients/README.md). Types without a std equivalent (numeric,
//! date, uuid) are encoded and decoded here from PostgreSQL's binary format,
//! so the check is on the exact bytes.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::json;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

type BoxError = Box<dyn StdError + Sync + Send>;
type CaseResult = Result<String, String>;

const CLIENT: &str = "tokio-postgres";
/// 57014 must arrive this soon after the cancel (issue 5: well under 1s).
const CANCEL_DEADLINE: Duration = Duration::from_secs(2);

struct Env {
    host: String,
    port: u16,
    user: String,
    password: String,
    dbname: String,
    scram: bool,
    tls: bool,
    sslmode: String,
    ca_file: String,
    table: String,
    ddl: String,
    fixture_insert: String,
    long_query: String,
    cancel_after: Duration,
    cancel_wait: Duration,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn secs(name: &str, default: f64) -> Duration {
    let v = var(name, "").parse::<f64>().unwrap_or(default);
    Duration::from_secs_f64(if v.is_finite() && v >= 0.0 {
        v
    } else {
        default
    })
}

impl Env {
    fn load() -> Env {
        let tls = var("PGIRIS_MATRIX_TLS", "0") == "1";
        Env {
            host: var("PGIRIS_MATRIX_HOST", "127.0.0.1"),
            port: var("PGIRIS_MATRIX_PORT", "5432").parse().unwrap_or(5432),
            user: var("PGIRIS_MATRIX_USER", "postgres"),
            password: var("PGIRIS_MATRIX_PASSWORD", "postgres"),
            dbname: var("PGIRIS_MATRIX_DBNAME", "postgres"),
            scram: var("PGIRIS_MATRIX_AUTH", "trust") == "scram",
            tls,
            sslmode: var(
                "PGIRIS_MATRIX_SSLMODE",
                if tls { "require" } else { "disable" },
            ),
            ca_file: var("PGIRIS_MATRIX_CA_FILE", ""),
            table: var("PGIRIS_MATRIX_TABLE", "matrix_t"),
            ddl: var("PGIRIS_MATRIX_DDL", ""),
            fixture_insert: var("PGIRIS_MATRIX_FIXTURE_INSERT", ""),
            long_query: var("PGIRIS_MATRIX_LONG_QUERY", ""),
            cancel_after: secs("PGIRIS_MATRIX_CANCEL_AFTER", 0.5),
            cancel_wait: secs("PGIRIS_MATRIX_CANCEL_WAIT", 5.0),
        }
    }

    fn scram_plus(&self) -> bool {
        self.scram && self.tls
    }

    fn config(&self) -> Config {
        let mut c = Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(&self.dbname)
            .application_name("pgiris-matrix")
            .connect_timeout(Duration::from_secs(10))
            .ssl_mode(if self.tls {
                SslMode::Require
            } else {
                SslMode::Disable
            })
            .channel_binding(if self.scram_plus() {
                ChannelBinding::Require
            } else if self.scram {
                ChannelBinding::Prefer
            } else {
                // A trust login has no SASL exchange; Require would refuse it.
                ChannelBinding::Disable
            });
        c
    }
}

/// "require" checks nothing, as libpq; "verify-full" checks the dev
/// certificate (which names 127.0.0.1) against PGIRIS_MATRIX_CA_FILE.
fn tls_connector(env: &Env) -> Result<MakeRustlsConnect, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if env.sslmode.starts_with("verify") {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&env.ca_file)?;
        for cert in rustls_pemfile_certs(&pem)? {
            roots.add(cert)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertCheck(provider)))
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, BoxError> {
    use rustls::pki_types::pem::PemObject;
    let mut out = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        out.push(cert?);
    }
    Ok(out)
}

/// sslmode=require: the certificate is not checked, the handshake
/// signatures still are.
#[derive(Debug)]
struct NoCertCheck(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoCertCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// --- output -------------------------------------------------------------------

fn emit(case: &str, ok: bool, detail: &str) {
    println!(
        "{}",
        json!({"client": CLIENT, "case": case, "ok": ok, "detail": detail})
    );
}

fn start(case: &str) {
    println!("{}", json!({"client": CLIENT, "case": case, "start": true}));
}

async fn case<F: Future<Output = CaseResult>>(name: &str, f: F) -> bool {
    start(name);
    match f.await {
        Ok(detail) => {
            emit(name, true, &detail);
            true
        }
        Err(detail) => {
            emit(name, false, &detail);
            false
        }
    }
}

/// An error as one line, with its SQLSTATE when the server sent one.
fn describe(e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => format!("[{}] {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = e.source();
            while let Some(inner) = source {
                let _ = write!(s, ": {inner}");
                source = inner.source();
            }
            s
        }
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn expect_code(
    r: Result<impl std::fmt::Debug, tokio_postgres::Error>,
    want: &SqlState,
) -> CaseResult {
    match r {
        Ok(v) => Err(format!(
            "expected SQLSTATE {}, but it succeeded ({v:?})",
            want.code()
        )),
        Err(e) if e.code() == Some(want) => Ok(describe(&e)),
        Err(e) => Err(format!(
            "expected SQLSTATE {}, got {}",
            want.code(),
            describe(&e)
        )),
    }
}

// --- the fixture and binary formats -----------------------------------------

const PG_EPOCH_UNIX: i64 = 946_684_800;

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 2024-02-29 as days since 2000-01-01.
fn fixture_date() -> i32 {
    (days_from_civil(2024, 2, 29) - days_from_civil(2000, 1, 1)) as i32
}

/// 2024-02-29 12:34:56.789012 as microseconds since 2000-01-01 00:00.
fn fixture_micros() -> i64 {
    let days = days_from_civil(2024, 2, 29) - days_from_civil(2000, 1, 1);
    ((days * 86_400 + 12 * 3600 + 34 * 60 + 56) * 1_000_000) + 789_012
}

fn fixture_time() -> SystemTime {
    let micros = fixture_micros() + PG_EPOCH_UNIX * 1_000_000;
    UNIX_EPOCH + Duration::from_micros(micros as u64)
}

const TEXT: &str = "it's a \\ test \u{2713} \u{e9}";
const VARCHAR: &str = "varchar \u{2713}";
const NUMERIC: &str = "12345678.90";
const BYTEA: &[u8] = b"\x00\x01\xde\xad\xbe\xef\xff\\'";
const UUID: [u8; 16] = [
    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
];

const COLUMNS: [(&str, &str); 12] = [
    ("c_int", "int"),
    ("c_bigint", "bigint"),
    ("c_text", "text"),
    ("c_varchar", "varchar"),
    ("c_bool", "boolean"),
    ("c_float8", "double"),
    ("c_numeric", "numeric"),
    ("c_date", "date"),
    ("c_timestamp", "timestamp"),
    ("c_timestamptz", "timestamptz"),
    ("c_bytea", "bytea"),
    ("c_uuid", "uuid"),
];

/// A value in a binary format this driver encodes itself, for one type.
#[derive(Debug)]
struct Binary {
    ty: Type,
    bytes: Vec<u8>,
}

impl ToSql for Binary {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        if *ty != self.ty {
            return Err(format!(
                "server described the parameter as {ty}, expected {}",
                self.ty
            )
            .into());
        }
        out.extend_from_slice(&self.bytes);
        Ok(IsNull::No)
    }

    // The check is in to_sql, so the error names both types.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any value of any type, raw (for decoding numeric, date and uuid here).
#[derive(Debug)]
struct Raw {
    ty: Type,
    bytes: Vec<u8>,
}

impl<'a> FromSql<'a> for Raw {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Raw, BoxError> {
        Ok(Raw {
            ty: ty.clone(),
            bytes: raw.to_vec(),
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL's binary numeric from a plain decimal string ("12345678.90").
fn numeric_encode(s: &str) -> Vec<u8> {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let dscale = frac.len() as u16;
    let int = int.trim_start_matches('0');
    let pad_left = (4 - int.len() % 4) % 4;
    let pad_right = (4 - frac.len() % 4) % 4;
    let digits: String = "0".repeat(pad_left) + int + frac + &"0".repeat(pad_right);
    let mut groups: Vec<i16> = digits
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |a, d| a * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = ((pad_left + int.len()) / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

/// A binary numeric as PostgreSQL's text ("12345678.90"), or why not.
fn numeric_decode(b: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        b.get(i..i + 2)
            .map(|w| i16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(|| format!("numeric: {} bytes is too short", b.len()))
    };
    let ndigits = word(0)?;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    let dscale = word(6)? as u16 as usize;
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| "numeric: negative ndigits")?;
    if b.len() != 8 + 2 * ndigits {
        return Err(format!("numeric: {} bytes for {ndigits} digits", b.len()));
    }
    let groups: Vec<i32> = (0..ndigits)
        .map(|i| word(8 + 2 * i).map(i32::from))
        .collect::<Result<_, _>>()?;
    let group = |pos: i32| -> i32 {
        // Group `pos` counts from the most significant (weight) downwards.
        usize::try_from(weight - pos)
            .ok()
            .and_then(|i| groups.get(i).copied())
            .unwrap_or(0)
    };
    let mut int = String::new();
    for pos in (0..=weight.max(0)).rev() {
        let _ = write!(int, "{:04}", group(pos));
    }
    let int = int.trim_start_matches('0');
    let mut frac = String::new();
    let mut pos = -1;
    while frac.len() < dscale {
        let _ = write!(frac, "{:04}", group(pos));
        pos -= 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    let int = if int.is_empty() { "0" } else { int };
    Ok(if dscale > 0 {
        format!("{sign}{int}.{frac}")
    } else {
        format!("{sign}{int}")
    })
}

fn uuid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    if hex.len() != 32 {
        return format!("({} bytes) {hex}", b.len());
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Checks column `i` of the fixture row: its type and its value.
fn check_column(row: &Row, i: usize) -> CaseResult {
    check_at(row, i, i)
}

/// As `check_column` for a row holding only column `i` of the fixture.
fn check_single(row: &Row, i: usize) -> CaseResult {
    check_at(row, 0, i)
}

fn check_at(row: &Row, at: usize, i: usize) -> CaseResult {
    let (name, kind) = COLUMNS[i];
    let ty = row.columns()[at].type_().clone();
    let want_ty = match kind {
        "int" => Type::INT4,
        "bigint" => Type::INT8,
        "text" => Type::TEXT,
        "varchar" => Type::VARCHAR,
        "boolean" => Type::BOOL,
        "double" => Type::FLOAT8,
        "numeric" => Type::NUMERIC,
        "date" => Type::DATE,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "bytea" => Type::BYTEA,
        _ => Type::UUID,
    };
    if ty != want_ty {
        return Err(format!(
            "{name}: RowDescription says {ty} (oid {}), expected {want_ty}",
            ty.oid()
        ));
    }
    let err = |e: tokio_postgres::Error| format!("{name}: {}", describe(&e));
    let got = match kind {
        "int" => check_eq(row.try_get::<_, i32>(at).map_err(err)?, 2_147_483_647)?,
        "bigint" => check_eq(
            row.try_get::<_, i64>(at).map_err(err)?,
            9_007_199_254_740_993,
        )?,
        "text" => check_eq(row.try_get::<_, String>(at).map_err(err)?, TEXT.to_owned())?,
        "varchar" => check_eq(
            row.try_get::<_, String>(at).map_err(err)?,
            VARCHAR.to_owned(),
        )?,
        "boolean" => check_eq(row.try_get::<_, bool>(at).map_err(err)?, true)?,
        "double" => check_eq(
            row.try_get::<_, f64>(at).map_err(err)?,
            std::f64::consts::PI,
        )?,
        "numeric" => {
            let raw = row.try_get::<_, Raw>(at).map_err(err)?;
            check_eq(numeric_decode(&raw.bytes)?, NUMERIC.to_owned())?
        }
        "date" => {
            let raw = row.try_get::<_, Raw>(at).map_err(err)?;
            let days = <[u8; 4]>::try_from(raw.bytes.as_slice())
                .map(i32::from_be_bytes)
                .map_err(|_| format!("date: {} bytes", raw.bytes.len()))?;
            check_eq(days, fixture_date())?
        }
        "timestamp" | "timestamptz" => check_eq(
            row.try_get::<_, SystemTime>(at).map_err(err)?,
            fixture_time(),
        )?,
        "bytea" => check_eq(row.try_get::<_, Vec<u8>>(at).map_err(err)?, BYTEA.to_vec())?,
        _ => {
            let raw = row.try_get::<_, Raw>(at).map_err(err)?;
            check_eq(uuid_text(&raw.bytes), uuid_text(&UUID))?
        }
    };
    Ok(format!("{ty}: {got}"))
}

fn check_eq<T: PartialEq + std::fmt::Debug>(got: T, want: T) -> Result<String, String> {
    if got == want {
        Ok(format!("{got:?}"))
    } else {
        Err(format!("expected {want:?}, got {got:?}"))
    }
}

// --- the cases ----------------------------------------------------------------

struct Driver {
    env: Env,
    tls: MakeRustlsConnect,
}

impl Driver {
    async fn connect_with(&self, config: &Config) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn connect(&self) -> Result<Client, String> {
        self.connect_with(&self.env.config())
            .await
            .map_err(|e| describe(&e))
    }

    async fn refused(&self, config: Config, what: &str) -> CaseResult {
        match self.connect_with(&config).await {
            Ok(_) => Err(format!("auth not enforced: {what} was accepted")),
            Err(e) if e.code() == Some(&SqlState::INVALID_PASSWORD) => Ok(describe(&e)),
            Err(e) => Err(format!("{what}: expected 28P01, got {}", describe(&e))),
        }
    }

    /// Rows with `id` (simple protocol, so the count does not depend on
    /// parameter types or binary results, which other cases test).
    async fn count(client: &Client, table: &str, id: i32) -> Result<i64, String> {
        let sql = format!("SELECT count(*) FROM {table} WHERE id = {id}");
        let rows = client.simple_query(&sql).await.map_err(|e| describe(&e))?;
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or_else(|| format!("{sql}: no row"))?
            .parse()
            .map_err(|e| format!("{sql}: {e}"))
    }

    async fn transaction(&self, client: &mut Client, commit: bool) -> CaseResult {
        let t = &self.env.table;
        let id = if commit { 10 } else { 11 };
        let other = self.connect().await?;
        let tx = client.transaction().await.map_err(|e| describe(&e))?;
        let sql = format!("INSERT INTO {t} (id, c_text) VALUES ({id}, 'tx')");
        tx.batch_execute(&sql).await.map_err(|e| describe(&e))?;
        let own = Self::count(tx.client(), t, id).await?;
        if own != 1 {
            return Err(format!("own uncommitted row: count={own}"));
        }
        if Self::count(&other, t, id).await? != 0 {
            return Err("uncommitted row visible to another session".into());
        }
        let verb = if commit { "COMMIT" } else { "ROLLBACK" };
        if commit {
            tx.commit().await
        } else {
            tx.rollback().await
        }
        .map_err(|e| format!("{verb}: {}", describe(&e)))?;
        let want = i64::from(commit);
        let (mine, theirs) = (
            Self::count(client, t, id).await?,
            Self::count(&other, t, id).await?,
        );
        if mine != want || theirs != want {
            return Err(format!(
                "after {verb}: the session sees {mine} rows, another session {theirs}, expected {want}"
            ));
        }
        Ok("visibility checked from a second session".into())
    }

    async fn insert(&self, client: &Client) -> CaseResult {
        let t = &self.env.table;
        let sql = format!(
            "INSERT INTO {t} (id, c_int, c_bigint, c_text, c_varchar, c_bool, c_float8, \
             c_numeric, c_date, c_timestamp, c_timestamptz, c_bytea, c_uuid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let stmt = client.prepare(&sql).await.map_err(|e| describe(&e))?;
        let described: Vec<String> = stmt.params().iter().map(|p| p.name().to_owned()).collect();
        let numeric = Binary {
            ty: Type::NUMERIC,
            bytes: numeric_encode(NUMERIC),
        };
        let date = Binary {
            ty: Type::DATE,
            bytes: fixture_date().to_be_bytes().to_vec(),
        };
        let uuid = Binary {
            ty: Type::UUID,
            bytes: UUID.to_vec(),
        };
        let ts = fixture_time();
        let params: [&(dyn ToSql + Sync); 13] = [
            &1i32,
            &2_147_483_647i32,
            &9_007_199_254_740_993i64,
            &TEXT,
            &VARCHAR,
            &true,
            &std::f64::consts::PI,
            &numeric,
            &date,
            &ts,
            &ts,
            &BYTEA,
            &uuid,
        ];
        let n = client.execute(&stmt, &params).await.map_err(|e| {
            format!(
                "{} (parameter types described: {})",
                describe(&e),
                described.join(",")
            )
        })?;
        if n != 1 {
            return Err(format!("row count {n} for row 1"));
        }
        let nulls: [&(dyn ToSql + Sync); 13] = [
            &2i32,
            &None::<i32>,
            &None::<i64>,
            &None::<&str>,
            &None::<&str>,
            &None::<bool>,
            &None::<f64>,
            &None::<Binary>,
            &None::<Binary>,
            &None::<SystemTime>,
            &None::<SystemTime>,
            &None::<&[u8]>,
            &None::<Binary>,
        ];
        client
            .execute(&stmt, &nulls)
            .await
            .map_err(|e| format!("row 2 (NULLs): {}", describe(&e)))?;
        Ok(format!(
            "binary parameters, types described: {}",
            described.join(",")
        ))
    }

    async fn cancel(&self, client: &Client) -> CaseResult {
        let token = client.cancel_token();
        let tls = self.tls.clone();
        let after = self.env.cancel_after;
        let sender = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let sent = Instant::now();
            token.cancel_query(tls).await.map(|()| sent)
        });
        let run = client.simple_query(&self.env.long_query);
        let outcome = tokio::time::timeout(after + self.env.cancel_wait, run).await;
        let answered = Instant::now();
        let sent = match sender.await {
            Ok(Ok(sent)) => sent,
            Ok(Err(e)) => return Err(format!("cancel_query failed: {}", describe(&e))),
            Err(e) => return Err(format!("cancel task: {e}")),
        };
        match outcome {
            Err(_) => Err(format!(
                "no 57014 and no result {:.0}s after the cancel was sent: the query kept running",
                self.env.cancel_wait.as_secs_f64()
            )),
            Ok(Ok(_)) => Err("the query completed: the cancel had no effect".into()),
            Ok(Err(e)) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
                let elapsed = answered.saturating_duration_since(sent);
                if elapsed > CANCEL_DEADLINE {
                    return Err(format!(
                        "57014 arrived {:.2}s after the cancel (want < 2s)",
                        elapsed.as_secs_f64()
                    ));
                }
                let v = Self::count(client, &self.env.table, 1).await.map_err(|e| {
                    format!("57014 received, but the session is unusable after it: {e}")
                })?;
                if v > 1 {
                    return Err(format!("57014 received, then a count gave {v}"));
                }
                Ok(format!(
                    "57014 {} ms after the cancel (sent over {}); the session still works",
                    elapsed.as_millis(),
                    if self.env.tls { "TLS" } else { "plaintext" }
                ))
            }
            Ok(Err(e)) => Err(format!("expected 57014, got {}", describe(&e))),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = Env::load();
    println!(
        "{}",
        json!({"client": CLIENT, "meta": {"tls": "tokio-postgres-rustls (ring)"}})
    );
    let tls = match tls_connector(&env) {
        Ok(t) => t,
        Err(e) => {
            emit("connect", false, &format!("TLS setup: {e}"));
            return;
        }
    };
    let d = Driver { env, tls };
    let t = d.env.table.clone();

    start("connect");
    let mut client = match d.connect().await {
        Ok(c) => {
            // SslMode::Require: TLS or no connection at all.
            let detail = if !d.env.tls {
                "plaintext".to_owned()
            } else if d.env.sslmode.starts_with("verify") {
                "tls, certificate verified against PGIRIS_MATRIX_CA_FILE".to_owned()
            } else {
                "tls, certificate not checked (sslmode=require)".to_owned()
            };
            emit("connect", true, &detail);
            c
        }
        Err(e) => {
            emit("connect", false, &e);
            let mut rest: Vec<String> = [
                "server_version",
                "ddl",
                "insert_params",
                "nulls",
                "tx_commit",
                "tx_rollback",
                "error_42P01",
                "error_23505",
                "bad_password",
                "unknown_user",
                "cancel",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            rest.extend(COLUMNS.iter().map(|(_, k)| format!("type.{k}")));
            if d.env.scram_plus() {
                rest.push("scram_plus".into());
            }
            for c in rest {
                emit(&c, false, "not run: connect failed");
            }
            return;
        }
    };

    case("server_version", async {
        let rows = client
            .simple_query("SHOW server_version")
            .await
            .map_err(|e| describe(&e))?;
        let v = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or("SHOW server_version returned no row")?;
        let major: u32 = v
            .split(['.', ' '])
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or(format!("unparseable server_version {v:?}"))?;
        if major < 14 {
            return Err(format!("server_version {v:?}: expected 14 or later"));
        }
        Ok(v)
    })
    .await;

    case("ddl", async {
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {t}"))
            .await
            .map_err(|e| describe(&e))?;
        client
            .batch_execute(&d.env.ddl)
            .await
            .map_err(|e| describe(&e))?;
        Ok("created".into())
    })
    .await;

    let mut note = None;
    if !case("insert_params", d.insert(&client)).await
        && let Err(e) = client.batch_execute(&d.env.fixture_insert).await
    {
        note = Some(format!(
            "insert_params failed and so did the literal fixture INSERT: {}",
            describe(&e)
        ));
    }
    let cols: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
    let select = |id: i32| format!("SELECT {} FROM {t} WHERE id = {id}", cols.join(", "));
    // The whole row; when that fails, each column on its own, so one
    // unsupported type does not hide the others.
    let row = match client.query_opt(&select(1), &[]).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(note.clone().unwrap_or("SELECT returned no row".into())),
        Err(e) => Err(format!("SELECT failed: {}", describe(&e))),
    };
    for (i, (col, kind)) in COLUMNS.iter().enumerate() {
        let name = format!("type.{kind}");
        case(&name, async {
            match &row {
                Ok(r) => check_column(r, i),
                Err(_) if note.is_none() => {
                    let sql = format!("SELECT {col} FROM {t} WHERE id = 1");
                    match client.query_opt(&sql, &[]).await {
                        Ok(Some(r)) => check_single(&r, i),
                        Ok(None) => Err("SELECT returned no row".into()),
                        Err(e) => Err(format!("{col} alone: {}", describe(&e))),
                    }
                }
                Err(e) => Err(format!("no row: {e}")),
            }
        })
        .await;
    }
    case("nulls", async {
        let r = client
            .query_opt(&select(2), &[])
            .await
            .map_err(|e| describe(&e))?
            .ok_or("SELECT returned no row")?;
        let mut bad = Vec::new();
        for (i, (c, _)) in COLUMNS.iter().enumerate() {
            match r.try_get::<_, Option<Raw>>(i) {
                Ok(None) => {}
                Ok(Some(v)) => bad.push(format!("{c}={:?}", v.ty)),
                Err(e) => bad.push(format!("{c}: {}", describe(&e))),
            }
        }
        if bad.is_empty() {
            Ok("12 NULLs".into())
        } else {
            Err(format!(
                "expected NULL in every column, got: {}",
                bad.join(", ")
            ))
        }
    })
    .await;

    case("tx_commit", d.transaction(&mut client, true)).await;
    case("tx_rollback", d.transaction(&mut client, false)).await;
    case("error_42P01", async {
        expect_code(
            client
                .query("SELECT * FROM pgiris_matrix_no_such_table", &[])
                .await
                .map(|r| r.len()),
            &SqlState::UNDEFINED_TABLE,
        )
    })
    .await;
    case("error_23505", async {
        // Extended protocol without parameters (their types are another case).
        let sql = format!("INSERT INTO {t} (id) VALUES (100)");
        client
            .execute(&sql, &[])
            .await
            .map_err(|e| format!("first INSERT: {}", describe(&e)))?;
        expect_code(client.execute(&sql, &[]).await, &SqlState::UNIQUE_VIOLATION)
    })
    .await;
    case("bad_password", async {
        let mut c = d.env.config();
        c.password(format!("wrong-{}", d.env.password));
        d.refused(c, "a login with a wrong password").await
    })
    .await;
    case("unknown_user", async {
        let mut c = d.env.config();
        c.user("pgiris_matrix_no_such_user");
        d.refused(c, "a login as an unknown user").await
    })
    .await;
    if d.env.scram_plus() {
        case("scram_plus", async {
            let mut c = d.env.config();
            c.channel_binding(ChannelBinding::Require);
            d.connect_with(&c).await.map_err(|e| describe(&e))?;
            Ok("channel_binding=require accepted (SCRAM-SHA-256-PLUS)".into())
        })
        .await;
    }
    case("cancel", d.cancel(&client)).await;
}
