//! Session settings (PostgreSQL's GUCs as a client sees them): the values
//! reported with ParameterStatus, what SET / SHOW / RESET accept, and the
//! transaction-scoped undo of SET and SET LOCAL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::wire::error::{PgError, sqlstate};

/// How a setting's value is checked and normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Free text.
    Text,
    /// on/off, written back as "on"/"off".
    Bool,
    /// An integer within bounds.
    Int(i64, i64),
    /// A duration in milliseconds (units accepted), 0 = off.
    Millis,
    /// Fixed by the server; SET fails with 55P02 (or 25P01 style errors).
    ReadOnly,
    /// A value with its own rules.
    Special,
}

/// A known setting: name as PostgreSQL spells it, default, kind, whether its
/// changes are reported with ParameterStatus, and a description for SHOW ALL.
struct Def {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    report: bool,
    description: &'static str,
}

const fn def(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    report: bool,
    description: &'static str,
) -> Def {
    Def {
        name,
        default,
        kind,
        report,
        description,
    }
}

/// The settings pgiris knows, sorted by lower-case name (SHOW ALL order).
/// Defaults marked "" are filled per session (server_version, user ...).
const DEFS: &[Def] = &[
    def(
        "application_name",
        "",
        Kind::Text,
        true,
        "Sets the application name to be reported in statistics and logs.",
    ),
    def(
        "bytea_output",
        "hex",
        Kind::Special,
        false,
        "Sets the output format for bytea.",
    ),
    def(
        "client_encoding",
        "UTF8",
        Kind::Special,
        true,
        "Sets the client's character set encoding.",
    ),
    def(
        "client_min_messages",
        "notice",
        Kind::Special,
        false,
        "Sets the message levels that are sent to the client.",
    ),
    def(
        "DateStyle",
        "ISO, MDY",
        Kind::Special,
        true,
        "Sets the display format for date and time values.",
    ),
    def(
        "default_transaction_isolation",
        "read committed",
        Kind::Special,
        false,
        "Sets the transaction isolation level of each new transaction.",
    ),
    def(
        "default_transaction_read_only",
        "off",
        Kind::Bool,
        true,
        "Sets the default read-only status of new transactions.",
    ),
    def(
        "extra_float_digits",
        "1",
        Kind::Int(-15, 3),
        false,
        "Sets the number of digits displayed for floating-point values.",
    ),
    def(
        "idle_in_transaction_session_timeout",
        "0",
        Kind::Millis,
        false,
        "Sets the maximum allowed idle time between queries, when in a transaction.",
    ),
    def(
        "idle_session_timeout",
        "0",
        Kind::Millis,
        false,
        "Sets the maximum allowed idle time between queries, when not in a transaction.",
    ),
    def(
        "in_hot_standby",
        "off",
        Kind::ReadOnly,
        true,
        "Shows whether hot standby is currently active.",
    ),
    def(
        "integer_datetimes",
        "on",
        Kind::ReadOnly,
        true,
        "Shows whether datetimes are integer based.",
    ),
    def(
        "IntervalStyle",
        "postgres",
        Kind::Special,
        true,
        "Sets the display format for interval values.",
    ),
    def(
        "is_superuser",
        "off",
        Kind::ReadOnly,
        true,
        "Shows whether the current user is a superuser.",
    ),
    def(
        "lc_messages",
        "C",
        Kind::Text,
        false,
        "Sets the language in which messages are displayed.",
    ),
    def(
        "lc_monetary",
        "C",
        Kind::Text,
        false,
        "Sets the locale for formatting monetary amounts.",
    ),
    def(
        "lc_numeric",
        "C",
        Kind::Text,
        false,
        "Sets the locale for formatting numbers.",
    ),
    def(
        "lc_time",
        "C",
        Kind::Text,
        false,
        "Sets the locale for formatting date and time values.",
    ),
    def(
        "lock_timeout",
        "0",
        Kind::Millis,
        false,
        "Sets the maximum allowed duration of any wait for a lock.",
    ),
    def(
        "max_identifier_length",
        "63",
        Kind::ReadOnly,
        false,
        "Shows the maximum identifier length.",
    ),
    def(
        "scram_iterations",
        "4096",
        Kind::Int(1, i32::MAX as i64),
        true,
        "Sets the iteration count for SCRAM secret generation.",
    ),
    def(
        "search_path",
        "\"$user\", public",
        Kind::Text,
        false,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    def(
        "server_encoding",
        "UTF8",
        Kind::ReadOnly,
        true,
        "Shows the server (database) character set encoding.",
    ),
    def(
        "server_version",
        "",
        Kind::ReadOnly,
        true,
        "Shows the server version.",
    ),
    def(
        "server_version_num",
        "",
        Kind::ReadOnly,
        false,
        "Shows the server version as an integer.",
    ),
    def(
        "session_authorization",
        "",
        Kind::ReadOnly,
        true,
        "Sets the session user name.",
    ),
    def(
        "standard_conforming_strings",
        "on",
        Kind::Special,
        true,
        "Causes '...' strings to treat backslashes literally.",
    ),
    def(
        "statement_timeout",
        "0",
        Kind::Millis,
        false,
        "Sets the maximum allowed duration of any statement.",
    ),
    def(
        "synchronous_commit",
        "on",
        Kind::Text,
        false,
        "Sets the current transaction's synchronization level.",
    ),
    def(
        "TimeZone",
        "Etc/UTC",
        Kind::Special,
        true,
        "Sets the time zone for displaying and interpreting time stamps.",
    ),
    def(
        "transaction_isolation",
        "read committed",
        Kind::Special,
        false,
        "Sets the current transaction's isolation level.",
    ),
    def(
        "transaction_read_only",
        "off",
        Kind::Bool,
        false,
        "Sets the current transaction's read-only status.",
    ),
    def(
        "work_mem",
        "4MB",
        Kind::Text,
        false,
        "Sets the maximum memory to be used for query workspaces.",
    ),
];

/// The parameters sent with ParameterStatus at startup, in PostgreSQL's
/// order (sorted by name, case-insensitively; PostgreSQL 16/17 set).
pub const REPORTED_AT_STARTUP: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "scram_iterations",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
];

