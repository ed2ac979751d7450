//! pg_hba.conf (`auth.hba_file`) in PostgreSQL's format, and the first-match
//! lookup that picks a connection's authentication method.
//!
//! ```text
//! # TYPE     DATABASE        USER       ADDRESS          METHOD          [OPTIONS]
//! local      all             all                         scram-sha-256
//! host       all             all        127.0.0.1/32     scram-sha-256
//! hostssl    sales,"Mixed"   alice,bob  10.0.0.0 255.0.0.0  password
//! host       all             all        ::1/128          iris  allow_plaintext=1
//! host       all             all        all              reject
//! ```
//!
//! - TYPE: `local` (Unix socket), `host` (TCP, with or without TLS),
//!   `hostssl` (TCP with TLS), `hostnossl` (TCP without TLS). `hostgssenc`
//!   is parsed and never matches (pgiris has no GSSAPI encryption), so
//!   `hostnogssenc` matches every TCP connection, as in PostgreSQL.
//! - DATABASE: `all`, `sameuser` (the database named like the user),
//!   `replication` (only physical-replication connections, which match
//!   nothing else), names; comma-separated lists; a double-quoted name is a
//!   name even if it spells a keyword. `samerole`, `@file` and `/regex` are
//!   refused with a clear error.
//! - USER: `all` or names, as above; `+group`, `@file` and `/regex` refused.
//! - ADDRESS (not for `local`): `all`, `samehost` (a loopback address, or the
//!   connection's own server address), an IP range in CIDR form
//!   (`127.0.0.1/32`, `::1/128`, `0.0.0.0/0`), or an address followed by a
//!   mask in the next column (`10.0.0.0 255.0.0.0`). A bare IP address is the
//!   first half of the address + mask form. Host names and `samenet` are
//!   refused. IPv4-mapped IPv6 clients (`::ffff:1.2.3.4`) match IPv4 ranges.
//! - METHOD: `trust`, `reject`, `scram-sha-256`, `md5`, `password`, `iris`
//!   (the cleartext password is checked by logging in to IRIS).
//! - OPTIONS, `name=value`: `allow_plaintext=1` lets `password` and `iris`
//!   run on connections that are neither TLS nor a Unix socket; without it
//!   those methods refuse such connections before asking for the password
//!   (a cleartext password must not cross the network in clear).
//!
//! `#` starts a comment outside quotes; a line ending in `\` continues on
//! the next one (the rule takes the first line's number). The first rule
//! that matches decides; when none does, the connection is refused with
//! [`no_match_error`].

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::Method;
use crate::wire::error::{PgError, sqlstate};

/// What the rules look at, from the startup packet and the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnFacts<'a> {
    /// The client's address; `None` for a Unix-domain socket.
    pub addr: Option<IpAddr>,
    /// The server's address of this TCP connection (for `samehost`).
    pub local_addr: Option<IpAddr>,
    pub tls: bool,
    pub user: &'a str,
    pub database: &'a str,
    /// A physical-replication connection (`replication=true`).
    pub replication: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
    HostGssEnc,
    HostNoGssEnc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseMatch {
    All,
    SameUser,
    Replication,
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMatch {
    All,
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressMatch {
    /// `local` lines have no address column.
    Local,
    All,
    SameHost,
    /// Matches when `client & mask == addr & mask` (same family).
    Net {
        addr: IpAddr,
        mask: IpAddr,
    },
}

/// One line of pg_hba.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRule {
    /// 1-based line number (the first line of a continued rule).
    pub line: usize,
    /// The rule as written, for the log ("matched pg_hba.conf line 4: ...").
    pub text: String,
    pub conn_type: ConnType,
    pub databases: Vec<DatabaseMatch>,
    pub users: Vec<UserMatch>,
    pub address: AddressMatch,
    pub method: Method,
    /// `allow_plaintext=1`: `password`/`iris` also on plaintext TCP.
    pub allow_plaintext: bool,
}

/// A problem in pg_hba.conf. `line` is 1-based; 0 means the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HbaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for HbaError {}

/// The parsed file, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaRules {
    rules: Vec<HbaRule>,
}

