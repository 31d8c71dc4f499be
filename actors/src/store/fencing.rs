//! The fencing rule of partition ownership (issue 18): which records of a journal partition count, so that a
//! pod that lost a partition while it was cut off (paused, partitioned away — a *zombie*) can neither have a
//! write acknowledged nor have one applied by anybody, before or after log compaction.
//!
//! Kafka's own fence, transactional producers, is not available on the test broker (tansu 0.6 answers no
//! `EndTxn`), so the fence lives in the journal itself. As wired into the store
//! (`durable/journaled.rs`, `journaled/fence.rs`):
//!
//! - **Claims.** A pod that takes a partition over — and the owner itself whenever it settles the
//!   partition again, after an append of unknown outcome — appends a claim record before it replays the
//!   partition and serves it. Its key ([`claim_key`]) carries a random nonce, so no two claims share a key
//!   and compaction never removes one; its value is not null (a null value is a tombstone). The claim's
//!   **generation** is its offset + 1 ([`generation_of_claim`]): unique, increasing in log order, needing no
//!   coordinator and surviving a group that resets its own generation numbers. Every record a pod appends
//!   carries the generation of its latest claim (header `gen`; records of builds before claims carry none,
//!   generation 0).
//! - **Replay rule** ([`Fence`]). Reading the partition in offset order, a record counts only if its
//!   generation is at least that of every claim before it. A zombie's records that land after a newer claim
//!   are skipped by every reader, the zombie included; records of the old owner that landed before the claim
//!   count (the new owner replays them). Claims are never compacted away, so a later claim cannot make a
//!   skipped record count again. A store keeps its fence beside the offset it applied, so a replay that
//!   resumes from that offset resumes with it.
//! - **Acknowledgement rule** ([`landing`]). The owner knows the offset its next record must take if nobody
//!   else wrote into the partition. An append whose records land exactly there, one after the other, is
//!   acknowledged. One that lands further on (or split) had something written before it: the owner reads
//!   from where it expected to the end — a newer claim before its last record means it was fenced (no
//!   acknowledgement; the change is undone locally and the partition taken no write until it is given to
//!   this pod again); records of older generations are a zombie's, skipped by the replay rule.
//! - **Repair.** A skipped record may be the latest of its key in the log, and compaction would then remove
//!   the valid value before it. So the owner re-appends, for every key whose latest record was skipped, its
//!   own current value (or a tombstone): after a gap at its next settle, found by a periodic comparison of
//!   the partition's end with the offset it expects, and at takeover for every key whose latest record the
//!   replay skipped — an earlier owner may have lost the partition before its check ran, so a store keeps
//!   that set (its *hidden* keys) beside the fence. With the topic's `min.compaction.lag.ms` above the
//!   check's period, the repair lands before compaction may drop the valid value.
//!
//! The claim also closes a gap the producer's renewal left: a producer replaced after a fatal error may
//! still have requests on the wire that land after the owner's next barrier; they carry the generation of
//! the claim before, and the claim the owner appends when it settles again fences them.
//!
//! The model test (`fencing/model.rs`) plays 1,000 random schedules of 200 steps on three pods — takeovers,
//! owner writes, zombie writes, repairs and checks each a step of its own, so others interleave, and
//! compaction after every step as far as its lag allows (12 steps; the owner checks at least every 5 and
//! repairs within 5): replays of the whole history, of the log as compacted so far and of the log fully
//! compacted all give the current owner's state, the last acknowledged write of every key is its value,
//! and no acknowledged write is one the rule skips. Each rule is shown necessary by switching it off:
//! without the repair compaction loses acknowledged writes (but never lets a fenced one count); with a lag
//! shorter than the check and the repair, the same; with one key for every claim too, a fenced write counts
//! again. The model found three of the rules: the repair comes after the owner's own change; the keys a
//! replay skipped last travel with the partition to its next owner; a gap holding a newer generation's
//! write (not only its claim) fences.

/// The tag of a claim's key: tag 0 names no state tree (see the barrier key in the journal).
const CLAIM_PREFIX: &[u8] = b"\0claim";

/// The key of a claim with `nonce`: distinct per claim, so compaction keeps every claim.
pub fn claim_key(nonce: u64) -> Vec<u8> {
    [CLAIM_PREFIX, &nonce.to_be_bytes()[..]].concat()
}

/// A claim as a journal message: a fresh key, a value that is not null (a null one is a tombstone).
pub fn claim_message() -> crate::store::journal::JournalMessage {
    crate::store::journal::JournalMessage {
        key: claim_key(rand::random()),
        value: Some(Vec::new()),
        change_set: rand::random(),
        end: true,
        undoes: None,
        generation: 0,
    }
}

/// Whether `key` is a claim's.
pub fn is_claim(key: &[u8]) -> bool {
    key.strip_prefix(CLAIM_PREFIX).is_some_and(|n| n.len() == 8)
}

/// The generation of the claim that landed at `offset`: its offset + 1 (0 stays "no claim").
pub fn generation_of_claim(offset: i64) -> u64 {
    u64::try_from(offset).map_or(0, |o| o + 1)
}

/// The replay rule's state for one partition: the newest claim read so far. It belongs with the offset a
/// store applied: a replay that resumes from that offset must resume with it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    newest_claim: u64,
}

impl Fence {
    /// A fence that has read claims up to generation `newest_claim`.
    pub fn at(newest_claim: u64) -> Self {
        Self { newest_claim }
    }

    /// The newest claim read.
    pub fn newest_claim(&self) -> u64 {
        self.newest_claim
    }

    /// Reads a claim of `generation` at its place in the log; an older one changes nothing.
    pub fn claim(&mut self, generation: u64) {
        self.newest_claim = self.newest_claim.max(generation);
    }

    /// Whether a record written under `generation` counts here: no newer claim came before it.
    pub fn admits(&self, generation: u64) -> bool {
        generation >= self.newest_claim
    }
}

/// Where an owner's append landed, against where it expected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// Right where expected: nothing was written before it since the owner's last record.
    Contiguous,
    /// Records from `from` to before `to` were written by someone else first: the owner must read them.
    After {
        /// The offset the owner expected.
        from: i64,
        /// The offset its first record took.
        to: i64,
    },
    /// Before the offset expected: the log lost records (the topic deleted or recreated) — not servable.
    Behind,
}

/// Where an append whose first record took offset `first` landed, the owner expecting `expected`.
pub fn landing(expected: i64, first: i64) -> Landing {
    match first.cmp(&expected) {
        std::cmp::Ordering::Equal => Landing::Contiguous,
        std::cmp::Ordering::Greater => Landing::After {
            from: expected,
            to: first,
        },
        std::cmp::Ordering::Less => Landing::Behind,
    }
}

#[cfg(test)]
mod model;
