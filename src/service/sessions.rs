//! Sessions: what a login hands out and how it ends.
//!
//! A login opens a refresh *family*: an access token (a JWT, [`crate::service::tokens`]) and a refresh token (240
//! random bits after two bytes naming its partition; only its SHA-256 is stored). A refresh rotates the refresh
//! token and replaces the access token; a spent refresh token presented again within the grace window gets the
//! tokens its first refresh issued (two tabs racing: one chain), after it revokes the whole family (a stolen
//! token was used). Logout, a lock and a password change revoke
//! families. Revocations live in memory — loaded from sled at start, written through — so `/user/_details`
//! answers from the token and this set alone.

use actors::partition::Partition;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actors::Clock;
use actors::domain::UserRecord;
use actors::metrics as m;
use actors::store::{Family, RefreshOutcome, Seen, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::service::tokens::{Snapshot, TokenCodec, TokenError, Verified};

mod admin;
mod revocations;
pub use admin::SessionView;
pub use revocations::{FeedError, FeedFuture, RevocationFeed};
use revocations::{ROTATION, Revocations};

/// Access tokens remembered as verified at most (then the cache starts over).
const VERIFIED_CACHE: usize = 16_384;

/// A login's or refresh's tokens.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Issued {
    /// The access token (JWT).
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// The user as the token carries it.
    pub snapshot: Snapshot,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, revoked or malformed token.
    #[error("invalid token")]
    Invalid,
    /// A refresh token past its family's end.
    #[error("expired token")]
    Expired,
    /// A spent refresh token reused after the grace window; the family is revoked.
    #[error("refresh token reused")]
    Reused,
    /// The user is locked.
    #[error("account locked")]
    Locked,
    /// The user is inactive.
    #[error("account inactive")]
    Inactive,
    /// A token could not be minted.
    #[error("token could not be minted")]
    Mint,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Token lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Access token, ms.
    pub access_ms: i64,
    /// Refresh family, ms.
    pub refresh_ms: i64,
    /// Grace window for a spent refresh token, ms.
    pub grace_ms: i64,
}

/// The key the tokens a refresh issued are kept under: derived from the refresh token it spent, which is
/// stored nowhere (only its hash is), so neither the data dir nor the deployment's keys open them — only the
/// token's holder, presenting it again within the grace window.
fn successor_keyring(refresh_token: &str) -> actors::seal::Keyring {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(refresh_token.as_bytes())
        .expect("any key length");
    mac.update(b"digit-user refresh successor");
    let key: [u8; 32] = mac.finalize().into_bytes().into();
    actors::seal::Keyring::new(&[(1, key)]).expect("one key is a keyring")
}

/// The client using a session: kept with it (sealed) to show an operator which sessions a user has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// Its address, when known.
    pub source: Option<String>,
    /// Its `User-Agent`, at most 200 characters.
    pub user_agent: Option<String>,
}

impl Client {
    /// The client of a request from `source` with `user_agent` (cut to 200 characters).
    pub fn new(source: Option<std::net::IpAddr>, user_agent: Option<&str>) -> Self {
        Self {
            source: source.map(|ip| ip.to_string()),
            user_agent: user_agent.map(|ua| ua.chars().take(200).collect()),
        }
    }

