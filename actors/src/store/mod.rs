//! The sled store: one database under the data dir, a tree per keyspace, a `meta` tree with the schema
//! version and fingerprints of the keys the data was written with.
//!
//! Start-up refuses, with one line saying what to do: a data dir written by a newer schema, one written
//! under other sealing or blind-index keys, and one sled cannot open (corrupt, or locked by another process).

pub mod audit;
mod backup;
mod commit;
mod disk_sync;
pub mod durable;
pub mod fencing;
mod ids;
pub mod journal;
pub mod key_pins;
mod lock;
pub mod logins;
pub mod otp;
mod otp_v1;
pub mod outbox;
pub mod reseal;
pub mod transfer;
pub mod users;
pub mod writes;

use std::path::PathBuf;

pub use audit::{AuditQuery, AuditStore};
pub use backup::{
    BackupError, BackupHeader, BackupReader, BackupSlot, BackupSummary, MacKey, backup_key,
    holds_store, verify as verify_backup,
};
pub use commit::{CommitError, Flusher, GroupCommit};
pub use disk_sync::DiskSync;
pub use durable::{Durable, JournalError, JournalFuture, JournalPort, Landed, WriteError};
pub use ids::Ids;
pub use key_pins::{KeyPin, KeyPins};
pub use lock::LockMirror;
pub use logins::{Family, LoginStore, RefreshOutcome, Revoked, Seen};
pub use otp::{OtpStore, SessionKey, TokenOwner, TokenRecord};
pub use outbox::{OutboxRecord, OutboxStore, OutboxSummary};
pub use transfer::MoveCounts;
pub use users::{AuditEntry, ImportConflict, Imported, UserStore, UserWriteError};
pub use writes::{Op, Tap, TreeId, Writes};

