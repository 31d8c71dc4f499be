//! Sequence numbers of one data dir: user ids are minted from them and outbox records keyed by them.
//!
//! sled's generator counts from where this data dir's database left off; a data dir that received data
//! minted elsewhere (a partition moved in, a restored backup) must never hand out a number again, so a
//! floor, kept in the `cluster` tree, lifts every number above what arrived.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{CLUSTER, StoreError};

const SEQ_FLOOR: &[u8] = b"seq_floor";

/// The sequence of one data dir.
pub struct Ids {
    db: sled::Db,
    cluster: sled::Tree,
    floor: AtomicU64,
    /// Held while the floor is raised: two raisers (an import, the directory's reader, a replay) must not
    /// store a lower floor over a higher one.
    raising: std::sync::Mutex<()>,
}

impl Ids {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let cluster = db.open_tree(CLUSTER)?;
        let floor = match cluster.get(SEQ_FLOOR)? {
            Some(raw) => u64::from_be_bytes(
                raw.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("sequence floor".into()))?,
            ),
            None => 0,
        };
        Ok(Self {
            db: db.clone(),
            cluster,
            floor: AtomicU64::new(floor),
            raising: std::sync::Mutex::new(()),
        })
    }

    /// A number never handed out before in this data dir, and above every number raised past.
    pub fn next(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1 + self.floor.load(Ordering::SeqCst))
    }

    /// Makes every number handed out from now on greater than `sequence`.
    pub fn raise_above(&self, sequence: u64) -> Result<(), StoreError> {
        let _raising = self.raising.lock().unwrap_or_else(|e| e.into_inner());
        let next = self.next()?;
        if next > sequence {
            return Ok(());
        }
        let floor = self.floor.load(Ordering::SeqCst) + (sequence - next) + 1;
        self.cluster.insert(SEQ_FLOOR, &floor.to_be_bytes())?;
        self.floor.store(floor, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_and_stay_above_what_was_raised_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let ids = Ids::open(&db).unwrap();
            let (a, b) = (ids.next().unwrap(), ids.next().unwrap());
            assert!(b > a);
            ids.raise_above(1_000_000).unwrap();
            assert!(ids.next().unwrap() > 1_000_000);
            ids.raise_above(5).unwrap(); // lower: nothing changes
            db.flush().unwrap();
        }
        // sled lets go of its file lock a moment after the handle is dropped
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(e) if std::time::Instant::now() < give_up => {
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        };
        assert!(Ids::open(&db).unwrap().next().unwrap() > 1_000_000);
    }
}
