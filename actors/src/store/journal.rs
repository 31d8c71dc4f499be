//! The journal's records and their replay into the store, independent of Kafka.
//!
//! A change set (the ops of one transaction of [`Writes`](super::Writes)) becomes one journal message per
//! op, all in the Kafka partition of the change set's home partition. A message's key is the stored key
//! (tree tag ‖ key), so log compaction keeps each key's latest value; its value is the stored value (sealed
//! as at rest) or none, a tombstone. Two headers tie the messages of a change set together: `cs`, an id
//! shared by them, and `end` on the last one.
//!
//! Replay applies change sets whole. Messages of one change set are buffered until its `end`. Compaction may
//! remove a change set's last message (a later write of the same key superseded it): when a message of
//! another change set arrives while one is buffered, the buffered one was complete and is applied. A
//! change set whose messages stop without an `end` at the very end of the log is a produce that failed
//! midway (the producer is idempotent, so what landed is a prefix): it was never acknowledged, so replay
//! does not apply it and hands it back ([`Replay::finish`]) — the owner appends its undo (the keys' values
//! before it, [`Store::pre_images`] of [`Unfinished::covers`]), tagged `undoes` with its id, before it takes
//! a write; a reader that meets an undo drops the buffered change set it names. An undo cut off in turn is
//! unfinished itself; its `covers` include the keys of what it was undoing, so the next undo puts all of
//! them back and the original stays dropped. Each applied change set records the offset of its last message in the same
//! transaction, so a replay resumes where the store stands.

use super::writes::{Op, TreeId, Writes};
use super::{Store, StoreError};

/// Header naming a message's change set.
pub const CHANGE_SET_HEADER: &str = "cs";
/// Header marking the last message of a change set.
pub const END_HEADER: &str = "end";
/// Header on every message of an undo: the change set it cancels.
pub const UNDOES_HEADER: &str = "undoes";
/// Header on every message: the generation of its writer's claim (the fencing rule, `fencing.rs`); a message without
/// it was written before claims existed (generation 0).
pub const GENERATION_HEADER: &str = "gen";

/// The key of a barrier, the control message earlier builds appended where a claim
/// (`fencing.rs`) now goes. Replay skips it, as every key of tag 0 (no state tree).
pub const BARRIER_KEY: &[u8] = b"\0barrier";

/// One message of the journal, as produced and as consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalMessage {
    /// Tree tag ‖ stored key.
    pub key: Vec<u8>,
    /// The stored value; `None` = removed (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The change set it belongs to.
    pub change_set: u64,
    /// Whether it is the change set's last message.
    pub end: bool,
    /// For an undo: the unfinished change set it cancels.
    pub undoes: Option<u64>,
    /// The generation of its writer's claim (0: written before claims existed).
    pub generation: u64,
}

impl JournalMessage {
    /// Whether it is a control message (a claim, or an earlier build's barrier): tag 0 is no state tree.
    pub fn is_control(&self) -> bool {
        self.key.first() == Some(&0)
    }
}

/// Why a message is not a journal record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The key names no state tree.
    #[error("journal message at offset {0}: its key names no state tree")]
    UnknownTree(i64),
}

/// The messages of change set `change_set` — the undo of change set `undoes`, if given — in order, written
/// under the claim of `generation`.
pub fn encode(
    generation: u64,
    change_set: u64,
    undoes: Option<u64>,
    ops: &[Op],
) -> Vec<JournalMessage> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| JournalMessage {
            key: [&[op.tree as u8][..], &op.key].concat(),
            value: op.value.clone(),
            change_set,
            end: i + 1 == ops.len(),
            undoes,
            generation,
        })
        .collect()
}

fn decode(offset: i64, message: &JournalMessage) -> Result<Op, RecordError> {
    let (tag, key) = message
        .key
        .split_first()
        .ok_or(RecordError::UnknownTree(offset))?;
    Ok(Op {
        tree: TreeId::from_tag(*tag).ok_or(RecordError::UnknownTree(offset))?,
        key: key.to_vec(),
        value: message.value.clone(),
    })
}

