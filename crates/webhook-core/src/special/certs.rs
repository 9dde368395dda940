//! Signing certificates for the providers that sign with a certificate's key (Amazon SNS,
//! PayPal). The core does no I/O: the application puts the certificates a delivery names
//! into a [`CertificateStore`] (fetching them over HTTPS, checking the host, caching by
//! URL), and the verifier reads them from there.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A signing certificate's RSA public key, read once from the certificate.
#[derive(Clone)]
pub struct SigningCertificate {
    key: Arc<rsa::RsaPublicKey>,
}

impl fmt::Debug for SigningCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rsa::traits::PublicKeyParts;
        f.debug_struct("SigningCertificate").field("rsa_bits", &(self.key.size() * 8)).finish()
    }
}

impl SigningCertificate {
    /// Reads a PEM certificate (what `SigningCertURL` serves): its subject public key must
    /// be RSA.
    ///
    /// ```
    /// use webhook_core::SigningCertificate;
    /// assert!(SigningCertificate::from_pem("not a certificate").is_err());
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, crate::ConfigError> {
        use x509_cert::der::DecodePem;
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes())
            .map_err(|_| crate::ConfigError::new("the signing certificate is not a PEM X.509 certificate"))?;
        Self::from_certificate(&cert)
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, crate::ConfigError> {
        use x509_cert::der::Decode;
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|_| crate::ConfigError::new("the signing certificate is not a DER X.509 certificate"))?;
        Self::from_certificate(&cert)
    }

    /// The RSA public key.
    pub(crate) fn key(&self) -> &rsa::RsaPublicKey {
        &self.key
    }

    fn from_certificate(cert: &x509_cert::Certificate) -> Result<Self, crate::ConfigError> {
        use x509_cert::der::referenced::OwnedToRef;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let key = rsa::RsaPublicKey::try_from(spki.owned_to_ref())
            .map_err(|_| crate::ConfigError::new("the signing certificate's key is not RSA"))?;
        Ok(Self { key: Arc::new(key) })
    }
}

/// Where the verifier finds the certificate a delivery names (Amazon SNS's
/// `SigningCertURL`, PayPal's `PAYPAL-CERT-URL`). Implement it over
/// a cache your application fills (and refreshes); [`MemoryCertificates`] is one.
pub trait CertificateStore: Send + Sync {
    /// The certificate published at `url`, if the store has it.
    fn certificate(&self, url: &str) -> Option<SigningCertificate>;
}

/// A [`CertificateStore`] in memory, filled by the application.
///
/// ```
/// use webhook_core::{CertificateStore, MemoryCertificates};
/// let store = MemoryCertificates::default();
/// assert!(store.certificate("https://sns.us-east-1.amazonaws.com/x.pem").is_none());
/// ```
#[derive(Default)]
pub struct MemoryCertificates {
    map: RwLock<HashMap<String, SigningCertificate>>,
}

impl MemoryCertificates {
    /// Stores `certificate` as the one published at `url`.
    pub fn insert(&self, url: impl Into<String>, certificate: SigningCertificate) {
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(url.into(), certificate);
    }
}

impl CertificateStore for MemoryCertificates {
    fn certificate(&self, url: &str) -> Option<SigningCertificate> {
        self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(url).cloned()
    }
}

impl fmt::Debug for MemoryCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.map.read().map_or(0, |m| m.len());
        f.debug_struct("MemoryCertificates").field("certificates", &n).finish()
    }
}

impl crate::Provider {
    /// The URL of the signing certificate a delivery names (Amazon SNS: the body's
    /// `SigningCertURL`; PayPal: the `PAYPAL-CERT-URL` header), checked against the
    /// provider's host rule before anything fetches it: an HTTPS URL on
    /// `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`) ending in `.pem`, or on a
    /// `paypal.com` host; default port, no credentials. `Ok(None)` for the providers that
    /// need no certificate; a 400 error for a delivery that names none, or names any other
    /// URL (the same refusal `verify` gives). What an application's fetcher calls before it
    /// fetches, so that it never fetches a URL a delivery chose.
    ///
    /// ```
    /// use webhook_core::{providers, WebhookRequest};
    /// let body = br#"{"SigningCertURL":"https://sns.eu-west-1.amazonaws.com/cert.pem"}"#;
    /// let headers: [(&str, &str); 0] = [];
    /// let req = WebhookRequest::new(&headers, &body[..]);
    /// let url = providers::AWS_SNS.certificate_url(&req).unwrap();
    /// assert_eq!(url.as_deref(), Some("https://sns.eu-west-1.amazonaws.com/cert.pem"));
    /// let evil = br#"{"SigningCertURL":"https://attacker.example/cert.pem"}"#;
    /// assert!(providers::AWS_SNS.certificate_url(&WebhookRequest::new(&headers, &evil[..])).is_err());
    /// assert_eq!(providers::GITHUB.certificate_url(&req).unwrap(), None);
    /// ```
    pub fn certificate_url(&self, req: &crate::WebhookRequest<'_>) -> Result<Option<String>, crate::VerifyError> {
        use crate::providers::Kind;
        match self.kind {
            #[cfg(feature = "sns")]
            Kind::Sns => {
                let url = match crate::json::extract(&req.body, &[&["SigningCertURL"]]) {
                    crate::json::Extracted::Json(mut v) => v.pop().flatten(),
                    crate::json::Extracted::NotJson => None,
                };
                match url {
                    Some(u) if crate::special::sns::is_sns_url(&u, true) => Ok(Some(u)),
                    _ => Err(crate::VerifyError::new(
                        crate::ErrorKind::MalformedBody,
                        "body has no valid SigningCertURL (an https://sns.<region>.amazonaws.com/….pem URL)",
                    )),
                }
            }
            #[cfg(feature = "paypal")]
            Kind::PayPal => {
                const CERT: &str = "PAYPAL-CERT-URL";
                let v = crate::headers::single(req.headers, CERT)?
                    .ok_or_else(|| crate::VerifyError::missing_header(CERT))?;
                match std::str::from_utf8(v) {
                    Ok(u) if crate::special::paypal::is_paypal_url(u) => Ok(Some(u.to_owned())),
                    _ => Err(crate::VerifyError::malformed_header(CERT, "not an https://….paypal.com URL")),
                }
            }
            _ => Ok(None),
        }
    }
}
