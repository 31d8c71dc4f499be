//! The fencing rule ([`crate::store::fencing`]) in the journaled store: the position a store applied (offset
//! and fence, one value), the judging of every message read (claims raise the fence, records of an older
//! generation are skipped and their keys *hidden*), the landing check of every append, and the repair of
//! hidden keys.
//!
//! Kept in [`super::JOURNAL_LOCAL`]: beside each partition's applied offset its fence (the newest claim's
//! generation read up to that offset; the two are one value, so they move together), and per hidden key
//! `k` ‖ partition ‖ journal key. A hidden key is written as soon as its record is read and removed as soon
//! as a counting record of it is: sled recovers a prefix of its writes in order, so after a crash the
//! offset never stands past a skipped record whose key is not hidden.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Journaled;
use super::batch::Partition;
use crate::store::StoreError;
use crate::store::durable::port::JournalError;
use crate::store::fencing::{Fence, Landing, generation_of_claim, is_claim, landing};
use crate::store::journal::JournalMessage;
use crate::store::writes::{Op, TreeId};

/// Rounds of repair one settle makes before it leaves the rest to the next (a zombie writing the keys
/// again as fast as they are repaired).
const REPAIR_ROUNDS: usize = 4;

/// What a message read is, by the replay rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A claim, of this generation.
    Claim(u64),
    /// Another control message (an earlier build's barrier).
    Control,
    /// A state record that counts.
    Counts,
    /// A state record written under a generation a claim before it fenced: no reader applies it.
    Skipped,
}

/// The replay rule over one partition's messages, read in order, with the hidden keys kept as it goes.
pub(super) struct Judge<'a> {
    local: &'a sled::Tree,
    partition: u16,
    fence: Fence,
    hidden: BTreeSet<Vec<u8>>,
}

impl<'a> Judge<'a> {
    /// The rule as the store left it: `fence` from its position, the hidden keys from `local`.
    pub(super) fn resume(
        local: &'a sled::Tree,
        partition: u16,
        fence: u64,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            local,
            partition,
            fence: Fence::at(fence),
            hidden: hidden_keys(local, partition)?.into_iter().collect(),
        })
    }

    /// The newest claim read.
    pub(super) fn fence(&self) -> u64 {
        self.fence.newest_claim()
    }

    /// Judges the message at `offset`, keeping the hidden keys current.
    pub(super) fn judge(
        &mut self,
        offset: i64,
        message: &JournalMessage,
    ) -> Result<Verdict, StoreError> {
        if is_claim(&message.key) {
            let generation = generation_of_claim(offset);
            self.fence.claim(generation);
            return Ok(Verdict::Claim(generation));
        }
        if message.is_control() {
            return Ok(Verdict::Control);
        }
        if self.fence.admits(message.generation) {
            if self.hidden.remove(&message.key) {
                self.local
                    .remove(hidden_key(self.partition, &message.key))?;
            }
            Ok(Verdict::Counts)
        } else {
            if self.hidden.insert(message.key.clone()) {
                self.local
                    .insert(hidden_key(self.partition, &message.key), &[])?;
            }
            Ok(Verdict::Skipped)
        }
    }
}

/// What reading past an append that did not land where expected found.
struct Gap {
    /// The offset of the first claim (or record) of a newer generation, if any.
    newer_at: Option<i64>,
    /// The offset after the last message read.
    end: i64,
}

/// How a checked append went.
pub(super) struct Checked {
    /// The offset of its last message.
    pub(super) last: i64,
    /// Whether it landed right where expected (nothing else written since this pod's last record).
    pub(super) contiguous: bool,
}

impl Journaled {
    /// Appends a change set under this pod's claim and checks where it landed ([`landing`]): right where
    /// expected, it counts. Elsewhere the messages before and around it are read: a newer claim before
    /// its last message fenced it ([`JournalError::Fenced`]: not acknowledged, the partition takes no
    /// write until given to this pod again); otherwise what was there is a zombie's, skipped, and the
    /// partition is unsettled so that its next settle repairs the keys it hid.
    pub(super) async fn append_checked(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
        change_set: u64,
        undoes: Option<u64>,
        ops: &[Op],
    ) -> Result<Checked, StoreError> {
        let (generation, expected) = {
            let state = part.state();
            (state.generation, state.expected)
        };
        let landed = self
            .port
            .append(partition, generation, change_set, undoes, ops)
            .await?;
        let whole = landed.last - landed.first + 1 == ops.len() as i64;
        match landing(expected, landed.first) {
            Landing::Contiguous if whole => {
                part.state().expected = landed.last + 1;
                return Ok(Checked {
                    last: landed.last,
                    contiguous: true,
                });
            }
            Landing::Behind => {
                return Err(JournalError::Unservable(format!(
                    "journal partition {partition}: an append landed at offset {}, before {expected} where \
                     this pod's last record ended: the topic lost records (deleted or recreated?)",
                    landed.first
                ))
                .into());
            }
            Landing::Contiguous | Landing::After { .. } => {}
        }
        metrics::counter!(crate::metrics::JOURNAL_GAPS).increment(1);
        let me = self.clone();
        let gap = tokio::task::spawn_blocking(move || me.read_gap(partition, expected, generation))
            .await
            .map_err(|_| StoreError::Corrupt("the journal's reading thread stopped".into()))??;
        let mut state = part.state();
        state.expected = gap.end;
        // the keys the gap hid are repaired at the next settle
        state.settled = false;
        match gap.newer_at {
            Some(at) => {
                state.fenced = true;
                if at < landed.last {
                    metrics::counter!(crate::metrics::JOURNAL_FENCED_WRITES).increment(1);
                    tracing::warn!(
                        partition,
                        "journal: another pod claimed this partition; a write was refused"
                    );
                    return Err(JournalError::Fenced(partition).into());
                }
                tracing::warn!(
                    partition,
                    "journal: another pod claimed this partition; it takes no more writes here"
                );
            }
            None => tracing::warn!(
                partition,
                skipped = landed.first - expected,
                "journal: records of an older claim landed in this partition; they are skipped and repaired"
            ),
        }
        Ok(Checked {
            last: landed.last,
            contiguous: false,
        })
    }

