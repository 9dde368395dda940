//! Keys: shared secrets and public keys, each with an optional expiry, never printed.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// A base64 engine that accepts the standard alphabet with or without padding, as the
/// official Standard Webhooks libraries effectively do.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The URL-safe alphabet (`-`, `_`), with or without padding: Sanity's signatures.
pub(crate) const B64_URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// What kind of key a [`Secret`] holds, which decides the signatures it can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// Shared bytes for HMAC (or compared as a token).
    Shared,
    /// An Ed25519 key (public, or private which can also sign).
    Ed25519,
    /// An ECDSA P-256 key (public, or private which can also sign).
    P256,
    /// An RSA public key, for tokens signed with RS256, RS384 or RS512 (FusionAuth).
    Rsa,
    /// An elliptic-curve public key (P-256 or P-384), for tokens signed with ES256 or
    /// ES384 (FusionAuth).
    Ec,
}

#[derive(Clone)]
pub(crate) enum Material {
    Shared(Zeroizing<Vec<u8>>),
    #[cfg(feature = "ed25519")]
    Ed25519Public(ed25519_dalek::VerifyingKey),
    #[cfg(feature = "ed25519")]
    Ed25519Private(ed25519_dalek::SigningKey),
    #[cfg(feature = "ecdsa")]
    P256Public(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "ecdsa")]
    P256Private(p256::ecdsa::SigningKey),
    /// A public key for signed tokens, with its kind ([`KeyKind::Rsa`] or [`KeyKind::Ec`]).
    #[cfg(feature = "jwt")]
    JwtPublic(std::sync::Arc<jsonwebtoken::DecodingKey>, KeyKind),
}

/// One key a verifier may accept: shared bytes or a public/private key, plus an optional
/// moment after which it no longer verifies (a planned rotation).
///
/// `Debug` never shows the key:
///
/// ```
/// use webhook_core::Secret;
/// let s = Secret::shared("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret { kind: Shared, key: [REDACTED], not_after: None }");
/// ```
#[derive(Clone)]
pub struct Secret {
    pub(crate) material: Material,
    not_after: Option<SystemTime>,
}

impl Secret {
    fn of(material: Material) -> Self {
        Self { material, not_after: None }
    }

    /// Shared key bytes used exactly as given (GitHub, Stripe, Slack and most others key the
    /// HMAC with the secret's UTF-8 bytes, prefix included).
    pub fn shared(bytes: impl AsRef<[u8]>) -> Self {
        Self::of(Material::Shared(Zeroizing::new(bytes.as_ref().to_vec())))
    }

    /// A Standard Webhooks key: `whsec_` + base64 (symmetric, the decoded bytes are the
    /// key), `whpk_` + base64 of a 32-byte Ed25519 public key, or `whsk_` + base64 of a
    /// 32-byte Ed25519 seed. A bare base64 string is read as a `whsec_` secret, as the
    /// Svix libraries do.
    ///
    /// ```
    /// use webhook_core::{KeyKind, Secret};
    /// let s = Secret::standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    /// assert_eq!(s.kind(), KeyKind::Shared);
    /// assert!(Secret::standard_webhooks("whsec_not base64!").is_err());
    /// ```
    pub fn standard_webhooks(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("whpk_") {
            let bytes = decode_32(rest, "whpk_ public key")?;
            return Self::ed25519_public(&bytes);
        }
        if let Some(rest) = text.strip_prefix("whsk_") {
            let bytes = decode_32(rest, "whsk_ private key")?;
            return Self::ed25519_seed(&bytes);
        }
        let rest = text.strip_prefix("whsec_").unwrap_or(text);
        let key = Zeroizing::new(B64.decode(rest).map_err(|_| ConfigError::new("whsec_ secret is not valid base64"))?);
        if key.is_empty() {
            return Err(ConfigError::new("whsec_ secret is empty"));
        }
        Ok(Self::of(Material::Shared(key)))
    }

    /// An Ed25519 public key (32 bytes), e.g. Discord's application public key decoded
    /// from hex.
    #[cfg(feature = "ed25519")]
    pub fn ed25519_public(bytes: &[u8]) -> Result<Self, ConfigError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ConfigError::new("an Ed25519 public key is 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|_| ConfigError::new("not a valid Ed25519 public key"))?;
        Ok(Self::of(Material::Ed25519Public(key)))
    }

