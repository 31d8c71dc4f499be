//! One-time passwords: purposes, how a code is derived and checked, and the state one mobile number's
//! session keeps — live codes per purpose and the send history that the limits are counted on.
//!
//! Invariants:
//! - A code is never stored. A live code keeps a random nonce (OS CSPRNG) and an HMAC of the code; the code
//!   is derived from the nonce under a key derived from the server's OTP pepper, so a resend while the code
//!   lives re-sends the same code, and the data dir holds nothing a reader could turn into a code without
//!   the pepper.
//! - At most one live code per purpose. A wrong try costs every candidate code one try; at zero it is dead.
//! - Everything here is pure: time comes in as `now` (epoch ms), randomness as a [`FreshCode`].

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::seal::KEY_LEN;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Citizen self-registration (`/user/citizen/_create`).
    Register,
    /// Citizen login with the OTP as password.
    Login,
    /// Forgotten password (`/user/password/nologin/_update`).
    PasswordReset,
    /// Created by another service through `/otp/v1/_create`.
    Direct,
}

impl Purpose {
    /// user-otp's `type`: case-insensitive; absent or empty means `register`; anything else is refused.
    pub fn parse_send_type(raw: Option<&str>) -> Option<Self> {
        match raw
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "register" => Some(Self::Register),
            "login" => Some(Self::Login),
            "passwordreset" => Some(Self::PasswordReset),
            _ => None,
        }
    }

    /// The wire and label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::PasswordReset => "passwordreset",
            Self::Direct => "direct",
        }
    }
}

/// The OTP limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    /// Digits per code (`egov.otp.length`).
    pub length: u32,
    /// Lifetime of a code, ms (`otp.ttl`).
    pub ttl_ms: i64,
    /// Wrong tries a code survives.
    pub max_attempts: u8,
    /// Minimum time between two sends to one number, ms.
    pub cooldown_ms: i64,
    /// Sends to one number per rolling hour.
    pub per_hour: u32,
    /// Sends to one number per rolling day.
    pub per_day: u32,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

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

    /// The stored HMAC of `code` issued as token `token_id`.
    pub fn hash(&self, token_id: &str, code: &str) -> [u8; 32] {
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
    /// Token id (`UUID` on egov-otp's wire).
    pub token_id: String,
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
}

impl LiveCode {
    /// A new live code from `fresh`, issued at `now`.
    fn issue(fresh: FreshCode, now: i64, keys: &OtpKeys, policy: &OtpPolicy) -> Self {
        let code = zeroize::Zeroizing::new(keys.derive_code(&fresh.nonce, policy.length));
        Self {
            hash: keys.hash(&fresh.token_id, &code),
            token_id: fresh.token_id,
            nonce: fresh.nonce,
            created_ms: now,
            expires_ms: now + policy.ttl_ms,
            tries_left: policy.max_attempts,
        }
    }
}

/// Randomness for a new code, drawn by the caller from the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshCode {
    /// Token id for the new code.
    pub token_id: String,
    /// Nonce for the new code.
    pub nonce: [u8; 16],
}

/// Why a send was refused; `retry_after_ms` says when it would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Too soon after the previous send.
    Cooldown {
        /// Wait this long.
        retry_after_ms: i64,
    },
    /// The hourly cap is reached.
    Hourly {
        /// Wait this long.
        retry_after_ms: i64,
    },
    /// The daily cap is reached.
    Daily {
        /// Wait this long.
        retry_after_ms: i64,
    },
}

impl Throttle {
    /// Milliseconds until a send would be accepted.
    pub fn retry_after_ms(self) -> i64 {
        match self {
            Self::Cooldown { retry_after_ms }
            | Self::Hourly { retry_after_ms }
            | Self::Daily { retry_after_ms } => retry_after_ms,
        }
    }

    /// Metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Cooldown { .. } => "cooldown",
            Self::Hourly { .. } => "hourly_cap",
            Self::Daily { .. } => "daily_cap",
        }
    }
}

/// An accepted send: which code goes out and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The live code to send.
    pub code: LiveCode,
    /// `false` when this re-sends a code that was already live.
    pub is_new: bool,
}

/// A failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Codes that died of this try (their tries ran out).
    pub exhausted: Vec<Purpose>,
}

/// The state of one (state tenant, mobile number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpSessionState {
    /// Live codes per purpose.
    pub codes: BTreeMap<Purpose, LiveCode>,
    /// Times of accepted sends within the last day, oldest first.
    pub sends: Vec<i64>,
    /// Token ids consumed within the last day, with when (so `/otp/v1/_search` can say "validated").
    pub consumed: Vec<(String, i64)>,
}

