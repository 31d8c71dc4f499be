//! The keys in force — sealing, token signing, OTP pepper — and changing them while the service runs.
//!
//! Each is a key list ([`crate::secrets`]): one key of a list is used (it seals, signs, issues codes), every
//! key opens, verifies, checks. The key used is pinned in the data dir ([`actors::store::KeyPins`]): nothing
//! pinned, the highest id. A rotation adds a key to each list in the secrets' sources and then, on every
//! pod, [`Keys::load`]s them (they open, verify and check from then on, nothing uses them yet) and, once every
//! pod has, `load`s with `promote` (the highest id of each list is used from then on, pinned: a restart keeps
//! it). So no pod seals, signs or issues under a key another pod cannot read yet. A previous token key
//! verifies for `tokens.previous_key_grace_secs` after the promotion (at least an access token's validity:
//! nobody is logged out); a previous pepper checks and re-sends the codes it issued while they live; a previous
//! sealing key opens what is sealed under it until [`Keys::reseal`] moved everything under the current one.
//! `digit-user admin rotate-keys` drives it all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actors::Clock;
use actors::domain::otp::OtpKeys;
use actors::store::{KeyPin, KeyPins, Store, StoreError};
use serde::Serialize;

use crate::config::MapEnv;
use crate::secrets::{
    KeyList, OTP_PEPPER, SEALING_KEYS, SecretError, SecretName, Secrets, TOKEN_KEY,
};
use crate::service::tokens::{KeyInForce, TokenCodec};

/// Why keys were not changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The secrets could not be read again.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A list no longer holds a key that is needed.
    #[error("{0}")]
    Needed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A re-sealing is running already.
    #[error("a re-sealing is running already")]
    Busy,
}

/// Where the secrets are read from again: the data dir and the environment as it was at start (its
/// `*_FILE` variables name files, which are read again).
pub struct SecretSource {
    data_dir: PathBuf,
    env: MapEnv,
}

impl SecretSource {
    /// The secrets' variables of `env` (values and `*_FILE` names), kept for later reads.
    pub fn new(data_dir: PathBuf, env: &dyn crate::config::EnvSource) -> Self {
        let names = [
            SEALING_KEYS,
            TOKEN_KEY,
            OTP_PEPPER,
            crate::secrets::BLIND_INDEX_KEY,
        ];
        let vars = names
            .iter()
            .flat_map(|n| [n.var.to_owned(), format!("{}_FILE", n.var)])
            .filter_map(|var| env.var(&var).map(|v| (var, v)))
            .collect();
        Self {
            data_dir,
            env: MapEnv(vars),
        }
    }

    fn read(&self) -> Result<Secrets, SecretError> {
        Secrets::load_or_generate(&self.data_dir, &self.env, false)
    }
}

/// One key list as `/admin/keys` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListStatus {
    /// The key id used.
    pub current: u32,
    /// Used since, epoch ms.
    pub since: i64,
    /// Every key id loaded.
    pub ids: Vec<u32>,
}

/// The keys in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysStatus {
    /// Sealing keys.
    pub sealing: ListStatus,
    /// Token signing keys.
    pub token: ListStatus,
    /// The token keys by `kid`, with the end of a previous key's grace.
    pub token_keys: Vec<KeyInForce>,
    /// OTP peppers.
    pub pepper: ListStatus,
}

/// A re-sealing's progress (`/admin/keys`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResealStatus {
    /// Running now.
    pub running: bool,
    /// Values read so far.
    pub scanned: usize,
    /// Values written under the current key so far.
    pub resealed: usize,
    /// Values when it started.
    pub total: usize,
    /// Started, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Finished, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Why it stopped, when it failed (run it again: it resumes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The service's keys.
pub struct Keys {
    store: Arc<Store>,
    tokens: Arc<TokenCodec>,
    otp: OtpKeys,
    source: SecretSource,
    clock: Clock,
    token_grace_ms: i64,
    /// The token key ids loaded (the codec knows them by `kid`).
    token_ids: Mutex<Vec<u32>>,
    /// One change of keys at a time.
    changing: tokio::sync::Mutex<()>,
    reseal: Arc<Mutex<ResealStatus>>,
}

