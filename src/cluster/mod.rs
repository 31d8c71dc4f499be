//! This pod's place in a sharded deployment: its ordinal, its peers, and — with the journal on — the view
//! of Kafka's consumer group that decides which pod serves which partition (README, "Operating at scale";
//! the group's parts are in [`group`]).
//!
//! Invariants: a pod serves a partition's data only while the group has it serve it (its claim read back,
//! no newer claim announced); with the journal off one pod serves every partition and nothing here is on a
//! request's path.

pub mod api;
pub mod calls;
pub mod group;
pub mod peers;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use actors::partition::{Partition, ordinal_from_hostname, peer_address};
use actors::store::Store;

use crate::config::ClusterSettings;

pub use group::InFlight;
pub use peers::{PeerError, Peers};

/// Header a forwarding pod sets (to its ordinal); a request carrying it on the internal listener is served
/// where it lands and never forwarded again.
pub const FORWARDED: &str = "x-digit-user-forwarded";

/// Header a pod sets on the 503 it answers a forwarded request for a partition it does not serve (any
/// more): the forwarding pod asks the next owner instead of relaying it. Never relayed to a client.
pub const NOT_HERE: &str = "x-digit-user-not-here";

/// Header a forwarding pod sets to the client address it saw (the owner's per-IP OTP cap counts that
/// client, not the forwarding pod).
pub const CLIENT_IP: &str = "x-digit-user-client-ip";

/// Header a pod answers a search leg with: the partitions whose users the leg holds (served here for the
/// whole search), comma-separated. The asking pod answers only when the legs cover every partition.
pub const SERVED: &str = "x-digit-user-served";

/// Why the cluster view could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No ordinal in config and none in the hostname.
    #[error(
        "cannot tell this pod's ordinal: set cluster.ordinal, or run with a hostname <{name}>-<ordinal> (found {hostname:?})"
    )]
    NoOrdinal {
        /// `cluster.name`.
        name: String,
        /// The hostname found.
        hostname: String,
    },
}

/// Who owns a partition, from this pod's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This pod.
    Here,
    /// The pod with that ordinal.
    Peer(u16),
    /// Nobody serves it right now (a takeover under way): retry shortly.
    Nobody,
}

/// The group's view this pod keeps (journal on).
pub struct GroupView {
    /// Who serves what, as announced.
    pub routes: Arc<group::Routes>,
    /// What this pod serves.
    pub slots: Arc<group::Slots>,
    /// What this pod follows as a warm standby.
    pub standby: Arc<group::Standby>,
}

/// This pod's view of the deployment.
pub struct Cluster {
    me: u16,
    settings: ClusterSettings,
    store: Arc<Store>,
    peers: Peers,
    group: Option<GroupView>,
    /// Requests inside while this pod serves every partition alone (no group).
    alone: AtomicU32,
    /// The homes of users whose ids and uuids carry none (imported), from the journal's directory topic.
    homes: Arc<actors::homes::Homes>,
}

impl Cluster {
    /// The view at start. `grouped` (the journal on): the group's, serving nothing until the group assigns
    /// it; else this pod alone, serving every partition.
    pub fn start(
        settings: &ClusterSettings,
        grouped: bool,
        store: Arc<Store>,
    ) -> Result<Arc<Self>, ClusterError> {
        let me = resolve_ordinal(settings, grouped)?;
        if !grouped && me > 0 {
            tracing::warn!(
                ordinal = me,
                "the journal is off: this pod serves every partition alone, sharing nothing with the \
                 others; run one pod, or set kafka.brokers so the group shares the partitions"
            );
        }
        let timeout = Duration::from_millis(settings.forward_timeout_ms);
        let group = grouped.then(|| GroupView {
            routes: Arc::new(group::Routes::default()),
            slots: Arc::new(group::Slots::new(settings.partitions)),
            standby: Arc::default(),
        });
        let routes = group.as_ref().map(|g| g.routes.clone());
        let homes = store.homes().clone();
        Ok(Arc::new(Self {
            me,
            group,
            store,
            peers: Peers::new(settings.clone(), timeout, routes),
            settings: settings.clone(),
            alone: AtomicU32::new(0),
            homes,
        }))
    }

    /// This pod's ordinal.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Whether requests may need another pod: under a group, always (another pod may join at any time).
    pub fn sharded(&self) -> bool {
        self.group.is_some()
    }

    /// The group's view, when the journal is on.
    pub fn group(&self) -> Option<&GroupView> {
        self.group.as_ref()
    }

    /// The partition count.
    pub fn partitions(&self) -> u16 {
        self.settings.partitions
    }

    /// Who owns `partition`: this pod if it serves it, else the pod announced with the newest claim on it;
    /// with no group, this pod.
    pub fn owner(&self, partition: Partition) -> Owner {
        if let Some(group) = &self.group {
            let route = group.routes.owner(partition.0);
            if group.slots.serving(partition.0) {
                return match route {
                    // another pod announced a newer claim: this one is fenced there, whatever it knows
                    Some(r)
                        if r.ordinal != self.me
                            && r.generation > group.slots.generation(partition.0) =>
                    {
                        Owner::Peer(r.ordinal)
                    }
                    _ => Owner::Here,
                };
            }
            return match route {
                Some(route) if route.ordinal != self.me => Owner::Peer(route.ordinal),
                // said to be here but not served here (handed over, or an announcement of an earlier
                // run of this pod): nobody yet
                _ => Owner::Nobody,
            };
        }
        Owner::Here
    }

