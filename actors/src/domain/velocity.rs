//! Send velocity in rolling windows: at most `per_window` OTP sends per key (a client IP, a number prefix, a
//! state) in a rolling window, with a bounded number of keys tracked (the least recently seen is forgotten
//! first). A send is admitted before it is known whether an SMS goes out, and released when none did (a held
//! resend), so a cap counts SMS, not clicks.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use super::otp::Throttle;

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

/// The caps a send passes before its session sees it, each counted in a rolling window: per client IP (an
/// hour), per number prefix and per state (`window_ms`). A send is admitted by all or counted by none.
#[derive(Debug)]
pub struct SendCaps {
    ips: Limiter<IpAddr>,
    prefixes: Limiter<(String, String)>,
    states: Limiter<String>,
    prefix_digits: usize,
}

/// How the caps are set.
#[derive(Debug, Clone, Copy)]
pub struct CapLimits {
    /// Sends per client IP per rolling hour.
    pub per_ip_per_hour: u32,
    /// Client IPs tracked at most.
    pub max_tracked_ips: usize,
    /// Digits of a number that make its prefix.
    pub prefix_digits: usize,
    /// Sends per prefix per window.
    pub per_prefix: u32,
    /// Prefixes tracked at most.
    pub max_tracked_prefixes: usize,
    /// Sends per state per window.
    pub per_state: u32,
    /// The window of the prefix and state caps, ms.
    pub window_ms: i64,
}

/// One send as the caps see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendKey {
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// The state tenant.
    pub state: String,
    /// The number it goes to.
    pub mobile: String,
}

impl SendCaps {
    /// The caps of `limits`.
    pub fn new(limits: CapLimits) -> Self {
        Self {
            ips: Limiter::hourly(limits.per_ip_per_hour, limits.max_tracked_ips),
            prefixes: Limiter::new(
                limits.per_prefix,
                limits.window_ms,
                limits.max_tracked_prefixes,
            ),
            // states are few: every one configured is tracked
            states: Limiter::new(limits.per_state, limits.window_ms, 1024),
            prefix_digits: limits.prefix_digits.max(1),
        }
    }

    /// Admits `send` at `now` (the moment to release it with), or the first cap that refuses it.
    pub fn admit(&mut self, send: &SendKey, now: i64) -> Result<i64, Throttle> {
        let prefix = (send.state.clone(), self.prefix_of(&send.mobile));
        if let Some(ip) = send.ip {
            self.ips
                .check(&ip, now)
                .map_err(|retry_after_ms| Throttle::Ip { retry_after_ms })?;
        }
        self.prefixes
            .check(&prefix, now)
            .map_err(|retry_after_ms| Throttle::Prefix { retry_after_ms })?;
        self.states
            .check(&send.state, now)
            .map_err(|retry_after_ms| Throttle::State { retry_after_ms })?;
        if let Some(ip) = send.ip {
            self.ips.record(ip, now);
        }
        self.prefixes.record(prefix, now);
        self.states.record(send.state.clone(), now);
        Ok(now)
    }

    /// Gives back the admission of `send` made at `at` (no SMS went out for it).
    pub fn release(&mut self, send: &SendKey, at: i64) {
        if let Some(ip) = &send.ip {
            self.ips.release(ip, at);
        }
        let prefix = (send.state.clone(), self.prefix_of(&send.mobile));
        self.prefixes.release(&prefix, at);
        self.states.release(&send.state, at);
    }

    /// The first `prefix_digits` digits of `mobile`.
    fn prefix_of(&self, mobile: &str) -> String {
        mobile
            .chars()
            .filter(char::is_ascii_digit)
            .take(self.prefix_digits)
            .collect()
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

    fn caps(per_prefix: u32, per_state: u32) -> SendCaps {
        SendCaps::new(CapLimits {
            per_ip_per_hour: 100,
            max_tracked_ips: 100,
            prefix_digits: 7,
            per_prefix,
            max_tracked_prefixes: 100,
            per_state,
            window_ms: HOUR_MS,
        })
    }

    fn to(mobile: &str) -> SendKey {
        SendKey {
            ip: Some(ip(1)),
            state: "pb".into(),
            mobile: mobile.into(),
        }
    }

    #[test]
    fn a_prefix_flood_is_capped_while_other_prefixes_pass() {
        let mut c = caps(3, 1000);
        for n in 0..3 {
            assert!(c.admit(&to(&format!("987654{n:04}")), n).is_ok());
        }
        assert_eq!(
            c.admit(&to("9876540999"), 10),
            Err(Throttle::Prefix {
                retry_after_ms: HOUR_MS - 10
            }),
            "the fourth number of the range 9876540…"
        );
        assert!(c.admit(&to("9876550000"), 10).is_ok(), "another prefix");
        let other_state = SendKey {
            state: "ke".into(),
            ..to("9876540999")
        };
        assert!(c.admit(&other_state, 10).is_ok(), "a prefix is per state");
    }

    #[test]
    fn a_state_s_ceiling_holds_and_a_refused_send_counts_nowhere() {
        let mut c = caps(100, 2);
        let at = c.admit(&to("9000000001"), 0).unwrap();
        c.admit(&to("8000000001"), 1).unwrap();
        assert_eq!(
            c.admit(&to("7000000001"), 2),
            Err(Throttle::State {
                retry_after_ms: HOUR_MS - 2
            })
        );
        c.release(&to("9000000001"), at);
        assert!(
            c.admit(&to("7000000001"), 3).is_ok(),
            "a released send leaves room"
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