fn find(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

fn invalid_value(name: &str, value: &str) -> PgError {
    PgError::error(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{value}\""),
    )
}

fn unrecognized(name: &str) -> PgError {
    PgError::error(
        sqlstate::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// Parses a PostgreSQL time value for a setting whose unit is milliseconds:
/// "5000", "5s", "100ms", "1min", "1h", "1d", optionally quoted.
pub fn parse_millis(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    if n < 0.0 || !n.is_finite() {
        return None;
    }
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (n * factor).round();
    if ms > i32::MAX as f64 {
        return None;
    }
    Some(ms as u64)
}

/// Writes milliseconds as PostgreSQL shows a time setting: in the largest
/// unit that divides the value exactly ("5s", "1500ms", "1min", "0").
pub fn format_millis(ms: u64) -> String {
    if ms == 0 {
        return "0".to_owned();
    }
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(factor) {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

/// Normalizes an encoding name; pgiris speaks only UTF8.
pub fn normalize_client_encoding(value: &str) -> Option<&'static str> {
    let v: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match v.as_str() {
        "utf8" | "unicode" => Some("UTF8"),
        _ => None,
    }
}

fn normalize_datestyle(value: &str) -> Option<String> {
    // Output style ISO is the only one rendered; the field order is kept.
    let mut order = "MDY";
    let mut output_ok = true;
    for part in value.split(',') {
        let p = part.trim().trim_matches('\'').trim().to_ascii_uppercase();
        match p.as_str() {
            "ISO" => {}
            "MDY" | "US" | "NONEUROPEAN" | "NONEURO" => order = "MDY",
            "DMY" | "EUROPEAN" | "EURO" => order = "DMY",
            "YMD" => order = "YMD",
            "" => return None,
            _ => output_ok = false,
        }
    }
    output_ok.then(|| format!("ISO, {order}"))
}

fn normalize_isolation(value: &str) -> Option<&'static str> {
    let v = value
        .trim()
        .trim_matches('\'')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    match v.as_str() {
        "read committed" => Some("read committed"),
        "read uncommitted" => Some("read uncommitted"),
        "repeatable read" => Some("repeatable read"),
        "serializable" => Some("serializable"),
        _ => None,
    }
}

fn normalize_bool(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some("on"),
        "off" | "false" | "no" | "0" | "f" | "n" => Some("off"),
        _ => None,
    }
}

/// A session's settings: the server's defaults, shared by every session
/// (an idle session should cost little memory), under the session's own
/// changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    base: Arc<BTreeMap<String, String>>,
    /// Per-user, fixed for the session (read-only settings).
    session_user: String,
    superuser: String,
    /// The session's values where they differ from `base` (None = the
    /// setting does not exist, e.g. a reset custom placeholder).
    values: BTreeMap<String, Option<String>>,
    /// Reported parameters whose value changed since the last report.
    changed: Vec<&'static str>,
    /// Hashes of the values last sent with ParameterStatus, in the order of
    /// [`REPORTED_AT_STARTUP`] (no heap: an idle session stays small).
    reported: [u64; REPORTED_AT_STARTUP.len()],
    /// Values to restore when the current transaction ends: (key, old
    /// value, restore on commit too (SET LOCAL)).
    undo: Vec<(String, Option<String>, bool)>,
    /// Startup values: what RESET goes back to, over `base`.
    reset_values: BTreeMap<String, String>,
}

