//! `OtpSession`: the actor that owns one (state tenant, mobile number).
//!
//! It loads its state from sled when it starts and writes it through on every change, in the same
//! transaction as the notifications a send queues. Every message is handled to the end before the next one
//! starts, so of N concurrent validations of one code exactly one consumes it. A timer fires at the next
//! expiry; when no code is live and nothing arrived for `idle`, the actor stops and tells the router.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::Clock;
use crate::directory::Membership;
use crate::domain::messages::MessageCatalogs;
use crate::domain::otp::DAY_MS;
use crate::domain::otp::{
    FreshCode, Invalid, LiveCode, OtpKeys, OtpPolicy, OtpSessionState, Purpose, Sending,
    SourceLedger,
};
use crate::metrics::{self as m, TenantLabels};
use crate::partition::{Partition, mint_uuid};
use crate::store::{SessionKey, Store, StoreError, TokenRecord};

mod messages;
mod notifications;
pub use messages::{
    CreateDirect, SendError, SendOtp, SendReceipt, TokenStatus, ValidateError, ValidateOtp,
};
pub use notifications::Recipients;

/// What every session shares.
pub struct SessionDeps {
    /// The store.
    pub store: Arc<Store>,
    /// Code derivation and hashing.
    pub keys: OtpKeys,
    /// Limits.
    pub policy: OtpPolicy,
    /// Templates.
    pub catalogs: MessageCatalogs,
    /// Time.
    pub clock: Clock,
    /// A session with no live code stops after this long without messages.
    pub idle: Duration,
    /// Test numbers: a fixed code per session until a moment (epoch ms).
    pub test_codes: std::collections::HashMap<SessionKey, TestCode>,
    /// The metrics' tenant labels.
    pub tenant_labels: TenantLabels,
}

/// A test number's fixed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCode {
    /// The code.
    pub code: String,
    /// Last valid moment, epoch ms.
    pub until_ms: i64,
    /// Its position in the configuration, for logs (never the number itself).
    pub index: usize,
}

/// The token id answered for a test number's code.
pub const TEST_TOKEN: &str = "00000000-0000-4000-8000-000000000000";

/// The actor. A hundred thousand of these can be live at once, so it is kept small: no per-session copies
/// of what [`SessionDeps`] holds, one timer, a shared tenant label.
pub struct OtpSession {
    /// Its key (state, number) and its place in the router's directory.
    member: Membership<SessionKey, OtpSession>,
    deps: Arc<SessionDeps>,
    state: OtpSessionState,
    /// What each client address did to this number (memory only).
    sources: SourceLedger,
    /// The expiry timer while a code is live, else the idle timer.
    timer: Option<SpawnHandle>,
    /// The tenant label of the last message (for expiries, which no message names).
    tenant_label: Arc<str>,
}

impl OtpSession {
    /// The session of `member`'s key; its state is loaded in `started`.
    pub fn new(member: Membership<SessionKey, OtpSession>, deps: Arc<SessionDeps>) -> Self {
        let tenant_label = deps.tenant_labels.other();
        Self {
            member,
            deps,
            state: OtpSessionState::default(),
            sources: SourceLedger::default(),
            timer: None,
            tenant_label,
        }
    }

    fn key(&self) -> SessionKey {
        *self.member.key()
    }

    /// Re-arms the timer after every message: at the next expiry while a code is live, else after `idle`.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let clock = &self.deps.clock;
        self.timer = Some(
            match self.state.codes.values().map(|c| c.expires_ms).min() {
                Some(deadline) => {
                    clock.run_at(ctx, deadline, |act: &mut Self, ctx| {
                        // persisted lazily: an expired code is dead whether or not the disk knows yet
                        act.expire();
                        act.rearm(ctx);
                    })
                }
                // a session with nothing in it (a validation or a status asked about a number that never had
                // a code) stops soon: such requests cost no live actor for long
                // (an address's share of the SMS is remembered for its hour)
                None => {
                    let busy = self.sources.busy_until();
                    let idle = if self.state.is_idle() && busy.is_none() {
                        self.deps.idle.min(EMPTY_IDLE)
                    } else {
                        let left = busy.map_or(0, |until| until - clock.now_ms());
                        self.deps
                            .idle
                            .max(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
                    };
                    clock.run_later(ctx, idle, |_: &mut Self, ctx| ctx.stop())
                }
            },
        );
    }

    /// Drops what expired by now, counting the codes that died unused.
    fn expire(&mut self) {
        for purpose in self.state.expire(self.deps.clock.now_ms()) {
            metrics::counter!(m::OTP_EXPIRED, "purpose" => purpose.as_str(), "tenant" => self.tenant_label.to_string()).increment(1);
        }
    }

    /// The test code of this session, if it is a test number still in force.
    fn test_code(&self) -> Option<&TestCode> {
        self.deps
            .test_codes
            .get(&self.key())
            .filter(|t| self.deps.clock.now_ms() <= t.until_ms)
    }
}

fn purpose_label(purpose: Option<Purpose>) -> &'static str {
    purpose.map_or("any", Purpose::as_str)
}

