//! This pod's place in a sharded deployment: its ordinal, the partition map it follows, its peers, and the
//! partitions frozen while they move (ARCHITECTURE.md, "Sharding"; README, "Operating at scale").
//!
//! Invariants: a pod serves a partition's data only while its map says it owns it and the partition is not
//! frozen; a map is adopted only with a higher version and is on disk before it takes effect; freezing a
//! partition returns only after the requests already inside it have finished, so an export taken then is
//! complete. With one replica nothing here is on a request's path but one atomic load.

pub mod api;
pub mod calls;
pub mod group;
pub mod peers;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actors::partition::{MapError, Partition, PartitionMap, ordinal_from_hostname, peer_address};
use actors::store::{Store, StoreError};

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
    /// A map that does not fit.
    #[error("partition map: {0}")]
    Map(#[from] MapError),
    /// The map file.
    #[error("cannot read the partition map file {path}: {reason}")]
    MapFile {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who owns a partition, from this pod's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This pod.
    Here,
    /// The pod with that ordinal.
    Peer(u16),
    /// Nobody serves it right now (`cluster.ownership = "group"`: a takeover under way): retry shortly.
    Nobody,
}

/// `cluster.ownership = "group"`: the group's view this pod keeps.
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
    map: RwLock<Arc<PartitionMap>>,
    sharded: AtomicBool,
    frozen: Vec<AtomicBool>,
    in_flight: Vec<AtomicU32>,
    store: Arc<Store>,
    peers: Peers,
    group: Option<GroupView>,
}

impl Cluster {
    /// The view at start: the map stored by an earlier run (or a rebalance), else `map_file`, else even ranges
    /// over `replicas`.
    pub fn start(settings: &ClusterSettings, store: Arc<Store>) -> Result<Arc<Self>, ClusterError> {
        let map = match store.partition_map()? {
            Some(stored) => stored.checked(settings.partitions)?,
            None if !settings.map_file.is_empty() => read_map_file(settings)?,
            None => PartitionMap::even(settings.partitions, settings.replicas, 0)?,
        };
        let me = resolve_ordinal(settings)?;
        if me >= map.replicas() {
            // a pod added by scaling up: it owns nothing (and forwards everything) until `admin rebalance`
            // hands it partitions with a new map
            tracing::warn!(
                ordinal = me,
                replicas = map.replicas(),
                "this pod is not in the partition map yet; it owns no partition until a rebalance"
            );
        }
        let partitions = usize::from(settings.partitions);
        let timeout = Duration::from_millis(settings.forward_timeout_ms);
        let group = (settings.ownership == "group").then(|| GroupView {
            routes: Arc::new(group::Routes::default()),
            slots: Arc::new(group::Slots::new(settings.partitions)),
            standby: Arc::default(),
        });
        let routes = group.as_ref().map(|g| g.routes.clone());
        Ok(Arc::new(Self {
            me,
            group,
            sharded: AtomicBool::new(is_sharded(&map, me)),
            map: RwLock::new(Arc::new(map)),
            frozen: (0..partitions).map(|_| AtomicBool::new(false)).collect(),
            in_flight: (0..partitions).map(|_| AtomicU32::new(0)).collect(),
            store,
            peers: Peers::new(settings.clone(), timeout, routes),
            settings: settings.clone(),
        }))
    }

    /// This pod's ordinal.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Whether more than one pod shares the partitions (else nothing is forwarded). Under a group, always:
    /// another pod may join at any time.
    pub fn sharded(&self) -> bool {
        self.group.is_some() || self.sharded.load(Ordering::Relaxed)
    }

    /// The group's view, when the group decides ownership.
    pub fn group(&self) -> Option<&GroupView> {
        self.group.as_ref()
    }

    /// The partition count.
    pub fn partitions(&self) -> u16 {
        self.settings.partitions
    }

