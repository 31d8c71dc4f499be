//! Start-up with the journal on: every partition released in the store (served only once
//! the group assigns it and its takeover ends), the members topic read into the routes, the directory of
//! imported users' homes read into the store, then the group joined,
//! the takeover driver and the standby follower started. Ready once the routes are read to their end and
//! the first assignment is taken over; at shutdown the pod leaves the group after handing its partitions
//! over.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actors::Clock;
use actors::store::Store;
use tokio::sync::watch;

use super::StartError;
use crate::cluster::PeerError;
use crate::cluster::group::announce::Announcer;
pub(super) use crate::cluster::group::driver::Forget;
use crate::cluster::group::driver::{CallHandover, Driver, Handshake};
use crate::cluster::group::member::{Joining, Member};
use crate::cluster::group::standby::Follower;
use crate::cluster::{Cluster, peer_addr};
use crate::config::Settings;
use crate::journal::tail::TopicTail;
use crate::kafka::client_config;

/// The group's parts while the pod runs.
pub(super) struct GroupRun {
    member: Member,
    slots: Arc<crate::cluster::group::Slots>,
    handover: Duration,
    forget: Arc<OnceLock<Box<Forget>>>,
    routes: TopicTail,
    /// Reads the directory of imported users' homes into the store while the pod runs.
    _homes: TopicTail,
    settled: watch::Receiver<bool>,
    /// For readiness: whether every partition is served by some pod.
    cluster: std::sync::Weak<Cluster>,
    /// How long readiness waits for that at most: two session timeouts.
    served_within: Duration,
}

/// Joins the group when the journal is on.
pub(super) fn start(
    settings: &Settings,
    cluster: &Arc<Cluster>,
    store: &Arc<Store>,
    clock: &Clock,
) -> Result<Option<GroupRun>, StartError> {
    let Some(group) = cluster.group() else {
        return Ok(None);
    };
    let fail = |e: rdkafka::error::KafkaError| StartError::Journal(e.to_string());
    let all: Vec<u16> = (0..cluster.partitions()).collect();
    store.durable().release(&all)?;
    let config = client_config(&settings.kafka.brokers, &settings.kafka.properties);
    let routes = group.routes.clone();
    let tail = TopicTail::start(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.members_topic,
        "members",
        move |key, value| routes.learn(key, value),
    )
    .map_err(fail)?;
    // the group is joined once the directory of imported users' homes is read: a partition assigned
    // before could not tell where an imported user's writes go
    let homes = crate::journal::directory::read_into(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.directory_topic,
        Arc::downgrade(store),
    )
    .map_err(fail)?;
    let address = match settings.cluster.advertise.as_str() {
        "" => peer_addr(&settings.cluster, cluster.me()),
        given => given.to_owned(),
    };
    let announcer = Announcer::new(
        &config,
        &settings.journal.members_topic,
        cluster.me(),
        &address,
        Duration::from_millis(settings.journal.produce_timeout_ms),
    )
    .map_err(fail)?;
    let (member, changes) = Member::join(
        Joining {
            config,
            group: settings.journal.group.clone(),
            topic: settings.journal.topic.clone(),
            session_timeout: Duration::from_millis(settings.cluster.session_timeout_ms),
            drain: Duration::from_millis(settings.cluster.drain_ms),
            handover: Duration::from_millis(settings.cluster.handover_ms),
            unreachable_hold: Duration::from_millis(settings.cluster.unreachable_hold_ms),
            routes: group.routes.clone(),
            me: cluster.me(),
            gate: homes.caught_up_watch(),
        },
        group.slots.clone(),
        store.clone(),
    )
    .map_err(fail)?;
    let (settle, settled) = watch::channel(false);
    let forget = Arc::new(OnceLock::new());
    let handover = Duration::from_millis(settings.cluster.handover_ms);
    let driver = Driver {
        handshake: call_handover(cluster),
        handover,
        drain: Duration::from_millis(settings.cluster.drain_ms),
        forget: forget.clone(),
        slots: group.slots.clone(),
        routes: group.routes.clone(),
        me: cluster.me(),
        store: store.clone(),
        announcer,
        clock: clock.clone(),
        unservable: Default::default(),
    };
    actix_web::rt::spawn(driver.run(changes, settle));
    let follower = Follower {
        standby: group.standby.clone(),
        routes: group.routes.clone(),
        slots: group.slots.clone(),
        me: cluster.me(),
        replicas: settings.journal.standby_replicas,
        every: Duration::from_millis(settings.journal.standby_poll_ms),
        store: store.clone(),
        clock: clock.clone(),
    };
    actix_web::rt::spawn(follower.run());
    tracing::info!(group = %settings.journal.group, %address, "group: joining");
    Ok(Some(GroupRun {
        member,
        slots: group.slots.clone(),
        handover,
        forget,
        routes: tail,
        _homes: homes,
        settled,
        cluster: Arc::downgrade(cluster),
        served_within: Duration::from_millis(settings.cluster.session_timeout_ms) * 2,
    }))
}

