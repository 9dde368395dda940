//! The verifiers the targets use: every built-in provider (and the legacy and asymmetric
//! variants), keyed with the keys of the repository's known-answer vectors where there are
//! some, so the official vectors are seeds that verify, plus keys that can sign (an Ed25519
//! seed, a P-256 scalar) where the vectors only give public keys.
//!
//! Each configuration is built in four variants (bit 0: no tolerance; bit 1: rotation, every
//! key but the last expires at [`EXPIRY`]), once per process.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::{providers, Provider, Secret, Verifier};

/// When the rotated-out keys of the rotation variant expire (2022-04-15): between the
/// vectors' timestamps, so both sides of it are seeded.
pub const EXPIRY_SECS: u64 = 1_650_000_000;

/// [`EXPIRY_SECS`] as a time.
pub fn expiry() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EXPIRY_SECS)
}

/// One configured key.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// Key text in the provider's key format that can sign (a shared secret, a `whsk_` or
    /// `seed:` private key).
    Signing(&'static str),
    /// Key text in the provider's key format that only verifies (a public key).
    Public(&'static str),
    /// A P-256 private scalar in hex, added with `Secret::p256_private` (SendGrid's key
    /// format only reads public keys).
    P256Scalar(&'static str),
}

impl Key {
    /// Whether the key can sign.
    pub fn signs(self) -> bool {
        !matches!(self, Self::Public(_))
    }

    /// Whether the key is an Ed25519 or P-256 key (slow to use, compared with HMAC).
    pub fn asymmetric(self) -> bool {
        match self {
            Self::Signing(t) => t.starts_with("whsk_") || t.starts_with("seed:"),
            Self::Public(_) | Self::P256Scalar(_) => true,
        }
    }

    /// The configured text, for checking that no message repeats it.
    pub fn text(self) -> &'static str {
        match self {
            Self::Signing(t) | Self::Public(t) | Self::P256Scalar(t) => t,
        }
    }
}

/// Standard Webhooks' official test secret.
pub const WHSEC_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The second official Standard Webhooks secret.
pub const WHSEC_B: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// RFC 8032 test 2's Ed25519 seed as a Standard Webhooks private key.
pub const WHSK: &str = "whsk_TM0Imyj/ltqdtsNG7BFOD1uKMZ81q6Yk2oz27U+4pvs=";
/// RFC 8032 test 1's Ed25519 public key as a Standard Webhooks public key.
pub const WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// RFC 8032 test 1's seed, whose public key is the Discord illustrative vector's key.
pub const DISCORD_SEED: &str = "seed:9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 test 1's public key (the Discord illustrative vector's key).
pub const DISCORD_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// RFC 6979 A.2.5's P-256 private key.
pub const P256_SCALAR: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
/// SendGrid's official vector public keys.
pub const SENDGRID_PUBLIC_A: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
/// The second SendGrid vector key.
pub const SENDGRID_PUBLIC_B: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
/// The illustrative vectors' shared secret.
pub const TEST_SECRET: &str = "test_secret_do_not_use";
/// Twilio's official vector auth token.
pub const TWILIO_TOKEN: &str = "12345";
/// Twilio's official vector URL.
pub const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// Square's second official vector URL.
pub const SQUARE_URL: &str = "https://webhook.site/webhooks";
/// The URL the providers that sign it (HubSpot, Trello, Mandrill, Contentful) posted to.
pub const HOOK_URL: &str = "https://example.com/webhooks/hook?a=1&b=two";

/// A self-signed RSA-2048 certificate made for this harness with openssl (its private key is
/// in `examples/seeds.rs`, which signs the Amazon SNS and PayPal seeds with it): the one
/// certificate of the harness's store, published at [`SNS_CERT_URL`] and [`PAYPAL_CERT_URL`].
pub const TEST_CERT_PEM: &str = r"-----BEGIN CERTIFICATE-----
MIIDTTCCAjWgAwIBAgIUXYM4zZT2gP+W3v2BVYlocEh8SYAwDQYJKoZIhvcNAQEL
BQAwNTEzMDEGA1UEAwwqd2ViaG9vay1jb3JlIGZ1enogdGVzdCBzaWduaW5nIGNl
cnRpZmljYXRlMCAXDTI2MTIwMzA5MDMzN1oYDzIxMjYxMTA5MDkwMzM3WjA1MTMw
MQYDVQQDDCp3ZWJob29rLWNvcmUgZnV6eiB0ZXN0IHNpZ25pbmcgY2VydGlmaWNh
dGUwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQC+Sw8wsZxUOx9GGnR5
fggOkM81ss+T5iniIZprLZj3F6yHcOK9JAAqZaXsgvzsn25tVnmOkkKyqkoF2h8e
G5+rzPXdqPYklkd+xL+jDjOZsDxuF2FS8T2+kGcX3ulvGc8C2bkaizm88rVcaFRl
PiewMHeiH7dz207RnJq3TUyVcqoY9SvaPb7Ml2MPtKFYhcmWoxUaCwEOZU74YTEm
syTGUB5I4HGATHxSEHxn/MbfrPYGKCwyjQQE8pbf/JJzxeS3H0QqjV5yyLPqFU/T
YVT9KIUKOpST8l9yEKrJF+cle8EJcWUDak3ngA9flRlKpraRTjDxrG4kLm02DZRC
6ZhPAgMBAAGjUzBRMB0GA1UdDgQWBBTS7n9kcQDKMhYi8GCr4qy/SnjiSDAfBgNV
HSMEGDAWgBTS7n9kcQDKMhYi8GCr4qy/SnjiSDAPBgNVHRMBAf8EBTADAQH/MA0G
CSqGSIb3DQEBCwUAA4IBAQCXKFLXZ0jcLhotGPpy1aEt7X6/s1OvRYGJM4HlE4qi
Sv99fsRl/5dEEWisWrPefh1UZH6uaYd0ISUHJrLb2kcDSZGbNdmu4LnkQ3H1ik1Z
6OteC85dWpM7AOBioBAfGpBdXS0ITpptuOt7ms+l6V010BahP7Zd0VVecWaphubR
CzrJsts4tzOMjrDbeIliK4Rh0E+TRBrBIvxGqd8+oWZU1qAMVvU8sFgaJbMsMwaF
iXc/61jv8GXaLePC3nMzgiGeKKYcVDZIuekcYf28aWYKKB1SacyJj2K9uGAPIZYZ
rS0PSLNXn3acZyWICmnGzvITByuZGIeb0dBltyhs6WXI
-----END CERTIFICATE-----";
/// Where the SNS messages of the harness say their certificate is.
pub const SNS_CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-fuzz.pem";
/// The topic the SNS configuration accepts.
pub const SNS_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:fuzz-orders";
/// Where the PayPal deliveries of the harness say their certificate is.
pub const PAYPAL_CERT_URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-fuzz-0001";
/// The webhook id the PayPal configuration accepts (part of the signed string).
pub const PAYPAL_WEBHOOK_ID: &str = "WH-1AB23456CD789012E-3FG45678HI901234J";
/// The RSA public key of the FusionAuth vectors (tests/vectors/sdk_vectors.json, RS256; its
/// private key is a test key committed in tests/vectors/sdk/generate.cjs).
pub const FUSIONAUTH_RSA_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5LqibVi9scXZlrrvszOj
aMmytD9wj3lqgXx/p+Js19t26orTzydbHAOYvuBUppvy+HFVNkp130xIDKk7r5HN
qVMxbt1Aw6/dEXVFVGloAB+IDirVJrQy9pRDcSjEfNrmrgkBUg0ZdlHJedCLTYXx
J++MQW1JKRxRGct+JeCye30Zntnqxpl7bCADsyQrNFhjd5roHSSUsDucj3/fbHQr
IQuTjr9wi1upnP24YJNC12yK9MHsqnVtY5J+Ri6nH8tRjkjPCyTUzqC1gkpGIVoW
zqtLSpMFZ42d174EAMMfK4hbjS+CPbmPwvi8vwawe00ijRN5lnEFHjuts4r7oFm3
QwIDAQAB
-----END PUBLIC KEY-----";
/// The P-256 public key of the FusionAuth vectors (ES256).
pub const FUSIONAUTH_EC_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEosfWHA/+AKh51XvP7NoLSB4z9pzM
j5qLuOHUZewGM6jHH519csQSqByo8rAtifsks/cGj7SKCCsVLSsM/PtYbg==
-----END PUBLIC KEY-----";
/// The HMAC key of the FusionAuth vectors.
pub const FUSIONAUTH_HMAC: &str = "fusionauth-hmac-signing-key";
/// The secret of the Klaviyo vector.
pub const KLAVIYO_SECRET: &str = "klaviyo-webhook-secret-key";
/// The Ed25519 seed of the Telnyx vector (32 bytes 0x4e), which signs too.
pub const TELNYX_SEED: &str = "seed:4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e";

/// The harness's certificate store: [`TEST_CERT_PEM`] at both certificate URLs.
pub fn certificates() -> std::sync::Arc<webhook_core::MemoryCertificates> {
    let store = webhook_core::MemoryCertificates::default();
    let cert = webhook_core::SigningCertificate::from_pem(TEST_CERT_PEM).unwrap();
    store.insert(SNS_CERT_URL, cert.clone());
    store.insert(PAYPAL_CERT_URL, cert);
    std::sync::Arc::new(store)
}

use Key::{P256Scalar, Public, Signing};

/// A provider with its keys and settings, built in four variants.
pub struct Config {
    /// A name for seeds and messages (`github`, `github+sha1`, `square@url`, ...).
    pub label: &'static str,
    /// The provider.
    pub provider: Provider,
    /// The keys, in order.
    pub keys: &'static [Key],
    /// A URL set with `VerifierBuilder::url`.
    pub url: Option<&'static str>,
    /// A legacy scheme enabled with `VerifierBuilder::legacy`.
    pub legacy: Option<Provider>,
    verifiers: [Verifier; 4],
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label)
    }
}

