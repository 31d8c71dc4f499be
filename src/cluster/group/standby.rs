//! Warm standbys (`journal.standby_replicas`): besides its owner, each partition is followed by a few
//! other pods — read from the journal into their store, nothing written there — so that when the group
//! gives it to one of them the takeover replays only the records of the last moments.
//!
//! Placement needs no coordination: every pod reads the same announcements ([`super::routes`]), so every
//! pod computes the same standbys. A partition's standbys are the next `standby_replicas` pods after its
//! owner, by ordinal, among the pods announcing (a ring): never the owner itself, and spread so that each
//! pod follows about as many partitions as it serves. Cooperative-sticky assignment tends to give a dead
//! pod's partitions to any survivor, not to their standby: with 1 standby in 3 pods half the takeovers
//! find a warm copy; the others replay what they missed since they last held or followed the partition.
//! `standby_replicas = 2` in a 3-pod deployment makes every survivor warm.
//!
//! A copy followed here answers nothing: requests go to the owner, searches count only the owner's rows
//! ([`crate::service::owned`]) and housekeeping leaves the copy's keys to the owner
//! ([`actors::store::Durable::held_for_another`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::Clock;
use actors::store::Store;

use super::routes::Routes;
use super::slots::Slots;

/// The pods after `owner` in `members`' ring (by ordinal), at most `replicas` of them, never `owner`.
pub fn standbys_of(owner: u16, members: &[u16], replicas: u16) -> Vec<u16> {
    let mut ring: Vec<u16> = members.iter().copied().filter(|m| *m != owner).collect();
    ring.sort_unstable();
    ring.dedup();
    let start = ring.partition_point(|m| *m < owner);
    ring.rotate_left(start);
    ring.truncate(usize::from(replicas));
    ring
}

/// What this pod knows of the standbys, for `cluster status`.
#[derive(Default)]
pub struct Standby {
    state: Mutex<Followed>,
}

#[derive(Default, Clone)]
struct Followed {
    placement: BTreeMap<u16, Vec<u16>>,
    lag: BTreeMap<u16, i64>,
}

impl Standby {
    /// Per partition served by a pod, its standbys, as this pod computed them last.
    pub fn placement(&self) -> BTreeMap<u16, Vec<u16>> {
        self.lock().placement.clone()
    }

    /// Per partition this pod follows, how many records its copy was behind after its last read.
    pub fn following(&self) -> BTreeMap<u16, i64> {
        self.lock().lag.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Followed> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The follower: every `every`, the partitions this pod is a standby of, read to their journal's end.
pub struct Follower {
    /// What status shows.
    pub standby: Arc<Standby>,
    /// Who serves what.
    pub routes: Arc<Routes>,
    /// This pod's slots (a partition assigned here is taken over, not followed).
    pub slots: Arc<Slots>,
    /// This pod's ordinal.
    pub me: u16,
    /// `journal.standby_replicas`.
    pub replicas: u16,
    /// `journal.standby_poll_ms`.
    pub every: Duration,
    /// The store.
    pub store: Arc<Store>,
    /// Time.
    pub clock: Clock,
}

impl Follower {
    /// Runs until the process ends.
    pub async fn run(self) {
        if self.replicas == 0 {
            return;
        }
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = std::collections::BTreeSet::new();
        loop {
            tick.tick().await;
            self.follow_once(&mut failing).await;
        }
    }

    /// One round; `failing`: the partitions whose last read failed (warned once, not every poll).
    async fn follow_once(&self, failing: &mut std::collections::BTreeSet<u16>) {
        let members = self.routes.live_members(self.clock.now_ms());
        let placement: BTreeMap<u16, Vec<u16>> = self
            .routes
            .table()
            .iter()
            .map(|(p, route)| (*p, standbys_of(route.ordinal, &members, self.replicas)))
            .collect();
        let mut lag = BTreeMap::new();
        for (&partition, standbys) in &placement {
            // a partition this pod gave way with (another pod serves it for now) is followed too
            if !standbys.contains(&self.me) || self.slots.is_taken(partition) {
                continue;
            }
            match self.store.durable().follow(partition).await {
                Ok(read) => {
                    if failing.remove(&partition) {
                        tracing::info!(partition, "standby: partition followed again");
                    }
                    if let Some(behind) = read {
                        lag.insert(partition, behind);
                    }
                }
                Err(e) if failing.insert(partition) => {
                    tracing::warn!(partition, error = %e, "standby: partition not followed; trying again every poll");
                }
                Err(e) => {
                    tracing::debug!(partition, error = %e, "standby: partition still not followed");
                }
            }
        }
        metrics::gauge!(actors::metrics::PARTITIONS_STANDBY).set(lag.len() as f64);
        metrics::gauge!(actors::metrics::STANDBY_LAG_RECORDS).set(lag.values().sum::<i64>() as f64);
        *self.standby.lock() = Followed { placement, lag };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standbys_follow_their_owner_round_the_ring_and_never_include_it() {
        assert_eq!(standbys_of(0, &[0, 1, 2], 1), vec![1]);
        assert_eq!(standbys_of(2, &[0, 1, 2], 1), vec![0]);
        assert_eq!(standbys_of(1, &[2, 0, 1], 2), vec![2, 0]);
        // more standbys asked than other pods: every other pod, never the owner
        assert_eq!(standbys_of(1, &[0, 1, 2], 5), vec![2, 0]);
        assert_eq!(standbys_of(0, &[0], 1), Vec::<u16>::new());
        // an owner that no longer announces: the pods after its ordinal
        assert_eq!(standbys_of(3, &[0, 2, 5], 2), vec![5, 0]);
        assert_eq!(standbys_of(1, &[0, 1, 2], 0), Vec::<u16>::new());
    }

    #[test]
    fn each_pod_follows_as_many_partitions_as_another_when_ownership_is_even() {
        let members = [0u16, 1, 2, 3];
        let mut following = [0usize; 4];
        for partition in 0..12u16 {
            let owner = partition % 4;
            for s in standbys_of(owner, &members, 2) {
                assert_ne!(s, owner);
                following[usize::from(s)] += 1;
            }
        }
        assert_eq!(following, [6, 6, 6, 6]);
    }
}
