//! Velocity in rolling windows: at most `per_window` events per key (a client IP, a number prefix, a state)
//! in a rolling window, with a bounded number of keys tracked (the least recently seen is forgotten first).
//! An OTP send is admitted before it is known whether an SMS goes out, and released when none did (a held
//! resend), so a cap counts SMS, not clicks. The abuse counters name the keys and hold one limiter per kind.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

const HOUR_MS: i64 = 3_600_000;

/// The limiter of one kind of key.
#[derive(Debug)]
pub struct Limiter<K> {
    per_window: usize,
    window_ms: i64,
    max_tracked: usize,
    seen: HashMap<K, VecDeque<i64>>,
}

/// Sends per client IP per rolling hour.
pub type IpLimiter = Limiter<IpAddr>;

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter of `per_window` sends per key in a rolling `window_ms`, tracking at most `max_tracked` keys.
    pub fn new(per_window: u32, window_ms: i64, max_tracked: usize) -> Self {
        Self {
            per_window: per_window.max(1) as usize,
            window_ms: window_ms.max(1),
            max_tracked: max_tracked.max(1),
            seen: HashMap::new(),
        }
    }

    /// A limiter of `per_hour` sends per key in a rolling hour.
    pub fn hourly(per_hour: u32, max_tracked: usize) -> Self {
        Self::new(per_hour, HOUR_MS, max_tracked)
    }

    /// Whether a send for `key` at `now` would be admitted, or how long to wait (ms); counts nothing.
    pub fn check(&mut self, key: &K, now: i64) -> Result<(), i64> {
        let window = self.window_ms;
        let Some(times) = self.seen.get_mut(key) else {
            return Ok(());
        };
        while times.front().is_some_and(|t| now - t >= window) {
            times.pop_front();
        }
        if times.len() >= self.per_window {
            return Err(times.front().map_or(window, |t| t + window - now));
        }
        Ok(())
    }

    /// Counts a send for `key` at `now` (after [`check`](Self::check) admitted it).
    pub fn record(&mut self, key: K, now: i64) {
        if !self.seen.contains_key(&key) && self.seen.len() >= self.max_tracked {
            self.evict(now);
        }
        self.seen.entry(key).or_default().push_back(now);
    }

    /// Admits and counts a send for `key` at `now`, or says how long to wait (ms).
    pub fn admit(&mut self, key: K, now: i64) -> Result<(), i64> {
        self.check(&key, now)?;
        self.record(key, now);
        Ok(())
    }

    /// Gives back the admission of `key` made at `at` (no SMS went out for it).
    pub fn release(&mut self, key: &K, at: i64) {
        if let Some(times) = self.seen.get_mut(key)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    fn evict(&mut self, now: i64) {
        let window = self.window_ms;
        self.seen
            .retain(|_, times| times.back().is_some_and(|t| now - t < window));
        if self.seen.len() >= self.max_tracked
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, t)| t.back().copied())
                .map(|(key, _)| key.clone())
        {
            self.seen.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_released_admission_is_not_counted() {
        let mut l = IpLimiter::hourly(2, 100);
        assert!(l.admit(ip(1), 0).is_ok());
        for t in 1..100 {
            assert!(l.admit(ip(1), t).is_ok(), "released every time");
            l.release(&ip(1), t);
        }
        assert!(l.admit(ip(1), 100).is_ok());
        assert_eq!(l.admit(ip(1), 101), Err(HOUR_MS - 101));
        l.release(&ip(2), 5);
        assert_eq!(l.tracked(), 1, "releasing an unknown ip tracks nothing");
    }

    #[test]
    fn caps_per_ip_per_rolling_hour() {
        let mut l = IpLimiter::hourly(3, 100);
        for t in 0..3 {
            assert!(l.admit(ip(1), t * 1000).is_ok());
        }
        assert_eq!(l.admit(ip(1), 10_000), Err(HOUR_MS - 10_000));
        assert!(l.admit(ip(2), 10_000).is_ok(), "other IPs are not affected");
        assert!(
            l.admit(ip(1), HOUR_MS).is_ok(),
            "the first send left the window"
        );
    }

    #[test]
    fn a_check_counts_nothing_and_a_window_of_its_own_length() {
        let mut l: Limiter<&str> = Limiter::new(2, 60_000, 10);
        for t in 0..5 {
            assert!(l.check(&"98765", t).is_ok(), "checks alone count nothing");
        }
        l.admit("98765", 0).unwrap();
        l.admit("98765", 1_000).unwrap();
        assert_eq!(l.check(&"98765", 2_000), Err(58_000));
        assert!(l.check(&"98764", 2_000).is_ok(), "another prefix");
        assert!(
            l.admit("98765", 60_000).is_ok(),
            "the first left the minute"
        );
    }

    #[test]
    fn tracked_ips_are_bounded() {
        let mut l = IpLimiter::hourly(5, 10);
        for n in 0..50 {
            l.admit(ip(n), i64::from(n)).unwrap();
        }
        assert!(l.tracked() <= 10);
    }
}
