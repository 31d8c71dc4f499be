//! What the store needs of a journal, implemented outside this crate (the Kafka topic, `src/journal/log.rs`;
//! in tests also [`crate::testing::MemoryJournal`]).

use std::future::Future;
use std::pin::Pin;

use crate::store::journal::JournalMessage;
use crate::store::{Op, StoreError};

/// A boxed future of the journal.
pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// What the store needs of a journal (the Kafka topic, implemented outside this crate).
pub trait JournalPort: Send + Sync {
    /// Appends the ops of change set `change_set` — the undo of `undoes`, if given — to `partition`'s
    /// journal; the offset of its last message once all are acknowledged. An error leaves the outcome
    /// unknown: part or all of it may land.
    fn append<'a>(
        &'a self,
        partition: u16,
        change_set: u64,
        undoes: Option<u64>,
        ops: &'a [Op],
    ) -> JournalFuture<'a, i64>;

    /// Appends a control message replay skips and waits for it: once it is acknowledged, so is everything
    /// sent to `partition` before it, or it never will be.
    fn barrier(&self, partition: u16) -> JournalFuture<'_, ()>;

    /// Reads `partition` from after offset `applied` (from its start when `None`) to the end it has now,
    /// handing each message to `each` in order. Blocking: for a thread of its own. A journal that ends
    /// before `applied`, or no longer starts where the read must, is [`JournalError::Unservable`].
    fn read(
        &self,
        partition: u16,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Why the journal took no write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The brokers did not answer or did not confirm in time: retry later.
    #[error("the journal did not confirm (retry later): {0}")]
    Unavailable(String),
    /// The partition's journal cannot be served from (lost records, a recreated topic, a corrupt record):
    /// an operator must act; the message says how.
    #[error("{0}")]
    Unservable(String),
}