    /// Whether some partition has nobody serving it right now (group: a takeover under way). A search that
    /// asks every pod would miss its rows.
    pub fn any_unserved(&self) -> bool {
        self.group.is_some()
            && (0..self.partitions()).any(|p| self.owner(Partition(p)) == Owner::Nobody)
    }

    /// How long a request for a partition nobody serves waits for its next owner (a takeover finishing,
    /// its announcement on the way) before it is answered a retryable 503: `cluster.owner_wait_ms`.
    pub fn owner_wait(&self) -> Duration {
        Duration::from_millis(self.settings.owner_wait_ms)
    }

    /// The partitions served here now, in order.
    pub fn served_here(&self) -> Vec<u16> {
        (0..self.partitions())
            .filter(|p| self.owner(Partition(*p)) == Owner::Here)
            .collect()
    }

    /// The partitions pod `ordinal` serves as announced (what a leg of a pod that does not say is taken
    /// to hold).
    pub fn announced_by(&self, ordinal: u16) -> Vec<u16> {
        let Some(group) = &self.group else {
            return Vec::new();
        };
        (0..self.partitions())
            .filter(|p| group.routes.owner(*p).is_some_and(|r| r.ordinal == ordinal))
            .collect()
    }

    /// The other pods serving any partition.
    pub fn others(&self) -> Vec<u16> {
        if let Some(group) = &self.group {
            return group
                .routes
                .serving_members()
                .into_iter()
                .filter(|o| *o != self.me)
                .collect();
        }
        Vec::new()
    }

    /// Sets the gauge of partitions served when this pod serves them all (under a group its driver keeps
    /// it current).
    pub fn publish_metrics(&self) {
        if self.group.is_none() {
            metrics::gauge!(actors::metrics::PARTITIONS_OWNED).set(f64::from(self.partitions()));
        }
    }

    /// Where users live whose ids and uuids carry no partition (empty until a directory reader fills it).
    pub fn homes(&self) -> &Arc<actors::homes::Homes> {
        &self.homes
    }

    /// The store this pod serves from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The client for the other pods.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Enters `partition` for one request; `None` while it is not served here (the caller answers a
    /// retryable 503).
    pub fn enter(&self, partition: Partition) -> Option<InFlight<'_>> {
        if let Some(group) = &self.group {
            return group.slots.enter(partition.0);
        }
        Some(InFlight::count(&self.alone))
    }
}

fn resolve_ordinal(settings: &ClusterSettings, grouped: bool) -> Result<u16, ClusterError> {
    let hostname = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    ordinal_of(settings, hostname.trim(), grouped)
}

/// The ordinal: `cluster.ordinal` when set, else the hostname's (`<name>-<ordinal>`), else — journal off —
/// 0 for a lone pod. In a group the ordinal names the pod in its announcements: two pods guessing 0 would
/// take each other's routes, so a group member must be told.
fn ordinal_of(
    settings: &ClusterSettings,
    hostname: &str,
    grouped: bool,
) -> Result<u16, ClusterError> {
    if let Ok(o) = u16::try_from(settings.ordinal) {
        return Ok(o);
    }
    match ordinal_from_hostname(hostname, &settings.name) {
        Some(o) => Ok(o),
        // one pod on its own, on a machine not named like a StatefulSet pod
        None if !grouped => Ok(0),
        None => Err(ClusterError::NoOrdinal {
            name: settings.name.clone(),
            hostname: hostname.to_owned(),
        }),
    }
}

/// The address of pod `ordinal`'s internal listener.
pub fn peer_addr(settings: &ClusterSettings, ordinal: u16) -> String {
    match settings.peers.get(usize::from(ordinal)) {
        Some(addr) => addr.clone(),
        None => peer_address(&settings.peer_template, &settings.name, ordinal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ordinal: i32) -> ClusterSettings {
        ClusterSettings {
            partitions: 256,
            ordinal,
            name: "digit-user".into(),
            peer_template: "{name}-{ordinal}.{name}-headless:8081".into(),
            peers: Vec::new(),
            forward_timeout_ms: 3000,
            session_timeout_ms: 10_000,
            drain_ms: 2000,
            handover_ms: 10_000,
            unreachable_hold_ms: 300_000,
            owner_wait_ms: 2000,
            advertise: String::new(),
        }
    }

    #[test]
    fn the_ordinal_comes_from_config_then_the_hostname_then_a_lone_pod_is_zero() {
        assert_eq!(ordinal_of(&settings(2), "digit-user-0", true).unwrap(), 2);
        assert_eq!(ordinal_of(&settings(-1), "digit-user-1", true).unwrap(), 1);
        assert_eq!(ordinal_of(&settings(-1), "digit-user-2", false).unwrap(), 2);
        // the journal off: one pod on a machine not named like a StatefulSet pod
        assert_eq!(ordinal_of(&settings(-1), "laptop", false).unwrap(), 0);
        // in a group a guess could collide with another pod's ordinal
        let err = ordinal_of(&settings(-1), "laptop", true).unwrap_err();
        assert!(err.to_string().contains("set cluster.ordinal"), "{err}");
    }

    #[test]
    fn peers_come_from_the_list_when_given_else_the_template() {
        let mut s = settings(0);
        assert_eq!(peer_addr(&s, 2), "digit-user-2.digit-user-headless:8081");
        s.peers = vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()];
        assert_eq!(peer_addr(&s, 1), "127.0.0.1:2");
    }
}
