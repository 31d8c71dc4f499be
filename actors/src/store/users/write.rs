//! Writes to the registry: every change of a user — record, index entries, audit record — is one change
//! over the three trees, made to last through the store's [`Durable`] (journaled, into the user's home
//! partition) or, for maintenance of this data dir alone, one local transaction.

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{AUDIT, AuditEntry, UserStore, UserWriteError, id_of_key};
use crate::domain::{TenantId, UserRecord};
use crate::partition::{Partition, partition_of_id};
use crate::store::StoreError;
use crate::store::durable::WriteError;
use crate::store::writes::{TreeId, TxTree};

pub(super) enum Abort<E> {
    Duplicate,
    NotFound,
    Refused(E),
    Store(StoreError),
}

impl<E> From<Abort<E>> for UserWriteError<E> {
    fn from(a: Abort<E>) -> Self {
        match a {
            Abort::Duplicate => UserWriteError::Duplicate,
            Abort::NotFound => UserWriteError::NotFound,
            Abort::Refused(e) => UserWriteError::Refused(e),
            Abort::Store(e) => UserWriteError::Store(e),
        }
    }
}

/// The trees every change of a user writes together.
const USER_TREES: [TreeId; 3] = [TreeId::Users, TreeId::UserIndex, TreeId::UserAudit];