impl HbaRules {
    /// Parses the text of a pg_hba.conf. Cheap.
    pub fn parse(text: &str) -> Result<HbaRules, HbaError> {
        let mut rules = Vec::new();
        for (line, logical) in logical_lines(text) {
            let err = |message: String| HbaError { line, message };
            let fields = tokenize(&logical).map_err(err)?;
            if fields.is_empty() {
                continue;
            }
            let rule = parse_rule(line, logical.trim(), &fields).map_err(err)?;
            rules.push(rule);
        }
        Ok(HbaRules { rules })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<HbaRules, HbaError> {
        let text = std::fs::read_to_string(path).map_err(|e| HbaError {
            line: 0,
            message: format!("could not read {}: {e}", path.display()),
        })?;
        HbaRules::parse(&text)
    }

    /// The first rule matching the connection, if any.
    pub fn find(&self, facts: &ConnFacts<'_>) -> Option<&HbaRule> {
        self.rules.iter().find(|rule| rule.matches(facts))
    }

    pub fn rules(&self) -> &[HbaRule] {
        &self.rules
    }
}

impl HbaRule {
    pub fn matches(&self, facts: &ConnFacts<'_>) -> bool {
        self.matches_transport(facts) && self.matches_database(facts) && self.matches_user(facts)
    }

    fn matches_transport(&self, facts: &ConnFacts<'_>) -> bool {
        let Some(client) = facts.addr else {
            return self.conn_type == ConnType::Local;
        };
        let type_ok = match self.conn_type {
            ConnType::Local | ConnType::HostGssEnc => false,
            ConnType::Host | ConnType::HostNoGssEnc => true,
            ConnType::HostSsl => facts.tls,
            ConnType::HostNoSsl => !facts.tls,
        };
        type_ok
            && match self.address {
                AddressMatch::Local => false,
                AddressMatch::All => true,
                AddressMatch::SameHost => {
                    let client = canonical(client);
                    client.is_loopback() || facts.local_addr.map(canonical) == Some(client)
                }
                AddressMatch::Net { addr, mask } => in_range(canonical(client), addr, mask),
            }
    }

    fn matches_database(&self, facts: &ConnFacts<'_>) -> bool {
        self.databases.iter().any(|d| match d {
            DatabaseMatch::Replication => facts.replication,
            _ if facts.replication => false,
            DatabaseMatch::All => true,
            DatabaseMatch::SameUser => facts.database == facts.user,
            DatabaseMatch::Name(name) => name == facts.database,
        })
    }

    fn matches_user(&self, facts: &ConnFacts<'_>) -> bool {
        self.users.iter().any(|u| match u {
            UserMatch::All => true,
            UserMatch::Name(name) => name == facts.user,
        })
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn in_range(client: IpAddr, net: IpAddr, mask: IpAddr) -> bool {
    fn masked_eq(a: &[u8], b: &[u8], m: &[u8]) -> bool {
        a.iter().zip(b).zip(m).all(|((a, b), m)| a & m == b & m)
    }
    match (client, net, mask) {
        (IpAddr::V4(c), IpAddr::V4(n), IpAddr::V4(m)) => {
            masked_eq(&c.octets(), &n.octets(), &m.octets())
        }
        (IpAddr::V6(c), IpAddr::V6(n), IpAddr::V6(m)) => {
            masked_eq(&c.octets(), &n.octets(), &m.octets())
        }
        _ => false,
    }
}

fn encryption(facts: &ConnFacts<'_>) -> &'static str {
    if facts.tls {
        "SSL encryption"
    } else {
        "no encryption"
    }
}

fn host(facts: &ConnFacts<'_>) -> String {
    facts
        .addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "[local]".to_string())
}

/// PostgreSQL's FATAL 28000 when no rule matches: `no pg_hba.conf entry for
/// host "1.2.3.4", user "u", database "d", no encryption` (or `SSL
/// encryption`; `[local]` for Unix sockets).
pub fn no_match_error(facts: &ConnFacts<'_>) -> PgError {
    let message = if facts.replication {
        format!(
            "no pg_hba.conf entry for replication connection from host \"{}\", user \"{}\", {}",
            host(facts),
            facts.user,
            encryption(facts)
        )
    } else {
        format!(
            "no pg_hba.conf entry for host \"{}\", user \"{}\", database \"{}\", {}",
            host(facts),
            facts.user,
            facts.database,
            encryption(facts)
        )
    };
    PgError::fatal(sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message)
}

/// PostgreSQL's FATAL 28000 for a matching `reject` rule.
pub fn reject_error(facts: &ConnFacts<'_>) -> PgError {
    let message = if facts.replication {
        format!(
            "pg_hba.conf rejects replication connection for host \"{}\", user \"{}\", {}",
            host(facts),
            facts.user,
            encryption(facts)
        )
    } else {
        format!(
            "pg_hba.conf rejects connection for host \"{}\", user \"{}\", database \"{}\", {}",
            host(facts),
            facts.user,
            facts.database,
            encryption(facts)
        )
    };
    PgError::fatal(sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message)
}

/// Physical lines joined at trailing backslashes, with the number of the
/// first line of each.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (start, mut buf) = current.take().unwrap_or((index + 1, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                buf.push_str(head);
                current = Some((start, buf));
            }
            None => {
                buf.push_str(raw);
                out.push((start, buf));
            }
        }
    }
    if let Some(last) = current {
        out.push(last);
    }
    out
}

