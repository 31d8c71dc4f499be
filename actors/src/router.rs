//! `Router`: the entry for every request that touches an OTP session.
//!
//! It holds the sessions' [`Directory`] (one actor per state and mobile number, started on a miss, bounded:
//! past `max_sessions` live sessions new numbers are refused and the caller answers 503) and the per-IP cap
//! of sends. A message for a session is forwarded with a timeout; a session that stopped while the message
//! was on its way is replaced and asked once more.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::directory::{Directory, Limits, Names, Unreachable};
use crate::domain::otp::Throttle;
use crate::domain::velocity::{CapLimits, SendCaps, SendKey};
use crate::metrics as m;
use crate::otp_session::{OtpSession, SessionDeps};
use crate::store::SessionKey;

/// Forward `msg` to the session of `key`.
pub struct ToSession<M> {
    /// The session.
    pub key: SessionKey,
    /// The message.
    pub msg: M,
}

impl<M> Message for ToSession<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    type Result = Result<M::Result, Unreachable>;
}

/// Number of sessions the router tracks (each is dropped when its stop notice arrives).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct LiveSessions;

/// Admit an OTP send to the session of `.1` past the caps outside it (client IP, number prefix, state): `Ok`
/// is the moment it was counted at (to release it with), `Err` the cap that refused it. A test number in
/// force passes uncounted.
#[derive(Message)]
#[rtype(result = "Result<i64, Throttle>")]
pub struct AdmitSend(pub SendKey, pub SessionKey);

/// Give back an admission of [`AdmitSend`] (at that moment) for which no SMS went out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseSend(pub SendKey, pub i64);

/// The router's bounds.
#[derive(Debug, Clone, Copy)]
pub struct RouterLimits {
    /// Live sessions at most.
    pub max_sessions: usize,
    /// Wait for a session's answer at most.
    pub timeout: Duration,
    /// The caps outside the sessions.
    pub caps: CapLimits,
}

/// The router actor.
pub struct Router {
    deps: Arc<SessionDeps>,
    sessions: Directory<SessionKey, OtpSession>,
    caps: SendCaps,
}

impl Router {
    /// A router over sessions built from `deps`.
    pub fn new(deps: Arc<SessionDeps>, limits: RouterLimits) -> Self {
        let sessions = Directory::new(
            Limits {
                max_actors: limits.max_sessions,
                timeout: limits.timeout,
            },
            Names {
                actor: "otp_session",
                live_gauge: m::OTP_SESSIONS_LIVE,
            },
            {
                let deps = deps.clone();
                move |member| OtpSession::new(member, deps.clone())
            },
        );
        Self {
            deps,
            sessions,
            caps: SendCaps::new(limits.caps),
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(ROUTER_MAILBOX);
    }
}

/// Requests the router queues before senders wait.
pub const ROUTER_MAILBOX: usize = 4096;

impl<M> Handler<ToSession<M>> for Router
where
    M: Message + Send + Clone + 'static,
    M::Result: Send,
    OtpSession: Handler<M>,
{
    type Result = ResponseFuture<Result<M::Result, Unreachable>>;

    fn handle(
        &mut self,
        ToSession { key, msg }: ToSession<M>,
        _: &mut Self::Context,
    ) -> Self::Result {
        let sessions = self.sessions.clone();
        Box::pin(async move { sessions.ask(&key, || msg.clone()).await })
    }
}

/// Forgets the session actors of numbers whose home is one of these partitions (taken over again: what
/// another pod did with them meanwhile is in the store, not in those actors); how many. A forgotten actor
/// still answers what it was sent and stops when idle.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ReleaseSessions(pub std::collections::BTreeSet<u16>);

impl Handler<ReleaseSessions> for Router {
    type Result = usize;

    fn handle(&mut self, ReleaseSessions(homes): ReleaseSessions, _: &mut Self::Context) -> usize {
        self.sessions.release(|key| homes.contains(&key.home))
    }
}

impl Handler<AdmitSend> for Router {
    type Result = Result<i64, Throttle>;

    fn handle(
        &mut self,
        AdmitSend(send, session): AdmitSend,
        _: &mut Self::Context,
    ) -> Self::Result {
        // a refusal is counted where it ends: a resend of a live code is held, a new code refused
        let now = self.deps.clock.now_ms();
        if self
            .deps
            .test_codes
            .get(&session)
            .is_some_and(|t| now <= t.until_ms)
        {
            // its session logs every use of a test number
            return Ok(now);
        }
        self.caps.admit(&send, now)
    }
}

impl Handler<ReleaseSend> for Router {
    type Result = ();

    fn handle(&mut self, ReleaseSend(send, at): ReleaseSend, _: &mut Self::Context) {
        self.caps.release(&send, at);
    }
}

impl Handler<LiveSessions> for Router {
    type Result = usize;

    fn handle(&mut self, _: LiveSessions, _: &mut Self::Context) -> usize {
        // the directory itself, as the live gauge reports it: a session that stopped without leaving it
        // would show here
        self.sessions.len()
    }
}