impl UserStore {
    /// Stores a new user, its id minted here ([`UserStore::mint_ids`]: it carries its home partition);
    /// `Duplicate` when (tenant, type, userName) is taken. Returns once on disk. An id already in use (an
    /// imported user's: the sequence was not lifted past it) is refused, never written over.
    pub async fn insert(&self, record: &UserRecord) -> Result<(), UserWriteError<()>> {
        let sealed = self.seal_record(record)?;
        let entries = self.index_entries(record);
        let unique = self.unique_key(&record.tenant_id, record.user_type, &record.user_name);
        self.commit(partition_of_id(record.id), |users, index, _audit| {
            if users.get(record.id.to_be_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(Abort::Store(
                    StoreError::Corrupt(format!("minted id {} is in use", record.id)),
                )));
            }
            if index.get(&unique)?.is_some() {
                return Err(ConflictableTransactionError::Abort(Abort::Duplicate));
            }
            index.insert(unique.as_slice(), record.id.to_be_bytes().to_vec())?;
            for (key, value) in &entries {
                index.insert(key.as_slice(), value.as_slice())?;
            }
            users.insert(record.id.to_be_bytes(), sealed.as_slice())?;
            Ok(())
        })
        .await
    }

    /// Loads the user with `uuid`, applies `change` to it, and stores the result with an audit record of the
    /// previous version, all in one transaction. Returns the new record once on disk.
    pub async fn update<E>(
        &self,
        uuid: &str,
        actor_uuid: Option<&str>,
        now: i64,
        change: impl Fn(&UserRecord) -> Result<UserRecord, E>,
    ) -> Result<UserRecord, UserWriteError<E>> {
        let id = self.id_of_uuid(uuid)?.ok_or(UserWriteError::NotFound)?;
        self.commit(self.home_of_stored(id)?, |users, index, audit| {
            self.rewrite(id, actor_uuid, now, &change, users, index, audit)
        })
        .await
    }

    /// Inside a transaction over the three trees: rewrites the record of `id` by `change`, its indexes, and
    /// an audit record of the version before.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rewrite<E>(
        &self,
        id: i64,
        actor_uuid: Option<&str>,
        now: i64,
        change: &impl Fn(&UserRecord) -> Result<UserRecord, E>,
        users: &TxTree,
        index: &TxTree,
        audit: &TxTree,
    ) -> Result<UserRecord, ConflictableTransactionError<Abort<E>>> {
        let raw = users
            .get(id.to_be_bytes())?
            .ok_or(ConflictableTransactionError::Abort(Abort::NotFound))?;
        let old = self
            .open_record(id, &raw)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?;
        let new =
            change(&old).map_err(|e| ConflictableTransactionError::Abort(Abort::Refused(e)))?;
        let old_unique = self.unique_key(&old.tenant_id, old.user_type, &old.user_name);
        let new_unique = self.unique_key(&new.tenant_id, new.user_type, &new.user_name);
        if old_unique != new_unique {
            if index.get(&new_unique)?.is_some() {
                return Err(ConflictableTransactionError::Abort(Abort::Duplicate));
            }
            index.remove(old_unique.as_slice())?;
            index.insert(new_unique.as_slice(), id.to_be_bytes().to_vec())?;
        }
        let old_entries = self.index_entries(&old);
        let new_entries = self.index_entries(&new);
        for (key, _) in old_entries.iter().filter(|e| !new_entries.contains(e)) {
            index.remove(key.as_slice())?;
        }
        for (key, value) in new_entries.iter().filter(|e| !old_entries.contains(e)) {
            index.insert(key.as_slice(), value.as_slice())?;
        }
        let seq = audit.generate_id()?;
        let audit_key = [
            &id.to_be_bytes()[..],
            &now.to_be_bytes(),
            &seq.to_be_bytes(),
        ]
        .concat();
        let entry = AuditEntry {
            previous: old,
            actor_uuid: actor_uuid.map(str::to_owned),
            at: now,
        };
        let sealed_audit = self
            .seal_json(&entry, AUDIT, &audit_key)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?;
        audit.insert(audit_key, sealed_audit)?;
        let sealed = self
            .seal_record(&new)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?;
        users.insert(id.to_be_bytes(), sealed)?;
        Ok(new)
    }

    /// Rewrites the records an earlier build stored with a tenant (the user's or a role's) spelled otherwise
    /// than [`TenantId::parse`] leaves it (`PB`, ` pb`), so lookups, uniqueness and role searches find them.
    /// A record whose normalised (userName, type, tenant) is another user's stays as it was and its uuid is
    /// returned: two accounts an operator must resolve. Returns (rewritten, left). For a blocking thread;
    /// the caller flushes.
    pub fn normalise_tenants(&self, now: i64) -> Result<(usize, Vec<String>), StoreError> {
        let mut rewritten = 0;
        let mut left = Vec::new();
        for kv in self.users.iter() {
            let (key, raw) = kv?;
            let id = id_of_key(&key)?;
            let record = self.open_record(id, &raw)?;
            let normal = |t: &TenantId| t.is_normalised();
            if normal(&record.tenant_id) && record.roles.iter().all(|r| normal(&r.tenant_id)) {
                continue;
            }
            let normalised = |old: &UserRecord| {
                let mut new = old.clone();
                new.tenant_id = old.tenant_id.normalised();
                for role in &mut new.roles {
                    role.tenant_id = role.tenant_id.normalised();
                }
                new.roles.sort();
                new.roles.dedup();
                Ok::<_, ()>(new)
            };
            let rewritten_here = self.transact(|users, index, audit| {
                self.rewrite(id, None, now, &normalised, users, index, audit)
            });
            match rewritten_here {
                Ok(_) => rewritten += 1,
                Err(UserWriteError::Duplicate) => left.push(record.uuid),
                Err(UserWriteError::Store(e)) => return Err(e),
                Err(UserWriteError::NotFound | UserWriteError::Refused(())) => {}
            }
        }
        Ok((rewritten, left))
    }

    /// Runs `f` over the three trees as one change of this data dir only, not journaled: maintenance of
    /// what earlier builds stored, and partitions moving in (the caller flushes).
    pub(super) fn transact<T, E>(
        &self,
        f: impl Fn(&TxTree, &TxTree, &TxTree) -> Result<T, ConflictableTransactionError<Abort<E>>>,
    ) -> Result<T, UserWriteError<E>> {
        self.writes
            .transact(&USER_TREES, |tx| {
                f(
                    &tx.tree(TreeId::Users),
                    &tx.tree(TreeId::UserIndex),
                    &tx.tree(TreeId::UserAudit),
                )
            })
            .map_err(|e| match e {
                TransactionError::Abort(a) => a.into(),
                TransactionError::Storage(e) => UserWriteError::Store(e.into()),
            })
    }

    /// Runs `f` over the three trees as one change whose home is `partition`, returning once it lasts.
    pub(super) async fn commit<T, E>(
        &self,
        partition: Partition,
        f: impl Fn(&TxTree, &TxTree, &TxTree) -> Result<T, ConflictableTransactionError<Abort<E>>>,
    ) -> Result<T, UserWriteError<E>> {
        self.durable
            .commit(partition.0, &USER_TREES, |tx| {
                f(
                    &tx.tree(TreeId::Users),
                    &tx.tree(TreeId::UserIndex),
                    &tx.tree(TreeId::UserAudit),
                )
            })
            .await
            .map_err(|e| match e {
                WriteError::Refused(a) => a.into(),
                WriteError::Store(e) => UserWriteError::Store(e),
            })
    }
}
