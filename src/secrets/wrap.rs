//! The deployment's secrets wrapped under an operator's passphrase, for a backup that carries its keys.
//!
//! The wrapping key is argon2id(passphrase, a fresh 16-byte salt; 64 MiB, 3 passes), and the secrets' texts
//! are sealed under it with ChaCha20-Poly1305 (the store's sealing, [`Keyring`]). Nothing but the
//! passphrase opens them: a wrong one and a changed byte look the same — the keys do not open.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use actors::seal::{KEY_LEN, Keyring, random_key};

use super::{SecretError, Secrets};
use crate::config::MapEnv;

/// What binds the sealed secrets to their purpose.
const AAD: &[u8] = b"digit-user wrapped secrets";
/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 12;

/// Secrets sealed under a passphrase, as a backup file carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedSecrets {
    /// Always "argon2id".
    pub kdf: String,
    /// argon2 memory, KiB.
    pub m_kib: u32,
    /// argon2 passes.
    pub t: u32,
    /// argon2 lanes.
    pub p: u32,
    /// The salt, base64.
    pub salt: String,
    /// The sealed secrets (`DIGIT_USER_*` → text, JSON), base64.
    pub sealed: String,
}

/// Why secrets could not be wrapped or unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// The passphrase is too short.
    #[error("the passphrase must have at least {MIN_PASSPHRASE} characters")]
    ShortPassphrase,
    /// The passphrase is wrong, or the wrapped keys were changed.
    #[error("the passphrase does not open the backup's keys (or they were changed)")]
    WrongPassphrase,
    /// The wrapped form is not ours.
    #[error("the backup's wrapped keys are unreadable: {0}")]
    Format(String),
    /// The unwrapped secrets are not valid.
    #[error(transparent)]
    Secrets(#[from] SecretError),
}

impl WrappedSecrets {
    /// Seals `secrets` under `passphrase`.
    pub fn wrap(secrets: &Secrets, passphrase: &str) -> Result<Self, WrapError> {
        if passphrase.chars().count() < MIN_PASSPHRASE {
            return Err(WrapError::ShortPassphrase);
        }
        let salt: [u8; 16] = random_key().map_err(|_| SecretError::Random)?[..16]
            .try_into()
            .expect("16 of 32 bytes");
        let (m_kib, t, p) = (64 * 1024, 3, 1);
        let key = derive(passphrase, &salt, m_kib, t, p)?;
        let owned = secrets.texts();
        let texts: std::collections::BTreeMap<&str, &str> = owned
            .iter()
            .map(|(name, text)| (name.var, text.as_str()))
            .collect();
        let plain = Zeroizing::new(
            serde_json::to_vec(&texts).map_err(|e| WrapError::Format(e.to_string()))?,
        );
        let sealed = keyring(&key)?
            .seal(&plain, AAD)
            .map_err(|e| WrapError::Format(e.to_string()))?;
        Ok(Self {
            kdf: "argon2id".into(),
            m_kib,
            t,
            p,
            salt: STANDARD.encode(salt),
            sealed: STANDARD.encode(sealed),
        })
    }

    /// Opens the secrets with `passphrase`.
    pub fn unwrap(&self, passphrase: &str) -> Result<Secrets, WrapError> {
        // bounds on what a file may ask of this machine: 1 GiB, 16 passes, 8 lanes
        if self.kdf != "argon2id" || self.m_kib > 1024 * 1024 || self.t > 16 || self.p > 8 {
            return Err(WrapError::Format(format!("kdf {} not supported", self.kdf)));
        }
        let b64 = |s: &str| {
            STANDARD
                .decode(s)
                .map_err(|_| WrapError::Format("not base64".into()))
        };
        let key = derive(passphrase, &b64(&self.salt)?, self.m_kib, self.t, self.p)?;
        let plain = Zeroizing::new(
            keyring(&key)?
                .open(&b64(&self.sealed)?, AAD)
                .map_err(|_| WrapError::WrongPassphrase)?,
        );
        let texts: Zeroizing<Vec<(String, String)>> = Zeroizing::new(
            serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&plain)
                .map_err(|e| WrapError::Format(e.to_string()))?
                .into_iter()
                .collect(),
        );
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env = MapEnv::of(&pairs);
        // every secret comes from the map: nothing is read from or generated into a data dir
        let nowhere = std::path::Path::new("/nonexistent/digit-user");
        Ok(Secrets::load_or_generate(nowhere, &env, false)?)
    }
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; KEY_LEN]>, WrapError> {
    let params =
        Params::new(m_kib, t, p, Some(KEY_LEN)).map_err(|e| WrapError::Format(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| WrapError::Format(e.to_string()))?;
    Ok(key)
}

fn keyring(key: &[u8; KEY_LEN]) -> Result<Keyring, WrapError> {
    Keyring::new(&[(1, *key)]).map_err(|e| WrapError::Format(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        Secrets::load_or_generate(dir.path(), &MapEnv::default(), true).unwrap()
    }

    #[test]
    fn the_passphrase_opens_the_same_secrets_and_nothing_else_does() {
        let original = secrets();
        let wrapped = WrappedSecrets::wrap(&original, "correct horse battery").unwrap();
        let opened = wrapped.unwrap("correct horse battery").unwrap();
        let texts = |s: &Secrets| {
            s.texts()
                .into_iter()
                .map(|(n, t)| (n.var, t.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&opened), texts(&original));
        assert!(matches!(
            wrapped.unwrap("correct horse battery!"),
            Err(WrapError::WrongPassphrase)
        ));
        let mut changed = wrapped.clone();
        changed.salt = STANDARD.encode([0u8; 16]);
        assert!(matches!(
            changed.unwrap("correct horse battery"),
            Err(WrapError::WrongPassphrase)
        ));
        assert!(matches!(
            WrappedSecrets::wrap(&original, "short"),
            Err(WrapError::ShortPassphrase)
        ));
        // no secret in clear in the wrapped form
        let json = serde_json::to_string(&wrapped).unwrap();
        for (_, text) in original.texts() {
            assert!(!json.contains(text.as_str()));
        }
    }
}
