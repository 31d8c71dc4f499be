//! The takeover driver: turns the member's [`Change`]s into served partitions. An assigned partition is
//! taken over — claimed and replayed to the journal's end ([`actors::store::fencing`], the store's
//! restore), its previous owner told to stop answering — then served and announced; a revoked one (already
//! handed over by the member) is announced as no longer served. Takeovers of one rebalance run a few at a time; one that fails (the brokers do not
//! answer) is tried again while the partition stays assigned.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actors::Clock;
use actors::store::{JournalError, Store, StoreError};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::announce::Announcer;
use super::member::Change;
use super::routes::{FRESH_MS, Routes};
use super::slots::Slots;

/// Takeovers of one rebalance running at once.
const TAKEOVERS_AT_ONCE: usize = 4;
/// Pause before a failed takeover is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How often the driver looks for contested partitions and announces what this pod serves.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a pod does with partitions it takes over before it serves them: forget the actors of their
/// numbers and users (what another pod did with them meanwhile is in the store, not in those actors).
pub type Forget = dyn Fn(&BTreeSet<u16>) + Send + Sync;

/// How the call to the previous owner ended (its handover endpoint: "I have it, stop answering").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// It stopped answering for the partition.
    Done,
    /// Nothing listens there (the pod is gone): it answers nothing.
    Gone,
    /// No answer in time (cut off?): it may still answer until its handover time is up.
    Silent,
}

/// Calls pod `ordinal`'s handover endpoint for `partitions`.
pub type CallHandover =
    dyn Fn(u16, Vec<u16>) -> futures_util::future::BoxFuture<'static, Handshake> + Send + Sync;

/// What the driver works with.
pub struct Driver {
    /// This pod's slots.
    pub slots: Arc<Slots>,
    /// Who serves what, as announced.
    pub routes: Arc<Routes>,
    /// This pod's ordinal.
    pub me: u16,
    /// The store.
    pub store: Arc<Store>,
    /// The publisher of this pod's announcements.
    pub announcer: Announcer,
    /// Time.
    pub clock: Clock,
    /// Set once the actors exist ([`Forget`]).
    pub forget: Arc<OnceLock<Box<Forget>>>,
    /// The previous owner's handover endpoint.
    pub handshake: Box<CallHandover>,
    /// `cluster.handover_ms`.
    pub handover: Duration,
    /// `cluster.drain_ms`.
    pub drain: Duration,
    /// Assigned partitions whose journal lost what this disk applied: not served, an operator must act.
    pub unservable: std::sync::Mutex<BTreeSet<u16>>,
}

