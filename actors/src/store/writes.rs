//! The one way state is written: every change to a state tree goes through [`Writes`], as one sled
//! transaction whose writes are recorded as [`Op`]s — the unit a backup holds and the journal will carry.
//!
//! A writer's closure reads and writes through [`TxTree`]s, as it would through sled's own transactional
//! trees; sled may run it more than once (on a conflict), so the record starts over with each run and only
//! the run that commits counts. Commits and the hand-over of their ops to the [`Tap`]s happen under one
//! lock, so a tap sees change sets in the order sled applied them. The lock is held for the in-memory
//! transaction only (microseconds), never while waiting for the disk.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sled::Transactional;
/// sled's transaction results, as writers through the funnel use them.
pub use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

/// The trees that hold the service's state. `meta` (schema, key fingerprints) and `cluster` (id floor) describe one data dir and are not state: they are neither journaled nor backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum TreeId {
    /// `users`: id → sealed user record.
    Users = 1,
    /// `user_index`: uniqueness and blind-index entries.
    UserIndex = 2,
    /// `user_audit`: previous versions, sealed (user id ‖ when ‖ sequence), and the audit trail's events
    /// (`0xFF` ‖ user uuid ‖ when ‖ sequence).
    UserAudit = 3,
    /// `otp_sessions`: blind(state tenant, mobile) → sealed session state.
    OtpSessions = 4,
    /// `otp_tokens`: token id → sealed token entry.
    OtpTokens = 5,
    /// `outbox`: sequence → sealed notification record.
    Outbox = 6,
    /// `lockouts`: user uuid → lockout state.
    Lockouts = 7,
    /// `token_families`: family id → refresh family.
    Families = 8,
    /// `refresh_tokens`: hash → refresh entry.
    Refresh = 9,
    /// `user_families`: user uuid ‖ family id → expiry.
    UserFamilies = 10,
    /// `revoked`: revoked family or access token → until when.
    Revoked = 11,
}

impl TreeId {
    /// Every state tree, in tag order.
    pub const ALL: [TreeId; 11] = [
        TreeId::Users,
        TreeId::UserIndex,
        TreeId::UserAudit,
        TreeId::OtpSessions,
        TreeId::OtpTokens,
        TreeId::Outbox,
        TreeId::Lockouts,
        TreeId::Families,
        TreeId::Refresh,
        TreeId::UserFamilies,
        TreeId::Revoked,
    ];

    /// The sled tree's name.
    pub const fn name(self) -> &'static str {
        match self {
            TreeId::Users => "users",
            TreeId::UserIndex => "user_index",
            TreeId::UserAudit => "user_audit",
            TreeId::OtpSessions => "otp_sessions",
            TreeId::OtpTokens => "otp_tokens",
            TreeId::Outbox => "outbox",
            TreeId::Lockouts => "lockouts",
            TreeId::Families => "token_families",
            TreeId::Refresh => "refresh_tokens",
            TreeId::UserFamilies => "user_families",
            TreeId::Revoked => "revoked",
        }
    }

    /// The tree with tag `tag`.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| *t as u8 == tag)
    }
}

/// One write to one key: `value` `None` removes it. Values are as stored (sealed where the tree seals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The tree.
    pub tree: TreeId,
    /// The key.
    pub key: Vec<u8>,
    /// The new value; `None` = removed.
    pub value: Option<Vec<u8>>,
}

/// Receives the ops of every change set committed while it lives, in commit order, up to a bound: a tap
/// that would hold more is cut off (and says so) rather than grow without end.
pub struct Tap {
    changes: Receiver<Vec<Op>>,
    overflowed: Arc<AtomicBool>,
}

impl Tap {
    /// Whether change sets were committed that the tap could not hold (it receives none after that).
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    fn take(&self) -> Vec<Vec<Op>> {
        self.changes.try_iter().collect()
    }
}

/// A tap's sending end.
struct TapSender {
    changes: SyncSender<Vec<Op>>,
    overflowed: Arc<AtomicBool>,
}

/// The write funnel of one store.
#[derive(Clone)]
pub struct Writes {
    trees: Arc<Vec<sled::Tree>>,
    /// Held across a commit and the hand-over of its ops; the taps live under it.
    order: Arc<Mutex<Vec<TapSender>>>,
}

/// One run of a writer's transaction: the views of its trees, what it wrote and what each write replaced.
pub struct Tx<'a> {
    ids: &'a [TreeId],
    views: &'a [TransactionalTree],
    ops: RefCell<Vec<Op>>,
    /// Per op, in order: the key's value before it (`None`: absent).
    before: RefCell<Vec<Op>>,
}

/// A tree inside a [`Tx`]: reads see the transaction's own writes; writes are recorded.
pub struct TxTree<'t, 'a> {
    tx: &'t Tx<'a>,
    id: TreeId,
    view: &'a TransactionalTree,
}

type TxResult<T> = Result<T, UnabortableTransactionError>;

