//! Address ranges: parsing them from text or JSON, and matching an address.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// A range (or a list of them) could not be read.
///
/// The message quotes the offending text (at most 64 characters of it): ranges are not
/// secrets, and the quote is what makes a typo in a long list findable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CidrError {
    message: String,
}

impl CidrError {
    fn new(message: String) -> Self {
        Self { message }
    }
}

/// Reads one range: a CIDR (`192.0.2.0/24`, `2001:db8::/32`) or a single address
/// (`192.0.2.7`, read as `/32`; `2001:db8::1`, read as `/128`). Surrounding whitespace is
/// ignored; host bits below the prefix are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
///
/// ```
/// use webhook_core::ip::parse_cidr;
///
/// assert_eq!(parse_cidr(" 10.1.2.3/8 ").unwrap().to_string(), "10.0.0.0/8");
/// assert_eq!(parse_cidr("2001:db8::1").unwrap().to_string(), "2001:db8::1/128");
/// assert_eq!(
///     parse_cidr("10.0.0.0/33").unwrap_err().to_string(),
///     "`10.0.0.0/33` is not an IP address or a CIDR range like 192.0.2.0/24 or 2001:db8::/32"
/// );
/// ```
pub fn parse_cidr(text: &str) -> Result<IpNet, CidrError> {
    let text = text.trim();
    let net =
        if text.contains('/') { text.parse::<IpNet>().ok() } else { text.parse::<IpAddr>().ok().map(IpNet::from) };
    net.map(|n| n.trunc()).ok_or_else(|| {
        CidrError::new(format!(
            "`{}` is not an IP address or a CIDR range like 192.0.2.0/24 or 2001:db8::/32",
            excerpt(text)
        ))
    })
}

/// Reads a comma-separated list of ranges (`"192.0.2.0/24, 2001:db8::/32"`), as found in
/// an environment variable. Empty items are skipped, so an empty text is an empty list.
///
/// ```
/// use webhook_core::ip::parse_cidrs;
///
/// let nets = parse_cidrs("192.0.2.0/24, 198.51.100.7,").unwrap();
/// assert_eq!(nets.len(), 2);
/// assert!(parse_cidrs("192.0.2.0/24, nope").is_err());
/// ```
pub fn parse_cidrs(csv: &str) -> Result<Vec<IpNet>, CidrError> {
    csv.split(',').map(str::trim).filter(|item| !item.is_empty()).map(parse_cidr).collect()
}

/// Reads the array of ranges under the top-level `key` of a JSON document: GitHub's
/// `https://api.github.com/meta` (`"hooks"`), Stripe's
/// `https://stripe.com/files/ips/ips_webhooks.json` (`"WEBHOOKS"`). Every item must be a
/// string that [`parse_cidr`] reads.
///
/// ```
/// use webhook_core::ip::cidrs_from_json;
///
/// let nets = cidrs_from_json(br#"{"hooks":["192.0.2.0/24"],"web":["198.51.100.0/24"]}"#, "hooks").unwrap();
/// assert_eq!(nets.len(), 1);
/// let err = cidrs_from_json(br#"{"web":[]}"#, "hooks").unwrap_err();
/// assert_eq!(err.to_string(), "the JSON document has no array `hooks`");
/// ```
pub fn cidrs_from_json(json: &[u8], key: &str) -> Result<Vec<IpNet>, CidrError> {
    let doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| CidrError::new(format!("the ranges are not JSON: {e}")))?;
    let Some(items) = doc.get(key).and_then(|v| v.as_array()) else {
        return Err(CidrError::new(format!("the JSON document has no array `{}`", excerpt(key))));
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(text) => parse_cidr(text),
            None => Err(CidrError::new(format!("`{}` holds {item}, not a range in a string", excerpt(key)))),
        })
        .collect()
}

/// At most 64 characters of `text`, for messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A set of ranges, cheap to clone. An address matches when its IPv4 form or its
/// IPv4-mapped IPv6 form lies in one of them, so `::ffff:192.0.2.1` matches `192.0.2.0/24`
/// and `192.0.2.1` matches `::ffff:192.0.2.0/120`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Ranges(Arc<[IpNet]>);

impl Ranges {
    pub(crate) fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self(nets.into_iter().map(|n| n.trunc()).collect())
    }

    pub(crate) fn as_slice(&self) -> &[IpNet] {
        &self.0
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let mapped = match ip {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        };
        // A linear scan: providers publish a few dozen ranges at most.
        self.0.iter().any(|net| net.contains(&ip) || mapped.as_ref().is_some_and(|m| net.contains(m)))
    }
}

impl Default for Ranges {
    fn default() -> Self {
        Self::new([])
    }
}

impl fmt::Debug for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_ranges_and_single_addresses() {
        assert_eq!(parse_cidr("192.0.2.0/24").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_cidr("192.0.2.9").unwrap().to_string(), "192.0.2.9/32");
        assert_eq!(parse_cidr("2001:DB8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(parse_cidr("\t::1 ").unwrap().to_string(), "::1/128");
        for bad in
            ["", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0", "10.0.0.0/8/8", "example.com", "10.0.0.0 /8"]
        {
            let err = parse_cidr(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("`{}` is not", bad.trim())), "{bad:?}: {err}");
        }
        let long = "x".repeat(200);
        assert!(parse_cidr(&long).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn csv_skips_blanks_and_names_the_bad_item() {
        assert_eq!(parse_cidrs(" , ").unwrap(), vec![]);
        assert_eq!(parse_cidrs("10.0.0.0/8,,::1").unwrap().len(), 2);
        assert!(parse_cidrs("10.0.0.0/8, 300.0.0.1").unwrap_err().to_string().starts_with("`300.0.0.1`"));
    }

    #[test]
    fn json_lists() {
        let doc = br#"{"hooks":["192.0.2.0/24","2001:db8::/32"],"WEBHOOKS":["198.51.100.7",7],"x":"y"}"#;
        assert_eq!(cidrs_from_json(doc, "hooks").unwrap().len(), 2);
        assert_eq!(
            cidrs_from_json(doc, "WEBHOOKS").unwrap_err().to_string(),
            "`WEBHOOKS` holds 7, not a range in a string"
        );
        assert_eq!(cidrs_from_json(doc, "x").unwrap_err().to_string(), "the JSON document has no array `x`");
        assert!(cidrs_from_json(b"<html>", "hooks").unwrap_err().to_string().starts_with("the ranges are not JSON"));
    }

    #[test]
    fn matching_across_families() {
        let ranges = Ranges::new(parse_cidrs("192.0.2.0/24, 2001:db8::/32, ::ffff:198.51.100.0/120").unwrap());
        assert!(ranges.contains(ip("192.0.2.1")));
        assert!(ranges.contains(ip("::ffff:192.0.2.1")), "a mapped peer matches its IPv4 range");
        assert!(!ranges.contains(ip("192.0.3.1")));
        assert!(!ranges.contains(ip("::192.0.2.1")), "IPv4-compatible is not IPv4-mapped");
        assert!(ranges.contains(ip("2001:db8:ffff::1")));
        assert!(!ranges.contains(ip("2001:db9::1")));
        assert!(ranges.contains(ip("198.51.100.9")), "an IPv4 address matches a mapped IPv6 range");
        assert!(!Ranges::default().contains(ip("127.0.0.1")));
        assert_eq!(format!("{ranges:?}"), "[192.0.2.0/24, 2001:db8::/32, ::ffff:198.51.100.0/120]");
    }
}
