//! `Lockout`: the actor that owns one user's failed-login count and lock, and [`Lockouts`], the
//! [`Directory`] that finds or starts it.
//!
//! A login attempt is one message carrying the credential check as a future. The actor handles it
//! atomically — gate, run the check, record the outcome, persist — before it looks at the next message, so
//! N parallel wrong passwords are evaluated at most `max_attempts` times: the attempt that locks is the
//! last one evaluated, the rest are refused at the gate. A lock is persisted, mirrored onto the user record
//! (`accountLocked`, `accountLockedDate`) and ended by a timer, by the next attempt after the cool-down, or
//! by an explicit unlock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::Clock;
use crate::directory::{Directory, Limits, Membership, Names, Unreachable};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::lockout::{Failure, Gate, LockoutPolicy, LockoutState};
use crate::domain::strangers::{SourceFailure, SourceGate, Sources};
use crate::metrics as m;
use crate::store::{LockMirror, Store, StoreError};

/// A credential check: `Ok(true)` passed, `Ok(false)` failed (counts), `Err` could not be decided (does not
/// count; the error goes back to the caller).
pub type Check<E> = Pin<Box<dyn Future<Output = Result<bool, E>> + Send>>;

/// Run `check` under the user's lock.
pub struct Attempt<E> {
    /// The credential check.
    pub check: Check<E>,
    /// `accountLockedDate` when the user record says locked (an admin or an import set it): the lock then
    /// runs from that moment for the cool-down, as in DIGIT.
    pub record_lock: Option<i64>,
    /// The client's address, when known: failures from an address the user has not logged in from are
    /// throttled per address ([`crate::domain::strangers`]), not counted toward the account's lock.
    pub source: Option<std::net::IpAddr>,
}

impl<E: Send + 'static> Message for Attempt<E> {
    type Result = Result<Outcome<E>, StoreError>;
}

/// What an attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<E> {
    /// The check passed; the count starts again.
    Passed,
    /// The check failed; this many more failures lock.
    Failed {
        /// Failures left before the lock.
        remaining: u32,
    },
    /// The check failed and locked the account (the caller revokes the user's tokens).
    LockedNow {
        /// End of the lock, epoch ms.
        until: i64,
    },
    /// Locked: the check did not run.
    Locked {
        /// End of the lock, epoch ms.
        until: i64,
    },
    /// The check failed, or did not run: the address it came from is blocked for this user (the account
    /// is not locked).
    SourceBlocked {
        /// End of the block, epoch ms.
        until: i64,
    },
    /// The check could not be decided; nothing was counted.
    Undecided(E),
}

/// End a lock now (admin).
#[derive(Message, Clone, Copy)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct Unlock;

/// What every lockout actor shares.
pub struct LockoutDeps {
    /// The store.
    pub store: Arc<Store>,
    /// Limits.
    pub policy: LockoutPolicy,
    /// Time.
    pub clock: Clock,
    /// An actor with no lock stops after this long without messages (its state stays on disk).
    pub idle: Duration,
}

/// One user's lockout actor.
pub struct Lockout {
    /// The user's uuid and the actor's place in the directory.
    member: Membership<String, Lockout>,
    deps: Arc<LockoutDeps>,
    state: LockoutState,
    /// The addresses the user logged in from and strangers' counts (memory only).
    sources: Sources,
    timer: Option<SpawnHandle>,
}

impl Lockout {
    fn uuid(&self) -> &str {
        self.member.key()
    }

    /// Re-arms the timer after every change: at the end of a lock, else after `idle`.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let clock = &self.deps.clock;
        self.timer = Some(match self.state.locked_until {
            Some(until) => clock.run_at(ctx, until, |act: &mut Self, ctx| {
                let now = act.deps.clock.now_ms();
                if act.state.refresh(now, &act.deps.policy) {
                    act.unlocked(ctx, "cooldown");
                }
                act.rearm(ctx);
            }),
            // a stranger's block or count outlives an idle period: the actor stays while it matters
            None => clock.run_later(ctx, self.deps.idle, |act: &mut Self, ctx| {
                let now = act.deps.clock.now_ms();
                if act.sources.active(now, &act.deps.policy.strangers()) {
                    act.rearm(ctx);
                } else {
                    ctx.stop();
                }
            }),
        });
    }

    /// Persists an unlock and clears the user record's flag, in the background of the actor; the unlock
    /// goes into the user's audit trail off the actor's path.
    fn unlocked(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        metrics::counter!(m::UNLOCKS, "reason" => reason).increment(1);
        let (deps, uuid, state) = (
            self.deps.clone(),
            self.uuid().to_owned(),
            self.state.clone(),
        );
        ctx.wait(
            async move {
                match persist(&deps, &uuid, &state, LockMirror::Clear).await {
                    Err(e) => {
                        tracing::error!(error = %e, "lockout: the unlock could not be stored")
                    }
                    Ok(()) => {
                        let event = AuditEvent {
                            at: deps.clock.now_ms(),
                            actor: None,
                            kind: AuditKind::Unlocked {
                                reason: reason.to_owned(),
                            },
                        };
                        actix::spawn(async move {
                            deps.store.audit().record_counted(&uuid, &event).await
                        });
                    }
                }
            }
            .into_actor(self),
        );
    }
}

