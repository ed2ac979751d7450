//! The bodies of the SuperServer messages a SQL client needs: request
//! encoders (client side) and reply decoders, plus the reply encoders the
//! test double uses (server side). Layouts: research §2.3 and §2.5–§2.7;
//! every request encoder is checked byte for byte against the captures.

use super::list::{Item, ListError, ListReader, ListWriter};
use super::sql;

/// The protocol the open-source and official pure-Python drivers ask for.
pub const PROTOCOL_65: u16 = 65;
/// The protocol of the official native, JDBC and Go drivers.
pub const PROTOCOL_69: u16 = 69;
/// The oldest protocol the drivers accept from a server.
pub const MIN_PROTOCOL: u16 = 61;

/// SQL text is sent in chunks of at most this many characters (the Go
/// driver's limit; the Python drivers send one chunk, which this equals for
/// every statement below the limit).
pub const SQL_CHUNK_CHARS: usize = 31_904;

/// HS request body: the protocol version, a raw u16.
pub fn handshake_body(protocol: u16) -> [u8; 2] {
    protocol.to_le_bytes()
}

/// HS reply: protocol to use, feature bits, server locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    pub protocol: u16,
    pub features: u16,
    pub locale: String,
}

impl HandshakeReply {
    /// Feature bit 0: strings above U+00FF travel as UTF-16.
    pub fn unicode(&self) -> bool {
        self.features & 1 != 0
    }

    /// Feature bit 1 (protocol 65 and later): compact doubles.
    pub fn compact_doubles(&self) -> bool {
        self.features & 2 != 0 && self.protocol >= 65
    }

    pub fn parse(body: &[u8]) -> Result<HandshakeReply, ListError> {
        if body.len() < 4 {
            return Err(ListError::Missing {
                expected: "protocol and feature bits",
            });
        }
        let protocol = u16::from_le_bytes([body[0], body[1]]);
        let features = u16::from_le_bytes([body[2], body[3]]);
        let mut r = ListReader::new(&body[4..]);
        let locale = match r.next_item()? {
            Some(item) => item.to_text().unwrap_or_default(),
            None => String::new(),
        };
        Ok(HandshakeReply {
            protocol,
            features,
            locale,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.protocol.to_le_bytes());
        out.extend_from_slice(&self.features.to_le_bytes());
        let mut w = ListWriter::new();
        w.push_str(&self.locale);
        out.extend_from_slice(w.as_bytes());
        out
    }
}

/// The 12 items of a `CN` request. Items 4–8 identify the client and are
/// only logged by the server; they are fields so tests can reproduce a
/// captured login exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFields {
    pub namespace: String,
    pub user: String,
    pub password: String,
    pub os_user: String,
    pub host: String,
    pub app_name: String,
    /// Item 7, "OS info, not used": 12 zero bytes by default.
    pub client_info: Vec<u8>,
    pub client_ip: String,
    /// Item 9; `None` sends NULL (as the official native driver does).
    pub event_class: Option<String>,
    pub autocommit: bool,
    pub isolation: i64,
    /// Item 12, requested feature options. 0: no fast select / insert (plain
    /// row format) and no redirected output (no server-initiated messages).
    pub features: i64,
}

impl LoginFields {
    pub fn encode(&self, unicode: bool) -> Vec<u8> {
        let mut w = ListWriter::new();
        w.push_str(&self.namespace);
        push_obfuscated(&mut w, &self.user, unicode);
        push_obfuscated(&mut w, &self.password, unicode);
        w.push_str(&self.os_user);
        w.push_str(&self.host);
        w.push_str(&self.app_name);
        w.push_bytes(&self.client_info);
        w.push_str(&self.client_ip);
        match &self.event_class {
            Some(e) => w.push_str(e),
            None => w.push_null(),
        }
        w.push_int(if self.autocommit { 1 } else { 2 });
        w.push_int(self.isolation);
        w.push_int(self.features);
        w.into_bytes()
    }