impl Writes {
    pub(super) fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let trees = TreeId::ALL
            .iter()
            .map(|id| db.open_tree(id.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trees: Arc::new(trees),
            order: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The sled tree of `id`, for reads.
    pub fn tree(&self, id: TreeId) -> &sled::Tree {
        &self.trees[id as usize - 1]
    }

    /// Runs `f` as one atomic transaction over `trees` and hands what it wrote to the taps. `f` may run
    /// more than once; it must have no effects besides its writes through the [`Tx`].
    pub fn transact<R, A>(
        &self,
        trees: &[TreeId],
        f: impl Fn(&Tx<'_>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, TransactionError<A>> {
        self.run(trees, None, |tx, _| f(tx))
    }

    /// [`transact`](Self::transact) with a tree of the data dir's own bookkeeping (not state: neither
    /// recorded nor tapped) written in the same transaction, e.g. the journal offset a change set brings
    /// the store to.
    pub fn transact_with<R, A>(
        &self,
        trees: &[TreeId],
        local: &sled::Tree,
        f: impl Fn(&Tx<'_>, &TransactionalTree) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, TransactionError<A>> {
        self.run(trees, Some(local), |tx, view| {
            f(tx, view.expect("the local tree is part of the transaction"))
        })
    }

    fn run<R, A>(
        &self,
        trees: &[TreeId],
        local: Option<&sled::Tree>,
        f: impl Fn(&Tx<'_>, Option<&TransactionalTree>) -> Result<R, ConflictableTransactionError<A>>,
    ) -> Result<R, TransactionError<A>> {
        let mut handles: Vec<&sled::Tree> = trees.iter().map(|id| self.tree(*id)).collect();
        handles.extend(local);
        let mut taps = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let committed = handles.as_slice().transaction(|views| {
            let tx = Tx {
                ids: trees,
                views: &views[..trees.len()],
                ops: RefCell::default(),
                before: RefCell::default(),
            };
            let result = f(&tx, views.get(trees.len()))?;
            Ok((result, tx.ops.into_inner()))
        });
        let (result, ops) = committed?;
        if !ops.is_empty() {
            taps.retain(|tap| match tap.changes.try_send(ops.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    tap.overflowed.store(true, Ordering::SeqCst);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
        }
        Ok(result)
    }

    /// Writes `ops` as one atomic change set (removals and puts that need no read first).
    pub fn apply(&self, ops: Vec<Op>) -> Result<(), sled::Error> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<TreeId> = ops.iter().map(|op| op.tree).collect();
        ids.sort();
        ids.dedup();
        self.transact(&ids, |tx| {
            for op in &ops {
                let tree = tx.tree(op.tree);
                match &op.value {
                    Some(value) => tree.insert(&op.key, value.as_slice())?,
                    None => tree.remove(&op.key)?,
                };
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .map_err(|e| match e {
            TransactionError::Storage(e) => e,
            TransactionError::Abort(()) => unreachable!("the closure never aborts"),
        })
    }

    /// The change sets `tap` received and nobody took yet: every change set committed so far since the tap
    /// began (taken under the commit lock, so a commit whose writes are already visible is never missing).
    pub fn drain(&self, tap: &Tap) -> Vec<Vec<Op>> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        tap.take()
    }

    /// Writes `ops` in atomic pieces of at most 1,024 (bulk maintenance: prunes, moves).
    pub fn apply_chunked(&self, ops: Vec<Op>) -> Result<(), sled::Error> {
        for chunk in ops.chunks(1024) {
            self.apply(chunk.to_vec())?;
        }
        Ok(())
    }

    /// A tap that receives every change set committed from now on (at most `bound` of them before they are
    /// taken), and the state trees' content at that moment is what a scan started after this call sees or
    /// something newer.
    pub fn tap(&self, bound: usize) -> Tap {
        let (tx, rx) = sync_channel(bound);
        let overflowed = Arc::new(AtomicBool::new(false));
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(TapSender {
                changes: tx,
                overflowed: overflowed.clone(),
            });
        Tap {
            changes: rx,
            overflowed,
        }
    }
}

impl<'a> Tx<'a> {
    /// The tree `id`, which must be one of the trees the transaction was opened over.
    pub fn tree<'t>(&'t self, id: TreeId) -> TxTree<'t, 'a> {
        let i = self
            .ids
            .iter()
            .position(|t| *t == id)
            .unwrap_or_else(|| panic!("tree {} is not part of this transaction", id.name()));
        TxTree {
            tx: self,
            id,
            view: &self.views[i],
        }
    }

    /// What this run wrote so far, and the ops that undo it (each key put back as it was, in reverse
    /// order): a writer that commits before its change is confirmed elsewhere keeps the undo beside it.
    pub fn recorded(&self) -> (Vec<Op>, Vec<Op>) {
        let undo = self.before.borrow().iter().rev().cloned().collect();
        (self.ops.borrow().clone(), undo)
    }
}

impl TxTree<'_, '_> {
    /// The value of `key`, this transaction's writes included.
    pub fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<sled::IVec>> {
        self.view.get(key)
    }

    /// Sets `key` to `value`.
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl Into<sled::IVec>) -> TxResult<()> {
        let value = value.into();
        let before = self.view.insert(key.as_ref(), value.clone())?;
        self.record(key.as_ref(), Some(value.to_vec()), before);
        Ok(())
    }

    /// Removes `key`.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<()> {
        let before = self.view.remove(key.as_ref())?;
        self.record(key.as_ref(), None, before);
        Ok(())
    }

    fn record(&self, key: &[u8], value: Option<Vec<u8>>, before: Option<sled::IVec>) {
        self.tx.ops.borrow_mut().push(Op {
            tree: self.id,
            key: key.to_vec(),
            value,
        });
        self.tx.before.borrow_mut().push(Op {
            tree: self.id,
            key: key.to_vec(),
            value: before.map(|v| v.to_vec()),
        });
    }

    /// A fresh id from the database's generator.
    pub fn generate_id(&self) -> Result<u64, sled::Error> {
        self.view.generate_id()
    }
}

#[cfg(test)]
mod tests;
