//! The journaled side of [`super::Durable`]: per partition the lock a write holds from validation to
//! apply, the offset applied and the homes of keys (in the local tree [`JOURNAL_LOCAL`]), the settling of a
//! partition, and the changes kept *behind* the journal while it did not answer (appended when it does,
//! before the partition's next write).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::port::{JournalError, JournalPort};
use super::{HOMED, WriteError, refused_or_store, trees_of};
use crate::store::commit::GroupCommit;
use crate::store::ids::Ids;
use crate::store::journal::{Complete, Replay, Unfinished};
use crate::store::writes::Tx;
use crate::store::writes::{Op, TreeId, Writes};
use crate::store::{StoreError, storage_error};

/// The local tree of journal bookkeeping: per partition the offset applied (key: partition, 2 bytes), per
/// homed key its partition (key: `h` ‖ tree tag ‖ key), and the changes kept behind (key: `b` ‖ partition ‖
/// sequence, value: the ops as postcard).
pub(crate) const JOURNAL_LOCAL: &str = "journal_offsets";

pub(super) struct Journaled {
    port: Arc<dyn JournalPort>,
    writes: Writes,
    local: sled::Tree,
    ids: Arc<Ids>,
    /// Per partition: held across validate → append → apply; `true` once settled.
    partitions: Mutex<HashMap<u16, Arc<tokio::sync::Mutex<bool>>>>,
}

impl Journaled {
    pub(super) fn new(
        port: Arc<dyn JournalPort>,
        writes: Writes,
        local: sled::Tree,
        ids: Arc<Ids>,
    ) -> Self {
        Self {
            port,
            writes,
            local,
            ids,
            partitions: Mutex::default(),
        }
    }