/// One item of a column's comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    quoted: bool,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.text == keyword
    }
}

/// Splits a logical line into columns of comma-separated tokens, as
/// PostgreSQL's `next_field_expand`: white space separates columns, commas
/// separate list items (white space after a comma is allowed), `"` quotes
/// (and may appear mid-token), `#` outside quotes ends the line.
fn tokenize(line: &str) -> Result<Vec<Vec<Token>>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => break,
            Some(',') => return Err("a list starts with a comma".into()),
            Some(_) => {}
        }
        let mut field = Vec::new();
        loop {
            let mut token = Token {
                text: String::new(),
                quoted: false,
            };
            let mut in_quote = false;
            while let Some(&c) = chars.peek() {
                if !in_quote && (c.is_whitespace() || c == ',' || c == '#') {
                    break;
                }
                chars.next();
                if c == '"' {
                    in_quote = !in_quote;
                    token.quoted = true;
                } else {
                    token.text.push(c);
                }
            }
            if in_quote {
                return Err("unterminated quoted string".into());
            }
            if token.text.is_empty() {
                return Err(if token.quoted {
                    "empty quoted name".into()
                } else {
                    "empty item in a comma-separated list".into()
                });
            }
            field.push(token);
            if chars.next_if_eq(&',').is_none() {
                break;
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.peek() {
                None | Some('#') => return Err("a list ends with a comma".into()),
                Some(',') => return Err("empty item in a comma-separated list".into()),
                Some(_) => {}
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

fn single<'t>(field: &'t [Token], what: &str) -> Result<&'t Token, String> {
    match field {
        [token] => Ok(token),
        _ => Err(format!("multiple values specified for {what}")),
    }
}

fn parse_rule(line: usize, text: &str, fields: &[Vec<Token>]) -> Result<HbaRule, String> {
    let mut fields = fields.iter();
    let type_token = single(
        fields.next().map(Vec::as_slice).unwrap_or_default(),
        "connection type",
    )?;
    let conn_type = match type_token.text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => ConnType::HostSsl,
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" => ConnType::HostGssEnc,
        "hostnogssenc" => ConnType::HostNoGssEnc,
        other => return Err(format!("invalid connection type \"{other}\"")),
    };
    let databases = fields
        .next()
        .ok_or("end-of-line before database specification")?
        .iter()
        .map(parse_database)
        .collect::<Result<Vec<_>, _>>()?;
    let users = fields
        .next()
        .ok_or("end-of-line before role specification")?
        .iter()
        .map(parse_user)
        .collect::<Result<Vec<_>, _>>()?;
    let address = if conn_type == ConnType::Local {
        AddressMatch::Local
    } else {
        let field = fields
            .next()
            .ok_or("end-of-line before IP address specification")?;
        let token = single(field, "host address")?;
        parse_address(token, &mut fields)?
    };
    let method_field = fields
        .next()
        .ok_or("end-of-line before authentication method")?;
    let method = parse_method(&single(method_field, "authentication type")?.text)?;
    let mut allow_plaintext = false;
    for option in fields.flatten() {
        let (name, value) = option.text.split_once('=').ok_or_else(|| {
            format!(
                "authentication option not in name=value format: {}",
                option.text
            )
        })?;
        match name {
            "allow_plaintext" => {
                if !matches!(method, Method::Password | Method::Iris) {
                    return Err(format!(
                        "allow_plaintext applies only to the password and iris methods, not {method}"
                    ));
                }
                allow_plaintext = match value {
                    "1" | "true" | "on" | "yes" => true,
                    "0" | "false" | "off" | "no" => false,
                    _ => {
                        return Err(format!(
                            "invalid value for allow_plaintext: \"{value}\" (use 1 or 0)"
                        ));
                    }
                };
            }
            _ => {
                return Err(format!(
                    "unrecognized authentication option name: \"{name}\""
                ));
            }
        }
    }
    Ok(HbaRule {
        line,
        text: text.to_string(),
        conn_type,
        databases,
        users,
        address,
        method,
        allow_plaintext,
    })
}

