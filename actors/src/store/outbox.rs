//! The notification outbox: what waits for delivery.
//!
//! Tree `outbox`: sequence << 16 | home partition (big-endian u64; older records: the sequence alone) → an
//! [`OutboxRecord`], sealed — notifications carry the OTP and the mobile number until the sink acknowledged
//! them. Records are written by the OTP store's save in the same
//! transaction as the session state that queued them (it joins this tree into its transaction); the notifier
//! reads them in order, removes what was delivered and records failed attempts. A counter beside the tree
//! keeps the depth (sled's `len()` walks the whole tree, and every send checks the depth).

use serde::{Deserialize, Serialize};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::durable::{Durable, KeyRead};
use super::writes::{Op, TreeId, Writes};
use super::{StoreError, aad};
use crate::domain::notification::{Channel, Notification};
use crate::seal::Keyring;

const OUTBOX: &str = TreeId::Outbox.name();

/// A notification waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRecord")]
pub struct OutboxRecord {
    /// Unique id carried to the consumer (`message-id`) for de-duplication.
    pub message_id: String,
    /// What to deliver, to whom.
    pub notification: Notification,
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
    pub tenant: Option<String>,
    /// Metric labels of the send that queued it: purpose and tenant label.
    pub labels: Option<(String, String)>,
}

impl OutboxRecord {
    /// Its channel.
    pub fn channel(&self) -> Channel {
        self.notification.channel()
    }
}

/// A record as stored: today's, or one queued before notifications were typed, which carried DIGIT's JSON
/// (`channel`, `key`, `payload`) — an outbox may hold those across an upgrade.
#[derive(Deserialize)]
struct StoredRecord {
    message_id: String,
    #[serde(default)]
    notification: Option<Notification>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    payload: Option<serde_json::Value>,
    created_ms: i64,
    expires_ms: Option<i64>,
    attempts: u32,
    last_error: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    labels: Option<(String, String)>,
}

impl TryFrom<StoredRecord> for OutboxRecord {
    type Error = String;

    fn try_from(s: StoredRecord) -> Result<Self, String> {
        let notification = match (s.notification, s.channel, &s.payload) {
            (Some(n), _, _) => n,
            (None, Some(channel), Some(json)) => Notification::from_digit_json(channel, json)
                .ok_or_else(|| format!("outbox record {}: unreadable payload", s.message_id))?,
            _ => return Err(format!("outbox record {}: no notification", s.message_id)),
        };
        Ok(Self {
            message_id: s.message_id,
            notification,
            created_ms: s.created_ms,
            expires_ms: s.expires_ms,
            attempts: s.attempts,
            last_error: s.last_error,
            tenant: s.tenant,
            labels: s.labels,
        })
    }
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
    durable: Durable,
    keyring: Arc<Keyring>,
    /// Signed: the notifier may remove a record before its save counted it (the record is visible before
    /// the save returns), which takes the count below zero for a moment.
    depth: AtomicI64,
}

impl OutboxStore {
    pub(super) fn open(writes: &Writes, durable: Durable, keyring: Arc<Keyring>) -> Self {
        let tree = writes.tree(TreeId::Outbox).clone();
        let depth = AtomicI64::new(tree.len() as i64);
        Self {
            tree,
            durable,
            keyring,
            depth,
        }
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
        self.depth.fetch_add(n as i64, Ordering::Relaxed);
    }

    /// Up to `limit` records this pod delivers, oldest first: only those whose write lasts (in its
    /// journal: a code whose write another pod's claim fenced is never sent).
    pub async fn batch(&self, limit: usize) -> Result<Vec<(u64, OutboxRecord)>, StoreError> {
        let mut lasting = self.durable.lasting(self.raw(limit)?).await?;
        // grouped by home partition there: back to the queue's order
        lasting.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        lasting
            .into_iter()
            .map(|(_, k, v)| self.open_record(&k, &v))
            .collect()
    }

    /// Up to `limit` records queued here, oldest first, whether or not their write lasts yet (what an
    /// operator or a test inspects; the notifier delivers [`batch`](Self::batch)).
    pub fn waiting(&self, limit: usize) -> Result<Vec<(u64, OutboxRecord)>, StoreError> {
        self.raw(limit)?
            .into_iter()
            .map(|(_, k, v)| self.open_record(&k, &v))
            .collect()
    }

