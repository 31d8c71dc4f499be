//! Login state on sled: lockouts, refresh-token families and revocations.
//!
//! Trees (values are sealed JSON, bound to their tree and key — uuids, login times and token ids tie people to
//! activity; none holds PII, a password, a code or a token in clear — except the revocations' and the user
//! families' expiry times, which name no one; see [`codec`]):
//! - `lockouts`: user uuid (16 bytes) → the user's [`LockoutState`]; removed when clear.
//! - `token_families`: family id (16 bytes) → [`Family`]: whose session, until when, its current access token.
//! - `refresh_tokens`: SHA-256(refresh token) → [`RefreshEntry`]: the family, when the token was spent and
//!   the tokens issued for it then, sealed by the caller under a key derived from the spent token itself —
//!   which is stored nowhere — so the data dir, its keys included, cannot open them. Refresh tokens carry 240
//!   random bits, so an unsalted hash is enough to make the stored key useless.
//! - `user_families`: user uuid ‖ family id → the family's expiry (big-endian ms), to revoke all of a user's
//!   sessions.
//! - `revoked`: `f` ‖ family id or `j` ‖ access-token id → when the entry may be forgotten (big-endian ms);
//!   loaded into memory at start so `/user/_details` needs no store read.
//!
//! A refresh is one transaction over families, refresh tokens and revocations, so of two concurrent uses of
//! one token exactly one rotates it and the other sees it spent: within the grace window it answers what the
//! first one issued (one chain, never two), after it the family is revoked.

use sled::transaction::ConflictableTransactionError;

use super::StoreError;
use super::durable::{Durable, KeyRead, WriteError, never_refused, trees_of, write_all};
use super::writes::{Op, TreeId, Writes};
use crate::domain::lockout::LockoutState;

pub(super) mod codec;
mod family;
use codec::Codec;
pub use family::{Family, RefreshEntry, RefreshOutcome, Revoked, Seen};

/// Lockouts, refresh families and revocations.
pub struct LoginStore {
    pub(super) lockouts: sled::Tree,
    pub(super) families: sled::Tree,
    pub(super) refresh: sled::Tree,
    pub(super) user_families: sled::Tree,
    revoked: sled::Tree,
    durable: Durable,
    /// Imported users' homes: the partition a uuid carries is not theirs.
    homes: std::sync::Arc<crate::homes::Homes>,
    /// Seals and opens the values.
    pub(super) codec: Codec,
}

enum Abort {
    Unknown,
    Dead,
    Codec(StoreError),
    /// Spent within the grace window: its sealed successor, answered with nothing written.
    Repeated(String),
}

impl LoginStore {
    pub(super) fn open(
        writes: &Writes,
        durable: Durable,
        homes: std::sync::Arc<crate::homes::Homes>,
        keyring: std::sync::Arc<crate::seal::Keyring>,
    ) -> Self {
        Self {
            homes,
            codec: Codec::new(keyring),
            lockouts: writes.tree(TreeId::Lockouts).clone(),
            families: writes.tree(TreeId::Families).clone(),
            refresh: writes.tree(TreeId::Refresh).clone(),
            user_families: writes.tree(TreeId::UserFamilies).clone(),
            revoked: writes.tree(TreeId::Revoked).clone(),
            durable,
        }
    }

    /// The home partition of a user's login state: its user's.
    fn home_of(&self, user: &[u8; 16]) -> u16 {
        self.homes.of_uuid(&uuid::Uuid::from_bytes(*user)).0
    }

    /// The lockout state of user `uuid` (clear when none is stored).
    pub fn lockout(&self, uuid: &str) -> Result<LockoutState, StoreError> {
        let key = uuid_key(uuid)?;
        match self.lockouts.get(key)? {
            Some(raw) => self.codec.open(TreeId::Lockouts, &key, &raw),
            None => Ok(LockoutState::default()),
        }
    }

    /// Stores the lockout state of `uuid` (removes it when clear) and waits until it is on disk.
    pub async fn save_lockout(&self, uuid: &str, state: &LockoutState) -> Result<(), StoreError> {
        let key = uuid_key(uuid)?;
        let value = if state.is_clear() {
            None
        } else {
            Some(self.codec.seal(TreeId::Lockouts, &key, state)?)
        };
        let op = Op {
            tree: TreeId::Lockouts,
            key: key.to_vec(),
            value,
        };
        self.durable.apply(self.home_of(&key), vec![op]).await
    }

