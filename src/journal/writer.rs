//! The journal's write path for one store: a change is validated against the store, appended to its
//! partition's journal, and only then applied — so nothing is acknowledged that the journal does not hold.
//!
//! Per partition, one write at a time: validation (a dry run, [`Store::dry_run`]) sees every change applied
//! before it, and the journal's order is the store's. An append whose outcome is unknown (a timeout, a
//! broker gone) leaves the partition *unsettled*: before its next write, the writer appends a barrier,
//! reads the partition to its end — applying whatever of the unknown append landed — and cancels a change
//! set cut off midway with its undo. Until that succeeds the partition's writes are refused; they resume by
//! themselves once the broker answers. Not yet wired into the service (issue 17, next step).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actors::store::journal::Complete;
use actors::store::writes::{ConflictableTransactionError, TransactionError, Tx};
use actors::store::{Op, Store, StoreError, TreeId};

use super::log::{AppendError, JournalLog, ReadError};

/// Why a write was not made.
#[derive(Debug, thiserror::Error)]
pub enum JournalWriteError<A> {
    /// The change refused itself (e.g. a duplicate): nothing was appended.
    #[error("refused")]
    Refused(A),
    /// The journal could not be reached or the outcome is unknown: retry later (503).
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The journal of a partition cannot take a write now.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// An append failed: its outcome is unknown.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The partition could not be read back to settle it.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Writes through the journal into one store.
pub struct JournalWriter {
    log: Arc<JournalLog>,
    store: Arc<Store>,
    /// Per partition: held across validate → append → apply; `true` while unsettled.
    partitions: Mutex<HashMap<u16, Arc<tokio::sync::Mutex<bool>>>>,
}

impl JournalWriter {
    /// A writer for `store` on `log`.
    pub fn new(log: Arc<JournalLog>, store: Arc<Store>) -> Self {
        Self {
            log,
            store,
            partitions: Mutex::default(),
        }
    }

    fn partition(&self, partition: u16) -> Arc<tokio::sync::Mutex<bool>> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition)
            .or_default()
            .clone()
    }

    /// Validates `f` against the store, appends what it writes to `partition`'s journal, applies it, and
    /// returns its result: once this returns `Ok`, the change is in the journal and in the store.
    pub async fn write<R, A>(
        &self,
        partition: u16,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, JournalWriteError<A>> {
        let slot = self.partition(partition);
        let mut unsettled = slot.lock().await;
        if *unsettled {
            self.settle(partition).await?;
            *unsettled = false;
        }
        let (result, ops) = match self.store.dry_run(trees, f) {
            Ok(ran) => ran,
            Err(TransactionError::Abort(a)) => return Err(JournalWriteError::Refused(a)),
            Err(TransactionError::Storage(e)) => return Err(StoreError::from(e).into()),
        };
        if ops.is_empty() {
            return Ok(result);
        }
        match self
            .log
            .append(i32::from(partition), rand::random(), None, &ops)
            .await
        {
            Ok(offset) => {
                self.store
                    .apply_journaled(partition, &Complete { ops, offset })?;
                Ok(result)
            }
            Err(e) => {
                *unsettled = true;
                Err(Unavailable::from(e).into())
            }
        }
    }

    /// Brings the store to the end of the journal of every partition in `partitions`, one after the
    /// other, calling `progress(done, total)` after each — what a pod does before it serves them: a wiped
    /// data dir comes back whole, and an append a previous run left unknown is settled.
    pub async fn restore(
        &self,
        partitions: &[u16],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), Unavailable> {
        for (done, partition) in partitions.iter().enumerate() {
            let slot = self.partition(*partition);
            let mut unsettled = slot.lock().await;
            self.settle(*partition).await?;
            *unsettled = false;
            progress(done + 1, partitions.len());
        }
        Ok(())
    }

    /// Brings the store to the end of `partition`'s journal: a barrier, then a read to the end, then the
    /// undo of a change set cut off midway.
    async fn settle(&self, partition: u16) -> Result<(), Unavailable> {
        let p = i32::from(partition);
        self.log.barrier(p, rand::random()).await?;
        let (log, store) = (self.log.clone(), self.store.clone());
        let replayed = actix_web::rt::task::spawn_blocking(move || log.replay_into(&store, p))
            .await
            .map_err(|_| ReadError::Corrupt {
                partition: p,
                reason: "the reading thread stopped".into(),
            })??;
        if let Some(unfinished) = replayed.unfinished {
            let undo: Vec<Op> = self
                .store
                .pre_images(&unfinished.covers)
                .map_err(ReadError::from)?;
            let offset = self
                .log
                .append(p, rand::random(), Some(unfinished.change_set), &undo)
                .await?;
            self.store
                .apply_journaled(partition, &Complete { ops: undo, offset })
                .map_err(ReadError::from)?;
        }
        Ok(())
    }
}
