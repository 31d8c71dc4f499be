//! This pod as a member of the consumer group on the journal topic (`journal.group`, cooperative-sticky):
//! the group coordinator decides which journal partitions — which partitions of ours — each pod serves.
//! The member never reads the topic (its partitions are paused); it joins, heartbeats, and turns the
//! group's rebalances into [`Change`]s:
//!
//! - **Revoked**, inside the callback, before the group goes on: the store stops claiming the partitions
//!   (no claim of this pod lands after the callback returns) and they are *handed over*: still answered
//!   — the next owner replays every write of ours that lands before its claim, and fences the rest — until
//!   the next owner, once it has taken them over, calls this pod's handover endpoint, or
//!   `cluster.handover_ms` passes. So a planned move answers no 503 while the group reassigns.
//! - **Assigned**: the partitions are marked assigned and handed to the takeover driver.
//!
//! A pod that stops heartbeating (killed, paused, cut off) is dropped by the coordinator after
//! `cluster.session_timeout_ms` and its partitions assigned to the others; if it comes back it gets a
//! revocation of everything ("lost"), and the fence keeps what it wrote meanwhile out of every replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actors::store::Store;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use super::routes::Routes;
use super::slots::Slots;

/// How long the member's thread waits in one poll.
const POLL: Duration = Duration::from_millis(100);
/// Changes waiting for the driver at most (rebalances are rare; the member blocks when it is full).
const CHANGES: usize = 64;

/// What a rebalance did to this pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Partitions given to this pod: to take over.
    Assigned(Vec<u16>),
    /// Partitions taken from it: already handed over.
    Revoked(Vec<u16>),
}

/// What the member's callbacks need.
struct Context {
    slots: Arc<Slots>,
    store: Arc<Store>,
    changes: mpsc::Sender<Change>,
    /// `cluster.handover_ms`.
    handover: Duration,
    /// `cluster.unreachable_hold_ms`.
    unreachable_hold: Duration,
    /// Who announced what (were there other pods before the coordinator went out of reach?).
    routes: Arc<Routes>,
    /// This pod's ordinal.
    me: u16,
}

impl Context {
    /// How long a revoked partition is still answered at most: a planned move, `cluster.handover_ms`; an
    /// assignment lost with the coordinator out of reach, `cluster.unreachable_hold_ms` — or no limit when
    /// no other pod ever announced itself (a lone pod: nobody else may take its partitions over, and it
    /// answers logins through a broker outage of any length). Not "recently": a pod that was paused has
    /// heard nobody for as long, and must not count itself alone.
    fn answer_for(&self, lost: bool) -> Option<Duration> {
        if !lost {
            return Some(self.handover);
        }
        self.routes
            .others_announced(self.me)
            .then_some(self.unreachable_hold)
    }
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let partitions = partitions_of(list);
        // lost, not revoked: the coordinator was out of reach for the session timeout (a broker outage,
        // or this pod cut off or paused). Nobody can take a partition over without the brokers, so this
        // pod keeps answering from its copy — reads; its writes need the journal — until a newer claim
        // is announced or `cluster.unreachable_hold_ms` passes
        let lost = consumer.assignment_lost();
        let answer_for = self.answer_for(lost);
        // those served are still answered until the next owner has them (the driver ends what it does not
        // end): no claim of this pod reaches them again, and its writes count until that owner's claim
        // fences them; those not yet served are released at once (a standby may follow them)
        let handed_over = self.slots.revoke(&partitions, answer_for);
        self.store.durable().stop_claiming(&handed_over);
        let idle: Vec<u16> = partitions
            .iter()
            .copied()
            .filter(|p| !handed_over.contains(p))
            .collect();
        if let Err(e) = self.store.durable().release(&idle) {
            tracing::error!(error = %e, "group: revoked partitions not released in the store");
        }
        metrics::counter!(actors::metrics::GROUP_REBALANCES, "change" => "revoked").increment(1);
        if lost {
            tracing::warn!(
                partitions = ?partitions,
                alone = answer_for.is_none(),
                "group: assignment lost (the coordinator out of reach); answering from this copy until \
                 another pod claims them or — with other pods in the group — cluster.unreachable_hold_ms \
                 passes"
            );
        } else {
            tracing::info!(partitions = ?partitions, "group: partitions revoked; handing them over");
        }
        let _ = self.changes.blocking_send(Change::Revoked(partitions));
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        // the member only holds the assignment: nothing is fetched
        if let Err(e) = consumer.pause(list) {
            tracing::warn!(error = %e, "group: assigned partitions not paused");
        }
        let partitions = partitions_of(list);
        let cooperative = matches!(
            Consumer::rebalance_protocol(consumer),
            RebalanceProtocol::Cooperative
        );
        tracing::info!(partitions = ?partitions, cooperative, "group: partitions assigned");
        self.store.durable().assign(&partitions);
        self.slots.assign(&partitions);
        metrics::counter!(actors::metrics::GROUP_REBALANCES, "change" => "assigned").increment(1);
        let _ = self.changes.blocking_send(Change::Assigned(partitions));
    }
}