/// Stores `state` and mirrors the lock onto the user record as `flag` says.
async fn persist(
    deps: &LockoutDeps,
    uuid: &str,
    state: &LockoutState,
    flag: LockMirror,
) -> Result<(), StoreError> {
    let now = deps.clock.now_ms();
    deps.store.save_lock(uuid, state, flag, now).await
}

impl Actor for Lockout {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        match self.deps.store.logins().lockout(self.uuid()) {
            Ok(state) => self.state = state,
            Err(e) => {
                tracing::error!(error = %e, "lockout state unreadable; stopping the actor");
                ctx.stop();
                return;
            }
        }
        let now = self.deps.clock.now_ms();
        if self.state.refresh(now, &self.deps.policy) {
            self.unlocked(ctx, "cooldown");
        }
        self.rearm(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.member.leave();
    }
}

/// Attempts one user's actor queues before callers are told it is busy.
pub const MAILBOX: usize = 256;

impl<E: Send + 'static> Handler<Attempt<E>> for Lockout {
    type Result = AtomicResponse<Self, Result<Outcome<E>, StoreError>>;

    fn handle(&mut self, msg: Attempt<E>, ctx: &mut Self::Context) -> Self::Result {
        let now = self.deps.clock.now_ms();
        let policy = self.deps.policy;
        if self.state.refresh(now, &policy) {
            self.unlocked(ctx, "cooldown");
        }
        if let (Some(at), None) = (msg.record_lock, self.state.locked_until)
            && now < at + policy.cooldown_ms
        {
            self.state.locked_at = Some(at);
            self.state.locked_until = Some(at + policy.cooldown_ms);
        }
        self.rearm(ctx);
        if let Gate::Locked { until } = self.state.gate(now, &policy) {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Outcome::Locked { until }))));
        }
        // an address the user has not logged in from is a stranger's: throttled on its own
        let stranger = msg.source.filter(|ip| !self.sources.is_known(ip));
        if let Some(ip) = &stranger
            && let SourceGate::Blocked { until } = self.sources.gate(ip, now)
        {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Outcome::SourceBlocked { until }))));
        }
        let check = msg.check;
        let source = msg.source;
        let record_locked = msg.record_lock.is_some();
        AtomicResponse::new(Box::pin(check.into_actor(self).then(
            move |verdict, act, ctx| {
                let now = act.deps.clock.now_ms();
                let before = act.state.clone();
                let (outcome, mut flag) = match verdict {
                    Err(e) => (Outcome::Undecided(e), LockMirror::Keep),
                    Ok(true) => {
                        act.state.succeed();
                        act.sources.succeed(source);
                        (Outcome::Passed, LockMirror::Keep)
                    }
                    Ok(false) if stranger.is_some() => {
                        let ip = stranger.expect("a stranger");
                        let policy = act.deps.policy;
                        match act.state.fail_from_stranger(now, &policy) {
                            Some(Failure::LockedNow { until }) => {
                                metrics::counter!(m::LOCKOUTS).increment(1);
                                tracing::warn!(uuid = %act.uuid(), "account locked after sustained failed logins from addresses it never logged in from");
                                (Outcome::LockedNow { until }, LockMirror::Lock(now))
                            }
                            _ => match act.sources.fail(ip, now, &policy.strangers()) {
                                SourceFailure::Counted { remaining } => {
                                    (Outcome::Failed { remaining }, LockMirror::Keep)
                                }
                                SourceFailure::Blocked { until } => {
                                    metrics::counter!(m::SOURCE_BLOCKS).increment(1);
                                    (Outcome::SourceBlocked { until }, LockMirror::Keep)
                                }
                            },
                        }
                    }
                    Ok(false) => match act.state.fail(now, &act.deps.policy) {
                        Failure::Counted { remaining } => {
                            (Outcome::Failed { remaining }, LockMirror::Keep)
                        }
                        Failure::LockedNow { until } => {
                            metrics::counter!(m::LOCKOUTS).increment(1);
                            tracing::warn!(uuid = %act.uuid(), "account locked after repeated failed logins");
                            (Outcome::LockedNow { until }, LockMirror::Lock(now))
                        }
                    },
                };
                // a record still flagged locked after its cool-down is cleared here: DIGIT's lazy unlock
                if flag == LockMirror::Keep && record_locked && act.state.locked_until.is_none() {
                    flag = LockMirror::Clear;
                }
                act.rearm(ctx);
                // a success with nothing counted writes nothing: logins cost no extra flush
                let changed = act.state != before || flag != LockMirror::Keep;
                let (deps, uuid, state) = (act.deps.clone(), act.uuid().to_owned(), act.state.clone());
                async move {
                    if changed {
                        match persist(&deps, &uuid, &state, flag).await {
                            // a success that could not clear the failures counted before it (the journal
                            // did not answer): the login stands, the journal keeps the old count
                            Err(StoreError::Journal(e))
                                if matches!(outcome, Outcome::Passed) && flag == LockMirror::Keep =>
                            {
                                tracing::warn!(error = %e, "earlier failed logins not cleared: the journal did not take it");
                            }
                            other => other?,
                        }
                    }
                    Ok(outcome)
                }
                .into_actor(act)
            },
        )))
    }
}

