//! Per-client-IP send velocity: at most `per_hour` OTP sends from one IP in a rolling hour, with a bounded
//! number of IPs tracked (the least recently seen is forgotten first). A send is admitted before it is known
//! whether an SMS goes out, and released when none did (a held resend), so the cap counts SMS, not clicks.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

const HOUR_MS: i64 = 3_600_000;

/// The limiter.
#[derive(Debug)]
pub struct IpLimiter {
    per_hour: usize,
    max_tracked: usize,
    seen: HashMap<IpAddr, VecDeque<i64>>,
}

impl IpLimiter {
    /// A limiter of `per_hour` sends per IP, tracking at most `max_tracked` IPs.
    pub fn new(per_hour: u32, max_tracked: usize) -> Self {
        Self {
            per_hour: per_hour.max(1) as usize,
            max_tracked: max_tracked.max(1),
            seen: HashMap::new(),
        }
    }

    /// Admits a send from `ip` at `now`, or says how long to wait (ms).
    pub fn admit(&mut self, ip: IpAddr, now: i64) -> Result<(), i64> {
        if !self.seen.contains_key(&ip) && self.seen.len() >= self.max_tracked {
            self.evict(now);
        }
        let times = self.seen.entry(ip).or_default();
        while times.front().is_some_and(|t| now - t >= HOUR_MS) {
            times.pop_front();
        }
        if times.len() >= self.per_hour {
            return Err(times.front().map_or(HOUR_MS, |t| t + HOUR_MS - now));
        }
        times.push_back(now);
        Ok(())
    }

    /// Gives back the admission of `ip` made at `at` (no SMS went out for it).
    pub fn release(&mut self, ip: IpAddr, at: i64) {
        if let Some(times) = self.seen.get_mut(&ip)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }

    /// IPs tracked now.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    fn evict(&mut self, now: i64) {
        self.seen
            .retain(|_, times| times.back().is_some_and(|t| now - t < HOUR_MS));
        if self.seen.len() >= self.max_tracked
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, t)| t.back().copied())
                .map(|(ip, _)| *ip)
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
        let mut l = IpLimiter::new(2, 100);
        assert!(l.admit(ip(1), 0).is_ok());
        for t in 1..100 {
            assert!(l.admit(ip(1), t).is_ok(), "released every time");
            l.release(ip(1), t);
        }
        assert!(l.admit(ip(1), 100).is_ok());
        assert_eq!(l.admit(ip(1), 101), Err(HOUR_MS - 101));
        l.release(ip(2), 5);
        assert_eq!(l.tracked(), 1, "releasing an unknown ip tracks nothing");
    }

    #[test]
    fn caps_per_ip_per_rolling_hour() {
        let mut l = IpLimiter::new(3, 100);
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
    fn tracked_ips_are_bounded() {
        let mut l = IpLimiter::new(5, 10);
        for n in 0..50 {
            l.admit(ip(n), i64::from(n)).unwrap();
        }
        assert!(l.tracked() <= 10);
    }
}