/// A new code whose token id carries the session's home partition.
fn fresh(home: Partition) -> FreshCode {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the OS random source");
    FreshCode {
        token_id: mint_uuid(home),
        nonce,
    }
}

impl Actor for OtpSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        match self.deps.store.otp().load(&self.key()) {
            Ok(state) => self.state = state,
            Err(e) => {
                // A session that cannot read its state must not answer from an empty one.
                tracing::error!(error = %e, "otp session state unreadable; stopping the session");
                ctx.stop();
                return;
            }
        }
        self.expire();
        self.rearm(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.member.leave();
    }
}

/// How long a session holding nothing at all stays after its last message.
const EMPTY_IDLE: Duration = Duration::from_secs(1);

/// Messages a session queues before senders are told it is busy.
pub const MAILBOX: usize = 64;

impl OtpSession {
    /// Answers `answer` once `save` is on disk. A failed save leaves the memory ahead of the disk (a code
    /// counted as sent that was never queued, a try counted that was not stored), so the session stops: the
    /// next message starts one from what is stored.
    fn saved<T: 'static>(
        save: impl std::future::Future<Output = Result<(), StoreError>> + 'static,
        answer: T,
    ) -> ResponseActFuture<Self, Result<T, StoreError>> {
        Box::pin(
            actix::fut::wrap_future::<_, Self>(save).map(move |saved, _, ctx| match saved {
                Ok(()) => Ok(answer),
                Err(e) => {
                    tracing::error!(error = %e, "otp session state not saved; the session restarts from the store");
                    ctx.stop();
                    Err(e)
                }
            }),
        )
    }
}

impl Handler<SendOtp> for OtpSession {
    type Result = ResponseActFuture<Self, Result<SendReceipt, SendError>>;

    fn handle(&mut self, msg: SendOtp, ctx: &mut Self::Context) -> Self::Result {
        self.tenant_label = self.deps.tenant_labels.label(&msg.tenant);
        let tenant = self.tenant_label.to_string();
        if let Some(test) = self.test_code() {
            tracing::warn!(
                test_number = test.index,
                purpose = msg.purpose.as_str(),
                "otp send to a test number: fixed code, no sms"
            );
            metrics::counter!(m::OTP_SENDS, "purpose" => msg.purpose.as_str(), "tenant" => tenant, "result" => "test_number").increment(1);
            let receipt = SendReceipt {
                token_id: TEST_TOKEN.to_owned(),
                is_new: false,
                queued: 0,
                held: None,
            };
            return Box::pin(actix::fut::ready(Ok(receipt)));
        }
        self.expire();
        let (now, policy) = (self.deps.clock.now_ms(), &self.deps.policy);
        let outside = msg
            .outside
            .or_else(|| self.sources.send_limit(msg.source, now, policy));
        let sending = self.state.send(
            now,
            msg.purpose,
            fresh(msg.home),
            &self.deps.keys,
            policy,
            outside,
        );
        if let Ok(Sending::Sms(sent)) = &sending {
            self.sources.sent(msg.source, now, policy);
            if sent.is_new {
                self.sources.new_code();
            }
        }
        self.rearm(ctx);
        // a refused or held send changed nothing: nothing to write, nothing to flush
        let sent = match sending {
            Ok(Sending::Sms(sent)) => sent,
            Ok(Sending::Held(hold)) => {
                metrics::counter!(m::OTP_SENDS, "purpose" => msg.purpose.as_str(), "tenant" => tenant, "result" => "held").increment(1);
                metrics::counter!(m::OTP_RESENDS_HELD, "reason" => hold.reason()).increment(1);
                let live = self
                    .state
                    .codes
                    .get(msg.purpose)
                    .expect("a held send has a live code");
                let receipt = SendReceipt {
                    token_id: live.token_id.to_string(),
                    is_new: false,
                    queued: 0,
                    held: Some(hold),
                };
                return Box::pin(actix::fut::ready(Ok(receipt)));
            }
            Err(throttle) => {
                metrics::counter!(m::OTP_SENDS, "purpose" => msg.purpose.as_str(), "tenant" => tenant, "result" => "throttled").increment(1);
                metrics::counter!(m::OTP_THROTTLED, "reason" => throttle.reason()).increment(1);
                return Box::pin(actix::fut::ready(Err(SendError::Throttled(throttle))));
            }
        };
        let code = self.deps.keys.code_of(&sent.code, self.deps.policy.length);
        let records = self.payloads(msg.purpose, &code, &msg.to, &sent.code);
        let purpose = msg.purpose.as_str();
        let result = if sent.is_new { "new" } else { "resend" };
        metrics::counter!(m::OTP_SENDS, "purpose" => purpose, "tenant" => tenant.clone(), "result" => result).increment(1);
        for record in &records {
            metrics::counter!(m::OTP_NOTIFICATIONS_QUEUED, "purpose" => purpose, "tenant" => tenant.clone(), "channel" => record.channel().as_str()).increment(1);
        }
        let deps = self.deps.clone();
        let (key, state) = (self.key(), self.state.clone());
        let receipt = SendReceipt {
            token_id: sent.code.token_id.to_string(),
            is_new: sent.is_new,
            queued: records.len(),
            held: None,
        };
        let save = async move {
            deps.store
                .otp()
                .save(&key, &state, None, &records)
                .await
                .map(drop)
        };
        Box::pin(Self::saved(save, receipt).map(|r, _, _| r.map_err(SendError::Store)))
    }
}

