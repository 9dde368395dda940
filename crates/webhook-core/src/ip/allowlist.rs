//! The allowlist, the trusted proxies, and why a request was refused.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::forwarded::{Entries, Header, WalkError};
use super::ranges::{parse_cidrs, CidrError, Ranges};
use super::DEFAULT_MAX_HOPS;
use crate::headers::Headers;

/// The proxies whose `X-Forwarded-For` / `Forwarded` entries are believed: your load
/// balancer, your CDN's ranges. Empty by default: then only the peer address counts.
///
/// ```
/// use std::net::IpAddr;
/// use webhook_core::ip::TrustedProxies;
///
/// let proxies = TrustedProxies::parse_csv("10.0.0.0/8").unwrap();
/// let balancer: IpAddr = "10.0.0.2".parse().unwrap();
/// let headers = [("X-Forwarded-For", "198.51.100.1, 203.0.113.5, 10.0.0.7")];
/// // From the right: 10.0.0.7 is ours, 203.0.113.5 is not: that is the client.
/// // (198.51.100.1 was written by the client itself and is never read.)
/// assert_eq!(proxies.client_addr(balancer, &headers).unwrap(), "203.0.113.5".parse::<IpAddr>().unwrap());
/// // A direct client's headers are ignored.
/// let direct: IpAddr = "203.0.113.5".parse().unwrap();
/// assert_eq!(proxies.client_addr(direct, &[("X-Forwarded-For", "10.9.9.9")]).unwrap(), direct);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct TrustedProxies {
    ranges: Ranges,
    max_hops: usize,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::none()
    }
}

impl TrustedProxies {
    /// No trusted proxy: the client is always the peer.
    pub fn none() -> Self {
        Self { ranges: Ranges::default(), max_hops: DEFAULT_MAX_HOPS }
    }

    /// These ranges are proxies of ours.
    pub fn new(ranges: impl IntoIterator<Item = IpNet>) -> Self {
        Self { ranges: Ranges::new(ranges), max_hops: DEFAULT_MAX_HOPS }
    }

    /// Comma-separated ranges or addresses (see [`parse_cidrs`](super::parse_cidrs)).
    pub fn parse_csv(csv: &str) -> Result<Self, CidrError> {
        parse_cidrs(csv).map(Self::new)
    }

    /// Examines at most `hops` forwarding entries (at least 1; [`DEFAULT_MAX_HOPS`] unless
    /// set). A request that would need more is refused.
    pub fn with_max_hops(mut self, hops: usize) -> Self {
        self.max_hops = hops.max(1);
        self
    }

    /// The ranges.
    pub fn ranges(&self) -> &[IpNet] {
        self.ranges.as_slice()
    }

    /// True when there is no trusted proxy.
    pub fn is_empty(&self) -> bool {
        self.ranges.as_slice().is_empty()
    }

    /// True when `ip` (or its IPv4 form, for `::ffff:a.b.c.d`) is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.contains(ip)
    }

    /// The client's address: the `peer` (in its IPv4 form if it is IPv4-mapped) unless the
    /// peer is a trusted proxy; then the first untrusted address walking `X-Forwarded-For`
    /// or `Forwarded` from the right (the leftmost if all are trusted; the peer if neither
    /// header is present). The [module docs](super) list when this is refused.
    pub fn client_addr(&self, peer: IpAddr, headers: &dyn Headers) -> Result<IpAddr, IpRefusal> {
        let peer = peer.to_canonical();
        if !self.ranges.contains(peer) {
            return Ok(peer);
        }
        let refused = |e: WalkError| IpRefusal::new(Reason::Walk(e), Some(peer), None);
        let walk = |e: &Entries<'_>| e.walk(peer, &self.ranges).map_err(refused);
        let xff = Entries::read(headers, Header::XForwardedFor, self.max_hops);
        let forwarded = Entries::read(headers, Header::Forwarded, self.max_hops);
        match (xff, forwarded) {
            (None, None) => Ok(peer),
            (Some(one), None) | (None, Some(one)) => walk(&one),
            (Some(xff), Some(forwarded)) => match (walk(&xff)?, walk(&forwarded)?) {
                (a, b) if a == b => Ok(a),
                _ => Err(IpRefusal::new(Reason::Conflict, Some(peer), None)),
            },
        }
    }
}