/// The key of `list` to use: the pinned one while the list holds it, else the highest id (from now).
fn choose(list: &KeyList, pin: Option<KeyPin>, now: i64) -> KeyPin {
    match pin {
        Some(pin) if list.iter().any(|(id, _)| *id == pin.id) => pin,
        _ => KeyPin {
            id: list.iter().map(|(id, _)| *id).max().unwrap_or(1),
            since_ms: now,
        },
    }
}

/// The highest id of `list`, from `now` — or `pin` when that is it already.
fn promoted(list: &KeyList, pin: KeyPin, now: i64) -> KeyPin {
    let highest = list.iter().map(|(id, _)| *id).max().unwrap_or(pin.id);
    match highest == pin.id {
        true => pin,
        false => KeyPin {
            id: highest,
            since_ms: now,
        },
    }
}

fn ids(list: &KeyList) -> Vec<u32> {
    let mut ids: Vec<u32> = list.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids
}

impl Keys {
    /// Puts `secrets` in force as the data dir pins them (pinning the highest ids where nothing is yet):
    /// the store's keyring, the token codec and the OTP peppers this returns.
    pub fn start(
        store: Arc<Store>,
        secrets: &Secrets,
        source: SecretSource,
        clock: Clock,
        token_grace_ms: i64,
    ) -> Result<Self, KeyError> {
        let now = clock.now_ms();
        let pins = store.key_pins()?;
        let pins = KeyPins {
            sealing: Some(choose(&secrets.sealing, pins.sealing, now)),
            token: Some(choose(&secrets.token, pins.token, now)),
            pepper: Some(choose(&secrets.otp_pepper, pins.pepper, now)),
        };
        let (sealing, token, pepper) = unpinned(&pins);
        let tokens = TokenCodec::ring(
            &secrets.token,
            token.id,
            (token.since_ms + token_grace_ms) / 1000,
        )
        .ok_or_else(|| KeyError::Needed("no token signing key".into()))?;
        let otp = OtpKeys::ring(&secrets.otp_pepper, Some(pepper.id))
            .ok_or_else(|| KeyError::Needed("no OTP pepper".into()))?;
        store
            .keyring()
            .replace(&secrets.sealing, Some(sealing.id))
            .map_err(|e| KeyError::Needed(e.to_string()))?;
        store.pin_keys(&pins)?;
        Ok(Self {
            store,
            tokens: Arc::new(tokens),
            otp,
            source,
            clock,
            token_grace_ms,
            token_ids: Mutex::new(ids(&secrets.token)),
            changing: tokio::sync::Mutex::new(()),
            reseal: Arc::default(),
        })
    }

    /// The token codec (shared with the sessions).
    pub fn tokens(&self) -> Arc<TokenCodec> {
        self.tokens.clone()
    }

    /// The OTP peppers (shared with the OTP session actors).
    pub fn otp(&self) -> OtpKeys {
        self.otp.clone()
    }

    /// The keys in force.
    pub fn status(&self) -> Result<KeysStatus, KeyError> {
        let (sealing, token, pepper) = unpinned(&self.store.key_pins()?);
        let list = |pin: KeyPin, ids: Vec<u32>| ListStatus {
            current: pin.id,
            since: pin.since_ms,
            ids,
        };
        let token_ids = self
            .token_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(KeysStatus {
            sealing: list(sealing, self.store.keyring().key_ids()),
            token: list(token, token_ids),
            token_keys: self.tokens.in_force(),
            pepper: list(pepper, self.otp.ids().1),
        })
    }

