//! Group commit: a write acknowledged to a client must be on disk, and concurrent writers share one fsync.
//!
//! Writers apply their batch to sled, then wait on [`GroupCommit::commit`]. One flusher thread takes every
//! waiter queued so far, flushes sled once and `fdatasync`s its files once ([`DiskSync`]), and answers them all; a waiter that arrives during a flush waits for
//! the next one, so a flush always covers the writes of everyone it answers. The queue is bounded: when it
//! is full the writer is told the store is busy instead of queueing without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

use super::disk_sync::DiskSync;

/// Why a commit was not confirmed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CommitError {
    /// The flush queue is full.
    #[error("the store's flush queue is full")]
    Busy,
    /// The flush failed (disk full, I/O error); the message is sled's.
    #[error("flushing the store failed: {0}")]
    Flush(String),
    /// The flusher thread is gone (shutting down).
    #[error("the store is closed")]
    Closed,
}

type Waiter = oneshot::Sender<Result<(), CommitError>>;

enum Msg {
    Flush(Waiter),
    Stop,
}

/// Handle to the flusher thread.
#[derive(Clone)]
pub struct GroupCommit {
    queue: SyncSender<Msg>,
    healthy: Arc<AtomicBool>,
}

/// Owner of the flusher thread: dropping it stops the thread and waits for it, so the database handle the
/// thread holds is released when the store is dropped.
pub struct Flusher {
    queue: SyncSender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let _ = self.queue.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl GroupCommit {
    /// Starts the flusher thread for `db` (whose files `disk` syncs) with room for `capacity` waiting
    /// writers.
    pub fn start(db: sled::Db, disk: DiskSync, capacity: usize) -> (Self, Flusher) {
        let (queue, rx) = sync_channel(capacity.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher(db, disk, rx, flag))
            .expect("spawn the store flusher thread");
        (
            Self {
                queue: queue.clone(),
                healthy,
            },
            Flusher {
                queue,
                thread: Some(thread),
            },
        )
    }

    /// Waits until everything written before this call is on disk.
    pub async fn commit(&self) -> Result<(), CommitError> {
        let (tx, rx) = oneshot::channel();
        self.queue.try_send(Msg::Flush(tx)).map_err(|e| match e {
            TrySendError::Full(_) => CommitError::Busy,
            TrySendError::Disconnected(_) => CommitError::Closed,
        })?;
        rx.await.map_err(|_| CommitError::Closed)?
    }

    /// Whether the last flush succeeded (readiness).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

fn flusher(db: sled::Db, mut disk: DiskSync, rx: Receiver<Msg>, healthy: Arc<AtomicBool>) {
    // Ends when told to stop or when every sender is gone.
    while let Ok(first) = rx.recv() {
        let mut waiters = Vec::new();
        let mut stop = false;
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            match msg {
                Msg::Flush(w) => waiters.push(w),
                Msg::Stop => stop = true,
            }
        }
        if !waiters.is_empty() {
            let result = db
                .flush()
                .map_err(|e| CommitError::Flush(e.to_string()))
                .and_then(|_| {
                    disk.sync()
                        .map_err(|e| CommitError::Flush(format!("fdatasync: {e}")))
                });
            healthy.store(result.is_ok(), Ordering::Relaxed);
            if let Err(e) = &result {
                tracing::error!(error = %e, waiters = waiters.len(), "store flush failed");
            }
            for w in waiters {
                // A writer that gave up waiting is no error of ours.
                let _ = w.send(result.clone());
            }
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_commits_all_succeed_and_data_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let disk = DiskSync::open(dir.path()).unwrap();
        let (gc, _flusher) = GroupCommit::start(db.clone(), disk, 1024);
        let mut tasks = Vec::new();
        for i in 0u32..64 {
            let db = db.clone();
            let gc = gc.clone();
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), b"v".to_vec()).unwrap();
                gc.commit().await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(()));
        }
        assert!(gc.is_healthy());
        assert_eq!(db.len(), 64);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        // A queue with no flusher behind it: fill it, the next writer is refused.
        let (queue, _rx) = sync_channel(1);
        let gc = GroupCommit {
            queue,
            healthy: Arc::new(AtomicBool::new(true)),
        };
        let first = gc.clone();
        let pending = tokio::spawn(async move { first.commit().await });
        tokio::task::yield_now().await;
        assert_eq!(gc.commit().await, Err(CommitError::Busy));
        pending.abort();
        drop(db);
    }
}