    /// Stored lockout states and refresh families (a pod's status shows them).
    pub fn counts(&self) -> (usize, usize) {
        (self.lockouts.len(), self.families.len())
    }

    /// Users with a lock stored (their actors are started at boot so the unlock timer runs).
    pub fn locked_users(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for kv in self.lockouts.iter() {
            let (key, raw) = kv?;
            let state: LockoutState = self.codec.open(TreeId::Lockouts, &key, &raw)?;
            if state.locked_until.is_some() {
                let bytes: [u8; 16] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("lockout key".into()))?;
                out.push(uuid::Uuid::from_bytes(bytes).to_string());
            }
        }
        Ok(out)
    }

    /// Opens a family `id` with its first refresh token (by hash); returns once on disk.
    pub async fn open_family(
        &self,
        id: &str,
        family: &Family,
        refresh_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let fam = uuid_key(id)?;
        let user = uuid_key(&family.user)?;
        let family_json = self.codec.seal(TreeId::Families, &fam, family)?;
        let entry = self.codec.seal(
            TreeId::Refresh,
            refresh_hash,
            &RefreshEntry {
                family: fam,
                spent_ms: None,
                successor: None,
            },
        )?;
        let ops = vec![
            Op {
                tree: TreeId::Families,
                key: fam.to_vec(),
                value: Some(family_json),
            },
            Op {
                tree: TreeId::Refresh,
                key: refresh_hash.to_vec(),
                value: Some(entry),
            },
            Op {
                tree: TreeId::UserFamilies,
                key: [user, fam].concat(),
                value: Some(family.expires_ms.to_be_bytes().to_vec()),
            },
        ];
        // a login's session: may lag behind the journal, so logins work through a broker outage
        self.durable
            .commit_behind(self.home_of(&user), &trees_of(&ops), |tx| {
                write_all(tx, &ops)
            })
            .await
            .map_err(never_refused)
    }

    /// The family and user of refresh token hash `hash`, without changing anything.
    pub fn peek_refresh(&self, hash: &[u8; 32]) -> Result<Option<(String, Family)>, StoreError> {
        let Some(raw) = self.refresh.get(hash)? else {
            return Ok(None);
        };
        let entry: RefreshEntry = self.codec.open(TreeId::Refresh, hash, &raw)?;
        Ok(self
            .family(&entry.family)?
            .map(|f| (uuid::Uuid::from_bytes(entry.family).to_string(), f)))
    }

    /// The family `id`.
    pub fn family_by_id(&self, id: &str) -> Result<Option<Family>, StoreError> {
        self.family(&uuid_key(id)?)
    }

    fn family(&self, id: &[u8; 16]) -> Result<Option<Family>, StoreError> {
        Ok(match self.families.get(id)? {
            Some(raw) => Some(self.codec.open(TreeId::Families, id, &raw)?),
            None => None,
        })
    }

    /// Uses refresh token `old` at `now`. When it is live: stores `new` in its family with the new access
    /// token, and `successor` (what this refresh issues, sealed by the caller) with the spent token. When it
    /// was spent at most `grace_ms` ago: answers that successor, changing nothing (once the first refresh is
    /// on disk). When it was spent earlier: revokes the family. `used`: now, and the client (kept as the
    /// family's last use). One transaction; returns once on disk.
    pub async fn refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        access: (&str, i64),
        successor: &[u8],
        used: &Seen,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let now = used.at;
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let sealed = STANDARD.encode(successor);
        // the home is the family's user's: a token no family holds changes nothing anywhere
        let Some((_, family)) = self.peek_refresh(old)? else {
            return Ok(RefreshOutcome::Unknown);
        };
        let home = self.home_of(&uuid_key(&family.user)?);
        let trees = [TreeId::Families, TreeId::Refresh, TreeId::Revoked];
        // a refresh is a session's own bookkeeping: it may lag behind the journal (a reuse found here still
        // revokes the family in the same change)
        let result = self.durable.commit_behind(home, &trees, |tx| {
            let (families, refresh, revoked) = (
                tx.tree(TreeId::Families),
                tx.tree(TreeId::Refresh),
                tx.tree(TreeId::Revoked),
            );
            let abort = |a: Abort| ConflictableTransactionError::Abort(a);
            let codec = |e| abort(Abort::Codec(e));
            let c = &self.codec;
            let raw = refresh.get(old)?.ok_or(abort(Abort::Unknown))?;
            let mut entry: RefreshEntry = c.open(TreeId::Refresh, old, &raw).map_err(codec)?;
            let raw_family = families.get(entry.family)?.ok_or(abort(Abort::Dead))?;
            let mut family: Family = c
                .open(TreeId::Families, &entry.family, &raw_family)
                .map_err(codec)?;
            if family.revoked || now >= family.expires_ms {
                return Err(abort(Abort::Dead));
            }
            match (entry.spent_ms, &entry.successor) {
                (Some(spent), _) if now - spent > grace_ms => {
                    family.revoked = true;
                    families.insert(
                        entry.family,
                        c.seal(TreeId::Families, &entry.family, &family)
                            .map_err(codec)?,
                    )?;
                    revoked.insert(
                        [&[b'f'][..], &entry.family].concat(),
                        family.expires_ms.to_be_bytes().to_vec(),
                    )?;
                    // written, not aborted: an abort would roll the revocation back
                    return Ok(RefreshOutcome::Reused(family));
                }
                (Some(_), Some(successor)) => {
                    return Err(abort(Abort::Repeated(successor.clone())));
                }
                // spent by an earlier build, which kept no successor: no second chain either
                (Some(_), None) => return Err(abort(Abort::Dead)),
                (None, _) => {}
            }
            let previous = family.clone();
            entry.spent_ms = Some(now);
            entry.successor = Some(sealed.clone());
            refresh.insert(old, c.seal(TreeId::Refresh, old, &entry).map_err(codec)?)?;
            let fresh = RefreshEntry {
                family: entry.family,
                spent_ms: None,
                successor: None,
            };
            refresh.insert(new, c.seal(TreeId::Refresh, new, &fresh).map_err(codec)?)?;
            family.access_jti = access.0.to_owned();
            family.access_expires_ms = access.1;
            family.last_used = Some(used.clone());
            families.insert(
                entry.family,
                c.seal(TreeId::Families, &entry.family, &family)
                    .map_err(codec)?,
            )?;
            // the access token it replaces ends with it, in the same change (DIGIT removed it on refresh)
            if let Ok(jti) = uuid_key(&previous.access_jti) {
                revoked.insert(
                    [&[b'j'][..], &jti].concat(),
                    previous.access_expires_ms.to_be_bytes().to_vec(),
                )?;
            }
            Ok(RefreshOutcome::Rotated { previous })
        });
        match result.await {
            Ok(outcome) => Ok(outcome),
            Err(WriteError::Refused(Abort::Unknown)) => Ok(RefreshOutcome::Unknown),
            Err(WriteError::Refused(Abort::Dead)) => Ok(RefreshOutcome::Dead),
            Err(WriteError::Refused(Abort::Repeated(sealed))) => {
                let sealed = STANDARD
                    .decode(sealed)
                    .map_err(|_| StoreError::Corrupt("refresh successor".into()))?;
                // the first refresh may still be on its way to disk: answer its tokens only once they last
                self.durable.settled(home).await?;
                Ok(RefreshOutcome::Repeated(sealed))
            }
            Err(WriteError::Refused(Abort::Codec(e))) => Err(e),
            Err(WriteError::Store(e)) => Err(e),
        }
    }

    /// The live (unrevoked, unexpired) families of user `uuid` at `now`, with their stored state.
    pub fn families_of(&self, uuid: &str, now: i64) -> Result<Vec<(String, Family)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.user_families.scan_prefix(uuid_key(uuid)?) {
            let (key, _) = kv?;
            let id: [u8; 16] = key[16..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("user family key".into()))?;
            if let Some(f) = self.family(&id)?
                && !f.revoked
                && now < f.expires_ms
            {
                out.push((uuid::Uuid::from_bytes(id).to_string(), f));
            }
        }
        Ok(out)
    }

    /// Revokes families and single access tokens of user `user` (each with the moment it may be
    /// forgotten); returns once it lasts (never behind the journal: a logout, a lock, a password change).
    pub async fn revoke(
        &self,
        user: &str,
        families: &[(String, i64)],
        access: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let mut keys = Vec::new();
        for (id, until) in families {
            keys.push(([&[b'f'][..], &uuid_key(id)?].concat(), *until));
        }
        for (id, until) in access {
            keys.push(([&[b'j'][..], &uuid_key(id)?].concat(), *until));
        }
        let mut updated = Vec::new();
        for (id, _) in families {
            let key = uuid_key(id)?;
            if let Some(mut f) = self.family(&key)? {
                f.revoked = true;
                updated.push((key, self.codec.seal(TreeId::Families, &key, &f)?));
            }
        }
        let mut ops: Vec<Op> = keys
            .into_iter()
            .map(|(key, until)| Op {
                tree: TreeId::Revoked,
                key,
                value: Some(until.to_be_bytes().to_vec()),
            })
            .collect();
        ops.extend(updated.into_iter().map(|(key, json)| Op {
            tree: TreeId::Families,
            key: key.to_vec(),
            value: Some(json),
        }));
        let home = self.home_of(&uuid_key(user)?);
        self.durable.apply(home, ops).await
    }

    /// Every revocation still in force at `now` (to load the in-memory set at start).
    pub fn revocations(&self, now: i64) -> Result<Vec<Revoked>, StoreError> {
        let mut out = Vec::new();
        for kv in self.revoked.iter() {
            let (key, value) = kv?;
            let until = be_i64(&value)?;
            if until <= now || key.len() != 17 {
                continue;
            }
            let id: [u8; 16] = key[1..].try_into().expect("length checked");
            out.push(match key[0] {
                b'f' => Revoked::Family(id, until),
                _ => Revoked::Access(id, until),
            });
        }
        Ok(out)
    }

    /// Forgets what ended before `now`: revocations, families and their refresh tokens. Returns the number
    /// of entries removed.
    pub async fn prune(&self, now: i64) -> Result<usize, StoreError> {
        let (reads, counted) = self.ended(now)?;
        self.durable.remove_unchanged(reads).await?;
        Ok(counted)
    }

    /// What ended before `now`, as read (each removal checks the value it was read with), and how many
    /// revocations, user families and refresh tokens it counts. A scan of four trees.
    fn ended(&self, now: i64) -> Result<(Vec<KeyRead>, usize), StoreError> {
        // each removal checks the value it was read with: an entry written again meanwhile stays
        let mut reads = Vec::new();
        for kv in self.revoked.iter() {
            let (key, value) = kv?;
            if be_i64(&value)? <= now {
                reads.push((TreeId::Revoked, key.to_vec(), value.to_vec()));
            }
        }
        let mut dead = std::collections::HashSet::new();
        for kv in self.user_families.iter() {
            let (key, value) = kv?;
            if be_i64(&value)? <= now {
                if let Ok(id) = <[u8; 16]>::try_from(&key[16..]) {
                    dead.insert(id);
                }
                reads.push((TreeId::UserFamilies, key.to_vec(), value.to_vec()));
            }
        }
        let counted = reads.len();
        for id in &dead {
            if let Some(family) = self.families.get(id)? {
                reads.push((TreeId::Families, id.to_vec(), family.to_vec()));
            }
        }
        let mut tokens = 0;
        for kv in self.refresh.iter() {
            let (key, raw) = kv?;
            let entry: RefreshEntry = self.codec.open(TreeId::Refresh, &key, &raw)?;
            if dead.contains(&entry.family) || !self.families.contains_key(entry.family)? {
                reads.push((TreeId::Refresh, key.to_vec(), raw.to_vec()));
                tokens += 1;
            }
        }
        Ok((reads, counted + tokens))
    }
}

fn be_i64(raw: &[u8]) -> Result<i64, StoreError> {
    Ok(i64::from_be_bytes(raw.try_into().map_err(|_| {
        StoreError::Corrupt("timestamp value".into())
    })?))
}

/// The 16 bytes of a uuid string; a malformed one is a caller bug surfaced as corrupt input.
pub(super) fn uuid_key(uuid: &str) -> Result<[u8; 16], StoreError> {
    uuid::Uuid::parse_str(uuid)
        .map(|u| *u.as_bytes())
        .map_err(|_| StoreError::Corrupt(format!("not a uuid: {}", uuid.len())))
}

#[cfg(test)]
mod tests;