impl GroupRun {
    /// What to forget of a partition taken over, once the actors exist (until then nothing is served).
    pub(super) fn forget_with(&self, forget: Box<Forget>) {
        let _ = self.forget.set(forget);
    }

    /// Resolves once the routes are read to their end, the first assignment is taken over and every
    /// partition is served by some pod — a pod restarted after a crash, whose killed run the group still
    /// holds until its session times out, is not ready before; two session timeouts at most, so a
    /// partition nobody can serve keeps no pod unready.
    pub(super) fn ready(&self) -> impl std::future::Future<Output = ()> + use<> {
        let routes = self.routes.when_caught_up();
        let mut settled = self.settled.clone();
        let (cluster, within) = (self.cluster.clone(), self.served_within);
        async move {
            routes.await;
            let _ = settled.wait_for(|s| *s).await;
            let deadline = tokio::time::Instant::now() + within;
            loop {
                let Some(cluster) = cluster.upgrade() else {
                    return;
                };
                if !cluster.any_unserved() {
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        "group: ready while some partitions have nobody serving them (their requests \
                         answer a retryable 503)"
                    );
                    return;
                }
                drop(cluster);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Leaves the group, then answers for the revoked partitions until their next owners have them (or
    /// `cluster.handover_ms` passes), so a rolling update moves partitions without refusing requests.
    pub(super) async fn leave(self) {
        let member = self.member;
        let _ = actix_web::rt::task::spawn_blocking(move || member.leave()).await;
        let deadline = tokio::time::Instant::now() + self.handover;
        while self.slots.handing_over() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // the routes reader stops with `self.routes`
    }
}

/// The previous owner's handover endpoint, through the cluster's peer client.
fn call_handover(cluster: &Arc<Cluster>) -> Box<CallHandover> {
    let cluster = Arc::downgrade(cluster);
    Box::new(move |ordinal, partitions| {
        let cluster = cluster.clone();
        Box::pin(async move {
            let Some(cluster) = cluster.upgrade() else {
                return Handshake::Gone;
            };
            let body = crate::cluster::api::Partitions { partitions };
            // twice at most: a kept-alive connection to a pod that was killed fails otherwise than a
            // refused one; the second call opens a new connection, which a gone pod refuses
            for _ in 0..2 {
                let called = cluster
                    .peers()
                    .call::<_, serde_json::Value>(
                        ordinal,
                        cluster.me(),
                        "/cluster/partitions/_handover",
                        &body,
                    )
                    .await;
                match called {
                    Ok(_) => return Handshake::Done,
                    Err(PeerError::Unreachable { reason, .. }) if reason == "connection failed" => {
                        return Handshake::Gone;
                    }
                    Err(PeerError::Unreachable { reason, .. }) if reason != "timed out" => {}
                    Err(_) => return Handshake::Silent,
                }
            }
            Handshake::Silent
        })
    })
}