    /// Decodes a `CN` body (server side), reversing the obfuscation.
    pub fn parse(body: &[u8]) -> Result<LoginFields, ListError> {
        let mut r = ListReader::new(body);
        let namespace = r.text("namespace")?;
        let user = deobfuscate_item(&r.item("user name")?);
        let password = deobfuscate_item(&r.item("password")?);
        let os_user = r.text("OS user")?;
        let host = r.text("host name")?;
        let app_name = r.text("application name")?;
        let client_info = match r.item("client info")? {
            Item::Str8(b) => b.to_vec(),
            _ => Vec::new(),
        };
        let client_ip = r.text("client IP")?;
        let event_class = r.item("event class")?.to_text();
        let autocommit = r.int("autocommit")? != 2;
        let isolation = r.int("isolation level")?;
        let features = r.int("feature options")?;
        Ok(LoginFields {
            namespace,
            user,
            password,
            os_user,
            host,
            app_name,
            client_info,
            client_ip,
            event_class,
            autocommit,
            isolation,
            features,
        })
    }
}

/// The login obfuscation of user name and password (research §2.3). Not
/// encryption: anyone can reverse it, hence TLS.
fn push_obfuscated(w: &mut ListWriter, s: &str, unicode: bool) {
    let units: Vec<u16> = s.encode_utf16().collect();
    let n = units.len();
    let mut out = vec![0u16; n];
    for (i, &c) in units.iter().enumerate() {
        let k = n - 1 - i;
        let t = ((c as u8) ^ 0xA7).wrapping_add(k as u8);
        out[k] = (c & 0xFF00) | u16::from(t.rotate_left(5));
    }
    if out.iter().all(|&u| u <= 0xFF) || !unicode {
        let bytes: Vec<u8> = out.iter().map(|&u| u as u8).collect();
        if bytes.is_empty() {
            w.push_empty_string();
        } else {
            w.push_raw(super::list::ty::STR8, &bytes);
        }
    } else {
        let bytes: Vec<u8> = out.iter().flat_map(|u| u.to_le_bytes()).collect();
        w.push_raw(super::list::ty::STR16, &bytes);
    }
}

fn deobfuscate_item(item: &Item<'_>) -> String {
    let units: Vec<u16> = match *item {
        Item::Str8(b) if b == [0] => Vec::new(),
        Item::Str8(b) => b.iter().map(|&x| u16::from(x)).collect(),
        Item::Str16(b) => b
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect(),
        _ => Vec::new(),
    };
    let n = units.len();
    let mut chars = vec![0u16; n];
    for (k, &o) in units.iter().enumerate() {
        let i = n - 1 - k;
        let t = (o as u8).rotate_right(5).wrapping_sub(k as u8) ^ 0xA7;
        chars[i] = (o & 0xFF00) | u16::from(t);
    }
    String::from_utf16_lossy(&chars)
}

/// `CN` reply (research §2.3). Missing trailing items read as defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginReply {
    pub server_version: String,
    pub delimited_ids: i64,
    pub isolation: i64,
    /// The server job (process) number.
    pub job: String,
    pub sql_empty_string: i64,
    /// Feature options the server enabled.
    pub features: i64,
}

impl LoginReply {
    pub fn parse(body: &[u8]) -> Result<LoginReply, ListError> {
        let mut r = ListReader::new(body);
        let mut reply = LoginReply {
            server_version: r.text("server version")?,
            ..LoginReply::default()
        };
        let next_int = |r: &mut ListReader<'_>| -> Result<i64, ListError> {
            Ok(match r.next_item()? {
                Some(item) => item.as_i64().unwrap_or(0),
                None => 0,
            })
        };
        reply.delimited_ids = next_int(&mut r)?;
        let _ignored = r.next_item()?;
        reply.isolation = next_int(&mut r)?;
        reply.job = match r.next_item()? {
            Some(item) => item.to_text().unwrap_or_default(),
            None => String::new(),
        };
        reply.sql_empty_string = next_int(&mut r)?;
        reply.features = next_int(&mut r)?;
        Ok(reply)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = ListWriter::new();
        w.push_str(&self.server_version);
        w.push_int(self.delimited_ids);
        w.push_int(0);
        w.push_int(self.isolation);
        w.push_str(&self.job);
        w.push_int(self.sql_empty_string);
        w.push_int(self.features);
        w.into_bytes()
    }
}

