//! Settling a journaled partition: what waits appended, what a previous run left unacknowledged undone,
//! a claim ([`crate::store::fencing`]), the partition read to its end by the replay rule, a change set cut
//! off midway undone, the changes kept behind appended and the keys a fenced writer hid repaired.

use std::sync::Arc;

use super::batch::{Partition, next_batch};
use super::fence::{self, Judge, Verdict};
use super::{Journaled, record_key};
use crate::store::durable::port::JournalError;
use crate::store::journal::{Complete, Replay, Unfinished};
use crate::store::writes::{Op, TreeId};
use crate::store::{StoreError, storage_error};
use sled::transaction::ConflictableTransactionError;

impl Journaled {
    /// Appends the changes kept behind for `partition`, oldest first; each leaves the record once in the
    /// journal. The store holds them (and anything newer) already: only the offset moves.
    async fn flush_behind(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
    ) -> Result<(), StoreError> {
        let prefix = record_key(b'b', partition, 0);
        for kv in self.local.scan_prefix(&prefix[..3]) {
            let (key, record) = kv?;
            let ops: Vec<Op> = postcard::from_bytes(&record)?;
            let checked = self
                .append_checked(part, partition, rand::random(), None, &ops)
                .await?;
            let position = fence::position(checked.last, part.state().generation);
            self.local
                .transaction(|local| {
                    local.insert(&partition.to_be_bytes(), &position)?;
                    local.remove(&key)?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(storage_error)?;
        }
        Ok(())
    }

    /// Brings the store to the end of `partition`'s journal, the caller holding its journal lock: what
    /// waits is appended, what a previous run left unacknowledged undone, then a claim
    /// ([`crate::store::fencing`]), a read to the end and the undo of a change set cut off midway. Raises
    /// the id floor above every id the partition holds; appends what was kept behind and repairs the keys
    /// a fenced writer hid. A partition fenced here is settled again only by a `takeover`.
    pub(super) async fn settle(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
        takeover: bool,
    ) -> Result<(), StoreError> {
        if part.state().fenced && !takeover {
            return Err(JournalError::Fenced(partition).into());
        }
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
        let claim = self.port.claim(partition).await?;
        metrics::counter!(crate::metrics::JOURNAL_CLAIMS).increment(1);
        let generation = crate::store::fencing::generation_of_claim(claim);
        {
            let mut state = part.state();
            state.generation = generation;
            state.fenced = false;
        }
        let read = self.replay_through(partition, claim).await?;
        {
            let mut state = part.state();
            state.expected = read.end;
            if read.fence > generation {
                state.fenced = true;
                return Err(JournalError::Fenced(partition).into());
            }
        }
        if let Some(unfinished) = read.unfinished {
            let undo = self.pre_images(&unfinished.covers)?;
            let checked = self
                .append_checked(
                    part,
                    partition,
                    rand::random(),
                    Some(unfinished.change_set),
                    &undo,
                )
                .await?;
            let change = Complete {
                ops: undo,
                offset: checked.last,
            };
            self.apply(partition, &change, generation)?;
        }
        self.flush_behind(part, partition).await?;
        self.repair(part, partition).await
    }

    /// Replays `partition` until the read has passed this pod's own claim at offset `claim`. Everything
    /// another pod wrote before the claim counts (the claim fences only what lands after it), so a read
    /// that a fetch ended short of the claim — a broker whose fetch answered an end older than the claim
    /// it had already acknowledged — would leave acknowledged writes out of this copy: it reads on.
    async fn replay_through(
        self: &Arc<Self>,
        partition: u16,
        claim: i64,
    ) -> Result<ReadToEnd, StoreError> {
        let started = std::time::Instant::now();
        loop {
            let me = self.clone();
            let read = tokio::task::spawn_blocking(move || me.replay(partition))
                .await
                .map_err(|_| {
                    StoreError::Corrupt("the journal's reading thread stopped".into())
                })??;
            if read.end > claim {
                return Ok(read);
            }
            if started.elapsed() >= SHORT_READ_PATIENCE {
                return Err(JournalError::Unavailable(format!(
                    "partition {partition}: reads end at offset {} before this pod's claim at {claim}",
                    read.end
                ))
                .into());
            }
            tracing::warn!(
                partition,
                end = read.end,
                claim,
                "a journal read ended before this pod's own claim; reading on"
            );
            metrics::counter!(crate::metrics::JOURNAL_SHORT_READS).increment(1);
            tokio::time::sleep(SHORT_READ_PAUSE).await;
        }
    }

    /// Brings this store's copy of `partition`, another pod's, to the journal's end — what a warm standby
    /// does, so that taking the partition over later reads only the last few records. Nothing is claimed
    /// or written to the journal; the replay rule applies as on a takeover. `None` (nothing read) unless
    /// the partition is released here and no handover of this pod still writes to it; else how many
    /// records the copy is behind the end it read to (a change set still being appended).
    pub(in crate::store::durable) async fn follow(
        self: &Arc<Self>,
        partition: u16,
    ) -> Result<Option<i64>, StoreError> {
        let part = self.partition(partition);
        let _journal = part.journal.lock().await;
        {
            let state = part.state();
            if !(state.released && state.fenced) {
                return Ok(None);
            }
        }
        // what a run of this pod that died left unconfirmed goes first, as a settle does it
        self.undo_unacknowledged(partition)?;
        let me = self.clone();
        let read = tokio::task::spawn_blocking(move || me.replay(partition))
            .await
            .map_err(|_| StoreError::Corrupt("the journal's reading thread stopped".into()))??;
        let applied = self
            .position_of(partition)?
            .map_or(0, |(offset, _)| offset + 1);
        Ok(Some((read.end - applied).max(0)))
    }

    /// Reads `partition` from what the store applied to its end, applying each change set that counts
    /// by the replay rule ([`crate::store::fencing`]).
    fn replay(&self, partition: u16) -> Result<ReadToEnd, StoreError> {
        let position = self.position_of(partition)?;
        let applied = position.map(|(offset, _)| offset);
        let mut judge = Judge::resume(&self.local, partition, position.map_or(0, |(_, f)| f))?;
        let mut replay = Replay::default();
        let mut highest = 0u64;
        let mut last_read = applied;
        self.port.read(partition, applied, &mut |offset, message| {
            last_read = Some(offset);
            if judge.judge(offset, message)? != Verdict::Counts {
                return Ok(());
            }
            let done = replay.feed(offset, message).map_err(|e| {
                StoreError::Journal(JournalError::Unservable(format!(
                    "journal partition {partition}: {e}"
                )))
            })?;
            for change in done {
                highest = highest.max(highest_sequence(&change.ops));
                self.apply(partition, &change, judge.fence())?;
            }
            Ok(())
        })?;
        self.ids.raise_above(highest)?;
        let unfinished = replay.finish();
        // read through (claims included) with nothing left open: the next read starts after all of it
        if unfinished.is_none()
            && let Some(offset) = last_read
            && last_read > applied
        {
            self.save_position(partition, offset, judge.fence())?;
        }
        Ok(ReadToEnd {
            unfinished,
            end: last_read.map_or(0, |o| o + 1),
            fence: judge.fence(),
        })
    }

    /// The ops that put back what `ops` overwrote: each key's value here now (or its removal).
    fn pre_images(&self, ops: &[Op]) -> Result<Vec<Op>, StoreError> {
        crate::store::journal::pre_images(&self.writes, ops)
    }
}

/// How long a takeover reads again when reads end before its own claim, and the pause between reads.
const SHORT_READ_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
const SHORT_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// What a replay to the journal's end found.
struct ReadToEnd {
    /// The change set left cut off at the end, if any.
    unfinished: Option<Unfinished>,
    /// The offset after the last message read.
    end: i64,
    /// The newest claim read.
    fence: u64,
}

/// The highest sequence number among the ids and outbox keys `ops` write (0 when none).
fn highest_sequence(ops: &[Op]) -> u64 {
    ops.iter()
        .filter_map(|op| {
            let raw = <[u8; 8]>::try_from(op.key.as_slice()).ok()?;
            match op.tree {
                // an id or an outbox key is sequence << 16 | partition (an outbox key written by an
                // older build is the sequence alone: read so, it raises the floor less, and every new
                // key, a sequence above the floor shifted, is still above it)
                TreeId::Users | TreeId::Outbox => Some(u64::from_be_bytes(raw) >> 16),
                _ => None,
            }
        })
        .max()
        .unwrap_or(0)
}
