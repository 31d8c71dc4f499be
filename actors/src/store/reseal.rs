//! Re-sealing: every sealed value of the data dir moved under the keyring's current key, online.
//!
//! A value is read, opened under the key it names, sealed under the current key (bound to the same tree and
//! key) and written back only if it still holds what was read — a write since wins, it is sealed under the
//! current key already. A value under the current key is skipped, so a run that stopped (a crash, a
//! restart) is resumed by running again. Values of the login trees an earlier build wrote as plain JSON are
//! sealed on the way. Journaled, each change goes into its home's journal (so standbys and backups taken
//! from the journal see it); values this pod holds for another (a standby's copy) are left to their owner.
//! The sealing canary of the data dir is re-sealed last.

use std::collections::BTreeMap;

use super::writes::TreeId;
use super::{META, META_SEAL_CANARY, Store, StoreError, aad};
use crate::seal::Keyring;

/// The trees whose values are sealed, bound to the tree's name and the value's key.
pub const SEALED: [TreeId; 8] = [
    TreeId::Users,
    TreeId::UserAudit,
    TreeId::OtpSessions,
    TreeId::OtpTokens,
    TreeId::Outbox,
    TreeId::Lockouts,
    TreeId::Families,
    TreeId::Refresh,
];

/// The login trees, where an earlier build wrote plain JSON.
const ONCE_PLAIN: [TreeId; 3] = [TreeId::Lockouts, TreeId::Families, TreeId::Refresh];

/// The key id a count gives values of the login trees stored as plain JSON.
pub const PLAIN: u32 = 0;

/// What a re-sealing run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Values read.
    pub scanned: usize,
    /// Values written under the current key.
    pub resealed: usize,
}

impl Store {
    /// The sealed values of this data dir by the key id they are sealed under ([`PLAIN`]: plain JSON of an
    /// earlier build), the canary included; and how many of them are held here for another pod.
    pub fn sealed_by_key(&self) -> Result<(BTreeMap<u32, usize>, usize), StoreError> {
        let mut counts = BTreeMap::new();
        let mut held = 0;
        for tree in SEALED {
            for kv in self.writes.tree(tree).iter() {
                let (key, value) = kv?;
                *counts.entry(key_id(tree, &value)).or_insert(0) += 1;
                if self.durable.held_for_another(tree, &key)? {
                    held += 1;
                }
            }
        }
        if let Some(canary) = self.db.open_tree(META)?.get(META_SEAL_CANARY)? {
            *counts.entry(key_id(TreeId::Users, &canary)).or_insert(0) += 1;
        }
        Ok((counts, held))
    }

    /// Re-seals every value not under the current key, `batch` at a time, calling `progress` after each
    /// batch with what was done so far.
    pub async fn reseal(
        &self,
        batch: usize,
        mut progress: impl FnMut(Resealed),
    ) -> Result<Resealed, StoreError> {
        let keyring = self.keyring();
        let current = keyring.current_key_id();
        let mut done = Resealed::default();
        for tree in SEALED {
            let mut changes = Vec::with_capacity(batch);
            for kv in self.writes.tree(tree).iter() {
                let (key, value) = kv?;
                done.scanned += 1;
                if key_id(tree, &value) == current {
                    continue;
                }
                let fresh = resealed(keyring, tree, &key, &value)?;
                changes.push(((tree, key.to_vec(), value.to_vec()), fresh));
                if changes.len() >= batch {
                    done.resealed += self
                        .durable
                        .replace_unchanged(std::mem::take(&mut changes))
                        .await?;
                    progress(done);
                }
            }
            done.resealed += self.durable.replace_unchanged(changes).await?;
            progress(done);
        }
        let meta = self.db.open_tree(META)?;
        let canary_aad = [META.as_bytes(), META_SEAL_CANARY].concat();
        if let Some(canary) = meta.get(META_SEAL_CANARY)?
            && Keyring::key_id_of(&canary) != Some(current)
        {
            let plain = zeroize::Zeroizing::new(keyring.open(&canary, &canary_aad)?);
            meta.insert(META_SEAL_CANARY, keyring.seal(&plain, &canary_aad)?)?;
            meta.flush()?;
        }
        Ok(done)
    }
}

/// What a replay of writes in order leaves sealed under which key — of a journal's partition read from its
/// earliest offset, or of a backup: the latest value of each key of the sealed trees by the key id it is
/// sealed under, and the earlier values under another key than their key's latest (a compacted topic drops
/// them; a replay overwrites them without opening them).
#[derive(Debug, Default)]
pub struct KeyCensus {
    latest: std::collections::HashMap<u64, u32>,
    superseded: usize,
}

impl KeyCensus {
    /// Takes the write of `value` (`None`: a removal) to `key` of `tree`, in order.
    pub fn see(&mut self, tree: TreeId, key: &[u8], value: Option<&[u8]>) {
        if !SEALED.contains(&tree) {
            return;
        }
        let slot = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (tree as u8, key).hash(&mut h);
            h.finish()
        };
        let now = value.map(|v| key_id(tree, v));
        let before = match now {
            Some(id) => self.latest.insert(slot, id),
            None => self.latest.remove(&slot),
        };
        if before.is_some_and(|old| Some(old) != now) {
            self.superseded += 1;
        }
    }

    /// The latest values by key id ([`PLAIN`]: plain JSON of an earlier build).
    pub fn latest(&self) -> BTreeMap<u32, usize> {
        let mut counts = BTreeMap::new();
        for id in self.latest.values() {
            *counts.entry(*id).or_insert(0) += 1;
        }
        counts
    }

    /// Earlier values under another key than their key's latest.
    pub fn superseded(&self) -> usize {
        self.superseded
    }
}

