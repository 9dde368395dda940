//! The one engine behind every data-described scheme: read the signature header, feed the
//! signed parts to the algorithm incrementally, compare in constant time, check the window,
//! read the delivery id and event type.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::Mac as _;
use subtle::ConstantTimeEq;

use crate::error::SignError;
use crate::error::{ErrorKind, VerifyError};
use crate::headers::{first_of, single};
use crate::json::{extract, Extracted};
use crate::scheme::{Algorithm, BodyFormat, Encoding, Layout, Part, Scheme, Source, TimestampSource};
use crate::secret::{B64, B64_URL};
use crate::time;
use crate::verifier::{derived_id, EventType, Keys, Prepared, Request, SignRequest, Signed, Verified};
use bytes::Bytes;

/// Most signatures a list may carry (a rotation has two or three).
pub(crate) const MAX_SIGNATURES: usize = 16;
/// Longest decoded signature: a DER ECDSA P-256 signature is at most 72 bytes.
const MAX_SIG_LEN: usize = 72;
/// Longest delivery id or event type read from a header.
const MAX_FIELD: usize = 1024;

/// An HMAC state, already keyed: cloning it skips hashing the key for every request.
#[derive(Clone)]
pub(crate) enum Mac {
    #[cfg(feature = "sha1")]
    Sha1(hmac::Hmac<sha1::Sha1>),
    Sha256(hmac::Hmac<sha2::Sha256>),
    Sha512(hmac::Hmac<sha2::Sha512>),
}

impl Mac {
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> Option<Self> {
        // `new_from_slice` accepts keys of any length for HMAC; it cannot fail.
        match algorithm {
            #[cfg(feature = "sha1")]
            Algorithm::HmacSha1 => hmac::Hmac::new_from_slice(key).ok().map(Self::Sha1),
            Algorithm::HmacSha256 => hmac::Hmac::new_from_slice(key).ok().map(Self::Sha256),
            Algorithm::HmacSha512 => hmac::Hmac::new_from_slice(key).ok().map(Self::Sha512),
            _ => None,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            #[cfg(feature = "sha1")]
            Self::Sha1(m) => m.update(data),
            Self::Sha256(m) => m.update(data),
            Self::Sha512(m) => m.update(data),
        }
    }

    /// The tag, written into `out`; returns its length.
    pub(crate) fn finish(self, out: &mut [u8; 64]) -> usize {
        fn put(out: &mut [u8; 64], tag: &[u8]) -> usize {
            out[..tag.len()].copy_from_slice(tag);
            tag.len()
        }
        match self {
            #[cfg(feature = "sha1")]
            Self::Sha1(m) => put(out, &m.finalize().into_bytes()),
            Self::Sha256(m) => put(out, &m.finalize().into_bytes()),
            Self::Sha512(m) => put(out, &m.finalize().into_bytes()),
        }
    }
}

/// Constant-time equality of decoded bytes, lengths compared first (a length is not a
/// secret; the bytes are).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// One decoded signature from the header, tagged with the algorithm it claims.
#[derive(Clone, Copy)]
struct Candidate {
    algorithm: Algorithm,
    bytes: [u8; MAX_SIG_LEN],
    len: usize,
}

impl Candidate {
    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn decode(encoding: Encoding, text: &[u8], out: &mut [u8; MAX_SIG_LEN]) -> Option<usize> {
    if text.is_empty() {
        return None;
    }
    match encoding {
        Encoding::Hex => {
            let n = text.len() / 2;
            if text.len() % 2 != 0 || n > MAX_SIG_LEN {
                return None;
            }
            hex::decode_to_slice(text, &mut out[..n]).ok().map(|()| n)
        }
        Encoding::Base64 => {
            // `decode_slice` refuses input whose decoded size might overflow the buffer.
            if text.len() > MAX_SIG_LEN / 3 * 4 + 4 {
                return None;
            }
            B64.decode_slice(text, out).ok()
        }
        Encoding::Base64Url => {
            if text.len() > MAX_SIG_LEN / 3 * 4 + 4 {
                return None;
            }
            B64_URL.decode_slice(text, out).ok()
        }
    }
}

/// The signatures and the list timestamp found in the signature header.
struct Parsed<'a> {
    candidates: [Option<Candidate>; MAX_SIGNATURES],
    count: usize,
    list_timestamp: Option<&'a [u8]>,
}

impl Parsed<'_> {
    /// Adds `more`'s signatures (another group, value or header of `name`), at most
    /// [`MAX_SIGNATURES`] in all.
    fn take(&mut self, more: Parsed<'_>, name: &str) -> Result<(), VerifyError> {
        for c in more.candidates.into_iter().flatten() {
            if self.count == MAX_SIGNATURES {
                return Err(VerifyError::malformed_header(name, format_args!("more than {MAX_SIGNATURES} signatures")));
            }
            self.candidates[self.count] = Some(c);
            self.count += 1;
        }
        Ok(())
    }
}