impl Driver {
    /// Runs until the member goes; `settled` turns true once the first assignment is taken over.
    pub async fn run(self, mut changes: mpsc::Receiver<Change>, settled: watch::Sender<bool>) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(Change::Assigned(partitions)) => {
                        self.take_over(partitions).await;
                        settled.send_replace(true);
                        self.announce().await;
                    }
                    Some(Change::Revoked(_)) => self.announce().await,
                    None => break,
                },
                _ = tick.tick() => {
                    self.end_handovers().await;
                    self.settle_contests().await;
                    self.announce().await;
                }
            }
        }
        // left the group: say so, so nobody routes here while the others' takeovers run
        self.announce().await;
    }

    /// Takes `partitions` over, a few at a time.
    async fn take_over(&self, partitions: Vec<u16>) {
        futures_util::stream::iter(partitions)
            .for_each_concurrent(TAKEOVERS_AT_ONCE, |p| self.take_over_one(p))
            .await;
        // what the replays brought into the outbox, counted once
        self.store.outbox().recount();
    }

    async fn take_over_one(&self, partition: u16) {
        let started = Instant::now();
        while self.slots.is_assigned(partition) {
            match self.store.durable().restore(&[partition], |_, _| {}).await {
                Ok(()) => {
                    let generation = self.store.durable().generation(partition).unwrap_or(0);
                    // claimed first, then the previous owner told to stop: a pod the group gave the
                    // partition to as well, told to give way, finds this newer claim announced and does not take it
                    // back (told before the claim, it did, and both answered for a moment — a code check
                    // failed on a stale copy); its writes in between are fenced (retryable)
                    self.previous_owner_stops(partition).await;
                    if let Some(forget) = self.forget.get() {
                        forget(&BTreeSet::from([partition]));
                    }
                    if self.slots.serve(partition, generation) {
                        let seconds = started.elapsed().as_secs_f64();
                        metrics::histogram!(actors::metrics::TAKEOVER_SECONDS).record(seconds);
                        tracing::info!(
                            partition,
                            generation,
                            seconds,
                            "group: partition taken over"
                        );
                        // said at once: its previous owner stopped answering for it a moment ago
                        self.announce().await;
                    }
                    return;
                }
                Err(StoreError::Journal(JournalError::Unservable(why))) => {
                    tracing::error!(partition, %why, "group: partition not servable; an operator must act");
                    self.unservable
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(partition);
                    return;
                }
                // another pod claimed it meanwhile: left to it if the contest rule says so
                Err(StoreError::Journal(JournalError::Fenced(_)))
                    if self.rival_wins(partition, 0) && self.slots.give_way_assigned(partition) =>
                {
                    release_in_store(&self.store, vec![partition]).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, "group: takeover failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Partitions the group (as this pod knows it) assigns here that another pod claimed after this one:
    /// a claim that outran a handover (the takeover of a pod cut off or killed, ending late), or a group
    /// that gave one partition to two members for a moment (a broker without the cooperative protocol's
    /// two phases). One pod must serve it: the lower ordinal of two that still announce wins, the other
    /// gives way until it no longer does; against a pod that stopped announcing, this one takes it back.
    async fn settle_contests(&self) {
        let now = self.clock.now_ms();
        let rival = |p: u16, generation: u64| {
            self.routes
                .owner(p)
                .filter(|r| r.ordinal != self.me && r.generation > generation)
        };
        let yields_to = |r: &super::Route| r.ordinal < self.me && now - r.at_ms <= FRESH_MS;
        // a handover whose next owner has announced a newer claim is over, called or not
        let taken: Vec<u16> = self
            .slots
            .handovers()
            .into_iter()
            .filter(|p| rival(*p, self.slots.generation(*p)).is_some())
            .collect();
        if !taken.is_empty() {
            end_handover(&self.slots, &self.store, taken, self.drain).await;
        }
        let mut again = Vec::new();
        let mut yielded = Vec::new();
        for (p, generation) in self.slots.served() {
            match rival(p, generation) {
                Some(r) if yields_to(&r) && self.slots.give_way(p) => {
                    tracing::info!(
                        partition = p,
                        to = r.ordinal,
                        "group: a partition also given to another pod left to it"
                    );
                    yielded.push(p);
                }
                Some(r) if yields_to(&r) => {}
                Some(_) => again.push(p),
                None if self.store.durable().fenced(p) => again.push(p),
                None => {}
            }
        }
        again.retain(|p| self.slots.unserve(*p));
        release_in_store(&self.store, yielded).await;
        for p in self.slots.given_way() {
            let generation = self.slots.generation(p);
            if !rival(p, generation).is_some_and(|r| yields_to(&r)) && self.slots.resume(p) {
                // this pod's to claim again
                self.store.durable().assign(&[p]);
                again.push(p);
            }
        }
        if !again.is_empty() {
            tracing::warn!(partitions = ?again, "group: assigned partitions claimed by another pod; taking them over again");
            self.take_over(again).await;
        }
    }

    /// Whether another pod announces a claim on `partition` newer than `generation` and, by the contest
    /// rule, keeps it (a lower ordinal, announcing freshly).
    fn rival_wins(&self, partition: u16, generation: u64) -> bool {
        let now = self.clock.now_ms();
        self.routes.owner(partition).is_some_and(|r| {
            r.ordinal != self.me
                && r.generation > generation
                && r.ordinal < self.me
                && now - r.at_ms <= FRESH_MS
        })
    }

    /// Tells every other pod to stop answering for `partition`, so that no read of a copy follows a write
    /// here: the pod that served it before as announced, and any pod that serves it without having said so
    /// yet (tansu may give a partition to one pod and then to another while a pod leaves: the first serves
    /// it a moment before its announcement, and telling only the announced owner missed it — a code check
    /// answered from its copy). A pod that does not serve it does nothing. If the announced owner does not
    /// answer it may still be handing the partition over: this one waits out `cluster.handover_ms` then.
    async fn previous_owner_stops(&self, partition: u16) {
        let announced = self
            .routes
            .owner(partition)
            .map(|r| r.ordinal)
            .filter(|o| *o != self.me);
        let mut others: Vec<u16> = self
            .routes
            .live_members(self.clock.now_ms())
            .into_iter()
            .filter(|o| *o != self.me)
            .collect();
        if let Some(owner) = announced
            && !others.contains(&owner)
        {
            others.push(owner);
        }
        let told = futures_util::future::join_all(
            others.iter().map(|o| (self.handshake)(*o, vec![partition])),
        )
        .await;
        let silent_owner = others
            .iter()
            .zip(&told)
            .any(|(o, h)| Some(*o) == announced && *h == Handshake::Silent);
        if silent_owner {
            tracing::warn!(
                partition,
                previous = announced,
                "group: the previous owner did not answer the handover; waiting out cluster.handover_ms"
            );
            tokio::time::sleep(self.handover).await;
        }
    }

    /// Ends the handovers whose next owner did not call in time (`cluster.handover_ms`, or
    /// `cluster.unreachable_hold_ms` for an assignment lost with the coordinator out of reach).
    async fn end_handovers(&self) {
        let overdue = self.slots.handovers_due();
        if overdue.is_empty() {
            return;
        }
        let ended = end_handover(&self.slots, &self.store, overdue, self.drain).await;
        tracing::info!(partitions = ?ended, "group: handovers ended without word from the next owner");
    }

    async fn announce(&self) {
        let served = self.slots.served();
        let (assigned, serving) = self.slots.counts();
        let unservable = {
            let mut set = self
                .unservable
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            set.retain(|p| self.slots.is_assigned(*p));
            set.len()
        };
        metrics::gauge!(actors::metrics::PARTITIONS_OWNED).set(serving as f64);
        metrics::gauge!(actors::metrics::PARTITIONS_ASSIGNED).set(assigned as f64);
        // the journal's view of the same: assigned, brought to the journal's end and served, lost
        let journal = |state: &'static str, n: usize| {
            metrics::gauge!(actors::metrics::JOURNAL_PARTITIONS, "state" => state).set(n as f64);
        };
        journal("total", assigned);
        journal("restored", serving);
        journal("unservable", unservable);
        if let Err(e) = self.announcer.announce(served, self.clock.now_ms()).await {
            tracing::warn!(error = %e, "members: announcement not sent; the next one follows shortly");
        }
    }
}

/// Stops answering for `partitions` this pod hands over, lets the requests inside finish (up to `drain`)
/// and releases them in the store (no write of this pod reaches their journal afterwards); the partitions
/// whose handover it ended.
pub async fn end_handover(
    slots: &Arc<Slots>,
    store: &Arc<Store>,
    partitions: Vec<u16>,
    drain: Duration,
) -> Vec<u16> {
    stop_and_release(slots, store, move |slots| {
        slots.hand_over(&partitions, drain)
    })
    .await
}

/// Stops answering for those of `partitions` this pod serves though another pod has claimed them since
/// (the group gave them to both for a moment): the caller serves them once this returns, so no read of
/// this pod's copy follows its writes. Waits for the requests inside (up to `drain`); the partitions it
/// gave way with. The contest rule ([`Driver`]) decides later which of the two keeps them.
pub async fn give_way_to_claim(
    slots: &Arc<Slots>,
    store: &Arc<Store>,
    partitions: Vec<u16>,
    drain: Duration,
) -> Vec<u16> {
    stop_and_release(slots, store, move |slots| {
        slots.give_way_to_claim(&partitions, drain)
    })
    .await
}

/// Releases `partitions` in the store: another pod's for now (a standby may follow them). Off the async
/// threads: a release waits for whoever talks to their journal.
async fn release_in_store(store: &Arc<Store>, partitions: Vec<u16>) {
    if partitions.is_empty() {
        return;
    }
    let store = store.clone();
    let released = tokio::task::spawn_blocking(move || store.durable().release(&partitions)).await;
    if let Ok(Err(e)) = released {
        tracing::error!(error = %e, "group: partitions given way not released in the store");
    }
}

/// Runs `stop` on the slots (it stops answering for partitions and returns which), then releases those in
/// the store; the partitions. Off the async threads: both wait (for requests inside, for whoever talks to
/// the partitions' journal).
async fn stop_and_release(
    slots: &Arc<Slots>,
    store: &Arc<Store>,
    stop: impl FnOnce(&Slots) -> Vec<u16> + Send + 'static,
) -> Vec<u16> {
    let (slots, store) = (slots.clone(), store.clone());
    tokio::task::spawn_blocking(move || {
        let stopped = stop(&slots);
        if let Err(e) = store.durable().release(&stopped) {
            tracing::error!(error = %e, "group: partitions no longer answered here not released in the store");
        }
        stopped
    })
    .await
    .unwrap_or_default()
}
