//! What a pod holds of some partitions, counted: users, lockouts and refresh families — what a takeover
//! (the next owner reads a partition from the journal, [`super::Durable::restore`]) must find as its
//! previous owner left it. Revocations are global (every pod reads the revocations topic); OTP sessions
//! and the outbox travel in the journal like everything else.

use std::collections::{BTreeSet, HashSet};

use super::logins::{Family, RefreshEntry};
use super::writes::TreeId;
use super::{Store, StoreError};
use crate::domain::lockout::LockoutState;

/// The session side of some partitions: lockouts by user, families by id, refresh tokens by hash.
type SessionsOut = (
    Vec<(String, LockoutState)>,
    Vec<(String, Family)>,
    Vec<([u8; 32], RefreshEntry)>,
);

/// What a pod holds of some partitions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MoveCounts {
    /// Users.
    pub users: usize,
    /// Lockout states.
    pub lockouts: usize,
    /// Refresh families.
    pub families: usize,
}

impl Store {
    /// What this store holds of `partitions`, counted.
    pub fn partition_counts(&self, partitions: &BTreeSet<u16>) -> Result<MoveCounts, StoreError> {
        let (lockouts, families, _) = self.sessions_of(partitions)?;
        Ok(MoveCounts {
            users: self.users().count_in(partitions)?,
            lockouts: lockouts.len(),
            families: families.len(),
        })
    }

    /// The lockouts, refresh families and refresh tokens of the users of `partitions`.
    fn sessions_of(&self, partitions: &BTreeSet<u16>) -> Result<SessionsOut, StoreError> {
        let s = self.logins();
        let in_set = |key: &[u8]| {
            <[u8; 16]>::try_from(&key[..16.min(key.len())])
                .ok()
                .is_some_and(|b| {
                    partitions.contains(&self.homes().of_uuid(&uuid::Uuid::from_bytes(b)).0)
                })
        };
        let mut lockouts = Vec::new();
        for kv in s.lockouts.iter() {
            let (key, raw) = kv?;
            if in_set(&key) {
                let uuid = uuid::Uuid::from_slice(&key)
                    .map_err(|_| StoreError::Corrupt("lockout key".into()))?;
                lockouts.push((
                    uuid.to_string(),
                    s.codec.open(TreeId::Lockouts, &key, &raw)?,
                ));
            }
        }
        let mut ids = HashSet::new();
        let mut families = Vec::new();
        for kv in s.user_families.iter() {
            let (key, _) = kv?;
            if !in_set(&key) || key.len() != 32 {
                continue;
            }
            let id: [u8; 16] = key[16..].try_into().expect("length checked");
            if let Some(raw) = s.families.get(id)? {
                ids.insert(id);
                families.push((
                    uuid::Uuid::from_bytes(id).to_string(),
                    s.codec.open(TreeId::Families, &id, &raw)?,
                ));
            }
        }
        let mut refresh = Vec::new();
        for kv in s.refresh.iter() {
            let (key, raw) = kv?;
            let entry: RefreshEntry = s.codec.open(TreeId::Refresh, &key, &raw)?;
            if ids.contains(&entry.family) {
                let hash: [u8; 32] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("refresh key".into()))?;
                refresh.push((hash, entry));
            }
        }
        Ok((lockouts, families, refresh))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::TenantId;
    use crate::partition::{home_partition, partition_of_id};
    use crate::store::writes::TreeId;
    use crate::testing::{MemoryJournal, contents, journaled_store};

    async fn user(store: &Store, name: &str) -> crate::domain::UserRecord {
        let r = crate::testing::employee(store, name);
        store.users().insert(&r).await.unwrap();
        r
    }

    /// What `store` holds of `partitions`, entry by entry.
    fn held(
        store: &Store,
        partitions: &BTreeSet<u16>,
    ) -> std::collections::BTreeMap<(u8, Vec<u8>), Vec<u8>> {
        let moved = store.partition_counts(partitions).unwrap();
        assert!(moved.users > 0, "the partitions hold users");
        contents(store)
            .into_iter()
            .filter(|((tree, key), _)| {
                *tree == TreeId::Users as u8
                    && partitions.contains(
                        &partition_of_id(i64::from_be_bytes(key.as_slice().try_into().unwrap())).0,
                    )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_partition_taken_over_is_read_whole_from_the_journal() {
        let journal = Arc::new(MemoryJournal::default());
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = journaled_store(a.path(), journal.clone()).unwrap();
        let to = journaled_store(b.path(), journal.clone()).unwrap();
        let mut users = Vec::new();
        for i in 0..40 {
            users.push(user(&from, &format!("98765{i:05}")).await);
        }
        let moving: BTreeSet<u16> = users
            .iter()
            .take(3)
            .map(|u| partition_of_id(u.id).0)
            .collect();
        let expected = users
            .iter()
            .filter(|u| moving.contains(&partition_of_id(u.id).0))
            .count();
        let first = users[0].clone();
        let locked = LockoutState {
            failures: vec![1, 2],
            locked_at: Some(2),
            locked_until: Some(i64::MAX),
            ..LockoutState::default()
        };
        from.logins()
            .save_lockout(&first.uuid, &locked)
            .await
            .unwrap();
        let family = Family {
            user: first.uuid.clone(),
            user_type: "CITIZEN".into(),
            scope: "read".into(),
            expires_ms: i64::MAX,
            access_jti: uuid::Uuid::new_v4().to_string(),
            access_expires_ms: i64::MAX,
            revoked: false,
            opened: None,
            last_used: None,
        };
        let fam_id = uuid::Uuid::new_v4().to_string();
        from.logins()
            .open_family(&fam_id, &family, &[7; 32])
            .await
            .unwrap();

        // the takeover: the old owner's journal settled, the new owner reads it
        let partitions: Vec<u16> = moving.iter().copied().collect();
        from.durable()
            .restore(&partitions, |_, _| {})
            .await
            .unwrap();
        to.durable().restore(&partitions, |_, _| {}).await.unwrap();
        let counts = to.partition_counts(&moving).unwrap();
        assert_eq!(counts, from.partition_counts(&moving).unwrap());
        assert_eq!(
            (counts.users, counts.lockouts, counts.families),
            (expected, 1, 1)
        );
        assert_eq!(held(&to, &moving), held(&from, &moving), "entry by entry");
        assert_eq!(to.logins().lockout(&first.uuid).unwrap(), locked);
        assert_eq!(
            to.logins().peek_refresh(&[7; 32]).unwrap(),
            Some((fam_id.clone(), family))
        );
        // ids minted by the new owner in a moved partition never repeat a moved one
        let tenant = TenantId::parse("pb").unwrap();
        let name = (0..)
            .map(|i| format!("NEW{i}"))
            .find(|n| moving.contains(&home_partition("pb", n, 256).0))
            .unwrap();
        let (new_id, _) = to.users().mint_ids(&tenant, &name).unwrap();
        assert!(
            users
                .iter()
                .filter(|u| moving.contains(&partition_of_id(u.id).0))
                .all(|u| u.id < new_id)
        );
    }
}