impl Handler<Unlock> for Lockout {
    type Result = AtomicResponse<Self, Result<bool, StoreError>>;

    fn handle(&mut self, _: Unlock, ctx: &mut Self::Context) -> Self::Result {
        let was_locked = self.state.locked_until.is_some();
        self.state.unlock();
        if was_locked {
            metrics::counter!(m::UNLOCKS, "reason" => "admin").increment(1);
        }
        self.rearm(ctx);
        let (deps, uuid, state) = (
            self.deps.clone(),
            self.uuid().to_owned(),
            self.state.clone(),
        );
        AtomicResponse::new(Box::pin(
            async move {
                persist(&deps, &uuid, &state, LockMirror::Clear).await?;
                Ok(was_locked)
            }
            .into_actor(self),
        ))
    }
}

/// Why a lockout actor gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LockoutError {
    /// Too many live actors, the actor's mailbox is full, or no answer in time.
    #[error("lockout actor: {0}")]
    Unreachable(#[from] Unreachable),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The directory of lockout actors: user uuid → actor, started on demand, forgotten when it stops. Bounded:
/// past `max_actors` live actors new users are refused (503) rather than growing without limit.
#[derive(Clone)]
pub struct Lockouts {
    deps: Arc<LockoutDeps>,
    actors: Directory<String, Lockout>,
}

impl Lockouts {
    /// A directory over actors built from `deps`.
    pub fn new(deps: LockoutDeps, max_actors: usize, timeout: Duration) -> Self {
        let deps = Arc::new(deps);
        let actors = Directory::new(
            Limits {
                max_actors,
                timeout,
            },
            Names {
                actor: "lockout",
                live_gauge: m::LOCKOUT_ACTORS_LIVE,
            },
            {
                let deps = deps.clone();
                move |member| Lockout {
                    member,
                    deps: deps.clone(),
                    state: LockoutState::default(),
                    sources: Sources::default(),
                    timer: None,
                }
            },
        );
        Self { deps, actors }
    }

    /// Starts the actors of users whose lock is stored, so their unlock timers run. Must run inside an actix
    /// system.
    pub fn resume(&self) -> Result<usize, LockoutError> {
        let users = self.deps.store.logins().locked_users()?;
        for uuid in &users {
            self.actors.actor(uuid)?;
        }
        Ok(users.len())
    }

    /// Runs `check` for user `uuid` under the user's lock. `make` builds the check; it is called again only
    /// if the actor stopped before it saw the first one.
    pub async fn attempt<E, F>(
        &self,
        uuid: &str,
        record_lock: Option<i64>,
        source: Option<std::net::IpAddr>,
        make: F,
    ) -> Result<Outcome<E>, LockoutError>
    where
        E: Send + 'static,
        F: Fn() -> Check<E>,
    {
        let attempt = || Attempt {
            check: make(),
            record_lock,
            source,
        };
        Ok(self.actors.ask(&uuid.to_owned(), attempt).await??)
    }

    /// Ends user `uuid`'s lock and failure count now; `true` when a lock was ended.
    pub async fn unlock(&self, uuid: &str) -> Result<bool, LockoutError> {
        Ok(self.actors.ask(&uuid.to_owned(), || Unlock).await??)
    }

    /// Forgets the actors of users for whom `moved` holds (their partition now lives on another pod): a later
    /// attempt here starts a fresh actor from the store instead of trusting state that went stale elsewhere.
    /// A forgotten actor still answers what it was sent and stops when idle.
    pub fn release(&self, moved: impl Fn(&str) -> bool) -> usize {
        self.actors.release(|uuid| moved(uuid))
    }

    /// Live actors.
    pub fn live(&self) -> usize {
        self.actors.running()
    }
}