/// Every setting of a session, as the backend reads them (`current_setting`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsView {
    base: Arc<BTreeMap<String, String>>,
    overrides: Arc<BTreeMap<String, Option<String>>>,
}

impl SettingsView {
    /// A setting by lower-case name.
    pub fn get(&self, key: &str) -> Option<&String> {
        match self.overrides.get(key) {
            Some(v) => v.as_ref(),
            None => self.base.get(key),
        }
    }

    /// A view of a plain map (tests, backends' own use).
    pub fn from_map(map: BTreeMap<String, String>) -> SettingsView {
        SettingsView {
            base: Arc::new(map),
            overrides: Arc::default(),
        }
    }

    /// Adds or replaces one setting (tests).
    pub fn insert(&mut self, key: String, value: String) {
        Arc::make_mut(&mut self.overrides).insert(key, Some(value));
    }
}

/// Per-session facts the defaults depend on.
#[derive(Debug, Clone)]
pub struct ParamDefaults<'a> {
    pub server_version: &'a str,
    pub user: &'a str,
    pub is_superuser: bool,
    pub timezone: &'a str,
    pub statement_timeout: Duration,
    pub idle_in_transaction_session_timeout: Duration,
    pub idle_session_timeout: Duration,
}

type BaseKey = (String, String, u64, u64, u64);
type Defaults = Arc<BTreeMap<String, String>>;

