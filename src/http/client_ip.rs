//! The client's address, for the per-IP caps: the first hop, counted from our side, that is not a proxy of
//! ours. A request reaches us through proxies (an ingress controller, DIGIT's gateway), each appending the
//! address it saw to `X-Forwarded-For`; everything left of the last entry a trusted proxy wrote was written
//! by whoever sent the request, and is believed by nobody. So the peer, then each entry from the right, is
//! skipped while it is a trusted proxy (`http.trusted_proxies`); the first that is not is the client. A client
//! rotating a forged `X-Forwarded-For` or `x-real-ip` only changes entries nobody reads.

use std::net::IpAddr;

use ipnet::IpNet;

/// Which proxies' forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    /// Believe forwarding headers at all (`http.trust_forwarded_headers`).
    pub enabled: bool,
    /// The proxies' networks (`http.trusted_proxies`).
    pub networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// The proxies `http` names (its entries were checked when the settings loaded).
    pub fn from_settings(http: &crate::config::HttpSettings) -> Self {
        Self {
            enabled: http.trust_forwarded_headers,
            networks: http
                .trusted_proxies
                .iter()
                .filter_map(|p| crate::config::parse_network(p))
                .collect(),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` that carried these `X-Forwarded-For` header values and
    /// `x-real-ip`.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str], real_ip: Option<&str>) -> IpAddr {
        // an IPv4 peer of a dual-stack listener arrives as ::ffff:a.b.c.d
        let peer = peer.to_canonical();
        if !self.enabled || !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        if hops.is_empty() {
            // a trusted proxy that names the client only in x-real-ip (nginx's habit)
            return real_ip.and_then(|v| parse_hop(v.trim())).unwrap_or(peer);
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            // an entry that is no address was not written by a proxy of ours: stop at the last one that was
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port or brackets (`1.2.3.4:5678`, `[::1]:80`,
/// `[2001:db8::1]`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let bare = hop.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    bare.unwrap_or(hop)
        .parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies {
            enabled: true,
            networks: ["10.0.0.0/8", "127.0.0.0/8"]
                .iter()
                .map(|n| n.parse().unwrap())
                .collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_rightmost_address_no_trusted_proxy_added_is_the_client() {
        let p = proxies();
        let ingress = ip("10.1.2.3");
        // the client forged the first entry; the ingress appended what it saw
        assert_eq!(
            p.client(ingress, &["198.51.100.7, 203.0.113.9"], None),
            ip("203.0.113.9")
        );
        // through two proxies of ours
        assert_eq!(
            p.client(ingress, &["198.51.100.7, 203.0.113.9, 10.9.9.9"], None),
            ip("203.0.113.9")
        );
        // several header lines count as one list
        assert_eq!(
            p.client(ingress, &["198.51.100.7", "203.0.113.9:5151"], None),
            ip("203.0.113.9")
        );
        // x-real-ip is read only when there is no list, and only from a trusted peer
        assert_eq!(
            p.client(ingress, &["203.0.113.9"], Some("198.51.100.1")),
            ip("203.0.113.9")
        );
        assert_eq!(
            p.client(ingress, &[], Some("203.0.113.9")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let p = proxies();
        let direct = ip("203.0.113.50");
        assert_eq!(
            p.client(direct, &["198.51.100.7"], Some("198.51.100.8")),
            direct
        );
        let off = TrustedProxies {
            enabled: false,
            ..proxies()
        };
        assert_eq!(
            off.client(ip("10.1.2.3"), &["203.0.113.9"], None),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn mapped_and_bracketed_addresses_are_the_addresses_they_name() {
        let p = proxies();
        let mapped = ip("::ffff:10.1.2.3");
        assert_eq!(p.client(mapped, &["203.0.113.9"], None), ip("203.0.113.9"));
        assert_eq!(
            p.client(ip("10.1.2.3"), &["[2001:db8::1]"], None),
            ip("2001:db8::1")
        );
        assert_eq!(
            p.client(ip("10.1.2.3"), &["[2001:db8::1]:443"], None),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn garbage_or_an_all_trusted_chain_stops_at_the_last_real_hop() {
        let p = proxies();
        assert_eq!(
            p.client(ip("10.1.2.3"), &["unknown, 10.4.4.4"], None),
            ip("10.4.4.4")
        );
        assert_eq!(
            p.client(ip("10.1.2.3"), &["10.5.5.5, 10.4.4.4"], None),
            ip("10.5.5.5")
        );
        assert_eq!(
            p.client(ip("10.1.2.3"), &["not-an-ip"], None),
            ip("10.1.2.3")
        );
    }
}
