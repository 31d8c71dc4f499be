//! The one door every state change goes through on its way to lasting: [`Durable`].
//!
//! Embedded (no journal): a change is one sled transaction, then group commit waits until it is on disk
//! (`fdatasync`, shared by concurrent writers). Journaled: per home partition one write at a time — the
//! change is validated against the store (a dry run), appended to the partition's journal, and only then
//! applied, together with the journal offset it brings the partition to. Nothing is acknowledged that the
//! journal does not hold, and the journal's order is the store's.
//!
//! A journaled partition is *settled* once the store is known to hold all of its journal. It is not at
//! start (the store may be behind, or wiped) nor after an append whose outcome is unknown (a timeout, a
//! broker gone: the append may still land). Before its next write an unsettled partition is settled: a
//! barrier is appended, the partition read to its end — applying whatever landed — and a change set cut
//! off midway cancelled by its undo ([`super::journal`]). Until that succeeds the partition's writes fail
//! with [`StoreError::Journal`]; they resume by themselves once the broker answers.
//!
//! Housekeeping (prunes, the outbox's acknowledgements) rewrites or removes keys it read, not knowing
//! their partition. In journal mode the store keeps, beside the offsets, the home partition of every key of
//! the trees housekeeping touches ([`HOMED`]), and housekeeping writes each key into its home's journal; a
//! key no journal holds (a copy of another pod's revocation, [`Durable::apply_local`]) changes here only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::commit::GroupCommit;
use super::ids::Ids;
use super::journal::{Complete, JournalMessage, Replay, Unfinished};
use super::writes::{Op, TreeId, Tx, Writes};
use super::{StoreError, storage_error};

/// The local tree of journal bookkeeping: per partition the offset applied (key: partition, 2 bytes), per
/// homed key its partition (key: `h` ‖ tree tag ‖ key).
pub(super) const JOURNAL_LOCAL: &str = "journal_offsets";

/// The trees whose keys housekeeping rewrites or removes: their keys' homes are kept.
pub const HOMED: [TreeId; 8] = [
    TreeId::OtpSessions,
    TreeId::OtpTokens,
    TreeId::Outbox,
    TreeId::Lockouts,
    TreeId::Families,
    TreeId::Refresh,
    TreeId::UserFamilies,
    TreeId::Revoked,
];

/// A key as housekeeping read it: its tree, the key, the value it held.
pub type KeyRead = (TreeId, Vec<u8>, Vec<u8>);

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

/// Why a write was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<A> {
    /// The change refused itself (e.g. a duplicate): nothing was written.
    #[error("refused")]
    Refused(A),
    /// The store or the journal failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How writes are made durable; cheap to clone, shared by every part of one store.
#[derive(Clone)]
pub struct Durable {
    writes: Writes,
    group: GroupCommit,
    journal: Option<Arc<Journaled>>,
}

struct Journaled {
    port: Arc<dyn JournalPort>,
    writes: Writes,
    local: sled::Tree,
    ids: Arc<Ids>,
    /// Per partition: held across validate → append → apply; `true` once settled.
    partitions: Mutex<HashMap<u16, Arc<tokio::sync::Mutex<bool>>>>,
}

impl Durable {
    pub(super) fn open(
        db: &sled::Db,
        writes: Writes,
        group: GroupCommit,
        ids: Arc<Ids>,
        journal: Option<Arc<dyn JournalPort>>,
    ) -> Result<Self, StoreError> {
        let journal = match journal {
            Some(port) => Some(Arc::new(Journaled {
                port,
                writes: writes.clone(),
                local: db.open_tree(JOURNAL_LOCAL)?,
                ids,
                partitions: Mutex::default(),
            })),
            None => None,
        };
        Ok(Self {
            writes,
            group,
            journal,
        })
    }

    /// Whether writes go through a journal.
    pub fn journaled(&self) -> bool {
        self.journal.is_some()
    }

