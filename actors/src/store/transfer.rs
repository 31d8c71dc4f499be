//! Partition moves at the store level: the bundle a pod hands over for a set of partitions (users with their
//! audit trails, lockouts, refresh families and their tokens), sealed for the trip, and the partition map
//! this pod follows.
//!
//! Revocations are not in the bundle: every pod already holds all of them (they are broadcast). OTP sessions
//! are not either: they live minutes, are keyed by a blind index that does not reveal the partition, and a
//! citizen asks for a new code (README, "Operating at scale").
//!
//! The bundle is sealed with the store's keyring (AAD `transfer`): pods of one deployment share the sealing
//! keys, and the PII inside never crosses the network in clear.

use std::collections::{BTreeSet, HashSet};

use super::logins::{Family, RefreshEntry, uuid_key};
use super::users::UsersOut;
use super::writes::{Op, TreeId};
use super::{CLUSTER, Store, StoreError};
use crate::domain::lockout::LockoutState;
use crate::partition::{PartitionMap, partition_of_uuid};

const TRANSFER_AAD: &[u8] = b"transfer";
const MAP_KEY: &[u8] = b"partition_map";

/// Everything of some partitions that moves to a new owner.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartitionBundle {
    /// The partitions it holds.
    pub partitions: BTreeSet<u16>,
    /// Users and audit trails.
    pub users: UsersOut,
    /// Lockout states by user uuid.
    pub lockouts: Vec<(String, LockoutState)>,
    /// Refresh families by family id.
    pub families: Vec<(String, Family)>,
    /// Refresh tokens (by hash) of those families.
    pub refresh: Vec<([u8; 32], RefreshEntry)>,
}

/// The session side of some partitions: lockouts by user, families by id, refresh tokens by hash.
type SessionsOut = (
    Vec<(String, LockoutState)>,
    Vec<(String, Family)>,
    Vec<([u8; 32], RefreshEntry)>,
);

/// What an import or a drop touched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MoveCounts {
    /// Users.
    pub users: usize,
    /// Lockout states.
    pub lockouts: usize,
    /// Refresh families.
    pub families: usize,
}

impl PartitionBundle {
    /// What it holds, counted.
    pub fn counts(&self) -> MoveCounts {
        MoveCounts {
            users: self.users.users.len(),
            lockouts: self.lockouts.len(),
            families: self.families.len(),
        }
    }
}

impl Store {
    /// The data of `partitions` on this pod.
    pub fn export_partitions(
        &self,
        partitions: &BTreeSet<u16>,
    ) -> Result<PartitionBundle, StoreError> {
        let (lockouts, families, refresh) = self.sessions_of(partitions)?;
        Ok(PartitionBundle {
            partitions: partitions.clone(),
            users: self.users().export(partitions)?,
            lockouts,
            families,
            refresh,
        })
    }

