//! Users moved in from another registry (egov-user) with their id and uuid unchanged: stored new, updated
//! when the source changed them since (by last-modified date: a change made here after the move is never
//! overwritten), or left as they are — so an import run twice, or resumed, changes nothing the second time.

use sled::transaction::ConflictableTransactionError;

use super::write::Abort;
use super::{K_UUID, UserStore, UserWriteError};
use crate::domain::UserRecord;
use crate::partition::{Partition, home_partition};
use crate::store::StoreError;
use crate::store::writes::TreeId;

/// What an import did with one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored: it was not here.
    New,
    /// Replaced: the source changed it after the stored version was last modified.
    Updated,
    /// Left: the stored version is as recent as the source's.
    Unchanged,
}

/// Why an imported user was not stored: one of its keys belongs to another user here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImportConflict {
    /// Its id is another user's (another uuid).
    #[error("its id is another user's")]
    Id,
    /// Its uuid is another user's (another id).
    #[error("its uuid is another user's")]
    Uuid,
    /// Its (tenant, type, userName) is another user's.
    #[error("its userName, type and tenant are another user's")]
    UserName,
}

impl UserStore {
    /// The home of an imported user: the one the directory gives it when it has one (a user imported
    /// before keeps its home, whatever its userName became), else the partition its userName routes to
    /// (its id and uuid carry none).
    pub fn import_home(&self, record: &UserRecord) -> Partition {
        let recorded = self
            .durable
            .recorded_home(TreeId::Users, &record.id.to_be_bytes())
            .ok()
            .flatten()
            .map(Partition);
        recorded
            .or_else(|| self.homes.learned_id(record.id))
            .unwrap_or_else(|| {
                home_partition(
                    record.tenant_id.state().as_str(),
                    &record.user_name,
                    self.partitions,
                )
            })
    }

    /// The home of the user stored here under `id`: the partition whose journal wrote it (a copy replayed
    /// before the directory told this pod of it still knows), else as the directory or its id's bits say.
    pub(super) fn home_of_stored(&self, id: i64) -> Result<Partition, StoreError> {
        Ok(self
            .durable
            .recorded_home(TreeId::Users, &id.to_be_bytes())?
            .map_or_else(|| self.homes.of_id(id), Partition))
    }

    /// Stores `record` as imported, keeping its id and uuid; `now` dates the audit record of an update.
    /// Lifts the id sequence so that users created here later get ids above it.
    pub async fn import(
        &self,
        record: &UserRecord,
        now: i64,
    ) -> Result<Imported, UserWriteError<ImportConflict>> {
        let uuid = uuid::Uuid::parse_str(&record.uuid)
            .map_err(|_| UserWriteError::Refused(ImportConflict::Uuid))?;
        let uuid_key = [&[K_UUID][..], uuid.as_bytes()].concat();
        let unique = self.unique_key(&record.tenant_id, record.user_type, &record.user_name);
        let entries = self.index_entries(record);
        let sealed = self.seal_record(record)?;
        let refused = |c| ConflictableTransactionError::Abort(Abort::Refused(c));
        let home = self.import_home(record);
        let imported = self
            .commit(home, |users, index, audit| {
                if let Some(raw) = users.get(record.id.to_be_bytes())? {
                    let old = self
                        .open_record(record.id, &raw)
                        .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e)))?;
                    if old.uuid != record.uuid {
                        return Err(refused(ImportConflict::Id));
                    }
                    if old.last_modified_date >= record.last_modified_date {
                        return Ok(Imported::Unchanged);
                    }
                    let replace = |_: &UserRecord| Ok::<_, ImportConflict>(record.clone());
                    return match self.rewrite(record.id, None, now, &replace, users, index, audit) {
                        Ok(_) => Ok(Imported::Updated),
                        Err(ConflictableTransactionError::Abort(Abort::Duplicate)) => {
                            Err(refused(ImportConflict::UserName))
                        }
                        Err(e) => Err(e),
                    };
                }
                if index.get(&uuid_key)?.is_some() {
                    return Err(refused(ImportConflict::Uuid));
                }
                if index.get(&unique)?.is_some() {
                    return Err(refused(ImportConflict::UserName));
                }
                index.insert(unique.as_slice(), record.id.to_be_bytes().to_vec())?;
                for (key, value) in &entries {
                    index.insert(key.as_slice(), value.as_slice())?;
                }
                users.insert(record.id.to_be_bytes(), sealed.as_slice())?;
                Ok(Imported::New)
            })
            .await?;
        // ids minted here are sequence << 16 | partition: a sequence above this one mints above the id
        self.ids
            .raise_above(crate::partition::sequence_floor(record.id))?;
        Ok(imported)
    }
}
