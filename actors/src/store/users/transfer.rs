//! Moving users between pods: the new owner of a partition reads it from the journal; the old one counts
//! and then deletes its copy here — each record with all its index entries in one local transaction (never
//! journaled: the partition's journal keeps every user).

use std::collections::BTreeSet;

use super::{UserStore, UserWriteError, id_of_key};
use crate::partition::partition_of_id;
use crate::store::StoreError;
use crate::store::writes::{Op, TreeId};

impl UserStore {
    /// How many users have an id carrying one of `partitions`.
    pub fn count_in(&self, partitions: &BTreeSet<u16>) -> Result<usize, StoreError> {
        let mut n = 0;
        for key in self.users.iter().keys() {
            if partitions.contains(&partition_of_id(id_of_key(&key?)?).0) {
                n += 1;
            }
        }
        Ok(n)
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