/// Parameter values already encoded as `$LIST` items, in IRIS order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<'a> {
    pub count: usize,
    pub items: &'a [u8],
}

fn push_sql(w: &mut ListWriter, text: &str) {
    let chunks = sql::chunks(text, SQL_CHUNK_CHARS);
    w.push_int(chunks.len() as i64);
    for c in chunks {
        w.push_str(c);
    }
}

/// paramInfo: the count, then `"?"`, 0 (a real parameter, format
/// undefined) for each.
fn push_param_info(w: &mut ListWriter, count: usize) {
    w.push_int(count as i64);
    for _ in 0..count {
        w.push_str("?");
        w.push_int(0);
    }
}

fn push_one_param_set(w: &mut ListWriter, params: Params<'_>) {
    w.push_int(1);
    w.push_int(params.count as i64);
    w.extend_items(params.items);
}

/// `DQ`: chunk count, SQL, paramInfo, 1 parameter set, values, query
/// timeout (s), max rows.
pub fn direct_query(sql: &str, params: Params<'_>, timeout_secs: i64, max_rows: i64) -> Vec<u8> {
    let mut w = ListWriter::new();
    push_sql(&mut w, sql);
    push_param_info(&mut w, params.count);
    push_one_param_set(&mut w, params);
    w.push_int(timeout_secs);
    w.push_int(max_rows);
    w.into_bytes()
}

/// `PP`: chunk count, SQL, paramInfo.
pub fn prepare(sql: &str, param_count: usize) -> Vec<u8> {
    let mut w = ListWriter::new();
    push_sql(&mut w, sql);
    push_param_info(&mut w, param_count);
    w.into_bytes()
}

/// `PQ`: 1 parameter set, values, query timeout, max rows.
pub fn prepared_query(params: Params<'_>, timeout_secs: i64, max_rows: i64) -> Vec<u8> {
    let mut w = ListWriter::new();
    push_one_param_set(&mut w, params);
    w.push_int(timeout_secs);
    w.push_int(max_rows);
    w.into_bytes()
}

/// `DU`: chunk count, SQL, paramInfo, auto-generated-key column (NULL),
/// timeout, 1 parameter set, values.
pub fn direct_update(sql: &str, params: Params<'_>, timeout_secs: i64) -> Vec<u8> {
    let mut w = ListWriter::new();
    push_sql(&mut w, sql);
    push_param_info(&mut w, params.count);
    w.push_null();
    w.push_int(timeout_secs);
    push_one_param_set(&mut w, params);
    w.into_bytes()
}

/// `PU`: auto-generated-key column (NULL), timeout, 1 parameter set, values.
pub fn prepared_update(params: Params<'_>, timeout_secs: i64) -> Vec<u8> {
    let mut w = ListWriter::new();
    w.push_null();
    w.push_int(timeout_secs);
    push_one_param_set(&mut w, params);
    w.into_bytes()
}

/// `OE`: the status received, as an integer.
pub fn error_text_request(status: u16) -> Vec<u8> {
    let mut w = ListWriter::new();
    w.push_int(i64::from(status));
    w.into_bytes()
}

/// `JS`: the stream handle and length -1 (all of it).
pub fn read_stream(handle: &str) -> Vec<u8> {
    let mut w = ListWriter::new();
    w.push_str(handle);
    w.push_int(-1);
    w.into_bytes()
}