impl OtpSessionState {
    /// Drops what has expired by `now`: dead codes, sends and consumptions older than a day. Returns the
    /// purposes whose codes expired.
    pub fn expire(&mut self, now: i64) -> Vec<Purpose> {
        let expired: Vec<Purpose> = self
            .codes
            .iter()
            .filter(|(_, c)| c.expires_ms <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &expired {
            self.codes.remove(p);
        }
        self.sends.retain(|t| now - t < DAY_MS);
        self.consumed.retain(|(_, t)| now - t < DAY_MS);
        expired
    }

    /// Whether the state holds nothing that needs keeping: the session may stop and be forgotten.
    pub fn is_idle(&self) -> bool {
        self.codes.is_empty() && self.sends.is_empty() && self.consumed.is_empty()
    }

    /// The next moment something in the state expires, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        let codes = self.codes.values().map(|c| c.expires_ms);
        let sends = self.sends.first().map(|t| t + DAY_MS);
        let consumed = self.consumed.iter().map(|(_, t)| t + DAY_MS).min();
        codes.chain(sends).chain(consumed).min()
    }

    /// Checks the limits and, when they allow it, records a send for `purpose`: the live code of that
    /// purpose again, or a new code from `fresh`.
    pub fn send(
        &mut self,
        now: i64,
        purpose: Purpose,
        fresh: FreshCode,
        keys: &OtpKeys,
        policy: &OtpPolicy,
    ) -> Result<Send, Throttle> {
        self.expire(now);
        if let Some(last) = self.sends.last()
            && now - last < policy.cooldown_ms
        {
            return Err(Throttle::Cooldown {
                retry_after_ms: last + policy.cooldown_ms - now,
            });
        }
        let in_hour: Vec<i64> = self
            .sends
            .iter()
            .copied()
            .filter(|t| now - t < HOUR_MS)
            .collect();
        if in_hour.len() as u32 >= policy.per_hour {
            return Err(Throttle::Hourly {
                retry_after_ms: in_hour[in_hour.len() - policy.per_hour as usize] + HOUR_MS - now,
            });
        }
        if self.sends.len() as u32 >= policy.per_day {
            return Err(Throttle::Daily {
                retry_after_ms: self.sends[self.sends.len() - policy.per_day as usize] + DAY_MS
                    - now,
            });
        }
        self.sends.push(now);
        if let Some(live) = self.codes.get(&purpose) {
            return Ok(Send {
                code: live.clone(),
                is_new: false,
            });
        }
        let live = LiveCode::issue(fresh, now, keys, policy);
        self.codes.insert(purpose, live.clone());
        Ok(Send {
            code: live,
            is_new: true,
        })
    }

    /// Issues a code for `/otp/v1/_create` without the send limits (the caller is a trusted service).
    pub fn issue_direct(
        &mut self,
        now: i64,
        fresh: FreshCode,
        keys: &OtpKeys,
        policy: &OtpPolicy,
    ) -> LiveCode {
        self.expire(now);
        let live = LiveCode::issue(fresh, now, keys, policy);
        self.codes.insert(Purpose::Direct, live.clone());
        live
    }

    /// Checks `code` against the live code of `purpose`, or of every purpose when `None`. A match consumes
    /// that code; a miss costs each candidate one try.
    pub fn validate(
        &mut self,
        now: i64,
        purpose: Option<Purpose>,
        code: &str,
        keys: &OtpKeys,
    ) -> Result<LiveCode, Invalid> {
        self.expire(now);
        let candidates: Vec<Purpose> = self
            .codes
            .keys()
            .copied()
            .filter(|p| purpose.is_none_or(|want| want == *p))
            .collect();
        // check every candidate, so the time taken does not say which purpose matched
        let mut matched = None;
        for p in &candidates {
            if keys.matches(&self.codes[p], code) && matched.is_none() {
                matched = Some(*p);
            }
        }
        if let Some(p) = matched {
            let live = self.codes.remove(&p).expect("candidate exists");
            self.consumed.push((live.token_id.clone(), now));
            return Ok(live);
        }
        let mut exhausted = Vec::new();
        for p in candidates {
            let live = self.codes.get_mut(&p).expect("candidate exists");
            live.tries_left = live.tries_left.saturating_sub(1);
            if live.tries_left == 0 {
                self.codes.remove(&p);
                exhausted.push(p);
            }
        }
        Err(Invalid { exhausted })
    }

