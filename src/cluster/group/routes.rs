//! Who serves which partition, as the members announce it on the members topic (`journal.members_topic`):
//! each pod publishes, under its ordinal, its internal address and the partitions it serves with the
//! generation of its claim on each ([`actors::store::fencing`]). tansu lists no members in
//! DescribeConsumerGroups, and Kafka's own description would not say when a takeover has finished; the
//! announcement does, and the claim's generation orders them: where two pods say they serve one
//! partition (a pod that died before it could say it stopped, an announcement late), the newer claim wins.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// An announcement older than this is a pod's that stopped (each pod announces every second).
pub const FRESH_MS: i64 = 3000;

/// What one pod says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The pod's ordinal (the record's key too).
    pub ordinal: u16,
    /// Its internal listener, as the others reach it.
    pub address: String,
    /// The partitions it serves, each with the generation of its claim.
    pub serves: BTreeMap<u16, u64>,
    /// When it said so (epoch ms; for `cluster status`).
    pub at_ms: i64,
}

/// One partition's owner as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The serving pod.
    pub ordinal: u16,
    /// The generation of its claim.
    pub generation: u64,
    /// When the pod last said so (epoch ms).
    pub at_ms: i64,
}

/// The routing table every pod builds from the announcements.
#[derive(Default)]
pub struct Routes {
    members: RwLock<BTreeMap<u16, Announcement>>,
    table: RwLock<Arc<BTreeMap<u16, Route>>>,
}

impl Routes {
    /// Takes one record of the members topic: an announcement, or a tombstone (a pod gone for good).
    pub fn learn(&self, key: Option<&[u8]>, value: Option<&[u8]>) {
        let Some(ordinal) = key
            .and_then(|k| <[u8; 2]>::try_from(k).ok())
            .map(u16::from_be_bytes)
        else {
            return;
        };
        let mut members = self.members.write().unwrap_or_else(|e| e.into_inner());
        match value.map(serde_json::from_slice::<Announcement>) {
            None => {
                members.remove(&ordinal);
            }
            Some(Ok(announced)) if announced.ordinal == ordinal => {
                members.insert(ordinal, announced);
            }
            Some(_) => {
                tracing::warn!(
                    ordinal,
                    "members: an announcement that does not read; ignored"
                );
                return;
            }
        }
        let table = table_of(&members);
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    /// The pod serving `partition`, if one says so.
    pub fn owner(&self, partition: u16) -> Option<Route> {
        self.table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&partition)
            .copied()
    }

    /// The address pod `ordinal` announced.
    pub fn address(&self, ordinal: u16) -> Option<String> {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ordinal)
            .map(|a| a.address.clone())
    }

    /// The pods that serve at least one partition by the table.
    pub fn serving_members(&self) -> Vec<u16> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut members: Vec<u16> = table.values().map(|r| r.ordinal).collect();
        members.sort_unstable();
        members.dedup();
        members
    }

    /// The pods whose latest announcement is no older than [`FRESH_MS`] at `now_ms`, in order.
    pub fn live_members(&self, now_ms: i64) -> Vec<u16> {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|a| now_ms - a.at_ms <= FRESH_MS)
            .map(|a| a.ordinal)
            .collect()
    }

    /// Whether a pod other than `me` ever announced itself (a pod that heard nobody is alone: nobody else
    /// could take its partitions over).
    pub fn others_announced(&self, me: u16) -> bool {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|a| a.ordinal != me)
    }

    /// Every announcement, by ordinal.
    pub fn members(&self) -> BTreeMap<u16, Announcement> {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The table: per partition its owner.
    pub fn table(&self) -> Arc<BTreeMap<u16, Route>> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Per partition the announcement with the newest claim on it.
fn table_of(members: &BTreeMap<u16, Announcement>) -> BTreeMap<u16, Route> {
    let mut table: BTreeMap<u16, Route> = BTreeMap::new();
    for announced in members.values() {
        for (&partition, &generation) in &announced.serves {
            let route = Route {
                ordinal: announced.ordinal,
                generation,
                at_ms: announced.at_ms,
            };
            table
                .entry(partition)
                .and_modify(|r| {
                    if generation > r.generation {
                        *r = route;
                    }
                })
                .or_insert(route);
        }
    }
    table
}

/// The record key of pod `ordinal`'s announcement.
pub fn member_key(ordinal: u16) -> [u8; 2] {
    ordinal.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(routes: &Routes, ordinal: u16, serves: &[(u16, u64)]) {
        let a = Announcement {
            ordinal,
            address: format!("pod-{ordinal}:8081"),
            serves: serves.iter().copied().collect(),
            at_ms: 1,
        };
        routes.learn(
            Some(&member_key(ordinal)),
            Some(&serde_json::to_vec(&a).unwrap()),
        );
    }

    #[test]
    fn another_pod_counts_once_it_announced_itself_and_this_pod_never() {
        let routes = Routes::default();
        assert!(!routes.others_announced(0), "nobody yet");
        said(&routes, 0, &[(1, 10)]);
        assert!(!routes.others_announced(0), "only this pod");
        said(&routes, 1, &[(2, 11)]);
        assert!(routes.others_announced(0), "pod 1");
        assert!(routes.others_announced(1), "pod 0, seen from pod 1");
        assert!(routes.others_announced(2), "pods 0 and 1, seen from pod 2");
    }

    #[test]
    fn the_newest_claim_on_a_partition_wins_whoever_said_it_last() {
        let routes = Routes::default();
        said(&routes, 0, &[(1, 10), (2, 11)]);
        said(&routes, 1, &[(3, 12)]);
        assert_eq!(routes.owner(1).map(|r| r.ordinal), Some(0));
        // pod 0 died without a word; pod 1 took partition 1 over with a newer claim
        said(&routes, 1, &[(1, 40), (3, 12)]);
        assert_eq!(routes.owner(1).map(|r| r.ordinal), Some(1));
        // a late announcement of pod 0 with its old claim does not take it back
        said(&routes, 0, &[(1, 10), (2, 11)]);
        assert_eq!(
            routes.owner(1),
            Some(Route {
                ordinal: 1,
                generation: 40,
                at_ms: 1
            })
        );
        assert_eq!(routes.owner(2).map(|r| r.ordinal), Some(0));
        assert_eq!(routes.owner(9), None);
        assert_eq!(routes.serving_members(), vec![0, 1]);
        assert_eq!(routes.address(1).as_deref(), Some("pod-1:8081"));
    }

    #[test]
    fn a_tombstone_or_an_empty_announcement_removes_a_pod_and_garbage_changes_nothing() {
        let routes = Routes::default();
        said(&routes, 0, &[(1, 10)]);
        said(&routes, 2, &[(2, 11)]);
        said(&routes, 2, &[]);
        assert_eq!(routes.owner(2), None);
        assert_eq!(routes.serving_members(), vec![0]);
        routes.learn(Some(&member_key(0)), Some(b"not json"));
        assert_eq!(routes.owner(1).map(|r| r.ordinal), Some(0));
        // an announcement filed under another pod's key is not believed
        let wrong = Announcement {
            ordinal: 5,
            address: String::new(),
            serves: [(1, 99)].into_iter().collect(),
            at_ms: 1,
        };
        routes.learn(
            Some(&member_key(0)),
            Some(&serde_json::to_vec(&wrong).unwrap()),
        );
        assert_eq!(routes.owner(1).map(|r| r.ordinal), Some(0));
        routes.learn(Some(&member_key(0)), None);
        assert_eq!(routes.owner(1), None);
    }
}
