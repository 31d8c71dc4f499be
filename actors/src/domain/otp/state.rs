//! The state of one (state tenant, mobile number): live codes per purpose, the send history the limits count
//! on, and recently consumed tokens; sends and validations as pure transitions.

use serde::{Deserialize, Serialize};

use super::{DAY_MS, FreshCode, HOUR_MS, LiveCode, LiveCodes, OtpKeys, OtpPolicy, Purpose};

/// Why a send was refused; `retry_after_ms` says when it would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The client's address reached its cap (counted outside the session, given to it as an input).
    Ip {
        /// Wait this long.
        retry_after_ms: i64,
    },
    /// The number's prefix reached its cap (SMS pumping walks a range; counted outside the session).
    Prefix {
        /// Wait this long.
        retry_after_ms: i64,
    },
    /// The state reached its ceiling of sends (counted outside the session).
    State {
        /// Wait this long.
        retry_after_ms: i64,
    },
    /// The asking address used its share of the number's SMS (a stranger may not take them all).
    Source {
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
            | Self::Daily { retry_after_ms }
            | Self::Ip { retry_after_ms }
            | Self::Prefix { retry_after_ms }
            | Self::State { retry_after_ms }
            | Self::Source { retry_after_ms } => retry_after_ms,
        }
    }

    /// Metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Cooldown { .. } => "cooldown",
            Self::Hourly { .. } => "hourly_cap",
            Self::Daily { .. } => "daily_cap",
            Self::Ip { .. } => "ip_cap",
            Self::Prefix { .. } => "prefix_cap",
            Self::State { .. } => "state_cap",
            Self::Source { .. } => "source_cap",
        }
    }
}

/// What a send request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sending {
    /// An SMS goes out with this code.
    Sms(Send),
    /// The purpose's code is live and was sent before; it may not go out again now, so nothing is sent and
    /// the code the client holds stays valid (DIGIT's resend buttons get a success, the SMS bill no line).
    Held(Hold),
}

impl Sending {
    /// The SMS that goes out, if one does.
    pub fn into_sms(self) -> Option<Send> {
        match self {
            Self::Sms(send) => Some(send),
            Self::Held(_) => None,
        }
    }
}

/// Why a resend of a live code sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hold {
    /// The code already went out `sms_per_code` times.
    PerCode,
    /// A limit (of the number, or the client's address): an SMS now would break it.
    Limit(Throttle),
}

impl Hold {
    /// Metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::PerCode => "per_code",
            Self::Limit(t) => t.reason(),
        }
    }
}

/// An SMS that goes out: which code and whether it is new.
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
    /// Whether a live code lost a try (else the state did not change: there was no code to try).
    pub tries_spent: bool,
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

    /// A send request for `purpose`. With a live code of that purpose the request is a *resend*: it goes out
    /// again while the code has had fewer than `sms_per_code` SMS and the number's cooldown and caps allow
    /// it, else it is held — the citizen already has the code, so nothing is sent and nothing is refused.
    /// Without one, a new code from `fresh` goes out if the limits allow it; otherwise the request is refused.
    /// Only SMS actually sent are recorded (and counted by the caps); a held or refused send changes nothing.
    /// `outside` is the verdict of a cap counted outside the session (client IP, number prefix, state) when
    /// it allows no SMS.
    pub fn send(
        &mut self,
        now: i64,
        purpose: Purpose,
        fresh: FreshCode,
        keys: &OtpKeys,
        policy: &OtpPolicy,
        outside: Option<Throttle>,
    ) -> Result<Sending, Throttle> {
        self.expire(now);
        let limit = self.limit(now, policy).or(outside);
        if let Some(live) = self.codes.get_mut(purpose) {
            if u32::from(live.sms_sent) >= policy.sms_per_code {
                return Ok(Sending::Held(Hold::PerCode));
            }
            if let Some(throttle) = limit {
                return Ok(Sending::Held(Hold::Limit(throttle)));
            }
            live.sms_sent = live.sms_sent.saturating_add(1);
            let code = live.clone();
            self.record_sms(now);
            return Ok(Sending::Sms(Send {
                code,
                is_new: false,
            }));
        }
        if let Some(throttle) = limit {
            return Err(throttle);
        }
        let mut live = LiveCode::issue(fresh, now, keys, policy);
        live.sms_sent = 1;
        self.codes.insert(purpose, live.clone());
        self.record_sms(now);
        Ok(Sending::Sms(Send {
            code: live,
            is_new: true,
        }))
    }

    /// The first limit an SMS to this number at `now` would break: the cooldown since the last SMS, then the
    /// hourly and daily caps (counted on SMS sent).
    fn limit(&self, now: i64, policy: &OtpPolicy) -> Option<Throttle> {
        if let Some(last) = self.sends.last()
            && now - last < policy.cooldown_ms
        {
            return Some(Throttle::Cooldown {
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
            return Some(Throttle::Hourly {
                retry_after_ms: in_hour[in_hour.len() - policy.per_hour as usize] + HOUR_MS - now,
            });
        }
        if self.sends.len() as u32 >= policy.per_day {
            return Some(Throttle::Daily {
                retry_after_ms: self.sends[self.sends.len() - policy.per_day as usize] + DAY_MS
                    - now,
            });
        }
        None
    }

    fn record_sms(&mut self, now: i64) {
        // sends are few per number (the daily cap), so no growth in doublings: with 100,000 live sessions
        // every spare slot is a megabyte
        self.sends.reserve_exact(1);
        self.sends.push(now);
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
        let tries_spent = !candidates.is_empty();
        for p in candidates {
            let live = self.codes.get_mut(p).expect("candidate exists");
            live.tries_left = live.tries_left.saturating_sub(1);
            if live.tries_left == 0 {
                self.codes.remove(p);
                exhausted.push(p);
            }
        }
        Err(Invalid {
            exhausted,
            tries_spent,
        })
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
