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
