//! A user's lock, written in one place. It lives twice: in the `lockouts` tree (failures and the end of a
//! lock — what the lockout actor decides by) and as a mirror on the user record (`accountLocked`,
//! `accountLockedDate` — what DIGIT's clients read, and what an admin update or an import sets). The
//! lockout actor and `digit-user admin unlock` write both through [`Store::save_lock`]; a lock an admin set
//! on the record reaches the tree at that user's next attempt, and a record still flagged after its
//! cool-down is cleared there (DIGIT's lazy unlock).

use super::{Store, StoreError, UserWriteError};
use crate::domain::lockout::LockoutState;

/// What a change of the lock does to the user record's mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMirror {
    /// Leave the record alone (a counted failure, a success).
    Keep,
    /// Locked at that moment, epoch ms.
    Lock(i64),
    /// Not locked (any more).
    Clear,
}

impl Store {
    /// Stores user `uuid`'s lockout `state`, then mirrors the lock onto the user record as `mirror` says (an
    /// audited change, made only when the record's flag differs). A user record that does not exist is no
    /// error: a lockout may outlive the user it counted for.
    pub async fn save_lock(
        &self,
        uuid: &str,
        state: &LockoutState,
        mirror: LockMirror,
        now: i64,
    ) -> Result<(), StoreError> {
        self.logins().save_lockout(uuid, state).await?;
        let (locked, date) = match mirror {
            LockMirror::Keep => return Ok(()),
            LockMirror::Lock(at) => (true, Some(at)),
            LockMirror::Clear => (false, None),
        };
        let result = self
            .users()
            .update(uuid, None, now, |old| {
                if old.account_locked == locked && (locked || old.account_locked_date.is_none()) {
                    return Err(()); // nothing to change: no audit record
                }
                let mut new = old.clone();
                new.account_locked = locked;
                new.account_locked_date = date;
                Ok(new)
            })
            .await;
        match result {
            Ok(_) | Err(UserWriteError::Refused(())) | Err(UserWriteError::NotFound) => Ok(()),
            Err(UserWriteError::Store(e)) => Err(e),
            Err(UserWriteError::Duplicate) => Err(StoreError::Corrupt("lock mirror".into())),
        }
    }
}
