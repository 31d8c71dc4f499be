//! The audit trail on sled, in tree `user_audit` beside the previous versions of users: `0xFF` ‖ user uuid
//! (16 bytes) ‖ when (big-endian ms) ‖ sequence → the sealed [`AuditEvent`], bound to its key (a user id is
//! a positive i64, so its keys never start with `0xFF`; and a pod of an earlier version replays these writes
//! into a tree it knows). An event is written into the user's home partition (its journal, when on), so it
//! moves with the user; reads are by user and time; pruning forgets what is older than the retention.

use super::durable::{Durable, KeyRead};
use super::logins::codec::Codec;
use super::writes::{Op, TreeId, Writes};
use super::{StoreError, ids::Ids};
use crate::domain::audit::AuditEvent;

mod feed;

pub use feed::{AuditFeed, FeedEntry, Pending};

/// The first byte of an event's key.
const EVENTS: u8 = 0xFF;

/// The audit events.
pub struct AuditStore {
    tree: sled::Tree,
    durable: Durable,
    codec: Codec,
    ids: std::sync::Arc<Ids>,
    homes: std::sync::Arc<crate::homes::Homes>,
    feed: AuditFeed,
}

/// Which events a read wants.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// From this moment on (inclusive), epoch ms.
    pub from: Option<i64>,
    /// Before this moment, epoch ms.
    pub to: Option<i64>,
    /// Only these kinds (their names); empty: all.
    pub kinds: Vec<String>,
    /// Skip this many matches.
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

impl AuditStore {
    pub(super) fn open(
        writes: &Writes,
        durable: Durable,
        codec: Codec,
        ids: std::sync::Arc<Ids>,
        homes: std::sync::Arc<crate::homes::Homes>,
    ) -> Self {
        let tree = writes.tree(TreeId::UserAudit).clone();
        Self {
            feed: AuditFeed::open(tree.clone(), durable.clone(), codec.clone()),
            tree,
            durable,
            codec,
            ids,
            homes,
        }
    }

    /// The events waiting for publication to a SIEM.
    pub fn feed(&self) -> &AuditFeed {
        &self.feed
    }

    /// Records `event` of user `uuid` (and queues it for the feed when that is on); returns once it lasts.
    pub async fn record(&self, uuid: &uuid::Uuid, event: &AuditEvent) -> Result<(), StoreError> {
        let home = self.homes.of_uuid(uuid).0;
        let seq = (self.ids.next()? << 16) | u64::from(home);
        let key = [
            &[EVENTS][..],
            &uuid.as_bytes()[..],
            &event.at.to_be_bytes(),
            &seq.to_be_bytes(),
        ]
        .concat();
        let entry = FeedEntry {
            id: format!("{}-{}-{seq}", uuid.simple(), event.at),
            user: *uuid,
            event: event.clone(),
        };
        let queued = self.feed.queue(seq, &entry)?;
        let value = self.codec.seal(TreeId::UserAudit, &key, event)?;
        let mut ops = vec![Op {
            tree: TreeId::UserAudit,
            key,
            value: Some(value),
        }];
        let feeds = queued.is_some();
        ops.extend(queued);
        self.durable.apply(home, ops).await?;
        if feeds {
            self.feed.queued();
        }
        Ok(())
    }