    /// Whether token `token_id` is live (`Some(false)`), was consumed (`Some(true)`), or unknown (`None`).
    pub fn token_status(&self, token_id: &str) -> Option<bool> {
        if self.consumed.iter().any(|(t, _)| t == token_id) {
            return Some(true);
        }
        self.codes
            .values()
            .any(|c| c.token_id == token_id)
            .then_some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: OtpPolicy = OtpPolicy {
        length: 6,
        ttl_ms: 600_000,
        max_attempts: 5,
        cooldown_ms: 30_000,
        per_hour: 5,
        per_day: 10,
    };

    fn keys() -> OtpKeys {
        OtpKeys::new(&[3; KEY_LEN])
    }

    fn fresh(n: u8) -> FreshCode {
        FreshCode {
            token_id: format!("token-{n}"),
            nonce: [n; 16],
        }
    }

    fn code_of(live: &LiveCode) -> String {
        keys().derive_code(&live.nonce, POLICY.length)
    }

    #[test]
    fn send_types_parse_as_user_otp_does() {
        assert_eq!(Purpose::parse_send_type(None), Some(Purpose::Register));
        assert_eq!(Purpose::parse_send_type(Some("")), Some(Purpose::Register));
        assert_eq!(
            Purpose::parse_send_type(Some("LOGIN")),
            Some(Purpose::Login)
        );
        assert_eq!(
            Purpose::parse_send_type(Some("passwordReset")),
            Some(Purpose::PasswordReset)
        );
        assert_eq!(Purpose::parse_send_type(Some("unknown")), None);
        assert_eq!(Purpose::parse_send_type(Some("direct")), None);
    }

    #[test]
    fn codes_are_digits_of_the_configured_length_and_spread_evenly() {
        let k = keys();
        let mut first_digits = [0u32; 10];
        for i in 0..5000u32 {
            let mut nonce = [0u8; 16];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            let code = k.derive_code(&nonce, 6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            first_digits[(code.as_bytes()[0] - b'0') as usize] += 1;
        }
        // 500 expected per digit; a biased generator would miss this by far
        assert!(
            first_digits.iter().all(|n| (400..600).contains(n)),
            "{first_digits:?}"
        );
        assert_eq!(k.derive_code(&[1; 16], 8).len(), 8);
    }

    #[test]
    fn another_pepper_derives_other_codes_and_hashes() {
        let a = OtpKeys::new(&[1; KEY_LEN]);
        let b = OtpKeys::new(&[2; KEY_LEN]);
        assert_ne!(a.derive_code(&[9; 16], 6), b.derive_code(&[9; 16], 6));
        assert_ne!(a.hash("t", "123456"), b.hash("t", "123456"));
        assert_ne!(
            a.hash("t1", "123456"),
            a.hash("t2", "123456"),
            "bound to the token"
        );
    }

    #[test]
    fn a_resend_while_live_is_the_same_code_and_a_new_one_after_expiry() {
        let mut s = OtpSessionState::default();
        let first = s
            .send(0, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        assert!(first.is_new);
        let again = s
            .send(40_000, Purpose::Login, fresh(2), &keys(), &POLICY)
            .unwrap();
        assert!(!again.is_new);
        assert_eq!(code_of(&again.code), code_of(&first.code));
        let other = s
            .send(80_000, Purpose::Register, fresh(3), &keys(), &POLICY)
            .unwrap();
        assert!(other.is_new, "one live code per purpose");
        let after = s
            .send(600_000, Purpose::Login, fresh(4), &keys(), &POLICY)
            .unwrap();
        assert!(after.is_new);
        assert_eq!(after.code.token_id, "token-4");
    }

    #[test]
    fn cooldown_hourly_and_daily_caps() {
        let mut s = OtpSessionState::default();
        let k = keys();
        s.send(0, Purpose::Login, fresh(1), &k, &POLICY).unwrap();
        assert_eq!(
            s.send(10_000, Purpose::Login, fresh(1), &k, &POLICY),
            Err(Throttle::Cooldown {
                retry_after_ms: 20_000
            })
        );
        for i in 1..5 {
            s.send(i * 60_000, Purpose::Login, fresh(1), &k, &POLICY)
                .unwrap();
        }
        // five sends in the hour: the sixth waits until the first leaves the window
        assert_eq!(
            s.send(300_000, Purpose::Login, fresh(1), &k, &POLICY),
            Err(Throttle::Hourly {
                retry_after_ms: 3_300_000
            })
        );
        for i in 0..5 {
            s.send(HOUR_MS + i * 60_000, Purpose::Login, fresh(1), &k, &POLICY)
                .unwrap();
        }
        let err = s
            .send(2 * HOUR_MS + 600_000, Purpose::Login, fresh(1), &k, &POLICY)
            .unwrap_err();
        assert_eq!(
            err,
            Throttle::Daily {
                retry_after_ms: DAY_MS - 2 * HOUR_MS - 600_000
            }
        );
        assert_eq!(err.reason(), "daily_cap");
        assert!(
            s.send(DAY_MS + 300_000, Purpose::Login, fresh(1), &k, &POLICY)
                .is_ok(),
            "a day later the window has moved"
        );
    }

    #[test]
    fn a_refused_send_changes_nothing() {
        let mut s = OtpSessionState::default();
        s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        let before = s.clone();
        assert!(
            s.send(1, Purpose::Register, fresh(2), &keys(), &POLICY)
                .is_err()
        );
        assert_eq!(s, before);
    }

    #[test]
    fn the_right_code_validates_once() {
        let mut s = OtpSessionState::default();
        let sent = s
            .send(0, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        let code = code_of(&sent.code);
        assert_eq!(
            s.validate(1000, Some(Purpose::Login), &code, &keys())
                .unwrap()
                .token_id,
            "token-1"
        );
        assert!(
            s.validate(2000, Some(Purpose::Login), &code, &keys())
                .is_err()
        );
        assert_eq!(s.token_status("token-1"), Some(true));
    }

    #[test]
    fn wrong_tries_kill_the_code_after_max_attempts() {
        let mut s = OtpSessionState::default();
        let sent = s
            .send(0, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        let code = code_of(&sent.code);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..4 {
            assert_eq!(
                s.validate(1, None, wrong, &keys()),
                Err(Invalid { exhausted: vec![] })
            );
        }
        assert_eq!(
            s.validate(1, None, wrong, &keys()),
            Err(Invalid {
                exhausted: vec![Purpose::Login]
            })
        );
        assert!(
            s.validate(1, None, &code, &keys()).is_err(),
            "dead after five wrong tries"
        );
        assert_eq!(s.token_status("token-1"), None);
    }

    #[test]
    fn an_expired_code_does_not_validate() {
        let mut s = OtpSessionState::default();
        let sent = s
            .send(0, Purpose::Register, fresh(1), &keys(), &POLICY)
            .unwrap();
        let code = code_of(&sent.code);
        assert!(s.validate(600_000, None, &code, &keys()).is_err());
        assert!(s.codes.is_empty());
    }

    #[test]
    fn validation_by_purpose_leaves_other_codes_alone() {
        let mut s = OtpSessionState::default();
        let login = s
            .send(0, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        s.send(60_000, Purpose::Register, fresh(2), &keys(), &POLICY)
            .unwrap();
        assert!(
            s.validate(
                61_000,
                Some(Purpose::Register),
                &code_of(&login.code),
                &keys()
            )
            .is_err()
        );
        assert_eq!(s.codes[&Purpose::Register].tries_left, 4);
        assert_eq!(s.codes[&Purpose::Login].tries_left, 5);
        assert!(
            s.validate(62_000, None, &code_of(&login.code), &keys())
                .is_ok(),
            "any purpose when none is named"
        );
    }

    #[test]
    fn idle_and_deadlines() {
        let mut s = OtpSessionState::default();
        assert!(s.is_idle());
        assert_eq!(s.next_deadline(), None);
        s.send(1000, Purpose::Login, fresh(1), &keys(), &POLICY)
            .unwrap();
        assert_eq!(s.next_deadline(), Some(601_000));
        s.expire(601_000);
        assert!(
            s.codes.is_empty() && !s.is_idle(),
            "the send history is kept for the day"
        );
        s.expire(1000 + DAY_MS);
        assert!(s.is_idle());
    }

    #[test]
    fn direct_codes_skip_the_send_limits() {
        let mut s = OtpSessionState::default();
        let a = s.issue_direct(0, fresh(1), &keys(), &POLICY);
        let b = s.issue_direct(1, fresh(2), &keys(), &POLICY);
        assert_ne!(a.token_id, b.token_id);
        assert!(s.sends.is_empty());
        assert!(s.validate(2, None, &code_of(&b), &keys()).is_ok());
    }
}
