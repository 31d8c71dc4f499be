//! Failed token requests per client address and per subnet (both grants, across users): a client guessing
//! many users' passwords or codes, or refresh tokens, from one address or one network is refused before its
//! credentials are checked. Only failures count, so an office behind one NAT logs in freely; in memory,
//! bounded, per pod (the pod that serves the grant). A refusal writes nothing.

use std::net::IpAddr;
use std::sync::Mutex;

use actors::domain::velocity::Limiter;

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures per address in the window.
    pub per_address: u32,
    /// Failures per subnet (IPv4 /24, IPv6 /48) in the window.
    pub per_subnet: u32,
    /// The rolling window, ms.
    pub window_ms: i64,
    /// Addresses (and subnets) tracked at most.
    pub max_tracked: usize,
}

/// The counters.
#[derive(Debug)]
pub struct TokenThrottle {
    addresses: Mutex<Limiter<IpAddr>>,
    subnets: Mutex<Limiter<IpAddr>>,
}

/// The subnet of `ip`: its /24 (IPv4) or /48 (IPv6), as an address with the host bits cleared.
fn subnet(ip: IpAddr) -> IpAddr {
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

impl TokenThrottle {
    /// Counters under `limits`.
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            addresses: Mutex::new(Limiter::new(
                limits.per_address,
                limits.window_ms,
                limits.max_tracked,
            )),
            subnets: Mutex::new(Limiter::new(
                limits.per_subnet,
                limits.window_ms,
                limits.max_tracked,
            )),
        }
    }

    /// Whether a token request from `ip` at `now` may be served, or how long to wait (ms).
    pub fn gate(&self, ip: IpAddr, now: i64) -> Result<(), i64> {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&ip, now)?;
        self.subnets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&subnet(ip), now)
    }

    /// Counts a failed token request from `ip` at `now`.
    pub fn fail(&self, ip: IpAddr, now: i64) {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(ip, now);
        self.subnets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(subnet(ip), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ThrottleLimits = ThrottleLimits {
        per_address: 3,
        per_subnet: 5,
        window_ms: 60_000,
        max_tracked: 100,
    };

    fn ip(c: u8, d: u8) -> IpAddr {
        IpAddr::from([203, 0, c, d])
    }

    #[test]
    fn an_address_past_its_failures_is_refused_and_its_neighbours_past_the_subnet_s() {
        let t = TokenThrottle::new(LIMITS);
        for now in 0..3 {
            assert!(t.gate(ip(113, 1), now).is_ok());
            t.fail(ip(113, 1), now);
        }
        assert_eq!(t.gate(ip(113, 1), 10), Err(60_000 - 10));
        assert!(
            t.gate(ip(113, 2), 10).is_ok(),
            "a neighbour: 3 of the subnet's 5"
        );
        t.fail(ip(113, 2), 11);
        t.fail(ip(113, 3), 12);
        assert_eq!(
            t.gate(ip(113, 4), 13),
            Err(60_000 - 13),
            "the subnet's fifth failure: every address of it waits"
        );
        assert!(t.gate(ip(114, 1), 13).is_ok(), "another subnet");
        assert!(t.gate(ip(113, 1), 60_000).is_ok(), "the window passed");
    }

    #[test]
    fn an_ipv6_client_s_subnet_is_its_48() {
        let a: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let b: IpAddr = "2001:db8:1:ffff::9".parse().unwrap();
        assert_eq!(subnet(a), subnet(b));
    }
}
