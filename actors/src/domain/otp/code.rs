//! How a code is derived from its nonce and checked against its HMAC, and what is stored of a live code.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::OtpPolicy;
use crate::seal::KEY_LEN;

/// The keys of one OTP pepper: one derives codes from nonces, one hashes codes.
#[derive(Clone)]
struct Pepper {
    derive: Hmac<Sha256>,
    hash: Hmac<Sha256>,
}

impl Pepper {
    /// Derives both keys from the pepper, domain-separated.
    fn new(pepper: &[u8; KEY_LEN]) -> Self {
        let sub = |label: &[u8]| {
            let mut mac =
                <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(pepper).expect("any key length");
            mac.update(label);
            let key = mac.finalize().into_bytes();
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).expect("any key length")
        };
        Self {
            derive: sub(b"digit-user otp code derivation"),
            hash: sub(b"digit-user otp code hash"),
        }
    }

    fn derive_code(&self, nonce: &[u8; 16], length: u32) -> String {
        let modulus = 10u64.pow(length.clamp(4, 10));
        // the largest multiple of `modulus` that fits, so every code is equally likely
        let limit = u64::MAX - (u64::MAX % modulus);
        for counter in 0u32.. {
            let mut mac = self.derive.clone();
            mac.update(nonce);
            mac.update(&counter.to_be_bytes());
            let out = mac.finalize().into_bytes();
            for chunk in out.chunks_exact(8) {
                let n = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
                if n < limit {
                    return format!(
                        "{:0width$}",
                        n % modulus,
                        width = length.clamp(4, 10) as usize
                    );
                }
            }
        }
        unreachable!("a 2^-60 chance per chunk of rejection")
    }

    fn hash(&self, token_id: &uuid::Uuid, code: &str) -> [u8; 32] {
        let mut buf = uuid::Uuid::encode_buffer();
        let token_id: &str = token_id.hyphenated().encode_lower(&mut buf);
        let mut mac = self.hash.clone();
        mac.update(&(token_id.len() as u64).to_be_bytes());
        mac.update(token_id.as_bytes());
        mac.update(code.trim().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The OTP peppers by id: the current one issues codes, every one checks and re-sends the codes it
/// issued — a live code knows its pepper by its hash, so a rotation kills no code. Replaceable while
/// running; cheap to clone (the clones share the peppers).
#[derive(Clone)]
pub struct OtpKeys {
    ring: std::sync::Arc<std::sync::RwLock<std::sync::Arc<PepperRing>>>,
}

struct PepperRing {
    current: u32,
    peppers: std::collections::BTreeMap<u32, Pepper>,
}

impl PepperRing {
    fn new(peppers: &[(u32, [u8; KEY_LEN])], current: Option<u32>) -> Option<Self> {
        let peppers: std::collections::BTreeMap<u32, Pepper> = peppers
            .iter()
            .map(|(id, key)| (*id, Pepper::new(key)))
            .collect();
        let current = current.or_else(|| peppers.keys().next_back().copied())?;
        peppers
            .contains_key(&current)
            .then_some(Self { current, peppers })
    }

    fn current(&self) -> &Pepper {
        &self.peppers[&self.current]
    }
}

impl OtpKeys {
    /// One pepper (id 1).
    pub fn new(pepper: &[u8; KEY_LEN]) -> Self {
        Self::ring(&[(1, *pepper)], None).expect("one pepper")
    }

    /// Peppers by id; `current` issues codes (`None`: the highest id). `None` when the list is empty or
    /// lacks `current`.
    pub fn ring(peppers: &[(u32, [u8; KEY_LEN])], current: Option<u32>) -> Option<Self> {
        let ring = PepperRing::new(peppers, current)?;
        Some(Self {
            ring: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(ring))),
        })
    }

    /// Replaces the peppers while running (`current` as in [`ring`](Self::ring)); `false`, changing
    /// nothing, when the list is empty or lacks `current`. A code issued under a pepper the new list lacks
    /// stops checking: drop a pepper once its codes expired.
    pub fn replace(&self, peppers: &[(u32, [u8; KEY_LEN])], current: Option<u32>) -> bool {
        let Some(ring) = PepperRing::new(peppers, current) else {
            return false;
        };
        *self
            .ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(ring);
        true
    }

    fn peppers(&self) -> std::sync::Arc<PepperRing> {
        self.ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The id of the pepper that issues codes, and every id.
    pub fn ids(&self) -> (u32, Vec<u32>) {
        let ring = self.peppers();
        (ring.current, ring.peppers.keys().copied().collect())
    }

    /// The `length`-digit code the current pepper derives from `nonce`, uniform over all codes (rejection
    /// sampling over HMAC output).
    pub fn derive_code(&self, nonce: &[u8; 16], length: u32) -> String {
        self.peppers().current().derive_code(nonce, length)
    }

    /// The current pepper's HMAC of `code` issued as token `token_id` (over the id's hyphenated form, as
    /// it was when ids were kept as strings, so stored hashes still match).
    pub fn hash(&self, token_id: &uuid::Uuid, code: &str) -> [u8; 32] {
        self.peppers().current().hash(token_id, code)
    }

    /// The code of `live` (to send it again): derived under the pepper that issued it.
    pub fn code_of(&self, live: &LiveCode, length: u32) -> zeroize::Zeroizing<String> {
        let ring = self.peppers();
        let issued_by = std::iter::once(ring.current())
            .chain(ring.peppers.values())
            .find_map(|p| {
                let code = zeroize::Zeroizing::new(p.derive_code(&live.nonce, length));
                bool::from(p.hash(&live.token_id, &code).ct_eq(&live.hash)).then_some(code)
            });
        // issued under a pepper dropped since: no code of ours matches it any more
        issued_by.unwrap_or_else(|| {
            zeroize::Zeroizing::new(ring.current().derive_code(&live.nonce, length))
        })
    }

    /// Whether `code` is the code of `live`, in constant time under every pepper.
    pub fn matches(&self, live: &LiveCode, code: &str) -> bool {
        let ring = self.peppers();
        ring.peppers
            .values()
            .fold(subtle::Choice::from(0), |any, p| {
                any | p.hash(&live.token_id, code).ct_eq(&live.hash)
            })
            .into()
    }
}

/// A code that is live: what is stored of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCode {
    /// Token id (`UUID` on egov-otp's wire); 16 bytes in memory and in postcard, a string in JSON.
    pub token_id: uuid::Uuid,
    /// Random nonce the code derives from.
    pub nonce: [u8; 16],
    /// HMAC of the code.
    pub hash: [u8; 32],
    /// When it was issued, epoch ms.
    pub created_ms: i64,
    /// When it dies, epoch ms.
    pub expires_ms: i64,
    /// Wrong tries it still survives.
    pub tries_left: u8,
    /// SMS it went out in so far (0 for a code of `/otp/v1/_create`, which is not sent); a state written as
    /// JSON before this was kept reads 1, as a code of `_send` went out once.
    #[serde(default = "sent_once")]
    pub sms_sent: u8,
}

impl LiveCode {
    /// A new live code from `fresh`, issued at `now`.
    pub(super) fn issue(fresh: FreshCode, now: i64, keys: &OtpKeys, policy: &OtpPolicy) -> Self {
        let code = zeroize::Zeroizing::new(keys.derive_code(&fresh.nonce, policy.length));
        Self {
            hash: keys.hash(&fresh.token_id, &code),
            token_id: fresh.token_id,
            nonce: fresh.nonce,
            created_ms: now,
            expires_ms: now + policy.ttl_ms,
            tries_left: policy.max_attempts,
            sms_sent: 0,
        }
    }
}

fn sent_once() -> u8 {
    1
}

/// Randomness for a new code, drawn by the caller from the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshCode {
    /// Token id for the new code.
    pub token_id: uuid::Uuid,
    /// Nonce for the new code.
    pub nonce: [u8; 16],
}
