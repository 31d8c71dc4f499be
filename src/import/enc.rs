//! egov-enc-service's ciphertexts, read offline: what egov-user stores for a user's name, mobile number,
//! e-mail and the other PII fields, decrypted with the symmetric keys exported from the enc-service's key
//! table and its master password (issue 19; README "Moving from egov-user").
//!
//! The format, as egov-enc-service writes it (Digit-Core `core-services/egov-enc-service`, `org.egov.enc`:
//! `SymmetricEncryptionUtil`, `models/Ciphertext`, `keymanagement/masterkey/providers/SoftwareBasedMasterKey`,
//! migration `V20180607185601__eg_enc.sql`):
//!
//! - A value is `<key id>|<base64>`: the key id is `eg_enc_symmetric_keys.key_id` in decimal, the base64 (with
//!   padding) is AES-256-GCM's output — ciphertext then the 16-byte tag — of the value's UTF-8, under that
//!   key with the key row's own 12-byte initial vector (one per key, for every value: the output is
//!   deterministic, which is how egov-user searches encrypted fields), without associated data.
//! - A key row's `secret_key` and `initial_vector` are each `base64(AES-256-GCM(master, base64(raw)))`: the
//!   raw 32-byte key (or 12-byte vector) base64-encoded, that text sealed with the master key under the
//!   master vector, and base64-encoded again.
//! - The master key is PBKDF2-HMAC-SHA256 of `master.password` (65,536 rounds, 32 bytes) salted with the first
//!   8 characters of `master.salt`; the master vector is the first 12 characters of `master.initialvector`
//!   (each character taken as one byte). This is the `software` master-key provider, egov-enc-service's
//!   default; rows wrapped by the `awskms` provider, and Vault transit ciphertexts
//!   (`SYM|<tenant>|vault:v1:…`, unmerged branches), need the online decryption instead.
//!
//! Every plaintext lives in [`Zeroizing`] buffers and is never logged; a wrong key or a changed byte fails the
//! GCM tag and says so without the value.

use std::collections::HashMap;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// PBKDF2 rounds of the `software` master key.
const MASTER_ROUNDS: u32 = 65_536;
/// Bytes of `master.salt` the master key is salted with.
const SALT_CHARS: usize = 8;
/// Bytes of an AES-GCM initial vector (the master's and every key row's).
const IV_BYTES: usize = 12;

/// Why a key row or a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncError {
    /// `master.salt` or `master.initialvector` too short for the scheme.
    #[error("{setting} must have at least {needed} characters")]
    MasterSetting {
        /// The enc-service property.
        setting: &'static str,
        /// Characters it needs.
        needed: usize,
    },
    /// A key row the master key does not open (another master password, or a row of the `awskms` provider).
    #[error(
        "key {key_id}: its {column} does not open with this master password (another password, or a row of the awskms provider)"
    )]
    KeyRow {
        /// `key_id`.
        key_id: i64,
        /// The column.
        column: &'static str,
    },
    /// A value that is not `<key id>|<base64>`.
    #[error("not an egov-enc-service ciphertext (<key id>|<base64>)")]
    Malformed,
    /// A Vault transit ciphertext: decrypt it through a running egov-enc-service.
    #[error(
        "a Vault transit ciphertext: decrypt it online, through the egov-enc-service that wrote it"
    )]
    Vault,
    /// A value under a key the exported table does not have.
    #[error("key {0} is not in the exported key table")]
    UnknownKey(i64),
    /// The tag does not match: a changed value, or a key row of another deployment.
    #[error(
        "the value under key {0} does not decrypt (a changed value, or another deployment's key)"
    )]
    Tag(i64),
    /// The plaintext is not UTF-8.
    #[error("the value under key {0} is not text")]
    NotText(i64),
}

/// The master key of the `software` provider, from the enc-service's three `master.*` properties.
pub struct MasterKey {
    cipher: Aes256Gcm,
    iv: [u8; IV_BYTES],
}