/// The key id `value` of `tree` is sealed under ([`PLAIN`] for plain JSON of a login tree).
fn key_id(tree: TreeId, value: &[u8]) -> u32 {
    if ONCE_PLAIN.contains(&tree) && value.first() == Some(&b'{') {
        return PLAIN;
    }
    Keyring::key_id_of(value).unwrap_or(PLAIN)
}

/// `value` of `tree` at `key`, sealed under the current key.
fn resealed(
    keyring: &Keyring,
    tree: TreeId,
    key: &[u8],
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let aad = aad(tree.name(), key);
    let plain = if key_id(tree, value) == PLAIN {
        if !ONCE_PLAIN.contains(&tree) {
            return Err(StoreError::Corrupt(format!(
                "a value of {} too short to be sealed",
                tree.name()
            )));
        }
        zeroize::Zeroizing::new(value.to_vec())
    } else {
        zeroize::Zeroizing::new(keyring.open(value, &aad)?)
    };
    Ok(keyring.seal(&plain, &aad)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::KEY_LEN;
    use crate::testing::{employee, employee_family, store_with_keys};

    #[tokio::test]
    async fn every_value_moves_under_the_new_key_and_opens_with_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_keys(dir.path(), 1, 2).unwrap();
        let user = employee(&store, "EMP-RESEAL");
        store.users().insert(&user).await.unwrap();
        let family = employee_family(&user.uuid);
        let fam_id = uuid::Uuid::new_v4().to_string();
        store
            .logins()
            .open_family(&fam_id, &family, &[5; 32])
            .await
            .unwrap();
        // a family an earlier build wrote in clear
        let plain_id = uuid::Uuid::new_v4();
        store
            .writes
            .tree(TreeId::Families)
            .insert(plain_id.as_bytes(), serde_json::to_vec(&family).unwrap())
            .unwrap();
        let (before, _) = store.sealed_by_key().unwrap();
        assert_eq!(before.get(&PLAIN), Some(&1), "{before:?}");
        assert!(
            before[&1] >= 4,
            "the user, its audit, the family, the refresh token, the canary"
        );

        let (one, two) = ([1; KEY_LEN], [7; KEY_LEN]);
        store
            .keyring()
            .replace(&[(1, one), (2, two)], None)
            .unwrap();
        let mut steps = 0;
        let done = store.reseal(2, |_| steps += 1).await.unwrap();
        assert_eq!(
            done.resealed,
            before.values().sum::<usize>() - 1,
            "all but the canary"
        );
        assert!(steps >= 2, "progress told along the way");
        let (after, held) = store.sealed_by_key().unwrap();
        assert_eq!(after.keys().copied().collect::<Vec<_>>(), [2], "{after:?}");
        assert_eq!(held, 0);
        assert_eq!(
            store.reseal(2, |_| {}).await.unwrap().resealed,
            0,
            "a second run has nothing to do"
        );

        // key 1 is no longer needed: not by the store running, not by one opened anew
        store.keyring().replace(&[(2, two)], None).unwrap();
        assert_eq!(
            store
                .users()
                .get_by_uuid(&user.uuid)
                .unwrap()
                .unwrap()
                .user_name,
            "EMP-RESEAL"
        );
        assert!(
            store
                .logins()
                .family_by_id(&plain_id.to_string())
                .unwrap()
                .is_some()
        );
        drop(store);
        let keys = crate::store::StoreKeys {
            keyring: Keyring::new(&[(2, two)]).unwrap(),
            blind: crate::seal::BlindIndexer::new(&[2; KEY_LEN]),
        };
        let opts = crate::store::StoreOptions {
            path: dir.path().to_owned(),
            cache_capacity_bytes: 8 << 20,
            flush_every_ms: None,
            commit_queue: 1024,
            partitions: 256,
        };
        let reopened = Store::open(&opts, keys).unwrap();
        assert!(reopened.logins().family_by_id(&fam_id).unwrap().is_some());
    }

    #[test]
    fn a_census_counts_what_a_replay_leaves_and_what_it_overwrites() {
        let sealed = |id: u32| [&id.to_be_bytes()[..], &[0; 40]].concat();
        let mut census = KeyCensus::default();
        census.see(TreeId::Users, b"a", Some(&sealed(1)));
        census.see(TreeId::Users, b"b", Some(&sealed(1)));
        census.see(TreeId::Families, b"c", Some(b"{\"plain\":1}"));
        census.see(TreeId::UserIndex, b"i", Some(&sealed(1)));
        census.see(TreeId::Users, b"a", Some(&sealed(2)));
        census.see(TreeId::Users, b"b", None);
        assert_eq!(
            census.latest(),
            BTreeMap::from([(PLAIN, 1), (2, 1)]),
            "index entries are not sealed"
        );
        assert_eq!(census.superseded(), 2, "a's value under key 1, and b's");
    }
}
