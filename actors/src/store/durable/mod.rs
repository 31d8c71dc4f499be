//! The one door every state change goes through on its way to lasting: [`Durable`].
//!
//! Embedded (no journal): a change is one sled transaction, then group commit waits until it is on disk
//! (`fdatasync`, shared by concurrent writers). Journaled: the change is applied here with its undo beside
//! it, and answered once it is in its home partition's journal; the changes that wait while one append is
//! under way go together into the next (group commit, one produce round-trip for many writers). Nothing is
//! acknowledged that the journal does not hold, and the journal's order is the store's; a change whose
//! append fails is undone ([`journaled`]).
//!
//! A journaled partition is *settled* once the store is known to hold all of its journal. It is not at
//! start (the store may be behind, or wiped) nor after an append whose outcome is unknown (a timeout, a
//! broker gone: the append may still land). Before its next write an unsettled partition is settled: a
//! claim is appended ([`super::fencing`]: what this pod sent before it counts, what lands after it does
//! not), the partition read to its end — applying whatever landed and counts — and a change set cut off
//! midway cancelled by its undo ([`super::journal`]). Until that succeeds the partition's writes fail
//! with [`StoreError::Journal`]; they resume by themselves once the broker answers. A partition another
//! pod claimed is *fenced* here: its writes fail until it is given to this pod again.
//!
//! Housekeeping (prunes, the outbox's acknowledgements) rewrites or removes keys it read, not knowing
//! their partition. In journal mode the store keeps, beside the offsets, the home partition of every key of
//! the trees housekeeping touches ([`HOMED`]), and housekeeping writes each key into its home's journal; a
//! key no journal holds (a copy of another pod's revocation an earlier build kept) changes here only.

use std::collections::BTreeMap;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::commit::GroupCommit;
use super::ids::Ids;
use super::journal::Complete;
use super::writes::{Op, TreeId, Tx, Writes};
use super::{StoreError, storage_error};

mod housekeeping;
mod journaled;
mod port;

use journaled::{JOURNAL_LOCAL, Journaled};
pub use port::{JournalError, JournalFuture, JournalPort, Landed};

/// The trees whose keys' homes are kept: those housekeeping rewrites or removes, and the users (an
/// imported user's id carries no partition: the journal it came from says its home).
pub const HOMED: [TreeId; 10] = [
    TreeId::Users,
    TreeId::OtpSessions,
    TreeId::OtpTokens,
    TreeId::Outbox,
    TreeId::Lockouts,
    TreeId::Families,
    TreeId::Refresh,
    TreeId::UserFamilies,
    TreeId::Revoked,
    TreeId::UserAudit,
];

/// A key as housekeeping read it: its tree, the key, the value it held.
pub type KeyRead = (TreeId, Vec<u8>, Vec<u8>);

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

impl Durable {
    pub(super) fn open(
        db: &sled::Db,
        writes: Writes,
        group: GroupCommit,
        ids: Arc<Ids>,
        journal: Option<Arc<dyn JournalPort>>,
    ) -> Result<Self, StoreError> {
        let journal = match journal {
            Some(port) => Some(Arc::new(Journaled::new(
                port,
                writes.clone(),
                db.open_tree(JOURNAL_LOCAL)?,
                ids,
            ))),
            None => None,
        };
        Ok(Self {
            writes,
            group,
            journal,
        })
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
        match &self.journal {
            None => self.on_disk(trees, f).await,
            Some(journal) => journal.write(partition, trees, f, None).await,
        }
    }