    /// The map in force.
    pub fn map(&self) -> Arc<PartitionMap> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Who owns `partition`: under the map in force, or — group — this pod if it serves it, else the pod
    /// announced with the newest claim on it.
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
        match self.map().owner(partition) {
            o if o == self.me => Owner::Here,
            o => Owner::Peer(o),
        }
    }

    /// Whether some partition has nobody serving it right now (group: a takeover under way). A search that
    /// asks every pod would miss its rows.
    pub fn any_unserved(&self) -> bool {
        self.group.is_some()
            && (0..self.partitions()).any(|p| self.owner(Partition(p)) == Owner::Nobody)
    }

    /// The other pods: of the map in force, or — group — those serving any partition.
    pub fn others(&self) -> Vec<u16> {
        if let Some(group) = &self.group {
            return group
                .routes
                .serving_members()
                .into_iter()
                .filter(|o| *o != self.me)
                .collect();
        }
        (0..self.map().replicas())
            .filter(|o| *o != self.me)
            .collect()
    }

    /// Sets the map gauges (once the exporter is installed; [`Cluster::adopt`] keeps them current).
    pub fn publish_metrics(&self) {
        record_map(&self.map(), self.me);
    }

    /// The store this pod serves from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The client for the other pods.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Adopts `map` if it is newer than the one in force (on disk first). Returns whether it did.
    pub async fn adopt(&self, map: PartitionMap) -> Result<bool, ClusterError> {
        let map = map.checked(self.settings.partitions)?;
        if map.version() <= self.map().version() {
            return Ok(false);
        }
        self.store.save_partition_map(&map).await?;
        self.sharded
            .store(is_sharded(&map, self.me), Ordering::Relaxed);
        record_map(&map, self.me);
        tracing::info!(
            version = map.version(),
            replicas = map.replicas(),
            owned = map.owned_by(self.me).count(),
            "partition map adopted"
        );
        *self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(map);
        Ok(true)
    }

    /// Enters `partition` for one request; `None` while it is frozen or — group — not served here (the
    /// caller answers a retryable 503).
    pub fn enter(&self, partition: Partition) -> Option<InFlight<'_>> {
        if let Some(group) = &self.group {
            return group.slots.enter(partition.0);
        }
        let i = usize::from(partition.0) % self.in_flight.len();
        let inside = InFlight::count(&self.in_flight[i]);
        (!self.frozen[i].load(Ordering::SeqCst)).then_some(inside)
    }

    /// Freezes `partitions` and waits (up to `within`) until no request is inside them. Returns whether
    /// they drained.
    pub async fn freeze(&self, partitions: &[u16], within: Duration) -> bool {
        for p in partitions {
            if let Some(f) = self.frozen.get(usize::from(*p)) {
                f.store(true, Ordering::SeqCst);
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let busy = partitions.iter().any(|p| {
                self.in_flight
                    .get(usize::from(*p))
                    .is_some_and(|c| c.load(Ordering::SeqCst) > 0)
            });
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lifts a freeze.
    pub fn thaw(&self, partitions: &[u16]) {
        for p in partitions {
            if let Some(f) = self.frozen.get(usize::from(*p)) {
                f.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// Whether requests may need another pod: more than one pod, or this one not (yet) in the map.
fn is_sharded(map: &PartitionMap, me: u16) -> bool {
    map.replicas() > 1 || me >= map.replicas()
}

fn record_map(map: &PartitionMap, me: u16) {
    metrics::gauge!(actors::metrics::PARTITION_MAP_VERSION).set(map.version() as f64);
    metrics::gauge!(actors::metrics::PARTITIONS_OWNED).set(map.owned_by(me).count() as f64);
}

fn resolve_ordinal(settings: &ClusterSettings) -> Result<u16, ClusterError> {
    let hostname = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    ordinal_of(settings, hostname.trim())
}

/// The ordinal: `cluster.ordinal` when set, else the hostname's (`<name>-<ordinal>`), else 0 for a lone pod.
fn ordinal_of(settings: &ClusterSettings, hostname: &str) -> Result<u16, ClusterError> {
    if let Ok(o) = u16::try_from(settings.ordinal) {
        return Ok(o);
    }
    match ordinal_from_hostname(hostname, &settings.name) {
        Some(o) => Ok(o),
        // one pod on its own, on a machine not named like a StatefulSet pod
        None if settings.replicas <= 1 && settings.peers.is_empty() => Ok(0),
        None => Err(ClusterError::NoOrdinal {
            name: settings.name.clone(),
            hostname: hostname.to_owned(),
        }),
    }
}

fn read_map_file(settings: &ClusterSettings) -> Result<PartitionMap, ClusterError> {
    let fail = |reason: String| ClusterError::MapFile {
        path: settings.map_file.clone(),
        reason,
    };
    let raw = std::fs::read(&settings.map_file).map_err(|e| fail(e.to_string()))?;
    let map: PartitionMap = serde_json::from_slice(&raw).map_err(|e| fail(e.to_string()))?;
    Ok(map.checked(settings.partitions)?)
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

    fn settings(replicas: u16, ordinal: i32) -> ClusterSettings {
        ClusterSettings {
            partitions: 256,
            replicas,
            ordinal,
            name: "digit-user".into(),
            peer_template: "{name}-{ordinal}.{name}-headless:8081".into(),
            peers: Vec::new(),
            map_file: String::new(),
            forward_timeout_ms: 3000,
            ownership: "map".into(),
            session_timeout_ms: 10_000,
            drain_ms: 2000,
            handover_ms: 10_000,
            owner_wait_ms: 2000,
            advertise: String::new(),
        }
    }

    #[test]
    fn the_ordinal_comes_from_config_then_the_hostname_then_a_lone_pod_is_zero() {
        assert_eq!(ordinal_of(&settings(3, 2), "digit-user-0").unwrap(), 2);
        assert_eq!(ordinal_of(&settings(3, -1), "digit-user-1").unwrap(), 1);
        // a single-pod deployment scaled up before its config: the new pods still know who they are
        assert_eq!(ordinal_of(&settings(1, -1), "digit-user-2").unwrap(), 2);
        assert_eq!(ordinal_of(&settings(1, -1), "laptop").unwrap(), 0);
        let err = ordinal_of(&settings(3, -1), "laptop").unwrap_err();
        assert!(err.to_string().contains("set cluster.ordinal"), "{err}");
    }

    #[test]
    fn peers_come_from_the_list_when_given_else_the_template() {
        let mut s = settings(3, 0);
        assert_eq!(peer_addr(&s, 2), "digit-user-2.digit-user-headless:8081");
        s.peers = vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()];
        assert_eq!(peer_addr(&s, 1), "127.0.0.1:2");
    }
}