/// The text of an `OE` reply (or of an error reply that carries one): the
/// string items joined.
pub fn error_text(body: &[u8]) -> String {
    let mut parts = Vec::new();
    for item in ListReader::new(body) {
        match item {
            Ok(i @ (Item::Str8(_) | Item::Str16(_))) => {
                parts.push(i.to_text().unwrap_or_default());
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    parts.join("\n")
}

/// One result column as IRIS describes it (10 items per column).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnInfo {
    pub name: String,
    pub odbc_type: i32,
    pub precision: i64,
    pub scale: i64,
    /// 0 no, 1 yes, 2 unknown.
    pub nullable: i64,
    pub label: String,
    pub table: String,
    pub schema: String,
    pub catalog: String,
    /// 12 bytes of 0/1: auto-increment, case-sensitive, currency, read-only,
    /// row-version, unique, aliased, expression, hidden, identity, key, RowID.
    pub flags: Vec<u8>,
}

/// One statement parameter as IRIS describes it (4 items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamInfo {
    pub odbc_type: i32,
    pub precision: i64,
    pub scale: i64,
    pub nullable: i64,
}

/// The metadata reply of `DQ` (first reply) and `PP`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `None` for statements that return no rows.
    pub columns: Option<Vec<ColumnInfo>>,
    pub params: Vec<ParamInfo>,
    /// The server kept the statement: `PQ` / `PU` may reuse its id.
    pub cached: bool,
}

/// Column and parameter counts beyond this are a corrupt reply, not a
/// statement (IRIS allows 1000 columns per table).
const MAX_COUNT: i64 = 100_000;

fn count(r: &mut ListReader<'_>, what: &'static str) -> Result<usize, ListError> {
    let n = r.int(what)?;
    if !(0..=MAX_COUNT).contains(&n) {
        return Err(ListError::Unexpected {
            expected: what,
            found: format!("count {n}"),
        });
    }
    Ok(n as usize)
}

fn parse_columns(r: &mut ListReader<'_>) -> Result<Vec<ColumnInfo>, ListError> {
    let n = count(r, "column count")?;
    let mut cols = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let name = r.text("column name")?;
        let odbc_type = r.int("column type")?;
        let col = ColumnInfo {
            name,
            odbc_type: i32::try_from(odbc_type).unwrap_or(0),
            precision: r.int("column precision")?,
            scale: r.int("column scale")?,
            nullable: r.int("column nullable")?,
            label: r.text("column label")?,
            table: r.text("column table")?,
            schema: r.text("column schema")?,
            catalog: r.text("column catalog")?,
            flags: match r.item("column flags")? {
                Item::Str8(b) => b.to_vec(),
                _ => Vec::new(),
            },
        };
        cols.push(col);
    }
    Ok(cols)
}

fn parse_params(r: &mut ListReader<'_>) -> Result<Vec<ParamInfo>, ListError> {
    let n = count(r, "parameter count")?;
    let mut params = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let odbc_type = r.int("parameter type")?;
        params.push(ParamInfo {
            odbc_type: i32::try_from(odbc_type).unwrap_or(0),
            precision: r.int("parameter precision")?,
            scale: r.int("parameter scale")?,
            nullable: r.int("parameter nullable")?,
        });
    }
    Ok(params)
}

fn parse_metadata_as(body: &[u8], query: bool) -> Result<(Metadata, usize), ListError> {
    let mut r = ListReader::new(body);
    let columns = if query {
        Some(parse_columns(&mut r)?)
    } else {
        None
    };
    let params = parse_params(&mut r)?;
    let cached = match r.next_item()? {
        Some(item) => item.as_i64().unwrap_or(0) & 1 == 1,
        None => false,
    };
    Ok((
        Metadata {
            columns,
            params,
            cached,
        },
        r.position(),
    ))
}

/// Parses a metadata reply. `query` says which shape to expect (queries
/// carry column descriptions first); when the body does not fit that shape
/// the other is tried, so a misclassified statement still decodes.
pub fn parse_metadata(body: &[u8], query: bool) -> Result<Metadata, ListError> {
    match parse_metadata_as(body, query) {
        Ok((m, _)) => Ok(m),
        Err(first) => match parse_metadata_as(body, !query) {
            Ok((m, used)) if used == body.len() => Ok(m),
            _ => Err(first),
        },
    }
}