impl Config {
    /// The verifier for `variant` (bit 0: no tolerance; bit 1: rotation).
    pub fn verifier(&self, variant: u8) -> &Verifier {
        &self.verifiers[usize::from(variant & 3)]
    }

    /// Whether key `index` verifies at `t` under `variant`.
    pub fn key_valid_at(&self, variant: u8, index: usize, t: SystemTime) -> bool {
        variant & 2 == 0 || index + 1 == self.keys.len() || t <= expiry()
    }

    /// How many keys valid at `t` can sign: with one, the signed headers carry a single
    /// signature, so changing it must fail.
    pub fn signers_at(&self, variant: u8, t: SystemTime) -> usize {
        (0..self.keys.len()).filter(|&i| self.keys[i].signs() && self.key_valid_at(variant, i, t)).count()
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.provider.name()
    }
}

fn build(
    label: &str,
    provider: Provider,
    keys: &[Key],
    url: Option<&str>,
    legacy: Option<Provider>,
    variant: u8,
) -> Verifier {
    let mut b = Verifier::builder(provider);
    let rotation = variant & 2 != 0;
    for (i, key) in keys.iter().enumerate() {
        let expires = rotation && i + 1 < keys.len();
        b = match *key {
            P256Scalar(scalar) => {
                let s = Secret::p256_private(&hex::decode(scalar).unwrap()).unwrap();
                b.key(if expires { s.valid_until(expiry()) } else { s })
            }
            Signing(text) | Public(text) if expires => b.secret_until(text, expiry()),
            Signing(text) | Public(text) => b.secret(text),
        };
    }
    if let Some(u) = url {
        b = b.url(u);
    }
    if provider.needs_certificates() {
        b = b.certificates(certificates());
    }
    if let Some(l) = legacy {
        b = b.legacy(l);
    }
    if variant & 1 != 0 {
        b = b.no_tolerance();
    }
    b.build().unwrap_or_else(|e| panic!("fuzz config {label}: {e}"))
}