    /// An Ed25519 private key from its 32-byte seed. It verifies and can also sign (to test
    /// a receiver, or to act as a sender).
    #[cfg(feature = "ed25519")]
    pub fn ed25519_seed(seed: &[u8]) -> Result<Self, ConfigError> {
        let arr: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.try_into().map_err(|_| ConfigError::new("an Ed25519 seed is 32 bytes"))?);
        Ok(Self::of(Material::Ed25519Private(ed25519_dalek::SigningKey::from_bytes(&arr))))
    }

    /// An ECDSA P-256 public key as DER SubjectPublicKeyInfo in base64 (SendGrid's form), or
    /// the same wrapped in `-----BEGIN PUBLIC KEY-----`.
    #[cfg(feature = "ecdsa")]
    pub fn p256_public(text: &str) -> Result<Self, ConfigError> {
        use p256::pkcs8::DecodePublicKey;
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).flat_map(|l| l.trim().chars()).collect();
        let der = B64.decode(body.as_bytes()).map_err(|_| ConfigError::new("P-256 public key is not valid base64"))?;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&der)
            .map_err(|_| ConfigError::new("not a DER SubjectPublicKeyInfo for a P-256 key"))?;
        Ok(Self::of(Material::P256Public(key)))
    }

    /// An ECDSA P-256 private key from its 32-byte scalar. It verifies and can also sign.
    #[cfg(feature = "ecdsa")]
    pub fn p256_private(scalar: &[u8]) -> Result<Self, ConfigError> {
        let key = p256::ecdsa::SigningKey::from_slice(scalar)
            .map_err(|_| ConfigError::new("not a valid P-256 private scalar"))?;
        Ok(Self::of(Material::P256Private(key)))
    }

    /// A public key for signed tokens (FusionAuth's RSA and EC signing keys), in PEM: a
    /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, RSA or EC on P-256 or P-384), a
    /// PKCS#1 `RSA PUBLIC KEY`, or a `CERTIFICATE` whose key is one of these. It only
    /// verifies; the algorithms it accepts follow from its kind, never from the token.
    ///
    /// ```
    /// use webhook_core::Secret;
    /// assert!(Secret::jwt_public_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    /// ```
    #[cfg(feature = "jwt")]
    pub fn jwt_public_pem(pem: &str) -> Result<Self, ConfigError> {
        let pem = pem.trim().as_bytes();
        let (key, kind) = match jsonwebtoken::DecodingKey::from_rsa_pem(pem) {
            Ok(k) => (k, KeyKind::Rsa),
            Err(_) => match jsonwebtoken::DecodingKey::from_ec_pem(pem) {
                Ok(k) => (k, KeyKind::Ec),
                Err(_) => {
                    return Err(ConfigError::new(
                        "not a PEM RSA or EC public key (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)",
                    ))
                }
            },
        };
        Ok(Self::of(Material::JwtPublic(std::sync::Arc::new(key), kind)))
    }

    /// This key stops verifying after `when` (the end of a planned rotation). A signature
    /// that only this key matches is then refused with
    /// [`ErrorKind::ExpiredKey`](crate::ErrorKind::ExpiredKey).
    #[must_use]
    pub fn valid_until(mut self, when: SystemTime) -> Self {
        self.not_after = Some(when);
        self
    }

    /// The moment after which this key no longer verifies, if any.
    pub fn not_after(&self) -> Option<SystemTime> {
        self.not_after
    }

    /// Whether this key verifies at `now` (the expiry itself is still valid).
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_after.is_none_or(|t| now <= t)
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match &self.material {
            Material::Shared(_) => KeyKind::Shared,
            #[cfg(feature = "ed25519")]
            Material::Ed25519Public(_) | Material::Ed25519Private(_) => KeyKind::Ed25519,
            #[cfg(feature = "ecdsa")]
            Material::P256Public(_) | Material::P256Private(_) => KeyKind::P256,
            #[cfg(feature = "jwt")]
            Material::JwtPublic(_, kind) => *kind,
        }
    }

    /// Whether this key can sign (shared secrets and private keys can; public keys cannot).
    pub fn can_sign(&self) -> bool {
        match &self.material {
            Material::Shared(_) => true,
            #[cfg(feature = "ed25519")]
            Material::Ed25519Private(_) => true,
            #[cfg(feature = "ecdsa")]
            Material::P256Private(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("kind", &self.kind())
            .field("key", &format_args!("[REDACTED]"))
            .field("not_after", &self.not_after)
            .finish()
    }
}

fn decode_32(b64: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let bytes = Zeroizing::new(B64.decode(b64).map_err(|_| ConfigError::new(format!("{what} is not valid base64")))?);
    if bytes.len() != 32 {
        return Err(ConfigError::new(format!("{what} must decode to 32 bytes")));
    }
    Ok(bytes)
}

#[cfg(not(feature = "ed25519"))]
impl Secret {
    fn ed25519_public(_: &[u8]) -> Result<Self, ConfigError> {
        Err(ConfigError::new("Ed25519 keys need the `ed25519` feature of webhook-core"))
    }
    fn ed25519_seed(_: &[u8]) -> Result<Self, ConfigError> {
        Self::ed25519_public(&[])
    }
}

/// How a provider hands out its key, and so how the text a user configures becomes a
/// [`Secret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// The text's UTF-8 bytes, exactly as shown, prefix included (GitHub, Stripe's
    /// `whsec_…`, Paddle's `pdl_ntfset_…`, PagerDuty's base64-looking secret, ...).
    Utf8,
    /// Standard Webhooks: `whsec_` base64 (decoded), `whpk_`/`whsk_` Ed25519 keys.
    StandardWebhooks,
    /// `whsec_` + base64 is decoded; any other text is used as UTF-8 (GitLab's signing
    /// token, whose exact form GitLab has not documented).
    WhsecOrUtf8,
    /// An Ed25519 public key in hex (Discord's application public key), or a 64-hex-digit
    /// Ed25519 seed prefixed `seed:` for signing test deliveries.
    Ed25519Hex,
    /// Hexadecimal text whose decoded bytes are the shared key (Adyen's HMAC key).
    Hex,
    /// An Ed25519 public key in standard base64 (Telnyx's public key from Mission Control),
    /// or a 64-hex-digit Ed25519 seed prefixed `seed:` for signing test deliveries.
    Ed25519Base64,
    /// A P-256 public key, DER SubjectPublicKeyInfo in base64 or PEM (SendGrid).
    P256Der,
    /// A key for signed tokens (FusionAuth): PEM text (`-----BEGIN …`) is an RSA or EC
    /// public key (see [`Secret::jwt_public_pem`]); any other text is an HMAC key, used as
    /// UTF-8.
    JwtKey,
    /// The text after Unicode NFKD normalisation, as UTF-8 (EasyPost's webhook secret, as
    /// its client libraries normalise it).
    Nfkd,
    /// Standard base64 text whose decoded bytes are the shared key (Airtable's
    /// `macSecretBase64`).
    Base64,
}

