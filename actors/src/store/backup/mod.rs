//! Backup and restore of one data dir's state, for the embedded deployment (one pod, no Kafka).
//!
//! A backup is taken while the service runs: it registers a [`Tap`](super::Tap) on the write funnel, scans
//! every state tree, then appends the change sets committed during the scan. Restored in order, the scan's
//! values and then those changes give the state as of the moment the backup ended: every write acknowledged
//! before the backup began is in it, and no half of a transaction is (a key the scan read mid-change is
//! rewritten by the change itself). Values are copied as stored — sealed — so the file holds no PII, OTP or
//! password in clear, and restoring it needs the deployment's keys, which the file does not carry.
//!
//! A restore writes only into an empty data dir. It marks the dir as being restored first and clears the
//! mark last: a dir whose restore was cut off refuses to start instead of serving part of the users.

mod format;

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub use format::{BackupHeader, BackupReader, BackupWriter, MacKey};

use super::writes::{Op, TreeId};
use super::{DiskSync, StoreOptions, check_canary};
use super::{META, META_RESTORING, META_SEAL_CANARY, SCHEMA_VERSION, Store, StoreError, StoreKeys};

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the file failed.
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a backup, or not a whole one.
    #[error("not a usable backup: {0}")]
    Format(String),
    /// The file was changed or cut after it was written.
    #[error(
        "the backup's checksum does not match: the file was changed or cut after it was written"
    )]
    Checksum,
    /// The file is whole but was not written by this deployment (or was edited by someone without its keys).
    #[error(
        "the backup is not authenticated by this deployment's keys: written by another deployment, or edited"
    )]
    NotOurs,
    /// Another backup of this store is running.
    #[error("a backup of this store is running; one at a time")]
    Running,
    /// More changes were committed during the scan than the backup may hold.
    #[error(
        "more than {0} changes were committed while the backup ran (storage.backup_max_changes): try again at \
         a quieter time or raise the limit"
    )]
    TooBusy(usize),
    /// The file was written by a newer digit-user.
    #[error(
        "the backup is of schema version {0}, newer than this build's: restore it with that release"
    )]
    NewerSchema(u32),
    /// The keys given are not the keys the backup was written with.
    #[error(
        "the backup was written under another {0} key: restore with the secrets of the deployment it came \
         from (DIGIT_USER_* env or *_FILE)"
    )]
    WrongKeys(&'static str),
    /// The data dir already holds data.
    #[error(
        "the data dir {0} already holds a store: a restore writes only into an empty data dir (move it away)"
    )]
    NotEmpty(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The right to run the one backup of a store at a time; the next can start once it is dropped.
pub struct BackupSlot(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for BackupSlot {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a backup or restore handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Entries in the file.
    pub entries: u64,
    /// Of them, the entries (one per key written) of change sets committed while the backup scanned.
    pub during: u64,
}

impl Store {
    /// Reserves this store's backup slot: [`BackupError::Running`] while another backup holds it.
    pub fn reserve_backup(&self) -> Result<BackupSlot, BackupError> {
        let taken = self.backup_running.compare_exchange(
            false,
            true,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        );
        match taken {
            Ok(_) => Ok(BackupSlot(self.backup_running.clone())),
            Err(_) => Err(BackupError::Running),
        }
    }

    /// Entries in the state trees now (a backup's size, for progress).
    pub fn state_entries(&self) -> u64 {
        TreeId::ALL
            .iter()
            .map(|t| self.writes.tree(*t).len() as u64)
            .sum()
    }

    /// Writes a backup of the state to `out` while the store keeps serving; `progress` is called with the
    /// entries written so far and the entries at the start; `_slot` is its reservation. At most `max_changes` change sets committed
    /// during the scan are kept in memory; past that the backup fails ([`BackupError::TooBusy`]) rather
    /// than grow. Blocking: run it on a thread of its own.
    pub fn backup<W: Write>(
        &self,
        _slot: &BackupSlot,
        out: W,
        created_ms: i64,
        max_changes: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(W, BackupSummary), BackupError> {
        let tap = self.writes.tap(max_changes);
        let meta = self.db.open_tree(META).map_err(StoreError::from)?;
        let canary = meta
            .get(META_SEAL_CANARY)
            .map_err(StoreError::from)?
            .ok_or_else(|| StoreError::Corrupt("no sealing canary".into()))?;
        let entries_at_start = self.state_entries();
        let header = BackupHeader {
            schema: SCHEMA_VERSION,
            created_ms,
            blind_fingerprint: hex(&self.blind_fingerprint),
            seal_canary: STANDARD.encode(&canary),
            entries_at_start,
        };
        let mut writer = BackupWriter::start(out, &header, &self.backup_key)?;
        for tree in TreeId::ALL {
            for kv in self.writes.tree(tree).iter() {
                let (key, value) = kv.map_err(StoreError::from)?;
                writer.entry(&Op {
                    tree,
                    key: key.to_vec(),
                    value: Some(value.to_vec()),
                })?;
                if writer.count() % 4096 == 0 {
                    progress(writer.count(), entries_at_start);
                }
            }
        }
        let scanned = writer.count();
        let changes = self.writes.drain(&tap);
        if tap.overflowed() {
            return Err(BackupError::TooBusy(max_changes));
        }
        for change in changes {
            for op in &change {
                writer.entry(op)?;
            }
        }
        let (out, entries) = writer.finish()?;
        progress(entries, entries_at_start);
        Ok((
            out,
            BackupSummary {
                entries,
                during: entries - scanned,
            },
        ))
    }

    /// Restores the backup `input` into the empty data dir `opts.path` with `keys`, which must be the keys
    /// the backup was written under. Blocking. A backup that turns out corrupt leaves the dir marked as an
    /// unfinished restore (it refuses to start); [`verify`] a file first to avoid that.
    pub fn restore<R: Read>(
        opts: &StoreOptions,
        keys: StoreKeys,
        input: R,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<BackupSummary, BackupError> {
        let db_dir = opts.path.join("db");
        if holds_store(&opts.path) {
            return Err(BackupError::NotEmpty(opts.path.display().to_string()));
        }
        let key = backup_key(&keys);
        let mut reader = BackupReader::open(input, Some(&key))?;
        let header = reader.header().clone();
        check_keys(&header, &keys)?;
        let store = Store::open(opts, keys)?;
        let meta = store.db.open_tree(META).map_err(StoreError::from)?;
        meta.insert(META_RESTORING, &[1])
            .map_err(StoreError::from)?;
        store.db.flush().map_err(StoreError::from)?;
        let (mut batch, mut entries, mut highest) = (Vec::new(), 0u64, 0u64);
        while let Some(op) = reader.next_entry()? {
            highest = highest.max(sequence_of(&op));
            batch.push(op);
            entries += 1;
            if batch.len() == 1024 {
                store
                    .writes
                    .apply(std::mem::take(&mut batch))
                    .map_err(StoreError::from)?;
                progress(entries, header.entries_at_start);
            }
        }
        store.writes.apply(batch).map_err(StoreError::from)?;
        store.ids.raise_above(highest)?;
        // the entries on disk (sled's flush, then an fdatasync) before the mark goes, and the mark's removal
        // on disk before the restore is reported done
        let mut disk = DiskSync::open(&db_dir).map_err(StoreError::from)?;
        store.db.flush().map_err(StoreError::from)?;
        disk.sync().map_err(StoreError::from)?;
        meta.remove(META_RESTORING).map_err(StoreError::from)?;
        store.db.flush().map_err(StoreError::from)?;
        disk.sync().map_err(StoreError::from)?;
        progress(entries, header.entries_at_start);
        Ok(BackupSummary { entries, during: 0 })
    }
}

/// Whether `data_dir` holds a store (a restore writes only where none is).
pub fn holds_store(data_dir: &std::path::Path) -> bool {
    std::fs::read_dir(data_dir.join("db")).is_ok_and(|mut entries| entries.next().is_some())
}

/// The key that authenticates the backups of the deployment holding `keys`.
pub fn backup_key(keys: &StoreKeys) -> MacKey {
    keys.blind.derive_key("backup")
}

/// Reads a whole backup, checking its format and checksum — and with `key` ([`backup_key`]) that this
/// deployment wrote it — and returns its header and entry count.
pub fn verify<R: Read>(input: R, key: Option<&MacKey>) -> Result<(BackupHeader, u64), BackupError> {
    let mut reader = BackupReader::open(input, key)?;
    let mut entries = 0;
    while reader.next_entry()?.is_some() {
        entries += 1;
    }
    Ok((reader.header().clone(), entries))
}

/// Refuses a backup of a newer schema or written under other keys.
fn check_keys(header: &BackupHeader, keys: &StoreKeys) -> Result<(), BackupError> {
    if header.schema > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema(header.schema));
    }
    if header.blind_fingerprint != hex(&keys.blind.fingerprint()) {
        return Err(BackupError::WrongKeys("blind-index"));
    }
    let canary = STANDARD
        .decode(&header.seal_canary)
        .map_err(|_| BackupError::Format("sealing canary".into()))?;
    check_canary(&keys.keyring, &canary).map_err(|e| match e {
        StoreError::WrongKeys(which) => BackupError::WrongKeys(which),
        other => BackupError::Store(other),
    })
}

/// The sequence number an entry carries, if its key holds one: a minted user id (sequence ‖ partition) or
/// an outbox record's. A restored dir's sequence is raised above them all.
fn sequence_of(op: &Op) -> u64 {
    let Ok(key) = <[u8; 8]>::try_from(op.key.as_slice()) else {
        return 0;
    };
    match op.tree {
        TreeId::Users => (u64::from_be_bytes(key)) >> 16,
        TreeId::Outbox => u64::from_be_bytes(key),
        _ => 0,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
