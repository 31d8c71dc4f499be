//! `Router`: the entry for every request that touches an OTP session.
//!
//! It holds the sessions' [`Directory`] (one actor per state and mobile number, started on a miss, bounded:
//! past `max_sessions` live sessions new numbers are refused and the caller answers 503). A message for a session is forwarded with a timeout; a session that stopped while the message
//! was on its way is replaced and asked once more.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::directory::{Directory, Limits, Names, Unreachable};
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

/// Whether the number of this session is a test number in force (its sends pass the caps outside the
/// sessions uncounted; its session logs every use).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TestNumberInForce(pub SessionKey);

/// The router's bounds.
#[derive(Debug, Clone, Copy)]
pub struct RouterLimits {
    /// Live sessions at most.
    pub max_sessions: usize,
    /// Wait for a session's answer at most.
    pub timeout: Duration,
}

/// The router actor.
pub struct Router {
    deps: Arc<SessionDeps>,
    sessions: Directory<SessionKey, OtpSession>,
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
        Self { deps, sessions }
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

impl Handler<TestNumberInForce> for Router {
    type Result = bool;

    fn handle(
        &mut self,
        TestNumberInForce(session): TestNumberInForce,
        _: &mut Self::Context,
    ) -> bool {
        let now = self.deps.clock.now_ms();
        self.deps
            .test_codes
            .get(&session)
            .is_some_and(|t| now <= t.until_ms)
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