fn parse_header<'a>(scheme: &Scheme, name: &str, value: &'a [u8]) -> Result<Parsed<'a>, VerifyError> {
    let mut parsed = Parsed { candidates: [None; MAX_SIGNATURES], count: 0, list_timestamp: None };
    let mut buf = [0u8; MAX_SIG_LEN];
    match scheme.layout {
        Layout::Single { prefix } => {
            let rest = match value.strip_prefix(prefix.as_bytes()) {
                Some(rest) => rest,
                None if scheme.prefix_optional => value,
                None => {
                    return Err(VerifyError::malformed_header(name, format_args!("expected the prefix \"{prefix}\"")))
                }
            };
            let len = decode(scheme.encoding, rest, &mut buf)
                .ok_or_else(|| VerifyError::malformed_header(name, not_encoded(scheme.encoding)))?;
            parsed.candidates[0] = Some(Candidate { algorithm: scheme.algorithm, bytes: buf, len });
            parsed.count = 1;
        }
        Layout::List { separator, assign } => {
            let ts_label = match scheme.timestamp.map(|t| t.source) {
                Some(TimestampSource::ListItem(label)) => Some(label.as_bytes()),
                _ => None,
            };
            let mut unreadable = 0usize;
            for item in value.split(|&b| b == separator) {
                let item = item.trim_ascii();
                let Some(at) = item.iter().position(|&b| b == assign) else {
                    continue;
                };
                let (label, text) = (&item[..at], &item[at + 1..]);
                if Some(label) == ts_label {
                    if parsed.list_timestamp.replace(text).is_some() {
                        return Err(VerifyError::malformed_header(name, "more than one timestamp"));
                    }
                    continue;
                }
                let algorithm = if scheme.labels.iter().any(|l| l.as_bytes() == label) {
                    scheme.algorithm
                } else {
                    match scheme.asymmetric {
                        Some((alg, l)) if l.as_bytes() == label => alg,
                        _ => continue, // unknown versions (Stripe's v0) are ignored
                    }
                };
                match decode(scheme.encoding, text, &mut buf) {
                    Some(len) if parsed.count < MAX_SIGNATURES => {
                        parsed.candidates[parsed.count] = Some(Candidate { algorithm, bytes: buf, len });
                        parsed.count += 1;
                    }
                    Some(_) => {
                        return Err(VerifyError::malformed_header(
                            name,
                            format_args!("more than {MAX_SIGNATURES} signatures"),
                        ))
                    }
                    None => unreadable += 1,
                }
            }
            if parsed.count == 0 {
                let labels = scheme.labels.join("/");
                let what = if unreadable > 0 {
                    format!("no readable {labels} signature ({})", not_encoded(scheme.encoding))
                } else {
                    format!("no {labels} signature")
                };
                return Err(VerifyError::malformed_header(name, what));
            }
        }
        Layout::Leading { separator } => {
            let mut items = value.split(|&b| b == separator).map(<[u8]>::trim_ascii);
            match items.next() {
                Some(ts) if !ts.is_empty() => parsed.list_timestamp = Some(ts),
                _ => return Err(VerifyError::malformed_header(name, "no leading timestamp")),
            }
            let mut unreadable = 0usize;
            for text in items.filter(|t| !t.is_empty()) {
                match decode(scheme.encoding, text, &mut buf) {
                    Some(_) if parsed.count == MAX_SIGNATURES => {
                        return Err(VerifyError::malformed_header(
                            name,
                            format_args!("more than {MAX_SIGNATURES} signatures"),
                        ))
                    }
                    Some(len) => {
                        parsed.candidates[parsed.count] =
                            Some(Candidate { algorithm: scheme.algorithm, bytes: buf, len });
                        parsed.count += 1;
                    }
                    None => unreadable += 1,
                }
            }
            if parsed.count == 0 {
                let what = if unreadable > 0 {
                    format!("no readable signature after the timestamp ({})", not_encoded(scheme.encoding))
                } else {
                    "no signature after the timestamp".to_owned()
                };
                return Err(VerifyError::malformed_header(name, what));
            }
        }
    }
    Ok(parsed)
}

fn not_encoded(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Hex => "signature is not hex",
        Encoding::Base64 => "signature is not base64",
        Encoding::Base64Url => "signature is not URL-safe base64",
    }
}

/// The bytes of each [`Part`] of the signed message.
pub(crate) struct Message<'a> {
    pub(crate) parts: &'a [Part],
    pub(crate) id: &'a [u8],
    pub(crate) timestamp: &'a [u8],
    pub(crate) body: &'a [u8],
    pub(crate) url: &'a [u8],
    pub(crate) headers: &'a dyn crate::Headers,
}

