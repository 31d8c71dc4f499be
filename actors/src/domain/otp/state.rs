//! The state of one (state tenant, mobile number): live codes per purpose, the send history the limits count
//! on, and recently consumed tokens; sends and validations as pure transitions.

use serde::{Deserialize, Serialize};

use super::{DAY_MS, FreshCode, HOUR_MS, LiveCode, LiveCodes, OtpKeys, OtpPolicy, Purpose};

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
    pub codes: LiveCodes,
    /// Times of accepted sends within the last day, oldest first.
    pub sends: Vec<i64>,
    /// Token ids consumed within the last day, with when (so `/otp/v1/_search` can say "validated").
    pub consumed: Vec<(uuid::Uuid, i64)>,
}

impl OtpSessionState {
    /// Drops what has expired by `now`: dead codes, sends and consumptions older than a day. Returns the
    /// purposes whose codes expired.
    pub fn expire(&mut self, now: i64) -> Vec<Purpose> {
        let expired: Vec<Purpose> = self
            .codes
            .iter()
            .filter(|(_, c)| c.expires_ms <= now)
            .map(|(p, _)| p)
            .collect();
        for p in &expired {
            self.codes.remove(*p);
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
        // sends are few per number (the daily cap), so no growth in doublings: with 100,000 live sessions
        // every spare slot is a megabyte
        self.sends.reserve_exact(1);
        self.sends.push(now);
        if let Some(live) = self.codes.get(purpose) {
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
            .iter()
            .map(|(p, _)| p)
            .filter(|p| purpose.is_none_or(|want| want == *p))
            .collect();
        // check every candidate, so the time taken does not say which purpose matched
        let mut matched = None;
        for p in &candidates {
            let live = self.codes.get(*p).expect("candidate exists");
            if keys.matches(live, code) && matched.is_none() {
                matched = Some(*p);
            }
        }
        if let Some(p) = matched {
            let live = self.codes.remove(p).expect("candidate exists");
            self.consumed.push((live.token_id, now));
            return Ok(live);
        }
        let mut exhausted = Vec::new();
        for p in candidates {
            let live = self.codes.get_mut(p).expect("candidate exists");
            live.tries_left = live.tries_left.saturating_sub(1);
            if live.tries_left == 0 {
                self.codes.remove(p);
                exhausted.push(p);
            }
        }
        Err(Invalid { exhausted })
    }

    /// Whether token `token_id` is live (`Some(false)`), was consumed (`Some(true)`), or unknown (`None`).
    pub fn token_status(&self, token_id: &uuid::Uuid) -> Option<bool> {
        if self.consumed.iter().any(|(t, _)| t == token_id) {
            return Some(true);
        }
        self.codes
            .values()
            .any(|c| c.token_id == *token_id)
            .then_some(false)
    }
}