thread_local! {
    /// The shared defaults, per server configuration (a reload may add one).
    static BASES: std::cell::RefCell<Vec<(BaseKey, Defaults)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn base_for(d: &ParamDefaults<'_>) -> Arc<BTreeMap<String, String>> {
    let ms = |d: Duration| d.as_millis().min(i32::MAX as u128) as u64;
    let key: BaseKey = (
        d.server_version.to_owned(),
        d.timezone.to_owned(),
        ms(d.statement_timeout),
        ms(d.idle_in_transaction_session_timeout),
        ms(d.idle_session_timeout),
    );
    BASES.with(|b| {
        let mut b = b.borrow_mut();
        if let Some((_, m)) = b.iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let mut values = BTreeMap::new();
        for def in DEFS {
            values.insert(def.name.to_ascii_lowercase(), def.default.to_owned());
        }
        for (k, v) in [
            ("server_version", d.server_version.to_owned()),
            ("server_version_num", server_version_num(d.server_version)),
            ("timezone", d.timezone.to_owned()),
            ("statement_timeout", format_millis(key.2)),
            ("idle_in_transaction_session_timeout", format_millis(key.3)),
            ("idle_session_timeout", format_millis(key.4)),
        ] {
            values.insert(k.to_owned(), v);
        }
        let m = Arc::new(values);
        if b.len() >= 8 {
            b.remove(0);
        }
        b.push((key, m.clone()));
        m
    })
}

impl Params {
    pub fn new(d: &ParamDefaults<'_>) -> Params {
        Params {
            base: base_for(d),
            session_user: d.user.to_owned(),
            superuser: if d.is_superuser { "on" } else { "off" }.to_owned(),
            values: BTreeMap::new(),
            changed: Vec::new(),
            reported: [0; REPORTED_AT_STARTUP.len()],
            undo: Vec::new(),
            reset_values: BTreeMap::new(),
        }
    }

    fn lookup(&self, key: &str) -> Option<&String> {
        match key {
            "session_authorization" => return Some(&self.session_user),
            "is_superuser" => return Some(&self.superuser),
            _ => {}
        }
        match self.values.get(key) {
            Some(v) => v.as_ref(),
            None => self.base.get(key),
        }
    }

    /// The value of a setting (any case), if known.
    pub fn get(&self, name: &str) -> Option<&str> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.lookup(&name.to_ascii_lowercase()).map(String::as_str)
        } else {
            self.lookup(name).map(String::as_str)
        }
    }

    /// Every key that has a value.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.base.keys().cloned().collect();
        for k in self.values.keys() {
            if !self.base.contains_key(k) {
                keys.push(k.clone());
            }
        }
        keys.sort();
        keys.retain(|k| self.lookup(k).is_some());
        keys
    }

    /// SHOW: the value or 42704.
    pub fn show(&self, name: &str) -> Result<(&str, String), PgError> {
        let key = name.to_ascii_lowercase();
        let label = find(&key)
            .map(|d| d.name.to_owned())
            .unwrap_or_else(|| key.clone());
        match self.lookup(&key) {
            Some(v) => Ok((v.as_str(), label)),
            None => Err(unrecognized(name)),
        }
    }

    /// Rows for SHOW ALL: (name, setting, description).
    pub fn show_all(&self) -> Vec<(String, String, String)> {
        self.keys()
            .into_iter()
            .map(|k| {
                let v = self.lookup(&k).cloned().unwrap_or_default();
                let (name, desc) = match find(&k) {
                    Some(d) => (d.name.to_owned(), d.description.to_owned()),
                    None => (k, String::new()),
                };
                (name, v, desc)
            })
            .collect()
    }

    /// Checks and normalizes a value for `name`; returns (key, value).
    fn check(&self, name: &str, value: &str) -> Result<(String, String), PgError> {
        let key = name.to_ascii_lowercase();
        let Some(def) = find(&key) else {
            // Custom placeholder variables ("myapp.setting") are allowed, as
            // in PostgreSQL; anything else is unknown.
            if key.contains('.') && !key.starts_with('.') && !key.ends_with('.') {
                return Ok((key, value.to_owned()));
            }
            return Err(unrecognized(name));
        };
        let value = match def.kind {
            Kind::Text => value.to_owned(),
            Kind::Bool => normalize_bool(value)
                .ok_or_else(|| {
                    PgError::error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("parameter \"{}\" requires a Boolean value", def.name),
                    )
                })?
                .to_owned(),
            Kind::Int(lo, hi) => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    PgError::error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"{}\": \"{value}\"", def.name),
                    )
                })?;
                if n < lo || n > hi {
                    return Err(PgError::error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!(
                            "{n} is outside the valid range for parameter \"{}\" ({lo} .. {hi})",
                            def.name
                        ),
                    ));
                }
                n.to_string()
            }
            Kind::Millis => {
                format_millis(parse_millis(value).ok_or_else(|| invalid_value(def.name, value))?)
            }
            Kind::ReadOnly => {
                return Err(PgError::error(
                    sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                    format!("parameter \"{}\" cannot be changed", def.name),
                ));
            }
            Kind::Special => match key.as_str() {
                "client_encoding" => normalize_client_encoding(value)
                    .ok_or_else(|| {
                        invalid_value(def.name, value)
                            .with_detail("pgiris supports only the UTF8 client encoding.")
                    })?
                    .to_owned(),
                "datestyle" => normalize_datestyle(value).ok_or_else(|| {
                    invalid_value(def.name, value)
                        .with_detail("pgiris renders dates only in the ISO style.")
                })?,
                "intervalstyle" => {
                    if value.trim().eq_ignore_ascii_case("postgres") {
                        "postgres".to_owned()
                    } else {
                        return Err(invalid_value(def.name, value)
                            .with_detail("pgiris renders intervals only in the postgres style."));
                    }
                }
                "standard_conforming_strings" => match normalize_bool(value) {
                    Some("on") => "on".to_owned(),
                    Some(_) => {
                        return Err(PgError::feature_not_supported(
                            "standard_conforming_strings = off is not supported",
                        ));
                    }
                    None => return Err(invalid_value(def.name, value)),
                },
                "bytea_output" => {
                    if value.trim().eq_ignore_ascii_case("hex") {
                        "hex".to_owned()
                    } else {
                        return Err(invalid_value(def.name, value)
                            .with_detail("pgiris renders bytea only in the hex format."));
                    }
                }
                "timezone" => {
                    let v = value.trim();
                    if v.is_empty()
                        || v.len() > 64
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "/_+-:.".contains(c))
                    {
                        return Err(invalid_value(def.name, value));
                    }
                    v.to_owned()
                }
                "client_min_messages" => {
                    let v = value.trim().to_ascii_lowercase();
                    match v.as_str() {
                        "debug5" | "debug4" | "debug3" | "debug2" | "debug1" | "debug" | "log"
                        | "notice" | "warning" | "error" => v,
                        _ => return Err(invalid_value(def.name, value)),
                    }
                }
                "transaction_isolation" | "default_transaction_isolation" => {
                    normalize_isolation(value)
                        .ok_or_else(|| invalid_value(def.name, value))?
                        .to_owned()
                }
                _ => value.to_owned(),
            },
        };
        Ok((key, value))
    }

    /// Applies a startup parameter (from the StartupMessage or `options`).
    pub fn set_startup(&mut self, name: &str, value: &str) -> Result<(), PgError> {
        let (key, value) = self.check(name, value)?;
        self.values.insert(key.clone(), Some(value.clone()));
        self.reset_values.insert(key, value);
        Ok(())
    }

    /// SET [LOCAL] name = value. `in_transaction` makes it undoable.
    pub fn set(
        &mut self,
        name: &str,
        value: &str,
        local: bool,
        in_transaction: bool,
    ) -> Result<(), PgError> {
        let (key, value) = self.check(name, value)?;
        if local && !in_transaction {
            // PostgreSQL: a WARNING and no effect outside a transaction block.
            return Ok(());
        }
        self.assign(key, Some(value), local, in_transaction);
        Ok(())
    }

    /// RESET name.
    pub fn reset(&mut self, name: &str, in_transaction: bool) -> Result<(), PgError> {
        let key = name.to_ascii_lowercase();
        match find(&key) {
            Some(def) if def.kind == Kind::ReadOnly => {
                return Err(PgError::error(
                    sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                    format!("parameter \"{}\" cannot be changed", def.name),
                ));
            }
            Some(_) => {}
            None if self.lookup(&key).is_some() => {}
            None => return Err(unrecognized(name)),
        }
        let value = self.reset_value(&key);
        self.assign(key, value, false, in_transaction);
        Ok(())
    }

    /// RESET ALL (and DISCARD ALL).
    pub fn reset_all(&mut self, in_transaction: bool) {
        for key in self.keys() {
            if find(&key).is_some_and(|d| d.kind == Kind::ReadOnly) {
                continue;
            }
            let value = self.reset_value(&key);
            self.assign(key, value, false, in_transaction);
        }
    }

    /// What RESET restores: the startup value, else the default.
    fn reset_value(&self, key: &str) -> Option<String> {
        self.reset_values
            .get(key)
            .or_else(|| self.base.get(key))
            .cloned()
    }

    /// Stores `value` for `key`, keeping only differences from the base.
    fn store(&mut self, key: String, value: Option<String>) {
        if self.base.get(&key) == value.as_ref() {
            self.values.remove(&key);
        } else {
            self.values.insert(key, value);
        }
    }

    fn assign(&mut self, key: String, value: Option<String>, local: bool, in_transaction: bool) {
        let old = self.lookup(&key).cloned();
        if old == value {
            return;
        }
        if in_transaction {
            self.undo.push((key.clone(), old, local));
        }
        self.store(key.clone(), value);
        self.mark_changed(&key);
    }

    fn mark_changed(&mut self, key: &str) {
        if let Some(def) = find(key).filter(|d| d.report)
            && !self.changed.contains(&def.name)
        {
            self.changed.push(def.name);
        }
    }

    /// The transaction ended: COMMIT keeps SET values but drops SET LOCAL
    /// ones; ROLLBACK restores everything.
    pub fn end_transaction(&mut self, committed: bool) {
        let undo = std::mem::take(&mut self.undo);
        for (key, old, local) in undo.into_iter().rev() {
            if committed && !local {
                continue;
            }
            self.store(key.clone(), old);
            self.mark_changed(&key);
        }
    }

    /// The startup ParameterStatus set, in PostgreSQL's order; remembered
    /// as reported.
    pub fn report_all(&mut self) -> Vec<(&'static str, String)> {
        self.changed.clear();
        REPORTED_AT_STARTUP
            .iter()
            .enumerate()
            .map(|(i, &name)| {
                let v = self.get(name).unwrap_or("").to_owned();
                self.reported[i] = value_hash(&v);
                (name, v)
            })
            .collect()
    }

    /// Reported parameters whose value differs from what the client was
    /// last told (a change undone before the end of the query is not sent,
    /// as in PostgreSQL).
    pub fn take_changed(&mut self) -> Vec<(&'static str, String)> {
        let changed = std::mem::take(&mut self.changed);
        let mut out = Vec::new();
        for name in changed {
            let v = self.get(name).unwrap_or("").to_owned();
            let h = value_hash(&v);
            match REPORTED_AT_STARTUP.iter().position(|n| *n == name) {
                Some(i) if self.reported[i] == h => {}
                Some(i) => {
                    self.reported[i] = h;
                    out.push((name, v));
                }
                None => out.push((name, v)),
            }
        }
        out
    }

    /// Every setting by lower-case name (for the backend's snapshot).
    pub fn view(&self) -> SettingsView {
        let mut overrides = self.values.clone();
        overrides.insert(
            "session_authorization".to_owned(),
            Some(self.session_user.clone()),
        );
        overrides.insert("is_superuser".to_owned(), Some(self.superuser.clone()));
        SettingsView {
            base: self.base.clone(),
            overrides: Arc::new(overrides),
        }
    }

    /// A timeout setting as a Duration (0 = off).
    pub fn timeout(&self, name: &str) -> Duration {
        self.get(name)
            .and_then(parse_millis)
            .map(Duration::from_millis)
            .unwrap_or(Duration::ZERO)
    }
}

