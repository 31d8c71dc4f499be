//! Failed logins from addresses a user has not logged in from (strangers), counted per address: anyone who
//! knows a citizen's mobile number could otherwise lock the account with five wrong codes. A stranger's
//! `max_attempts`-th failure within the window blocks that address — for that user only — for a delay that
//! doubles with every block (from `first_delay_ms` up to `max_delay_ms`); the user, from any other address,
//! is not affected. Sustained guessing from many addresses still hard-locks the account (counted in the
//! persisted lockout state, `sustained_max` failures in the window). Kept in memory by
//! the user's lockout actor: a refusal writes nothing. Pure: time comes in as `now`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Addresses of successful logins remembered per user.
const KNOWN_MAX: usize = 8;

/// Stranger addresses tracked per user at most (the least recently seen is forgotten first).
const STRANGERS_MAX: usize = 256;

/// How strangers are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrangerPolicy {
    /// Failures from one stranger address, within the window, that block it.
    pub max_attempts: u32,
    /// Window in which failures count, ms.
    pub window_ms: i64,
    /// The first block's length, ms; each next block of the same address doubles it.
    pub first_delay_ms: i64,
    /// A block's length at most, ms.
    pub max_delay_ms: i64,
}

/// Whether an attempt from an address may be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceGate {
    /// Evaluate it.
    Open,
    /// Refuse it without evaluating: the address is blocked for this user until then (epoch ms).
    Blocked {
        /// End of the block.
        until: i64,
    },
}

/// What a stranger's failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFailure {
    /// Counted; this many more failures from the address block it.
    Counted {
        /// Failures left before the block.
        remaining: u32,
    },
    /// This failure blocked the address.
    Blocked {
        /// End of the block.
        until: i64,
    },
}

#[derive(Debug, Default)]
struct Stranger {
    failures: VecDeque<i64>,
    blocked_until: Option<i64>,
    blocks: u32,
    last_seen: i64,
}

/// One user's addresses: those it logged in from, and the strangers' counts.
#[derive(Debug, Default)]
pub struct Sources {
    known: VecDeque<IpAddr>,
    strangers: HashMap<IpAddr, Stranger>,
}

impl Sources {
    /// Whether `ip` is an address this user logged in from.
    pub fn is_known(&self, ip: &IpAddr) -> bool {
        self.known.contains(ip)
    }

    /// Whether an attempt from stranger `ip` at `now` may be evaluated.
    pub fn gate(&self, ip: &IpAddr, now: i64) -> SourceGate {
        match self.strangers.get(ip).and_then(|s| s.blocked_until) {
            Some(until) if now < until => SourceGate::Blocked { until },
            _ => SourceGate::Open,
        }
    }

    /// Counts a failure from stranger `ip` at `now`.
    pub fn fail(&mut self, ip: IpAddr, now: i64, policy: &StrangerPolicy) -> SourceFailure {
        if !self.strangers.contains_key(&ip) && self.strangers.len() >= STRANGERS_MAX {
            self.forget_oldest();
        }
        let s = self.strangers.entry(ip).or_default();
        s.last_seen = now;
        while s
            .failures
            .front()
            .is_some_and(|t| now - t >= policy.window_ms)
        {
            s.failures.pop_front();
        }
        s.failures.push_back(now);
        let count = u32::try_from(s.failures.len()).unwrap_or(u32::MAX);
        if count < policy.max_attempts {
            return SourceFailure::Counted {
                remaining: policy.max_attempts - count,
            };
        }
        let delay = policy
            .first_delay_ms
            .saturating_mul(1 << s.blocks.min(20))
            .min(policy.max_delay_ms);
        let until = now + delay;
        s.blocks = s.blocks.saturating_add(1);
        s.blocked_until = Some(until);
        s.failures.clear();
        SourceFailure::Blocked { until }
    }

    /// A successful login from `ip` (if known): the address becomes the user's, its stranger count goes.
    pub fn succeed(&mut self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        self.strangers.remove(&ip);
        if !self.known.contains(&ip) {
            if self.known.len() >= KNOWN_MAX {
                self.known.pop_front();
            }
            self.known.push_back(ip);
        }
    }

    /// Whether anything here still matters at `now` (a block running, failures in the window): the actor
    /// holding it stays.
    pub fn active(&self, now: i64, policy: &StrangerPolicy) -> bool {
        self.strangers.values().any(|s| {
            s.blocked_until.is_some_and(|u| now < u)
                || s.failures
                    .back()
                    .is_some_and(|t| now - t < policy.window_ms)
        })
    }

    fn forget_oldest(&mut self) {
        if let Some(oldest) = self
            .strangers
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(ip, _)| *ip)
        {
            self.strangers.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const POLICY: StrangerPolicy = StrangerPolicy {
        max_attempts: 5,
        window_ms: 30 * MIN,
        first_delay_ms: MIN,
        max_delay_ms: 60 * MIN,
    };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, n])
    }

    #[test]
    fn a_stranger_s_fifth_failure_blocks_that_address_only_with_growing_delays() {
        let mut s = Sources::default();
        for (t, remaining) in [4, 3, 2, 1].into_iter().enumerate() {
            assert_eq!(
                s.fail(ip(1), t as i64, &POLICY),
                SourceFailure::Counted { remaining }
            );
        }
        assert_eq!(
            s.fail(ip(1), 10, &POLICY),
            SourceFailure::Blocked { until: 10 + MIN }
        );
        assert_eq!(s.gate(&ip(1), 20), SourceGate::Blocked { until: 10 + MIN });
        assert_eq!(s.gate(&ip(2), 20), SourceGate::Open, "another address");
        assert_eq!(
            s.gate(&ip(1), 10 + MIN),
            SourceGate::Open,
            "the block ended"
        );
        for t in 0..4 {
            s.fail(ip(1), 2 * MIN + t, &POLICY);
        }
        assert_eq!(
            s.fail(ip(1), 2 * MIN + 9, &POLICY),
            SourceFailure::Blocked {
                until: 2 * MIN + 9 + 2 * MIN
            },
            "the second block is twice as long"
        );
    }

    #[test]
    fn a_success_makes_the_address_known_and_clears_it() {
        let mut s = Sources::default();
        for t in 0..4 {
            s.fail(ip(3), t, &POLICY);
        }
        assert!(!s.is_known(&ip(3)));
        s.succeed(Some(ip(3)));
        assert!(s.is_known(&ip(3)));
        assert_eq!(
            s.fail(ip(3), 10, &POLICY),
            SourceFailure::Counted { remaining: 4 },
            "counted afresh"
        );
        assert!(s.active(10, &POLICY));
        assert!(!s.active(10 + 30 * MIN, &POLICY), "the window passed");
    }

    #[test]
    fn strangers_and_known_addresses_are_bounded() {
        let mut s = Sources::default();
        for n in 0..=255u8 {
            s.fail(IpAddr::from([10, 0, 1, n]), i64::from(n), &POLICY);
            s.fail(IpAddr::from([10, 0, 2, n]), i64::from(n), &POLICY);
            s.succeed(Some(IpAddr::from([10, 0, 3, n])));
        }
        assert!(s.strangers.len() <= STRANGERS_MAX);
        assert!(s.known.len() <= KNOWN_MAX);
    }
}
