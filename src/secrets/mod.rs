//! Secrets: sealing keys, the blind-index key, the token signing key and the OTP pepper.
//!
//! Each comes from, in order: the environment variable, the file named by `<VAR>_FILE` (Kubernetes Secret
//! mounts), or `<data dir>/secrets/<name>`. When none exists, [`Secrets::load_or_generate`] generates it from
//! the OS random source into the data dir (directory 0700, file 0600) and logs that it did — the embedded
//! default. Values are base64 (standard alphabet) of 32 bytes; sealing keys are a comma-separated list of
//! `<key id>:<base64>`, the highest id sealing new data and every listed id opening old data.
//! No secret value is ever logged.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use actors::seal::{BlindIndexer, KEY_LEN, Keyring, random_key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::config::EnvSource;

pub mod wrap;

/// One secret: its environment variable and its file name in the data dir.
#[derive(Debug, Clone, Copy)]
pub struct SecretName {
    /// Environment variable (and `<var>_FILE`).
    pub var: &'static str,
    /// File under `<data dir>/secrets/`.
    pub file: &'static str,
}

/// ChaCha20-Poly1305 keys sealing PII.
pub const SEALING_KEYS: SecretName = SecretName {
    var: "DIGIT_USER_SEALING_KEYS",
    file: "sealing_keys",
};
/// HMAC key of the blind indexes.
pub const BLIND_INDEX_KEY: SecretName = SecretName {
    var: "DIGIT_USER_BLIND_INDEX_KEY",
    file: "blind_index_key",
};
/// Access-token signing key.
pub const TOKEN_KEY: SecretName = SecretName {
    var: "DIGIT_USER_TOKEN_KEY",
    file: "token_key",
};
/// OTP HMAC pepper.
pub const OTP_PEPPER: SecretName = SecretName {
    var: "DIGIT_USER_OTP_PEPPER",
    file: "otp_pepper",
};

/// Why secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A value is not what the format asks.
    #[error("secret {var}: {reason}")]
    Format {
        /// The variable.
        var: &'static str,
        /// What is wrong (never the value).
        reason: String,
    },
    /// A file could not be read or written.
    #[error("secret {var}: {path}: {source}")]
    Io {
        /// The variable.
        var: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Absent and generation not allowed.
    #[error(
        "secret {0} is not set (env, {0}_FILE or the data dir) and this command does not generate secrets"
    )]
    Missing(&'static str),
    /// The OS random source failed.
    #[error("the OS random source failed")]
    Random,
}

/// The loaded secrets.
pub struct Secrets {
    /// Sealing keys by id.
    pub sealing: Vec<(u32, [u8; KEY_LEN])>,
    /// Blind-index key.
    pub blind_index: Zeroizing<[u8; KEY_LEN]>,
    /// Token signing key.
    pub token: Zeroizing<[u8; KEY_LEN]>,
    /// OTP pepper.
    pub otp_pepper: Zeroizing<[u8; KEY_LEN]>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (_, key) in &mut self.sealing {
            key.zeroize();
        }
    }
}

impl Secrets {
    /// Loads every secret, generating the missing ones into `data_dir` when `generate` is set.
    pub fn load_or_generate(
        data_dir: &Path,
        env: &dyn EnvSource,
        generate: bool,
    ) -> Result<Self, SecretError> {
        let sealing_text = load(SEALING_KEYS, data_dir, env, generate, || {
            Ok(format!("1:{}", STANDARD.encode(fresh()?)))
        })?;
        let sealing = parse_sealing(&sealing_text)?;
        let single = |name: SecretName| -> Result<Zeroizing<[u8; KEY_LEN]>, SecretError> {
            let text = load(name, data_dir, env, generate, || {
                Ok(STANDARD.encode(fresh()?))
            })?;
            Ok(Zeroizing::new(decode_key(name.var, text.trim())?))
        };
        Ok(Self {
            sealing,
            blind_index: single(BLIND_INDEX_KEY)?,
            token: single(TOKEN_KEY)?,
            otp_pepper: single(OTP_PEPPER)?,
        })
    }

    /// The sealing keyring.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(&self.sealing).expect("parse_sealing never returns an empty list")
    }

    /// The blind indexer.
    pub fn blind_indexer(&self) -> BlindIndexer {
        BlindIndexer::new(&self.blind_index)
    }

    /// Every secret as the text its variable takes (`DIGIT_USER_*`), to hand to another place.
    pub fn texts(&self) -> Vec<(SecretName, Zeroizing<String>)> {
        let sealing = self
            .sealing
            .iter()
            .map(|(id, key)| format!("{id}:{}", STANDARD.encode(key)))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            (SEALING_KEYS, Zeroizing::new(sealing)),
            (
                BLIND_INDEX_KEY,
                Zeroizing::new(STANDARD.encode(*self.blind_index)),
            ),
            (TOKEN_KEY, Zeroizing::new(STANDARD.encode(*self.token))),
            (
                OTP_PEPPER,
                Zeroizing::new(STANDARD.encode(*self.otp_pepper)),
            ),
        ]
    }

    /// Writes these secrets into `<data_dir>/secrets/`, as a first start writes generated ones (directory
    /// 0700, files 0600); refuses to replace a file that is there.
    pub fn install(&self, data_dir: &Path) -> Result<(), SecretError> {
        for (name, text) in self.texts() {
            write_new(name, data_dir, &text)?;
        }
        Ok(())
    }

    /// The keys the store seals and indexes with.
    pub fn store_keys(&self) -> actors::store::StoreKeys {
        actors::store::StoreKeys {
            keyring: self.keyring(),
            blind: self.blind_indexer(),
        }
    }
}

