//! The abuse counters kept outside the OTP sessions and the lockouts: OTP sends per client address, per
//! number prefix and per state, and failed token requests per client address and per subnet.
//!
//! A [`Counted`] is one key with its kind; [`Tallies`] holds one rolling-window [`Limiter`] per kind. Every
//! key has a partition of its own ([`Counted::partition`], a stable hash), and the pod owning that partition
//! is the one that counts it: N pods keep one count per key, not N. Counters live in memory only (a restart
//! forgets them; a refusal writes nothing).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::otp::Throttle;
use super::velocity::Limiter;
use crate::partition::{Partition, home_partition};

const HOUR_MS: i64 = 3_600_000;

/// One counted key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "key", rename_all = "camelCase")]
pub enum Counted {
    /// OTP sends from a client address.
    SendIp(IpAddr),
    /// OTP sends to the numbers of one prefix in a state: (state, leading digits).
    SendPrefix(String, String),
    /// OTP sends of a state.
    SendState(String),
    /// Failed token requests from a client address.
    FailedAddress(IpAddr),
    /// Failed token requests from a subnet (IPv4 /24, IPv6 /48: its address with the host bits cleared).
    FailedSubnet(IpAddr),
}

const KINDS: usize = 5;

impl Counted {
    /// The keys an OTP send to `mobile` of `state` from `ip` is counted under; the prefix is the first
    /// `prefix_digits` digits.
    pub fn send(ip: Option<IpAddr>, state: &str, mobile: &str, prefix_digits: usize) -> Vec<Self> {
        let prefix = mobile
            .chars()
            .filter(char::is_ascii_digit)
            .take(prefix_digits.max(1))
            .collect();
        ip.map(Self::SendIp)
            .into_iter()
            .chain([
                Self::SendPrefix(state.to_owned(), prefix),
                Self::SendState(state.to_owned()),
            ])
            .collect()
    }

    /// The keys a failed token request from `ip` is counted under.
    pub fn failure(ip: IpAddr) -> Vec<Self> {
        vec![Self::FailedAddress(ip), Self::FailedSubnet(subnet(ip))]
    }

    fn kind(&self) -> usize {
        match self {
            Self::SendIp(_) => 0,
            Self::SendPrefix(..) => 1,
            Self::SendState(_) => 2,
            Self::FailedAddress(_) => 3,
            Self::FailedSubnet(_) => 4,
        }
    }

    /// The partition whose owner counts this key.
    pub fn partition(&self, partitions: u16) -> Partition {
        const NAMES: [&str; KINDS] = [
            "send-ip",
            "send-prefix",
            "send-state",
            "failed",
            "failed-net",
        ];
        let key = match self {
            Self::SendIp(ip) | Self::FailedAddress(ip) | Self::FailedSubnet(ip) => ip.to_string(),
            Self::SendPrefix(state, prefix) => format!("{state}/{prefix}"),
            Self::SendState(state) => state.clone(),
        };
        home_partition(NAMES[self.kind()], &key, partitions)
    }

    /// How a send refused under this key is answered.
    pub fn throttle(&self, retry_after_ms: i64) -> Throttle {
        match self {
            Self::SendPrefix(..) => Throttle::Prefix { retry_after_ms },
            Self::SendState(_) => Throttle::State { retry_after_ms },
            _ => Throttle::Ip { retry_after_ms },
        }
    }
}