/// The addresses a route accepts deliveries from, and the proxies in front of it.
/// Cheap to clone.
///
/// Give it to [`Endpoint::with_allowlist`](crate::receive::Endpoint::with_allowlist);
/// adapters then refuse other clients with 403 before reading the body.
///
/// ```
/// use webhook_core::ip::{IpAllowlist, TrustedProxies};
///
/// let allowlist = IpAllowlist::parse_csv("192.0.2.0/24")
///     .unwrap()
///     .with_trusted_proxies(TrustedProxies::parse_csv("127.0.0.1").unwrap());
/// let via_proxy = [("Forwarded", "for=192.0.2.10;proto=https")];
/// assert!(allowlist.check(Some("127.0.0.1".parse().unwrap()), &via_proxy).is_ok());
/// let refusal = allowlist.check(None, &via_proxy).unwrap_err();
/// assert!(refusal.is_missing_peer());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct IpAllowlist {
    allowed: Ranges,
    proxies: TrustedProxies,
}

impl IpAllowlist {
    /// Accepts clients in these ranges (an empty list accepts nobody), with no trusted
    /// proxy.
    pub fn new(ranges: impl IntoIterator<Item = IpNet>) -> Self {
        Self { allowed: Ranges::new(ranges), proxies: TrustedProxies::none() }
    }

    /// Comma-separated ranges or addresses (see [`parse_cidrs`](super::parse_cidrs)).
    pub fn parse_csv(csv: &str) -> Result<Self, CidrError> {
        parse_cidrs(csv).map(Self::new)
    }

    /// Believes the forwarding headers of these proxies.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The accepted ranges.
    pub fn ranges(&self) -> &[IpNet] {
        self.allowed.as_slice()
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.proxies
    }

    /// True when `ip` (or its IPv4 form, for `::ffff:a.b.c.d`) is in an accepted range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.allowed.contains(ip)
    }

    /// The client's address ([`TrustedProxies::client_addr`]) if it is in an accepted
    /// range. No `peer` (the server did not pass the connection's address) is refused.
    pub fn check(&self, peer: Option<IpAddr>, headers: &dyn Headers) -> Result<IpAddr, IpRefusal> {
        let Some(peer) = peer else {
            return Err(IpRefusal::new(Reason::NoPeer, None, None));
        };
        let client = self.proxies.client_addr(peer, headers)?;
        if self.allowed.contains(client) {
            Ok(client)
        } else {
            Err(IpRefusal::new(Reason::NotAllowed, Some(peer.to_canonical()), Some(client)))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    NotAllowed,
    NoPeer,
    Walk(WalkError),
    Conflict,
}

/// Why a request was refused by an [`IpAllowlist`]: always answered 403 `forbidden`.
///
/// The message ([`Display`](fmt::Display)) is safe to send back: it names at most the
/// client's own address as the server saw it, and the position of a bad forwarding entry
/// (never its text).
///
/// ```
/// use webhook_core::ip::{IpAllowlist, TrustedProxies};
///
/// let allowlist = IpAllowlist::parse_csv("192.0.2.0/24")
///     .unwrap()
///     .with_trusted_proxies(TrustedProxies::parse_csv("10.0.0.0/8").unwrap());
/// let proxy = Some("10.0.0.2".parse().unwrap());
/// let refusal = allowlist.check(proxy, &[("X-Forwarded-For", "192.0.2.7, not-an-ip")]).unwrap_err();
/// assert!(refusal.is_bad_forwarding());
/// assert_eq!((refusal.peer(), refusal.client()), (proxy, None));
/// assert_eq!(
///     refusal.to_string(),
///     "X-Forwarded-For entry 1 from the right, written by a trusted proxy, is not an address"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IpRefusal {
    reason: Reason,
    peer: Option<IpAddr>,
    client: Option<IpAddr>,
}

impl IpRefusal {
    fn new(reason: Reason, peer: Option<IpAddr>, client: Option<IpAddr>) -> Self {
        Self { reason, peer, client }
    }

    /// The client's address was found and is not in the allowlist.
    pub fn is_not_allowed(&self) -> bool {
        self.reason == Reason::NotAllowed
    }

    /// The server passed no peer address, so nothing could be checked.
    pub fn is_missing_peer(&self) -> bool {
        self.reason == Reason::NoPeer
    }

