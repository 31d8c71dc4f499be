//! How a code is derived from its nonce and checked against its HMAC, and what is stored of a live code.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::OtpPolicy;
use crate::seal::KEY_LEN;

/// Keys derived from the OTP pepper: one derives codes from nonces, one hashes codes.
#[derive(Clone)]
pub struct OtpKeys {
    derive: Hmac<Sha256>,
    hash: Hmac<Sha256>,
}

impl OtpKeys {
    /// Derives both keys from the pepper, domain-separated.
    pub fn new(pepper: &[u8; KEY_LEN]) -> Self {
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

    /// The `length`-digit code of `nonce`, uniform over all codes (rejection sampling over HMAC output).
    pub fn derive_code(&self, nonce: &[u8; 16], length: u32) -> String {
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

    /// The stored HMAC of `code` issued as token `token_id` (over the id's hyphenated form, as it was
    /// when ids were kept as strings, so stored hashes still match).
    pub fn hash(&self, token_id: &uuid::Uuid, code: &str) -> [u8; 32] {
        let mut buf = uuid::Uuid::encode_buffer();
        let token_id: &str = token_id.hyphenated().encode_lower(&mut buf);
        let mut mac = self.hash.clone();
        mac.update(&(token_id.len() as u64).to_be_bytes());
        mac.update(token_id.as_bytes());
        mac.update(code.trim().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `code` is the code of `live`, in constant time.
    pub fn matches(&self, live: &LiveCode, code: &str) -> bool {
        self.hash(&live.token_id, code).ct_eq(&live.hash).into()
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