/// JavaScript's `encodeURI` (`component` false) or `encodeURIComponent` /
/// `querystring.escape` (`component` true) of `text`.
fn js_encode(text: &str, component: bool, out: &mut String) {
    for &b in text.as_bytes() {
        let keep =
            b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) || (!component && b";,/?:@&=+$#".contains(&b));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The URL's path and query encoded as Contentful's `getNormalizedEncodedURI`.
fn encoded_path(url: &[u8]) -> String {
    let url = String::from_utf8_lossy(url);
    // The path starts after the authority; the fragment is not sent.
    let after_scheme = url.split_once("://").map_or(&*url, |(_, rest)| rest);
    let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path_and_query = path_and_query.split('#').next().unwrap_or("");
    let mut parts = path_and_query.split('?');
    let path = parts.next().unwrap_or("");
    let query = parts.next().unwrap_or("");
    let mut escaped_query = String::new();
    js_encode(query, true, &mut escaped_query);
    let joined = if escaped_query.is_empty() { path.to_owned() } else { format!("{path}?{escaped_query}") };
    let mut out = String::new();
    js_encode(&joined, false, &mut out);
    out
}

/// The headers named in `list_header`, as Contentful signs them.
fn signed_headers(headers: &dyn crate::Headers, list_header: &str) -> String {
    let mut list = None;
    headers.for_each_value(list_header, &mut |v| {
        list.get_or_insert(v);
    });
    let Some(list) = list.and_then(|l| std::str::from_utf8(l).ok()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for name in list.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
        if pairs.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut value = None;
        headers.for_each_value(&name, &mut |v| {
            value.get_or_insert(v);
        });
        if let Some(v) = value {
            pairs.push((name, String::from_utf8_lossy(v).trim().to_owned()));
        }
    }
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(";")
}

impl Message<'_> {
    pub(crate) fn feed(&self, mut sink: impl FnMut(&[u8])) {
        for part in self.parts {
            match part {
                Part::Id => sink(self.id),
                Part::Timestamp => sink(self.timestamp),
                Part::Body => sink(self.body),
                Part::Url => sink(self.url),
                Part::Literal(bytes) => sink(bytes),
                // Streamed: decoded piece by piece, no second copy of the body.
                Part::FormParams => crate::form::feed_sorted(self.body, &mut sink),
                Part::EncodedPath => sink(encoded_path(self.url).as_bytes()),
                Part::SignedHeaders(list) => sink(signed_headers(self.headers, list).as_bytes()),
                Part::SentAt(name) => {
                    let mut first = None;
                    self.headers.for_each_value(name, &mut |v| {
                        first.get_or_insert(v);
                    });
                    sink(first.unwrap_or_default());
                }
            }
        }
    }

    /// The message as one buffer, for the algorithms that cannot be fed piece by piece
    /// when signing (Ed25519).
    #[cfg(feature = "ed25519")]
    fn concat(&self) -> Vec<u8> {
        let mut all = Vec::new();
        self.feed(|p| all.extend_from_slice(p));
        all
    }
}

/// Does `key` produce one of `candidates` (those claiming `algorithm`) over `message`?
fn matches(key: &Prepared, algorithm: Algorithm, candidates: &[Option<Candidate>], message: &Message<'_>) -> bool {
    let usable = || candidates.iter().flatten().filter(|c| c.algorithm == algorithm);
    match key {
        Prepared::Hmac { .. } => {
            let Some(mut mac) = key.mac(algorithm) else {
                return false;
            };
            message.feed(|p| mac.update(p));
            let mut tag = [0u8; 64];
            let len = mac.finish(&mut tag);
            // Every candidate is compared; no early exit on the first match.
            usable().fold(false, |found, c| found | ct_eq(&tag[..len], c.bytes()))
        }
        #[cfg(feature = "ed25519")]
        Prepared::Ed25519(vk, _) => usable().any(|c| {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(c.bytes()) else {
                return false;
            };
            let Ok(mut stream) = vk.verify_stream(&sig) else {
                return false;
            };
            message.feed(|p| stream.update(p));
            stream.finalize_and_verify().is_ok()
        }),
        #[cfg(feature = "ecdsa")]
        Prepared::P256(vk, _) => {
            use p256::ecdsa::signature::DigestVerifier;
            use sha2::Digest;
            let mut digest = sha2::Sha256::new();
            message.feed(|p| digest.update(p));
            usable().any(|c| {
                p256::ecdsa::Signature::from_der(c.bytes())
                    .is_ok_and(|sig| vk.verify_digest(digest.clone(), &sig).is_ok())
            })
        }
        // A key for signed tokens is never a scheme's key (the builder refuses it).
        #[cfg(feature = "jwt")]
        Prepared::JwtPublic(..) => false,
    }
}

/// A header value that is neither empty nor longer than the bound (what [`single`]
/// checks, for headers that may repeat).
fn checked<'a>(name: &str, value: &'a [u8]) -> Result<&'a [u8], VerifyError> {
    if value.is_empty() {
        return Err(VerifyError::malformed_header(name, "empty"));
    }
    if value.len() > crate::MAX_HEADER_VALUE {
        return Err(VerifyError::malformed_header(
            name,
            format_args!("{} bytes, longer than {}", value.len(), crate::MAX_HEADER_VALUE),
        ));
    }
    Ok(value)
}

