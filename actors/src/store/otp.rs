//! OTP sessions and the notification outbox on sled.
//!
//! Trees:
//! - `otp_sessions`: blind(state tenant, mobile) → the session's [`OtpSessionState`], sealed (AAD = tree/key).
//!   No mobile number is stored in clear; the state holds nonces and HMACs, never a code.
//! - `otp_tokens`: token id (16 bytes) → session key, so `/otp/v1/_search` finds a token's session.
//! - `outbox`: sequence (big-endian u64) → an [`OutboxRecord`], sealed: payloads carry the OTP and the
//!   mobile number until the sink acknowledged them.
//!
//! A send writes the new session state, its token entry and its payloads in one transaction, and returns once
//! they are on disk: an SMS is never queued for a code that was not stored, and an acknowledged send is
//! never lost.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{GroupCommit, StoreError};
use crate::domain::otp::OtpSessionState;
use crate::seal::{BLIND_LEN, BlindIndexer, IndexedField, Keyring};

const SESSIONS: &str = "otp_sessions";
const TOKENS: &str = "otp_tokens";
const OUTBOX: &str = "outbox";

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
}

/// Which channel a notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMS topic.
    Sms,
    /// E-mail topic.
    Email,
}

impl Channel {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// A notification waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Unique id carried to the consumer (`message-id`) for de-duplication.
    pub message_id: String,
    /// Channel.
    pub channel: Channel,
    /// Message key (the mobile number or e-mail address).
    pub key: String,
    /// The payload exactly as the consumer expects it.
    pub payload: serde_json::Value,
    /// When it was queued, epoch ms.
    pub created_ms: i64,
    /// After this moment (the code's expiry) delivering it is pointless and it is dropped, epoch ms.
    pub expires_ms: Option<i64>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error, if any.
    pub last_error: Option<String>,
    /// The tenant the request named (the topic prefix of a central instance); absent in records written
    /// before it was kept.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Metric labels of the send that queued it: purpose and tenant label.
    #[serde(default)]
    pub labels: Option<(String, String)>,
}

/// The outbox at a glance (`digit-user admin outbox`, `GET /admin/outbox`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    /// Records waiting.
    pub depth: usize,
    /// Age of the oldest, ms.
    pub oldest_age_ms: Option<i64>,
    /// Most delivery attempts of one record.
    pub max_attempts: u32,
    /// The delivery error of the newest record that has one.
    pub last_error: Option<String>,
}

/// OTP sessions, tokens and the outbox.
pub struct OtpStore {
    sessions: sled::Tree,
    tokens: sled::Tree,
    outbox: sled::Tree,
    keyring: std::sync::Arc<Keyring>,
    blind: BlindIndexer,
    commit: GroupCommit,
    db: sled::Db,
    /// Records in the outbox, kept beside the tree: sled's `len()` walks the whole tree, and every send
    /// checks the depth.
    depth: std::sync::atomic::AtomicUsize,
}