impl MasterKey {
    /// Derives it from `master.password`, `master.salt` and `master.initialvector`.
    pub fn derive(password: &str, salt: &str, initial_vector: &str) -> Result<Self, EncError> {
        let salt = first_bytes::<SALT_CHARS>(salt).ok_or(EncError::MasterSetting {
            setting: "master.salt",
            needed: SALT_CHARS,
        })?;
        let iv = first_bytes::<IV_BYTES>(initial_vector).ok_or(EncError::MasterSetting {
            setting: "master.initialvector",
            needed: IV_BYTES,
        })?;
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, MASTER_ROUNDS, &mut *key);
        Ok(Self {
            cipher: Aes256Gcm::new_from_slice(&*key).expect("a 32-byte key"),
            iv,
        })
    }

    /// Opens one wrapped column of a key row: the raw bytes it holds.
    fn unwrap(
        &self,
        wrapped: &str,
        key_id: i64,
        column: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, EncError> {
        let fail = || EncError::KeyRow { key_id, column };
        let sealed = STANDARD.decode(wrapped.trim()).map_err(|_| fail())?;
        let inner = Zeroizing::new(
            self.cipher
                .decrypt(&Nonce::from(self.iv), sealed.as_slice())
                .map_err(|_| fail())?,
        );
        STANDARD
            .decode(inner.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

/// One row of `eg_enc_symmetric_keys`, as exported (active or not: old values stay under rotated keys).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KeyRow {
    /// `key_id`: the number before the `|` of every value under it.
    pub key_id: i64,
    /// `secret_key`, wrapped by the master key.
    pub secret_key: String,
    /// `initial_vector`, wrapped by the master key.
    pub initial_vector: String,
}

/// The opened key table: per key id its cipher and vector (none: no value opens).
#[derive(Default)]
pub struct EncKeys {
    keys: HashMap<i64, (Aes256Gcm, [u8; IV_BYTES])>,
}

impl EncKeys {
    /// Opens every row with the master key; the first row that does not open stops it.
    pub fn open(master: &MasterKey, rows: &[KeyRow]) -> Result<Self, EncError> {
        let mut keys = HashMap::with_capacity(rows.len());
        for row in rows {
            let key = master.unwrap(&row.secret_key, row.key_id, "secret_key")?;
            let iv = master.unwrap(&row.initial_vector, row.key_id, "initial_vector")?;
            let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| EncError::KeyRow {
                key_id: row.key_id,
                column: "secret_key",
            })?;
            let iv: [u8; IV_BYTES] = iv.as_slice().try_into().map_err(|_| EncError::KeyRow {
                key_id: row.key_id,
                column: "initial_vector",
            })?;
            keys.insert(row.key_id, (cipher, iv));
        }
        Ok(Self { keys })
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The plaintext of one stored value.
    pub fn decrypt(&self, value: &str) -> Result<Zeroizing<String>, EncError> {
        let (key_id, sealed) = parse(value)?;
        let (cipher, iv) = self.keys.get(&key_id).ok_or(EncError::UnknownKey(key_id))?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(&Nonce::from(*iv), sealed.as_slice())
                .map_err(|_| EncError::Tag(key_id))?,
        );
        match std::str::from_utf8(&plain) {
            Ok(text) => Ok(Zeroizing::new(text.to_owned())),
            Err(_) => Err(EncError::NotText(key_id)),
        }
    }
}

/// Whether `value` has the shape of an egov-enc-service ciphertext (`<key id>|<base64>`, or Vault's): a
/// column the deployment's security policy seals holds such values; any other value is plain.
pub fn looks_sealed(value: &str) -> bool {
    !matches!(parse(value), Err(EncError::Malformed))
}

/// `<key id>|<base64>` into its key id and sealed bytes.
fn parse(value: &str) -> Result<(i64, Vec<u8>), EncError> {
    let mut parts = value.split('|');
    let (Some(id), Some(body)) = (parts.next(), parts.next()) else {
        return Err(EncError::Malformed);
    };
    if let Some(rest) = parts.next() {
        // SYM|<tenant>|vault:v1:…
        return Err(if rest.starts_with("vault:") {
            EncError::Vault
        } else {
            EncError::Malformed
        });
    }
    let key_id = id.trim().parse::<i64>().map_err(|_| EncError::Malformed)?;
    let sealed = STANDARD
        .decode(body.trim())
        .map_err(|_| EncError::Malformed)?;
    Ok((key_id, sealed))
}

/// The first `N` characters of `text`, each as one byte (Java's `(byte) char`), if it has as many.
fn first_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut chars = text.chars();
    for byte in &mut out {
        *byte = chars.next()? as u32 as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_are_not_legacy_ciphertexts_are_told_apart() {
        assert_eq!(parse("plain text"), Err(EncError::Malformed));
        assert_eq!(parse("12|not base64!"), Err(EncError::Malformed));
        assert_eq!(parse("x|AAAA"), Err(EncError::Malformed));
        assert_eq!(parse("SYM|pb|vault:v1:abc"), Err(EncError::Vault));
        assert_eq!(parse("896077|AAAA"), Ok((896_077, vec![0, 0, 0])));
        assert!(looks_sealed("896077|AAAA") && looks_sealed("SYM|pb|vault:v1:abc"));
        assert!(!looks_sealed("Asha Devi") && !looks_sealed("9876543210"));
    }

    #[test]
    fn the_master_settings_take_their_first_characters_as_bytes() {
        assert_eq!(first_bytes::<3>("abcd"), Some(*b"abc"));
        assert_eq!(first_bytes::<3>("ab"), None);
        assert!(matches!(
            MasterKey::derive("pw", "short", "qweasdzxqwea"),
            Err(EncError::MasterSetting {
                setting: "master.salt",
                ..
            })
        ));
    }
}
