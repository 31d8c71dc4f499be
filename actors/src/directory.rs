//! [`Directory`]: one actor per key, started on a miss and forgotten when it stops — the registry behind the
//! OTP sessions (one per state and mobile number) and the lockouts (one per user).
//!
//! - **Spawn on a miss.** The directory builds the actor with its [`Membership`] (key and generation) and
//!   starts it on the arbiter of the caller that missed.
//! - **Bounded.** Past `max_actors` live actors a new key is refused with [`Unreachable::Busy`] (the caller
//!   answers 503) rather than growing without limit; stopped actors are swept first.
//! - **Generations.** An actor leaves in its `stopped` ([`Membership::leave`]); a late leave cannot remove
//!   the newer actor of the same key.
//! - **Asked with a timeout, retried once.** An actor that stopped while a message was on its way (an idle
//!   stop) is replaced and asked once more.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;

use crate::metrics as m;

/// Why a message did not reach its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// Too many live actors, or the actor's mailbox stayed full.
    #[error("the actors are saturated")]
    Busy,
    /// No answer in time.
    #[error("the actor did not answer in time")]
    Timeout,
}

/// A directory's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Live actors at most.
    pub max_actors: usize,
    /// Wait for an answer at most.
    pub timeout: Duration,
}

/// How a directory's actors are named in the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// `actor` label of `digit_user_mailbox_errors_total`.
    pub actor: &'static str,
    /// Gauge of the live actors.
    pub live_gauge: &'static str,
}

/// What an actor of a directory holds to leave it.
pub struct Membership<K, A: Actor> {
    key: K,
    generation: u64,
    directory: Weak<Shared<K, A>>,
}

impl<K: Eq + Hash, A: Actor> Membership<K, A> {
    /// The actor's key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Leaves the directory (call it from `Actor::stopped`): the next message for the key starts a new
    /// actor. A no-op when a newer actor already holds the key.
    pub fn leave(&self) {
        if let Some(shared) = self.directory.upgrade() {
            shared.forget(&self.key, self.generation);
        }
    }
}

type Start<K, A> = Box<dyn Fn(Membership<K, A>) -> A + Send + Sync>;

struct Shared<K, A: Actor> {
    entries: Mutex<Entries<K, A>>,
    start: Start<K, A>,
    limits: Limits,
    names: Names,
}

struct Entries<K, A: Actor> {
    actors: HashMap<K, (Addr<A>, u64)>,
    next_generation: u64,
}

impl<K: Eq + Hash, A: Actor> Shared<K, A> {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<K, A>> {
        // the map stays consistent whatever a panicking holder did: every change is one insert or remove
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self, key: &K, generation: u64) {
        let mut entries = self.entries();
        if entries
            .actors
            .get(key)
            .is_some_and(|(_, g)| *g == generation)
        {
            entries.actors.remove(key);
        }
        metrics::gauge!(self.names.live_gauge).set(entries.actors.len() as f64);
    }

    fn mailbox_error(&self, kind: &'static str) {
        metrics::counter!(m::MAILBOX_ERRORS, "actor" => self.names.actor, "kind" => kind)
            .increment(1);
    }
}

/// One actor per key. Cheap to clone: clones share the actors.
pub struct Directory<K, A: Actor> {
    shared: Arc<Shared<K, A>>,
}

impl<K, A: Actor> Clone for Directory<K, A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, A> Directory<K, A>
where
    K: Eq + Hash + Clone + Send + 'static,
    A: Actor<Context = Context<A>>,
{
    /// A directory whose actors `start` builds from their membership.
    pub fn new(
        limits: Limits,
        names: Names,
        start: impl Fn(Membership<K, A>) -> A + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                entries: Mutex::new(Entries {
                    actors: HashMap::new(),
                    next_generation: 0,
                }),
                start: Box::new(start),
                limits: Limits {
                    max_actors: limits.max_actors.max(1),
                    ..limits
                },
                names,
            }),
        }
    }

    /// The actor of `key`, started if none is live, with its generation.
    pub fn actor(&self, key: &K) -> Result<(Addr<A>, u64), Unreachable> {
        let shared = &self.shared;
        let mut entries = shared.entries();
        if let Some((addr, generation)) = entries.actors.get(key)
            && addr.connected()
        {
            return Ok((addr.clone(), *generation));
        }
        if entries.actors.len() >= shared.limits.max_actors {
            entries.actors.retain(|_, (addr, _)| addr.connected());
            if entries.actors.len() >= shared.limits.max_actors {
                shared.mailbox_error("busy");
                return Err(Unreachable::Busy);
            }
        }
        entries.next_generation += 1;
        let generation = entries.next_generation;
        let membership = Membership {
            key: key.clone(),
            generation,
            directory: Arc::downgrade(shared),
        };
        let addr = (shared.start)(membership).start();
        entries
            .actors
            .insert(key.clone(), (addr.clone(), generation));
        metrics::gauge!(shared.names.live_gauge).set(entries.actors.len() as f64);
        Ok((addr, generation))
    }

    /// Sends `message()` to the actor of `key` and waits for its answer. `message` is called a second time
    /// only when the actor stopped before it saw the first message.
    pub async fn ask<M>(&self, key: &K, message: impl Fn() -> M) -> Result<M::Result, Unreachable>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let shared = &self.shared;
        let timeout = shared.limits.timeout;
        let (addr, generation) = self.actor(key)?;
        match addr.send(message()).timeout(timeout).await {
            Ok(answer) => return Ok(answer),
            Err(MailboxError::Timeout) => {
                shared.mailbox_error("timeout");
                return Err(Unreachable::Timeout);
            }
            // it stopped as the message arrived: a new actor takes it, once
            Err(MailboxError::Closed) => shared.forget(key, generation),
        }
        let (addr, _) = self.actor(key)?;
        addr.send(message())
            .timeout(timeout)
            .await
            .map_err(|e| match e {
                MailboxError::Timeout => {
                    shared.mailbox_error("timeout");
                    Unreachable::Timeout
                }
                MailboxError::Closed => {
                    shared.mailbox_error("closed");
                    Unreachable::Busy
                }
            })
    }

    /// Forgets the actors whose key `moved` holds for (their partition now lives on another pod): the next
    /// message for such a key starts a fresh actor from the store instead of trusting state that went stale
    /// elsewhere. A forgotten actor still answers what it was sent and stops when idle. Returns how many.
    pub fn release(&self, moved: impl Fn(&K) -> bool) -> usize {
        let mut entries = self.shared.entries();
        let before = entries.actors.len();
        entries.actors.retain(|key, _| !moved(key));
        metrics::gauge!(self.shared.names.live_gauge).set(entries.actors.len() as f64);
        before - entries.actors.len()
    }

    /// Actors the directory holds (as the live gauge reports them).
    pub fn len(&self) -> usize {
        self.shared.entries().actors.len()
    }

    /// Whether the directory holds no actor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Actors still running.
    pub fn running(&self) -> usize {
        self.shared
            .entries()
            .actors
            .values()
            .filter(|(addr, _)| addr.connected())
            .count()
    }
}
