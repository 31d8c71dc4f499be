//! What each client address did to one number, as its session actor remembers it (in memory, bounded,
//! never written): the SMS it asked for in the last hour and its wrong tries at the live codes.
//!
//! Anyone who knows a citizen's number can ask codes for it and try codes against it. Counted per number
//! alone, one stranger could take the number's whole SMS allowance and burn its live code, and the citizen
//! would have no way in. Counted per (number, address), each address gets a share: `sends_per_source` of
//! the number's hourly SMS and `attempts_per_source` wrong tries at its live codes; a code dies only after
//! the policy's `max_attempts` wrong tries from everyone together (the bound on guessing it).

use std::net::IpAddr;

use super::state::Throttle;
use super::{HOUR_MS, OtpPolicy};

/// Addresses past the bound share one entry, and so do tries of unknown address.
type Source = Option<IpAddr>;

#[derive(Debug, Default, Clone)]
struct Entry {
    /// SMS sent at its asking within the last hour, oldest first.
    sends: Vec<i64>,
    /// Wrong tries since the last new code.
    misses: u8,
}

/// The ledger of one number: a short list (at most `max_sources` + 1 entries, searched in order), which
/// costs a live session far less than a map would.
#[derive(Debug, Default, Clone)]
pub struct SourceLedger {
    by_source: Vec<(Source, Entry)>,
}

impl SourceLedger {
    fn get(&self, source: &Source) -> Option<&Entry> {
        self.by_source
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, e)| e)
    }

    fn get_mut(&mut self, source: &Source) -> Option<&mut Entry> {
        self.by_source
            .iter_mut()
            .find(|(s, _)| s == source)
            .map(|(_, e)| e)
    }

    fn entry(&mut self, source: Source) -> &mut Entry {
        let at = match self.by_source.iter().position(|(s, _)| *s == source) {
            Some(at) => at,
            None => {
                self.by_source.reserve_exact(1);
                self.by_source.push((source, Entry::default()));
                self.by_source.len() - 1
            }
        };
        &mut self.by_source[at].1
    }

    fn knows(&self, source: &Source) -> bool {
        self.get(source).is_some()
    }

    /// Where `source` is counted: its own entry while there is room, else the shared one.
    fn slot(&mut self, source: Source, now: i64, policy: &OtpPolicy) -> Source {
        if source.is_none() || self.knows(&source) {
            return source;
        }
        if self.by_source.len() >= policy.max_sources.max(1) {
            self.forget(now);
        }
        if self.by_source.len() >= policy.max_sources.max(1) {
            None
        } else {
            source
        }
    }

    fn forget(&mut self, now: i64) {
        for (_, entry) in &mut self.by_source {
            entry.sends.retain(|t| now - t < HOUR_MS);
        }
        self.by_source
            .retain(|(_, e)| !e.sends.is_empty() || e.misses > 0);
    }

    /// Whether `source` has used its share of the number's SMS at `now`: how long until it has one again.
    /// A send of unknown address has no share to keep (the number's own caps still count it).
    pub fn send_limit(&mut self, source: Source, now: i64, policy: &OtpPolicy) -> Option<Throttle> {
        source?;
        let slot = self.slot(source, now, policy);
        let entry = self.get_mut(&slot)?;
        entry.sends.retain(|t| now - t < HOUR_MS);
        let share = policy.sends_per_source.max(1) as usize;
        (entry.sends.len() >= share).then(|| Throttle::Source {
            retry_after_ms: entry.sends[entry.sends.len() - share] + HOUR_MS - now,
        })
    }

    /// Counts an SMS sent at `source`'s asking.
    pub fn sent(&mut self, source: Source, now: i64, policy: &OtpPolicy) {
        if source.is_none() {
            return;
        }
        let slot = self.slot(source, now, policy);
        let sends = &mut self.entry(slot).sends;
        sends.reserve_exact(1);
        sends.push(now);
    }

    /// Whether `source` may still try a code.
    pub fn may_try(&self, source: Source, policy: &OtpPolicy) -> bool {
        let slot = if self.knows(&source) || self.has_room(policy) {
            source
        } else {
            None
        };
        self.get(&slot)
            .is_none_or(|e| e.misses < policy.attempts_per_source.max(1))
    }

    fn has_room(&self, policy: &OtpPolicy) -> bool {
        self.by_source.len() < policy.max_sources.max(1)
    }

    /// Counts a wrong try of `source` at a live code.
    pub fn missed(&mut self, source: Source, now: i64, policy: &OtpPolicy) {
        let slot = self.slot(source, now, policy);
        let entry = self.entry(slot);
        entry.misses = entry.misses.saturating_add(1);
    }

    /// A new code went out, or the live one was used: every address may try again.
    pub fn new_code(&mut self) {
        for (_, entry) in &mut self.by_source {
            entry.misses = 0;
        }
    }

    /// Until when the ledger holds sends worth remembering (the session lives on until then).
    pub fn busy_until(&self) -> Option<i64> {
        self.by_source
            .iter()
            .filter_map(|(_, e)| e.sends.last())
            .max()
            .map(|t| t + HOUR_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::OTP_POLICY;

    fn at(n: u8) -> Source {
        Some(IpAddr::from([198, 51, 100, n]))
    }

    fn policy() -> OtpPolicy {
        OtpPolicy {
            sends_per_source: 2,
            attempts_per_source: 3,
            max_sources: 4,
            ..OTP_POLICY
        }
    }

    #[test]
    fn a_stranger_takes_only_its_share_of_a_number_s_sms() {
        let (p, mut l) = (policy(), SourceLedger::default());
        for t in [0, 1_000] {
            assert_eq!(l.send_limit(at(1), t, &p), None);
            l.sent(at(1), t, &p);
        }
        assert_eq!(
            l.send_limit(at(1), 2_000, &p),
            Some(Throttle::Source {
                retry_after_ms: HOUR_MS - 2_000
            })
        );
        assert_eq!(
            l.send_limit(at(2), 2_000, &p),
            None,
            "the citizen still may"
        );
        assert_eq!(l.send_limit(at(1), HOUR_MS, &p), None, "an hour later");
        assert_eq!(l.busy_until(), Some(1_000 + HOUR_MS));
    }

    #[test]
    fn a_stranger_s_wrong_tries_leave_the_citizen_s_untouched_until_a_new_code() {
        let (p, mut l) = (policy(), SourceLedger::default());
        for _ in 0..3 {
            assert!(l.may_try(at(1), &p));
            l.missed(at(1), 0, &p);
        }
        assert!(!l.may_try(at(1), &p));
        assert!(l.may_try(at(2), &p));
        l.new_code();
        assert!(l.may_try(at(1), &p), "a new code: tries again");
    }

    #[test]
    fn addresses_past_the_bound_share_one_entry() {
        let (p, mut l) = (policy(), SourceLedger::default());
        for n in 1..=4 {
            l.missed(at(n), 0, &p);
        }
        for _ in 0..3 {
            assert!(l.may_try(at(9), &p));
            l.missed(at(9), 0, &p);
        }
        assert!(
            !l.may_try(at(10), &p),
            "the fifth and later addresses share"
        );
        assert!(!l.may_try(None, &p), "and so do unknown ones");
        assert!(l.may_try(at(1), &p), "the first four keep their own");
        assert!(l.by_source.len() <= 5);
    }
}
