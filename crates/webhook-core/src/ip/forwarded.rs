//! Reading `X-Forwarded-For` and RFC 7239 `Forwarded`, and walking them from the right.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ranges::Ranges;
use crate::headers::Headers;

/// The two forwarding headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    XForwardedFor,
    Forwarded,
}

impl Header {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "X-Forwarded-For",
            Self::Forwarded => "Forwarded",
        }
    }
}

/// Why the walk could not name a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The entry at this position (1 = rightmost) is empty or unreadable.
    Malformed(Header, usize),
    /// The entry at this position is `unknown`, obfuscated, or has no `for=`.
    Hidden(Header, usize),
    /// More than this many entries would have to be examined.
    TooManyHops(Header, usize),
}

/// One hop as a proxy recorded it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Addr(IpAddr),
    Hidden,
    Malformed,
}

/// The last entries of a header (every line, in order), at most `keep` of them, and
/// whether earlier ones were left out.
#[derive(Debug)]
pub(crate) struct Entries<'a> {
    header: Header,
    kept: VecDeque<&'a [u8]>,
    left_out: bool,
}

impl<'a> Entries<'a> {
    /// `None` when the header is absent. Memory is bounded by `keep`; time by the length
    /// of the header, which the server already bounds.
    pub(crate) fn read(headers: &'a dyn Headers, header: Header, keep: usize) -> Option<Self> {
        let keep = keep.max(1);
        let mut present = false;
        let mut kept = VecDeque::new();
        let mut left_out = false;
        headers.for_each_value(header.name(), &mut |line| {
            present = true;
            split(line, b',', header == Header::Forwarded, &mut |entry| {
                if kept.len() == keep {
                    kept.pop_front();
                    left_out = true;
                }
                kept.push_back(entry);
            });
        });
        present.then_some(Self { header, kept, left_out })
    }

    /// From `peer` (a trusted proxy), the first entry from the right that is not a trusted
    /// proxy; if all are, the leftmost. Only the entries up to the answer are parsed.
    pub(crate) fn walk(&self, peer: IpAddr, trusted: &Ranges) -> Result<IpAddr, WalkError> {
        let mut last = peer;
        for (i, entry) in self.kept.iter().rev().enumerate() {
            let position = i + 1;
            let node = match self.header {
                Header::XForwardedFor => parse_node(trim(entry)),
                Header::Forwarded => parse_element(entry),
            };
            match node {
                Node::Addr(ip) => {
                    let ip = ip.to_canonical();
                    if !trusted.contains(ip) {
                        return Ok(ip);
                    }
                    last = ip;
                }
                Node::Hidden => return Err(WalkError::Hidden(self.header, position)),
                Node::Malformed => return Err(WalkError::Malformed(self.header, position)),
            }
        }
        if self.left_out {
            Err(WalkError::TooManyHops(self.header, self.kept.len()))
        } else {
            Ok(last)
        }
    }
}

/// Calls `f` with each `sep`-separated part of `s`. With `quotes`, separators inside an
/// RFC 7230 quoted-string (with `\` escapes) do not split.
fn split<'a>(s: &'a [u8], sep: u8, quotes: bool, f: &mut dyn FnMut(&'a [u8])) {
    let (mut start, mut in_quote, mut escaped) = (0, false, false);
    for (i, &b) in s.iter().enumerate() {
        if in_quote {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quote = false,
                _ => {}
            }
        } else if quotes && b == b'"' {
            in_quote = true;
        } else if b == sep {
            f(&s[start..i]);
            start = i + 1;
        }
    }
    f(&s[start..]);
}

fn trim(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |p| p + 1);
    &s[start..end]
}

/// An RFC 7239 element (`for=192.0.2.60;proto=http;by=203.0.113.43`): the node of its
/// one `for=` parameter. An element without `for=` hides the client.
fn parse_element(element: &[u8]) -> Node {
    if trim(element).is_empty() {
        return Node::Malformed;
    }
    let mut node = None;
    let mut malformed = false;
    split(element, b';', true, &mut |pair| {
        let pair = trim(pair);
        if malformed || pair.is_empty() {
            return;
        }
        let Some(eq) = pair.iter().position(|b| *b == b'=') else {
            malformed = true;
            return;
        };
        let (name, value) = (&pair[..eq], unquote(&pair[eq + 1..]));
        match value {
            None => malformed = true,
            Some(_) if !name.eq_ignore_ascii_case(b"for") => {}
            Some(_) if node.is_some() => malformed = true,
            Some(value) => node = Some(parse_node(&value)),
        }
    });
    if malformed {
        return Node::Malformed;
    }
    node.unwrap_or(Node::Hidden)
}

/// A token as it is, or a quoted-string without its quotes and escapes. `None` for an
/// unterminated quote, a stray quote in a token, or nothing at all.
fn unquote(value: &[u8]) -> Option<Cow<'_, [u8]>> {
    match value {
        [] => None,
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut bytes = inner.iter();
            while let Some(&b) = bytes.next() {
                match b {
                    b'\\' => out.push(*bytes.next()?),
                    b'"' => return None,
                    _ => out.push(b),
                }
            }
            Some(Cow::Owned(out))
        }
        _ if value.contains(&b'"') => None,
        _ => Some(Cow::Borrowed(value)),
    }
}

