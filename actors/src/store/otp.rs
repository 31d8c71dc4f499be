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
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::outbox::{OutboxRecord, OutboxStore};
use super::{GroupCommit, StoreError, aad};
use crate::domain::otp::OtpSessionState;
use crate::seal::{BLIND_LEN, BlindIndexer, IndexedField, Keyring};

const SESSIONS: &str = "otp_sessions";
const TOKENS: &str = "otp_tokens";

/// The store key of one OTP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(pub [u8; BLIND_LEN]);

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
    outbox: std::sync::Arc<OutboxStore>,
    keyring: std::sync::Arc<Keyring>,
    blind: BlindIndexer,
    commit: GroupCommit,
    db: sled::Db,
    partitions: u16,
}

impl OtpStore {
    pub(super) fn open(
        db: &sled::Db,
        keyring: std::sync::Arc<Keyring>,
        outbox: std::sync::Arc<OutboxStore>,
        blind: BlindIndexer,
        commit: GroupCommit,
        partitions: u16,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: db.open_tree(SESSIONS)?,
            tokens: db.open_tree(TOKENS)?,
            outbox,
            keyring,
            blind,
            commit,
            db: db.clone(),
            partitions,
        })
    }

    /// The home partition of the session of `mobile` in `state_tenant` (the pod that owns it).
    pub fn home(&self, state_tenant: &str, mobile: &str) -> crate::partition::Partition {
        crate::partition::home_partition(state_tenant, mobile.trim(), self.partitions)
    }

    /// The key of the session of `mobile` in `state_tenant`.
    pub fn session_key(&self, state_tenant: &str, mobile: &str) -> SessionKey {
        SessionKey(
            self.blind
                .digest_parts(IndexedField::OtpSession, &[state_tenant, mobile.trim()]),
        )
    }

    /// The stored state of a session (empty when new).
    pub fn load(&self, key: &SessionKey) -> Result<OtpSessionState, StoreError> {
        match self.sessions.get(key.0)? {
            None => Ok(OtpSessionState::default()),
            Some(raw) => {
                let plain =
                    zeroize::Zeroizing::new(self.keyring.open(&raw, &aad(SESSIONS, &key.0))?);
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
        Ok(Some((SessionKey(entry.session), entry.owner)))
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
            Some(self.keyring.seal(&plain, &aad(SESSIONS, &key.0))?)
        };
        let mut outbox = Vec::with_capacity(notifications.len());
        for record in notifications {
            let seq = self.db.generate_id()?;
            outbox.push((seq, self.outbox.seal(seq, record)?));
        }
        let token = match token {
            Some(t) => {
                let uuid = t.id;
                let entry = TokenEntry {
                    session: key.0,
                    owner: t.owner.clone(),
                    until_ms: t.until_ms,
                };
                Some((uuid, self.seal(&entry, TOKENS, uuid.as_bytes())?))
            }
            None => None,
        };
        (&self.sessions, &self.tokens, self.outbox.tree())
            .transaction(|(sessions, tokens, out)| {
                match &sealed_state {
                    Some(sealed) => sessions.insert(&key.0, sealed.as_slice())?,
                    None => sessions.remove(&key.0)?,
                };
                if let Some((uuid, sealed)) = &token {
                    tokens.insert(uuid.as_bytes(), sealed.as_slice())?;
                }
                for (seq, sealed) in &outbox {
                    out.insert(&seq.to_be_bytes(), sealed.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(()) => StoreError::Corrupt("otp save aborted".into()),
                TransactionError::Storage(e) => StoreError::Sled(e),
            })?;
        self.outbox.queued(outbox.len());
        self.commit.commit().await?;
        Ok(outbox.into_iter().map(|(seq, _)| seq).collect())
    }

    /// Forgets what ended by `now`: token entries past their moment, and session states in which nothing is
    /// left (codes expired, sends and consumptions over a day old) that no live session wrote back since.
    /// A scan of both trees, for a blocking thread. Returns how many entries went.
    pub fn prune(&self, now: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for kv in self.tokens.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(TOKENS, &k))?);
            let entry: TokenEntry = serde_json::from_slice(&plain)?;
            if entry.until_ms <= now
                && self
                    .tokens
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        for kv in self.sessions.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(SESSIONS, &k))?);
            let mut state = decode_state(&plain)?;
            state.expire(now);
            // a session that saved in between wrote a newer state: the swap fails and it stays
            if state.is_idle()
                && self
                    .sessions
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
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
mod tests {
    use super::*;
    use crate::domain::otp::{FreshCode, OtpKeys, OtpPolicy, Purpose};
    use crate::seal::KEY_LEN;
    use crate::store::{Channel, OutboxSummary, Store, test_store};

