//! The journaled side of [`super::Durable`]: per partition a queue of changes applied here and waiting
//! for their append, the task that appends them — all that waited, as one change set, one produce
//! round-trip — the offset applied and the homes of keys (in the local tree [`JOURNAL_LOCAL`]), the settling
//! of a partition, and the changes kept *behind* the journal while it did not answer (appended when it
//! does, before the partition's next write).
//!
//! A change is applied here first, with its undo (each key's value before it) recorded beside it in the
//! same transaction, and its writer answered once the append that carries it is acknowledged. Until then
//! readers of this pod may see it — as a PostgreSQL primary shows a commit that still waits for its
//! synchronous standby. An append that fails (its outcome unknown) fails every change still waiting in the
//! partition: they are undone here, newest first, and the partition takes no write until it is settled
//! again — read to the journal's end, which gives back whatever of it did land. A process that dies with
//! changes waiting leaves their undo records: the next settle applies them before it reads the journal.

use std::collections::{BTreeSet, HashMap};
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
/// homed key its partition (key: `h` ‖ tree tag ‖ key), the changes kept behind (key: `b` ‖ partition ‖
/// sequence, value: the ops as postcard) and the undo of each change applied but not yet acknowledged
/// (key: `u` ‖ partition ‖ sequence, value: the undo ops as postcard).
pub(crate) const JOURNAL_LOCAL: &str = "journal_offsets";

mod batch;
#[cfg(test)]
pub(super) use batch::MAX_BATCH;
use batch::{Applied, Partition, next_batch, stopped};

pub(super) struct Journaled {
    port: Arc<dyn JournalPort>,
    writes: Writes,
    local: sled::Tree,
    ids: Arc<Ids>,
    partitions: Mutex<HashMap<u16, Arc<Partition>>>,
}

/// What a change applied here keeps beside it in [`JOURNAL_LOCAL`].
enum Keep {
    /// Its undo, until its append is acknowledged.
    Undo,
    /// Its ops, to append once the journal answers (a change kept behind).
    Ops,
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