    /// The lockouts, refresh families and refresh tokens of the users of `partitions`.
    fn sessions_of(&self, partitions: &BTreeSet<u16>) -> Result<SessionsOut, StoreError> {
        let s = self.logins();
        let in_set = |key: &[u8]| {
            <[u8; 16]>::try_from(&key[..16.min(key.len())])
                .ok()
                .is_some_and(|b| {
                    partitions.contains(&partition_of_uuid(&uuid::Uuid::from_bytes(b)).0)
                })
        };
        let mut lockouts = Vec::new();
        for kv in s.lockouts.iter() {
            let (key, raw) = kv?;
            if in_set(&key) {
                let uuid = uuid::Uuid::from_slice(&key)
                    .map_err(|_| StoreError::Corrupt("lockout key".into()))?;
                lockouts.push((uuid.to_string(), serde_json::from_slice(&raw)?));
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
                    serde_json::from_slice(&raw)?,
                ));
            }
        }
        let mut refresh = Vec::new();
        for kv in s.refresh.iter() {
            let (key, raw) = kv?;
            let entry: RefreshEntry = serde_json::from_slice(&raw)?;
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

    /// Stores a bundle another pod exported; idempotent. Returns what it wrote, once on disk. Blocking (a
    /// move is an admin operation): call it off the async threads.
    pub fn import_partitions(&self, bundle: &PartitionBundle) -> Result<MoveCounts, StoreError> {
        let users = self.users().import(&bundle.users)?;
        let s = self.logins();
        let mut lockouts = Vec::new();
        for (uuid, state) in &bundle.lockouts {
            lockouts.push((uuid_key(uuid)?, serde_json::to_vec(state)?));
        }
        let mut families = Vec::new();
        for (id, family) in &bundle.families {
            let key = uuid_key(id)?;
            let user_key = [uuid_key(&family.user)?, key].concat();
            families.push((
                key,
                user_key,
                family.expires_ms,
                serde_json::to_vec(family)?,
            ));
        }
        let mut refresh = Vec::new();
        for (hash, entry) in &bundle.refresh {
            refresh.push((*hash, serde_json::to_vec(entry)?));
        }
        let mut ops = Vec::new();
        let put = |tree, key: &[u8], value: Vec<u8>| Op {
            tree,
            key: key.to_vec(),
            value: Some(value),
        };
        for (key, json) in &lockouts {
            ops.push(put(TreeId::Lockouts, key, json.clone()));
        }
        for (key, user_key, until, json) in &families {
            ops.push(put(TreeId::Families, key, json.clone()));
            ops.push(put(
                TreeId::UserFamilies,
                user_key,
                until.to_be_bytes().to_vec(),
            ));
        }
        for (hash, json) in &refresh {
            ops.push(put(TreeId::Refresh, hash, json.clone()));
        }
        s.writes.apply_chunked(ops)?;
        self.db.flush()?;
        Ok(MoveCounts {
            users,
            lockouts: lockouts.len(),
            families: families.len(),
        })
    }

    /// Deletes the data of `partitions` here (after their new owner took over). Returns what it removed,
    /// once on disk. Blocking, like [`Store::import_partitions`].
    pub fn drop_partitions(&self, partitions: &BTreeSet<u16>) -> Result<MoveCounts, StoreError> {
        let (lockouts, families, refresh) = self.sessions_of(partitions)?;
        let gone = |tree, key: Vec<u8>| Op {
            tree,
            key,
            value: None,
        };
        let mut ops = Vec::new();
        for (uuid, _) in &lockouts {
            ops.push(gone(TreeId::Lockouts, uuid_key(uuid)?.to_vec()));
        }
        for (id, family) in &families {
            let key = uuid_key(id)?;
            ops.push(gone(TreeId::Families, key.to_vec()));
            ops.push(gone(
                TreeId::UserFamilies,
                [uuid_key(&family.user)?, key].concat(),
            ));
        }
        for (hash, _) in &refresh {
            ops.push(gone(TreeId::Refresh, hash.to_vec()));
        }
        self.writes.apply_chunked(ops)?;
        let users = self.users().drop_partitions(partitions)?;
        self.db.flush()?;
        Ok(MoveCounts {
            users,
            lockouts: lockouts.len(),
            families: families.len(),
        })
    }

    /// A bundle sealed for the trip to another pod of this deployment.
    pub fn seal_bundle(&self, bundle: &PartitionBundle) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(bundle)?);
        Ok(self.keyring.seal(&plain, TRANSFER_AAD)?)
    }

    /// Opens a bundle sealed by a pod with the same keys.
    pub fn open_bundle(&self, sealed: &[u8]) -> Result<PartitionBundle, StoreError> {
        let plain = zeroize::Zeroizing::new(self.keyring.open(sealed, TRANSFER_AAD)?);
        Ok(serde_json::from_slice(&plain)?)
    }

    /// The partition map this pod last adopted, if any.
    pub fn partition_map(&self) -> Result<Option<PartitionMap>, StoreError> {
        match self.db.open_tree(CLUSTER)?.get(MAP_KEY)? {
            Some(raw) => Ok(Some(serde_json::from_slice(&raw)?)),
            None => Ok(None),
        }
    }

    /// Adopts `map`, on disk before it returns.
    pub async fn save_partition_map(&self, map: &PartitionMap) -> Result<(), StoreError> {
        self.db
            .open_tree(CLUSTER)?
            .insert(MAP_KEY, serde_json::to_vec(map)?)?;
        self.commit.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;
    use crate::partition::{home_partition, partition_of_id};
    use crate::testing::store_with_keys;

    async fn user(store: &Store, name: &str) -> crate::domain::UserRecord {
        let r = crate::testing::employee(store, name);
        store.users().insert(&r).await.unwrap();
        r
    }

    #[tokio::test]
    async fn a_moved_partition_is_whole_at_the_new_owner_and_gone_at_the_old() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (
            store_with_keys(a.path(), 1, 2).unwrap(),
            store_with_keys(b.path(), 1, 2).unwrap(),
        );
        let mut users = Vec::new();
        for i in 0..40 {
            users.push(user(&from, &format!("98765{i:05}")).await);
        }
        let moving: BTreeSet<u16> = users
            .iter()
            .take(3)
            .map(|u| partition_of_id(u.id).0)
            .collect();
        let expected: Vec<_> = users
            .iter()
            .filter(|u| moving.contains(&partition_of_id(u.id).0))
            .collect();
        let first = &expected[0];
        let locked = LockoutState {
            failures: vec![1, 2],
            locked_at: Some(2),
            locked_until: Some(i64::MAX),
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
        };
        let fam_id = uuid::Uuid::new_v4().to_string();
        from.logins()
            .open_family(&fam_id, &family, &[7; 32])
            .await
            .unwrap();

        let sealed = from
            .seal_bundle(&from.export_partitions(&moving).unwrap())
            .unwrap();
        assert!(
            !sealed
                .windows(first.user_name.len())
                .any(|w| w == first.user_name.as_bytes()),
            "no PII in clear on the wire"
        );
        let bundle = to.open_bundle(&sealed).unwrap();
        let counts = to.import_partitions(&bundle).unwrap();
        assert_eq!(counts.users, expected.len());
        assert_eq!((counts.lockouts, counts.families), (1, 1));
        // idempotent: a retried import changes nothing
        assert_eq!(to.import_partitions(&bundle).unwrap(), counts);
        assert_eq!(to.users().len(), expected.len());
        for u in &expected {
            let got = to
                .users()
                .get_unique(&u.tenant_id, u.user_type, &u.user_name)
                .unwrap()
                .expect("found by its unique key at the new owner");
            assert_eq!(&got, *u);
        }
        assert_eq!(to.logins().lockout(&first.uuid).unwrap(), locked);
        assert_eq!(
            to.logins().peek_refresh(&[7; 32]).unwrap(),
            Some((fam_id.clone(), family))
        );
        assert_eq!(to.logins().families_of(&first.uuid, 0).unwrap().len(), 1);

        // ids minted by the new owner in a moved partition never repeat an imported one
        let tenant = TenantId::parse("pb").unwrap();
        let name = (0..)
            .map(|i| format!("NEW{i}"))
            .find(|n| moving.contains(&home_partition("pb", n, 256).0))
            .unwrap();
        let (new_id, _) = to.users().mint_ids(&tenant, &name).unwrap();
        assert!(expected.iter().all(|u| u.id < new_id));

        let dropped = from.drop_partitions(&moving).unwrap();
        assert_eq!(dropped, counts);
        assert_eq!(from.users().len(), users.len() - expected.len());
        assert!(
            from.users()
                .get_unique(&first.tenant_id, first.user_type, &first.user_name)
                .unwrap()
                .is_none()
        );
        assert_eq!(from.logins().peek_refresh(&[7; 32]).unwrap(), None);
        assert!(from.logins().lockout(&first.uuid).unwrap().is_clear());
        assert_eq!(
            from.export_partitions(&moving).unwrap().counts(),
            MoveCounts::default()
        );
    }

    #[tokio::test]
    async fn a_bundle_from_a_deployment_with_other_keys_does_not_open() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (
            store_with_keys(a.path(), 1, 2).unwrap(),
            store_with_keys(b.path(), 9, 2).unwrap(),
        );
        user(&from, "9876500001").await;
        let all: BTreeSet<u16> = (0..256).collect();
        let sealed = from
            .seal_bundle(&from.export_partitions(&all).unwrap())
            .unwrap();
        assert!(to.open_bundle(&sealed).is_err());
    }
}
