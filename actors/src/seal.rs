//! Sealing of PII at rest and blind indexes for equality search.
//!
//! Invariants:
//! - A sealed value is `key_id (u32, big-endian) | nonce (12 bytes) | ciphertext+tag`; the nonce is fresh
//!   from the OS for every seal, so equal plaintexts never give equal ciphertexts.
//! - The associated data binds a sealed value to where it is stored (tree and key), so a sealed record
//!   cannot be moved to another user and still open.
//! - Every key id of the keyring keeps opening what it sealed; one of them seals — the newest (highest id)
//!   unless another is named: a key added for a rotation opens before it seals, so every pod of a cluster
//!   can open what any pod seals under it by the time one does. The keys can be replaced while running.
//! - A blind index is HMAC-SHA256 under its own key, domain-separated per field, over a normalised value:
//!   it reveals equality of that field and nothing else.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of every secret key this module takes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 4 + NONCE_LEN;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The keyring holds no key at all.
    #[error("the sealing keyring is empty")]
    NoKeys,
    /// The value names a key id the keyring does not hold (keys were removed too early).
    #[error("sealed with key id {0}, which the keyring does not hold")]
    UnknownKey(u32),
    /// The value is shorter than its header or its tag does not verify (tampered or wrong keys).
    #[error("sealed value is corrupt or was sealed under other keys")]
    Corrupt,
    /// The OS random source failed.
    #[error("the OS random source failed")]
    Random,
}

/// ChaCha20-Poly1305 keys by key id; one seals (the highest id unless another is named), all of them open.
pub struct Keyring {
    ring: std::sync::RwLock<std::sync::Arc<Ring>>,
}

struct Ring {
    ciphers: BTreeMap<u32, ChaCha20Poly1305>,
    sealing: u32,
}

impl Ring {
    fn new(keys: &[(u32, [u8; KEY_LEN])], sealing: Option<u32>) -> Result<Self, SealError> {
        let ciphers: BTreeMap<u32, ChaCha20Poly1305> = keys
            .iter()
            .map(|(id, key)| (*id, ChaCha20Poly1305::new(&(*key).into())))
            .collect();
        let highest = *ciphers.keys().next_back().ok_or(SealError::NoKeys)?;
        let sealing = sealing.unwrap_or(highest);
        if !ciphers.contains_key(&sealing) {
            return Err(SealError::UnknownKey(sealing));
        }
        Ok(Self { ciphers, sealing })
    }
}

impl Keyring {
    /// Builds a keyring from `(key id, 32-byte key)` pairs; the highest id seals.
    pub fn new(keys: &[(u32, [u8; KEY_LEN])]) -> Result<Self, SealError> {
        Self::sealing_with(keys, None)
    }

    /// Builds a keyring from `(key id, 32-byte key)` pairs; `sealing` seals (`None`: the highest id).
    pub fn sealing_with(
        keys: &[(u32, [u8; KEY_LEN])],
        sealing: Option<u32>,
    ) -> Result<Self, SealError> {
        Ok(Self {
            ring: std::sync::RwLock::new(std::sync::Arc::new(Ring::new(keys, sealing)?)),
        })
    }

    /// Replaces the keys while running: `sealing` (`None`: the highest id) seals from now on. Values
    /// sealed under an id the new keys lack stop opening: a caller drops a key only once nothing is
    /// sealed under it.
    pub fn replace(
        &self,
        keys: &[(u32, [u8; KEY_LEN])],
        sealing: Option<u32>,
    ) -> Result<(), SealError> {
        let ring = std::sync::Arc::new(Ring::new(keys, sealing)?);
        *self
            .ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ring;
        Ok(())
    }

    fn ring(&self) -> std::sync::Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key id new values are sealed under.
    pub fn current_key_id(&self) -> u32 {
        self.ring().sealing
    }