type Row = (&'static str, Provider, &'static [Key], Option<&'static str>, Option<Provider>);

const ROWS: &[Row] = &[
    (
        "github",
        providers::GITHUB,
        &[Signing("It's a Secret to Everybody"), Signing("mysecret"), Signing("development")],
        None,
        None,
    ),
    (
        "github+sha1",
        providers::GITHUB,
        &[Signing("It's a Secret to Everybody"), Signing(TEST_SECRET)],
        None,
        Some(providers::GITHUB_SHA1),
    ),
    ("stripe", providers::STRIPE, &[Signing("webhook_secret")], None, None),
    ("slack", providers::SLACK, &[Signing("8f742231b10e8888abcd99yyyzzz85a5")], None, None),
    (
        "standard-webhooks",
        providers::STANDARD_WEBHOOKS,
        &[Signing(WHSEC_A), Signing(WHSEC_B), Signing(WHSK)],
        None,
        None,
    ),
    ("standard-webhooks-v1a", providers::STANDARD_WEBHOOKS, &[Public(WHPK), Signing(WHSK)], None, None),
    ("svix", providers::SVIX, &[Signing(WHSEC_A), Signing(WHSK)], None, None),
    ("clerk", providers::CLERK, &[Signing(WHSEC_A)], None, None),
    ("resend", providers::RESEND, &[Signing(WHSEC_A)], None, None),
    ("shopify", providers::SHOPIFY, &[Signing(TEST_SECRET)], None, None),
    ("gitlab", providers::GITLAB, &[Signing(TEST_SECRET)], None, None),
    ("gitlab-signing", providers::GITLAB_SIGNING, &[Signing(TEST_SECRET), Signing(WHSEC_A)], None, None),
    ("twilio", providers::TWILIO, &[Signing(TWILIO_TOKEN)], None, None),
    ("twilio@url", providers::TWILIO, &[Signing(TWILIO_TOKEN)], Some(TWILIO_URL), None),
    ("discord", providers::DISCORD, &[Signing(DISCORD_SEED)], None, None),
    ("discord-public", providers::DISCORD, &[Public(DISCORD_PUBLIC)], None, None),
    ("square", providers::SQUARE, &[Signing("Ibxx_5AKakO-3qeNVR61Dw"), Signing("signature-key")], None, None),
    ("square@url", providers::SQUARE, &[Signing("signature-key")], Some(SQUARE_URL), None),
    (
        "paddle",
        providers::PADDLE,
        &[
            Signing("pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4"),
            Signing("pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo"),
            Signing("pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh"),
            Signing("pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_GrOWLNef+vmtjJYq4mSnHNzvc8uWoJ1I"),
            Signing("VALID_SECRET"),
        ],
        None,
        None,
    ),
    ("zoom", providers::ZOOM, &[Signing(TEST_SECRET)], None, None),
    ("linear", providers::LINEAR, &[Signing(TEST_SECRET)], None, None),
    ("twitch", providers::TWITCH, &[Signing("secretabcd"), Signing(TEST_SECRET)], None, None),
    ("mailgun", providers::MAILGUN, &[Signing(TEST_SECRET)], None, None),
    ("intercom", providers::INTERCOM, &[Signing(TEST_SECRET)], None, None),
    ("bitbucket", providers::BITBUCKET, &[Signing(TEST_SECRET)], None, None),
    (
        "sendgrid",
        providers::SENDGRID,
        // The signing key first: what it signed is matched with one ECDSA verification.
        &[P256Scalar(P256_SCALAR), Public(SENDGRID_PUBLIC_A), Public(SENDGRID_PUBLIC_B)],
        None,
        None,
    ),
    ("meta", providers::META, &[Signing(TEST_SECRET)], None, None),
    ("meta+sha1", providers::META, &[Signing(TEST_SECRET)], None, Some(providers::META_SHA1)),
    ("typeform", providers::TYPEFORM, &[Signing(TEST_SECRET)], None, None),
    (
        "pagerduty",
        providers::PAGERDUTY,
        &[Signing("lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK")],
        None,
        None,
    ),
    // The providers added from their SDKs and documentation: shared secrets (two, for
    // rotation), the URL for those that sign it, `whsec_` keys for Standard Webhooks senders.
    ("razorpay", providers::RAZORPAY, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("line", providers::LINE, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("coinbase-commerce", providers::COINBASE_COMMERCE, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("gocardless", providers::GOCARDLESS, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("mux", providers::MUX, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("workos", providers::WORKOS, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("elevenlabs", providers::ELEVENLABS, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("webflow", providers::WEBFLOW, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("paystack", providers::PAYSTACK, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("vercel", providers::VERCEL, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("sentry", providers::SENTRY, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("lemonsqueezy", providers::LEMONSQUEEZY, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("alchemy", providers::ALCHEMY, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("woocommerce", providers::WOOCOMMERCE, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("segment", providers::SEGMENT, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("xero", providers::XERO, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("dropbox", providers::DROPBOX, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("x", providers::X, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("calendly", providers::CALENDLY, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("zendesk", providers::ZENDESK, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("notion", providers::NOTION, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("box", providers::BOX, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("docusign", providers::DOCUSIGN, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("front", providers::FRONT, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("mollie", providers::MOLLIE, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("persona", providers::PERSONA, &[Signing(TEST_SECRET), Signing("second-secret")], None, None),
    ("hubspot@url", providers::HUBSPOT, &[Signing(TEST_SECRET)], Some(HOOK_URL), None),
    ("trello@url", providers::TRELLO, &[Signing(TEST_SECRET)], Some(HOOK_URL), None),
    ("mandrill@url", providers::MANDRILL, &[Signing(TEST_SECRET)], Some(HOOK_URL), None),
    ("contentful@url", providers::CONTENTFUL, &[Signing(TEST_SECRET)], Some(HOOK_URL), None),
    ("openai", providers::OPENAI, &[Signing(WHSEC_A)], None, None),
    ("replicate", providers::REPLICATE, &[Signing(WHSEC_A)], None, None),
    // Klaviyo: the window is the body's `meta.timestamp`.
    ("klaviyo", providers::KLAVIYO, &[Signing(KLAVIYO_SECRET), Signing(TEST_SECRET)], None, None),
    // The rows added with their vectors' keys first, so those vectors are seeds that verify.
    ("sanity", providers::SANITY, &[Signing("sanity-webhook-secret-for-tests"), Signing(TEST_SECRET)], None, None),
    (
        "recurly",
        providers::RECURLY,
        &[Signing("recurly-webhook-secret-new"), Signing("recurly-webhook-secret-old")],
        None,
        None,
    ),
    // EasyPost: a secret that NFKD changes, as its vectors' is.
    ("easypost", providers::EASYPOST, &[Signing("sécret-ﬁle-ｅａｓｙｐｏｓｔ"), Signing(TEST_SECRET)], None, None),
    ("gitea", providers::GITEA, &[Signing("gitea-webhook-secret"), Signing(TEST_SECRET)], None, None),
    (
        "customerio",
        providers::CUSTOMERIO,
        &[Signing("customerio-webhook-signing-key"), Signing(TEST_SECRET)],
        None,
        None,
    ),
    ("calcom", providers::CALCOM, &[Signing("calcom-webhook-secret"), Signing(TEST_SECRET)], None, None),
    ("pusher", providers::PUSHER, &[Signing("pusher-app-secret-for-vectors"), Signing(TEST_SECRET)], None, None),
    ("onfido", providers::ONFIDO, &[Signing("onfido-webhook-token-for-vectors"), Signing(TEST_SECRET)], None, None),
    (
        "stream-chat",
        providers::STREAM_CHAT,
        &[Signing("stream-api-secret-for-vectors"), Signing(TEST_SECRET)],
        None,
        None,
    ),
    ("frameio", providers::FRAMEIO, &[Signing("frameio-webhook-signing-secret"), Signing(TEST_SECRET)], None, None),
    // Airtable: base64 MAC secrets, its vectors' first.
    (
        "airtable",
        providers::AIRTABLE,
        &[Signing("YWlydGFibGUtbWFjLXNlY3JldC1mb3ItdmVjdG9ycyE="), Signing("c2Vjb25kLWFpcnRhYmxlLW1hYy1zZWNyZXQ=")],
        None,
        None,
    ),
    ("helpscout", providers::HELPSCOUT, &[Signing("helpscout-webhook-secret-key"), Signing(TEST_SECRET)], None, None),
    ("webex", providers::WEBEX, &[Signing("webex-webhook-secret-for-vectors"), Signing(TEST_SECRET)], None, None),
    // Telnyx: Ed25519, the vector's seed (which signs) then its public key's text form.
    ("telnyx", providers::TELNYX, &[Signing(TELNYX_SEED)], None, None),
    // Adyen: hex HMAC keys, one per notification item's signature.
    (
        "adyen",
        providers::ADYEN,
        &[
            Signing("44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"),
            Signing("0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20"),
        ],
        None,
        None,
    ),
    // The credentials providers: HTTP Basic `user:password`, Okta's header value.
    ("postmark", providers::POSTMARK, &[Signing("user:pass word"), Signing("second:secret")], None, None),
    ("chargebee", providers::CHARGEBEE, &[Signing("chargebee-user:chargebee-password")], None, None),
    ("pipedrive", providers::PIPEDRIVE, &[Signing("pipedrive:p4ss:with:colons")], None, None),
    ("okta", providers::OKTA, &[Signing("okta-shared-secret"), Signing(TEST_SECRET)], None, None),
    // FusionAuth: HMAC keys (which sign); and the RSA and EC public keys of the vectors.
    ("fusionauth", providers::FUSIONAUTH, &[Signing(FUSIONAUTH_HMAC), Signing(TEST_SECRET)], None, None),
    (
        "fusionauth-public",
        providers::FUSIONAUTH,
        &[Public(FUSIONAUTH_RSA_PUBLIC), Public(FUSIONAUTH_EC_PUBLIC), Signing(FUSIONAUTH_HMAC)],
        None,
        None,
    ),
    // Amazon SNS and PayPal: the accepted topic / webhook id (they only verify: AWS and
    // PayPal sign), the harness's certificate in the store.
    ("aws-sns", providers::AWS_SNS, &[Public(SNS_TOPIC)], None, None),
    ("paypal", providers::PAYPAL, &[Public(PAYPAL_WEBHOOK_ID)], None, None),
];

/// Every configuration, built on first use.
pub fn all() -> &'static [Config] {
    static ALL: OnceLock<Vec<Config>> = OnceLock::new();
    ALL.get_or_init(|| {
        ROWS.iter()
            .map(|&(label, provider, keys, url, legacy)| Config {
                label,
                provider,
                keys,
                url,
                legacy,
                verifiers: [0, 1, 2, 3].map(|v| build(label, provider, keys, url, legacy, v)),
            })
            .collect()
    })
}

/// The configuration for input selector byte `selector`.
pub fn pick(selector: u8) -> &'static Config {
    let all = all();
    &all[usize::from(selector) % all.len()]
}

/// Like [`pick`], but the configurations with an Ed25519 or P-256 key (a hundred times
/// slower to sign and verify than HMAC in the instrumented build) get only one selector
/// byte each, the last ones (250..=255), so that a target doing several signatures per
/// input keeps its speed.
pub fn pick_weighted(selector: u8) -> &'static Config {
    let (slow, fast) = split_by_cost();
    match usize::from(selector).checked_sub(256 - slow.len()) {
        Some(i) => slow[i],
        None => fast[usize::from(selector) % fast.len()],
    }
}

fn split_by_cost() -> &'static (Vec<&'static Config>, Vec<&'static Config>) {
    static SPLIT: OnceLock<(Vec<&'static Config>, Vec<&'static Config>)> = OnceLock::new();
    SPLIT.get_or_init(|| all().iter().partition(|c| c.keys.iter().any(|k| k.asymmetric())))
}

/// The selector byte [`pick_weighted`] maps to the configuration labelled `label`.
pub fn weighted_selector(label: &str) -> u8 {
    let (slow, fast) = split_by_cost();
    let i = match fast.iter().position(|c| c.label == label) {
        Some(i) => i,
        None => 256 - slow.len() + slow.iter().position(|c| c.label == label).unwrap(),
    };
    u8::try_from(i).unwrap()
}

/// The selector byte of the configuration labelled `label` (for seeds).
pub fn selector(label: &str) -> u8 {
    let i = all().iter().position(|c| c.label == label).unwrap_or_else(|| panic!("no fuzz config {label}"));
    u8::try_from(i).unwrap()
}

/// The first configuration for a provider name (`Verified::provider`), for vectors.
pub fn selector_for_provider(name: &str) -> u8 {
    let i = all().iter().position(|c| c.name() == name).unwrap_or_else(|| panic!("no fuzz config for {name}"));
    u8::try_from(i).unwrap()
}

/// Every configured key text, for checking that no error message or `Debug` output
/// repeats one.
pub fn secret_texts() -> impl Iterator<Item = &'static str> {
    ROWS.iter().flat_map(|r| r.2.iter().map(|k| k.text()))
}