impl KeyFormat {
    /// Reads configured text into a key.
    ///
    /// ```
    /// use webhook_core::{KeyFormat, KeyKind};
    /// assert_eq!(KeyFormat::Utf8.parse("It's a Secret to Everybody").unwrap().kind(), KeyKind::Shared);
    /// assert!(KeyFormat::Utf8.parse("").is_err());
    /// # #[cfg(feature = "ed25519")] {
    /// let k = KeyFormat::Ed25519Hex
    ///     .parse("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    ///     .unwrap();
    /// assert_eq!(k.kind(), KeyKind::Ed25519);
    /// # }
    /// ```
    pub fn parse(self, text: &str) -> Result<Secret, ConfigError> {
        if text.is_empty() {
            return Err(ConfigError::new("the secret is empty"));
        }
        match self {
            Self::Utf8 => Ok(Secret::shared(text)),
            Self::Nfkd => {
                use unicode_normalization::UnicodeNormalization as _;
                let normalised = Zeroizing::new(text.nfkd().collect::<String>());
                Ok(Secret::shared(normalised.as_bytes()))
            }
            Self::StandardWebhooks => Secret::standard_webhooks(text),
            Self::WhsecOrUtf8 if text.starts_with("whsec_") => Secret::standard_webhooks(text),
            Self::WhsecOrUtf8 => Ok(Secret::shared(text)),
            Self::Ed25519Hex => {
                let (seed, hex_text) = match text.strip_prefix("seed:") {
                    Some(rest) => (true, rest),
                    None => (false, text),
                };
                let bytes = Zeroizing::new(
                    hex::decode(hex_text.trim()).map_err(|_| ConfigError::new("Ed25519 key is not valid hex"))?,
                );
                if seed {
                    Secret::ed25519_seed(&bytes)
                } else {
                    Secret::ed25519_public(&bytes)
                }
            }
            Self::Hex => shared_bytes(hex::decode(text.trim()), "the key is not valid hex"),
            Self::Base64 => {
                use base64::Engine as _;
                shared_bytes(
                    base64::engine::general_purpose::STANDARD.decode(text.trim()),
                    "the key is not valid base64",
                )
            }
            Self::Ed25519Base64 => match text.strip_prefix("seed:") {
                Some(_) => Self::Ed25519Hex.parse(text),
                None => {
                    use base64::Engine as _;
                    let bytes = Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(text.trim())
                            .map_err(|_| ConfigError::new("Ed25519 key is not valid base64"))?,
                    );
                    Secret::ed25519_public(&bytes)
                }
            },
            #[cfg(feature = "ecdsa")]
            Self::P256Der => Secret::p256_public(text),
            #[cfg(not(feature = "ecdsa"))]
            Self::P256Der => Err(ConfigError::new("P-256 keys need the `ecdsa` feature of webhook-core")),
            #[cfg(feature = "jwt")]
            Self::JwtKey if text.trim_start().starts_with("-----BEGIN") => Secret::jwt_public_pem(text),
            #[cfg(not(feature = "jwt"))]
            Self::JwtKey if text.trim_start().starts_with("-----BEGIN") => {
                Err(ConfigError::new("public keys for signed tokens need the `jwt` feature of webhook-core"))
            }
            Self::JwtKey => Ok(Secret::shared(text)),
        }
    }
}