    /// Every key id it opens, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.ring().ciphers.keys().copied().collect()
    }

    /// The key id `sealed` was sealed under (what [`seal`](Self::seal) wrote first); `None` when too short
    /// to be a sealed value.
    pub fn key_id_of(sealed: &[u8]) -> Option<u32> {
        (sealed.len() >= HEADER_LEN)
            .then(|| u32::from_be_bytes(sealed[..4].try_into().expect("4 bytes")))
    }

    /// Seals `plaintext`, binding it to `aad` (where it will be stored).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let ring = self.ring();
        let key_id = ring.sealing;
        let cipher = &ring.ciphers[&key_id];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(&key_id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < HEADER_LEN {
            return Err(SealError::Corrupt);
        }
        let (header, ciphertext) = sealed.split_at(HEADER_LEN);
        let key_id = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
        let nonce: [u8; NONCE_LEN] = header[4..].try_into().expect("12 bytes");
        let ring = self.ring();
        let cipher = ring
            .ciphers
            .get(&key_id)
            .ok_or(SealError::UnknownKey(key_id))?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Corrupt)
    }
}

/// The fields that have a blind index; the tag domain-separates their HMACs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedField {
    /// `userName`, matched exactly (DIGIT usernames are case-sensitive).
    UserName,
    /// `mobileNumber`, digits only.
    MobileNumber,
    /// `alternatemobilenumber`, digits only.
    AltMobileNumber,
    /// `emailId`, case-insensitive.
    EmailId,
    /// `name`, case-insensitive with runs of white space folded.
    Name,
    /// (tenant, type, userName): the uniqueness key of a user.
    UniqueUser,
    /// (state tenant, mobile number): the key of an OTP session.
    OtpSession,
}

impl IndexedField {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::UserName => b"username",
            Self::MobileNumber => b"mobile",
            Self::AltMobileNumber => b"altmobile",
            Self::EmailId => b"email",
            Self::Name => b"name",
            Self::UniqueUser => b"unique-user",
            Self::OtpSession => b"otp-session",
        }
    }

    /// The normal form two values must share to match.
    pub fn normalise(self, value: &str) -> String {
        match self {
            Self::UserName | Self::UniqueUser | Self::OtpSession => value.to_owned(),
            Self::MobileNumber | Self::AltMobileNumber => value.trim().to_owned(),
            Self::EmailId => value.trim().to_lowercase(),
            Self::Name => value
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        }
    }
}

/// Length of a blind index digest.
pub const BLIND_LEN: usize = 32;

/// HMAC-SHA256 blind indexes under a dedicated key.
#[derive(Clone)]
pub struct BlindIndexer {
    mac: Hmac<Sha256>,
}

impl BlindIndexer {
    /// A blind indexer under `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            mac: <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length"),
        }
    }

    /// The digest of `value` (normalised) for `field`.
    pub fn digest(&self, field: IndexedField, value: &str) -> [u8; BLIND_LEN] {
        self.digest_parts(field, &[&field.normalise(value)])
    }

    /// The digest of several parts, each length-prefixed so `("ab","c")` and `("a","bc")` differ.
    pub fn digest_parts(&self, field: IndexedField, parts: &[&str]) -> [u8; BLIND_LEN] {
        let mut mac = self.mac.clone();
        mac.update(field.tag());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// A key for `purpose` derived from this one (HMAC of a label no index uses): e.g. the key that
    /// authenticates a backup, which only holders of the deployment's keys can make or check.
    pub fn derive_key(&self, purpose: &str) -> [u8; KEY_LEN] {
        self.digest_parts(
            IndexedField::UniqueUser,
            &["digit-user derived key", purpose],
        )
    }

    /// A digest that identifies the key itself, stored to detect a data dir opened with another key.
    pub fn fingerprint(&self) -> [u8; BLIND_LEN] {
        self.digest_parts(IndexedField::UniqueUser, &["digit-user key fingerprint"])
    }
}

