//! Housekeeping writes: keys read without knowing their partition (prunes, the outbox's acknowledgements,
//! re-sealing) changed in their home's journal, and only while they still hold what was read.

use sled::transaction::ConflictableTransactionError;

use super::{Durable, JournalError, KeyRead, distinct, never_refused, trees_of, write_all};
use crate::store::StoreError;
use crate::store::writes::Op;

impl Durable {
    /// Housekeeping: removes each `(tree, key)` of [`HOMED`](super::HOMED) trees that still holds the value it was read
    /// with — journaled, in its home's journal; how many went. A key written since it was read stays.
    pub async fn remove_unchanged(&self, reads: Vec<KeyRead>) -> Result<usize, StoreError> {
        let mut removed = 0;
        for (home, reads) in self.by_home(reads, |(tree, key, _)| (*tree, key))? {
            for chunk in reads.chunks(1024) {
                let trees = distinct(chunk.iter().map(|(tree, _, _)| *tree));
                let removing = self
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
                    .map_err(never_refused);
                removed += match removing {
                    // claimed by another pod meanwhile (a handover ending): its housekeeping now
                    Err(StoreError::Journal(JournalError::Fenced(_))) => 0,
                    other => other?,
                };
            }
        }
        Ok(removed)
    }

    /// Housekeeping: writes `ops` on keys of [`HOMED`](super::HOMED) trees the store holds, each into its home's
    /// journal when journaled, one change per home.
    pub async fn rewrite(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        for (home, ops) in self.by_home(ops, |op| (op.tree, &op.key))? {
            match self
                .commit_at(home, &trees_of(&ops), |tx| write_all(tx, &ops))
                .await
                .map_err(never_refused)
            {
                // claimed by another pod meanwhile (a handover ending): its housekeeping now
                Ok(()) | Err(StoreError::Journal(JournalError::Fenced(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Housekeeping: gives each `(tree, key)` of [`HOMED`](super::HOMED) trees that still holds the value it was read
    /// with its new value — journaled, in its home's journal; how many changed. A key written since it was
    /// read keeps what was written (a re-seal never undoes a write).
    pub async fn replace_unchanged(
        &self,
        changes: Vec<(KeyRead, Vec<u8>)>,
    ) -> Result<usize, StoreError> {
        let mut replaced = 0;
        for (home, changes) in self.by_home(changes, |((tree, key, _), _)| (*tree, key))? {
            for chunk in changes.chunks(1024) {
                let trees = distinct(chunk.iter().map(|((tree, _, _), _)| *tree));
                let replacing = self
                    .commit_at(home, &trees, |tx| {
                        let mut n = 0;
                        for ((tree, key, expected), new) in chunk {
                            let t = tx.tree(*tree);
                            if t.get(key)?.as_deref() == Some(expected.as_slice()) {
                                t.insert(key.as_slice(), new.as_slice())?;
                                n += 1;
                            }
                        }
                        Ok::<_, ConflictableTransactionError<()>>(n)
                    })
                    .await
                    .map_err(never_refused);
                replaced += match replacing {
                    // claimed by another pod meanwhile (a handover ending): its housekeeping now
                    Err(StoreError::Journal(JournalError::Fenced(_))) => 0,
                    other => other?,
                };
            }
        }
        Ok(replaced)
    }
}