use crate::homes::{HomeKey, Homes};
use crate::seal::{BlindIndexer, Keyring, SealError};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const META: &str = "meta";
/// Cluster bookkeeping: the id sequence floor (and, in a data dir of an earlier version, a partition map
/// nothing reads).
const CLUSTER: &str = "cluster";
const META_SCHEMA: &[u8] = b"schema_version";
const META_BLIND: &[u8] = b"blind_index_fingerprint";
const META_SEAL_CANARY: &[u8] = b"seal_canary";
/// Set while a restore writes into the data dir; a dir that still has it refuses to open.
const META_RESTORING: &[u8] = b"restore_incomplete";
/// Set once every user record's tenants are in their normalised spelling.
const META_TENANTS_NORMALISED: &[u8] = b"tenants_normalised";
const CANARY: &[u8] = b"digit-user sealing canary";

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not open the directory.
    #[error(
        "cannot open the data dir {path}: {source}; if another digit-user uses it stop that one first, \
         if it is corrupt restore it from a backup or start with an empty --data-dir"
    )]
    Open {
        /// The data dir.
        path: PathBuf,
        /// sled's reason.
        source: sled::Error,
    },
    /// The data dir was written by a newer digit-user.
    #[error(
        "the data dir is at schema version {found}, newer than this build's {supported}: run a digit-user \
         release that supports schema {found}"
    )]
    NewerSchema {
        /// Version on disk.
        found: u32,
        /// Version of this build.
        supported: u32,
    },
    /// The data dir's metadata is not what this build writes.
    #[error(
        "the data dir is corrupt ({0}): restore it from a backup or start with an empty --data-dir"
    )]
    Corrupt(String),
    /// The keys given are not the keys the data was written with.
    #[error(
        "the data dir was written under another {0} key: start with the secrets it was created with \
         (DIGIT_USER_* env, *_FILE, or <data dir>/secrets)"
    )]
    WrongKeys(&'static str),
    /// A sled operation failed.
    #[error("store operation failed: {0}")]
    Sled(#[from] sled::Error),
    /// Sealing or opening failed.
    #[error("sealing failed: {0}")]
    Seal(#[from] SealError),
    /// A record could not be encoded or decoded.
    #[error("record codec failed: {0}")]
    Codec(#[from] serde_json::Error),
    /// A binary record could not be encoded or decoded.
    #[error("binary record codec failed: {0}")]
    Binary(#[from] postcard::Error),
    /// Flushing to disk was not confirmed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Syncing the data dir's files failed.
    #[error("syncing the data dir: {0}")]
    Io(#[from] std::io::Error),
    /// The journal took no write (see [`JournalError`]).
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl StoreError {
    /// Whether a client should retry later (a saturated store, a journal not confirming or not servable):
    /// a 503, never a 500.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Commit(CommitError::Busy) | StoreError::Journal(_)
        )
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The data dir.
    pub path: PathBuf,
    /// sled page cache, bytes.
    pub cache_capacity_bytes: u64,
    /// sled's background flush period, ms (acknowledged writes are flushed by group commit regardless).
    pub flush_every_ms: Option<u64>,
    /// Writers that may wait for a flush at once.
    pub commit_queue: usize,
    /// Partition count used when minting ids.
    pub partitions: u16,
}

/// The keys the store seals and indexes with.
pub struct StoreKeys {
    /// Sealing keys.
    pub keyring: Keyring,
    /// Blind index key.
    pub blind: BlindIndexer,
}

/// The opened store.
pub struct Store {
    db: sled::Db,
    blind_fingerprint: [u8; crate::seal::BLIND_LEN],
    /// Authenticates this store's backups.
    backup_key: backup::MacKey,
    pub(crate) writes: Writes,
    durable: Durable,
    ids: std::sync::Arc<Ids>,
    /// The homes of imported users (ids and uuids carrying no partition).
    homes: std::sync::Arc<Homes>,
    backup_running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    commit: GroupCommit,
    users: UserStore,
    otp: OtpStore,
    outbox: std::sync::Arc<OutboxStore>,
    logins: LoginStore,
    audit: AuditStore,
    keyring: std::sync::Arc<Keyring>,
    // Dropped with the store: stops and joins the flusher thread, releasing its database handle.
    _flusher: Flusher,
}

impl Store {
    /// Opens (creating if new) the store under `opts.path` and checks schema and keys; embedded: writes
    /// last once on disk.
    pub fn open(opts: &StoreOptions, keys: StoreKeys) -> Result<Self, StoreError> {
        Self::open_journaled(opts, keys, None)
    }

    /// [`open`](Self::open), with writes lasting once in `journal` when one is given ([`Durable`]).
    pub fn open_journaled(
        opts: &StoreOptions,
        keys: StoreKeys,
        journal: Option<std::sync::Arc<dyn JournalPort>>,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&opts.path).map_err(|e| StoreError::Open {
            path: opts.path.clone(),
            source: e.into(),
        })?;
        let db = open_sled(opts).map_err(|source| StoreError::Open {
            path: opts.path.clone(),
            source,
        })?;
        check_meta(&db, &keys)?;
        let disk = DiskSync::open(&opts.path.join("db")).map_err(|e| StoreError::Open {
            path: opts.path.clone(),
            source: e.into(),
        })?;
        let (commit, flusher) = GroupCommit::start(db.clone(), disk, opts.commit_queue);
        let writes = Writes::open(&db)?;
        let ids = std::sync::Arc::new(Ids::open(&db)?);
        let homes = std::sync::Arc::new(Homes::default());
        let durable = Durable::open(&db, writes.clone(), commit.clone(), ids.clone(), journal)?;
        let blind_fingerprint = keys.blind.fingerprint();
        let backup_key = backup::backup_key(&keys);
        let keyring = std::sync::Arc::new(keys.keyring);
        let outbox =
            std::sync::Arc::new(OutboxStore::open(&writes, durable.clone(), keyring.clone()));
        let otp = OtpStore::open(
            &writes,
            ids.clone(),
            keyring.clone(),
            outbox.clone(),
            keys.blind.clone(),
            durable.clone(),
            opts.partitions,
        );
        let logins = LoginStore::open(&writes, durable.clone(), homes.clone(), keyring.clone());
        let audit = AuditStore::open(
            &writes,
            durable.clone(),
            logins::codec::Codec::new(keyring.clone()),
            ids.clone(),
            homes.clone(),
        );
        let users = UserStore::open(
            &writes,
            ids.clone(),
            keyring.clone(),
            keys.blind,
            durable.clone(),
            opts.partitions,
            homes.clone(),
            outbox.clone(),
        )?;
        Ok(Self {
            db,
            blind_fingerprint,
            backup_key,
            writes,
            durable,
            ids,
            homes,
            backup_running: Default::default(),
            commit,
            users,
            otp,
            outbox,
            logins,
            audit,
            keyring,
            _flusher: flusher,
        })
    }

    /// A tap on the write path: every change set committed from now on, in commit order, holding at most
    /// `bound` untaken.
    pub fn tap(&self, bound: usize) -> Tap {
        self.writes.tap(bound)
    }

    /// What `tap` received so far ([`Writes::drain`]).
    pub fn drain(&self, tap: &Tap) -> Vec<Vec<Op>> {
        self.writes.drain(tap)
    }

    /// How this store's writes last (embedded or journaled).
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// Brings each of `partitions` to the end of its journal before it is served ([`Durable::restore`]),
    /// calling `progress(done, total)` after each; embedded, nothing to do.
    pub async fn catch_up(
        &self,
        partitions: &[u16],
        progress: impl FnMut(usize, usize),
    ) -> Result<(), StoreError> {
        self.durable.restore(partitions, progress).await?;
        self.outbox.recount();
        Ok(())
    }

    /// The homes of users whose ids and uuids carry none (imported), as the directory says.
    pub fn homes(&self) -> &std::sync::Arc<Homes> {
        &self.homes
    }

    /// Learns an imported user's home from the directory: its id or uuid routes there from now on, and
    /// the ids minted here from now on are above its id (whichever partition it lives in).
    pub fn learn_home(&self, key: HomeKey, home: u16) -> Result<(), StoreError> {
        if let HomeKey::Id(id) = key {
            self.ids.raise_above(crate::partition::sequence_floor(id))?;
        }
        self.homes.learn(key, home);
        Ok(())
    }

    /// The user registry.
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// OTP sessions and the outbox.
    pub fn otp(&self) -> &OtpStore {
        &self.otp
    }

    /// The notification outbox.
    pub fn outbox(&self) -> &OutboxStore {
        &self.outbox
    }

    /// The audit trail.
    pub fn audit(&self) -> &AuditStore {
        &self.audit
    }

    /// What logins leave: lockouts, refresh families and revocations.
    pub fn logins(&self) -> &LoginStore {
        &self.logins
    }

    /// Whether the store can be written (the last flush succeeded).
    pub fn is_healthy(&self) -> bool {
        self.commit.is_healthy()
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Flushes everything to disk now and waits for it (shutdown, CLI).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit.commit().await?;
        Ok(())
    }

    /// Brings user records stored with tenants spelled otherwise (`PB`) to the normalised spelling, once per
    /// data dir ([`UserStore::normalise_tenants`]); `None` when that was done before. A record left because
    /// its normalised name is another user's keeps the pass open: it runs, and names it, at every start.
    pub fn normalise_tenants_once(
        &self,
        now: i64,
    ) -> Result<Option<(usize, Vec<String>)>, StoreError> {
        let meta = self.db.open_tree(META)?;
        if meta.get(META_TENANTS_NORMALISED)?.is_some() {
            return Ok(None);
        }
        let (rewritten, left) = self.users.normalise_tenants(now)?;
        if left.is_empty() {
            meta.insert(META_TENANTS_NORMALISED, &[1])?;
        }
        self.db.flush()?;
        Ok(Some((rewritten, left)))
    }
}

fn check_meta(db: &sled::Db, keys: &StoreKeys) -> Result<(), StoreError> {
    let meta = db.open_tree(META)?;
    let aad = [META.as_bytes(), META_SEAL_CANARY].concat();
    match meta.get(META_SCHEMA)? {
        None => {
            let has_data = db
                .tree_names()
                .iter()
                .filter(|n| n.as_ref() != META.as_bytes() && n.as_ref() != b"__sled__default")
                .any(|n| db.open_tree(n).map(|t| !t.is_empty()).unwrap_or(true));
            if has_data {
                return Err(StoreError::Corrupt(
                    "data present but no schema version".into(),
                ));
            }
            meta.insert(META_BLIND, keys.blind.fingerprint().to_vec())?;
            meta.insert(META_SEAL_CANARY, keys.keyring.seal(CANARY, &aad)?)?;
            meta.insert(META_SCHEMA, SCHEMA_VERSION.to_be_bytes().to_vec())?;
            db.flush()?;
        }
        Some(raw) => {
            let found = u32::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("schema version unreadable".into()))?,
            );
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            let fingerprint = meta
                .get(META_BLIND)?
                .ok_or_else(|| StoreError::Corrupt("no key fingerprint".into()))?;
            if fingerprint.as_ref() != keys.blind.fingerprint() {
                return Err(StoreError::WrongKeys("blind-index"));
            }
            let canary = meta
                .get(META_SEAL_CANARY)?
                .ok_or_else(|| StoreError::Corrupt("no sealing canary".into()))?;
            check_canary(&keys.keyring, &canary)?;
            if meta.get(META_RESTORING)?.is_some() {
                return Err(StoreError::Corrupt(
                    "a restore into it did not finish".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `keyring` opens the sealing canary `canary` (written under the keys of a data dir or backup).
fn check_canary(keyring: &Keyring, canary: &[u8]) -> Result<(), StoreError> {
    let aad = [META.as_bytes(), META_SEAL_CANARY].concat();
    match keyring.open(canary, &aad) {
        Ok(plain) if plain == CANARY => Ok(()),
        Ok(_) | Err(SealError::Corrupt) | Err(SealError::UnknownKey(_)) => {
            Err(StoreError::WrongKeys("sealing"))
        }
        Err(e) => Err(e.into()),
    }
}

/// How long an open waits for the data dir's lock: a store this process just closed lets go of it once
/// sled's background threads finish their last write, within moments; another process holding it is
/// refused after this.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled under `opts.path`, waiting up to [`LOCK_WAIT`] for its file lock.
fn open_sled(opts: &StoreOptions) -> Result<sled::Db, sled::Error> {
    let give_up = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(opts.path.join("db"))
            .cache_capacity(opts.cache_capacity_bytes)
            .flush_every_ms(opts.flush_every_ms)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The error of a transaction that never aborts: only sled itself can fail it.
pub(crate) fn storage_error(e: sled::transaction::TransactionError<()>) -> StoreError {
    match e {
        sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        sled::transaction::TransactionError::Abort(()) => {
            StoreError::Corrupt("a store write aborted".into())
        }
    }
}

/// What a sealed value is bound to: its tree and its key, so it opens nowhere else.
pub(crate) fn aad(tree: &str, key: &[u8]) -> Vec<u8> {
    [tree.as_bytes(), b"/", key].concat()
}
