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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::port::{JournalError, JournalPort};
use super::{HOMED, WriteError, refused_or_store, trees_of};
use crate::store::commit::GroupCommit;
use crate::store::ids::Ids;
use crate::store::journal::Complete;
use crate::store::writes::Tx;
use crate::store::writes::{Op, TreeId, Writes};
use crate::store::{StoreError, storage_error};

/// The local tree of journal bookkeeping: per partition the position applied (key: partition, 2 bytes;
/// value: offset and fence, [`fence`]), per homed key its partition (key: `h` ‖ tree tag ‖ key), the changes
/// kept behind (key: `b` ‖ partition ‖ sequence, value: the ops as postcard), the undo of each change
/// applied but not yet acknowledged (key: `u` ‖ partition ‖ sequence, value: the undo ops as postcard) and
/// the keys a fenced writer's records hid (key: `k` ‖ partition ‖ journal key).
pub(crate) const JOURNAL_LOCAL: &str = "journal_offsets";

mod batch;
mod fence;
mod settle;
#[cfg(test)]
pub(super) use batch::MAX_BATCH;
use batch::{Applied, Partition, stopped};

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
    /// the journal. With `takeover` the partition was given to this pod: settled even if another pod
    /// fenced it here before.
    pub(super) async fn settle_now(
        self: &Arc<Self>,
        partition: u16,
        takeover: bool,
    ) -> Result<(), StoreError> {
        let part = self.partition(partition);
        part.state().settled = false;
        let _journal = part.journal.lock().await;
        if part.state().released {
            return Err(JournalError::Fenced(partition).into());
        }
        self.settle(&part, partition, takeover).await?;
        part.state().settled = true;
        Ok(())
    }

    /// Marks `partitions` as given to another pod: no claim here until they are assigned here again, and
    /// — unless `keep_writing` (a handover: writes go on until the next owner's claim fences them) — no
    /// write. Waits for whoever talks to a partition's journal (a takeover's claim and replay, an append)
    /// to finish first, so that no claim of this pod lands after it returns. Blocking.
    pub(super) fn release(&self, partitions: &[u16], keep_writing: bool) {
        for &partition in partitions {
            let part = self.partition(partition);
            let _journal = loop {
                match part.journal.try_lock() {
                    Ok(guard) => break guard,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            };
            let mut state = part.state();
            state.released = true;
            if !keep_writing {
                state.fenced = true;
                state.settled = false;
            }
        }
    }

    /// Marks `partitions` as assigned here again: a takeover may claim them.
    pub(super) fn assign(&self, partitions: &[u16]) {
        for &partition in partitions {
            self.partition(partition).state().released = false;
        }
    }

    /// Whether another pod's claim fenced `partition` here while it was not released.
    pub(super) fn fenced(&self, partition: u16) -> bool {
        let part = self.partition(partition);
        let state = part.state();
        state.fenced && !state.released
    }

    /// Whether `partition` is another pod's to write: released here for good (given to another pod; a
    /// partition being handed over is still written here) or claimed by another pod.
    pub(super) fn anothers(&self, partition: u16) -> bool {
        self.partition(partition).state().fenced
    }

    /// Whether `partition` was released here (a handover) or claimed by another pod.
    pub(super) fn given_away(&self, partition: u16) -> bool {
        let part = self.partition(partition);
        let state = part.state();
        state.released || state.fenced
    }

    /// The generation of this store's claim on `partition`, while it is settled and not fenced.
    pub(super) fn generation(&self, partition: u16) -> Option<u64> {
        let part = self.partition(partition);
        let state = part.state();
        (state.settled && !state.fenced && state.generation > 0).then_some(state.generation)
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
            match (self.settle(&part, partition, false).await, behind) {
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

    pub(super) fn applied_offset(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        Ok(self.position_of(partition)?.map(|(offset, _)| offset))
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

    /// Applies `change`, read from or appended to `partition`'s journal, with the position it reaches
    /// (its offset, under `fence`) and the homes of its keys, in one transaction.
    pub(super) fn apply(
        &self,
        partition: u16,
        change: &Complete,
        fence: u64,
    ) -> Result<(), StoreError> {
        let offset = fence::position(change.offset, fence);
        self.writes
            .transact_with(&trees_of(&change.ops), &self.local, |tx, local| {
                write_homed(tx, local, partition, &change.ops)?;
                local.insert(&partition.to_be_bytes(), &offset)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)
    }

    /// Applies `change`, read from `partition`'s journal by a caller of its own, under the fence stored.
    pub(super) fn apply_read(&self, partition: u16, change: &Complete) -> Result<(), StoreError> {
        let fence = self.position_of(partition)?.map_or(0, |(_, f)| f);
        self.apply(partition, change, fence)
    }

    /// The partitions this store writes to (settled, not fenced) whose journal's end is not where it
    /// expects it.
    pub(super) async fn moved_ends(self: Arc<Self>) -> Result<Vec<u16>, StoreError> {
        let expected: Vec<(u16, i64)> = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(p, part)| {
                let state = part.state();
                (state.settled && !state.fenced && state.generation > 0)
                    .then_some((*p, state.expected))
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut moved = Vec::new();
            for (partition, expected) in expected {
                if self.port.end(partition)? != expected {
                    moved.push(partition);
                }
            }
            Ok(moved)
        })
        .await
        .map_err(|_| StoreError::Corrupt("the journal's reading thread stopped".into()))?
    }
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