    /// Reads the secrets again and puts their keys in force: with `promote`, the highest id of each list is
    /// used from now on (pinned); without, the keys used stay and the new ones only open, verify and check.
    /// Refused, changing nothing, when a list lacks the key in use, or the sealing keys lack one that values
    /// here are still sealed under.
    pub async fn load(&self, promote: bool) -> Result<KeysStatus, KeyError> {
        let _one = self.changing.lock().await;
        let secrets = self.source.read()?;
        let now = self.clock.now_ms();
        let (sealing, token, pepper) = unpinned(&self.store.key_pins()?);
        for (name, list, pin) in [
            (SEALING_KEYS, &secrets.sealing, sealing),
            (TOKEN_KEY, &secrets.token, token),
            (OTP_PEPPER, &secrets.otp_pepper, pepper),
        ] {
            if !list.iter().any(|(id, _)| *id == pin.id) {
                return Err(missing(name, pin.id));
            }
        }
        let (in_use, _) = self.sealed().await?;
        if let Some(id) = in_use
            .keys()
            .find(|id| **id != actors::store::reseal::PLAIN && !ids(&secrets.sealing).contains(id))
        {
            return Err(KeyError::Needed(format!(
                "values here are still sealed under key {id}, which {} no longer lists: keep it until \
                 `digit-user admin rotate-keys` reports nothing sealed under it",
                SEALING_KEYS.var
            )));
        }
        let pins = match promote {
            true => KeyPins {
                sealing: Some(promoted(&secrets.sealing, sealing, now)),
                token: Some(promoted(&secrets.token, token, now)),
                pepper: Some(promoted(&secrets.otp_pepper, pepper, now)),
            },
            false => KeyPins {
                sealing: Some(sealing),
                token: Some(token),
                pepper: Some(pepper),
            },
        };
        let (sealing, token, pepper) = unpinned(&pins);
        // the store first: pinned keys are in force when they are kept
        self.store
            .keyring()
            .replace(&secrets.sealing, Some(sealing.id))
            .map_err(|e| KeyError::Needed(e.to_string()))?;
        let grace_end = (token.since_ms + self.token_grace_ms) / 1000;
        if !self.tokens.replace(&secrets.token, token.id, grace_end)
            || !self.otp.replace(&secrets.otp_pepper, Some(pepper.id))
        {
            return Err(KeyError::Needed("a key list lost the key in use".into()));
        }
        *self
            .token_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ids(&secrets.token);
        self.store.pin_keys(&pins)?;
        tracing::info!(
            promote,
            sealing = sealing.id,
            token = token.id,
            pepper = pepper.id,
            "keys loaded"
        );
        self.status()
    }

    /// The sealed values here by key id ([`actors::store::reseal::PLAIN`]: plain JSON of an earlier build),
    /// and how many of them are held for another pod — a scan of the whole store, on the blocking pool, not an
    /// HTTP worker.
    pub async fn sealed(&self) -> Result<(BTreeMap<u32, usize>, usize), KeyError> {
        let store = self.store.clone();
        Ok(
            actix_web::rt::task::spawn_blocking(move || store.sealed_by_key())
                .await
                .map_err(|e| {
                    KeyError::Needed(format!("the count of sealed values stopped: {e}"))
                })??,
        )
    }

    /// The re-sealing's progress.
    pub fn resealing(&self) -> ResealStatus {
        self.reseal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts moving every value here under the current sealing key, in the background (`/admin/keys`
    /// tells the progress). Refused while one runs.
    pub async fn reseal(&self, batch: usize) -> Result<ResealStatus, KeyError> {
        let total = self.sealed().await?.0.values().sum();
        {
            let mut status = self
                .reseal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if status.running {
                return Err(KeyError::Busy);
            }
            *status = ResealStatus {
                running: true,
                total,
                started_at: Some(self.clock.now_ms()),
                ..ResealStatus::default()
            };
        }
        let (store, status, clock) = (self.store.clone(), self.reseal.clone(), self.clock.clone());
        actix_web::rt::spawn(async move {
            let progress = |done: actors::store::reseal::Resealed| {
                let mut s = status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (s.scanned, s.resealed) = (done.scanned, done.resealed);
            };
            let outcome = store.reseal(batch, progress).await;
            let mut s = status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.running = false;
            s.finished_at = Some(clock.now_ms());
            match outcome {
                Ok(done) => {
                    (s.scanned, s.resealed) = (done.scanned, done.resealed);
                    tracing::info!(
                        scanned = done.scanned,
                        resealed = done.resealed,
                        "re-sealing done"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "re-sealing stopped; run it again to resume");
                    s.error = Some(e.to_string());
                }
            }
        });
        Ok(self.resealing())
    }
}

fn missing(name: SecretName, id: u32) -> KeyError {
    KeyError::Needed(format!(
        "{} no longer lists key {id}, the key in use: add it back (a key in use is dropped only after a \
         rotation promoted another)",
        name.var
    ))
}

/// The three pins of `pins` (all set once [`Keys::start`] ran).
fn unpinned(pins: &KeyPins) -> (KeyPin, KeyPin, KeyPin) {
    let or_one = |p: Option<KeyPin>| p.unwrap_or(KeyPin { id: 1, since_ms: 0 });
    (
        or_one(pins.sealing),
        or_one(pins.token),
        or_one(pins.pepper),
    )
}
