//! Who may post: an allowlist of address ranges per route, and the trusted proxies whose
//! forwarding headers say who the client is.
//!
//! Pure and framework-free: a peer address and the request headers in, the client's
//! address or an [`IpRefusal`] out. Adapters do not call this module directly: they call
//! [`Endpoint::admit`](crate::receive::Endpoint::admit) with the connection's peer address
//! and the headers **before reading the body**, and an endpoint without an allowlist admits
//! everyone without looking at either.
//!
//! ```
//! use std::net::IpAddr;
//! use webhook_core::ip::{IpAllowlist, TrustedProxies};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let allowlist = IpAllowlist::parse_csv("192.0.2.0/24, 2001:db8::/32")?
//!     .with_trusted_proxies(TrustedProxies::parse_csv("10.0.0.0/8")?);
//!
//! // A direct client: its own address decides, and the header it forged changes nothing.
//! let direct: IpAddr = "203.0.113.9".parse()?;
//! let forged = [("X-Forwarded-For", "192.0.2.7")];
//! let refusal = allowlist.check(Some(direct), &forged).unwrap_err();
//! assert!(refusal.is_not_allowed());
//! assert_eq!(refusal.to_string(), "client address 203.0.113.9 is not in the allowlist");
//!
//! // The same header, added by our load balancer (a trusted proxy): the client is 192.0.2.7.
//! let balancer: IpAddr = "10.0.0.2".parse()?;
//! assert_eq!(allowlist.check(Some(balancer), &forged)?, "192.0.2.7".parse::<IpAddr>()?);
//!
//! // RFC 7239, IPv6 quoted with a port; IPv4-mapped IPv6 peers match IPv4 ranges.
//! let rfc7239 = [("Forwarded", r#"for="[2001:db8::1]:4711";proto=https"#)];
//! assert_eq!(allowlist.check(Some(balancer), &rfc7239)?, "2001:db8::1".parse::<IpAddr>()?);
//! let no_headers: [(&str, &str); 0] = [];
//! assert!(allowlist.check(Some("::ffff:192.0.2.1".parse()?), &no_headers).is_ok());
//! # Ok(())
//! # }
//! ```
//!
//! # Which address is checked
//!
//! | the request | the client address | answer |
//! |---|---|---|
//! | the endpoint has no allowlist | not computed | admitted |
//! | no peer address (the server did not pass it) | unknown | 403: fail closed |
//! | the peer is not a trusted proxy | the peer; `X-Forwarded-For` and `Forwarded` are ignored entirely | the allowlist decides |
//! | a trusted peer, no forwarding header | the peer (the proxy itself) | the allowlist decides |
//! | a trusted peer with `X-Forwarded-For` or `Forwarded` | walking the entries from the right, skipping trusted proxies, the first untrusted address; if every entry is trusted, the leftmost | the allowlist decides |
//! | an entry examined on that walk is empty, not an address, or (RFC 7239) an element with a repeated `for=` or an unterminated quote | unknown | 403: fail closed |
//! | an entry examined is `unknown`, obfuscated (`_hidden`), or an RFC 7239 element without `for=` | unknown | 403: fail closed |
//! | more than [`DEFAULT_MAX_HOPS`] (or [`TrustedProxies::with_max_hops`]) entries would have to be examined | unknown | 403: fail closed |
//! | both headers present, naming different clients | ambiguous | 403: fail closed |
//!
//! Why these choices:
//!
//! - **Only trusted proxies are believed.** Anyone can send `X-Forwarded-For`; only a proxy
//!   we run (or pay for) appends to it honestly. Entries left of the first untrusted address
//!   were written by the client and are never read, so garbage there is harmless.
//! - **Malformed means refused, not "use the proxy's address".** An unreadable entry right of
//!   the client was written by one of our own proxies: something is misconfigured, and
//!   falling back to the proxy's address would admit every client whenever the proxy itself
//!   is allowlisted. Refusing is visible (a 403 with the reason, counted as `forbidden`)
//!   and safe.
//! - **No peer address means refused.** An allowlist that cannot see the connection would
//!   otherwise admit everyone; the reason says the server did not pass the address, and
//!   each adapter documents how to pass it (axum: serve with
//!   `into_make_service_with_connect_info::<SocketAddr>()`; tower: insert
//!   `webhook_tower::PeerAddr`; actix-web always has it).
//! - **Both headers must agree.** A proxy that appends to one header usually passes the
//!   other through from the client untouched, and we cannot know which one it maintains.
//! - **Bounded work.** At most [`DEFAULT_MAX_HOPS`] entries are parsed (the last ones; the
//!   lines of a repeated header are combined in order, as if joined with commas).
//! - **IPv4 in IPv6.** A peer or entry `::ffff:a.b.c.d` is the IPv4 address `a.b.c.d`: it
//!   matches IPv4 ranges (and `::ffff:0:0/96`-style ranges too).
//!
//! # Loading a provider's published ranges
//!
//! Providers publish the addresses they post from, and change them: this crate embeds no
//! list. Fetch the current one at deploy time (or periodically) and load it:
//!
//! - GitHub: `GET https://api.github.com/meta`, the `hooks` array (CIDR ranges).
//! - Stripe: `GET https://stripe.com/files/ips/ips_webhooks.json`, the `WEBHOOKS` array
//!   (single addresses, which are accepted as `/32` ranges).
//!
//! ```
//! use webhook_core::ip::{cidrs_from_json, IpAllowlist};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What `curl -s https://api.github.com/meta` returns looks like this (abridged, and
//! // these are documentation ranges, not GitHub's).
//! let meta = br#"{"verifiable_password_authentication":false,"hooks":["192.0.2.0/24","2001:db8::/32"]}"#;
//! let github = IpAllowlist::new(cidrs_from_json(meta, "hooks")?);
//! assert!(github.contains("192.0.2.200".parse()?));
//!
//! let stripe = IpAllowlist::new(cidrs_from_json(br#"{"WEBHOOKS":["198.51.100.7"]}"#, "WEBHOOKS")?);
//! assert!(stripe.contains("198.51.100.7".parse()?) && !stripe.contains("198.51.100.8".parse()?));
//! # Ok(())
//! # }
//! ```
//!
//! The example receivers read the same ranges as comma-separated text from
//! `<PROVIDER>_WEBHOOK_ALLOW_IPS` (for instance
//! `GITHUB_WEBHOOK_ALLOW_IPS=$(curl -s https://api.github.com/meta | jq -r '.hooks | join(",")')`).

mod allowlist;
mod forwarded;
mod ranges;

pub use allowlist::{IpAllowlist, IpRefusal, TrustedProxies};
pub use ipnet::IpNet;
pub use ranges::{cidrs_from_json, parse_cidr, parse_cidrs, CidrError};

/// How many forwarding entries are examined at most, unless
/// [`TrustedProxies::with_max_hops`] says otherwise.
pub const DEFAULT_MAX_HOPS: usize = 32;
