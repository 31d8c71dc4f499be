//! The audit feed: events waiting for publication to a SIEM (`audit.kafka_topic`), in the trail's tree under
//! `0xFE` ‖ (sequence << 16 | home partition, big-endian) → the sealed [`FeedEntry`]. An entry is queued in
//! the same write as its event, so it lasts as the event does and moves with the user's partition; the pod
//! serving the partition publishes it (a standby's copy is left to the owner) and removes it once the broker
//! acknowledged it: at least once, in queueing order per pod. Off by default: nothing is queued, and what an
//! earlier run queued is dropped at the next prune. Bounded: past `max_pending` entries an event is still
//! kept in the trail but not queued (counted in `digit_user_audit_published_total{result="dropped"}`).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::domain::audit::AuditEvent;
use crate::metrics as m;
use crate::store::StoreError;
use crate::store::durable::{Durable, KeyRead};
use crate::store::logins::codec::Codec;
use crate::store::writes::{Op, TreeId};

/// The first byte of a queued entry's key.
pub(super) const QUEUE: u8 = 0xFE;

/// An event as the SIEM receives it: the event's fields with its id and its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEntry {
    /// The event's id (user, time and sequence of its key in the trail): a consumer's de-duplication key.
    pub id: String,
    /// The user's uuid.
    pub user: uuid::Uuid,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// An entry read for publication, with what its removal checks.
#[derive(Debug)]
pub struct Pending {
    read: KeyRead,
    /// The entry.
    pub entry: FeedEntry,
}

/// The queue of entries to publish.
pub struct AuditFeed {
    tree: sled::Tree,
    durable: Durable,
    codec: Codec,
    /// Entries queued at most; 0: the feed is off.
    max_pending: AtomicUsize,
    /// Entries queued here (recounted at every prune: a standby's copies arrive uncounted).
    depth: AtomicI64,
}

impl AuditFeed {
    pub(super) fn open(tree: sled::Tree, durable: Durable, codec: Codec) -> Self {
        let depth = AtomicI64::new(tree.scan_prefix([QUEUE]).count() as i64);
        Self {
            tree,
            durable,
            codec,
            max_pending: AtomicUsize::new(0),
            depth,
        }
    }

    /// Turns the feed on, holding at most `max_pending` entries.
    pub fn enable(&self, max_pending: usize) {
        self.max_pending.store(max_pending, Ordering::Relaxed);
    }

    /// Entries waiting.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed).max(0) as usize
    }

    /// The write queueing `entry` under `seq` (a sequence << 16 | its home partition); `None` when the feed
    /// is off or full.
    pub(super) fn queue(&self, seq: u64, entry: &FeedEntry) -> Result<Option<Op>, StoreError> {
        let max = self.max_pending.load(Ordering::Relaxed);
        if max == 0 {
            return Ok(None);
        }
        if self.depth() >= max {
            metrics::counter!(m::AUDIT_PUBLISHED, "result" => "dropped").increment(1);
            return Ok(None);
        }
        let key = [&[QUEUE][..], &seq.to_be_bytes()].concat();
        let value = self.codec.seal(TreeId::UserAudit, &key, entry)?;
        Ok(Some(Op {
            tree: TreeId::UserAudit,
            key,
            value: Some(value),
        }))
    }

    /// Counts an entry a lasting write queued.
    pub(super) fn queued(&self) {
        self.depth.fetch_add(1, Ordering::Relaxed);
    }

    /// Up to `limit` entries this pod publishes, oldest first: those whose write lasts (a write another
    /// pod's claim fenced never leaves), not those held here for another pod.
    pub async fn batch(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut reads = Vec::new();
        for kv in self.tree.scan_prefix([QUEUE]) {
            let (key, value) = kv?;
            if !self.durable.held_for_another(TreeId::UserAudit, &key)? {
                reads.push((TreeId::UserAudit, key.to_vec(), value.to_vec()));
            }
            if reads.len() >= limit {
                break;
            }
        }
        let mut lasting = self.durable.lasting(reads).await?;
        lasting.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        lasting
            .into_iter()
            .map(|read| {
                let entry = self.codec.open(TreeId::UserAudit, &read.1, &read.2)?;
                Ok(Pending { read, entry })
            })
            .collect()
    }

    /// Removes `published` entries; how many went.
    pub async fn published(&self, published: Vec<Pending>) -> Result<usize, StoreError> {
        let removed = self
            .durable
            .remove_unchanged(published.into_iter().map(|p| p.read).collect())
            .await?;
        self.depth.fetch_sub(removed as i64, Ordering::Relaxed);
        Ok(removed)
    }

    /// Drops the entries of events older than `before`, and every entry while the feed is off; recounts.
    pub(super) async fn prune(&self, before: i64) -> Result<usize, StoreError> {
        let off = self.max_pending.load(Ordering::Relaxed) == 0;
        let mut reads = Vec::new();
        let mut kept = 0usize;
        for kv in self.tree.scan_prefix([QUEUE]) {
            let (key, raw) = kv?;
            let old = off || {
                let entry: FeedEntry = self.codec.open(TreeId::UserAudit, &key, &raw)?;
                entry.event.at < before
            };
            if old && !self.durable.held_for_another(TreeId::UserAudit, &key)? {
                reads.push((TreeId::UserAudit, key.to_vec(), raw.to_vec()));
            } else {
                kept += 1;
            }
        }
        let tried = reads.len();
        let dropped = self.durable.remove_unchanged(reads).await?;
        if dropped > 0 {
            metrics::counter!(m::AUDIT_PUBLISHED, "result" => "dropped").increment(dropped as u64);
        }
        self.depth
            .store((kept + tried - dropped) as i64, Ordering::Relaxed);
        Ok(dropped)
    }
}