/// The subnet of `ip`: its /24 (IPv4) or /48 (IPv6), as an address with the host bits cleared.
pub fn subnet(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

/// How the counters are set.
#[derive(Debug, Clone, Copy)]
pub struct TallyLimits {
    /// OTP sends per client address per rolling hour.
    pub sends_per_ip_per_hour: u32,
    /// Sending client addresses tracked at most.
    pub max_tracked_ips: usize,
    /// OTP sends per number prefix per window.
    pub sends_per_prefix: u32,
    /// Prefixes tracked at most.
    pub max_tracked_prefixes: usize,
    /// OTP sends per state per window.
    pub sends_per_state: u32,
    /// The window of the prefix and state caps, ms.
    pub send_window_ms: i64,
    /// Failed token requests per address per failure window.
    pub failures_per_address: u32,
    /// Failed token requests per subnet per failure window.
    pub failures_per_subnet: u32,
    /// The failure window, ms.
    pub failure_window_ms: i64,
    /// Failing addresses (and subnets) tracked at most.
    pub max_tracked_addresses: usize,
}

/// A key that refused, and how long until it admits again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The key.
    pub key: Counted,
    /// Wait this long, ms.
    pub retry_after_ms: i64,
}

/// One limiter per kind of key.
#[derive(Debug)]
pub struct Tallies {
    limiters: [Limiter<Counted>; KINDS],
}

impl Tallies {
    /// Counters under `limits`.
    pub fn new(l: TallyLimits) -> Self {
        Self {
            limiters: [
                Limiter::new(l.sends_per_ip_per_hour, HOUR_MS, l.max_tracked_ips),
                Limiter::new(l.sends_per_prefix, l.send_window_ms, l.max_tracked_prefixes),
                // states are few: every one configured is tracked
                Limiter::new(l.sends_per_state, l.send_window_ms, 1024),
                Limiter::new(
                    l.failures_per_address,
                    l.failure_window_ms,
                    l.max_tracked_addresses,
                ),
                Limiter::new(
                    l.failures_per_subnet,
                    l.failure_window_ms,
                    l.max_tracked_addresses,
                ),
            ],
        }
    }

    fn limiter(&mut self, key: &Counted) -> &mut Limiter<Counted> {
        &mut self.limiters[key.kind()]
    }

    /// Whether every key admits one more at `now`, counting nothing; else the first that does not.
    pub fn check(&mut self, keys: &[Counted], now: i64) -> Result<(), Refused> {
        for key in keys {
            self.limiter(key)
                .check(key, now)
                .map_err(|retry_after_ms| Refused {
                    key: key.clone(),
                    retry_after_ms,
                })?;
        }
        Ok(())
    }

    /// Counts one under every key at `now` if every key admits it; else counts nothing.
    pub fn admit(&mut self, keys: &[Counted], now: i64) -> Result<(), Refused> {
        self.check(keys, now)?;
        for key in keys {
            self.limiter(key).record(key.clone(), now);
        }
        Ok(())
    }

    /// Gives back what [`admit`](Self::admit) counted at `at`.
    pub fn release(&mut self, keys: &[Counted], at: i64) {
        for key in keys {
            self.limiter(key).release(key, at);
        }
    }

    /// Counts one under every key at `now` whatever the limits (a failure happened); then says whether
    /// every key still admits another.
    pub fn record(&mut self, keys: &[Counted], now: i64) -> Result<(), Refused> {
        for key in keys {
            self.limiter(key).record(key.clone(), now);
        }
        self.check(keys, now)
    }