    /// [`commit`](Self::commit) for what may be journaled *behind*: while the journal does not answer, the
    /// change is made to last on this disk (`fdatasync`) and appended once it answers again, before the
    /// partition's next write. A login's session (its refresh family and tokens) is such a change: logins
    /// keep working through a broker outage, and a volume lost before the broker answered loses those
    /// sessions — their holders log in again.
    pub async fn commit_behind<R, A>(
        &self,
        partition: u16,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, WriteError<A>> {
        match &self.journal {
            None => self.on_disk(trees, f).await,
            Some(journal) => journal.write(partition, trees, f, Some(&self.group)).await,
        }
    }

    /// `f` as one transaction here, returned once on disk.
    async fn on_disk<R, A>(
        &self,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, WriteError<A>> {
        let result = self.writes.transact(trees, f).map_err(refused_or_store)?;
        self.group.commit().await.map_err(StoreError::from)?;
        Ok(result)
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

    /// Waits until every change visible in the store lasts — a reader answering from a change another
    /// writer made, whose home is `partition`: embedded, that writer may still wait for its flush;
    /// journaled, for its append (an error if that failed: the change is undone).
    pub async fn settled(&self, partition: u16) -> Result<(), StoreError> {
        match &self.journal {
            None => self.group.commit().await.map_err(StoreError::from),
            Some(journal) => journal.acknowledged(partition).await,
        }
    }

    /// Of keys read from [`HOMED`] trees, those whose change lasts — what may leave this pod (an SMS): each
    /// home's changes applied so far are in its journal (embedded: on disk) and the key still holds the
    /// value read. A change is applied here before its append; one whose append failed (another pod's
    /// claim fenced it) is undone, and must never have gone out. Keys of a home whose append failed, or held
    /// for another pod, are left out.
    pub async fn lasting(&self, reads: Vec<KeyRead>) -> Result<Vec<KeyRead>, StoreError> {
        let homes = self.by_home(reads, |(tree, key, _)| (*tree, key))?;
        // every home at once: one whose append hangs (a broker going away) holds up no other
        let lasts = futures_util::future::join_all(homes.keys().map(|home| async move {
            match (&self.journal, home) {
                (Some(journal), Some(home)) => journal.acknowledged(*home).await,
                // a key no journaled change homed: nothing of it waits for an append
                (Some(_), None) => Ok(()),
                (None, _) => self.group.commit().await.map_err(StoreError::from),
            }
        }))
        .await;
        let mut lasting = Vec::new();
        for (reads, lasts) in homes.into_values().zip(lasts) {
            match lasts {
                Ok(()) => {}
                Err(StoreError::Journal(_)) => continue,
                Err(e) => return Err(e),
            }
            for (tree, key, value) in reads {
                if self.writes.tree(tree).get(&key)?.as_deref() == Some(value.as_slice()) {
                    lasting.push((tree, key, value));
                }
            }
        }
        Ok(lasting)
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
            None => self.on_disk(trees, f).await,
        }
    }

    /// `items` grouped by the home of the key `key_of` names: `None` when embedded (a home then means
    /// nothing) and for keys no journal holds. Keys held for another pod ([`held_for_another`]) are left
    /// out: their owner's housekeeping writes them.
    ///
    /// [`held_for_another`]: Self::held_for_another
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
                    match journal.home(tree, key)? {
                        Some(p) if journal.anothers(p) => continue,
                        home => home,
                    }
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
            journal.settle_now(*partition, true).await?;
            progress(done + 1, partitions.len());
        }
        Ok(())
    }