/// The first header source present, as raw bytes, with the name it came from.
fn header_source<'a>(
    headers: &'a dyn crate::Headers,
    sources: &[Source],
) -> Result<Option<(&'a [u8], &'static str)>, VerifyError> {
    for source in sources {
        let (name, except) = match source {
            Source::Header(name) => (*name, None),
            Source::HeaderExcept(name, except) => (*name, Some(except.as_bytes())),
            Source::Json(_) => continue,
        };
        match single(headers, name)? {
            Some(v) if except != Some(v) => return Ok(Some((v, name))),
            _ => {}
        }
    }
    Ok(None)
}

/// Verifies a request against a data-described scheme.
pub(crate) fn verify(
    scheme: &'static Scheme,
    keys: &Keys,
    tolerance: Option<Duration>,
    url: Option<&str>,
    req: &Request<'_>,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let headers = req.headers;
    let (value, alias) = if scheme.repeated_header {
        let mut first = None;
        headers.for_each_value(scheme.header[0], &mut |v| {
            first.get_or_insert(v);
        });
        (first.ok_or_else(|| VerifyError::missing_header(scheme.header[0]))?, 0)
    } else {
        first_of(headers, scheme.header)?.ok_or_else(|| VerifyError::missing_header(scheme.header[0]))?
    };
    let header_name = scheme.header[alias];
    let value = checked(header_name, value)?;
    let mut groups = match scheme.group_separator {
        Some(sep) => value.split(move |&b| b == sep).filter(|g| !g.trim_ascii().is_empty()).collect(),
        None => vec![value],
    };
    if groups.len() > MAX_SIGNATURES {
        return Err(VerifyError::malformed_header(header_name, format_args!("more than {MAX_SIGNATURES} signatures")));
    }
    let first = if groups.is_empty() { value } else { groups.remove(0) };
    let mut parsed = parse_header(scheme, header_name, first)?;
    for group in groups {
        let more = parse_header(scheme, header_name, group)?;
        if more.list_timestamp != parsed.list_timestamp {
            return Err(VerifyError::malformed_header(header_name, "its signature groups carry different timestamps"));
        }
        parsed.take(more, header_name)?;
    }
    if scheme.repeated_header {
        // Every further value adds its signatures (one per key during a rotation).
        let mut rest = Vec::new();
        headers.for_each_value(header_name, &mut |v| rest.push(v));
        for v in rest.into_iter().skip(1) {
            let more = parse_header(scheme, header_name, checked(header_name, v)?)?;
            parsed.take(more, header_name)?;
        }
    }
    if scheme.every_header {
        // The other headers present add their signatures (one per key).
        for name in &scheme.header[alias + 1..] {
            if let Some(v) = single(headers, name)? {
                let more = parse_header(scheme, name, v)?;
                parsed.take(more, name)?;
            }
        }
    }

    // The timestamp as sent (it is signed byte for byte), and where it came from.
    let (ts_raw, ts_name): (&[u8], &str) = match scheme.timestamp.map(|t| t.source) {
        Some(TimestampSource::Header(names)) => {
            let (v, i) = first_of(headers, names)?.ok_or_else(|| VerifyError::missing_header(names[0]))?;
            (v, names[i])
        }
        Some(TimestampSource::Leading) => {
            let v = parsed
                .list_timestamp
                .ok_or_else(|| VerifyError::malformed_header(header_name, "no leading timestamp"))?;
            (v, header_name)
        }
        Some(TimestampSource::ListItem(label)) => {
            let v = parsed
                .list_timestamp
                .ok_or_else(|| VerifyError::malformed_header(header_name, format_args!("no {label}= timestamp")))?;
            (v, header_name)
        }
        Some(TimestampSource::Json(_)) | None => (&[], ""),
    };
    let mut signed_at = match scheme.timestamp {
        Some(t) if !ts_name.is_empty() => Some(
            time::parse(ts_raw, t.format)
                .ok_or_else(|| VerifyError::malformed_header(ts_name, "not a valid timestamp"))?,
        ),
        _ => None,
    };

    // A header naming the signed headers must be there, once; so must a signed sending
    // time (Klaviyo), and not empty.
    for part in scheme.message {
        match part {
            Part::SignedHeaders(list) => {
                single(headers, list)?.ok_or_else(|| VerifyError::missing_header(list))?;
            }
            Part::SentAt(name) => {
                let v = single(headers, name)?.ok_or_else(|| VerifyError::missing_header(name))?;
                if v.is_empty() {
                    return Err(VerifyError::malformed_header(name, "empty"));
                }
            }
            _ => {}
        }
    }
    let id_header = header_source(headers, scheme.id)?;
    let needs = |p: Part| scheme.message.contains(&p);
    if needs(Part::Id) && id_header.is_none() {
        let first = scheme.id.iter().find_map(Source::header_name);
        return Err(VerifyError::missing_header(first.unwrap_or("id")));
    }
    let url = match url.or(req.url) {
        Some(u) => u,
        None if needs(Part::Url) || needs(Part::EncodedPath) => {
            return Err(VerifyError::new(
                ErrorKind::Configuration,
                format!("{} signs the request URL, but no URL was configured", scheme.name),
            ))
        }
        None => "",
    };
    let message = Message {
        parts: scheme.message,
        id: id_header.map_or(&[][..], |(v, _)| v),
        timestamp: ts_raw,
        body: &req.body,
        url: url.as_bytes(),
        headers,
    };
    let candidates = &parsed.candidates[..parsed.count];
    let key_index = keys
        .find(now, |key| scheme.variant_for(key.kind()).is_some_and(|(alg, _)| matches(key, alg, candidates, &message)))
        .map_err(|e| explain_mismatch(e, scheme, candidates))?;

    // The window is checked after the signature, so only an authentic sender learns of it.
    if let (Some(at), Some(tol)) = (signed_at, tolerance) {
        time::check(at, now, tol)?;
    }

    // What the acknowledgement needs now: the delivery id and a body timestamp (Linear).
    // The event type is for routing: a header is read now, a JSON field on first use
    // (`Verified::event_type`), so a Stripe body, whose `type` comes last, is not walked
    // to its end on the request path.
    let mut json_paths: Vec<&[&str]> = Vec::new();
    json_paths.extend(scheme.id.iter().filter_map(Source::json_path));
    let json_ts = match scheme.timestamp {
        Some(t) => match t.source {
            TimestampSource::Json(path) => {
                json_paths.push(path);
                Some((path, t.format))
            }
            _ => None,
        },
        None => None,
    };
    if scheme.body == BodyFormat::Json && !looks_like_json(&req.body) {
        return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"));
    }
    let mut values = if json_paths.is_empty() {
        Vec::new()
    } else {
        match extract(&req.body, &json_paths) {
            Extracted::Json(v) => v,
            Extracted::NotJson if scheme.body == BodyFormat::Json => {
                return Err(VerifyError::new(ErrorKind::BodyNotJson, "body is not JSON"));
            }
            Extracted::NotJson => vec![None; json_paths.len()],
        }
    };
    let mut json_value = |path: &[&str]| json_paths.iter().position(|p| *p == path).and_then(|i| values[i].take());
    if let Some((path, format)) = json_ts {
        let field = path.join(".");
        let raw = json_value(path)
            .ok_or_else(|| VerifyError::new(ErrorKind::MalformedBody, format!("body has no {field} timestamp")))?;
        let at = time::parse(raw.as_bytes(), format).ok_or_else(|| {
            VerifyError::new(ErrorKind::MalformedBody, format!("body field {field} is not a valid timestamp"))
        })?;
        if let Some(tol) = tolerance {
            time::check(at, now, tol)?;
        }
        signed_at = Some(at);
    }
    let mut id = None;
    for source in scheme.id {
        id = match source {
            Source::Json(path) => json_value(path),
            _ => match header_source(headers, std::slice::from_ref(source))? {
                Some((v, name)) => Some(header_text(name, v)?),
                None => None,
            },
        };
        if id.is_some() {
            break;
        }
    }
    let event_type = match header_source(headers, scheme.event_type)? {
        Some((v, name)) => EventType::known(Some(header_text(name, v)?)),
        None => EventType::from_body(scheme.event_type),
    };
    Ok(Verified {
        provider: scheme.name,
        id,
        event_type,
        timestamp: signed_at,
        body: req.body.clone(),
        key_index,
        event_id: None,
    })
}