/// A `DU` reply: the parameter section, the cache flag and the row count.
pub fn parse_update_reply(body: &[u8]) -> Result<(Metadata, u64), ListError> {
    let mut r = ListReader::new(body);
    if let Ok(params) = parse_params(&mut r)
        && let Ok(flag) = r.item("cache flag")
    {
        let rows = match r.next_item() {
            Ok(Some(item)) => item.as_i64().unwrap_or(0),
            _ => 0,
        };
        let meta = Metadata {
            columns: None,
            params,
            cached: flag.as_i64().unwrap_or(0) & 1 == 1,
        };
        return Ok((meta, rows.max(0) as u64));
    }
    // Another shape: the row count is the last integer.
    let mut last = 0;
    for item in ListReader::new(body) {
        if let Some(v) = item?.as_i64() {
            last = v;
        }
    }
    Ok((Metadata::default(), last.max(0) as u64))
}

/// A `PU` reply: the row count of each parameter set, summed.
pub fn parse_row_count(body: &[u8]) -> Result<u64, ListError> {
    let mut total: u64 = 0;
    for item in ListReader::new(body) {
        if let Some(v) = item?.as_i64() {
            total = total.saturating_add(v.max(0) as u64);
        }
    }
    Ok(total)
}

/// Server side: a metadata reply body.
pub fn encode_metadata(meta: &Metadata) -> Vec<u8> {
    let mut w = ListWriter::new();
    if let Some(cols) = &meta.columns {
        w.push_int(cols.len() as i64);
        for c in cols {
            w.push_str(&c.name);
            w.push_int(i64::from(c.odbc_type));
            w.push_int(c.precision);
            w.push_int(c.scale);
            w.push_int(c.nullable);
            w.push_str(&c.label);
            w.push_str(&c.table);
            w.push_str(&c.schema);
            w.push_str(&c.catalog);
            w.push_bytes(&c.flags);
        }
    }
    push_params_section(&mut w, &meta.params);
    w.push_int(i64::from(meta.cached));
    w.into_bytes()
}

fn push_params_section(w: &mut ListWriter, params: &[ParamInfo]) {
    w.push_int(params.len() as i64);
    for p in params {
        w.push_int(i64::from(p.odbc_type));
        w.push_int(p.precision);
        w.push_int(p.scale);
        w.push_int(p.nullable);
    }
}

/// Server side: a `DU` reply body.
pub fn encode_update_reply(params: &[ParamInfo], cached: bool, rows: i64) -> Vec<u8> {
    let mut w = ListWriter::new();
    push_params_section(&mut w, params);
    w.push_int(i64::from(cached));
    w.push_int(rows);
    w.into_bytes()
}

/// A decoded request of the statement family (server side), with its
/// parameter values.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementRequest<'a> {
    pub sql: Option<String>,
    pub params: Vec<Item<'a>>,
    pub timeout: i64,
    pub max_rows: i64,
}

fn parse_sql(r: &mut ListReader<'_>) -> Result<String, ListError> {
    let chunks = count(r, "SQL chunk count")?;
    let mut text = String::new();
    for _ in 0..chunks {
        text.push_str(&r.text("SQL text")?);
    }
    Ok(text)
}

fn parse_param_info(r: &mut ListReader<'_>) -> Result<usize, ListError> {
    let n = count(r, "paramInfo count")?;
    r.skip_items(2 * n, "paramInfo entry")?;
    Ok(n)
}

fn parse_param_sets<'a>(r: &mut ListReader<'a>) -> Result<Vec<Item<'a>>, ListError> {
    let sets = count(r, "parameter set count")?;
    let mut values = Vec::new();
    for _ in 0..sets {
        let n = count(r, "parameter count")?;
        for _ in 0..n {
            values.push(r.item("parameter value")?);
        }
    }
    Ok(values)
}

