//! The fencing rule of partition ownership (issue 18): which records of a journal partition count, so that a
//! pod that lost a partition while it was cut off (paused, partitioned away — a *zombie*) can neither have a
//! write acknowledged nor have one applied by anybody, before or after log compaction.
//!
//! Kafka's own fence, transactional producers, is not available on the test broker (tansu 0.6 answers no
//! `EndTxn`), so the fence lives in the journal itself:
//!
//! - **Claims.** A pod that is given a partition (group generation `g`) appends a claim record, key
//!   [`claim_key`]`(g)` — one key per generation, so compaction never removes a claim — before it replays
//!   the partition and serves it. Every record a pod appends carries the generation of its claim.
//! - **Replay rule** ([`Fence`]). Reading the partition in offset order, a record counts only if its
//!   generation is at least that of every claim before it. A zombie's records that land after a newer claim
//!   are skipped by every reader, the zombie included; records of the old owner that landed before the claim
//!   count (the new owner replays them). Claims are never compacted away, so a later claim cannot make a
//!   skipped record count again.
//! - **Acknowledgement rule** ([`landing`]). The owner knows the offset its next record must take if nobody
//!   else wrote into the partition. An append whose records land exactly there is acknowledged. One that
//!   lands further on had something written before it: the owner reads that gap — a newer claim means it
//!   was fenced (no acknowledgement; the change is undone locally, the partition handed over); records of
//!   older generations are a zombie's, skipped by the replay rule.
//! - **Repair.** A skipped record may be the latest of its key in the log, and compaction would then remove
//!   the valid value before it. So the owner re-appends, for every key a skipped record wrote, its own
//!   current value (or a tombstone), after its own change: on finding a gap at its next append, by a
//!   periodic comparison of the partition's end with the offset it expects, and at takeover for every key
//!   whose latest record the replay skipped — an earlier owner may have lost the partition before its check
//!   ran, so replay keeps that set beside the fence. With the topic's `min.compaction.lag.ms` above the
//!   check's period, the repair lands before compaction may drop the valid value.
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
//!
//! Open before this is wired in: an append split over several produce batches must check its last offset
//! too (first + n − 1); claims must carry a value (a null payload is a tombstone, which compaction deletes);
//! generations may reset with the group or land out of order (the claim's own offset as the generation
//! avoids both); the set of keys a replay skipped last is persisted beside the fence, so a replay that
//! resumes from an offset keeps it; `LogAppendTime` on the topic, so a zombie's old timestamps do not age
//! its records past the lag; a renewed producer is a new incarnation and must claim too (its predecessor's
//! requests may land after the renewal).

/// The tag of a claim's key: tag 0 names no state tree (see the barrier key in the journal).
const CLAIM_PREFIX: &[u8] = b"\0claim";

/// The key of the claim of generation `generation`: distinct per generation.
pub fn claim_key(generation: u64) -> Vec<u8> {
    [CLAIM_PREFIX, &generation.to_be_bytes()[..]].concat()
}

/// The generation a claim key names; `None` for any other key.
pub fn claim_generation(key: &[u8]) -> Option<u64> {
    let raw = key.strip_prefix(CLAIM_PREFIX)?;
    Some(u64::from_be_bytes(raw.try_into().ok()?))
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
