//! The queue of one journaled partition: changes applied here with their undo, waiting for the append
//! that carries them; the flusher task that appends what waits, all of it as one change set; and what a
//! failed append does — every waiting change undone, newest first, the partition unsettled.

use std::sync::{Arc, Mutex, MutexGuard};

use sled::transaction::ConflictableTransactionError;
use tokio::sync::oneshot;

use super::{Journaled, Keep, record_key, write_homed};
use crate::store::durable::WriteError;
use crate::store::durable::port::JournalError;
use crate::store::durable::trees_of;
use crate::store::writes::{Op, TreeId, Tx};
use crate::store::{StoreError, storage_error};

/// At most this many waiting changes go into one append.
pub(in crate::store::durable) const MAX_BATCH: usize = 512;

/// One partition's write path.
#[derive(Default)]
pub(super) struct Partition {
    /// Held by whoever talks to the partition's journal: the flusher across its appends, a settle.
    pub(super) journal: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

#[derive(Default)]
pub(super) struct State {
    /// The store holds all of the partition's journal, and what it applied since is queued.
    pub(super) settled: bool,
    /// Changes applied here and waiting for their append, oldest first.
    pub(super) queue: Vec<Queued>,
    /// Whether a flusher task runs (it stops when it finds the queue empty).
    flushing: bool,
    /// The generation of this pod's latest claim on the partition (0: none yet in this process).
    pub(super) generation: u64,
    /// The offset this pod's next record takes if nobody else writes into the partition.
    pub(super) expected: i64,
    /// Another pod claimed the partition: no write until it is given to this pod again (a takeover).
    pub(super) fenced: bool,
    /// Given to another pod (a group's revocation): not even a takeover claims it until it is assigned
    /// here again.
    pub(super) released: bool,
}

/// A change waiting for its append.
pub(super) struct Queued {
    /// The key of its undo record; `None` for a reader waiting for what is queued before it.
    undo: Option<Vec<u8>>,
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), JournalError>>,
}

/// How an attempt to apply a change ended.
pub(super) enum Applied<R> {
    /// The partition is not settled: nothing was applied.
    Unsettled,
    /// The change wrote nothing.
    Unchanged(R),
    /// Applied and queued: the receiver tells how its append ended.
    Queued(R, oneshot::Receiver<Result<(), JournalError>>),
}

impl Partition {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Journaled {
    /// Waits until every change of `partition` applied so far is in its journal; an error when the
    /// append that carried them failed (they are undone then).
    pub(in crate::store::durable) async fn acknowledged(
        &self,
        partition: u16,
    ) -> Result<(), StoreError> {
        let appended = {
            let part = self.partition(partition);
            let mut state = part.state();
            if state.queue.is_empty() && !state.flushing {
                return Ok(());
            }
            let (done, appended) = oneshot::channel();
            state.queue.push(Queued {
                undo: None,
                ops: Vec::new(),
                done,
            });
            appended
        };
        match appended.await {
            Ok(result) => result.map_err(StoreError::Journal),
            Err(_) => Err(StoreError::Journal(stopped())),
        }
    }