/// Server side: decodes `DQ`, `PP`, `PQ`, `DU` and `PU` bodies.
pub fn parse_statement_request<'a>(
    code: [u8; 2],
    body: &'a [u8],
) -> Result<StatementRequest<'a>, ListError> {
    let mut r = ListReader::new(body);
    let mut req = StatementRequest {
        sql: None,
        params: Vec::new(),
        timeout: 0,
        max_rows: 0,
    };
    match &code {
        b"DQ" => {
            req.sql = Some(parse_sql(&mut r)?);
            parse_param_info(&mut r)?;
            req.params = parse_param_sets(&mut r)?;
            req.timeout = r.int("timeout")?;
            req.max_rows = r.int("max rows")?;
        }
        b"PP" => {
            req.sql = Some(parse_sql(&mut r)?);
            parse_param_info(&mut r)?;
        }
        b"PQ" => {
            req.params = parse_param_sets(&mut r)?;
            req.timeout = r.int("timeout")?;
            req.max_rows = r.int("max rows")?;
        }
        b"DU" => {
            req.sql = Some(parse_sql(&mut r)?);
            parse_param_info(&mut r)?;
            r.item("auto-key column")?;
            req.timeout = r.int("timeout")?;
            req.params = parse_param_sets(&mut r)?;
        }
        b"PU" => {
            r.item("auto-key column")?;
            req.timeout = r.int("timeout")?;
            req.params = parse_param_sets(&mut r)?;
        }
        _ => {
            return Err(ListError::Unexpected {
                expected: "a statement request",
                found: String::from_utf8_lossy(&code).into_owned(),
            });
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn obfuscation_vectors() {
        for (plain, expected) in [
            ("_SYSTEM", "09015d7cbefe403fdf"),
            ("SYS", "05019effde"),
            ("a", "0301d8"),
            ("ab", "0401b8f8"),
            ("password", "0a0178da597a1b3b99db"),
        ] {
            let mut w = ListWriter::new();
            push_obfuscated(&mut w, plain, true);
            assert_eq!(hex(w.as_bytes()), expected, "{plain}");
            let item = ListReader::new(w.as_bytes()).next_item().unwrap().unwrap();
            assert_eq!(deobfuscate_item(&item), plain);
        }
        // UTF-16 units keep their high byte on a Unicode server.
        let mut w = ListWriter::new();
        push_obfuscated(&mut w, "Ωx", true);
        let item = ListReader::new(w.as_bytes()).next_item().unwrap().unwrap();
        assert!(matches!(item, Item::Str16(_)));
        assert_eq!(deobfuscate_item(&item), "Ωx");
    }

    #[test]
    fn handshake_reply_round_trip() {
        let body = [0x41, 0, 1, 0, 8, 1, b'L', b'A', b'T', b'I', b'N', b'1'];
        let hs = HandshakeReply::parse(&body).unwrap();
        assert_eq!(hs.protocol, 65);
        assert!(hs.unicode());
        assert!(!hs.compact_doubles());
        assert_eq!(hs.locale, "LATIN1");
        assert_eq!(hs.encode(), body);
        assert!(HandshakeReply::parse(&[0x41]).is_err());
    }

    #[test]
    fn metadata_falls_back_to_the_other_shape() {
        let meta = Metadata {
            columns: None,
            params: vec![ParamInfo {
                odbc_type: 4,
                precision: 10,
                scale: 0,
                nullable: 1,
            }],
            cached: true,
        };
        let body = encode_metadata(&meta);
        assert_eq!(parse_metadata(&body, false).unwrap(), meta);
        // Misclassified as a query: the column section does not fit.
        assert_eq!(parse_metadata(&body, true).unwrap(), meta);
    }

    #[test]
    fn login_round_trip() {
        let fields = LoginFields {
            namespace: "USER".into(),
            user: "_SYSTEM".into(),
            password: "SYS".into(),
            os_user: "root".into(),
            host: "vm".into(),
            app_name: "pgiris".into(),
            client_info: vec![0; 12],
            client_ip: "127.0.0.1".into(),
            event_class: None,
            autocommit: true,
            isolation: 0,
            features: 0,
        };
        assert_eq!(LoginFields::parse(&fields.encode(true)).unwrap(), fields);
    }
}