    pub(super) fn slot(&self, partition: u16) -> Arc<tokio::sync::Mutex<bool>> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition)
            .or_default()
            .clone()
    }

    /// Settles `partition` now, under its lock.
    pub(super) async fn settle_now(self: &Arc<Self>, partition: u16) -> Result<(), StoreError> {
        let slot = self.slot(partition);
        let mut settled = slot.lock().await;
        *settled = false;
        self.settle(partition).await?;
        *settled = true;
        Ok(())
    }

    /// The partitions holding changes kept behind.
    pub(super) fn partitions_behind(&self) -> Result<Vec<u16>, StoreError> {
        let mut partitions = Vec::new();
        let mut from = behind_key(0, 0);
        // one seek per partition: jump past each one found
        while let Some((key, _)) = self.local.range(from.as_slice()..).next().transpose()? {
            let Some([b'b', hi, lo]) = key.get(..3).map(|k| [k[0], k[1], k[2]]) else {
                break;
            };
            let partition = u16::from_be_bytes([hi, lo]);
            partitions.push(partition);
            match partition.checked_add(1) {
                Some(next) => from = behind_key(next, 0),
                None => break,
            }
        }
        Ok(partitions)
    }

    /// Validates `f` against the store, appends what it writes to `partition`'s journal, applies it and
    /// returns its result. With `behind` (the store's group commit), a change the journal does not take
    /// now is kept behind instead: applied here, on disk before this returns, appended later.
    pub(super) async fn write<R, A>(
        self: &Arc<Self>,
        partition: u16,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
        behind: Option<&GroupCommit>,
    ) -> Result<R, WriteError<A>> {
        let slot = self.slot(partition);
        let mut settled = slot.lock().await;
        if !*settled {
            match (self.settle(partition).await, behind) {
                (Ok(()), _) => *settled = true,
                (Err(StoreError::Journal(JournalError::Unavailable(_))), Some(group)) => {
                    let (result, ops) = self.writes.dry_run(trees, &f).map_err(refused_or_store)?;
                    self.keep_behind(partition, &ops, group).await?;
                    return Ok(result);
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
        let (result, ops) = self.writes.dry_run(trees, &f).map_err(refused_or_store)?;
        if ops.is_empty() {
            return Ok(result);
        }
        match self
            .port
            .append(partition, rand::random(), None, &ops)
            .await
        {
            Ok(offset) => {
                self.apply(partition, &Complete { ops, offset })?;
                Ok(result)
            }
            Err(e) => {
                *settled = false;
                match behind {
                    Some(group) => {
                        self.keep_behind(partition, &ops, group).await?;
                        Ok(result)
                    }
                    None => Err(StoreError::Journal(e).into()),
                }
            }
        }
    }

    /// Applies `ops` here with a record to append them later, in one transaction, and waits until both
    /// are on disk. The caller holds the partition's lock.
    async fn keep_behind(
        &self,
        partition: u16,
        ops: &[Op],
        group: &GroupCommit,
    ) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let record = postcard::to_allocvec(ops)?;
        let key = behind_key(partition, self.ids.next()?);
        self.writes
            .transact_with(&trees_of(ops), &self.local, |tx, local| {
                write_homed(tx, local, partition, ops)?;
                local.insert(key.as_slice(), record.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)?;
        group.commit().await?;
        tracing::warn!(
            partition,
            "the journal did not take a session change: kept on this disk, appended once it answers"
        );
        Ok(())
    }

    /// Appends the changes kept behind for `partition`, oldest first; each leaves the record once in the
    /// journal. The store holds them (and anything newer) already: only the offset moves.
    async fn flush_behind(&self, partition: u16) -> Result<(), StoreError> {
        let prefix = behind_key(partition, 0);
        for kv in self.local.scan_prefix(&prefix[..3]) {
            let (key, record) = kv?;
            let ops: Vec<Op> = postcard::from_bytes(&record)?;
            let offset = self
                .port
                .append(partition, rand::random(), None, &ops)
                .await?;
            self.local
                .transaction(|local| {
                    local.insert(&partition.to_be_bytes(), &offset.to_be_bytes())?;
                    local.remove(&key)?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(storage_error)?;
        }
        Ok(())
    }

    pub(super) fn applied_offset(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        self.local
            .get(partition.to_be_bytes())?
            .map(|raw| {
                <[u8; 8]>::try_from(raw.as_ref())
                    .map(i64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("journal offset".into()))
            })
            .transpose()
    }

    pub(super) fn home(&self, tree: TreeId, key: &[u8]) -> Result<Option<u16>, StoreError> {
        self.local
            .get(home_key(tree, key))?
            .map(|raw| {
                <[u8; 2]>::try_from(raw.as_ref())
                    .map(u16::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("home partition of a key".into()))
            })
            .transpose()
    }

    /// Applies `change`, read from or appended to `partition`'s journal, with the offset it reaches and
    /// the homes of its keys, in one transaction.
    pub(super) fn apply(&self, partition: u16, change: &Complete) -> Result<(), StoreError> {
        let offset = change.offset.to_be_bytes();
        self.writes
            .transact_with(&trees_of(&change.ops), &self.local, |tx, local| {
                write_homed(tx, local, partition, &change.ops)?;
                local.insert(&partition.to_be_bytes(), &offset)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)
    }

    /// Brings the store to the end of `partition`'s journal: a barrier, a read to the end, and the undo
    /// of a change set cut off midway. Raises the id floor above every id the partition holds.
    pub(super) async fn settle(self: &Arc<Self>, partition: u16) -> Result<(), StoreError> {
        self.port.barrier(partition).await?;
        let me = self.clone();
        let unfinished = tokio::task::spawn_blocking(move || me.replay(partition))
            .await
            .map_err(|_| StoreError::Corrupt("the journal's reading thread stopped".into()))??;
        if let Some(unfinished) = unfinished {
            let undo = self.pre_images(&unfinished.covers)?;
            let offset = self
                .port
                .append(
                    partition,
                    rand::random(),
                    Some(unfinished.change_set),
                    &undo,
                )
                .await?;
            self.apply(partition, &Complete { ops: undo, offset })?;
        }
        self.flush_behind(partition).await
    }

    /// Reads `partition` from what the store applied to its end, applying each change set; the change
    /// set left cut off at the end, if any.
    fn replay(&self, partition: u16) -> Result<Option<Unfinished>, StoreError> {
        let applied = self.applied_offset(partition)?;
        let mut replay = Replay::default();
        let mut highest = 0u64;
        let mut last_read = applied;
        self.port.read(partition, applied, &mut |offset, message| {
            last_read = Some(offset);
            let done = replay.feed(offset, message).map_err(|e| {
                StoreError::Journal(JournalError::Unservable(format!(
                    "journal partition {partition}: {e}"
                )))
            })?;
            for change in done {
                highest = highest.max(highest_sequence(&change.ops));
                self.apply(partition, &change)?;
            }
            Ok(())
        })?;
        self.ids.raise_above(highest)?;
        let unfinished = replay.finish();
        // read through (barriers included) with nothing left open: the next read starts after all of it
        if unfinished.is_none()
            && let Some(offset) = last_read
            && last_read > applied
        {
            self.local
                .insert(partition.to_be_bytes(), &offset.to_be_bytes())?;
        }
        Ok(unfinished)
    }

    /// The ops that put back what `ops` overwrote: each key's value here now (or its removal).
    fn pre_images(&self, ops: &[Op]) -> Result<Vec<Op>, StoreError> {
        crate::store::journal::pre_images(&self.writes, ops)
    }
}

/// The highest sequence number among the ids and outbox keys `ops` write (0 when none).
fn highest_sequence(ops: &[Op]) -> u64 {
    ops.iter()
        .filter_map(|op| {
            let raw = <[u8; 8]>::try_from(op.key.as_slice()).ok()?;
            match op.tree {
                // an id is sequence << 16 | partition
                TreeId::Users => Some(u64::from_be_bytes(raw) >> 16),
                TreeId::Outbox => Some(u64::from_be_bytes(raw)),
                _ => None,
            }
        })
        .max()
        .unwrap_or(0)
}

/// Writes `ops` in `tx` and the home `partition` of their homed keys in `local`.
fn write_homed(
    tx: &Tx<'_>,
    local: &TransactionalTree,
    partition: u16,
    ops: &[Op],
) -> Result<(), ConflictableTransactionError<()>> {
    let home = partition.to_be_bytes();
    for op in ops {
        let tree = tx.tree(op.tree);
        let homed = HOMED.contains(&op.tree);
        match &op.value {
            Some(v) => {
                tree.insert(&op.key, v.as_slice())?;
                if homed {
                    local.insert(home_key(op.tree, &op.key), &home)?;
                }
            }
            None => {
                tree.remove(&op.key)?;
                if homed {
                    local.remove(home_key(op.tree, &op.key))?;
                }
            }
        }
    }
    Ok(())
}

/// The key of a change kept behind: `b` ‖ partition ‖ sequence, so a partition's records scan in order.
fn behind_key(partition: u16, sequence: u64) -> Vec<u8> {
    [
        &[b'b'][..],
        &partition.to_be_bytes(),
        &sequence.to_be_bytes(),
    ]
    .concat()
}

fn home_key(tree: TreeId, key: &[u8]) -> Vec<u8> {
    [&[b'h', tree as u8][..], key].concat()
}