impl Handler<ValidateOtp> for OtpSession {
    type Result = ResponseActFuture<Self, Result<String, ValidateError>>;

    fn handle(&mut self, msg: ValidateOtp, ctx: &mut Self::Context) -> Self::Result {
        self.tenant_label = self.deps.tenant_labels.label(&msg.owner.tenant);
        let tenant = self.tenant_label.to_string();
        if let Some(test) = self.test_code() {
            use subtle::ConstantTimeEq;
            if bool::from(test.code.as_bytes().ct_eq(msg.code.trim().as_bytes())) {
                tracing::warn!(test_number = test.index, "otp validated for a test number");
                metrics::counter!(m::OTP_VALIDATIONS, "purpose" => purpose_label(msg.purpose), "tenant" => tenant, "result" => "test_number").increment(1);
                return Box::pin(actix::fut::ready(Ok(TEST_TOKEN.to_owned())));
            }
        }
        self.expire();
        let (now, policy) = (self.deps.clock.now_ms(), &self.deps.policy);
        if !self.sources.may_try(msg.source, policy) {
            // this address spent its tries: the code lives on for the others; nothing changes, nothing is written
            metrics::counter!(m::OTP_VALIDATIONS, "purpose" => purpose_label(msg.purpose), "tenant" => tenant, "result" => "source_blocked").increment(1);
            let refused = Invalid {
                exhausted: Vec::new(),
                tries_spent: false,
            };
            return Box::pin(actix::fut::ready(Err(ValidateError::Invalid(refused))));
        }
        let result = self
            .state
            .validate(now, msg.purpose, &msg.code, &self.deps.keys);
        match &result {
            Ok(_) => self.sources.new_code(),
            Err(invalid) if invalid.tries_spent => self.sources.missed(msg.source, now, policy),
            Err(_) => {}
        }
        let outcome = match &result {
            Ok(_) => "success",
            Err(invalid) if !invalid.exhausted.is_empty() => "exhausted",
            Err(_) => "invalid",
        };
        metrics::counter!(m::OTP_VALIDATIONS, "purpose" => purpose_label(msg.purpose), "tenant" => tenant, "result" => outcome).increment(1);
        self.rearm(ctx);
        let answer = result
            .as_ref()
            .map(|live| live.token_id.to_string())
            .map_err(|invalid| invalid.clone());
        // a miss with no live code spent nothing: no write, no flush (anyone can ask about any number)
        if matches!(&result, Err(invalid) if !invalid.tries_spent) {
            return Box::pin(actix::fut::ready(answer.map_err(ValidateError::Invalid)));
        }
        let deps = self.deps.clone();
        let (key, state) = (self.key(), self.state.clone());
        let owner = msg.owner;
        let save = async move {
            // both outcomes change the state (consumed, or a try spent) and must be on disk before the answer;
            // the answer carries a consumed token's id, so from now on `_search` can be asked about it
            let token = result.as_ref().ok().map(|live| TokenRecord {
                id: live.token_id,
                owner: &owner,
                until_ms: now + DAY_MS,
            });
            deps.store
                .otp()
                .save(&key, &state, token, &[])
                .await
                .map(drop)
        };
        Box::pin(Self::saved(save, answer).map(|r, _, _| match r {
            Ok(answer) => answer.map_err(ValidateError::Invalid),
            Err(e) => Err(ValidateError::Store(e)),
        }))
    }
}

impl Handler<CreateDirect> for OtpSession {
    type Result = ResponseActFuture<Self, Result<(LiveCode, String), StoreError>>;

    fn handle(
        &mut self,
        CreateDirect(owner): CreateDirect,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        let now = self.deps.clock.now_ms();
        let live = self.state.issue_direct(
            now,
            fresh(self.deps.store.otp().home(&owner.tenant, &owner.identity)),
            &self.deps.keys,
            &self.deps.policy,
        );
        let code = self.deps.keys.code_of(&live, self.deps.policy.length);
        self.rearm(ctx);
        let deps = self.deps.clone();
        let (key, state) = (self.key(), self.state.clone());
        let (token_id, until_ms) = (live.token_id, live.expires_ms);
        let save = async move {
            let token = TokenRecord {
                id: token_id,
                owner: &owner,
                until_ms,
            };
            deps.store
                .otp()
                .save(&key, &state, Some(token), &[])
                .await
                .map(drop)
        };
        Self::saved(save, (live, code.to_string()))
    }
}

impl Handler<TokenStatus> for OtpSession {
    type Result = Option<bool>;

    fn handle(&mut self, msg: TokenStatus, ctx: &mut Self::Context) -> Self::Result {
        self.rearm(ctx);
        self.state.token_status(&msg.0)
    }
}
