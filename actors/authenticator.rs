//! The authenticator actor: owns the hba rules, the users file, the mock
//! secret and the failure throttle. For each login it picks the hba rule and
//! hands the session an [`Exchange`] to run (the exchange itself costs a few
//! HMACs and runs in the session; PBKDF2 never runs here). SIGHUP reloads
//! the files on a blocking thread; a broken file keeps the old rules.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, error, info, warn};

use crate::auth::{
    AuthFailure, ChannelBindingData, ConnFacts, Exchange, FailureThrottle, HbaRules, MockSecret,
    UserList, no_match_error,
};
use crate::config::AuthSettings;
use crate::log::event;
use crate::session::{LoginFacts, LoginPlan};

/// Rules used when `auth.hba_file` is empty: SCRAM for everyone, so an
/// unconfigured server lets in only users of the users file.
const DEFAULT_HBA: &str = "host all all all scram-sha-256\n";

/// The files, loaded.
pub struct AuthFiles {
    pub hba: Arc<HbaRules>,
    pub users: Arc<UserList>,
}

/// Loads the hba and users files. Runs PBKDF2 for plaintext users: call it
/// on a blocking thread.
pub fn load_files(settings: &AuthSettings) -> Result<AuthFiles, String> {
    let hba = if settings.hba_file.is_empty() {
        HbaRules::parse(DEFAULT_HBA).map_err(|e| format!("built-in hba rules: {e}"))?
    } else {
        HbaRules::load(&PathBuf::from(&settings.hba_file))
            .map_err(|e| format!("auth.hba_file {}: {e}", settings.hba_file))?
    };
    let users = if settings.users_file.is_empty() {
        UserList::parse("").map_err(|e| format!("users: {e}"))?
    } else {
        UserList::load(&PathBuf::from(&settings.users_file))
            .map_err(|e| format!("auth.users_file {}: {e}", settings.users_file))?
    };
    Ok(AuthFiles {
        hba: Arc::new(hba),
        users: Arc::new(users),
    })
}

pub struct Authenticator {
    hba: Arc<HbaRules>,
    users: Arc<UserList>,
    mock: MockSecret,
    throttle: FailureThrottle,
    /// What `throttle` was built from, so a reload rebuilds it (and forgets
    /// the failure counts) only when these change.
    throttle_settings: ThrottleSettings,
    log: Logger,
}

type ThrottleSettings = (u32, Duration, Duration);

fn throttle_settings(s: &AuthSettings) -> ThrottleSettings {
    (s.max_failures, s.failure_window, s.failure_delay)
}

impl Authenticator {
    pub fn new(files: AuthFiles, settings: &AuthSettings, log: Logger) -> Authenticator {
        Authenticator {
            hba: files.hba,
            users: files.users,
            mock: MockSecret::generate().with_iterations(settings.scram_iterations),
            throttle: FailureThrottle::new(
                settings.max_failures,
                settings.failure_window,
                settings.failure_delay,
            ),
            throttle_settings: throttle_settings(settings),
            log,
        }
    }
}

impl Actor for Authenticator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervised for Authenticator {}

fn conn_facts(f: &LoginFacts) -> ConnFacts<'_> {
    ConnFacts {
        addr: f.peer.map(|p| p.ip()),
        local_addr: f.local.map(|p| p.ip()),
        tls: f.tls,
        user: &f.user,
        database: &f.database,
        replication: false,
    }
}

/// How should this login proceed?
#[derive(Message)]
#[rtype(result = "LoginPlan")]
pub struct Plan(pub LoginFacts);

impl Handler<Plan> for Authenticator {
    type Result = MessageResult<Plan>;

    fn handle(&mut self, m: Plan, _: &mut Context<Self>) -> Self::Result {
        let facts = conn_facts(&m.0);
        let delay =
            m.0.peer
                .map(|p| self.throttle.delay_for(p.ip(), Instant::now()))
                .unwrap_or(Duration::ZERO);
        if !delay.is_zero() {
            warn!(self.log, "login from a throttled address"; "event" => event::THROTTLED,
                "peer" => m.0.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
                "delay_ms" => delay.as_millis() as u64);
        }
        let Some(rule) = self.hba.find(&facts) else {
            return MessageResult(LoginPlan {
                exchange: Err(AuthFailure {
                    error: no_match_error(&facts),
                    reason: "no pg_hba.conf line matches the connection".into(),
                }),
                method: "none",
                delay,
            });
        };
        let binding =
            m.0.channel_binding
                .clone()
                .map(ChannelBindingData::tls_server_end_point);
        let exchange = Exchange::new(
            rule.method,
            rule.allow_plaintext,
            &facts,
            self.users.get(&m.0.user),
            binding.as_ref(),
            &self.mock,
        );
        MessageResult(LoginPlan {
            method: rule.method.as_str(),
            exchange: Ok(Box::new(exchange)),
            delay,
        })
    }
}

/// A login's outcome (feeds the throttle).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Outcome {
    pub peer: Option<IpAddr>,
    pub success: bool,
}

impl Handler<Outcome> for Authenticator {
    type Result = ();

    fn handle(&mut self, m: Outcome, _: &mut Context<Self>) {
        if !m.success
            && let Some(ip) = m.peer
        {
            self.throttle.record_failure(ip, Instant::now());
        }
    }
}

/// Reloads the files (SIGHUP) and, if they changed, the throttle settings.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload(pub AuthSettings);

impl Handler<Reload> for Authenticator {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, m: Reload, _: &mut Context<Self>) -> Self::Result {
        let settings = m.0;
        let s2 = settings.clone();
        Box::pin(
            async move { tokio::task::spawn_blocking(move || load_files(&s2)).await }
                .into_actor(self)
                .map(move |r, act, _| {
                    // A SIGHUP must not wipe the failure counts of an
                    // address under attack; new throttle settings apply
                    // even when the files are broken.
                    let wanted = throttle_settings(&settings);
                    if wanted != act.throttle_settings {
                        act.throttle = FailureThrottle::new(wanted.0, wanted.1, wanted.2);
                        act.throttle_settings = wanted;
                    }
                    match r {
                        Ok(Ok(files)) => {
                            act.hba = files.hba;
                            act.users = files.users;
                            info!(act.log, "hba and users files reloaded"; "event" => event::RELOAD,
                                "users" => act.users.len(), "rules" => act.hba.rules().len());
                        }
                        Ok(Err(e)) => {
                            error!(act.log, "reload of hba/users failed; keeping the old files";
                                "event" => event::RELOAD, "error" => e);
                        }
                        Err(e) => {
                            error!(act.log, "reload of hba/users failed"; "event" => event::RELOAD, "error" => %e);
                        }
                    }
                }),
        )
    }
}
