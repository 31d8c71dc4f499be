//! Moving users between pods: the records and audit trails of a set of partitions out of this store, into
//! another, and gone from the first once the new owner serves them.
//!
//! Invariants: an import writes each record with all its index entries in one transaction, so a user is
//! either fully there or not at all; importing the same data twice changes nothing; after an import, ids this
//! store mints stay above every imported id (the sequence floor), so a moved partition never sees an id twice.

use std::collections::BTreeSet;

use sled::transaction::ConflictableTransactionError;

use super::write::Abort;
use super::{AUDIT, AuditEntry, UserStore, UserWriteError, aad, id_of_key};
use crate::domain::UserRecord;
use crate::partition::partition_of_id;
use crate::store::StoreError;
use crate::store::writes::{Op, TreeId};

/// The users of some partitions, as one pod hands them to another.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UsersOut {
    /// The records, password hashes included.
    pub users: Vec<UserRecord>,
    /// Their audit trails: the store key (id ‖ time ‖ sequence) and the entry.
    pub audit: Vec<(Vec<u8>, AuditEntry)>,
}

impl UserStore {
    /// Every user whose id carries one of `partitions`, with its audit trail.
    pub fn export(&self, partitions: &BTreeSet<u16>) -> Result<UsersOut, StoreError> {
        let mut out = UsersOut::default();
        for kv in self.users.iter() {
            let (key, raw) = kv?;
            let id = id_of_key(&key)?;
            if !partitions.contains(&partition_of_id(id).0) {
                continue;
            }
            out.users.push(self.open_record(id, &raw)?);
            for kv in self.audit.scan_prefix(key) {
                let (akey, araw) = kv?;
                let plain = self.keyring.open(&araw, &aad(AUDIT, &akey))?;
                out.audit
                    .push((akey.to_vec(), serde_json::from_slice(&plain)?));
            }
        }
        Ok(out)
    }

    /// Stores users handed over by another pod; a user already here under the same id is replaced with its
    /// index entries. Returns the number of users written; the caller flushes.
    pub fn import(&self, data: &UsersOut) -> Result<usize, StoreError> {
        let mut max_sequence = 0;
        for record in &data.users {
            max_sequence = max_sequence.max((record.id as u64) >> 16);
            let sealed = self.seal_record(record)?;
            let entries = self.index_entries(record);
            let unique = self.unique_key(&record.tenant_id, record.user_type, &record.user_name);
            let key = record.id.to_be_bytes();
            let result = self.transact::<(), ()>(|users, index, _audit| {
                if let Some(old) = users.get(key)? {
                    let old = self
                        .open_record(record.id, &old)
                        .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?;
                    for (k, _) in self.index_entries(&old) {
                        index.remove(k)?;
                    }
                    index.remove(self.unique_key(&old.tenant_id, old.user_type, &old.user_name))?;
                }
                if let Some(owner) = index.get(&unique)?
                    && owner.as_ref() != key.as_slice()
                {
                    return Err(ConflictableTransactionError::Abort(Abort::Duplicate));
                }
                index.insert(unique.as_slice(), key.to_vec())?;
                for (k, v) in &entries {
                    index.insert(k.as_slice(), v.as_slice())?;
                }
                users.insert(key, sealed.as_slice())?;
                Ok(())
            });
            match result {
                Ok(()) => {}
                Err(UserWriteError::Store(e)) => return Err(e),
                Err(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "imported user {} clashes with another user of the same userName",
                        record.id
                    )));
                }
            }
        }
        let mut audit = Vec::with_capacity(data.audit.len());
        for (key, entry) in &data.audit {
            audit.push(Op {
                tree: TreeId::UserAudit,
                key: key.clone(),
                value: Some(self.seal_json(entry, AUDIT, key)?),
            });
        }
        self.writes.apply_chunked(audit)?;
        self.ids.raise_above(max_sequence)?;
        Ok(data.users.len())
    }

    /// Removes every user (with index entries and audit trail) whose id carries one of `partitions`; returns
    /// how many; the caller flushes.
    pub fn drop_partitions(&self, partitions: &BTreeSet<u16>) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for kv in self.users.iter() {
            let (key, raw) = kv?;
            let id = id_of_key(&key)?;
            if !partitions.contains(&partition_of_id(id).0) {
                continue;
            }
            let record = self.open_record(id, &raw)?;
            let unique = self.unique_key(&record.tenant_id, record.user_type, &record.user_name);
            let entries = self.index_entries(&record);
            let result = self.transact::<(), ()>(|users, index, _audit| {
                index.remove(unique.as_slice())?;
                for (k, _) in &entries {
                    index.remove(k.as_slice())?;
                }
                users.remove(&key)?;
                Ok(())
            });
            if let Err(UserWriteError::Store(e)) = result {
                return Err(e);
            }
            let mut trail = Vec::new();
            for akv in self.audit.scan_prefix(&key) {
                trail.push(Op {
                    tree: TreeId::UserAudit,
                    key: akv?.0.to_vec(),
                    value: None,
                });
            }
            self.writes.apply_chunked(trail)?;
            dropped += 1;
        }
        Ok(dropped)
    }
}