    /// Up to `limit` sealed records, oldest first, but those of partitions held here for another pod (a
    /// standby's copy: their owner delivers them).
    fn raw(&self, limit: usize) -> Result<Vec<KeyRead>, StoreError> {
        self.tree
            .iter()
            .filter(|kv| match kv {
                Ok((k, _)) => !matches!(self.durable.held_for_another(TreeId::Outbox, k), Ok(true)),
                Err(_) => true,
            })
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((TreeId::Outbox, k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn open_record(&self, key: &[u8], sealed: &[u8]) -> Result<(u64, OutboxRecord), StoreError> {
        let seq = u64::from_be_bytes(
            key.try_into()
                .map_err(|_| StoreError::Corrupt("outbox key".into()))?,
        );
        let plain = zeroize::Zeroizing::new(self.keyring.open(sealed, &aad(OUTBOX, key))?);
        Ok((seq, serde_json::from_slice(&plain)?))
    }

    /// Removes delivered records.
    pub async fn ack_all(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let mut reads = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let key = seq.to_be_bytes();
            if let Some(value) = self.tree.get(key)? {
                reads.push((TreeId::Outbox, key.to_vec(), value.to_vec()));
            }
        }
        let removed = self.durable.remove_unchanged(reads).await?;
        self.depth.fetch_sub(removed as i64, Ordering::Relaxed);
        Ok(())
    }

    /// Records a failed attempt on a record.
    pub async fn failed(&self, seq: u64, record: &OutboxRecord) -> Result<(), StoreError> {
        let op = Op {
            tree: TreeId::Outbox,
            key: seq.to_be_bytes().to_vec(),
            value: Some(self.seal(seq, record)?),
        };
        self.durable.rewrite(vec![op]).await
    }

    /// Counts the records anew (after records arrived other than by a save: a replay of the journal).
    pub fn recount(&self) {
        self.depth.store(self.tree.len() as i64, Ordering::Relaxed);
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
        usize::try_from(self.depth.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_queued_before_notifications_were_typed_are_still_delivered() {
        // the stored JSON of an SMS and an e-mail record as the previous layout wrote them
        let sms = br#"{"message_id":"m-1","channel":"sms","key":"9876543210","payload":{"mobileNumber":"9876543210","message":"Your OTP is 123456","category":"OTP","expiryTime":null,"countryCode":"+91"},"created_ms":5,"expires_ms":600005,"attempts":2,"last_error":"timed out","tenant":"pb.amritsar","labels":["login","pb"]}"#;
        let record: OutboxRecord = serde_json::from_slice(sms).unwrap();
        assert_eq!(
            record.notification,
            Notification::Sms {
                mobile: "9876543210".into(),
                message: "Your OTP is 123456".into(),
                country_code: Some("+91".into()),
            }
        );
        assert_eq!(
            (
                record.attempts,
                record.last_error.as_deref(),
                record.tenant.as_deref()
            ),
            (2, Some("timed out"), Some("pb.amritsar"))
        );
        let email = br#"{"message_id":"m-2","channel":"email","key":"asha@example.org","payload":{"requestInfo":{},"email":{"emailTo":["asha@example.org"],"subject":"Login OTP","body":"Your OTP is 123456"}},"created_ms":5,"expires_ms":null,"attempts":0,"last_error":null}"#;
        let record: OutboxRecord = serde_json::from_slice(email).unwrap();
        assert_eq!(record.notification.key(), "asha@example.org");
        assert_eq!(record.notification.text(), "Your OTP is 123456");
        // and today's layout reads back as written
        let again: OutboxRecord =
            serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(again, record);
    }

    #[test]
    fn a_record_with_no_notification_is_an_error_not_an_empty_message() {
        let broken = br#"{"message_id":"m-3","channel":"sms","key":"9876543210","payload":{},"created_ms":5,"expires_ms":null,"attempts":0,"last_error":null}"#;
        let e = serde_json::from_slice::<OutboxRecord>(broken).unwrap_err();
        assert!(e.to_string().contains("m-3"), "{e}");
    }

    #[tokio::test]
    async fn a_record_delivered_before_its_save_counted_it_never_reads_as_a_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::open_store(dir.path());
        let otp = store.otp();
        let key = otp.session_key("pb", "9876543210");
        let record = crate::testing::sms_record("m-4", "9876543210", "Your OTP is 123456");
        let seqs = otp
            .save(&key, &Default::default(), None, &[record])
            .await
            .unwrap();
        assert_eq!(store.outbox().depth(), 1);
        // the notifier removed it while its save had not yet counted it
        store.outbox().depth.fetch_sub(1, Ordering::Relaxed);
        store.outbox().ack_all(&seqs).await.unwrap();
        assert_eq!(
            store.outbox().depth(),
            0,
            "below zero reads as none, not as a backlog"
        );
        store.outbox().queued(1);
        assert_eq!(
            store.outbox().depth(),
            0,
            "and the late count brings it back to the truth"
        );
    }
}
