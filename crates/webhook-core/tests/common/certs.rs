//! The RSA signing certificates the certificate suites (tests/sns.rs, tests/paypal.rs) make
//! for themselves: a key and its self-signed X.509 certificate in PEM.

use std::str::FromStr;
use std::time::Duration;

/// An RSA key and its self-signed certificate.
pub(crate) struct Pair {
    /// The private key, which signs the deliveries.
    pub(crate) key: rsa::RsaPrivateKey,
    /// The certificate in PEM, what the provider publishes at its certificate URL.
    pub(crate) pem: String,
}

/// A 1024-bit key (fast to make in a debug build; the providers use 2048) and its
/// self-signed certificate for `CN={cn}`, valid for an hour.
pub(crate) fn pair(cn: &str) -> Pair {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).unwrap();
    let cert = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::from(7u32),
        x509_cert::time::Validity::from_now(Duration::from_secs(3600)).unwrap(),
        x509_cert::name::Name::from_str(&format!("CN={cn}")).unwrap(),
        spki,
        &signer,
    )
    .unwrap()
    .build::<rsa::pkcs1v15::Signature>()
    .unwrap();
    Pair { key, pem: cert.to_pem(x509_cert::der::pem::LineEnding::LF).unwrap() }
}