    /// A trusted proxy's forwarding headers did not name a client: an entry is malformed,
    /// hidden (`unknown`, obfuscated), there are too many, or the two headers disagree.
    pub fn is_bad_forwarding(&self) -> bool {
        matches!(self.reason, Reason::Walk(_) | Reason::Conflict)
    }

    /// The connection's peer address, when the server passed one.
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The client's address, when it could be determined (then it is not allowed).
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }
}

impl fmt::Display for IpRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.reason, self.client) {
            (Reason::NotAllowed, Some(client)) => write!(f, "client address {client} is not in the allowlist"),
            (Reason::NotAllowed, None) => f.write_str("client address is not in the allowlist"),
            (Reason::NoPeer, _) => {
                f.write_str("the server did not pass the connection's peer address, so the allowlist cannot be checked")
            }
            (Reason::Walk(WalkError::Malformed(h, n)), _) => {
                write!(f, "{} entry {n} from the right, written by a trusted proxy, is not an address", h.name())
            }
            (Reason::Walk(WalkError::Hidden(h, n)), _) => {
                write!(f, "{} entry {n} from the right hides the client address", h.name())
            }
            (Reason::Walk(WalkError::TooManyHops(h, n)), _) => {
                write!(f, "{} has more than {n} entries from trusted proxies", h.name())
            }
            (Reason::Conflict, _) => f.write_str("X-Forwarded-For and Forwarded name different clients"),
        }
    }
}

impl fmt::Debug for IpRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpRefusal")
            .field("reason", &self.to_string())
            .field("peer", &self.peer)
            .field("client", &self.client)
            .finish()
    }
}

impl std::error::Error for IpRefusal {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(csv: &str) -> TrustedProxies {
        TrustedProxies::parse_csv(csv).unwrap()
    }