/// Whether a body can be JSON at all: its first byte after white space opens an object or
/// an array. The application parses the rest (the typed extractors answer 400 when that
/// fails); the core does not parse a body twice.
fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// A header value as text: UTF-8 and at most 1 KiB, or it is malformed.
pub(crate) fn header_text(name: &str, value: &[u8]) -> Result<String, VerifyError> {
    if value.len() > MAX_FIELD {
        return Err(VerifyError::malformed_header(name, format_args!("longer than {MAX_FIELD} bytes")));
    }
    std::str::from_utf8(value).map(str::to_owned).map_err(|_| VerifyError::malformed_header(name, "not UTF-8"))
}

/// A mismatch where no candidate even had the algorithm's length says so: a truncated
/// signature is the most common cause, and it is worth naming.
fn explain_mismatch(err: VerifyError, scheme: &Scheme, candidates: &[Option<Candidate>]) -> VerifyError {
    if err.kind() != ErrorKind::SignatureMismatch {
        return err;
    }
    let Some(want) = scheme.algorithm.signature_len() else {
        return err;
    };
    let lens: Vec<usize> =
        candidates.iter().flatten().filter(|c| c.algorithm == scheme.algorithm).map(|c| c.len).collect();
    match lens.as_slice() {
        [got] if *got != want => VerifyError::new(
            ErrorKind::SignatureMismatch,
            format!("signature mismatch: signature is {got} bytes, expected {want}"),
        ),
        _ => err,
    }
}

