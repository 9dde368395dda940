//! Who may use the console: the admin token (a bearer header, compared in constant time),
//! or a session cookie the login form sets, and the CSRF token every state-changing
//! request carries.
//!
//! The cookie is never the token: it is `<expiry>.<nonce>.<mac>`, the MAC an HMAC-SHA256
//! under a key derived from the token, so changing the token ends every session, and a
//! leaked cookie stops working at its expiry. The CSRF token of a session is another MAC
//! of the cookie's value under the same key: a page can carry it, a cross-site form cannot
//! know it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The name of the console's session cookie.
pub(crate) const COOKIE: &str = "webhook_console";

/// The fewest bytes an admin token may have.
pub const MIN_TOKEN_LEN: usize = 16;

/// The longest admin token accepted (and the longest bearer value read).
pub(crate) const MAX_TOKEN_LEN: usize = 512;

/// The admin token and the key derived from it.
pub(crate) struct Keys {
    token: Zeroizing<Vec<u8>>,
    key: Zeroizing<[u8; 32]>,
}

impl Keys {
    pub(crate) fn new(token: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(token).expect("HMAC takes a key of any length");
        mac.update(b"webhook-console session key v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self { token: Zeroizing::new(token.to_vec()), key: Zeroizing::new(key) }
    }

    /// Whether `candidate` is the token: its length first, then its bytes in constant time.
    pub(crate) fn is_token(&self, candidate: &[u8]) -> bool {
        candidate.len() == self.token.len() && bool::from(candidate.ct_eq(&self.token))
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&*self.key).expect("HMAC takes a key of any length");
        mac.update(label);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// A new session value, valid until `now + ttl`.
    pub(crate) fn new_session(&self, now: SystemTime, ttl: Duration) -> String {
        let expiry = secs(now).saturating_add(ttl.as_secs());
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let head = format!("{expiry}.{nonce}");
        let tag = self.mac(b"session", &[head.as_bytes()]).finalize().into_bytes();
        format!("{head}.{}", hex::encode(tag))
    }

    /// Whether `value` is a session this key made, not expired at `now`.
    pub(crate) fn is_session(&self, value: &str, now: SystemTime) -> bool {
        if value.len() > 200 {
            return false;
        }
        let Some((head, tag)) = value.rsplit_once('.') else { return false };
        let Some((expiry, _nonce)) = head.split_once('.') else { return false };
        let Ok(expiry) = expiry.parse::<u64>() else { return false };
        let Ok(tag) = hex::decode(tag) else { return false };
        // `verify_slice` checks the length, then compares in constant time.
        self.mac(b"session", &[head.as_bytes()]).verify_slice(&tag).is_ok() && secs(now) < expiry
    }

    /// The CSRF token of a session (`None`: a bearer-authenticated request).
    pub(crate) fn csrf(&self, session: Option<&str>) -> String {
        let tag = self.mac(b"csrf", &[session.unwrap_or("bearer").as_bytes()]).finalize().into_bytes();
        hex::encode(tag)
    }

    /// Whether `candidate` is the CSRF token of `session`.
    pub(crate) fn is_csrf(&self, session: Option<&str>, candidate: &str) -> bool {
        let Ok(tag) = hex::decode(candidate) else { return false };
        self.mac(b"csrf", &[session.unwrap_or("bearer").as_bytes()]).verify_slice(&tag).is_ok()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How a request proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The session cookie, with its value.
    Session(String),
}

impl Auth {
    /// The session the CSRF token is bound to.
    pub(crate) fn session(&self) -> Option<&str> {
        match self {
            Self::Bearer => None,
            Self::Session(s) => Some(s),
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(b"0123456789abcdef-admin")
    }

    #[test]
    fn the_token_matches_only_itself() {
        let k = keys();
        assert!(k.is_token(b"0123456789abcdef-admin"));
        assert!(!k.is_token(b"0123456789abcdef-admiN"));
        assert!(!k.is_token(b"0123456789abcdef-admin "));
        assert!(!k.is_token(b"0123456789abcdef-admi"));
        assert!(!k.is_token(b""));
    }

    #[test]
    fn a_session_is_not_the_token_and_expires() {
        let k = keys();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = k.new_session(now, Duration::from_secs(60));
        assert!(!s.contains("admin"), "the cookie never carries the token: {s}");
        assert!(k.is_session(&s, now));
        assert!(k.is_session(&s, now + Duration::from_secs(59)));
        assert!(!k.is_session(&s, now + Duration::from_secs(60)), "expired");
        assert_ne!(s, k.new_session(now, Duration::from_secs(60)), "each login gets its own session");
    }

    #[test]
    fn a_forged_or_altered_session_is_refused() {
        let k = keys();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = k.new_session(now, Duration::from_secs(60));
        let (head, tag) = s.rsplit_once('.').unwrap();
        let (_, nonce) = head.split_once('.').unwrap();
        // A later expiry with the old MAC.
        assert!(!k.is_session(&format!("9999999999.{nonce}.{tag}"), now));
        // A truncated MAC, an empty one, no MAC, garbage.
        assert!(!k.is_session(&format!("{head}.{}", &tag[..32]), now));
        assert!(!k.is_session(&format!("{head}."), now));
        assert!(!k.is_session(head, now));
        assert!(!k.is_session("", now));
        assert!(!k.is_session(&"a.".repeat(300), now));
        // A session made under another token.
        assert!(!Keys::new(b"another token, 16+ bytes").is_session(&s, now));
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let k = keys();
        let now = UNIX_EPOCH;
        let (a, b) = (k.new_session(now, Duration::from_secs(60)), k.new_session(now, Duration::from_secs(60)));
        let token = k.csrf(Some(&a));
        assert!(k.is_csrf(Some(&a), &token));
        assert!(!k.is_csrf(Some(&b), &token));
        assert!(!k.is_csrf(None, &token));
        assert!(!k.is_csrf(Some(&a), ""));
        assert!(!k.is_csrf(Some(&a), &token[..10]));
        assert!(k.is_csrf(None, &k.csrf(None)));
    }

    #[test]
    fn cookies_are_read_by_name() {
        assert_eq!(cookie("a=1; webhook_console=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("webhook_consolex=1", COOKIE), None);
        assert_eq!(cookie("", COOKIE), None);
    }
}
