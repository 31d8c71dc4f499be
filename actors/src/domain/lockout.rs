//! Account lockout (contract 4.5.3, done right): failed credential checks inside a window are counted; the
//! `max_attempts`-th failure locks the account for `cooldown`, and that attempt itself is answered "locked".
//! The lock ends at `locked_until` (checked lazily and by the actor's timer) or by an explicit unlock; a
//! success clears the count. Failures from addresses the user has not logged in from are throttled per
//! address instead ([`super::strangers`]); they lock the account only when they are sustained
//! (`sustained_max` in the window, from any addresses). Pure: time comes in as `now`.

use serde::{Deserialize, Serialize};

/// The lockout limits (`max.invalid.login.attempts`, `…period.minutes`, `account.unlock.cool.down…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures (counting the current one) that lock.
    pub max_attempts: u32,
    /// Window in which failures count, ms.
    pub window_ms: i64,
    /// How long a lock lasts, ms.
    pub cooldown_ms: i64,
    /// Failures from addresses the user has not logged in from, inside the window, that lock the account.
    pub sustained_max: u32,
    /// The first block of a stranger address, ms (doubling up to `cooldown_ms`).
    pub stranger_delay_ms: i64,
}

impl LockoutPolicy {
    /// How strangers' addresses are throttled under this policy.
    pub fn strangers(&self) -> super::strangers::StrangerPolicy {
        super::strangers::StrangerPolicy {
            max_attempts: self.max_attempts,
            window_ms: self.window_ms,
            first_delay_ms: self.stranger_delay_ms,
            max_delay_ms: self.cooldown_ms,
        }
    }
}

/// One user's lockout state, as persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutState {
    /// Times of counted failures inside the window, oldest first.
    pub failures: Vec<i64>,
    /// When the current lock started, if locked.
    pub locked_at: Option<i64>,
    /// When the current lock ends, if locked.
    pub locked_until: Option<i64>,
    /// Times of failures from addresses the user has not logged in from, inside the window.
    #[serde(default)]
    pub stranger_failures: Vec<i64>,
}

/// Whether an attempt may be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Evaluate the credential.
    Open,
    /// Refuse without evaluating: locked until then (epoch ms).
    Locked {
        /// End of the lock.
        until: i64,
    },
}

/// What a failed attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; this many more failures lock.
    Counted {
        /// Failures left before the lock.
        remaining: u32,
    },
    /// This failure locked the account.
    LockedNow {
        /// End of the lock.
        until: i64,
    },
}

impl LockoutState {
    /// Ends an expired lock and forgets failures outside the window. Returns `true` when a lock ended.
    pub fn refresh(&mut self, now: i64, policy: &LockoutPolicy) -> bool {
        let unlocked = self.locked_until.is_some_and(|until| now >= until);
        if unlocked {
            *self = Self::default();
        }
        self.failures.retain(|t| now - t < policy.window_ms);
        self.stranger_failures
            .retain(|t| now - t < policy.window_ms);
        unlocked
    }

    /// Whether an attempt at `now` may be evaluated.
    pub fn gate(&mut self, now: i64, policy: &LockoutPolicy) -> Gate {
        self.refresh(now, policy);
        match self.locked_until {
            Some(until) => Gate::Locked { until },
            None => Gate::Open,
        }
    }

    /// Records a failed credential check at `now` (the gate was open).
    pub fn fail(&mut self, now: i64, policy: &LockoutPolicy) -> Failure {
        self.refresh(now, policy);
        let count = self.failures.len() as u32 + 1;
        if count >= policy.max_attempts {
            // DIGIT does not record the locking attempt itself; the lock replaces the count
            return self.lock(now, policy);
        }
        self.failures.push(now);
        Failure::Counted {
            remaining: policy.max_attempts - count,
        }
    }

    /// Records a failure from an address the user has not logged in from: it locks the account only as the
    /// `sustained_max`-th in the window; else `None` (the address's own count decides).
    pub fn fail_from_stranger(&mut self, now: i64, policy: &LockoutPolicy) -> Option<Failure> {
        self.refresh(now, policy);
        if self.stranger_failures.len() as u32 + 1 >= policy.sustained_max {
            return Some(self.lock(now, policy));
        }
        self.stranger_failures.push(now);
        None
    }