/// Signs `message` with `key` under `algorithm`, encoded as the scheme writes it.
pub(crate) fn sign_one(
    key: &Prepared,
    algorithm: Algorithm,
    encoding: Encoding,
    message: &Message<'_>,
) -> Option<String> {
    let mut raw = [0u8; 72];
    let len = match key {
        Prepared::Hmac { .. } => {
            let mut mac = key.mac(algorithm)?;
            message.feed(|p| mac.update(p));
            let mut tag = [0u8; 64];
            let n = mac.finish(&mut tag);
            raw[..n].copy_from_slice(&tag[..n]);
            n
        }
        #[cfg(feature = "ed25519")]
        Prepared::Ed25519(_, sk) => {
            use ed25519_dalek::Signer;
            let sk = sk.as_ref()?;
            let sig = sk.sign(&message.concat()).to_bytes();
            raw[..64].copy_from_slice(&sig);
            64
        }
        #[cfg(feature = "ecdsa")]
        Prepared::P256(_, sk) => {
            use p256::ecdsa::signature::DigestSigner;
            use sha2::Digest;
            let sk = sk.as_ref()?;
            let mut digest = sha2::Sha256::new();
            message.feed(|p| digest.update(p));
            let sig: p256::ecdsa::Signature = sk.sign_digest(digest);
            let der = sig.to_der();
            raw[..der.len()].copy_from_slice(der.as_bytes());
            der.len()
        }
        #[cfg(feature = "jwt")]
        Prepared::JwtPublic(..) => return None,
    };
    Some(match encoding {
        Encoding::Hex => hex::encode(&raw[..len]),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&raw[..len]),
        Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..len]),
    })
}

