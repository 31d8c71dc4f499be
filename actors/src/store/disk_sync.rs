//! What makes a flushed write survive a power loss: `fdatasync` of sled's files.
//!
//! sled's `flush` writes its log buffer with `pwrite` and then `sync_file_range`, which starts and waits for
//! the page write-back of that range but persists neither the file's metadata (its size, when the log grew)
//! nor the disk's volatile write cache; sled's own `fsync` runs from a background thread every
//! `flush_every_ms`. So after sled's flush, the group committer calls [`DiskSync::sync`], which `fdatasync`s
//! the log file — one call covers every writer of the group. Values too large for the log (sled writes
//! pages above 128 KiB to files under `blobs/`, without syncing them) are synced too, with their directory,
//! when the directory changed since the last sync.
//!
//! `fdatasync` works on the inode, so a handle of our own to sled's file syncs sled's writes as well.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Handles to the files of a sled database under `<db dir>`.
pub struct DiskSync {
    log: File,
    blobs: PathBuf,
    /// Blob files already synced, with the length they had then: sled writes a blob on the writer's
    /// thread, so one may still be growing when it is listed — a blob whose length changed is synced again.
    synced_blobs: HashMap<OsString, u64>,
}

impl DiskSync {
    /// Opens the database's log file (`<db dir>/db`) and syncs the directory once, so the file's own entry
    /// and sled's configuration are on disk before the first acknowledged write.
    pub fn open(db_dir: &Path) -> io::Result<Self> {
        let log = File::open(db_dir.join("db"))?;
        sync_dir(db_dir)?;
        Ok(Self {
            log,
            blobs: db_dir.join("blobs"),
            synced_blobs: HashMap::new(),
        })
    }

    /// Makes everything sled has flushed so far durable: the log's data (and size), and any blob written
    /// since the last call with its directory entry. Listing the (nearly always empty) blob directory costs
    /// microseconds beside the `fdatasync`; its mtime is too coarse to skip it safely.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = HashMap::new();
        let mut new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                // sled removes blobs it no longer needs; one gone meanwhile needs no sync.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if self.synced_blobs.get(&name) != Some(&len) {
                match File::open(self.blobs.join(&name)) {
                    // the length read before the sync: a blob that grew meanwhile is synced again next time
                    Ok(blob) => blob.sync_data()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new = true;
            }
            present.insert(name, len);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}

/// `fsync` of a directory: its entries (files created, renamed or removed in it) are on disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_database_with_and_without_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let mut sync = DiskSync::open(dir.path()).unwrap();
        db.insert(b"small", vec![1u8; 64]).unwrap();
        db.flush().unwrap();
        sync.sync().unwrap();
        assert!(sync.synced_blobs.is_empty(), "no blob yet");
        // A value above sled's inline limit goes to a blob file.
        db.insert(b"large", vec![2u8; 300 * 1024]).unwrap();
        db.flush().unwrap();
        sync.sync().unwrap();
        let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(blobs > 0, "sled wrote a blob");
        assert_eq!(sync.synced_blobs.len(), blobs, "every blob was synced");
    }

    #[test]
    fn a_missing_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DiskSync::open(dir.path()).is_err_and(|e| e.kind() == io::ErrorKind::NotFound));
    }
}