    /// Runs `f` as one atomic change of `trees` whose home is `partition`, and returns its result once the
    /// change lasts: on disk (embedded) or in the journal and the store (journaled). `f` may run more than
    /// once; it must have no effects besides its writes through the [`Tx`].
    pub async fn commit<R, A>(
        &self,
        partition: u16,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, WriteError<A>> {
        let Some(journal) = &self.journal else {
            let result = self.writes.transact(trees, f).map_err(refused_or_store)?;
            self.group.commit().await.map_err(StoreError::from)?;
            return Ok(result);
        };
        let slot = journal.slot(partition);
        let mut settled = slot.lock().await;
        if !*settled {
            journal.settle(partition).await?;
            *settled = true;
        }
        let (result, ops) = self.writes.dry_run(trees, f).map_err(refused_or_store)?;
        if ops.is_empty() {
            return Ok(result);
        }
        match journal
            .port
            .append(partition, rand::random(), None, &ops)
            .await
        {
            Ok(offset) => {
                journal.apply(partition, &Complete { ops, offset })?;
                Ok(result)
            }
            Err(e) => {
                *settled = false;
                Err(StoreError::Journal(e).into())
            }
        }
    }

    /// Writes `ops` (puts and removals needing no read) as one change whose home is `partition`.
    pub async fn apply(&self, partition: u16, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.commit(partition, &trees_of(&ops), |tx| write_all(tx, &ops))
            .await
            .map_err(never_refused)
    }

    /// Waits until every change visible in the store lasts (a reader answering from a change another
    /// writer made: embedded, that writer may still wait for its flush; journaled, what is visible is in
    /// the journal already).
    pub async fn settled(&self) -> Result<(), StoreError> {
        if self.journal.is_none() {
            self.group.commit().await?;
        }
        Ok(())
    }

    /// Writes `ops` into this data dir only, never into a journal: state another pod journaled that this
    /// one keeps a copy of (revocations it was told of). Housekeeping later removes such keys here only.
    pub async fn apply_local(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.commit_at(None, &trees_of(&ops), |tx| write_all(tx, &ops))
            .await
            .map_err(never_refused)
    }

    /// Housekeeping: removes each `(tree, key)` of [`HOMED`] trees that still holds the value it was read
    /// with — journaled, in its home's journal; how many went. A key written since it was read stays.
    pub async fn remove_unchanged(&self, reads: Vec<KeyRead>) -> Result<usize, StoreError> {
        let mut removed = 0;
        for (home, reads) in self.by_home(reads, |(tree, key, _)| (*tree, key))? {
            for chunk in reads.chunks(1024) {
                let trees = trees_of_reads(chunk);
                removed += self
                    .commit_at(home, &trees, |tx| {
                        let mut n = 0;
                        for (tree, key, expected) in chunk {
                            let t = tx.tree(*tree);
                            if t.get(key)?.as_deref() == Some(expected.as_slice()) {
                                t.remove(key)?;
                                n += 1;
                            }
                        }
                        Ok::<_, ConflictableTransactionError<()>>(n)
                    })
                    .await
                    .map_err(never_refused)?;
            }
        }
        Ok(removed)
    }

    /// Housekeeping: writes `ops` on keys of [`HOMED`] trees the store holds, each into its home's
    /// journal when journaled, one change per home.
    pub async fn rewrite(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        for (home, ops) in self.by_home(ops, |op| (op.tree, &op.key))? {
            self.commit_at(home, &trees_of(&ops), |tx| write_all(tx, &ops))
                .await
                .map_err(never_refused)?;
        }
        Ok(())
    }

    /// [`commit`](Self::commit) into `home`'s journal, or — `None`: embedded, or a key of this data dir
    /// alone — one transaction here, on disk before it returns.
    async fn commit_at<R, A>(
        &self,
        home: Option<u16>,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, WriteError<A>> {
        match home {
            Some(partition) => self.commit(partition, trees, f).await,
            None => {
                let result = self.writes.transact(trees, f).map_err(refused_or_store)?;
                self.group.commit().await.map_err(StoreError::from)?;
                Ok(result)
            }
        }
    }

    /// `items` grouped by the home of the key `key_of` names: `None` when embedded (a home then means
    /// nothing) and for keys no journal holds.
    fn by_home<T>(
        &self,
        items: Vec<T>,
        key_of: impl Fn(&T) -> (TreeId, &Vec<u8>),
    ) -> Result<BTreeMap<Option<u16>, Vec<T>>, StoreError> {
        let mut groups: BTreeMap<Option<u16>, Vec<T>> = BTreeMap::new();
        for item in items {
            let home = match &self.journal {
                None => None,
                Some(journal) => {
                    let (tree, key) = key_of(&item);
                    journal.home(tree, key)?
                }
            };
            groups.entry(home).or_default().push(item);
        }
        Ok(groups)
    }

    /// Brings every partition of `partitions` to the end of its journal, one after the other, calling
    /// `progress(done, total)` after each — what a pod does before it serves them: a wiped data dir comes
    /// back whole, an append a previous run left unknown is settled. Embedded: nothing to do.
    pub async fn restore(
        &self,
        partitions: &[u16],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        for (done, partition) in partitions.iter().enumerate() {
            let slot = journal.slot(*partition);
            let mut settled = slot.lock().await;
            journal.settle(*partition).await?;
            *settled = true;
            progress(done + 1, partitions.len());
        }
        Ok(())
    }

    /// The offset of the last journal message applied for `partition`, if any.
    pub fn applied_offset(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        match &self.journal {
            Some(journal) => journal.applied_offset(partition),
            None => Ok(None),
        }
    }

    /// Applies a change set read from `partition`'s journal (journaled stores only).
    pub fn apply_journaled(&self, partition: u16, change: &Complete) -> Result<(), StoreError> {
        match &self.journal {
            Some(journal) => journal.apply(partition, change),
            None => Err(StoreError::Corrupt(
                "a journal record applied to a store without a journal".into(),
            )),
        }
    }
}

impl Journaled {
    fn slot(&self, partition: u16) -> Arc<tokio::sync::Mutex<bool>> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition)
            .or_default()
            .clone()
    }