/// Signs a delivery under a data-described scheme.
pub(crate) fn sign(
    scheme: &'static Scheme,
    keys: &Keys,
    url: Option<&str>,
    req: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let timestamp = match scheme.timestamp {
        // A body timestamp (Linear) is part of the body the caller gives.
        Some(t) if !matches!(t.source, TimestampSource::Json(_)) => Some(
            time::format(req.timestamp, t.format)
                .ok_or_else(|| SignError::new("the timestamp cannot be written in this provider's format"))?,
        ),
        _ => None,
    };
    let ts_text = timestamp.as_deref().unwrap_or("");
    let id_header = scheme.id.iter().find_map(|s| match s {
        Source::Header(h) => Some(*h),
        _ => None,
    });
    let id = match (req.id, id_header) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(_)) => Some(derived_id(ts_text, req.body)),
        (None, None) => None,
    };
    let needs = |p: Part| scheme.message.contains(&p);
    let url = url.or(req.url);
    if (needs(Part::Url) || needs(Part::EncodedPath)) && url.is_none() {
        return Err(SignError::new(format!("{} signs the URL: give one with SignRequest::url", scheme.name)));
    }
    // The headers the message signs by name (Contentful's list and timestamp), as they
    // will be sent.
    let mut named: Vec<(&'static str, String)> = Vec::new();
    for part in scheme.message {
        if let Part::SentAt(name) = part {
            let date = time::http_date(req.timestamp)
                .ok_or_else(|| SignError::new("the signing time cannot be written as an HTTP date"))?;
            named.push((name, date));
        }
        if let Part::SignedHeaders(list) = part {
            let mut names = vec![*list];
            if let Some(TimestampSource::Header(ts)) = scheme.timestamp.map(|t| t.source) {
                names.push(ts[0]);
                named.push((ts[0], ts_text.to_owned()));
            }
            let mut lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
            lower.sort();
            named.push((list, lower.join(",")));
        }
    }
    let message = Message {
        parts: scheme.message,
        id: id.as_deref().unwrap_or("").as_bytes(),
        timestamp: ts_text.as_bytes(),
        body: req.body,
        url: url.unwrap_or("").as_bytes(),
        headers: &named.as_slice(),
    };
    let mut signatures = Vec::new();
    for key in keys.signing(req.timestamp) {
        if let Some((algorithm, label)) = scheme.variant_for(key.kind()) {
            if let Some(sig) = sign_one(key, algorithm, scheme.encoding, &message) {
                signatures.push((label.or(scheme.labels.first().copied()).unwrap_or(""), sig));
            }
        }
    }
    if signatures.is_empty() {
        return Err(SignError::new(format!(
            "no key valid at that time can sign for {} (public keys only verify)",
            scheme.name
        )));
    }
    let mut headers = Vec::new();
    if let (true, Layout::Single { prefix }) = (scheme.every_header, scheme.layout) {
        // One header per key, in order, as far as there are names.
        for (name, (_, sig)) in scheme.header.iter().zip(&signatures).skip(1) {
            headers.push((*name, format!("{prefix}{sig}")));
        }
    }
    if let (true, Layout::Single { prefix }) = (scheme.repeated_header, scheme.layout) {
        // The header again for each further key.
        for (_, sig) in signatures.iter().skip(1) {
            headers.push((scheme.header[0], format!("{prefix}{sig}")));
        }
    }
    let value = match scheme.layout {
        Layout::Single { prefix } => format!("{prefix}{}", signatures[0].1),
        Layout::Leading { separator } => std::iter::once(ts_text)
            .chain(signatures.iter().map(|(_, sig)| sig.as_str()))
            .collect::<Vec<_>>()
            .join(&char::from(separator).to_string()),
        Layout::List { separator, assign } => {
            let (sep, assign) = (char::from(separator), char::from(assign));
            let ts_item = match scheme.timestamp.map(|t| t.source) {
                Some(TimestampSource::ListItem(label)) => Some(format!("{label}{assign}{ts_text}")),
                _ => None,
            };
            match scheme.group_separator {
                // One complete list per signature (Persona).
                Some(group) => signatures
                    .iter()
                    .map(|(label, sig)| {
                        let mut items: Vec<String> = ts_item.iter().cloned().collect();
                        items.push(format!("{label}{assign}{sig}"));
                        items.join(&sep.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(&char::from(group).to_string()),
                None => {
                    let mut items: Vec<String> = ts_item.into_iter().collect();
                    items.extend(signatures.iter().map(|(label, sig)| format!("{label}{assign}{sig}")));
                    items.join(&sep.to_string())
                }
            }
        }
    };
    headers.insert(0, (scheme.header[0], value));
    if let Some(TimestampSource::Header(names)) = scheme.timestamp.map(|t| t.source) {
        headers.push((names[0], ts_text.to_owned()));
    }
    if let (Some(name), Some(id)) = (id_header, id) {
        headers.push((name, id));
    }
    for (name, value) in named {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)) {
            headers.push((name, value));
        }
    }
    let type_header = scheme.event_type.iter().find_map(|s| match s {
        Source::Header(h) => Some(*h),
        _ => None,
    });
    if let (Some(name), Some(event_type)) = (type_header, req.event_type) {
        headers.push((name, event_type.to_owned()));
    }
    Ok(Signed { headers, body: Bytes::copy_from_slice(req.body) })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::{providers, ErrorKind, SignRequest, Verifier, WebhookRequest as Request};

    #[test]
    fn the_request_path_reads_the_id_and_the_type_only_when_asked() {
        let stripe = Verifier::new(providers::STRIPE, "whsec_x").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let verify = |body: &'static [u8]| {
            let signed = stripe.sign(&SignRequest::new(body, now)).unwrap();
            stripe.verify(&Request::new(&signed, body), now)
        };
        // The id comes first: verification stops reading there.
        let d = verify(br#"{"id":"evt_1","data":{"object":{}},"type":"invoice.paid"}"#).unwrap();
        assert_eq!((d.id(), d.event_type()), (Some("evt_1"), Some("invoice.paid")));
        // What follows the id is the application's to parse: a broken tail verifies, and
        // the type it hides is simply absent.
        let d = verify(br#"{"id":"evt_2", "type": oops"#).unwrap();
        assert_eq!((d.id(), d.event_type()), (Some("evt_2"), None));
        // A body that cannot be JSON, or whose id cannot be read, is refused.
        for body in [&b"id=evt_3&type=x"[..], b"  not json", br#"{"id": nope"#] {
            let signed = stripe.sign(&SignRequest::new(body, now)).unwrap();
            let err = stripe.verify(&Request::new(&signed, bytes::Bytes::copy_from_slice(body)), now).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BodyNotJson, "{body:?}");
        }
    }

    #[cfg(feature = "ed25519")]
    #[test]
    fn discord_webhook_events_are_typed_by_their_event() {
        let key = crate::Secret::ed25519_seed(&[5u8; 32]).unwrap();
        let discord = Verifier::builder(providers::DISCORD).key(key).build().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let type_of = |body: &'static [u8]| {
            let signed = discord.sign(&SignRequest::new(body, now)).unwrap();
            discord.verify(&Request::new(&signed, body), now).unwrap().event_type().map(str::to_owned)
        };
        let event = br#"{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}"#;
        assert_eq!(type_of(event).as_deref(), Some("APPLICATION_AUTHORIZED"));
        // Interactions have no `event`: their numeric `type` stays.
        assert_eq!(type_of(br#"{"type":2,"id":"1","data":{"name":"hi"}}"#).as_deref(), Some("2"));
        assert_eq!(type_of(br#"{"version":1,"application_id":"1","type":0}"#).as_deref(), Some("0"));
    }

    #[test]
    fn twitch_revocations_are_never_typed_as_their_subscription() {
        let twitch = Verifier::new(providers::TWITCH, "secretabcd").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = br#"{"subscription":{"id":"f1c2a387","status":"authorization_revoked","type":"channel.follow"}}"#;
        let signed = twitch.sign(&SignRequest::new(body, now).event_type("channel.follow")).unwrap();
        let type_with = |message_type: Option<&str>| {
            let mut headers = signed.clone();
            if let Some(t) = message_type {
                headers.headers.push(("Twitch-Eventsub-Message-Type", t.to_owned()));
            }
            twitch.verify(&Request::new(&headers, &body[..]), now).unwrap().event_type().map(str::to_owned)
        };
        assert_eq!(type_with(Some("notification")).as_deref(), Some("channel.follow"));
        assert_eq!(type_with(Some("revocation")).as_deref(), Some("revocation"));
        assert_eq!(type_with(None).as_deref(), Some("channel.follow"));
        // A head-only router cannot tell them apart on one header: none is offered.
        assert_eq!(providers::TWITCH.event_header(), None);
        assert_eq!(providers::GITHUB.event_header(), Some("X-GitHub-Event"));
    }

    #[cfg(feature = "sha1")]
    #[test]
    fn form_params_are_signed_decoded_and_sorted() {
        use base64::Engine as _;
        use hmac::Mac as _;
        let url = "https://example.com/hooks/mandrill";
        let mandrill = Verifier::builder(providers::MANDRILL).secret("k").url(url).build().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // What Mailchimp's generateSignature computes: URL, then name+value by sorted name.
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"k").unwrap();
        mac.update(format!("{url}a1bx{{\"e\":1}}z").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let headers = [("X-Mandrill-Signature", sig.as_str())];
        for body in [&b"z=&x=%7B%22e%22%3A1%7D&a=1b"[..], b"a=1b&x=%7B%22e%22:1%7D&z=", b"x={\"e\":1}&z&a=1%62"] {
            let got = mandrill.verify(&Request::new(&headers, body), now);
            assert!(got.is_ok(), "{}: {got:?}", String::from_utf8_lossy(body));
        }
        for other in [&b"a=1b&x=%7B%22e%22%3A2%7D&z="[..], b"a=1+b&x=%7B%22e%22%3A1%7D&z=", b"a=1b&x=%7B%22e%22%3A1%7D"]
        {
            let got = mandrill.verify(&Request::new(&headers, other), now);
            assert_eq!(got.unwrap_err().kind(), ErrorKind::SignatureMismatch, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn persona_signature_groups() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let both = Verifier::builder(providers::PERSONA).secret("new").secret("old").build().unwrap();
        let body = br#"{"data":{"id":"evt_1","attributes":{"name":"inquiry.completed"}}}"#;
        let signed = both.sign(&SignRequest::new(body, now)).unwrap();
        let value = signed.header("Persona-Signature").unwrap().to_owned();
        assert_eq!(value.split(' ').count(), 2, "one set per key: {value}");
        let old_only = Verifier::new(providers::PERSONA, "old").unwrap();
        let check = |v: &str| {
            let h = [("Persona-Signature", v)];
            old_only.verify(&Request::new(&h, &body[..]), now).map(|d| d.id().map(str::to_owned))
        };
        assert_eq!(check(&value).unwrap().as_deref(), Some("evt_1"));
        // Sets with different timestamps, or one without, are refused.
        let (first, second) = value.split_once(' ').unwrap();
        let other_t = second.replacen("t=1700000000", "t=1700000001", 1);
        assert_eq!(check(&format!("{first} {other_t}")).unwrap_err().kind(), ErrorKind::MalformedHeader);
        let no_t = second.split(',').filter(|i| !i.starts_with("t=")).collect::<Vec<_>>().join(",");
        assert_eq!(check(&format!("{first} {no_t}")).unwrap_err().kind(), ErrorKind::MalformedHeader);
        // Extra spaces between sets are not sets.
        assert!(check(&format!("{first}   {second}")).is_ok());
    }

    #[test]
    fn bitbucket_cloud_and_data_center_delivery_ids() {
        let bb = Verifier::new(providers::BITBUCKET, "s").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = br#"{"eventKey":"repo:refs_changed"}"#;
        let signed = bb.sign(&SignRequest::new(body, now)).unwrap();
        let id_with = |extra: &[(&'static str, &str)]| {
            let mut headers = signed.clone();
            headers.headers.retain(|(k, _)| *k == "X-Hub-Signature");
            headers.headers.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            bb.verify(&Request::new(&headers, &body[..]), now).unwrap().id().map(str::to_owned)
        };
        assert_eq!(id_with(&[("X-Request-UUID", "cloud-1")]).as_deref(), Some("cloud-1"));
        assert_eq!(id_with(&[("X-Request-Id", "dc-1")]).as_deref(), Some("dc-1"));
        assert_eq!(id_with(&[]), None);
    }

    #[test]
    fn a_header_type_wins_and_json_types_follow_their_order() {
        let slack = Verifier::new(providers::SLACK, "s").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = br#"{"type":"event_callback","event":{"type":"app_mention"}}"#;
        let signed = slack.sign(&SignRequest::new(body, now)).unwrap();
        let d = slack.verify(&Request::new(&signed, &body[..]), now).unwrap();
        assert_eq!(d.event_type(), Some("app_mention"));

        let linear = Verifier::new(providers::LINEAR, "l").unwrap();
        let body = br#"{"type":"Issue","action":"create","webhookTimestamp":1700000000000}"#;
        let mut signed = linear.sign(&SignRequest::new(body, now)).unwrap();
        signed.headers.push(("Linear-Event", "Comment".into()));
        let d = linear.verify(&Request::new(&signed, &body[..]), now).unwrap();
        assert_eq!(d.event_type(), Some("Comment"));
    }
}