fn fresh() -> Result<Zeroizing<[u8; KEY_LEN]>, SecretError> {
    random_key()
        .map(Zeroizing::new)
        .map_err(|_| SecretError::Random)
}

/// The text of one secret from env, `<var>_FILE`, the data dir, or freshly generated.
fn load(
    name: SecretName,
    data_dir: &Path,
    env: &dyn EnvSource,
    generate: bool,
    make: impl FnOnce() -> Result<String, SecretError>,
) -> Result<Zeroizing<String>, SecretError> {
    if let Some(v) = env.var(name.var).filter(|v| !v.trim().is_empty()) {
        return Ok(Zeroizing::new(v));
    }
    let file_var = format!("{}_FILE", name.var);
    if let Some(path) = env.var(&file_var).filter(|v| !v.trim().is_empty()) {
        let path = PathBuf::from(path);
        return read(name.var, &path);
    }
    let path = data_dir.join("secrets").join(name.file);
    if path.exists() {
        return read(name.var, &path);
    }
    if !generate {
        return Err(SecretError::Missing(name.var));
    }
    let text = Zeroizing::new(make()?);
    write_new(name, data_dir, &text)?;
    tracing::warn!(secret = name.var, path = %path.display(), "generated a secret into the data dir; set it from a secret store in production");
    Ok(text)
}

/// Writes `text` as the secret `name` under `<data_dir>/secrets/` (directory 0700, file 0600, synced);
/// refuses to replace a file that is there.
fn write_new(name: SecretName, data_dir: &Path, text: &str) -> Result<(), SecretError> {
    let dir = data_dir.join("secrets");
    let path = dir.join(name.file);
    let io = |path: &Path, source| SecretError::Io {
        var: name.var,
        path: path.to_owned(),
        source,
    };
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| io(&dir, e))?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io(&path, e))
}

fn read(var: &'static str, path: &Path) -> Result<Zeroizing<String>, SecretError> {
    fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| SecretError::Io {
            var,
            path: path.to_owned(),
            source,
        })
}

fn decode_key(var: &'static str, text: &str) -> Result<[u8; KEY_LEN], SecretError> {
    let bytes = Zeroizing::new(STANDARD.decode(text).map_err(|_| SecretError::Format {
        var,
        reason: "not base64".into(),
    })?);
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| SecretError::Format {
            var,
            reason: format!("must decode to {KEY_LEN} bytes, got {}", bytes.len()),
        })
}

fn parse_sealing(text: &str) -> Result<Vec<(u32, [u8; KEY_LEN])>, SecretError> {
    let var = SEALING_KEYS.var;
    let mut keys = Vec::new();
    for item in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (id, key) = item.split_once(':').ok_or_else(|| SecretError::Format {
            var,
            reason: "entries are <key id>:<base64 key>".into(),
        })?;
        let id: u32 = id.trim().parse().map_err(|_| SecretError::Format {
            var,
            reason: "key ids are unsigned integers".into(),
        })?;
        if keys.iter().any(|(k, _)| *k == id) {
            return Err(SecretError::Format {
                var,
                reason: format!("key id {id} is listed twice"),
            });
        }
        keys.push((id, decode_key(var, key.trim())?));
    }
    if keys.is_empty() {
        return Err(SecretError::Format {
            var,
            reason: "no key listed".into(),
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    fn env(pairs: &[(&str, String)]) -> MapEnv {
        MapEnv(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn generated_once_with_owner_only_permissions_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load_or_generate(dir.path(), &env(&[]), true).unwrap();
        let again = Secrets::load_or_generate(dir.path(), &env(&[]), true).unwrap();
        assert_eq!(first.sealing, again.sealing);
        assert_eq!(*first.blind_index, *again.blind_index);
        assert_ne!(*first.token, *first.otp_pepper);
        for name in ["sealing_keys", "blind_index_key", "token_key", "otp_pepper"] {
            let mode = fs::metadata(dir.path().join("secrets").join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let dir_mode = fs::metadata(dir.path().join("secrets"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn without_generation_absent_secrets_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Secrets::load_or_generate(dir.path(), &env(&[]), false),
            Err(SecretError::Missing(_))
        ));
    }

    #[test]
    fn env_and_file_variables_win_over_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let key = STANDARD.encode([9u8; 32]);
        let file = dir.path().join("blind");
        fs::write(&file, STANDARD.encode([4u8; 32])).unwrap();
        let e = env(&[
            (
                "DIGIT_USER_SEALING_KEYS",
                format!("1:{key},7:{}", STANDARD.encode([1u8; 32])),
            ),
            (
                "DIGIT_USER_BLIND_INDEX_KEY_FILE",
                file.display().to_string(),
            ),
            ("DIGIT_USER_TOKEN_KEY", key.clone()),
            ("DIGIT_USER_OTP_PEPPER", key),
        ]);
        let s = Secrets::load_or_generate(dir.path(), &e, false).unwrap();
        assert_eq!(s.sealing.len(), 2);
        assert_eq!(s.keyring().current_key_id(), 7);
        assert_eq!(*s.blind_index, [4u8; 32]);
        assert!(!dir.path().join("secrets").exists());
    }

    #[test]
    fn malformed_values_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["1:short", "x:AAAA", "notalist", "1:%%%"] {
            let err = Secrets::load_or_generate(
                dir.path(),
                &env(&[("DIGIT_USER_SEALING_KEYS", bad.into())]),
                true,
            )
            .err()
            .expect(bad);
            assert!(!err.to_string().contains(bad), "{err}");
        }
    }
}