/// Fills a fresh random 32-byte key from the OS.
pub fn random_key() -> Result<[u8; KEY_LEN], SealError> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|_| SealError::Random)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[u32]) -> Keyring {
        let keys: Vec<_> = ids.iter().map(|id| (*id, [*id as u8; KEY_LEN])).collect();
        Keyring::new(&keys).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let ring = ring(&[1]);
        let sealed = ring.seal(b"9876543210", b"users/1").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"9876543210"));
        assert_eq!(ring.open(&sealed, b"users/1").unwrap(), b"9876543210");
    }

    #[test]
    fn equal_plaintexts_seal_differently() {
        let ring = ring(&[1]);
        assert_ne!(
            ring.seal(b"same", b"a").unwrap(),
            ring.seal(b"same", b"a").unwrap()
        );
    }

    #[test]
    fn a_value_moved_to_another_key_does_not_open() {
        let ring = ring(&[1]);
        let sealed = ring.seal(b"secret", b"users/1").unwrap();
        assert_eq!(ring.open(&sealed, b"users/2"), Err(SealError::Corrupt));
    }

    #[test]
    fn tampering_is_detected() {
        let ring = ring(&[1]);
        let mut sealed = ring.seal(b"secret", b"x").unwrap();
        *sealed.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&sealed, b"x"), Err(SealError::Corrupt));
        assert_eq!(ring.open(&sealed[..5], b"x"), Err(SealError::Corrupt));
    }

    #[test]
    fn after_rotation_old_values_open_and_new_ones_use_the_new_key() {
        let old = ring(&[1]);
        let sealed_old = old.seal(b"before", b"k").unwrap();
        let rotated = ring(&[1, 2]);
        assert_eq!(rotated.current_key_id(), 2);
        assert_eq!(rotated.open(&sealed_old, b"k").unwrap(), b"before");
        let sealed_new = rotated.seal(b"after", b"k").unwrap();
        assert_eq!(&sealed_new[..4], &2u32.to_be_bytes());
        assert_eq!(old.open(&sealed_new, b"k"), Err(SealError::UnknownKey(2)));
    }

    #[test]
    fn a_staged_key_opens_before_it_seals_and_keys_are_replaced_while_running() {
        let keys: Vec<(u32, [u8; KEY_LEN])> = vec![(1, [1; KEY_LEN]), (2, [2; KEY_LEN])];
        let staged = Keyring::sealing_with(&keys, Some(1)).unwrap();
        assert_eq!((staged.current_key_id(), staged.key_ids()), (1, vec![1, 2]));
        let by_two = ring(&[1, 2]).seal(b"sealed elsewhere", b"k").unwrap();
        assert_eq!(staged.open(&by_two, b"k").unwrap(), b"sealed elsewhere");
        let by_one = staged.seal(b"still the old key", b"k").unwrap();
        assert_eq!(Keyring::key_id_of(&by_one), Some(1));
        staged.replace(&keys, None).unwrap();
        assert_eq!(
            Keyring::key_id_of(&staged.seal(b"x", b"k").unwrap()),
            Some(2)
        );
        assert_eq!(
            staged.replace(&keys, Some(3)),
            Err(SealError::UnknownKey(3)),
            "a sealing key it lacks"
        );
        assert_eq!(
            staged.current_key_id(),
            2,
            "a refused replacement changes nothing"
        );
        staged.replace(&keys[1..], None).unwrap();
        assert_eq!(staged.open(&by_one, b"k"), Err(SealError::UnknownKey(1)));
        assert_eq!(Keyring::key_id_of(b"short"), None);
    }

    #[test]
    fn blind_indexes_normalise_per_field_and_separate_fields() {
        let idx = BlindIndexer::new(&[7; KEY_LEN]);
        assert_eq!(
            idx.digest(IndexedField::EmailId, " Asha@Example.org"),
            idx.digest(IndexedField::EmailId, "asha@example.org")
        );
        assert_eq!(
            idx.digest(IndexedField::Name, "Asha   Devi"),
            idx.digest(IndexedField::Name, "asha devi")
        );
        assert_ne!(
            idx.digest(IndexedField::UserName, "Ram"),
            idx.digest(IndexedField::UserName, "ram")
        );
        assert_ne!(
            idx.digest(IndexedField::MobileNumber, "9876543210"),
            idx.digest(IndexedField::AltMobileNumber, "9876543210")
        );
        assert_ne!(
            idx.digest_parts(IndexedField::UniqueUser, &["ab", "c"]),
            idx.digest_parts(IndexedField::UniqueUser, &["a", "bc"])
        );
    }

    #[test]
    fn another_key_gives_other_digests() {
        let a = BlindIndexer::new(&[1; KEY_LEN]);
        let b = BlindIndexer::new(&[2; KEY_LEN]);
        assert_ne!(
            a.digest(IndexedField::Name, "x"),
            b.digest(IndexedField::Name, "x")
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
