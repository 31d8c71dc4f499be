//! Account lockout (contract 4.5.3, done right): failed credential checks inside a window are counted; the
//! `max_attempts`-th failure locks the account for `cooldown`, and that attempt itself is answered "locked".
//! The lock ends at `locked_until` (checked lazily and by the actor's timer) or by an explicit unlock; a
//! success clears the count. Pure: time comes in as `now`.

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
            let until = now + policy.cooldown_ms;
            *self = Self {
                failures: Vec::new(),
                locked_at: Some(now),
                locked_until: Some(until),
            };
            return Failure::LockedNow { until };
        }
        self.failures.push(now);
        Failure::Counted {
            remaining: policy.max_attempts - count,
        }
    }

    /// Records a successful login: the count starts again.
    pub fn succeed(&mut self) {
        self.failures.clear();
    }

    /// Ends a lock at once (admin unlock, `accountLocked: false`).
    pub fn unlock(&mut self) {
        *self = Self::default();
    }

    /// Whether the state holds nothing worth keeping.
    pub fn is_clear(&self) -> bool {
        self.failures.is_empty() && self.locked_until.is_none()
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
    fn a_limit_of_one_locks_on_the_first_failure() {
        let mut s = LockoutState::default();
        let policy = LockoutPolicy {
            max_attempts: 1,
            ..POLICY
        };
        assert!(matches!(s.fail(0, &policy), Failure::LockedNow { .. }));
    }
}