    fn applied_offset(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        self.local
            .get(partition.to_be_bytes())?
            .map(|raw| {
                <[u8; 8]>::try_from(raw.as_ref())
                    .map(i64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("journal offset".into()))
            })
            .transpose()
    }

    fn home(&self, tree: TreeId, key: &[u8]) -> Result<Option<u16>, StoreError> {
        self.local
            .get(home_key(tree, key))?
            .map(|raw| {
                <[u8; 2]>::try_from(raw.as_ref())
                    .map(u16::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("home partition of a key".into()))
            })
            .transpose()
    }

    /// Applies `change`, read from or appended to `partition`'s journal, with the offset it reaches and
    /// the homes of its keys, in one transaction.
    fn apply(&self, partition: u16, change: &Complete) -> Result<(), StoreError> {
        let trees = trees_of(&change.ops);
        let (key, offset) = (partition.to_be_bytes(), change.offset.to_be_bytes());
        self.writes
            .transact_with(&trees, &self.local, |tx, local| {
                for op in &change.ops {
                    let tree = tx.tree(op.tree);
                    let homed = HOMED.contains(&op.tree);
                    match &op.value {
                        Some(v) => {
                            tree.insert(&op.key, v.as_slice())?;
                            if homed {
                                local.insert(home_key(op.tree, &op.key), &key)?;
                            }
                        }
                        None => {
                            tree.remove(&op.key)?;
                            if homed {
                                local.remove(home_key(op.tree, &op.key))?;
                            }
                        }
                    }
                }
                local.insert(&key, &offset)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)
    }

    /// Brings the store to the end of `partition`'s journal: a barrier, a read to the end, and the undo
    /// of a change set cut off midway. Raises the id floor above every id the partition holds.
    async fn settle(self: &Arc<Self>, partition: u16) -> Result<(), StoreError> {
        self.port.barrier(partition).await?;
        let me = self.clone();
        let unfinished = tokio::task::spawn_blocking(move || me.replay(partition))
            .await
            .map_err(|_| StoreError::Corrupt("the journal's reading thread stopped".into()))??;
        if let Some(unfinished) = unfinished {
            let undo = self.pre_images(&unfinished.covers)?;
            let offset = self
                .port
                .append(
                    partition,
                    rand::random(),
                    Some(unfinished.change_set),
                    &undo,
                )
                .await?;
            self.apply(partition, &Complete { ops: undo, offset })?;
        }
        Ok(())
    }

    /// Reads `partition` from what the store applied to its end, applying each change set; the change
    /// set left cut off at the end, if any.
    fn replay(&self, partition: u16) -> Result<Option<Unfinished>, StoreError> {
        let applied = self.applied_offset(partition)?;
        let mut replay = Replay::default();
        let mut highest = 0u64;
        let mut last_read = applied;
        self.port.read(partition, applied, &mut |offset, message| {
            last_read = Some(offset);
            let done = replay.feed(offset, message).map_err(|e| {
                StoreError::Journal(JournalError::Unservable(format!(
                    "journal partition {partition}: {e}"
                )))
            })?;
            for change in done {
                highest = highest.max(highest_sequence(&change.ops));
                self.apply(partition, &change)?;
            }
            Ok(())
        })?;
        self.ids.raise_above(highest)?;
        let unfinished = replay.finish();
        // read through (barriers included) with nothing left open: the next read starts after all of it
        if unfinished.is_none()
            && let Some(offset) = last_read
            && last_read > applied
        {
            self.local
                .insert(partition.to_be_bytes(), &offset.to_be_bytes())?;
        }
        Ok(unfinished)
    }

    /// The ops that put back what `ops` overwrote: each key's value here now (or its removal).
    fn pre_images(&self, ops: &[Op]) -> Result<Vec<Op>, StoreError> {
        super::journal::pre_images(&self.writes, ops)
    }
}

/// The highest sequence number among the ids and outbox keys `ops` write (0 when none).
fn highest_sequence(ops: &[Op]) -> u64 {
    ops.iter()
        .filter_map(|op| {
            let raw = <[u8; 8]>::try_from(op.key.as_slice()).ok()?;
            match op.tree {
                // an id is sequence << 16 | partition
                TreeId::Users => Some(u64::from_be_bytes(raw) >> 16),
                TreeId::Outbox => Some(u64::from_be_bytes(raw)),
                _ => None,
            }
        })
        .max()
        .unwrap_or(0)
}

/// Writes every op of `ops` in `tx`.
fn write_all(tx: &Tx<'_>, ops: &[Op]) -> Result<(), ConflictableTransactionError<()>> {
    for op in ops {
        let tree = tx.tree(op.tree);
        match &op.value {
            Some(value) => tree.insert(&op.key, value.as_slice())?,
            None => tree.remove(&op.key)?,
        }
    }
    Ok(())
}

fn home_key(tree: TreeId, key: &[u8]) -> Vec<u8> {
    [&[b'h', tree as u8][..], key].concat()
}

fn trees_of(ops: &[Op]) -> Vec<TreeId> {
    let mut trees: Vec<TreeId> = ops.iter().map(|op| op.tree).collect();
    trees.sort();
    trees.dedup();
    trees
}

fn trees_of_reads(reads: &[KeyRead]) -> Vec<TreeId> {
    let mut trees: Vec<TreeId> = reads.iter().map(|(t, _, _)| *t).collect();
    trees.sort();
    trees.dedup();
    trees
}

fn refused_or_store<A>(e: TransactionError<A>) -> WriteError<A> {
    match e {
        TransactionError::Abort(a) => WriteError::Refused(a),
        TransactionError::Storage(e) => WriteError::Store(e.into()),
    }
}

fn never_refused(e: WriteError<()>) -> StoreError {
    match e {
        WriteError::Store(e) => e,
        WriteError::Refused(()) => storage_error(TransactionError::Abort(())),
    }
}

#[cfg(test)]
mod tests;
