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

/// The first byte of an event's key.
const EVENTS: u8 = 0xFF;

/// The audit events.
pub struct AuditStore {
    tree: sled::Tree,
    durable: Durable,
    codec: Codec,
    ids: std::sync::Arc<Ids>,
    homes: std::sync::Arc<crate::homes::Homes>,
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
        Self {
            tree: writes.tree(TreeId::UserAudit).clone(),
            durable,
            codec,
            ids,
            homes,
        }
    }

    /// Records `event` of user `uuid`; returns once it lasts.
    pub async fn record(&self, uuid: &uuid::Uuid, event: &AuditEvent) -> Result<(), StoreError> {
        let key = [
            &[EVENTS][..],
            &uuid.as_bytes()[..],
            &event.at.to_be_bytes(),
            &self.ids.next()?.to_be_bytes(),
        ]
        .concat();
        let value = self.codec.seal(TreeId::UserAudit, &key, event)?;
        let op = Op {
            tree: TreeId::UserAudit,
            key,
            value: Some(value),
        };
        self.durable
            .apply(self.homes.of_uuid(uuid).0, vec![op])
            .await
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
        self.durable.remove_unchanged(reads).await
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
    }
}
