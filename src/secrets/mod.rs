//! Secrets: sealing keys, the blind-index key, the token signing key and the OTP pepper.
//!
//! Each comes from, in order: the environment variable, the file named by `<VAR>_FILE` (Kubernetes Secret
//! mounts), or `<data dir>/secrets/<name>`. When none exists, [`Secrets::load_or_generate`] generates it from
//! the OS random source into the data dir (directory 0700, file 0600) and logs that it did — the embedded
//! default. Values are base64 (standard alphabet) of 32 bytes. Sealing keys, token signing keys and OTP
//! peppers are each a comma-separated list of `<key id>:<base64>` (a bare base64 value is key id 1): one id
//! seals, signs or issues — the highest, unless the data dir pinned another (a rotation adds a key, which
//! every pod loads before any uses it: `admin rotate-keys`) — and every listed id opens, verifies or checks
//! what it did. The blind-index key is one value.
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

pub mod rotate;
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

/// Keys by id (zeroed when dropped).
pub type KeyList = Vec<(u32, [u8; KEY_LEN])>;

/// The loaded secrets.
pub struct Secrets {
    /// Sealing keys by id.
    pub sealing: KeyList,
    /// Blind-index key.
    pub blind_index: Zeroizing<[u8; KEY_LEN]>,
    /// Token signing keys by id.
    pub token: KeyList,
    /// OTP peppers by id.
    pub otp_pepper: KeyList,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (_, key) in self
            .sealing
            .iter_mut()
            .chain(self.token.iter_mut())
            .chain(self.otp_pepper.iter_mut())
        {
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
        let list = |name: SecretName, fresh_text: &dyn Fn() -> Result<String, SecretError>| {
            let text = load(name, data_dir, env, generate, fresh_text)?;
            parse_keys(name.var, &text)
        };
        // in this order: a missing secret is named as the first of them
        let sealing = list(SEALING_KEYS, &|| {
            Ok(format!("1:{}", STANDARD.encode(fresh()?)))
        })?;
        let blind_index = {
            let text = load(BLIND_INDEX_KEY, data_dir, env, generate, || {
                Ok(STANDARD.encode(fresh()?))
            })?;
            Zeroizing::new(decode_key(BLIND_INDEX_KEY.var, text.trim())?)
        };
        Ok(Self {
            sealing,
            blind_index,
            token: list(TOKEN_KEY, &|| Ok(STANDARD.encode(fresh()?)))?,
            otp_pepper: list(OTP_PEPPER, &|| Ok(STANDARD.encode(fresh()?)))?,
        })
    }

    /// The sealing keyring.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(&self.sealing).expect("parse_keys never returns an empty list")
    }

    /// The blind indexer.
    pub fn blind_indexer(&self) -> BlindIndexer {
        BlindIndexer::new(&self.blind_index)
    }

    /// Every secret as the text its variable takes (`DIGIT_USER_*`), to hand to another place.
    pub fn texts(&self) -> Vec<(SecretName, Zeroizing<String>)> {
        vec![
            (SEALING_KEYS, list_text(&self.sealing, false)),
            (
                BLIND_INDEX_KEY,
                Zeroizing::new(STANDARD.encode(*self.blind_index)),
            ),
            (TOKEN_KEY, list_text(&self.token, true)),
            (OTP_PEPPER, list_text(&self.otp_pepper, true)),
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

/// A key list as its variable takes it: `<id>:<base64>,…` — or, with `bare_one`, a lone key 1 as the bare
/// base64 an earlier build wrote.
pub fn list_text(keys: &[(u32, [u8; KEY_LEN])], bare_one: bool) -> Zeroizing<String> {
    if let [(1, key)] = keys
        && bare_one
    {
        return Zeroizing::new(STANDARD.encode(key));
    }
    Zeroizing::new(
        keys.iter()
            .map(|(id, key)| format!("{id}:{}", STANDARD.encode(key)))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// A key list: `<key id>:<base64>` entries separated by commas or lines, or one bare base64 key (id 1).
fn parse_keys(var: &'static str, text: &str) -> Result<KeyList, SecretError> {
    let text = text.trim();
    if !text.is_empty() && !text.contains([':', ',', '\n']) {
        return Ok(vec![(1, decode_key(var, text)?)]);
    }
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
        assert_ne!(first.token, first.otp_pepper);
        assert_eq!(first.token.len(), 1, "one key, id 1");
        assert_eq!(first.token[0].0, 1);
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
    fn token_keys_and_peppers_are_lists_and_a_bare_key_is_key_one() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
        let e = env(&[
            ("DIGIT_USER_TOKEN_KEY", format!("1:{one},2:{two}")),
            ("DIGIT_USER_OTP_PEPPER", format!("{one}\n")),
        ]);
        let s = Secrets::load_or_generate(dir.path(), &e, true).unwrap();
        assert_eq!(s.token, vec![(1, [1u8; 32]), (2, [2u8; 32])]);
        assert_eq!(s.otp_pepper, vec![(1, [1u8; 32])]);
        let texts: std::collections::BTreeMap<&str, String> = s
            .texts()
            .into_iter()
            .map(|(n, t)| (n.var, t.to_string()))
            .collect();
        assert_eq!(texts["DIGIT_USER_TOKEN_KEY"], format!("1:{one},2:{two}"));
        assert_eq!(
            texts["DIGIT_USER_OTP_PEPPER"], one,
            "as an earlier build wrote it"
        );
        let twice = env(&[("DIGIT_USER_TOKEN_KEY", format!("1:{one},1:{two}"))]);
        assert!(Secrets::load_or_generate(dir.path(), &twice, true).is_err());
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