    fn open(dir: &std::path::Path) -> Store {
        test_store(dir, 1, 2).unwrap()
    }

    const POLICY: OtpPolicy = OtpPolicy {
        length: 6,
        ttl_ms: 600_000,
        max_attempts: 5,
        cooldown_ms: 30_000,
        per_hour: 5,
        per_day: 10,
        sms_per_code: 3,
    };

    fn sms(text: &str) -> OutboxRecord {
        OutboxRecord {
            message_id: "m-1".into(),
            channel: Channel::Sms,
            key: "9876543210".into(),
            payload: serde_json::json!({"mobileNumber": "9876543210", "message": text}),
            created_ms: 5,
            expires_ms: None,
            attempts: 0,
            last_error: None,
            tenant: None,
            labels: None,
        }
    }

    #[tokio::test]
    async fn a_send_and_its_payload_survive_a_reopen_and_nothing_is_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let token = uuid::Uuid::new_v4();
        let keys = OtpKeys::new(&[7; KEY_LEN]);
        let code = {
            let store = open(dir.path());
            let otp = store.otp();
            let key = otp.session_key("pb", "9876543210");
            let mut state = otp.load(&key).unwrap();
            let sent = state
                .send(
                    0,
                    Purpose::Login,
                    FreshCode {
                        token_id: token,
                        nonce: [5; 16],
                    },
                    &keys,
                    &POLICY,
                    None,
                )
                .unwrap()
                .into_sms()
                .unwrap();
            let code = keys.derive_code(&sent.code.nonce, 6);
            let owner = TokenOwner {
                identity: "9876543210".into(),
                tenant: "pb".into(),
            };
            otp.save(
                &key,
                &state,
                Some(TokenRecord {
                    id: token,
                    owner: &owner,
                    until_ms: sent.code.expires_ms,
                }),
                &[sms(&format!("Your OTP is {code}"))],
            )
            .await
            .unwrap();
            code
        };
        let store = open(dir.path());
        let otp = store.otp();
        let key = otp.session_key("pb", "9876543210");
        let (found, owner) = otp.session_of_token(&token).unwrap().unwrap();
        assert_eq!(
            (found, owner.identity.as_str(), owner.tenant.as_str()),
            (key, "9876543210", "pb")
        );
        let mut state = otp.load(&key).unwrap();
        assert!(state.validate(1, None, &code, &keys).is_ok());
        let batch = store.outbox().batch(10).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].1.payload["message"], format!("Your OTP is {code}"));
        store.outbox().ack(batch[0].0).unwrap();
        assert_eq!(store.outbox().depth(), 0);
        drop(store);
        for entry in std::fs::read_dir(dir.path().join("db")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                for needle in [code.as_bytes(), b"9876543210".as_slice()] {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle),
                        "clear value in {}",
                        path.display()
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn an_idle_state_is_removed_and_outbox_failures_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let otp = store.otp();
        let key = otp.session_key("pb", "9000000000");
        let seqs = otp
            .save(
                &key,
                &OtpSessionState::default(),
                None,
                &[sms("a"), sms("b")],
            )
            .await
            .unwrap();
        assert_eq!(seqs.len(), 2);
        assert!(seqs[0] < seqs[1]);
        assert_eq!(otp.load(&key).unwrap(), OtpSessionState::default());
        let (seq, mut rec) = store.outbox().batch(1).unwrap().remove(0);
        rec.attempts += 1;
        rec.last_error = Some("broker down".into());
        store.outbox().failed(seq, &rec).unwrap();
        assert_eq!(store.outbox().batch(1).unwrap()[0].1.attempts, 1);
        assert_eq!(store.outbox().depth(), 2);
        assert_eq!(
            store.outbox().summary(1_005).unwrap(),
            OutboxSummary {
                depth: 2,
                oldest_age_ms: Some(1_000),
                max_attempts: 1,
                last_error: Some("broker down".into()),
            }
        );
    }

    fn owner() -> TokenOwner {
        TokenOwner {
            identity: "9000000001".into(),
            tenant: "pb".into(),
        }
    }

    #[tokio::test]
    async fn prune_forgets_ended_token_entries_and_idle_states_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let otp = store.otp();
        let keys = OtpKeys::new(&[7; KEY_LEN]);
        let (live, idle) = (
            otp.session_key("pb", "9000000001"),
            otp.session_key("pb", "9000000002"),
        );
        let (token_live, token_old) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let fresh = |token: uuid::Uuid| FreshCode {
            token_id: token,
            nonce: [1; 16],
        };
        // a send at 0 on one number, and a direct code at 0 on another that nobody used
        let mut state = OtpSessionState::default();
        state
            .send(0, Purpose::Register, fresh(token_old), &keys, &POLICY, None)
            .unwrap();
        otp.save(&live, &state, None, &[]).await.unwrap();
        assert!(
            otp.session_of_token(&token_old).unwrap().is_none(),
            "a send enters no token"
        );
        let mut direct = OtpSessionState::default();
        let code = direct.issue_direct(0, fresh(token_live), &keys, &POLICY);
        let record = TokenRecord {
            id: token_live,
            owner: &owner(),
            until_ms: code.expires_ms,
        };
        otp.save(&idle, &direct, Some(record), &[]).await.unwrap();

        // before anything ended: nothing goes
        assert_eq!(otp.prune(POLICY.ttl_ms - 1).unwrap(), 0);
        assert!(otp.session_of_token(&token_live).unwrap().is_some());
        // the direct code expired: its entry and its session's state go; the send is remembered a day
        assert_eq!(otp.prune(POLICY.ttl_ms).unwrap(), 2);
        assert!(otp.session_of_token(&token_live).unwrap().is_none());
        assert_eq!(otp.load(&idle).unwrap(), OtpSessionState::default());
        assert!(!otp.load(&live).unwrap().sends.is_empty());
        // a day after the send the other state goes too
        assert_eq!(otp.prune(crate::domain::otp::DAY_MS).unwrap(), 1);
        assert_eq!(otp.load(&live).unwrap(), OtpSessionState::default());
    }

    #[tokio::test]
    async fn states_read_from_json_and_are_written_compact() {
        let keys = OtpKeys::new(&[7; KEY_LEN]);
        let mut state = OtpSessionState::default();
        let fresh = FreshCode {
            token_id: uuid::Uuid::new_v4(),
            nonce: [3; 16],
        };
        state
            .send(5, Purpose::Login, fresh, &keys, &POLICY, None)
            .unwrap();
        state.consumed.push((uuid::Uuid::new_v4(), 4));
        let json = serde_json::to_vec(&state).unwrap();
        assert_eq!(decode_state(&json).unwrap(), state);
        let compact = encode_state(&state).unwrap();
        assert_eq!(decode_state(&compact).unwrap(), state);
        assert!(
            compact.len() * 2 < json.len(),
            "{} vs {}",
            compact.len(),
            json.len()
        );
        assert!(decode_state(b"\x07junk").is_err());
        assert_eq!(compact[0], STATE_POSTCARD);
        assert!(decode_state(&compact[..compact.len() - 3]).is_err());

        // a JSON state stored by an earlier build is read through the store
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let otp = store.otp();
        let key = otp.session_key("pb", "9000000003");
        let sealed = otp.keyring.seal(&json, &aad(SESSIONS, &key.0)).unwrap();
        otp.sessions.insert(key.0, sealed).unwrap();
        assert_eq!(otp.load(&key).unwrap(), state);
    }

    #[test]
    fn states_of_the_first_postcard_layout_read_with_their_codes_sent_once() {
        // tag 1 as the earlier build wrote it, spelled out from postcard's wire format: a map is a varint
        // count and its entries, a unit variant its varint index, a uuid a length-prefixed byte string, an
        // array its bytes, an i64 a zigzag varint
        let mut stored = vec![1, 1, 1]; // tag, one code, Purpose::Login (variant 1)
        stored.extend([16].iter().chain(&[4; 16])); // token_id
        stored.extend([1; 16]); // nonce
        stored.extend([2; 32]); // hash
        stored.extend([0x14]); // created_ms 10
        stored.extend([0x94, 0x9f, 0x49]); // expires_ms 600_010
        stored.extend([4]); // tries_left
        stored.extend([1, 0x14]); // sends [10]
        stored.extend([1, 16]); // consumed: one, its uuid …
        stored.extend([6; 16]);
        stored.extend([0x12]); // … at 9
        let state = decode_state(&stored).unwrap();
        let login = state.codes.get(Purpose::Login).unwrap();
        assert_eq!(
            (login.token_id, login.nonce, login.hash, login.created_ms),
            (uuid::Uuid::from_bytes([4; 16]), [1; 16], [2; 32], 10)
        );
        assert_eq!(
            (login.expires_ms, login.tries_left, login.sms_sent),
            (600_010, 4, 1)
        );
        assert_eq!(state.codes.len(), 1);
        assert_eq!(state.sends, [10]);
        assert_eq!(state.consumed, [(uuid::Uuid::from_bytes([6; 16]), 9)]);
        assert!(
            decode_state(&stored[..stored.len() - 1]).is_err(),
            "a cut state is refused"
        );
        // and it is written back in today's layout
        let today = encode_state(&state).unwrap();
        assert_eq!(today[0], STATE_POSTCARD);
        assert_eq!(decode_state(&today).unwrap(), state);
    }
}
