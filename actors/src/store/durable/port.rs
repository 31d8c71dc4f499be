//! What the store needs of a journal, implemented outside this crate (the Kafka topic, `src/journal/log.rs`;
//! in tests also [`crate::testing::MemoryJournal`]).

use std::future::Future;
use std::pin::Pin;

use crate::store::journal::JournalMessage;
use crate::store::{Op, StoreError};

/// A boxed future of the journal.
pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// Where an append's messages landed: the offsets of its first and last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed {
    /// The first message's offset.
    pub first: i64,
    /// The last message's offset.
    pub last: i64,
}

/// What the store needs of a journal (the Kafka topic, implemented outside this crate).
pub trait JournalPort: Send + Sync {
    /// Appends the ops of change set `change_set` — the undo of `undoes`, if given — to `partition`'s
    /// journal, written under the claim of `generation`; where they landed once all are acknowledged. An
    /// error leaves the outcome unknown: part or all of it may land.
    fn append<'a>(
        &'a self,
        partition: u16,
        generation: u64,
        change_set: u64,
        undoes: Option<u64>,
        ops: &'a [Op],
    ) -> JournalFuture<'a, Landed>;

    /// Appends a claim ([`crate::store::fencing`]) to `partition` and waits for it; its offset. Once it is
    /// acknowledged, so is everything this writer sent to `partition` before it, or it never counts.
    fn claim(&self, partition: u16) -> JournalFuture<'_, i64>;

    /// The offset the next message of `partition` will take (its end). Blocking: for a thread of its own.
    fn end(&self, partition: u16) -> Result<i64, StoreError>;

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
    /// Another pod claimed the partition: this one takes no write for it until it is given it again.
    #[error("journal partition {0} was claimed by another pod; its writes go there")]
    Fenced(u16),
}
