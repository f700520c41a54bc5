//! Who the client is, for throttling (and later auditing).
//!
//! The socket's peer address, unless the peer is one of `server.trusted_proxies`: then
//! `X-Forwarded-For` is walked from the right (each proxy appends the address it received the
//! request from) past the trusted proxies, and the first address that is not one is the client.
//! Everything left of it was written by the client itself and is never believed. A header
//! that cannot be read where it matters falls back to the peer, so a broken header cannot
//! pick a client address either.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// The client's address. A request without a peer address (not over TCP) counts as
    /// `0.0.0.0`, so all such requests share one identity.
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        self.resolve(peer, req.headers().get_all(X_FORWARDED_FOR))
    }

    fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Several headers read as one comma-separated list, in order. Split as bytes: what the
        // client wrote at the left may be anything (obs-text), and is never read.
        let hops: Vec<&[u8]> = forwarded_for
            .flat_map(|value| value.as_bytes().split(|b| *b == b','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = std::str::from_utf8(hop).ok().and_then(parse_hop) else {
                return peer;
            };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        // When every hop is trusted, the left-most one is as close to the client as we know.
        client
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&addr))
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some proxies add it).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn client(proxies: &TrustedProxies, peer: &str, headers: &[&str]) -> IpAddr {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:40000").parse().unwrap());
        for h in headers {
            req = req.append_header((X_FORWARDED_FOR, *h));
        }
        proxies.client_ip(&req.to_http_request())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bytes_the_client_wrote_left_of_its_address_are_never_read() {
        let lb = proxies(&["10.0.0.1/32"]);
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:40000".parse().unwrap())
            .append_header((
                X_FORWARDED_FOR,
                HeaderValue::from_bytes(b"\xffevil, 203.0.113.7").unwrap(),
            ))
            .to_http_request();
        assert_eq!(lb.client_ip(&req), ip("203.0.113.7"));
    }

    #[test]
    fn an_untrusted_peers_header_is_ignored() {
        let none = proxies(&[]);
        assert_eq!(
            client(&none, "198.51.100.9", &["203.0.113.7"]),
            ip("198.51.100.9")
        );
        let other = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            client(&other, "198.51.100.9", &["10.0.0.1"]),
            ip("198.51.100.9")
        );
        assert_eq!(client(&other, "198.51.100.9", &[]), ip("198.51.100.9"));
    }

    #[test]
    fn a_trusted_chain_is_walked_right_to_left() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.1/32"]);
        // The client wrote the left-most entry itself: it is never believed.
        let chain = "6.6.6.6, 203.0.113.7, 192.0.2.1, 10.1.2.3";
        assert_eq!(client(&p, "10.0.0.2", &[chain]), ip("203.0.113.7"));
        // The same chain split over several headers reads the same.
        let split = ["6.6.6.6, 203.0.113.7", "192.0.2.1", "10.1.2.3"];
        assert_eq!(client(&p, "10.0.0.2", &split), ip("203.0.113.7"));
        // One trusted proxy, and a port on the entry.
        assert_eq!(
            client(&p, "192.0.2.1", &["203.0.113.8:5555"]),
            ip("203.0.113.8")
        );
        // Nothing but proxies: the left-most hop.
        assert_eq!(
            client(&p, "10.0.0.2", &["10.9.9.9, 10.1.2.3"]),
            ip("10.9.9.9")
        );
        // A trusted peer without the header is itself the client.
        assert_eq!(client(&p, "10.0.0.2", &[]), ip("10.0.0.2"));
    }

    #[test]
    fn a_garbage_header_falls_back_to_the_peer() {
        let p = proxies(&["10.0.0.0/8"]);
        for garbage in ["not-an-ip", "", " , ", "203.0.113.7, 999.1.1.1", "unknown"] {
            assert_eq!(
                client(&p, "10.0.0.2", &[garbage]),
                ip("10.0.0.2"),
                "{garbage:?}"
            );
        }
        // Garbage left of the client is the client's own doing and never read.
        assert_eq!(
            client(&p, "10.0.0.2", &["junk, 203.0.113.7"]),
            ip("203.0.113.7")
        );
        let bytes = HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap();
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:1".parse().unwrap())
            .append_header((X_FORWARDED_FOR, bytes))
            .to_http_request();
        assert_eq!(p.client_ip(&req), ip("10.0.0.2"));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_proxies() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            client(&p, "[::ffff:10.0.0.2]", &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client(&p, "10.0.0.2", &["::ffff:203.0.113.7"]),
            ip("203.0.113.7")
        );
    }
}