/// A node as proxies write it: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`, an obfuscated port (`:_p1`), or a hidden client
/// (`unknown`, `_hidden`).
fn parse_node(node: &[u8]) -> Node {
    let Ok(text) = std::str::from_utf8(node) else {
        return Node::Malformed;
    };
    if text.eq_ignore_ascii_case("unknown") || text.starts_with('_') {
        return Node::Hidden;
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Node::Addr(ip);
    }
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((v6, "")) => (v6, None),
            Some((v6, rest)) => match rest.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return Node::Malformed,
            },
            None => return Node::Malformed,
        },
        None => match text.split_once(':') {
            Some((v4, port)) => match v4.parse::<Ipv4Addr>() {
                Ok(_) => (v4, Some(port)),
                Err(_) => return Node::Malformed,
            },
            None => return Node::Malformed,
        },
    };
    if !port.is_none_or(is_port) {
        return Node::Malformed;
    }
    if text.starts_with('[') {
        host.parse::<Ipv6Addr>().map_or(Node::Malformed, |ip| Node::Addr(IpAddr::V6(ip)))
    } else {
        host.parse::<Ipv4Addr>().map_or(Node::Malformed, |ip| Node::Addr(IpAddr::V4(ip)))
    }
}

/// A port number, or RFC 7239's obfuscated port (`_` then letters, digits, `.`, `_`, `-`).
fn is_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(obfuscated) => {
            !obfuscated.is_empty() && obfuscated.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }
        None => {
            (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Node {
        Node::Addr(text.parse().unwrap())
    }

    #[test]
    fn nodes() {
        for (text, want) in [
            ("192.0.2.60", addr("192.0.2.60")),
            ("192.0.2.60:4711", addr("192.0.2.60")),
            ("192.0.2.60:_p-1.x", addr("192.0.2.60")),
            ("2001:db8::1", addr("2001:db8::1")),
            ("[2001:db8::1]", addr("2001:db8::1")),
            ("[2001:db8:cafe::17]:4711", addr("2001:db8:cafe::17")),
            ("::ffff:192.0.2.1", addr("::ffff:192.0.2.1")),
            ("unknown", Node::Hidden),
            ("UNKNOWN", Node::Hidden),
            ("_hidden", Node::Hidden),
            ("_SEVKISEK", Node::Hidden),
            ("", Node::Malformed),
            ("192.0.2.60:", Node::Malformed),
            ("192.0.2.60:65536", Node::Malformed),
            ("192.0.2.60:80:80", Node::Malformed),
            ("192.0.2.60:_", Node::Malformed),
            ("192.0.2.60:_a b", Node::Malformed),
            ("[2001:db8::1", Node::Malformed),
            ("[2001:db8::1]4711", Node::Malformed),
            ("[192.0.2.60]", Node::Malformed),
            ("2001:db8::1:80:x", Node::Malformed),
            ("fe80::1%eth0", Node::Malformed),
            ("example.com", Node::Malformed),
            ("example.com:80", Node::Malformed),
            ("192.0.2.060", Node::Malformed),
        ] {
            assert_eq!(parse_node(text.as_bytes()), want, "{text:?}");
        }
        assert_eq!(parse_node(b"\xff192.0.2.1"), Node::Malformed);
    }

    #[test]
    fn forwarded_elements() {
        for (text, want) in [
            ("for=192.0.2.60", addr("192.0.2.60")),
            ("For=192.0.2.60", addr("192.0.2.60")),
            (r#"for="192.0.2.60:47011""#, addr("192.0.2.60")),
            (r#"for="[2001:db8:cafe::17]:4711""#, addr("2001:db8:cafe::17")),
            (r#"for="\[2001:db8::1\]""#, addr("2001:db8::1")),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", addr("192.0.2.60")),
            (" proto=https ; for=192.0.2.60 ;", addr("192.0.2.60")),
            (r#"host="a;b";for=192.0.2.60"#, addr("192.0.2.60")),
            ("for=unknown", Node::Hidden),
            ("for=_hidden", Node::Hidden),
            ("proto=https;by=203.0.113.43", Node::Hidden),
            ("", Node::Malformed),
            ("  ", Node::Malformed),
            ("for=192.0.2.60;for=192.0.2.61", Node::Malformed),
            ("for", Node::Malformed),
            ("for=", Node::Malformed),
            (r#"for="192.0.2.60"#, Node::Malformed),
            (r#"for=192.0.2.60""#, Node::Malformed),
            (r#"for="a"b""#, Node::Malformed),
            (r#"for=192.0.2.60;proto="http"#, Node::Malformed),
            ("for=[2001:db8::1]:4711", addr("2001:db8::1")),
        ] {
            assert_eq!(parse_element(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn splitting_respects_quotes_only_in_forwarded() {
        let mut parts = Vec::new();
        split(br#"for="a,b", for=c"#, b',', true, &mut |p| parts.push(p));
        assert_eq!(parts, [&br#"for="a,b""#[..], b" for=c"]);
        parts.clear();
        split(br#""a,b""#, b',', false, &mut |p| parts.push(p));
        assert_eq!(parts, [&br#""a"#[..], br#"b""#]);
        parts.clear();
        split(br#"for="a\",b", for=c"#, b',', true, &mut |p| parts.push(p));
        assert_eq!(parts.len(), 2, "an escaped quote does not end the string");
    }

    #[test]
    fn entries_keep_the_last_ones_of_every_line() {
        let headers = [("X-Forwarded-For", "1.1.1.1, 2.2.2.2"), ("x-forwarded-for", "3.3.3.3"), ("Other", "4.4.4.4")];
        let e = Entries::read(&headers, Header::XForwardedFor, 2).unwrap();
        assert_eq!(e.kept, [&b" 2.2.2.2"[..], b"3.3.3.3"]);
        assert!(e.left_out);
        let e = Entries::read(&headers, Header::XForwardedFor, 3).unwrap();
        assert!(!e.left_out && e.kept.len() == 3);
        assert!(Entries::read(&headers, Header::Forwarded, 3).is_none());
    }
}
