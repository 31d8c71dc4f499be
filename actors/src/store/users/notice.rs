//! An update that tells the user: the notices it makes of the versions before and after (the e-mail address
//! changed) are queued in the outbox in the update's own change, so they go out exactly when the change lasts
//! and once.

use sled::transaction::ConflictableTransactionError;

use super::write::Abort;
use super::{UserStore, UserWriteError};
use crate::domain::UserRecord;
use crate::store::durable::WriteError;
use crate::store::outbox::OutboxRecord;
use crate::store::writes::TreeId;

/// Notifications one update may queue at most (their outbox keys are taken before the transaction: minting
/// one inside it could wait for the writes the transaction holds).
pub const MAX_NOTICES: usize = 4;

const NOTICED_TREES: [TreeId; 4] = [
    TreeId::Users,
    TreeId::UserIndex,
    TreeId::UserAudit,
    TreeId::Outbox,
];

impl UserStore {
    /// [`update`](Self::update), with the notifications `notices` makes of the versions before and after
    /// queued in the same change. Returns the new record and how many notifications were queued.
    pub async fn update_noticed<E>(
        &self,
        uuid: &str,
        actor_uuid: Option<&str>,
        now: i64,
        change: impl Fn(&UserRecord) -> Result<UserRecord, E>,
        notices: impl Fn(&UserRecord, &UserRecord) -> Vec<OutboxRecord>,
    ) -> Result<(UserRecord, usize), UserWriteError<E>> {
        let id = self.id_of_uuid(uuid)?.ok_or(UserWriteError::NotFound)?;
        let home = self.home_of_stored(id)?;
        let store_err = |e| ConflictableTransactionError::Abort(Abort::Store(e));
        // the home in the low bits, as the OTP sessions' records carry theirs
        let seqs = (0..MAX_NOTICES)
            .map(|_| Ok((self.ids.next()? << 16) | u64::from(home.0)))
            .collect::<Result<Vec<u64>, crate::store::StoreError>>()?;
        let written = self
            .durable
            .commit(home.0, &NOTICED_TREES, |tx| {
                let before = std::cell::RefCell::new(None);
                let new = self.rewrite(
                    id,
                    actor_uuid,
                    now,
                    &|old: &UserRecord| {
                        *before.borrow_mut() = Some(old.clone());
                        change(old)
                    },
                    &tx.tree(TreeId::Users),
                    &tx.tree(TreeId::UserIndex),
                    &tx.tree(TreeId::UserAudit),
                )?;
                let old = before
                    .into_inner()
                    .expect("a rewrite reads the stored version");
                let outbox = tx.tree(TreeId::Outbox);
                let records = notices(&old, &new);
                if records.len() > MAX_NOTICES {
                    return Err(store_err(crate::store::StoreError::Corrupt(format!(
                        "an update may queue {MAX_NOTICES} notifications at most"
                    ))));
                }
                for (seq, record) in seqs.iter().zip(&records) {
                    let sealed = self.outbox.seal(*seq, record).map_err(store_err)?;
                    outbox.insert(seq.to_be_bytes(), sealed.as_slice())?;
                }
                Ok((new, records.len()))
            })
            .await
            .map_err(|e| match e {
                WriteError::Refused(a) => UserWriteError::from(a),
                WriteError::Store(e) => UserWriteError::Store(e),
            })?;
        self.outbox.queued(written.1);
        Ok(written)
    }
}