    /// Keys tracked now, all kinds.
    pub fn tracked(&self) -> usize {
        self.limiters.iter().map(Limiter::tracked).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TallyLimits = TallyLimits {
        sends_per_ip_per_hour: 100,
        max_tracked_ips: 100,
        sends_per_prefix: 3,
        max_tracked_prefixes: 100,
        sends_per_state: 5,
        send_window_ms: HOUR_MS,
        failures_per_address: 3,
        failures_per_subnet: 5,
        failure_window_ms: 60_000,
        max_tracked_addresses: 100,
    };

    fn ip(c: u8, d: u8) -> IpAddr {
        IpAddr::from([203, 0, c, d])
    }

    fn to(state: &str, mobile: &str) -> Vec<Counted> {
        Counted::send(Some(ip(113, 1)), state, mobile, 7)
    }

    #[test]
    fn a_prefix_flood_is_capped_while_other_prefixes_and_states_pass() {
        let mut t = Tallies::new(LIMITS);
        for n in 0..3 {
            assert!(t.admit(&to("pb", &format!("987654{n:04}")), n).is_ok());
        }
        let refused = t.admit(&to("pb", "9876540999"), 10).unwrap_err();
        assert_eq!(
            refused.key.throttle(refused.retry_after_ms),
            Throttle::Prefix {
                retry_after_ms: HOUR_MS - 10
            },
            "the fourth number of the range 9876540…"
        );
        assert!(
            t.admit(&to("pb", "9876550000"), 10).is_ok(),
            "another prefix"
        );
        assert!(
            t.admit(&to("ke", "9876540999"), 10).is_ok(),
            "a prefix is per state"
        );
    }

    #[test]
    fn a_state_s_ceiling_holds_and_a_refused_send_counts_nowhere() {
        let mut t = Tallies::new(LIMITS);
        for (n, prefix) in ["9", "8", "7", "6", "5"].into_iter().enumerate() {
            t.admit(&to("pb", &format!("{prefix}000000001")), n as i64)
                .unwrap();
        }
        let refused = t.admit(&to("pb", "4000000001"), 10).unwrap_err();
        assert_eq!(refused.key, Counted::SendState("pb".into()));
        // the refused send's prefix was not counted: two more of it pass once the state has room
        t.release(&to("pb", "9000000001"), 0);
        t.release(&to("pb", "8000000001"), 1);
        assert!(t.admit(&to("pb", "4000000001"), 11).is_ok());
        assert!(t.admit(&to("pb", "4000000002"), 12).is_ok());
    }

    #[test]
    fn failures_refuse_an_address_then_its_subnet_and_a_window_forgets_them() {
        let mut t = Tallies::new(LIMITS);
        assert!(t.record(&Counted::failure(ip(113, 1)), 0).is_ok());
        assert!(t.record(&Counted::failure(ip(113, 1)), 1).is_ok());
        let third = t.record(&Counted::failure(ip(113, 1)), 2).unwrap_err();
        assert_eq!(third.key, Counted::FailedAddress(ip(113, 1)));
        assert_eq!(third.retry_after_ms, 60_000 - 2);
        assert!(
            t.check(&Counted::failure(ip(113, 2)), 3).is_ok(),
            "a neighbour: 3 of 5"
        );
        t.record(&Counted::failure(ip(113, 2)), 4).unwrap();
        let net = t.record(&Counted::failure(ip(113, 3)), 5).unwrap_err();
        assert_eq!(net.key, Counted::FailedSubnet(ip(113, 0)));
        assert!(
            t.check(&Counted::failure(ip(113, 4)), 6).is_err(),
            "the whole /24 waits"
        );
        assert!(
            t.check(&Counted::failure(ip(114, 1)), 6).is_ok(),
            "another subnet"
        );
        assert!(
            t.check(&Counted::failure(ip(113, 1)), 60_005).is_ok(),
            "the window passed"
        );
    }

    #[test]
    fn every_kind_of_key_has_a_stable_partition_of_its_own() {
        let a = Counted::SendIp(ip(1, 1));
        assert_eq!(a.partition(256), a.clone().partition(256));
        // the same address counted for sends and for failures may live on different pods
        let spread: std::collections::BTreeSet<u16> = (0..50u8)
            .map(|n| Counted::SendIp(ip(1, n)).partition(256).0)
            .collect();
        assert!(spread.len() > 20, "{spread:?}");
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let w6: IpAddr = "2001:db8:1:ffff::9".parse().unwrap();
        assert_eq!(subnet(v6), subnet(w6));
    }

    #[test]
    fn counted_keys_travel_as_json() {
        for key in to("pb", "9876543210")
            .into_iter()
            .chain(Counted::failure(ip(7, 7)))
        {
            let back: Counted =
                serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
            assert_eq!(back, key);
        }
    }
}