fn partitions_of(list: &TopicPartitionList) -> Vec<u16> {
    list.elements()
        .iter()
        .filter_map(|e| u16::try_from(e.partition()).ok())
        .collect()
}

/// The group member's thread; [`Member::leave`] hands everything over and leaves.
pub struct Member {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How a member joins.
pub struct Joining {
    /// The client configuration (brokers, properties).
    pub config: ClientConfig,
    /// The group.
    pub group: String,
    /// The journal topic.
    pub topic: String,
    /// `cluster.session_timeout_ms`.
    pub session_timeout: Duration,
    /// `cluster.drain_ms`.
    pub drain: Duration,
    /// `cluster.handover_ms`.
    pub handover: Duration,
    /// `cluster.unreachable_hold_ms`.
    pub unreachable_hold: Duration,
    /// Who announced what.
    pub routes: Arc<Routes>,
    /// This pod's ordinal.
    pub me: u16,
    /// The member joins only once this is true (the directory of imported users' homes read: nothing is
    /// assigned to a pod that could not yet tell where their writes go).
    pub gate: watch::Receiver<bool>,
}

impl Member {
    /// Joins the group; the changes it makes to this pod arrive on the receiver.
    pub fn join(
        joining: Joining,
        slots: Arc<Slots>,
        store: Arc<Store>,
    ) -> Result<(Self, mpsc::Receiver<Change>), KafkaError> {
        let (changes, receive) = mpsc::channel(CHANGES);
        let session = joining.session_timeout.as_millis().max(1);
        let consumer: BaseConsumer<Context> = joining
            .config
            .clone()
            .set("group.id", &joining.group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", session.to_string())
            // a member learns of a rebalance at its next heartbeat: often, so a handover is quick
            .set(
                "heartbeat.interval.ms",
                (session / 10).clamp(100, 3000).to_string(),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // the journal topic may not exist yet when the pod starts (its start creates it): the member
            // notices it within a second instead of the default five minutes
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create_with_context(Context {
                slots,
                store,
                changes,
                handover: joining.handover,
                unreachable_hold: joining.unreachable_hold,
                routes: joining.routes.clone(),
                me: joining.me,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let leave_within = joining.drain + Duration::from_secs(10);
        let (topic, gate) = (joining.topic.clone(), joining.gate.clone());
        let thread = std::thread::Builder::new()
            .name("group-member".into())
            .spawn(move || {
                while !*gate.borrow() {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(POLL);
                }
                if let Err(e) = consumer.subscribe(&[&topic]) {
                    tracing::error!(error = %e, %topic, "group: not joined");
                    return;
                }
                run(consumer, &flag, leave_within)
            })
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        Ok((
            Self {
                stop,
                thread: Some(thread),
            },
            receive,
        ))
    }

    /// Revokes every partition (handed over from then on) and leaves the group, so the others
    /// take them at once instead of after the session timeout. Blocking.
    pub fn leave(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls until stopped, then unsubscribes — the revocation callback hands everything over — and closes.
fn run(consumer: BaseConsumer<Context>, stop: &AtomicBool, leave_within: Duration) {
    while !stop.load(Ordering::SeqCst) {
        if let Some(Err(e)) = consumer.poll(POLL) {
            tracing::debug!(error = %e, "group: poll");
        }
    }
    consumer.unsubscribe();
    let deadline = Instant::now() + leave_within;
    while Instant::now() < deadline {
        consumer.poll(POLL);
        if consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true)
        {
            break;
        }
    }
    tracing::info!("group: left");
    // dropping the consumer closes it: the coordinator is told this member left
}