    /// Appends what was kept behind the journal ([`commit_behind`](Self::commit_behind)) and repairs the
    /// keys a fenced writer hid ([`crate::store::fencing`]) in every partition holding some — for a
    /// partition no write reaches, the next write would not come. A periodic task calls this; cheap when
    /// nothing waits. How many partitions it brought up to date.
    pub async fn append_behind(&self) -> Result<usize, StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let mut partitions = journal.partitions_behind()?;
        partitions.extend(journal.partitions_hiding()?);
        partitions.sort_unstable();
        partitions.dedup();
        let mut settled = 0;
        for partition in &partitions {
            match journal.settle_now(*partition, false).await {
                Ok(()) => settled += 1,
                // another pod's now: what is left here is its to write
                Err(StoreError::Journal(JournalError::Fenced(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(settled)
    }

    /// Compares the end of every partition this store writes to with the offset it expects there, and
    /// settles each that something else was written into (a fenced writer's records, whose keys must be
    /// repaired before compaction; another pod's claim, which fences it here). A periodic task calls
    /// this (`journal.fence_check_ms`). How many partitions it found written into.
    pub async fn check_ends(&self) -> Result<usize, StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let moved = journal.clone().moved_ends().await?;
        for partition in &moved {
            match journal.settle_now(*partition, false).await {
                Ok(()) | Err(StoreError::Journal(JournalError::Fenced(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved.len())
    }

    /// Stops writing to `partitions`' journal from this store (given to another pod): a partition
    /// released is written again only after a restore (a takeover). Embedded: nothing to release.
    pub fn release(&self, partitions: &[u16]) -> Result<(), StoreError> {
        if let Some(journal) = &self.journal {
            journal.release(partitions, false);
        }
        Ok(())
    }

    /// [`release`](Self::release) for a handover: no claim of this store reaches `partitions`' journal
    /// again, but writes go on until the next owner's claim fences them (the next owner replays what lands
    /// before its claim). Embedded: nothing to release.
    pub fn stop_claiming(&self, partitions: &[u16]) {
        if let Some(journal) = &self.journal {
            journal.release(partitions, true);
        }
    }

    /// Marks `partitions` as assigned to this store again (a group's assignment): a restore may claim them.
    pub fn assign(&self, partitions: &[u16]) {
        if let Some(journal) = &self.journal {
            journal.assign(partitions);
        }
    }

    /// Whether another pod's claim fenced `partition` here though it was not released: a claim
    /// that outran this pod's takeover; the partition must be taken over again.
    pub fn fenced(&self, partition: u16) -> bool {
        self.journal.as_ref().is_some_and(|j| j.fenced(partition))
    }

    /// Whether `partition` is going or gone to another pod: given away by the group (a handover under way
    /// or ended) or claimed by another pod — a write to it here that failed belongs to the next owner.
    pub fn given_away(&self, partition: u16) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|j| j.given_away(partition))
    }

    /// The generation of this store's claim on `partition` ([`crate::store::fencing`]), while it may
    /// write there.
    pub fn generation(&self, partition: u16) -> Option<u64> {
        self.journal.as_ref()?.generation(partition)
    }

    /// Follows `partition`, another pod's, as a warm standby: this store's copy brought to the end of its
    /// journal, nothing written there. `None` when there is nothing to follow (embedded, or the partition
    /// is this store's to write); else how many records the copy is behind the end it read to.
    pub async fn follow(&self, partition: u16) -> Result<Option<i64>, StoreError> {
        match &self.journal {
            Some(journal) => journal.follow(partition).await,
            None => Ok(None),
        }
    }

    /// The partition whose journal last wrote the key `key` of a [`HOMED`] tree here; `None` embedded or
    /// when no journal did.
    pub fn recorded_home(&self, tree: TreeId, key: &[u8]) -> Result<Option<u16>, StoreError> {
        match &self.journal {
            Some(journal) => journal.home(tree, key),
            None => Ok(None),
        }
    }

    /// Whether the key `key` of a [`HOMED`] tree is held here for another pod: its home partition is
    /// released here (followed as a standby, served before; not while it is being handed over: its writes
    /// go on until the next owner claims it) or claimed by another pod. Housekeeping and the notifier leave
    /// such keys to their owner.
    pub fn held_for_another(&self, tree: TreeId, key: &[u8]) -> Result<bool, StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(false);
        };
        Ok(journal
            .home(tree, key)?
            .is_some_and(|p| journal.anothers(p)))
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
            Some(journal) => journal.apply_read(partition, change),
            None => Err(StoreError::Corrupt(
                "a journal record applied to a store without a journal".into(),
            )),
        }
    }
}

/// Writes every op of `ops` in `tx`.
pub(super) fn write_all(tx: &Tx<'_>, ops: &[Op]) -> Result<(), ConflictableTransactionError<()>> {
    for op in ops {
        let tree = tx.tree(op.tree);
        match &op.value {
            Some(value) => tree.insert(&op.key, value.as_slice())?,
            None => tree.remove(&op.key)?,
        }
    }
    Ok(())
}

pub(super) fn trees_of(ops: &[Op]) -> Vec<TreeId> {
    distinct(ops.iter().map(|op| op.tree))
}

/// The trees named, each once, in tag order (the order a transaction opens them in).
fn distinct(trees: impl Iterator<Item = TreeId>) -> Vec<TreeId> {
    let mut trees: Vec<TreeId> = trees.collect();
    trees.sort();
    trees.dedup();
    trees
}

pub(super) fn refused_or_store<A>(e: TransactionError<A>) -> WriteError<A> {
    match e {
        TransactionError::Abort(a) => WriteError::Refused(a),
        TransactionError::Storage(e) => WriteError::Store(e.into()),
    }
}

pub(super) fn never_refused(e: WriteError<()>) -> StoreError {
    match e {
        WriteError::Store(e) => e,
        WriteError::Refused(()) => storage_error(TransactionError::Abort(())),
    }
}

#[cfg(test)]
mod tests;