/// A change set ready to apply: its ops and the offset of its last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    /// The ops, in order.
    pub ops: Vec<Op>,
    /// Offset of its last message.
    pub offset: i64,
}

/// A change set whose messages stopped without an `end` at the end of the log: never acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Its id: the undo names it.
    pub change_set: u64,
    /// The ops that landed.
    pub ops: Vec<Op>,
    /// Offset of the last of them.
    pub offset: i64,
    /// Every op its undo must put back: its own, and — when it is itself an undo cut off — those of the
    /// change sets it was undoing (an undo cut off covered only part of them).
    pub covers: Vec<Op>,
}

/// The change set being read.
#[derive(Debug)]
struct Pending {
    change_set: u64,
    ops: Vec<Op>,
    offset: i64,
    /// Ops of the unfinished change sets it undoes (see [`Unfinished::covers`]).
    undone: Vec<Op>,
}

/// Replay of one partition's messages, in offset order.
#[derive(Debug, Default)]
pub struct Replay {
    pending: Option<Pending>,
}

impl Replay {
    /// Takes the message at `offset`; returns the change sets it completes (at most two: a buffered one
    /// whose end was compacted away, and this one).
    pub fn feed(
        &mut self,
        offset: i64,
        message: &JournalMessage,
    ) -> Result<Vec<Complete>, RecordError> {
        if message.is_control() {
            // a claim or a barrier: it neither belongs to nor closes a change set
            return Ok(Vec::new());
        }
        let op = decode(offset, message)?;
        let mut done = Vec::new();
        match &mut self.pending {
            Some(p) if p.change_set == message.change_set => {
                p.ops.push(op);
                p.offset = offset;
            }
            _ => {
                let mut undone = Vec::new();
                match self.pending.take() {
                    // an undo cancels the unfinished change set it names: dropped, never applied; what
                    // it covered passes on, in case this undo is cut off too
                    Some(p) if message.undoes == Some(p.change_set) => {
                        undone = p.undone;
                        undone.extend(p.ops);
                    }
                    Some(p) => done.push(Complete {
                        ops: p.ops,
                        offset: p.offset,
                    }),
                    None => {}
                }
                self.pending = Some(Pending {
                    change_set: message.change_set,
                    ops: vec![op],
                    offset,
                    undone,
                });
            }
        }
        if message.end
            && let Some(p) = self.pending.take()
        {
            done.push(Complete {
                ops: p.ops,
                offset: p.offset,
            });
        }
        Ok(done)
    }

    /// The end of the log was reached: the change set left buffered, if any, never finished.
    pub fn finish(self) -> Option<Unfinished> {
        self.pending.map(|p| {
            let mut covers = p.undone;
            covers.extend(p.ops.iter().cloned());
            Unfinished {
                change_set: p.change_set,
                ops: p.ops,
                offset: p.offset,
                covers,
            }
        })
    }
}

impl Store {
    /// The offset of the last journal message applied for `partition`, if any (journaled stores).
    pub fn applied_offset(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        self.durable.applied_offset(partition)
    }

    /// Applies a change set read from `partition`'s journal, recording `offset` with it atomically
    /// (journaled stores).
    pub fn apply_journaled(&self, partition: u16, change: &Complete) -> Result<(), StoreError> {
        self.durable.apply_journaled(partition, change)
    }

    /// The ops that put back what `ops` overwrote: each key's value here now (or its removal).
    pub fn pre_images(&self, ops: &[Op]) -> Result<Vec<Op>, StoreError> {
        pre_images(&self.writes, ops)
    }
}

/// The ops that put back what `ops` overwrote in `writes`' trees: each key's value now (or its removal).
pub(super) fn pre_images(writes: &Writes, ops: &[Op]) -> Result<Vec<Op>, StoreError> {
    let mut undo: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if undo.iter().any(|u| u.tree == op.tree && u.key == op.key) {
            continue;
        }
        undo.push(Op {
            tree: op.tree,
            key: op.key.clone(),
            value: writes.tree(op.tree).get(&op.key)?.map(|v| v.to_vec()),
        });
    }
    Ok(undo)
}

#[cfg(test)]
mod tests;
