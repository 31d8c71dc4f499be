//! The notification outbox: what waits for delivery.
//!
//! Tree `outbox`: sequence (big-endian u64) → an [`OutboxRecord`], sealed — payloads carry the OTP and the
//! mobile number until the sink acknowledged them. Records are written by the OTP store's save in the same
//! transaction as the session state that queued them (it joins this tree into its transaction); the notifier
//! reads them in order, removes what was delivered and records failed attempts. A counter beside the tree
//! keeps the depth (sled's `len()` walks the whole tree, and every send checks the depth).

use serde::{Deserialize, Serialize};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{StoreError, aad};
use crate::seal::Keyring;

const OUTBOX: &str = "outbox";

/// Which channel a notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMS topic.
    Sms,
    /// E-mail topic.
    Email,
}

impl Channel {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// A notification waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Unique id carried to the consumer (`message-id`) for de-duplication.
    pub message_id: String,
    /// Channel.
    pub channel: Channel,
    /// Message key (the mobile number or e-mail address).
    pub key: String,
    /// The payload exactly as the consumer expects it.
    pub payload: serde_json::Value,
    /// When it was queued, epoch ms.
    pub created_ms: i64,
    /// After this moment (the code's expiry) delivering it is pointless and it is dropped, epoch ms.
    pub expires_ms: Option<i64>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error, if any.
    pub last_error: Option<String>,
    /// The tenant the request named (the topic prefix of a central instance); absent in records written
    /// before it was kept.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Metric labels of the send that queued it: purpose and tenant label.
    #[serde(default)]
    pub labels: Option<(String, String)>,
}

/// The outbox at a glance (`digit-user admin outbox`, `GET /admin/outbox`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    /// Records waiting.
    pub depth: usize,
    /// Age of the oldest, ms.
    pub oldest_age_ms: Option<i64>,
    /// Most delivery attempts of one record.
    pub max_attempts: u32,
    /// The delivery error of the newest record that has one.
    pub last_error: Option<String>,
}

/// The outbox tree and its depth.
pub struct OutboxStore {
    tree: sled::Tree,
    keyring: Arc<Keyring>,
    depth: AtomicUsize,
}

impl OutboxStore {
    pub(super) fn open(db: &sled::Db, keyring: Arc<Keyring>) -> Result<Self, StoreError> {
        let tree = db.open_tree(OUTBOX)?;
        let depth = AtomicUsize::new(tree.len());
        Ok(Self {
            tree,
            keyring,
            depth,
        })
    }

    /// The tree, for a transaction that queues records together with the state that produced them.
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// `record` sealed as it is stored under `seq`.
    pub(super) fn seal(&self, seq: u64, record: &OutboxRecord) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(record)?);
        Ok(self
            .keyring
            .seal(&plain, &aad(OUTBOX, &seq.to_be_bytes()))?)
    }

    /// Counts `n` records a committed transaction queued.
    pub(super) fn queued(&self, n: usize) {
        self.depth.fetch_add(n, Ordering::Relaxed);
    }

    /// Up to `limit` records, oldest first.
    pub fn batch(&self, limit: usize) -> Result<Vec<(u64, OutboxRecord)>, StoreError> {
        self.tree
            .iter()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let seq = u64::from_be_bytes(
                    k.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("outbox key".into()))?,
                );
                let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(OUTBOX, &k))?);
                Ok((seq, serde_json::from_slice(&plain)?))
            })
            .collect()
    }

    /// Removes a delivered record.
    pub fn ack(&self, seq: u64) -> Result<(), StoreError> {
        if self.tree.remove(seq.to_be_bytes())?.is_some() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes delivered records in one batch.
    pub fn ack_all(&self, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for seq in seqs {
            batch.remove(&seq.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        self.depth.fetch_sub(seqs.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Records a failed attempt on a record.
    pub fn failed(&self, seq: u64, record: &OutboxRecord) -> Result<(), StoreError> {
        self.tree
            .insert(seq.to_be_bytes(), self.seal(seq, record)?)?;
        Ok(())
    }

    /// What waits: depth, the oldest record's age and the latest delivery error.
    pub fn summary(&self, now: i64) -> Result<OutboxSummary, StoreError> {
        let mut summary = OutboxSummary::default();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(OUTBOX, &k))?);
            let record: OutboxRecord = serde_json::from_slice(&plain)?;
            summary.depth += 1;
            let age = (now - record.created_ms).max(0);
            summary.oldest_age_ms = Some(summary.oldest_age_ms.map_or(age, |a| a.max(age)));
            summary.max_attempts = summary.max_attempts.max(record.attempts);
            if record.last_error.is_some() {
                summary.last_error = record.last_error;
            }
        }
        Ok(summary)
    }

    /// Records waiting.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }
}