    fn seen(&self, at: i64) -> Seen {
        Seen {
            at,
            source: self.source.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// Sessions over the store.
pub struct Sessions {
    codec: Arc<TokenCodec>,
    store: Arc<Store>,
    revoked: Revocations,
    /// Tokens verified before, by the SHA-256 of the whole token.
    verified: RwLock<HashMap<[u8; 32], Arc<Verified>>>,
    clock: Clock,
    life: Lifetimes,
    /// Where revocations are published for every pod (the journal's revocations topic).
    feed: Option<Arc<dyn RevocationFeed>>,
}

impl Sessions {
    /// The service, with the revocations in force in the store.
    pub fn load(
        codec: Arc<TokenCodec>,
        store: Arc<Store>,
        clock: Clock,
        life: Lifetimes,
    ) -> Result<Self, StoreError> {
        let sessions = Self {
            codec,
            store,
            revoked: Revocations::default(),
            verified: RwLock::new(HashMap::new()),
            clock,
            life,
            feed: None,
        };
        sessions.load_revocations()?;
        Ok(sessions)
    }

    /// Publishes every revocation made here to `feed`, which every pod reads (the journal on).
    pub fn with_feed(mut self, feed: Arc<dyn RevocationFeed>) -> Self {
        self.feed = Some(feed);
        self
    }

    /// Forgets what ended: expired revocations in memory (and in the feed, which drops them at its next
    /// compaction), and expired revocations, families and refresh tokens on disk. Returns the number of
    /// entries removed from disk.
    pub async fn prune(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let ended = self.revoked.remove_ended(now);
        if let Some(feed) = &self.feed
            && !ended.is_empty()
            && let Err(e) = feed.forget(ended).await
        {
            tracing::warn!(error = %e, "ended revocations stay in the feed until the next prune");
        }
        self.store.logins().prune(now).await
    }

    /// Now, by the service's clock (epoch ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Opens a session (a new family) for `user` with `scope`, used by `client`.
    pub async fn open(
        &self,
        user: &UserRecord,
        scope: &str,
        client: &Client,
    ) -> Result<Issued, SessionError> {
        let now = self.clock.now_ms();
        let family_id = uuid::Uuid::new_v4().to_string();
        let snapshot = Snapshot::of(user);
        let access = self.mint(&snapshot, &family_id, now)?;
        let (refresh, hash) = new_refresh_token(self.store.homes().of_id(user.id));
        let family = Family {
            user: user.uuid.clone(),
            user_type: user.user_type.as_str().to_owned(),
            scope: scope.to_owned(),
            expires_ms: now + self.life.refresh_ms,
            access_jti: access.jti.clone(),
            access_expires_ms: access.expires_at * 1000,
            revoked: false,
            opened: Some(client.seen(now)),
            last_used: None,
        };
        self.store
            .logins()
            .open_family(&family_id, &family, &hash)
            .await?;
        Ok(Issued {
            access_token: access.token,
            refresh_token: refresh,
            expires_in: self.life.access_ms / 1000,
            scope: scope.to_owned(),
            snapshot,
        })
    }

    /// The refresh grant: rotates `refresh_token` and mints a new access token from the current user record;
    /// `client` is kept as the session's last use.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &Client,
    ) -> Result<Issued, SessionError> {
        let now = self.clock.now_ms();
        let old = hash_refresh_token(refresh_token).ok_or(SessionError::Invalid)?;
        let (family_id, family) = self
            .store
            .logins()
            .peek_refresh(&old)?
            .ok_or(SessionError::Invalid)?;
        // revoked in memory too: a logout whose journal write failed (answered 503) ended the family here
        if family.revoked || Revocations::contains(&self.revoked.families, &family_id) {
            return Err(SessionError::Invalid);
        }
        if now >= family.expires_ms {
            return Err(SessionError::Expired);
        }
        let user = self
            .store
            .users()
            .get_by_uuid(&family.user)?
            .filter(|u| u.user_type.as_str() == family.user_type)
            .ok_or(SessionError::Invalid)?;
        if user.account_locked {
            return Err(SessionError::Locked);
        }
        if !user.active {
            return Err(SessionError::Inactive);
        }
        let snapshot = Snapshot::of(&user);
        let access = self.mint(&snapshot, &family_id, now)?;
        let (refresh, new) = new_refresh_token(self.store.homes().of_id(user.id));
        let issued = Issued {
            access_token: access.token,
            refresh_token: refresh,
            expires_in: self.life.access_ms / 1000,
            scope: family.scope,
            snapshot,
        };
        // kept with the spent token, sealed under a key only that token gives: a use of it within the grace
        // window gets these same tokens
        let successor = {
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(&issued).map_err(|_| SessionError::Mint)?,
            );
            successor_keyring(refresh_token)
                .seal(&plain, &old)
                .map_err(|_| SessionError::Mint)?
        };
        let outcome = self
            .store
            .logins()
            .refresh(
                &old,
                &new,
                (&access.jti, access.expires_at * 1000),
                &successor,
                &client.seen(now),
                self.life.grace_ms,
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated { previous } => {
                // the replaced access token ended with the rotation, as DIGIT removed it on refresh
                self.remember_revoked(
                    &[],
                    &[(previous.access_jti, previous.access_expires_ms)],
                    ROTATION,
                    false,
                )
                .await;
                Ok(issued)
            }
            RefreshOutcome::Repeated(sealed) => {
                let first = zeroize::Zeroizing::new(
                    successor_keyring(refresh_token)
                        .open(&sealed, &old)
                        .map_err(|_| SessionError::Invalid)?,
                );
                serde_json::from_slice(&first).map_err(|_| SessionError::Invalid)
            }
            RefreshOutcome::Reused(f) => {
                metrics::counter!(m::REFRESH_REUSE).increment(1);
                tracing::warn!(uuid = %f.user, "a spent refresh token was reused: its session family is revoked");
                self.remember_revoked(&[(family_id.clone(), f.expires_ms)], &[], "reuse", true)
                    .await;
                self.audit_revoked(&f.user, "reuse", 1);
                Err(SessionError::Reused)
            }
            RefreshOutcome::Unknown | RefreshOutcome::Dead => Err(SessionError::Invalid),
        }
    }

    /// Verifies an access token: signature, expiry and the revocation set. No store read. A token verified
    /// before is found in a bounded cache keyed by the SHA-256 of the whole token — only the exact string
    /// that was verified hits it, so no altered header, payload or signature borrows its verdict (neither
    /// the signature nor the sealed snapshot is checked again); expiry and revocation are checked on every
    /// call.
    pub fn verify(&self, token: &str) -> Result<Arc<Verified>, TokenError> {
        let verified = self.authentic(token)?;
        if self.is_revoked(&verified) {
            return Err(TokenError::Invalid);
        }
        Ok(verified)
    }

    /// Whether `verified`'s access token or its family is in the in-memory revocation set.
    fn is_revoked(&self, verified: &Verified) -> bool {
        Revocations::contains(&self.revoked.access, &verified.jti)
            || Revocations::contains(&self.revoked.families, &verified.family)
    }

    /// Checks an access token's signature and expiry (not the revocation set), through the cache.
    fn authentic(&self, token: &str) -> Result<Arc<Verified>, TokenError> {
        let now_secs = self.clock.now_ms() / 1000;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let verified = match cached {
            // verified under the keys still in force: expiry and a previous key's grace checked again
            Some(v) if v.keys == self.codec.generation() => {
                if v.key_until.is_some_and(|until| now_secs >= until) {
                    return Err(TokenError::Invalid);
                }
                if now_secs >= v.expires_at {
                    return Err(TokenError::Expired);
                }
                v
            }
            _ => {
                let v = Arc::new(self.codec.verify(token, now_secs)?);
                let mut cache = self
                    .verified
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.len() >= VERIFIED_CACHE {
                    cache.clear(); // bounded: start over rather than track recency on the hot path
                }
                cache.insert(key, v.clone());
                v
            }
        };
        Ok(verified)
    }

    /// Logout: revokes the access token's whole family (its refresh tokens too). A logout that failed
    /// (the journal or the revocations topic did not confirm; its answer a 503) left the family revoked
    /// in memory only: the client's retry makes it again.
    pub async fn logout(&self, token: &str) -> Result<(), SessionError> {
        let verified = self.authentic(token).map_err(|_| SessionError::Invalid)?;
        let family = self.store.logins().family_by_id(&verified.family)?;
        let unfinished = Revocations::contains(&self.revoked.families, &verified.family)
            && family.as_ref().is_some_and(|f| !f.revoked);
        if self.is_revoked(&verified) && !unfinished {
            return Err(SessionError::Invalid);
        }
        let until = family.map_or(verified.expires_at * 1000, |f| f.expires_ms);
        self.revoke(
            &verified.snapshot.uuid,
            &[(verified.family.clone(), until)],
            &[(verified.jti.clone(), verified.expires_at * 1000)],
            "logout",
        )
        .await
    }

    /// Revokes every live session of user `uuid` except family `keep`; returns how many were revoked.
    pub async fn revoke_user(
        &self,
        uuid: &str,
        keep: Option<&str>,
        reason: &'static str,
    ) -> Result<usize, SessionError> {
        let now = self.clock.now_ms();
        let families: Vec<(String, i64)> = self
            .store
            .logins()
            .families_of(uuid, now)?
            .into_iter()
            .filter(|(id, _)| Some(id.as_str()) != keep)
            .map(|(id, f)| (id, f.expires_ms))
            .collect();
        self.revoke(uuid, &families, &[], reason).await?;
        Ok(families.len())
    }

    fn mint(
        &self,
        snapshot: &Snapshot,
        family: &str,
        now_ms: i64,
    ) -> Result<crate::service::tokens::Minted, SessionError> {
        self.codec
            .mint(snapshot, family, now_ms / 1000, self.life.access_ms / 1000)
            .map_err(|_| SessionError::Mint)
    }
}

/// A new refresh token for a user of home partition `home`, and its stored hash. The first two bytes are the
/// partition (so any pod can route a refresh to the pod holding the family); 240 random bits remain.
fn new_refresh_token(home: Partition) -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    raw[..2].copy_from_slice(&home.0.to_be_bytes());
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = Sha256::digest(token.as_bytes()).into();
    (token, hash)
}

/// The partition a refresh token was minted for; `None` when it cannot be one of ours.
pub fn refresh_token_partition(token: &str) -> Option<Partition> {
    hash_refresh_token(token)?;
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    Some(Partition(u16::from_be_bytes([raw[0], raw[1]])))
}

/// The stored hash of a presented refresh token; `None` when it cannot be one of ours.
fn hash_refresh_token(token: &str) -> Option<[u8; 32]> {
    let token = token.trim();
    (token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| Sha256::digest(token.as_bytes()).into())
}
