//! OTP sessions and the notification outbox on sled.
//!
//! Trees:
//! - `otp_sessions`: blind(state tenant, mobile) → the session's [`OtpSessionState`], sealed (AAD = tree/key).
//!   No mobile number is stored in clear; the state holds nonces and HMACs, never a code. Written as
//!   postcard behind a tag byte (about 150 bytes sealed, where JSON took 360 — sled caches these, so with
//!   100,000 live sessions that is 20 MB); states written as JSON still read.
//! - `otp_tokens`: token id (16 bytes) → session key, owner and until when it can be found, so
//!   `/otp/v1/_search` finds a token's session. Only tokens a client has seen are entered: a direct
//!   `/otp/v1/_create` (its answer carries the id) and a successful validation (likewise). A `_send`'s token
//!   id never leaves the service, so a send writes no entry. The hourly [`OtpStore::prune`] forgets entries
//!   past their moment, and session states with nothing left in them.
//! - `outbox` (see [`super::outbox`]): the notifications a send queued.
//!
//! A save writes the new session state, its token entry (if any) and its notifications in one transaction,
//! and returns once they are on disk: an SMS is never queued for a code that was not stored, and an
//! acknowledged send is never lost.

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;

use super::durable::{Durable, KeyRead, WriteError};
use super::ids::Ids;
use super::outbox::{OutboxRecord, OutboxStore};
use super::writes::{TreeId, Writes};
use super::{StoreError, aad};
use crate::domain::otp::OtpSessionState;
use crate::seal::{BLIND_LEN, BlindIndexer, IndexedField, Keyring};

const SESSIONS: &str = TreeId::OtpSessions.name();
const TOKENS: &str = TreeId::OtpTokens.name();

/// The store key of one OTP session, and the partition it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// blind(state tenant, mobile): the key in `otp_sessions`.
    pub blind: [u8; BLIND_LEN],
    /// hash(state tenant, mobile): the home partition.
    pub home: u16,
}

/// Who a token was issued to (what `/otp/v1/_search` answers); stored sealed with the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenOwner {
    /// The identity (mobile number) as the request named it.
    pub identity: String,
    /// The state tenant.
    pub tenant: String,
}

#[derive(Serialize, Deserialize)]
struct TokenEntry {
    session: [u8; BLIND_LEN],
    owner: TokenOwner,
    /// After this moment (epoch ms) the session no longer knows the token; entries written before this was
    /// kept read as 0 and go at the next prune.
    #[serde(default)]
    until_ms: i64,
}

/// A token id a client will see, entered with a session's save so `/otp/v1/_search` can find it.
#[derive(Debug, Clone, Copy)]
pub struct TokenRecord<'a> {
    /// The token id.
    pub id: uuid::Uuid,
    /// Who it was issued to.
    pub owner: &'a TokenOwner,
    /// Until when the session knows it (its expiry, or a day after its consumption), epoch ms.
    pub until_ms: i64,
}

/// OTP sessions, tokens and the outbox.
pub struct OtpStore {
    sessions: sled::Tree,
    tokens: sled::Tree,
    ids: std::sync::Arc<Ids>,
    outbox: std::sync::Arc<OutboxStore>,
    keyring: std::sync::Arc<Keyring>,
    blind: BlindIndexer,
    durable: Durable,
    partitions: u16,
}

impl OtpStore {
    pub(super) fn open(
        writes: &Writes,
        ids: std::sync::Arc<Ids>,
        keyring: std::sync::Arc<Keyring>,
        outbox: std::sync::Arc<OutboxStore>,
        blind: BlindIndexer,
        durable: Durable,
        partitions: u16,
    ) -> Self {
        Self {
            sessions: writes.tree(TreeId::OtpSessions).clone(),
            tokens: writes.tree(TreeId::OtpTokens).clone(),
            ids,
            outbox,
            keyring,
            blind,
            durable,
            partitions,
        }
    }

    /// The home partition of the session of `mobile` in `state_tenant` (the pod that owns it).
    pub fn home(&self, state_tenant: &str, mobile: &str) -> crate::partition::Partition {
        crate::partition::home_partition(state_tenant, mobile.trim(), self.partitions)
    }

    /// The key of the session of `mobile` in `state_tenant`.
    pub fn session_key(&self, state_tenant: &str, mobile: &str) -> SessionKey {
        SessionKey {
            blind: self
                .blind
                .digest_parts(IndexedField::OtpSession, &[state_tenant, mobile.trim()]),
            home: self.home(state_tenant, mobile).0,
        }
    }

    /// The stored state of a session (empty when new).
    pub fn load(&self, key: &SessionKey) -> Result<OtpSessionState, StoreError> {
        match self.sessions.get(key.blind)? {
            None => Ok(OtpSessionState::default()),
            Some(raw) => {
                let plain =
                    zeroize::Zeroizing::new(self.keyring.open(&raw, &aad(SESSIONS, &key.blind))?);
                decode_state(&plain)
            }
        }
    }