/// A shared key from the bytes its text decodes to: `invalid` when the text does not
/// decode, "the key is empty" when it decodes to nothing.
fn shared_bytes<E>(decoded: Result<Vec<u8>, E>, invalid: &'static str) -> Result<Secret, ConfigError> {
    let bytes = Zeroizing::new(decoded.map_err(|_| ConfigError::new(invalid))?);
    if bytes.is_empty() {
        return Err(ConfigError::new("the key is empty"));
    }
    Ok(Secret::shared(&*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn debug_never_prints_key_material() {
        let s = Secret::standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let shown = format!("{s:?} {:?}", Secret::shared("plain-secret"));
        assert!(!shown.contains("MfKQ") && !shown.contains("plain-secret"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }

    #[test]
    fn expiry_is_inclusive() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let s = Secret::shared("k").valid_until(t);
        assert!(s.is_valid_at(t));
        assert!(!s.is_valid_at(t + Duration::from_secs(1)));
    }

    #[test]
    fn whsec_accepts_missing_padding_and_no_prefix() {
        let a = Secret::standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = Secret::standard_webhooks("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        match (&a.material, &b.material) {
            (Material::Shared(x), Material::Shared(y)) => assert_eq!(x.as_slice(), y.as_slice()),
            #[allow(unreachable_patterns)]
            _ => panic!("expected shared keys"),
        }
        assert!(Secret::standard_webhooks("whsec_").is_err());
    }

    #[cfg(feature = "ed25519")]
    #[test]
    fn standard_webhooks_asymmetric_prefixes() {
        let pk = B64.encode([7u8; 32]);
        // 32 arbitrary bytes are not always a valid curve point; use a known key instead.
        let rfc_pk = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
        let s = Secret::standard_webhooks(&format!("whpk_{}", B64.encode(&rfc_pk))).unwrap();
        assert_eq!((s.kind(), s.can_sign()), (KeyKind::Ed25519, false));
        let s = Secret::standard_webhooks(&format!("whsk_{pk}")).unwrap();
        assert_eq!((s.kind(), s.can_sign()), (KeyKind::Ed25519, true));
        assert!(Secret::standard_webhooks("whpk_AAAA").is_err());
    }
}
