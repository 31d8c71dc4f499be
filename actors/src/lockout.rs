//! `Lockout`: the actor that owns one user's failed-login count and lock, and [`Lockouts`], the directory
//! that finds or starts it.
//!
//! A login attempt is one message carrying the credential check as a future. The actor handles it
//! atomically — gate, run the check, record the outcome, persist — before it looks at the next message, so
//! N parallel wrong passwords are evaluated at most `max_attempts` times: the attempt that locks is the
//! last one evaluated, the rest are refused at the gate. A lock is persisted, mirrored onto the user record
//! (`accountLocked`, `accountLockedDate`) and ended by a timer, by the next attempt after the cool-down, or
//! by an explicit unlock.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::prelude::*;

use crate::Clock;
use crate::domain::lockout::{Failure, Gate, LockoutPolicy, LockoutState};
use crate::metrics as m;
use crate::store::{Store, StoreError, UserWriteError};

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
    uuid: String,
    generation: u64,
    deps: Arc<LockoutDeps>,
    state: LockoutState,
    directory: Weak<Mutex<Directory>>,
    timer: Option<SpawnHandle>,
}

impl Lockout {
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let now = self.deps.clock.now_ms();
        self.timer = Some(match self.state.locked_until {
            Some(until) => {
                let wait = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                ctx.run_later(wait, |act, ctx| {
                    let now = act.deps.clock.now_ms();
                    if act.state.refresh(now, &act.deps.policy) {
                        act.unlocked(ctx, "cooldown");
                    }
                    act.rearm(ctx);
                })
            }
            None => ctx.run_later(self.deps.idle, |_, ctx| ctx.stop()),
        });
    }

    /// Persists an unlock and clears the user record's flag, in the background of the actor.
    fn unlocked(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        metrics::counter!(m::UNLOCKS, "reason" => reason).increment(1);
        let (deps, uuid, state) = (self.deps.clone(), self.uuid.clone(), self.state.clone());
        ctx.wait(
            async move {
                if let Err(e) = persist(&deps, &uuid, &state, RecordFlag::Clear).await {
                    tracing::error!(error = %e, "lockout: the unlock could not be stored");
                }
            }
            .into_actor(self),
        );
    }
}

/// What a change does to the user record's `accountLocked` / `accountLockedDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordFlag {
    /// Leave the record alone (a counted failure, a success).
    Keep,
    /// Locked at that moment.
    Lock(i64),
    /// Not locked (any more).
    Clear,
}

/// Stores `state` and mirrors the lock onto the user record as `flag` says.
async fn persist(
    deps: &LockoutDeps,
    uuid: &str,
    state: &LockoutState,
    flag: RecordFlag,
) -> Result<(), StoreError> {
    deps.store.sessions().save_lockout(uuid, state).await?;
    let (locked, date) = match flag {
        RecordFlag::Keep => return Ok(()),
        RecordFlag::Lock(at) => (true, Some(at)),
        RecordFlag::Clear => (false, None),
    };
    let now = deps.clock.now_ms();
    let result = deps
        .store
        .users()
        .update(uuid, None, now, |old| {
            if old.account_locked == locked && (locked || old.account_locked_date.is_none()) {
                return Err(()); // nothing to change: no audit record
            }
            let mut new = old.clone();
            new.account_locked = locked;
            new.account_locked_date = date;
            Ok(new)
        })
        .await;
    match result {
        Ok(_) | Err(UserWriteError::Refused(())) | Err(UserWriteError::NotFound) => Ok(()),
        Err(UserWriteError::Store(e)) => Err(e),
        Err(UserWriteError::Duplicate) => Err(StoreError::Corrupt("lock mirror".into())),
    }
}