    /// The session that issued token `token_id`, and to whom.
    pub fn session_of_token(
        &self,
        uuid: &uuid::Uuid,
    ) -> Result<Option<(SessionKey, TokenOwner)>, StoreError> {
        let Some(raw) = self.tokens.get(uuid.as_bytes())? else {
            return Ok(None);
        };
        let plain =
            zeroize::Zeroizing::new(self.keyring.open(&raw, &aad(TOKENS, uuid.as_bytes()))?);
        let entry: TokenEntry = serde_json::from_slice(&plain)?;
        let home = self.home(&entry.owner.tenant, &entry.owner.identity).0;
        let key = SessionKey {
            blind: entry.session,
            home,
        };
        Ok(Some((key, entry.owner)))
    }

    /// Stores `state` with the token entry `token` (if a client is to see one) and `notifications`, in one
    /// transaction, and waits until it is on disk. Returns the outbox sequence numbers.
    pub async fn save(
        &self,
        key: &SessionKey,
        state: &OtpSessionState,
        token: Option<TokenRecord<'_>>,
        notifications: &[OutboxRecord],
    ) -> Result<Vec<u64>, StoreError> {
        let sealed_state = if state.is_idle() {
            None
        } else {
            let plain = zeroize::Zeroizing::new(encode_state(state)?);
            Some(self.keyring.seal(&plain, &aad(SESSIONS, &key.blind))?)
        };
        let mut outbox = Vec::with_capacity(notifications.len());
        for record in notifications {
            // the home partition in the low bits, as in a user id: two pods minting the same sequence for
            // two partitions must not write one outbox key (a replay of one would overwrite the other)
            let seq = (self.ids.next()? << 16) | u64::from(key.home);
            outbox.push((seq, self.outbox.seal(seq, record)?));
        }
        let token = match token {
            Some(t) => {
                let uuid = t.id;
                let entry = TokenEntry {
                    session: key.blind,
                    owner: t.owner.clone(),
                    until_ms: t.until_ms,
                };
                Some((uuid, self.seal(&entry, TOKENS, uuid.as_bytes())?))
            }
            None => None,
        };
        let trees = [TreeId::OtpSessions, TreeId::OtpTokens, TreeId::Outbox];
        self.durable
            .commit(key.home, &trees, |tx| {
                let (sessions, tokens, out) = (
                    tx.tree(TreeId::OtpSessions),
                    tx.tree(TreeId::OtpTokens),
                    tx.tree(TreeId::Outbox),
                );
                match &sealed_state {
                    Some(sealed) => sessions.insert(key.blind, sealed.as_slice())?,
                    None => sessions.remove(key.blind)?,
                };
                if let Some((uuid, sealed)) = &token {
                    tokens.insert(uuid.as_bytes(), sealed.as_slice())?;
                }
                for (seq, sealed) in &outbox {
                    out.insert(seq.to_be_bytes(), sealed.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .await
            .map_err(|e| match e {
                WriteError::Store(e) => e,
                WriteError::Refused(()) => StoreError::Corrupt("an OTP save aborted".into()),
            })?;
        self.outbox.queued(outbox.len());
        Ok(outbox.into_iter().map(|(seq, _)| seq).collect())
    }

    /// Forgets what ended by `now`: token entries past their moment, and session states in which nothing is
    /// left (codes expired, sends and consumptions over a day old) that no live session wrote back since.
    /// Returns how many entries went.
    pub async fn prune(&self, now: i64) -> Result<usize, StoreError> {
        let ended = self.ended(now)?;
        self.durable.remove_unchanged(ended).await
    }

    /// What [`prune`](Self::prune) removes, as read: a scan of both trees.
    fn ended(&self, now: i64) -> Result<Vec<KeyRead>, StoreError> {
        let mut ended = Vec::new();
        for kv in self.tokens.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(TOKENS, &k))?);
            let entry: TokenEntry = serde_json::from_slice(&plain)?;
            if entry.until_ms <= now {
                ended.push((TreeId::OtpTokens, k.to_vec(), v.to_vec()));
            }
        }
        for kv in self.sessions.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(SESSIONS, &k))?);
            let mut state = decode_state(&plain)?;
            state.expire(now);
            // a session that saves in between writes a newer state: its removal finds another value and
            // it stays
            if state.is_idle() {
                ended.push((TreeId::OtpSessions, k.to_vec(), v.to_vec()));
            }
        }
        Ok(ended)
    }

    pub(super) fn seal<T: Serialize>(
        &self,
        value: &T,
        tree: &str,
        key: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value)?);
        Ok(self.keyring.seal(&plain, &aad(tree, key))?)
    }
}

/// The tag byte of a postcard session state; a JSON state starts with `{`. Tag 1 is the layout before live
/// codes counted their SMS (read as sent once); tag 2 is today's.
const STATE_POSTCARD_V1: u8 = 1;
const STATE_POSTCARD: u8 = 2;

fn encode_state(state: &OtpSessionState) -> Result<Vec<u8>, StoreError> {
    Ok(postcard::to_extend(state, vec![STATE_POSTCARD])?)
}

fn decode_state(plain: &[u8]) -> Result<OtpSessionState, StoreError> {
    match plain.split_first() {
        Some((&STATE_POSTCARD, rest)) => Ok(postcard::from_bytes(rest)?),
        Some((&STATE_POSTCARD_V1, rest)) => {
            Ok(postcard::from_bytes::<super::otp_v1::State>(rest)?.into())
        }
        Some((b'{', _)) => Ok(serde_json::from_slice(plain)?),
        _ => Err(StoreError::Corrupt(
            "otp session state of unknown format".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
