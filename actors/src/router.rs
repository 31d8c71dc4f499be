//! `Router`: the entry for every request that touches an OTP session.
//!
//! It owns the registry `session key → (address, generation)`, spawns a session on a miss, and forgets it
//! when the session reports it stopped — unless a newer generation already replaced it. A message for a
//! session is forwarded with a timeout; a session that stopped while the message was on its way is
//! replaced and asked once more. The registry is bounded: past `max_sessions` live sessions, new numbers are
//! refused (the caller answers 503) rather than growing without limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::domain::velocity::IpLimiter;
use crate::metrics as m;
use crate::otp_session::{OtpSession, SessionDeps, SessionStopped};
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
    type Result = Result<M::Result, RouteError>;
}

/// Why a message did not reach its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Too many live sessions, or the session's mailbox stayed full.
    #[error("otp sessions are saturated")]
    Busy,
    /// No answer in time.
    #[error("the otp session did not answer in time")]
    Timeout,
}

/// Number of sessions the router tracks (each is dropped when its stop notice arrives).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct LiveSessions;

/// Admit an OTP send from a client IP (the per-IP cap): `Ok` is the moment it was counted at (to release it
/// with), `Err` the wait in ms.
#[derive(Message)]
#[rtype(result = "Result<i64, i64>")]
pub struct AdmitIp(pub std::net::IpAddr);

/// Give back an admission of [`AdmitIp`] (at that moment) for which no SMS went out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseIp(pub std::net::IpAddr, pub i64);

/// The router's bounds.
#[derive(Debug, Clone, Copy)]
pub struct RouterLimits {
    /// Live sessions at most.
    pub max_sessions: usize,
    /// Wait for a session's answer at most.
    pub timeout: Duration,
    /// Sends per client IP per hour.
    pub ip_per_hour: u32,
    /// Client IPs tracked at most.
    pub max_tracked_ips: usize,
}

/// The router actor.
pub struct Router {
    deps: Arc<SessionDeps>,
    sessions: HashMap<SessionKey, (Addr<OtpSession>, u64)>,
    next_generation: u64,
    max_sessions: usize,
    timeout: Duration,
    ips: IpLimiter,
}

impl Router {
    /// A router over sessions built from `deps`.
    pub fn new(deps: Arc<SessionDeps>, limits: RouterLimits) -> Self {
        Self {
            deps,
            sessions: HashMap::new(),
            next_generation: 0,
            max_sessions: limits.max_sessions,
            timeout: limits.timeout,
            ips: IpLimiter::new(limits.ip_per_hour, limits.max_tracked_ips),
        }
    }

    fn session(&mut self, key: SessionKey) -> Result<Addr<OtpSession>, RouteError> {
        if let Some((addr, _)) = self.sessions.get(&key)
            && addr.connected()
        {
            return Ok(addr.clone());
        }
        if self.sessions.len() >= self.max_sessions {
            self.sessions.retain(|_, (addr, _)| addr.connected());
            if self.sessions.len() >= self.max_sessions {
                return Err(RouteError::Busy);
            }
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let addr = OtpSession::new(key, generation, self.deps.clone()).start();
        self.sessions.insert(key, (addr.clone(), generation));
        metrics::gauge!(m::OTP_SESSIONS_LIVE).set(self.sessions.len() as f64);
        Ok(addr)
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(ROUTER_MAILBOX);
        if self.deps.stopped_to.set(ctx.address().recipient()).is_err() {
            tracing::error!(
                "otp session deps shared by two routers: stopped sessions report to the first"
            );
        }
    }
}

/// Requests the router queues before senders wait.
pub const ROUTER_MAILBOX: usize = 4096;

/// Counts a message that did not reach its session.
fn mailbox_error(kind: &'static str) {
    metrics::counter!(m::MAILBOX_ERRORS, "actor" => "otp_session", "kind" => kind).increment(1);
}

impl<M> Handler<ToSession<M>> for Router
where
    M: Message + Send + Clone + 'static,
    M::Result: Send,
    OtpSession: Handler<M>,
{
    type Result = ResponseFuture<Result<M::Result, RouteError>>;

    fn handle(&mut self, msg: ToSession<M>, ctx: &mut Self::Context) -> Self::Result {
        let addr = match self.session(msg.key) {
            Ok(addr) => addr,
            Err(e) => {
                mailbox_error("busy");
                return Box::pin(async move { Err(e) });
            }
        };
        let router = ctx.address();
        let timeout = self.timeout;
        Box::pin(async move {
            match addr.send(msg.msg.clone()).timeout(timeout).await {
                Ok(result) => Ok(result),
                Err(MailboxError::Timeout) => {
                    mailbox_error("timeout");
                    Err(RouteError::Timeout)
                }
                // the session stopped as the message arrived: a new one picks it up, once
                Err(MailboxError::Closed) => match router
                    .send(Retry(ToSession {
                        key: msg.key,
                        msg: msg.msg,
                    }))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(RouteError::Busy),
                },
            }
        })
    }
}

/// A forward that is not retried again.
struct Retry<M>(ToSession<M>);

impl<M> Message for Retry<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    type Result = Result<M::Result, RouteError>;
}

impl<M> Handler<Retry<M>> for Router
where
    M: Message + Send + 'static,
    M::Result: Send,
    OtpSession: Handler<M>,
{
    type Result = ResponseFuture<Result<M::Result, RouteError>>;

    fn handle(&mut self, Retry(msg): Retry<M>, _: &mut Self::Context) -> Self::Result {
        self.sessions.remove(&msg.key);
        let addr = self.session(msg.key);
        let timeout = self.timeout;
        Box::pin(async move {
            addr?
                .send(msg.msg)
                .timeout(timeout)
                .await
                .map_err(|e| match e {
                    MailboxError::Timeout => {
                        mailbox_error("timeout");
                        RouteError::Timeout
                    }
                    MailboxError::Closed => {
                        mailbox_error("closed");
                        RouteError::Busy
                    }
                })
        })
    }
}

impl Handler<SessionStopped> for Router {
    type Result = ();

    fn handle(&mut self, msg: SessionStopped, _: &mut Self::Context) {
        if self
            .sessions
            .get(&msg.key)
            .is_some_and(|(_, generation)| *generation == msg.generation)
        {
            self.sessions.remove(&msg.key);
        }
        metrics::gauge!(m::OTP_SESSIONS_LIVE).set(self.sessions.len() as f64);
    }
}

impl Handler<AdmitIp> for Router {
    type Result = Result<i64, i64>;

    fn handle(&mut self, AdmitIp(ip): AdmitIp, _: &mut Self::Context) -> Self::Result {
        // a refusal is counted where it ends: a resend of a live code is held, a new code refused
        let now = self.deps.clock.now_ms();
        self.ips.admit(ip, now).map(|()| now)
    }
}

impl Handler<ReleaseIp> for Router {
    type Result = ();

    fn handle(&mut self, ReleaseIp(ip, at): ReleaseIp, _: &mut Self::Context) {
        self.ips.release(ip, at);
    }
}

impl Handler<LiveSessions> for Router {
    type Result = usize;

    fn handle(&mut self, _: LiveSessions, _: &mut Self::Context) -> usize {
        // the registry itself, as the live gauge reports it: a session that stopped without its notice
        // reaching the router would show here
        self.sessions.len()
    }
}