    fn lock(&mut self, now: i64, policy: &LockoutPolicy) -> Failure {
        let until = now + policy.cooldown_ms;
        *self = Self {
            locked_at: Some(now),
            locked_until: Some(until),
            ..Self::default()
        };
        Failure::LockedNow { until }
    }

    /// Records a successful login: the counts start again.
    pub fn succeed(&mut self) {
        self.failures.clear();
        self.stranger_failures.clear();
    }

    /// Ends a lock at once (admin unlock, `accountLocked: false`).
    pub fn unlock(&mut self) {
        *self = Self::default();
    }

    /// Whether the state holds nothing worth keeping.
    pub fn is_clear(&self) -> bool {
        self.failures.is_empty() && self.stranger_failures.is_empty() && self.locked_until.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const POLICY: LockoutPolicy = LockoutPolicy {
        max_attempts: 5,
        window_ms: 30 * MIN,
        cooldown_ms: 60 * MIN,
        sustained_max: 100,
        stranger_delay_ms: MIN,
    };

    #[test]
    fn the_fifth_failure_in_the_window_locks_and_is_itself_answered_locked() {
        let mut s = LockoutState::default();
        for (i, remaining) in [4, 3, 2, 1].into_iter().enumerate() {
            assert_eq!(s.gate(i as i64, &POLICY), Gate::Open);
            assert_eq!(s.fail(i as i64, &POLICY), Failure::Counted { remaining });
        }
        assert_eq!(
            s.fail(10, &POLICY),
            Failure::LockedNow {
                until: 10 + 60 * MIN
            }
        );
        assert_eq!(
            s.gate(11, &POLICY),
            Gate::Locked {
                until: 10 + 60 * MIN
            }
        );
        assert_eq!(s.locked_at, Some(10));
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut s = LockoutState::default();
        for t in 0..4 {
            s.fail(t, &POLICY);
        }
        assert_eq!(
            s.fail(30 * MIN + 5, &POLICY),
            Failure::Counted { remaining: 4 },
            "the four early ones left the window"
        );
    }

    #[test]
    fn the_lock_ends_after_the_cooldown_or_by_unlock() {
        let mut s = LockoutState::default();
        for t in 0..5 {
            s.fail(t, &POLICY);
        }
        assert!(matches!(s.gate(60 * MIN, &POLICY), Gate::Locked { .. }));
        assert_eq!(
            s.gate(60 * MIN + 4, &POLICY),
            Gate::Open,
            "lazily unlocked at the next attempt"
        );
        assert!(s.is_clear());
        for t in 0..5 {
            s.fail(t, &POLICY);
        }
        s.unlock();
        assert_eq!(s.gate(6, &POLICY), Gate::Open);
    }

    #[test]
    fn a_success_starts_the_count_again() {
        let mut s = LockoutState::default();
        for t in 0..4 {
            s.fail(t, &POLICY);
        }
        s.succeed();
        assert_eq!(s.fail(5, &POLICY), Failure::Counted { remaining: 4 });
    }

    #[test]
    fn strangers_lock_the_account_only_when_sustained() {
        let mut s = LockoutState::default();
        for t in 0..99 {
            assert_eq!(s.fail_from_stranger(t, &POLICY), None);
        }
        assert_eq!(
            s.fail_from_stranger(100, &POLICY),
            Some(Failure::LockedNow {
                until: 100 + 60 * MIN
            }),
            "the hundredth in the window"
        );
        assert!(
            s.stranger_failures.is_empty(),
            "the lock replaces the count"
        );
        let mut t = LockoutState::default();
        for i in 0..99 {
            t.fail_from_stranger(i, &POLICY);
        }
        t.succeed();
        assert!(t.is_clear(), "a success clears them");
    }

    #[test]
    fn a_limit_of_one_locks_on_the_first_failure() {
        let mut s = LockoutState::default();
        let policy = LockoutPolicy {
            max_attempts: 1,
            ..POLICY
        };
        assert!(matches!(s.fail(0, &policy), Failure::LockedNow { .. }));
    }
}
