//! The client address behind trusted proxies: `X-Forwarded-For` and RFC 7239 `Forwarded`
//! (quoted strings, escapes, `for=` parameters, bracketed IPv6 with ports, obfuscated
//! nodes), `TrustedProxies::client_addr` and `IpAllowlist::check`.
//!
//! Input: `[peer selector: u8] [max hops: u8] [flags: u8]` then `Name: value` header lines.
//!
//! Asserts, besides "no panic": an untrusted peer is the client whatever the headers say;
//! without forwarding headers a trusted peer is the client; an answer is canonical (IPv4
//! for `::ffff:a.b.c.d`); several `X-Forwarded-For` lines read as one line joined with
//! commas (the documented rule; for `Forwarded` too when no quote is involved); an entry
//! added left of an untrusted client changes nothing (only the client wrote it); a trusted
//! proxy appended on the right changes nothing while the hop limit allows; the allowlist
//! admits exactly the clients in its ranges, and nobody without a peer address.

#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use webhook_core::ip::{IpAllowlist, IpRefusal, TrustedProxies, DEFAULT_MAX_HOPS};
use webhook_core_fuzz::frame::Cursor;
use webhook_core_fuzz::RawHeaders;

const TRUSTED: &str = "10.0.0.0/8, 127.0.0.1, 2001:db8:ffff::/48";
const ALLOWED: &str = "192.0.2.0/24, 2001:db8:1::/48, 10.1.0.0/16";
/// Trusted first (two of them IPv4-mapped / IPv6), then untrusted.
const PEERS: &[&str] =
    &["10.0.0.1", "::ffff:10.0.0.2", "2001:db8:ffff::1", "127.0.0.1", "203.0.113.9", "2001:db8:1::1"];

struct Setup {
    peers: Vec<IpAddr>,
    allowlist: IpAllowlist,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        peers: PEERS.iter().map(|p| p.parse().unwrap()).collect(),
        allowlist: IpAllowlist::parse_csv(ALLOWED).unwrap(),
    })
}

fn is_forwarding(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"X-Forwarded-For") || name.eq_ignore_ascii_case(b"Forwarded")
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let s = setup();
    let peer = s.peers[usize::from(c.byte()) % s.peers.len()];
    let hops_byte = c.byte();
    let flags = c.byte();
    let pairs = c.headers();
    let max_hops = if flags & 1 != 0 { usize::from(hops_byte % 40).max(1) } else { DEFAULT_MAX_HOPS };
    let proxies = TrustedProxies::parse_csv(TRUSTED).unwrap().with_max_hops(max_hops);
    let headers = RawHeaders(pairs.clone());
    let client = |h: &RawHeaders<'_>| proxies.client_addr(peer, h);
    let result = client(&headers);
    let canonical_peer = peer.to_canonical();

    match &result {
        Ok(ip) => assert_eq!(*ip, ip.to_canonical(), "a client address is canonical"),
        Err(e) => check_refusal(e, canonical_peer),
    }
    if !proxies.contains(canonical_peer) {
        assert_eq!(result.as_ref().ok(), Some(&canonical_peer), "an untrusted peer is the client");
    }
    if !pairs.iter().any(|(k, _)| is_forwarding(k)) {
        assert_eq!(result.as_ref().ok(), Some(&canonical_peer), "no forwarding header: the peer is the client");
    }

    // Several lines of one header read as one line joined with commas.
    let joined_values: Vec<Vec<u8>> = ["X-Forwarded-For", "Forwarded"]
        .iter()
        .map(|name| {
            pairs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(&b", "[..])
        })
        .collect();
    let quoted = pairs.iter().any(|(k, v)| k.eq_ignore_ascii_case(b"Forwarded") && v.contains(&b'"'));
    if !quoted {
        let mut joined: Vec<(&[u8], &[u8])> = pairs.iter().filter(|(k, _)| !is_forwarding(k)).copied().collect();
        for (name, value) in ["X-Forwarded-For", "Forwarded"].iter().zip(&joined_values) {
            if pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes())) {
                joined.push((name.as_bytes(), value));
            }
        }
        assert_eq!(client(&RawHeaders(joined)), result, "header lines read as one joined line");
    }

    // An untrusted client found on the walk does not depend on what is left of it.
    if let Ok(ip) = result {
        if ip != canonical_peer && !proxies.contains(ip) {
            let mut prefixed =
                vec![(&b"X-Forwarded-For"[..], &b"not an address"[..]), (&b"Forwarded"[..], &b"for=\"_x"[..])];
            prefixed.retain(|(k, _)| pairs.iter().any(|(p, _)| p.eq_ignore_ascii_case(k)));
            prefixed.extend(pairs.iter().copied());
            assert_eq!(client(&RawHeaders(prefixed)), result, "entries left of the client changed the answer");
        }
    }

    // A trusted proxy appended on the right of every forwarding header changes nothing,
    // while the hop limit allows one more entry.
    let entries = joined_values[0].split(|&b| b == b',').count().max(joined_values[1].split(|&b| b == b',').count());
    if result.is_ok() && proxies.contains(canonical_peer) && entries < max_hops {
        let mut appended = pairs.clone();
        if pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(b"X-Forwarded-For")) {
            appended.push((b"X-Forwarded-For", b"10.9.9.9"));
        }
        if pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(b"Forwarded")) {
            appended.push((b"Forwarded", b"for=\"10.9.9.9:8080\";proto=https"));
        }
        assert_eq!(client(&RawHeaders(appended)), result, "a trusted hop appended on the right");
    }

    // The allowlist: exactly the clients in its ranges; nobody without a peer.
    let allowlist = s.allowlist.clone().with_trusted_proxies(proxies.clone());
    let checked = allowlist.check(Some(peer), &headers);
    match (&result, &checked) {
        (Ok(ip), Ok(admitted)) => assert!(ip == admitted && allowlist.contains(*ip)),
        (Ok(ip), Err(e)) => {
            assert!(!allowlist.contains(*ip) && e.is_not_allowed() && e.client() == Some(*ip));
        }
        (Err(a), Err(b)) => assert!(a == b, "the allowlist's refusal is the walk's"),
        (Err(_), Ok(_)) => panic!("admitted a client the walk refused"),
    }
    assert!(allowlist.check(None, &headers).unwrap_err().is_missing_peer());
});

fn check_refusal(e: &IpRefusal, peer: IpAddr) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(e.is_bad_forwarding() && !e.is_not_allowed() && !e.is_missing_peer(), "{msg}");
    assert_eq!(e.peer(), Some(peer));
    assert_eq!(e.client(), None);
}