/// A hash of a reported value (0 is kept for "never reported").
fn value_hash(v: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish() | 1
}

/// "16.9 (pgiris ...)" -> "160009".
pub fn server_version_num(version: &str) -> String {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(16);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    format!("{}", major * 10000 + minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(&ParamDefaults {
            server_version: "16.9 (pgiris)",
            user: "alice",
            is_superuser: false,
            timezone: "Etc/UTC",
            statement_timeout: Duration::ZERO,
            idle_in_transaction_session_timeout: Duration::ZERO,
            idle_session_timeout: Duration::from_secs(5),
        })
    }

    #[test]
    fn startup_set_is_pg_ordered_and_complete() {
        let p = params();
        for name in REPORTED_AT_STARTUP {
            assert!(p.get(name).is_some(), "{name}");
        }
        let mut sorted = REPORTED_AT_STARTUP.to_vec();
        sorted.sort_by_key(|s| s.to_ascii_lowercase());
        assert_eq!(sorted, REPORTED_AT_STARTUP);
        assert_eq!(p.get("server_version_num"), Some("160009"));
        assert_eq!(p.get("session_authorization"), Some("alice"));
        assert_eq!(p.get("idle_session_timeout"), Some("5s"));
    }

    #[test]
    fn set_show_reset() {
        let mut p = params();
        p.set("application_name", "x", false, false).unwrap();
        assert_eq!(p.show("APPLICATION_NAME").unwrap().0, "x");
        assert_eq!(p.take_changed(), vec![("application_name", "x".to_owned())]);
        assert!(p.take_changed().is_empty());
        p.reset("application_name", false).unwrap();
        assert_eq!(p.get("application_name"), Some(""));
        assert_eq!(p.set("nope", "1", false, false).unwrap_err().code, "42704");
        assert_eq!(p.show("nope").unwrap_err().code, "42704");
        p.set("my.custom", "v", false, false).unwrap();
        assert_eq!(p.show("my.custom").unwrap().0, "v");
        assert_eq!(
            p.set("server_version", "1", false, false).unwrap_err().code,
            "55P02"
        );
        p.set("statement_timeout", "1s", false, false).unwrap();
        assert_eq!(p.timeout("statement_timeout"), Duration::from_secs(1));
        p.set("statement_timeout", "250", false, false).unwrap();
        assert_eq!(p.timeout("statement_timeout"), Duration::from_millis(250));
        assert_eq!(
            p.set("statement_timeout", "soon", false, false)
                .unwrap_err()
                .code,
            "22023"
        );
        p.set("extra_float_digits", "3", false, false).unwrap();
        assert_eq!(
            p.set("extra_float_digits", "4", false, false)
                .unwrap_err()
                .code,
            "22023"
        );
        p.set("DateStyle", "ISO, DMY", false, false).unwrap();
        assert_eq!(p.get("datestyle"), Some("ISO, DMY"));
        assert!(p.set("DateStyle", "German", false, false).is_err());
    }

    #[test]
    fn client_encoding_aliases() {
        let mut p = params();
        for v in ["UTF8", "utf-8", "Unicode", "'UTF8'"] {
            p.set("client_encoding", v, false, false).unwrap();
            assert_eq!(p.get("client_encoding"), Some("UTF8"));
        }
        let e = p
            .set("client_encoding", "LATIN1", false, false)
            .unwrap_err();
        assert_eq!(e.code, "22023");
        assert!(e.message.contains("LATIN1"));
    }

    #[test]
    fn transaction_undo() {
        let mut p = params();
        p.set("application_name", "a", false, true).unwrap();
        p.end_transaction(false);
        assert_eq!(p.get("application_name"), Some(""));
        p.set("application_name", "b", false, true).unwrap();
        p.set("search_path", "x", true, true).unwrap();
        p.end_transaction(true);
        assert_eq!(p.get("application_name"), Some("b"));
        assert_eq!(p.get("search_path"), Some("\"$user\", public"));
        // SET LOCAL outside a transaction does nothing.
        p.set("search_path", "y", true, false).unwrap();
        assert_eq!(p.get("search_path"), Some("\"$user\", public"));
    }

    #[test]
    fn millis_parsing() {
        assert_eq!(parse_millis("0"), Some(0));
        assert_eq!(parse_millis("1500"), Some(1500));
        assert_eq!(parse_millis("2s"), Some(2000));
        assert_eq!(parse_millis("1min"), Some(60_000));
        assert_eq!(parse_millis("-1"), None);
        assert_eq!(parse_millis("1 fortnight"), None);
        assert_eq!(parse_millis("99999999999"), None);
    }

    #[test]
    fn time_settings_show_in_postgresql_units() {
        assert_eq!(format_millis(0), "0");
        assert_eq!(format_millis(1500), "1500ms");
        assert_eq!(format_millis(5000), "5s");
        assert_eq!(format_millis(60_000), "1min");
        assert_eq!(format_millis(7_200_000), "2h");
        assert_eq!(format_millis(86_400_000), "1d");
        let mut p = params();
        p.set("statement_timeout", "5000", false, false).unwrap();
        assert_eq!(p.show("statement_timeout").unwrap().0, "5s");
        assert_eq!(p.timeout("statement_timeout"), Duration::from_secs(5));
        p.set("lock_timeout", "90s", false, false).unwrap();
        assert_eq!(p.show("lock_timeout").unwrap().0, "90s");
        p.set("lock_timeout", "0.5s", false, false).unwrap();
        assert_eq!(p.show("lock_timeout").unwrap().0, "500ms");
    }
}