fn refuse_file_and_regex(token: &Token) -> Result<(), String> {
    if token.quoted {
        return Ok(());
    }
    if token.text.starts_with('@') {
        return Err(format!(
            "\"{}\": @file inclusion is not supported; list the names on the line",
            token.text
        ));
    }
    if token.text.starts_with('/') {
        return Err(format!(
            "\"{}\": regular expressions are not supported; list the names",
            token.text
        ));
    }
    Ok(())
}

fn parse_database(token: &Token) -> Result<DatabaseMatch, String> {
    refuse_file_and_regex(token)?;
    Ok(if token.is_keyword("all") {
        DatabaseMatch::All
    } else if token.is_keyword("sameuser") {
        DatabaseMatch::SameUser
    } else if token.is_keyword("replication") {
        DatabaseMatch::Replication
    } else if token.is_keyword("samerole") || token.is_keyword("samegroup") {
        return Err(format!(
            "\"{}\" is not supported: pgiris has no roles",
            token.text
        ));
    } else {
        DatabaseMatch::Name(token.text.clone())
    })
}

fn parse_user(token: &Token) -> Result<UserMatch, String> {
    refuse_file_and_regex(token)?;
    if !token.quoted && token.text.starts_with('+') {
        return Err(format!(
            "\"{}\": group membership (+role) is not supported: pgiris has no roles",
            token.text
        ));
    }
    Ok(if token.is_keyword("all") {
        UserMatch::All
    } else {
        UserMatch::Name(token.text.clone())
    })
}

fn parse_address<'f>(
    token: &Token,
    fields: &mut impl Iterator<Item = &'f Vec<Token>>,
) -> Result<AddressMatch, String> {
    let text = token.text.as_str();
    if token.is_keyword("all") {
        return Ok(AddressMatch::All);
    }
    if token.is_keyword("samehost") {
        return Ok(AddressMatch::SameHost);
    }
    if token.is_keyword("samenet") {
        return Err("samenet is not supported; write the network in CIDR form".into());
    }
    if let Some((addr, bits)) = text.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid IP address \"{addr}\""))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| *b <= max && bits.bytes().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| format!("invalid CIDR mask in address \"{text}\""))?;
        return Ok(AddressMatch::Net {
            addr,
            mask: prefix_mask(addr, bits),
        });
    }
    let Ok(addr) = text.parse::<IpAddr>() else {
        return Err(format!(
            "invalid IP address \"{text}\": host names are not supported, use an IP address or a CIDR range"
        ));
    };
    let mask_field = fields.next().ok_or(
        "end-of-line before netmask specification (write the address in CIDR notation, or give a separate netmask)",
    )?;
    let mask_text = &single(mask_field, "netmask")?.text;
    let mask: IpAddr = mask_text
        .parse()
        .map_err(|_| format!("invalid IP mask \"{mask_text}\""))?;
    if mask.is_ipv4() != addr.is_ipv4() {
        return Err("IP address and mask do not match".into());
    }
    Ok(AddressMatch::Net { addr, mask })
}

fn prefix_mask(addr: IpAddr, bits: u32) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(u32::MAX.checked_shl(32 - bits).unwrap_or(0).into()),
        IpAddr::V6(_) => IpAddr::V6(u128::MAX.checked_shl(128 - bits).unwrap_or(0).into()),
    }
}

