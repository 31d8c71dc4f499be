//! Store work that can take long — a search scanning an index, a page of thousands of users masked and
//! rendered to JSON — runs on threads of its own, not on the HTTP workers: while 32 clients pull 5,000-user
//! pages, a worker still answers health probes and token checks at once. The threads run at a lower CPU
//! priority (nice [`NICE`]), so a worker woken by a request takes the core from them. Bounded both ways:
//! `http.bulk_threads` jobs run at once, `http.bulk_queue` wait; a job beyond that is refused
//! ([`BulkError::Busy`], a retryable 503) instead of queueing without limit.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How much lower the bulk threads' CPU priority is than the workers' (`nice`, 0–19).
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    /// Every thread is busy and the queue is full.
    #[error("the service is busy with long requests")]
    Busy,
    /// The job panicked, or the pool is shutting down.
    #[error("a long request's work failed")]
    Failed,
}

/// The pool; cheap to clone. Its threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Bulk {
    jobs: SyncSender<Job>,
}

impl Bulk {
    /// Starts `threads` threads (at least one) with room for `queue` waiting jobs.
    pub fn start(threads: usize, queue: usize) -> Self {
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bulk-{n}"))
                .spawn(move || work(&rx))
                .expect("spawn a bulk thread");
        }
        Self { jobs }
    }

    /// Runs `f` on a bulk thread and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, BulkError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // the caller may have gone (its client hung up): nobody to answer
            let _ = tx.send(f());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => BulkError::Busy,
            TrySendError::Disconnected(_) => BulkError::Failed,
        })?;
        // a panicking job drops its sender: the caller hears of it, the thread goes on
        rx.await.map_err(|_| BulkError::Failed)
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    actors::hasher::lower_priority(NICE);
    loop {
        // the lock is held only while waiting for the next job, never while one runs
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a bulk job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_caller_and_answers_each() {
        let bulk = Bulk::start(2, 8);
        let caller = std::thread::current().id();
        let (a, b) = tokio::join!(
            bulk.run(move || (std::thread::current().id() != caller, 1 + 1)),
            bulk.run(|| std::thread::current().name().map(str::to_owned)),
        );
        assert_eq!(a, Ok((true, 2)));
        assert!(b.unwrap().unwrap().starts_with("bulk-"));
    }

    #[tokio::test]
    async fn its_threads_run_at_a_lower_priority() {
        let bulk = Bulk::start(1, 1);
        // SAFETY: as in lower_priority
        let nice = bulk
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) })
            .await
            .unwrap();
        // SAFETY: as above
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_eq!(nice, (ours + NICE).min(19));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_and_a_panic_fails_one_job_only() {
        use futures_util::FutureExt;
        let bulk = Bulk::start(1, 1);
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        // the thread busy until told ...
        let mut running = Box::pin(bulk.run(move || {
            started_tx.send(()).unwrap();
            held.recv().unwrap();
        }));
        assert!((&mut running).now_or_never().is_none());
        started.recv().unwrap();
        // ... one job waiting (its first poll queued it): the queue is full
        let mut waiting = Box::pin(bulk.run(|| 7));
        assert!((&mut waiting).now_or_never().is_none());
        assert_eq!(bulk.run(|| 0).now_or_never(), Some(Err(BulkError::Busy)));
        hold.send(()).unwrap();
        assert_eq!(running.await, Ok(()));
        assert_eq!(waiting.await, Ok(7));
        let panicked = bulk.run(|| -> u8 { panic!("a job's bug") }).await;
        assert_eq!(panicked, Err(BulkError::Failed));
        assert_eq!(bulk.run(|| 3).await, Ok(3), "the thread survived the panic");
    }
}