impl Actor for Lockout {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        match self.deps.store.sessions().lockout(&self.uuid) {
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
        if let Some(dir) = self.directory.upgrade()
            && let Ok(mut dir) = dir.lock()
            && dir
                .actors
                .get(&self.uuid)
                .is_some_and(|(_, g)| *g == self.generation)
        {
            dir.actors.remove(&self.uuid);
            metrics::gauge!(m::LOCKOUT_ACTORS_LIVE).set(dir.actors.len() as f64);
        }
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
        let check = msg.check;
        let record_locked = msg.record_lock.is_some();
        AtomicResponse::new(Box::pin(check.into_actor(self).then(
            move |verdict, act, ctx| {
                let now = act.deps.clock.now_ms();
                let before = act.state.clone();
                let (outcome, mut flag) = match verdict {
                    Err(e) => (Outcome::Undecided(e), RecordFlag::Keep),
                    Ok(true) => {
                        act.state.succeed();
                        (Outcome::Passed, RecordFlag::Keep)
                    }
                    Ok(false) => match act.state.fail(now, &act.deps.policy) {
                        Failure::Counted { remaining } => {
                            (Outcome::Failed { remaining }, RecordFlag::Keep)
                        }
                        Failure::LockedNow { until } => {
                            metrics::counter!(m::LOCKOUTS).increment(1);
                            tracing::warn!(uuid = %act.uuid, "account locked after repeated failed logins");
                            (Outcome::LockedNow { until }, RecordFlag::Lock(now))
                        }
                    },
                };
                // a record still flagged locked after its cool-down is cleared here: DIGIT's lazy unlock
                if flag == RecordFlag::Keep && record_locked && act.state.locked_until.is_none() {
                    flag = RecordFlag::Clear;
                }
                act.rearm(ctx);
                // a success with nothing counted writes nothing: logins cost no extra flush
                let changed = act.state != before || flag != RecordFlag::Keep;
                let (deps, uuid, state) = (act.deps.clone(), act.uuid.clone(), act.state.clone());
                async move {
                    if changed {
                        persist(&deps, &uuid, &state, flag).await?;
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
        let (deps, uuid, state) = (self.deps.clone(), self.uuid.clone(), self.state.clone());
        AtomicResponse::new(Box::pin(
            async move {
                persist(&deps, &uuid, &state, RecordFlag::Clear).await?;
                Ok(was_locked)
            }
            .into_actor(self),
        ))
    }
}

/// Counts a message that did not reach a lockout actor.
fn mailbox_error(kind: &'static str) {
    metrics::counter!(m::MAILBOX_ERRORS, "actor" => "lockout", "kind" => kind).increment(1);
}

/// Why a message did not reach a lockout actor.
#[derive(Debug, thiserror::Error)]
pub enum LockoutError {
    /// Too many live actors, or the actor's mailbox is full.
    #[error("lockout actors are saturated")]
    Busy,
    /// No answer in time.
    #[error("the lockout actor did not answer in time")]
    Timeout,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Directory {
    actors: HashMap<String, (Addr<Lockout>, u64)>,
    next_generation: u64,
}

/// The directory of lockout actors: user uuid → actor, started on demand, forgotten when it stops. Bounded:
/// past `max_actors` live actors new users are refused (503) rather than growing without limit.
#[derive(Clone)]
pub struct Lockouts {
    deps: Arc<LockoutDeps>,
    directory: Arc<Mutex<Directory>>,
    max_actors: usize,
    timeout: Duration,
}

impl Lockouts {
    /// A directory over actors built from `deps`.
    pub fn new(deps: LockoutDeps, max_actors: usize, timeout: Duration) -> Self {
        Self {
            deps: Arc::new(deps),
            directory: Arc::new(Mutex::new(Directory {
                actors: HashMap::new(),
                next_generation: 0,
            })),
            max_actors: max_actors.max(1),
            timeout,
        }
    }

    /// Starts the actors of users whose lock is stored, so their unlock timers run. Must run inside an actix
    /// system.
    pub fn resume(&self) -> Result<usize, LockoutError> {
        let users = self.deps.store.sessions().locked_users()?;
        for uuid in &users {
            self.actor(uuid)?;
        }
        Ok(users.len())
    }

    fn actor(&self, uuid: &str) -> Result<Addr<Lockout>, LockoutError> {
        let mut dir = self.directory.lock().map_err(|_| LockoutError::Busy)?;
        if let Some((addr, _)) = dir.actors.get(uuid)
            && addr.connected()
        {
            return Ok(addr.clone());
        }
        if dir.actors.len() >= self.max_actors {
            dir.actors.retain(|_, (addr, _)| addr.connected());
            if dir.actors.len() >= self.max_actors {
                mailbox_error("busy");
                return Err(LockoutError::Busy);
            }
        }
        dir.next_generation += 1;
        let generation = dir.next_generation;
        let addr = Lockout {
            uuid: uuid.to_owned(),
            generation,
            deps: self.deps.clone(),
            state: LockoutState::default(),
            directory: Arc::downgrade(&self.directory),
            timer: None,
        }
        .start();
        dir.actors
            .insert(uuid.to_owned(), (addr.clone(), generation));
        metrics::gauge!(m::LOCKOUT_ACTORS_LIVE).set(dir.actors.len() as f64);
        Ok(addr)
    }

    /// Runs `check` for user `uuid` under the user's lock. `make` builds the check; it is called again only
    /// if the actor stopped before it saw the first one.
    pub async fn attempt<E, F>(
        &self,
        uuid: &str,
        record_lock: Option<i64>,
        make: F,
    ) -> Result<Outcome<E>, LockoutError>
    where
        E: Send + 'static,
        F: Fn() -> Check<E>,
    {
        let msg = || Attempt {
            check: make(),
            record_lock,
        };
        match self.actor(uuid)?.send(msg()).timeout(self.timeout).await {
            Ok(result) => Ok(result?),
            Err(MailboxError::Timeout) => {
                mailbox_error("timeout");
                Err(LockoutError::Timeout)
            }
            // it stopped as the message arrived (idle): a fresh actor takes it, once
            Err(MailboxError::Closed) => {
                self.forget(uuid);
                Ok(self
                    .actor(uuid)?
                    .send(msg())
                    .timeout(self.timeout)
                    .await
                    .map_err(|_| {
                        mailbox_error("closed");
                        LockoutError::Busy
                    })??)
            }
        }
    }

    /// Ends user `uuid`'s lock and failure count now; `true` when a lock was ended.
    pub async fn unlock(&self, uuid: &str) -> Result<bool, LockoutError> {
        for _ in 0..2 {
            match self.actor(uuid)?.send(Unlock).timeout(self.timeout).await {
                Ok(result) => return Ok(result?),
                Err(MailboxError::Timeout) => return Err(LockoutError::Timeout),
                Err(MailboxError::Closed) => self.forget(uuid),
            }
        }
        Err(LockoutError::Busy)
    }

    fn forget(&self, uuid: &str) {
        if let Ok(mut dir) = self.directory.lock() {
            dir.actors.remove(uuid);
        }
    }

    /// Forgets the actors of users for whom `moved` holds (their partition now lives on another pod): a later
    /// attempt here starts a fresh actor from the store instead of trusting state that went stale elsewhere.
    /// A forgotten actor still answers what it was sent and stops when idle.
    pub fn release(&self, moved: impl Fn(&str) -> bool) -> usize {
        let Ok(mut dir) = self.directory.lock() else {
            return 0;
        };
        let before = dir.actors.len();
        dir.actors.retain(|uuid, _| !moved(uuid));
        metrics::gauge!(m::LOCKOUT_ACTORS_LIVE).set(dir.actors.len() as f64);
        before - dir.actors.len()
    }

    /// Live actors.
    pub fn live(&self) -> usize {
        self.directory.lock().map_or(0, |d| {
            d.actors.values().filter(|(a, _)| a.connected()).count()
        })
    }
}