    /// Reads `partition` from `expected` to its end under the claim of `generation`: where a newer
    /// generation first shows, and the hidden keys kept current. Blocking.
    fn read_gap(&self, partition: u16, expected: i64, generation: u64) -> Result<Gap, StoreError> {
        let mut judge = Judge::resume(&self.local, partition, generation)?;
        let mut gap = Gap {
            newer_at: None,
            end: expected,
        };
        self.port.read(
            partition,
            expected.checked_sub(1).filter(|a| *a >= 0),
            &mut |offset, m| {
                gap.end = offset + 1;
                let newer = match judge.judge(offset, m)? {
                    Verdict::Claim(g) => g > generation,
                    Verdict::Counts => m.generation > generation,
                    Verdict::Control | Verdict::Skipped => false,
                };
                if newer && gap.newer_at.is_none() {
                    gap.newer_at = Some(offset);
                }
                Ok(())
            },
        )?;
        Ok(gap)
    }

    /// Writes every hidden key of `partition` again with its value here (or its removal), so that
    /// compaction cannot leave a skipped record as a key's only one. The caller holds the journal lock
    /// and the partition is unsettled: nothing else writes meanwhile.
    pub(super) async fn repair(
        self: &Arc<Self>,
        part: &Partition,
        partition: u16,
    ) -> Result<(), StoreError> {
        for _ in 0..REPAIR_ROUNDS {
            let hidden = hidden_keys(&self.local, partition)?;
            if hidden.is_empty() {
                return Ok(());
            }
            let ops: Vec<Op> = hidden
                .iter()
                .filter_map(|key| {
                    let (tag, key) = key.split_first()?;
                    let tree = TreeId::from_tag(*tag)?;
                    Some((tree, key.to_vec()))
                })
                .map(|(tree, key)| {
                    let value = self.writes.tree(tree).get(&key)?.map(|v| v.to_vec());
                    Ok(Op { tree, key, value })
                })
                .collect::<Result<_, StoreError>>()?;
            let checked = self
                .append_checked(part, partition, rand::random(), None, &ops)
                .await?;
            if checked.contiguous {
                // the repair is each key's latest record now (a gap's reading kept the set itself)
                for key in &hidden {
                    self.local.remove(hidden_key(partition, key))?;
                }
            }
            let generation = part.state().generation;
            self.save_position(partition, checked.last, generation)?;
            tracing::info!(
                partition,
                keys = ops.len(),
                "journal: keys a fenced writer's records hid written again"
            );
        }
        Ok(())
    }

    /// Records that the store holds `partition`'s journal up to `offset`, under fence `fence`.
    pub(super) fn save_position(
        &self,
        partition: u16,
        offset: i64,
        fence: u64,
    ) -> Result<(), StoreError> {
        self.local
            .insert(partition.to_be_bytes(), &position(offset, fence))?;
        Ok(())
    }

    /// The applied offset and fence of `partition`, if any.
    pub(super) fn position_of(&self, partition: u16) -> Result<Option<(i64, u64)>, StoreError> {
        self.local
            .get(partition.to_be_bytes())?
            .map(|raw| parse_position(&raw))
            .transpose()
    }

    /// The partitions holding hidden keys.
    pub(in crate::store::durable) fn partitions_hiding(&self) -> Result<Vec<u16>, StoreError> {
        let mut partitions = BTreeSet::new();
        for key in self.local.scan_prefix(b"k").keys() {
            let key = key?;
            if let Some(p) = key.get(1..3) {
                partitions.insert(u16::from_be_bytes([p[0], p[1]]));
            }
        }
        Ok(partitions.into_iter().collect())
    }
}

/// The stored value of a position: the offset, then the fence (8 bytes each, big-endian).
pub(super) fn position(offset: i64, fence: u64) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&offset.to_be_bytes());
    value[8..].copy_from_slice(&fence.to_be_bytes());
    value
}

/// A stored position; a value of 8 bytes (an offset kept by a build before claims) has fence 0.
pub(super) fn parse_position(raw: &[u8]) -> Result<(i64, u64), StoreError> {
    let corrupt = || StoreError::Corrupt("journal position".into());
    let offset = raw
        .get(..8)
        .and_then(|o| <[u8; 8]>::try_from(o).ok())
        .map(i64::from_be_bytes)
        .ok_or_else(corrupt)?;
    let fence = match raw.len() {
        8 => 0,
        16 => u64::from_be_bytes(<[u8; 8]>::try_from(&raw[8..]).map_err(|_| corrupt())?),
        _ => return Err(corrupt()),
    };
    Ok((offset, fence))
}

/// The key of a hidden journal key of `partition`.
fn hidden_key(partition: u16, key: &[u8]) -> Vec<u8> {
    [&[b'k'][..], &partition.to_be_bytes(), key].concat()
}

/// The hidden journal keys of `partition`, in key order.
fn hidden_keys(local: &sled::Tree, partition: u16) -> Result<Vec<Vec<u8>>, StoreError> {
    let prefix = [&[b'k'][..], &partition.to_be_bytes()].concat();
    local
        .scan_prefix(&prefix)
        .keys()
        .map(|k| Ok(k?[3..].to_vec()))
        .collect()
}