fn parse_method(name: &str) -> Result<Method, String> {
    match name {
        "trust" => Ok(Method::Trust),
        "reject" => Ok(Method::Reject),
        "scram-sha-256" => Ok(Method::ScramSha256),
        "md5" => Ok(Method::Md5),
        "password" => Ok(Method::Password),
        "iris" => Ok(Method::Iris),
        "gss" | "sspi" | "ident" | "peer" | "pam" | "ldap" | "radius" | "cert" | "bsd"
        | "oauth" | "krb5" | "crypt" => Err(format!(
            "authentication method \"{name}\" is not supported by pgiris (use trust, reject, scram-sha-256, md5, password or iris)"
        )),
        _ => Err(format!("invalid authentication method \"{name}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp<'a>(addr: &str, tls: bool, user: &'a str, database: &'a str) -> ConnFacts<'a> {
        ConnFacts {
            addr: Some(addr.parse().unwrap()),
            local_addr: Some("192.0.2.10".parse().unwrap()),
            tls,
            user,
            database,
            replication: false,
        }
    }

    fn unix<'a>(user: &'a str, database: &'a str) -> ConnFacts<'a> {
        ConnFacts {
            addr: None,
            local_addr: None,
            tls: false,
            user,
            database,
            replication: false,
        }
    }

    const RULES: &str = r#"
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all                      trust
hostssl sales,"all"  alice,"+bob"  10.0.0.0/8   scram-sha-256   # quoted keywords are names
hostnossl all     carol 10.0.0.0 255.255.0.0  password allow_plaintext=1
host    sameuser  all   ::1/128  md5
host    replication  all  127.0.0.1/32  trust
host    all       dave  samehost  iris
hostgssenc all    all   0.0.0.0/0  trust
host    all       all   127.0.0.1/32  \
        scram-sha-256
host    "replication" all 0.0.0.0/0 reject
hostnogssenc all  erin  0.0.0.0/0  password
host    all       all   all  reject
"#;

    #[test]
    fn parses_columns_lists_quotes_and_continuations() {
        let rules = HbaRules::parse(RULES).unwrap();
        let r = rules.rules();
        assert_eq!(r.len(), 11);
        assert_eq!(
            (r[0].line, r[0].conn_type, r[0].method),
            (3, ConnType::Local, Method::Trust)
        );
        assert_eq!(r[0].address, AddressMatch::Local);
        assert_eq!(
            r[1].databases,
            vec![
                DatabaseMatch::Name("sales".into()),
                DatabaseMatch::Name("all".into())
            ]
        );
        assert_eq!(
            r[1].users,
            vec![
                UserMatch::Name("alice".into()),
                UserMatch::Name("+bob".into())
            ]
        );
        assert_eq!(
            r[2].address,
            AddressMatch::Net {
                addr: "10.0.0.0".parse().unwrap(),
                mask: "255.255.0.0".parse().unwrap()
            }
        );
        assert!(r[2].allow_plaintext);
        assert!(!r[1].allow_plaintext);
        assert_eq!(r[7].line, 10);
        assert_eq!(r[7].method, Method::ScramSha256);
        assert_eq!(
            r[7].text,
            "host    all       all   127.0.0.1/32          scram-sha-256"
        );
        assert_eq!(
            r[8].databases,
            vec![DatabaseMatch::Name("replication".into())]
        );
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = HbaRules::parse(RULES).unwrap();
        let repl = ConnFacts {
            replication: true,
            ..tcp("127.0.0.1", false, "u", "whatever")
        };
        let cases: Vec<(ConnFacts<'_>, Option<usize>)> = vec![
            (unix("anyone", "db"), Some(3)),
            (tcp("10.1.2.3", true, "alice", "sales"), Some(4)),
            (tcp("10.1.2.3", true, "+bob", "all"), Some(4)),
            // "all" was quoted: only the database literally named all.
            (tcp("10.1.2.3", true, "alice", "other"), Some(14)),
            (tcp("10.1.2.3", false, "alice", "sales"), Some(14)),
            (tcp("10.0.2.3", false, "carol", "x"), Some(5)),
            (tcp("10.2.2.3", false, "carol", "x"), Some(14)),
            (tcp("10.1.2.3", true, "carol", "x"), Some(14)),
            (tcp("::1", false, "frank", "frank"), Some(6)),
            (tcp("::1", false, "frank", "other"), Some(14)),
            (repl, Some(7)),
            (tcp("127.0.0.1", false, "dave", "x"), Some(8)),
            (tcp("192.0.2.10", false, "dave", "x"), Some(8)),
            (tcp("192.0.2.11", false, "dave", "x"), Some(14)),
            (tcp("127.0.0.1", false, "u", "replication"), Some(10)),
            (tcp("::ffff:127.0.0.1", true, "u", "x"), Some(10)),
            (tcp("10.9.9.9", false, "u", "replication"), Some(12)),
            (tcp("10.9.9.9", false, "erin", "x"), Some(13)),
            (tcp("203.0.113.5", true, "zed", "x"), Some(14)),
        ];
        for (facts, line) in cases {
            assert_eq!(rules.find(&facts).map(|r| r.line), line, "{facts:?}");
        }
        // A replication connection matches only `replication` lines.
        let only_all = HbaRules::parse("host all all all trust\n").unwrap();
        assert!(only_all.find(&repl).is_none());
        // No rules, no entry.
        assert!(
            HbaRules::parse("# nothing\n")
                .unwrap()
                .find(&unix("u", "d"))
                .is_none()
        );
    }

    #[test]
    fn cidr_edges() {
        let rules = HbaRules::parse(
            "host all a 0.0.0.0/0 trust\nhost all b 192.168.1.128/25 trust\nhost all c ::/0 trust\nhost all d 2001:db8::/32 trust\nhost all e 10.0.0.1/32 trust\n",
        )
        .unwrap();
        let line =
            |addr: &str, user: &str| rules.find(&tcp(addr, false, user, "d")).map(|r| r.line);
        assert_eq!(line("8.8.8.8", "a"), Some(1));
        assert_eq!(line("::1", "a"), None);
        assert_eq!(line("192.168.1.200", "b"), Some(2));
        assert_eq!(line("192.168.1.100", "b"), None);
        assert_eq!(line("::1", "c"), Some(3));
        assert_eq!(line("8.8.8.8", "c"), None);
        assert_eq!(line("2001:db8:ffff::1", "d"), Some(4));
        assert_eq!(line("2001:db9::1", "d"), None);
        assert_eq!(line("10.0.0.1", "e"), Some(5));
        assert_eq!(line("10.0.0.2", "e"), None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "hots all all all trust",
                1,
                "invalid connection type \"hots\"",
            ),
            (
                "host,local all all all trust",
                1,
                "multiple values specified for connection type",
            ),
            ("local", 1, "end-of-line before database specification"),
            ("local all", 1, "end-of-line before role specification"),
            (
                "local all all",
                1,
                "end-of-line before authentication method",
            ),
            (
                "host all all",
                1,
                "end-of-line before IP address specification",
            ),
            (
                "host all all 10.0.0.0/8",
                1,
                "end-of-line before authentication method",
            ),
            (
                "\n\nhost all all 10.0.0.0 trust",
                3,
                "invalid IP mask \"trust\"",
            ),
            (
                "host all all 10.0.0.0",
                1,
                "end-of-line before netmask specification",
            ),
            (
                "host all all 10.0.0.0 ffff::",
                1,
                "IP address and mask do not match",
            ),
            (
                "host all all 10.0.0.0/33 trust",
                1,
                "invalid CIDR mask in address \"10.0.0.0/33\"",
            ),
            ("host all all 10.0.0.0/x trust", 1, "invalid CIDR mask"),
            ("host all all 10.0.0.0/+8 trust", 1, "invalid CIDR mask"),
            ("host all all ::1/129 trust", 1, "invalid CIDR mask"),
            (
                "host all all 10.0.0.300/8 trust",
                1,
                "invalid IP address \"10.0.0.300\"",
            ),
            (
                "host all all db.example.com trust",
                1,
                "host names are not supported",
            ),
            ("host all all samenet trust", 1, "samenet is not supported"),
            (
                "host all all 10.0.0.0/8,::1/128 trust",
                1,
                "multiple values specified for host address",
            ),
            (
                "local all all scram",
                1,
                "invalid authentication method \"scram\"",
            ),
            (
                "local all all peer",
                1,
                "authentication method \"peer\" is not supported by pgiris",
            ),
            (
                "local all all trust,md5",
                1,
                "multiple values specified for authentication type",
            ),
            (
                "local all all trust foo",
                1,
                "authentication option not in name=value format: foo",
            ),
            (
                "local all all password clientcert=1",
                1,
                "unrecognized authentication option name: \"clientcert\"",
            ),
            (
                "local all all md5 allow_plaintext=1",
                1,
                "allow_plaintext applies only to the password and iris methods",
            ),
            (
                "local all all iris allow_plaintext=maybe",
                1,
                "invalid value for allow_plaintext",
            ),
            (
                "local @dbs all trust",
                1,
                "@file inclusion is not supported",
            ),
            (
                "local all @users trust",
                1,
                "@file inclusion is not supported",
            ),
            (
                "local all +admins trust",
                1,
                "group membership (+role) is not supported",
            ),
            (
                "local samerole all trust",
                1,
                "\"samerole\" is not supported",
            ),
            (
                "local /^db all trust",
                1,
                "regular expressions are not supported",
            ),
            ("local all \"alice trust", 1, "unterminated quoted string"),
            ("local all \"\" trust", 1, "empty quoted name"),
            (
                "local all a,,b trust",
                1,
                "empty item in a comma-separated list",
            ),
            ("local db, ", 1, "a list ends with a comma"),
            ("local all a,# x", 1, "a list ends with a comma"),
            ("local ,all all trust", 1, "a list starts with a comma"),
            (
                "# ok\nlocal all all \\\n bogus",
                2,
                "invalid authentication method \"bogus\"",
            ),
            (
                "# ok\nlocal all all \\\n\n bogus",
                2,
                "end-of-line before authentication method",
            ),
            (
                "local all all \\\r\n trust\r\nfoo",
                3,
                "invalid connection type \"foo\"",
            ),
        ];
        for (text, line, needle) in cases {
            let e = HbaRules::parse(text).unwrap_err();
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn lists_allow_spaces_after_commas_and_comments_after_rules() {
        let rules =
            HbaRules::parse("host a, b  u1,u2 ::1/128 trust # a comment, with commas\r\n").unwrap();
        let r = &rules.rules()[0];
        assert_eq!(r.databases.len(), 2);
        assert_eq!(r.users.len(), 2);
        assert!(rules.find(&tcp("::1", false, "u2", "b")).is_some());
    }

    #[test]
    fn postgres_error_texts() {
        let f = tcp("1.2.3.4", false, "u", "d");
        let e = no_match_error(&f);
        assert_eq!(e.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
        assert!(e.is_fatal());
        assert_eq!(
            e.message,
            "no pg_hba.conf entry for host \"1.2.3.4\", user \"u\", database \"d\", no encryption"
        );
        let e = no_match_error(&tcp("::1", true, "u", "d"));
        assert_eq!(
            e.message,
            "no pg_hba.conf entry for host \"::1\", user \"u\", database \"d\", SSL encryption"
        );
        let e = no_match_error(&unix("u", "d"));
        assert_eq!(
            e.message,
            "no pg_hba.conf entry for host \"[local]\", user \"u\", database \"d\", no encryption"
        );
        let repl = ConnFacts {
            replication: true,
            ..f
        };
        assert_eq!(
            no_match_error(&repl).message,
            "no pg_hba.conf entry for replication connection from host \"1.2.3.4\", user \"u\", no encryption"
        );
        assert_eq!(
            reject_error(&f).message,
            "pg_hba.conf rejects connection for host \"1.2.3.4\", user \"u\", database \"d\", no encryption"
        );
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg_hba.conf");
        std::fs::write(&path, "local all all trust\n").unwrap();
        assert_eq!(HbaRules::load(&path).unwrap().rules().len(), 1);
        let e = HbaRules::load(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.starts_with("could not read "));
    }

    #[test]
    fn random_input_never_panics() {
        use rand::RngExt;
        let mut rng = rand::rng();
        let words = [
            "local",
            "host",
            "hostssl",
            "all",
            "sameuser",
            "\"",
            ",",
            " ",
            "\\\n",
            "\n",
            "#",
            "10.0.0.0/8",
            "::1/128",
            "/",
            "255.0.0.0",
            "trust",
            "iris",
            "allow_plaintext=1",
            "=",
            "+",
            "@",
            "samehost",
            "\u{e9}",
            "\t",
            "/33",
            "ffff::",
        ];
        for _ in 0..3000 {
            let n = rng.random_range(0..20);
            let text: String = (0..n)
                .map(|_| words[rng.random_range(0..words.len())])
                .collect();
            if let Ok(rules) = HbaRules::parse(&text) {
                let _ = rules.find(&tcp("10.1.1.1", false, "u", "d"));
                let _ = rules.find(&unix("u", "d"));
            }
        }
    }
}