    fn partition(&self, partition: u16) -> Arc<Partition> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition)
            .or_default()
            .clone()
    }

    /// Settles `partition` now: what waits is appended first, then the store is brought to the end of
    /// the journal.
    pub(super) async fn settle_now(self: &Arc<Self>, partition: u16) -> Result<(), StoreError> {
        let part = self.partition(partition);
        part.state().settled = false;
        let _journal = part.journal.lock().await;
        self.settle(&part, partition).await?;
        part.state().settled = true;
        Ok(())
    }

    /// Forgets `partitions` (moved away): their applied offsets, the homes of their keys and their
    /// records; a partition that comes back is read from its journal's start. Returns the keys whose home
    /// was one of them (the caller deletes them here).
    pub(super) fn forget(
        &self,
        partitions: &BTreeSet<u16>,
    ) -> Result<Vec<(TreeId, Vec<u8>)>, StoreError> {
        let mut batch = sled::Batch::default();
        for &partition in partitions {
            self.partition(partition).state().settled = false;
            batch.remove(&partition.to_be_bytes());
            for tag in [b'u', b'b'] {
                for key in self
                    .local
                    .scan_prefix(&record_key(tag, partition, 0)[..3])
                    .keys()
                {
                    batch.remove(key?);
                }
            }
        }
        let mut homed = Vec::new();
        for kv in self.local.scan_prefix(b"h") {
            let (key, home) = kv?;
            let Ok(home) = <[u8; 2]>::try_from(home.as_ref()) else {
                continue;
            };
            if partitions.contains(&u16::from_be_bytes(home))
                && let Some(tree) = key.get(1).copied().and_then(TreeId::from_tag)
            {
                homed.push((tree, key[2..].to_vec()));
                batch.remove(key);
            }
        }
        self.local.apply_batch(batch)?;
        Ok(homed)
    }

    /// The partitions holding changes kept behind.
    pub(super) fn partitions_behind(&self) -> Result<Vec<u16>, StoreError> {
        let mut partitions = Vec::new();
        let mut from = record_key(b'b', 0, 0);
        // one seek per partition: jump past each one found
        while let Some((key, _)) = self.local.range(from.as_slice()..).next().transpose()? {
            let Some([b'b', hi, lo]) = key.get(..3).map(|k| [k[0], k[1], k[2]]) else {
                break;
            };
            let partition = u16::from_be_bytes([hi, lo]);
            partitions.push(partition);
            match partition.checked_add(1) {
                Some(next) => from = record_key(b'b', next, 0),
                None => break,
            }
        }
        Ok(partitions)
    }

    /// Applies `f` here and returns its result once the append carrying its change is acknowledged. With
    /// `behind` (the store's group commit), a change the journal does not take now is kept behind
    /// instead: applied here, on disk before this returns, appended later.
    pub(super) async fn write<R, A>(
        self: &Arc<Self>,
        partition: u16,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
        behind: Option<&GroupCommit>,
    ) -> Result<R, WriteError<A>> {
        let part = self.partition(partition);
        loop {
            match self.apply_queued(&part, partition, trees, &f)? {
                Applied::Unchanged(result) => return Ok(result),
                Applied::Queued(result, appended) => match (appended.await, behind) {
                    (Ok(Ok(())), _) => return Ok(result),
                    // undone: kept behind below, unless the partition settles at once
                    (Ok(Err(_)), Some(_)) => {}
                    (Ok(Err(e)), None) => return Err(StoreError::Journal(e).into()),
                    (Err(_), _) => return Err(StoreError::Journal(stopped()).into()),
                },
                Applied::Unsettled => {}
            }
            let _journal = part.journal.lock().await;
            if part.state().settled {
                continue;
            }
            match (self.settle(&part, partition).await, behind) {
                (Ok(()), _) => part.state().settled = true,
                (Err(StoreError::Journal(JournalError::Unavailable(_))), Some(group)) => {
                    let (result, ops, _) = self.apply_recorded(partition, trees, &f, Keep::Ops)?;
                    if !ops.is_empty() {
                        group.commit().await.map_err(StoreError::from)?;
                        tracing::warn!(
                            partition,
                            "the journal did not take a session change: kept on this disk, appended once it answers"
                        );
                    }
                    return Ok(result);
                }
                (Err(e), _) => return Err(e.into()),
            }
        }
    }

    /// Runs `f` as one transaction, writing the homes of its keys and — `keep` — its undo or its ops in
    /// a record of its own: its result, its ops and the record's key.
    fn apply_recorded<R, A>(
        &self,
        partition: u16,
        trees: &[TreeId],
        f: &impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
        keep: Keep,
    ) -> Result<(R, Vec<Op>, Vec<u8>), WriteError<A>> {
        let tag = match keep {
            Keep::Undo => b'u',
            Keep::Ops => b'b',
        };
        let key = record_key(tag, partition, self.ids.next()?);
        let (result, ops) = self
            .writes
            .transact_with(trees, &self.local, |tx, local| {
                let result = f(tx)?;
                let (ops, undo) = tx.recorded();
                if !ops.is_empty() {
                    write_homes(local, partition, &ops)?;
                    let kept = match keep {
                        Keep::Undo => &undo,
                        Keep::Ops => &ops,
                    };
                    let record = postcard::to_allocvec(kept).map_err(|e| {
                        ConflictableTransactionError::Storage(sled::Error::Unsupported(
                            e.to_string(),
                        ))
                    })?;
                    local.insert(key.as_slice(), record)?;
                }
                Ok((result, ops))
            })
            .map_err(refused_or_store)?;
        Ok((result, ops, key))
    }

    /// Appends the changes kept behind for `partition`, oldest first; each leaves the record once in the
    /// journal. The store holds them (and anything newer) already: only the offset moves.
    async fn flush_behind(&self, partition: u16) -> Result<(), StoreError> {
        let prefix = record_key(b'b', partition, 0);
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

    /// Brings the store to the end of `partition`'s journal, the caller holding its journal lock: what
    /// waits is appended, what a previous run left unacknowledged undone, then a barrier, a read to the
    /// end and the undo of a change set cut off midway. Raises the id floor above every id the partition
    /// holds; appends what was kept behind.
    async fn settle(self: &Arc<Self>, part: &Partition, partition: u16) -> Result<(), StoreError> {
        loop {
            let batch = next_batch(&mut part.state().queue);
            if batch.is_empty() {
                break;
            }
            self.append_batch(part, partition, batch).await?;
        }
        let undone = self.undo_unacknowledged(partition)?;
        if undone > 0 {
            tracing::warn!(
                partition,
                undone,
                "changes never confirmed by the journal were undone; the journal's own copy follows"
            );
        }
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
    super::write_all(tx, ops)?;
    write_homes(local, partition, ops)?;
    Ok(())
}

/// Records in `local` that the homed keys `ops` write are in `partition` (or, removed, in none). A key
/// written again keeps its home without a write: a read costs sled far less than a write.
fn write_homes(
    local: &TransactionalTree,
    partition: u16,
    ops: &[Op],
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    let home = partition.to_be_bytes();
    for op in ops.iter().filter(|op| HOMED.contains(&op.tree)) {
        let key = home_key(op.tree, &op.key);
        match op.value {
            Some(_) if local.get(&key)?.as_deref() != Some(&home[..]) => {
                local.insert(key, &home)?;
            }
            Some(_) => {}
            None => {
                local.remove(key)?;
            }
        }
    }
    Ok(())
}

/// The key of a record of `partition` in [`JOURNAL_LOCAL`]: `tag` ‖ partition ‖ sequence, so a
/// partition's records of one kind scan in order.
fn record_key(tag: u8, partition: u16, sequence: u64) -> Vec<u8> {
    [
        &[tag][..],
        &partition.to_be_bytes(),
        &sequence.to_be_bytes(),
    ]
    .concat()
}

fn home_key(tree: TreeId, key: &[u8]) -> Vec<u8> {
    [&[b'h', tree as u8][..], key].concat()
}