    /// Applies `f` with its undo and queues it for the flusher (started if none runs) — if the partition
    /// is settled; under the partition's state lock, so a failed append's undo never interleaves.
    pub(super) fn apply_queued<R, A>(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
        trees: &[TreeId],
        f: &impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<Applied<R>, WriteError<A>> {
        let mut state = part.state();
        if !state.settled {
            return Ok(Applied::Unsettled);
        }
        let (result, ops, undo) = self.apply_recorded(partition, trees, f, Keep::Undo)?;
        if ops.is_empty() {
            return Ok(Applied::Unchanged(result));
        }
        let (done, appended) = oneshot::channel();
        state.queue.push(Queued {
            undo: Some(undo),
            ops,
            done,
        });
        if !state.flushing {
            state.flushing = true;
            tokio::spawn(self.clone().flush(partition));
        }
        Ok(Applied::Queued(result, appended))
    }

    /// The flusher of `partition`: appends what waits, batch after batch, until nothing does.
    async fn flush(self: Arc<Self>, partition: u16) {
        let part = self.partition(partition);
        let _journal = part.journal.lock().await;
        loop {
            let batch = {
                let mut state = part.state();
                if state.queue.is_empty() {
                    state.flushing = false;
                    return;
                }
                next_batch(&mut state.queue)
            };
            // a failure is told to the writers that waited
            let _ = self.append_batch(&part, partition, batch).await;
        }
    }

    /// Appends `batch` as one change set and tells its writers how it ended. On failure every change
    /// of the partition still waiting is undone and failed too, and the partition is unsettled.
    pub(super) async fn append_batch(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
        batch: Vec<Queued>,
    ) -> Result<(), JournalError> {
        let ops: Vec<Op> = batch.iter().flat_map(|q| q.ops.iter().cloned()).collect();
        if ops.is_empty() {
            tell(batch, &Ok(()));
            return Ok(());
        }
        match self
            .append_checked(part, partition, rand::random(), None, &ops)
            .await
        {
            Ok(checked) => {
                let generation = part.state().generation;
                if let Err(e) = self.acknowledge(partition, &batch, checked.last, generation) {
                    // in the journal: its writers are answered, and the next settle reads it again
                    part.state().settled = false;
                    tracing::error!(partition, error = %e, "an appended change could not be recorded as such");
                }
                tell(batch, &Ok(()));
                Ok(())
            }
            Err(e) => {
                let e = match e {
                    StoreError::Journal(e) => e,
                    other => JournalError::Unavailable(other.to_string()),
                };
                let failed = Err(e.clone());
                let rest = {
                    let mut state = part.state();
                    state.settled = false;
                    std::mem::take(&mut state.queue)
                };
                // no change applies while the partition is unsettled: the undo runs alone
                if let Err(undo) = self.undo_unacknowledged(partition) {
                    tracing::error!(partition, error = %undo, "changes whose append failed could not be undone yet; the next settle undoes them");
                }
                tell(batch, &failed);
                tell(rest, &failed);
                Err(e)
            }
        }
    }

    /// Records that the changes of `batch` are in the journal, up to `offset`: their undo records go,
    /// then the offset moves. Plain writes, no transaction (each sled transaction writes out its log
    /// buffer): sled recovers a prefix of its writes in order, so a crash between leaves the undo records
    /// gone and the offset before them — the next settle reads those changes again from the journal and
    /// applies them once more, to the same values.
    fn acknowledge(
        &self,
        partition: u16,
        batch: &[Queued],
        offset: i64,
        fence: u64,
    ) -> Result<(), StoreError> {
        for key in batch.iter().filter_map(|q| q.undo.as_ref()) {
            self.local.remove(key.as_slice())?;
        }
        self.save_position(partition, offset, fence)
    }

    /// Undoes, newest first, every change of `partition` applied here but never acknowledged; how many.
    pub(super) fn undo_unacknowledged(&self, partition: u16) -> Result<usize, StoreError> {
        let prefix = record_key(b'u', partition, 0);
        let records = self
            .local
            .scan_prefix(&prefix[..3])
            .collect::<Result<Vec<_>, _>>()?;
        if records.is_empty() {
            return Ok(0);
        }
        let mut undo: Vec<Op> = Vec::new();
        for (_, record) in records.iter().rev() {
            undo.extend(postcard::from_bytes::<Vec<Op>>(record)?);
        }
        self.writes
            .transact_with(&trees_of(&undo), &self.local, |tx, local| {
                write_homed(tx, local, partition, &undo)?;
                for (key, _) in &records {
                    local.remove(key)?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)?;
        Ok(records.len())
    }
}

/// Up to [`MAX_BATCH`] of the oldest changes in `queue`, taken out of it.
pub(super) fn next_batch(queue: &mut Vec<Queued>) -> Vec<Queued> {
    let n = queue.len().min(MAX_BATCH);
    queue.drain(..n).collect()
}

/// Tells every writer of `batch` how its append ended (one that stopped waiting is not told).
fn tell(batch: Vec<Queued>, outcome: &Result<(), JournalError>) {
    for queued in batch {
        let _ = queued.done.send(outcome.clone());
    }
}

/// The error of a writer whose flusher went away without telling it how its append ended.
pub(super) fn stopped() -> JournalError {
    JournalError::Unavailable("the journal's writer stopped; retry".into())
}