impl OtpStore {
    pub(super) fn open(
        db: &sled::Db,
        keyring: std::sync::Arc<Keyring>,
        blind: BlindIndexer,
        commit: GroupCommit,
    ) -> Result<Self, StoreError> {
        let outbox = db.open_tree(OUTBOX)?;
        let outbox_len = outbox.len();
        Ok(Self {
            sessions: db.open_tree(SESSIONS)?,
            tokens: db.open_tree(TOKENS)?,
            outbox,
            keyring,
            blind,
            commit,
            db: db.clone(),
            depth: std::sync::atomic::AtomicUsize::new(outbox_len),
        })
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
                Ok(serde_json::from_slice(&plain)?)
            }
        }
    }

    /// The session that issued token `token_id`, and to whom.
    pub fn session_of_token(
        &self,
        token_id: &str,
    ) -> Result<Option<(SessionKey, TokenOwner)>, StoreError> {
        let Ok(uuid) = uuid::Uuid::parse_str(token_id) else {
            return Ok(None);
        };
        let Some(raw) = self.tokens.get(uuid.as_bytes())? else {
            return Ok(None);
        };
        let plain =
            zeroize::Zeroizing::new(self.keyring.open(&raw, &aad(TOKENS, uuid.as_bytes()))?);
        let entry: TokenEntry = serde_json::from_slice(&plain)?;
        Ok(Some((SessionKey(entry.session), entry.owner)))
    }

    /// Stores `state` with the token `new_token` (if a code was issued) and `notifications`, in one
    /// transaction, and waits until it is on disk. Returns the outbox sequence numbers.
    pub async fn save(
        &self,
        key: &SessionKey,
        state: &OtpSessionState,
        new_token: Option<(&str, &TokenOwner)>,
        notifications: &[OutboxRecord],
    ) -> Result<Vec<u64>, StoreError> {
        let sealed_state = if state.is_idle() {
            None
        } else {
            Some(self.seal(state, SESSIONS, &key.0)?)
        };
        let mut outbox = Vec::with_capacity(notifications.len());
        for record in notifications {
            let seq = self.db.generate_id()?;
            let seq_key = seq.to_be_bytes();
            outbox.push((seq, self.seal(record, OUTBOX, &seq_key)?));
        }
        let token = match new_token
            .and_then(|(t, owner)| uuid::Uuid::parse_str(t).ok().map(|u| (u, owner)))
        {
            Some((uuid, owner)) => {
                let entry = TokenEntry {
                    session: key.0,
                    owner: owner.clone(),
                };
                Some((uuid, self.seal(&entry, TOKENS, uuid.as_bytes())?))
            }
            None => None,
        };
        (&self.sessions, &self.tokens, &self.outbox)
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
        self.depth
            .fetch_add(outbox.len(), std::sync::atomic::Ordering::Relaxed);
        self.commit.commit().await?;
        Ok(outbox.into_iter().map(|(seq, _)| seq).collect())
    }

    /// Up to `limit` outbox records, oldest first.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<(u64, OutboxRecord)>, StoreError> {
        self.outbox
            .iter()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let seq = u64::from_be_bytes(
                    k.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("outbox key".into()))?,
                );
                let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(OUTBOX, &k))?);
                Ok((seq, serde_json::from_slice(&plain)?))
            })
            .collect()
    }

    /// Removes a delivered record.
    pub fn outbox_ack(&self, seq: u64) -> Result<(), StoreError> {
        if self.outbox.remove(seq.to_be_bytes())?.is_some() {
            self.depth
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes delivered records in one batch.
    pub fn outbox_ack_all(&self, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for seq in seqs {
            batch.remove(&seq.to_be_bytes());
        }
        self.outbox.apply_batch(batch)?;
        self.depth
            .fetch_sub(seqs.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Records a failed attempt on a record.
    pub fn outbox_failed(&self, seq: u64, record: &OutboxRecord) -> Result<(), StoreError> {
        let key = seq.to_be_bytes();
        self.outbox.insert(key, self.seal(record, OUTBOX, &key)?)?;
        Ok(())
    }

    /// What waits in the outbox: depth, the oldest record's age and the latest delivery error.
    pub fn outbox_summary(&self, now: i64) -> Result<OutboxSummary, StoreError> {
        let mut summary = OutboxSummary::default();
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let plain = zeroize::Zeroizing::new(self.keyring.open(&v, &aad(OUTBOX, &k))?);
            let record: OutboxRecord = serde_json::from_slice(&plain)?;
            summary.depth += 1;
            let age = (now - record.created_ms).max(0);
            summary.oldest_age_ms = Some(summary.oldest_age_ms.map_or(age, |a| a.max(age)));
            summary.max_attempts = summary.max_attempts.max(record.attempts);
            if record.last_error.is_some() {
                summary.last_error = record.last_error;
            }
        }
        Ok(summary)
    }

    /// Records waiting.
    pub fn outbox_depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn seal<T: Serialize>(&self, value: &T, tree: &str, key: &[u8]) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value)?);
        Ok(self.keyring.seal(&plain, &aad(tree, key))?)
    }
}

fn aad(tree: &str, key: &[u8]) -> Vec<u8> {
    [tree.as_bytes(), b"/", key].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::otp::{FreshCode, OtpKeys, OtpPolicy, Purpose};
    use crate::seal::KEY_LEN;
    use crate::store::{Store, test_store};

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
        let token = uuid::Uuid::new_v4().to_string();
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
                        token_id: token.clone(),
                        nonce: [5; 16],
                    },
                    &keys,
                    &POLICY,
                )
                .unwrap();
            let code = keys.derive_code(&sent.code.nonce, 6);
            let owner = TokenOwner {
                identity: "9876543210".into(),
                tenant: "pb".into(),
            };
            otp.save(
                &key,
                &state,
                Some((&token, &owner)),
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
        let batch = otp.outbox_batch(10).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].1.payload["message"], format!("Your OTP is {code}"));
        otp.outbox_ack(batch[0].0).unwrap();
        assert_eq!(otp.outbox_depth(), 0);
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
        let (seq, mut rec) = otp.outbox_batch(1).unwrap().remove(0);
        rec.attempts += 1;
        rec.last_error = Some("broker down".into());
        otp.outbox_failed(seq, &rec).unwrap();
        assert_eq!(otp.outbox_batch(1).unwrap()[0].1.attempts, 1);
        assert_eq!(otp.outbox_depth(), 2);
        assert_eq!(
            otp.outbox_summary(1_005).unwrap(),
            OutboxSummary {
                depth: 2,
                oldest_age_ms: Some(1_000),
                max_attempts: 1,
                last_error: Some("broker down".into()),
            }
        );
    }
}