    /// [`record`](Self::record), counted in `digit_user_audit_events_total` and logged when it fails (an
    /// event the pod serving the user raises itself: an unlock by the cool-down).
    pub async fn record_counted(&self, uuid: &str, event: &AuditEvent) {
        let Ok(user) = uuid::Uuid::parse_str(uuid) else {
            return;
        };
        let name = event.kind.name();
        let result = match self.record(&user, event).await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, kind = name, "an audit event was not recorded");
                "failed"
            }
        };
        metrics::counter!(crate::metrics::AUDIT_EVENTS, "kind" => name, "result" => result)
            .increment(1);
    }

    /// The events of user `uuid` that `query` wants, oldest first.
    pub fn read(
        &self,
        uuid: &uuid::Uuid,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let start = [
            &[EVENTS][..],
            &uuid.as_bytes()[..],
            &query.from.unwrap_or(0).max(0).to_be_bytes(),
        ]
        .concat();
        let end = [
            &[EVENTS][..],
            &uuid.as_bytes()[..],
            &query.to.unwrap_or(i64::MAX).to_be_bytes(),
        ]
        .concat();
        let mut out = Vec::new();
        let mut skipped = 0;
        for kv in self.tree.range(start..end) {
            let (key, raw) = kv?;
            let event: AuditEvent = self.codec.open(TreeId::UserAudit, &key, &raw)?;
            if !query.kinds.is_empty() && !query.kinds.iter().any(|k| k == event.kind.name()) {
                continue;
            }
            if skipped < query.offset {
                skipped += 1;
                continue;
            }
            out.push(event);
            if out.len() >= query.limit {
                break;
            }
        }
        Ok(out)
    }

    /// Forgets the events older than `before`; how many.
    pub async fn prune(&self, before: i64) -> Result<usize, StoreError> {
        let mut reads: Vec<KeyRead> = Vec::new();
        for kv in self.tree.scan_prefix([EVENTS]) {
            let (key, raw) = kv?;
            let at = key
                .get(17..25)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt("audit key".into()))?;
            if at < before {
                reads.push((TreeId::UserAudit, key.to_vec(), raw.to_vec()));
            }
        }
        Ok(self.durable.remove_unchanged(reads).await? + self.feed.prune(before).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditKind;
    use crate::testing::store_with_keys;

    fn event(at: i64, kind: AuditKind) -> AuditEvent {
        AuditEvent {
            at,
            actor: None,
            kind,
        }
    }

    #[tokio::test]
    async fn events_read_back_by_user_time_and_kind_and_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_keys(dir.path(), 1, 2).unwrap();
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let audit = store.audit();
        audit
            .record(&a, &event(10, AuditKind::Locked))
            .await
            .unwrap();
        audit
            .record(&a, &event(20, AuditKind::PasswordChanged { reset: true }))
            .await
            .unwrap();
        audit
            .record(&b, &event(15, AuditKind::Locked))
            .await
            .unwrap();
        let all = |kinds: &[&str], from, to| AuditQuery {
            from,
            to,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            offset: 0,
            limit: 10,
        };
        let of_a = audit.read(&a, &all(&[], None, None)).unwrap();
        assert_eq!(of_a.iter().map(|e| e.at).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(
            audit.read(&a, &all(&["locked"], None, None)).unwrap().len(),
            1
        );
        assert_eq!(audit.read(&a, &all(&[], Some(11), None)).unwrap().len(), 1);
        assert_eq!(audit.read(&a, &all(&[], None, Some(20))).unwrap().len(), 1);
        assert_eq!(audit.prune(16).await.unwrap(), 2, "a's first and b's");
        assert_eq!(audit.read(&b, &all(&[], None, None)).unwrap(), []);
        // the previous versions of users beside them are not touched
        assert!(store.users().audit_trail(65536).unwrap().is_empty());
        assert_eq!(audit.feed().depth(), 0, "the feed is off: nothing queued");
    }

    #[tokio::test]
    async fn the_feed_queues_in_order_up_to_its_bound_and_forgets_what_was_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_keys(dir.path(), 1, 2).unwrap();
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let audit = store.audit();
        audit.feed().enable(2);
        audit
            .record(&a, &event(10, AuditKind::Locked))
            .await
            .unwrap();
        audit
            .record(&b, &event(5, AuditKind::PasswordChanged { reset: false }))
            .await
            .unwrap();
        audit
            .record(&a, &event(30, AuditKind::Locked))
            .await
            .unwrap();
        assert_eq!(audit.feed().depth(), 2, "the third is past the bound");
        let all = AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        };
        assert_eq!(audit.read(&a, &all).unwrap().len(), 2, "but in the trail");
        let pending = audit.feed().batch(10).await.unwrap();
        let got: Vec<(uuid::Uuid, i64)> = pending
            .iter()
            .map(|p| (p.entry.user, p.entry.event.at))
            .collect();
        assert_eq!(got, [(a, 10), (b, 5)], "in queueing order");
        assert_ne!(pending[0].entry.id, pending[1].entry.id);
        let json = serde_json::to_value(&pending[1].entry).unwrap();
        assert_eq!(json["kind"], "password_changed");
        assert_eq!(json["user"], b.to_string());
        assert_eq!(
            serde_json::from_value::<FeedEntry>(json).unwrap(),
            pending[1].entry
        );
        assert_eq!(audit.feed().published(pending).await.unwrap(), 2);
        assert_eq!(audit.feed().depth(), 0);
        assert!(audit.feed().batch(10).await.unwrap().is_empty());
        // a queue older than the retention goes with the prune
        audit
            .record(&b, &event(40, AuditKind::Locked))
            .await
            .unwrap();
        audit
            .record(&b, &event(50, AuditKind::Locked))
            .await
            .unwrap();
        audit.prune(45).await.unwrap();
        let left = audit.feed().batch(10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].entry.event.at, 50);
        assert_eq!(audit.feed().depth(), 1);
    }
}