    const NONE: [(&str, &str); 0] = [];

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let p = proxies("10.0.0.0/8");
        let forged = [("X-Forwarded-For", "10.1.2.3"), ("Forwarded", "for=10.1.2.3"), ("X-Forwarded-For", "garbage")];
        assert_eq!(p.client_addr(ip("127.0.0.1"), &forged), Ok(ip("127.0.0.1")));
        assert_eq!(TrustedProxies::none().client_addr(ip("10.0.0.1"), &forged), Ok(ip("10.0.0.1")));
        assert_eq!(p.client_addr(ip("::ffff:127.0.0.1"), &NONE), Ok(ip("127.0.0.1")), "mapped peers are IPv4");
    }

    #[test]
    fn a_trusted_peer_is_walked_from_the_right() {
        let p = proxies("127.0.0.1, 10.0.0.0/8, 2001:db8:1::/48");
        let peer = ip("127.0.0.1");
        let client = |h: &[(&str, &str)]| p.client_addr(peer, &h);
        assert_eq!(client(&[]), Ok(peer), "no header: the proxy itself");
        assert_eq!(client(&[("X-Forwarded-For", "192.0.2.1")]), Ok(ip("192.0.2.1")));
        assert_eq!(client(&[("X-Forwarded-For", "192.0.2.1, 198.51.100.2, 10.0.0.3")]), Ok(ip("198.51.100.2")));
        assert_eq!(client(&[("X-Forwarded-For", "10.0.0.9, 10.0.0.3")]), Ok(ip("10.0.0.9")), "all trusted: leftmost");
        assert_eq!(client(&[("X-Forwarded-For", "192.0.2.1:5000, [2001:db8:1::7]:443")]), Ok(ip("192.0.2.1")));
        assert_eq!(client(&[("X-Forwarded-For", "::ffff:192.0.2.1")]), Ok(ip("192.0.2.1")));
        // Lines combine in order, as if joined with commas.
        let lines = [("X-Forwarded-For", "198.51.100.2"), ("X-Forwarded-For", "10.0.0.3")];
        assert_eq!(client(&lines), Ok(ip("198.51.100.2")));
        let lines = [("X-Forwarded-For", "10.0.0.3"), ("X-Forwarded-For", "198.51.100.2")];
        assert_eq!(client(&lines), Ok(ip("198.51.100.2")));
        // The client's own garbage, left of the answer, is never read.
        assert_eq!(client(&[("X-Forwarded-For", "<script>, unknown, 192.0.2.1")]), Ok(ip("192.0.2.1")));
        // RFC 7239.
        assert_eq!(client(&[("Forwarded", "for=192.0.2.43, for=10.0.0.3;proto=https")]), Ok(ip("192.0.2.43")));
        assert_eq!(client(&[("Forwarded", r#"for="[2001:db8:cafe::17]:4711""#)]), Ok(ip("2001:db8:cafe::17")));
        assert!(client(&[("Forwarded", r#"for=_x, for="[2001:db8:1::1]""#)]).unwrap_err().is_bad_forwarding());
    }

    #[test]
    fn bad_forwarding_from_a_trusted_proxy_is_refused_with_a_reason() {
        let p = proxies("127.0.0.1, 10.0.0.0/8");
        let peer = ip("127.0.0.1");
        let reason = |h: &[(&str, &str)]| {
            let refusal = p.client_addr(peer, &h).unwrap_err();
            assert!(refusal.is_bad_forwarding() && !refusal.is_not_allowed(), "{refusal:?}");
            assert_eq!((refusal.peer(), refusal.client()), (Some(peer), None));
            refusal.to_string()
        };
        assert_eq!(
            reason(&[("X-Forwarded-For", "192.0.2.1, nonsense")]),
            "X-Forwarded-For entry 1 from the right, written by a trusted proxy, is not an address"
        );
        assert_eq!(
            reason(&[("X-Forwarded-For", "192.0.2.1,, 10.0.0.1")]).split(',').next(),
            Some("X-Forwarded-For entry 2 from the right")
        );
        assert!(reason(&[("X-Forwarded-For", "")]).contains("entry 1"));
        assert_eq!(
            reason(&[("X-Forwarded-For", "unknown")]),
            "X-Forwarded-For entry 1 from the right hides the client address"
        );
        assert_eq!(
            reason(&[("Forwarded", "for=unknown")]),
            "Forwarded entry 1 from the right hides the client address"
        );
        assert_eq!(
            reason(&[("Forwarded", "for=_gazonk")]),
            "Forwarded entry 1 from the right hides the client address"
        );
        assert_eq!(
            reason(&[("Forwarded", "proto=https")]),
            "Forwarded entry 1 from the right hides the client address"
        );
        assert!(reason(&[("Forwarded", r#"for="192.0.2.1"#)]).starts_with("Forwarded entry 1"));
        assert!(reason(&[("Forwarded", "for=192.0.2.1;for=192.0.2.2")]).starts_with("Forwarded entry 1"));
        assert_eq!(
            reason(&[("X-Forwarded-For", "192.0.2.1"), ("Forwarded", "for=192.0.2.2")]),
            "X-Forwarded-For and Forwarded name different clients"
        );
        assert_eq!(
            p.client_addr(peer, &[("X-Forwarded-For", "192.0.2.1"), ("Forwarded", "for=192.0.2.1")]),
            Ok(ip("192.0.2.1"))
        );
    }

    #[test]
    fn the_walk_is_bounded() {
        let chain = |n: usize| (0..n).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect::<Vec<_>>().join(", ");
        let peer = ip("10.255.255.255");
        let p = proxies("10.0.0.0/8");
        assert_eq!(p.client_addr(peer, &[("X-Forwarded-For", chain(32))]), Ok(ip("10.0.0.0")));
        let too_many = p.client_addr(peer, &[("X-Forwarded-For", chain(33))]).unwrap_err();
        assert_eq!(too_many.to_string(), "X-Forwarded-For has more than 32 entries from trusted proxies");
        // A long chain is fine when the client is found within the bound.
        let long = format!("{}, 192.0.2.1, 10.0.0.1", chain(10_000));
        assert_eq!(p.client_addr(peer, &[("X-Forwarded-For", long)]), Ok(ip("192.0.2.1")));
        let p2 = p.clone().with_max_hops(2);
        assert!(p2.client_addr(peer, &[("X-Forwarded-For", chain(3))]).is_err());
        assert_eq!(p2.client_addr(peer, &[("X-Forwarded-For", chain(2))]), Ok(ip("10.0.0.0")));
        assert_eq!(p.with_max_hops(0).client_addr(peer, &[("X-Forwarded-For", "192.0.2.1")]), Ok(ip("192.0.2.1")));
    }

    #[test]
    fn the_allowlist_decides_on_the_client() {
        let list = IpAllowlist::parse_csv("10.0.0.0/8, 2001:db8::/32").unwrap();
        assert_eq!(list.check(Some(ip("10.1.2.3")), &NONE), Ok(ip("10.1.2.3")));
        assert_eq!(list.check(Some(ip("::ffff:10.1.2.3")), &NONE), Ok(ip("10.1.2.3")));
        assert_eq!(list.check(Some(ip("2001:db8::5")), &NONE), Ok(ip("2001:db8::5")));
        let refused = list.check(Some(ip("127.0.0.1")), &[("X-Forwarded-For", "10.1.2.3")]).unwrap_err();
        assert!(refused.is_not_allowed(), "no trusted proxy: the header is ignored");
        assert_eq!((refused.peer(), refused.client()), (Some(ip("127.0.0.1")), Some(ip("127.0.0.1"))));
        assert_eq!(refused.to_string(), "client address 127.0.0.1 is not in the allowlist");

        let behind = list.with_trusted_proxies(proxies("127.0.0.1/32"));
        assert_eq!(behind.check(Some(ip("127.0.0.1")), &[("X-Forwarded-For", "10.1.2.3")]), Ok(ip("10.1.2.3")));
        assert_eq!(behind.check(Some(ip("127.0.0.1")), &[("forwarded", "for=10.1.2.3")]), Ok(ip("10.1.2.3")));
        let outside = behind.check(Some(ip("127.0.0.1")), &[("X-Forwarded-For", "192.0.2.1")]).unwrap_err();
        assert_eq!((outside.peer(), outside.client()), (Some(ip("127.0.0.1")), Some(ip("192.0.2.1"))));
        assert!(behind.check(Some(ip("127.0.0.1")), &NONE).unwrap_err().is_not_allowed(), "the proxy itself");

        let missing = behind.check(None, &[("X-Forwarded-For", "10.1.2.3")]).unwrap_err();
        assert!(missing.is_missing_peer() && !missing.is_not_allowed() && !missing.is_bad_forwarding());
        assert_eq!((missing.peer(), missing.client()), (None, None));
        assert!(missing.to_string().contains("did not pass the connection's peer address"));

        assert!(IpAllowlist::new([]).check(Some(ip("10.1.2.3")), &NONE).is_err(), "an empty list admits nobody");
        assert_eq!(behind.ranges().len(), 2);
        assert_eq!(behind.trusted_proxies().ranges().len(), 1);
    }

    /// A random `X-Forwarded-For` chain: addresses from a small pool (half of it trusted),
    /// now and then something that is not an address.
    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (0u8..4, 0u8..4).prop_map(|(net, host)| format!("{}.0.0.{host}", [10, 10, 192, 198][net as usize])),
            1 => Just("unknown".to_owned()),
            1 => Just("not-an-ip".to_owned()),
            1 => (0u8..4).prop_map(|h| format!("[::ffff:10.0.0.{h}]:80")),
        ]
    }

    /// What the walk must answer, written as plainly as possible.
    fn model(peer: IpAddr, chain: &[String], trusted: &TrustedProxies) -> Option<IpAddr> {
        if !trusted.contains(peer) {
            return Some(peer);
        }
        let mut last = peer;
        for (i, text) in chain.iter().rev().enumerate() {
            if i == DEFAULT_MAX_HOPS {
                return None;
            }
            let text = text.trim();
            let parsed = text
                .parse::<IpAddr>()
                .ok()
                .or_else(|| text.strip_prefix('[')?.split_once(']')?.0.parse().ok())
                .map(|ip: IpAddr| ip.to_canonical())?;
            if !trusted.contains(parsed) {
                return Some(parsed);
            }
            last = parsed;
        }
        Some(last)
    }

    proptest! {
        #[test]
        fn the_client_is_the_peer_or_from_the_header(
            chain in proptest::collection::vec(entry(), 0..40),
            peer in (0u8..2, 0u8..4).prop_map(|(net, host)| IpAddr::from([[10, 192][net as usize], 0, 0, host])),
        ) {
            let trusted = proxies("10.0.0.0/8");
            let header = chain.join(", ");
            // An empty chain is no header at all (an empty header is a malformed entry).
            let headers: Vec<(&str, &str)> =
                if chain.is_empty() { vec![] } else { vec![("X-Forwarded-For", header.as_str())] };
            let got = trusted.client_addr(peer, &headers);
            prop_assert_eq!(got.as_ref().ok().copied(), model(peer, &chain, &trusted));
            if let Ok(client) = got {
                let from_header = chain.iter().any(|e| e.contains(&client.to_string()));
                prop_assert!(client == peer || from_header, "{} is neither the peer nor in {:?}", client, header);
            }
            if !trusted.contains(peer) {
                prop_assert_eq!(got, Ok(peer));
            }
        }

        #[test]
        fn an_untrusted_peer_headers_never_matter(
            xff in ".{0,60}",
            forwarded in ".{0,60}",
            (peer, inside) in peer_inside_or_outside(),
        ) {
            let trusted = proxies("10.0.0.0/8");
            prop_assert!(!trusted.contains(peer), "{} is a trusted proxy", peer);
            let headers = [("X-Forwarded-For", xff.as_str()), ("Forwarded", forwarded.as_str())];
            prop_assert_eq!(trusted.client_addr(peer, &headers), Ok(peer.to_canonical()));
            let list = IpAllowlist::new([parse_cidr_or_panic("192.0.2.0/24"), parse_cidr_or_panic("2001:db8::/32")])
                .with_trusted_proxies(trusted);
            prop_assert_eq!(list.contains(peer), inside, "{}", peer);
            match list.check(Some(peer), &headers) {
                Ok(client) => {
                    prop_assert!(inside, "{} is outside the ranges but was admitted", peer);
                    prop_assert_eq!(client, peer.to_canonical());
                }
                Err(refusal) => {
                    prop_assert!(!inside, "{} is inside the ranges but was refused: {}", peer, refusal);
                    prop_assert!(refusal.is_not_allowed(), "{}", refusal);
                    prop_assert_eq!((refusal.peer(), refusal.client()), (Some(peer), Some(peer.to_canonical())));
                }
            }
        }

        #[test]
        fn arbitrary_forwarded_values_name_a_client_or_are_refused(
            value in ".{0,80}",
            xff in "[0-9a-f:., \\[\\]\"_]{0,80}",
        ) {
            let trusted = proxies("0.0.0.0/0, ::/0");
            let peer = ip("192.0.2.1");
            let headers = [("Forwarded", value.as_str())];
            match trusted.client_addr(peer, &headers) {
                // Only a `for=` parameter names a client (every hop is trusted here).
                Ok(client) => {
                    prop_assert!(value.to_ascii_lowercase().contains("for"), "{} from {:?}", client, value);
                    prop_assert_eq!(client, client.to_canonical());
                }
                Err(refusal) => {
                    prop_assert!(refusal.is_bad_forwarding(), "{} for {:?}", refusal, value);
                    prop_assert_eq!((refusal.peer(), refusal.client()), (Some(peer), None));
                }
            }
            let headers = [("X-Forwarded-For", xff.as_str())];
            if let Ok(client) = trusted.client_addr(ip("192.0.2.1"), &headers) {
                prop_assert!(!xff.trim().is_empty(), "{} from {:?}", client, xff);
            }
        }
    }

    /// A peer address and whether it is inside `192.0.2.0/24, 2001:db8::/32`: inside and
    /// outside in equal measure (IPv4, IPv6, and IPv4-mapped IPv6 inside; IPv4 and IPv6
    /// outside), never in the trusted `10.0.0.0/8`.
    fn peer_inside_or_outside() -> impl Strategy<Value = (IpAddr, bool)> {
        let outside = |ip: &IpAddr| match ip.to_canonical() {
            IpAddr::V4(v4) => v4.octets()[0] != 10 && v4.octets()[..3] != [192, 0, 2],
            IpAddr::V6(v6) => v6.segments()[..2] != [0x2001, 0x0db8],
        };
        prop_oneof![
            1 => any::<u8>().prop_map(|h| (IpAddr::from([192, 0, 2, h]), true)),
            1 => any::<u8>().prop_map(|h| (IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, h).to_ipv6_mapped()), true)),
            1 => any::<[u16; 6]>().prop_map(|s| {
                (IpAddr::from([0x2001, 0x0db8, s[0], s[1], s[2], s[3], s[4], s[5]]), true)
            }),
            2 => any::<[u8; 4]>().prop_map(IpAddr::from).prop_filter("outside", outside).prop_map(|ip| (ip, false)),
            1 => any::<[u8; 16]>().prop_map(IpAddr::from).prop_filter("outside", outside).prop_map(|ip| (ip, false)),
        ]
    }

    fn parse_cidr_or_panic(text: &str) -> IpNet {
        super::super::parse_cidr(text).unwrap()
    }
}
