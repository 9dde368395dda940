//! Turning `--provider` and `--secret`/`--secret-env` into a verifier that can sign, and
//! telling the user, without ever repeating the secret, what is wrong when it cannot.

use base64::Engine as _;
use webhook_core::providers::{GITLAB, SQUARE, TWILIO};
use webhook_core::{KeyFormat, Provider, Secret, Verifier};
use zeroize::Zeroizing;

use crate::cli::SecretArgs;
use crate::output::Failure;

/// Standard base64, padded or not, as webhook-core reads `whsec_`/`whsk_` keys.
const B64_ANY_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A verifier holding a key that signs, and the public key that verifies its signatures
/// (for Ed25519 and ECDSA providers), in the form the receiver is configured with.
pub(crate) struct SigningKey {
    /// The verifier; its `sign` makes the deliveries.
    pub(crate) verifier: Verifier,
    /// For asymmetric keys: what the receiver must be configured with.
    pub(crate) public_key: Option<String>,
}

/// Every built-in provider's name, comma-separated, for messages.
pub(crate) fn provider_names() -> String {
    Provider::all().iter().map(Provider::name).collect::<Vec<_>>().join(", ")
}

/// The receivers' route names that differ from a provider's name (`/webhooks/standard`
/// serves Standard Webhooks).
const ROUTE_ALIASES: &[(&str, &str)] = &[("standard", "standard-webhooks")];

/// `--provider`, looked up case-insensitively, by name or by the receivers' route name; a
/// usage error listing the valid names otherwise.
pub(crate) fn provider(name: &str) -> Result<Provider, Failure> {
    let name = ROUTE_ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map_or(name, |(_, n)| n);
    Provider::from_name(name)
        .ok_or_else(|| Failure::usage(format!("unknown provider {:?}; valid providers: {}", name, provider_names())))
}

/// The secret text from `--secret` or the variable `--secret-env` names.
pub(crate) fn secret_text(args: &SecretArgs) -> Result<Zeroizing<String>, Failure> {
    let text = match (&args.secret, &args.secret_env) {
        (Some(s), _) => Zeroizing::new(s.clone()),
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) => Zeroizing::new(v),
            Err(std::env::VarError::NotPresent) => {
                return Err(Failure::usage(format!("--secret-env: environment variable {var} is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::usage(format!("--secret-env: environment variable {var} is not valid UTF-8")))
            }
        },
        (None, None) => return Err(Failure::usage("a signing secret is required: pass --secret or --secret-env")),
    };
    if text.trim().is_empty() {
        return Err(Failure::usage("the signing secret is empty"));
    }
    Ok(text)
}

/// What to pass as the secret for a provider, for `webhook providers` and messages.
pub(crate) fn secret_hint(provider: Provider) -> &'static str {
    if provider == GITLAB {
        return "the secret token (sent as X-Gitlab-Token itself: printed only with --show-token)";
    }
    if provider == TWILIO {
        return "the Auth Token; signs the URL, so --url is needed";
    }
    if provider == webhook_core::providers::AWS_SNS {
        return "the topic ARN(s) to accept (AWS signs with its certificate: messages cannot be signed here)";
    }
    if provider == webhook_core::providers::PAYPAL {
        return "the webhook id(s) (PayPal signs with its certificate: deliveries cannot be signed here)";
    }
    if provider == SQUARE {
        return "the signature key; signs the notification URL, so --url is needed";
    }
    if provider.scheme().is_some_and(|s| s.signs_url()) {
        return "the signing secret; signs the URL it is sent to, so --url is needed";
    }
    match provider.key_format() {
        KeyFormat::Utf8 => "the signing secret, exactly as the provider shows it",
        KeyFormat::StandardWebhooks => "whsec_<base64> secret, or whsk_<base64> Ed25519 private key (signs v1a)",
        KeyFormat::WhsecOrUtf8 => "whsec_<base64> secret, or the token as text",
        KeyFormat::Hex => "the HMAC key, in hex as the provider shows it",
        KeyFormat::Ed25519Hex | KeyFormat::Ed25519Base64 => {
            "seed:<64 hex digits>, the Ed25519 private key (the public key only verifies)"
        }
        KeyFormat::P256Der => {
            "ECDSA P-256 private key: PEM (BEGIN PRIVATE KEY or BEGIN EC PRIVATE KEY) or p256:<64 hex digits>"
        }
        KeyFormat::JwtKey => "the HMAC signing key as text (RSA and EC public keys only verify)",
        KeyFormat::Nfkd => "the webhook secret as text (NFKD-normalised, as the provider's libraries do)",
        KeyFormat::Base64 => "the MAC secret, in base64 as the provider shows it",
        _ => "the signing secret",
    }
}

/// Builds a verifier for `provider` that can sign with `text`. Every error names the
/// problem and never repeats the key.
pub(crate) fn signing_key(provider: Provider, text: &str) -> Result<SigningKey, Failure> {
    let name = provider.name();
    let bad = |why: &dyn std::fmt::Display| Failure::usage(format!("bad secret for {name}: {why}"));
    let format = provider.key_format();
    let (secret, public_key) = if format == KeyFormat::P256Der {
        let scalar = p256_private_scalar(text).map_err(|why| bad(&why))?;
        let Some(scalar) = scalar else {
            return Err(bad(&format!("{name} signs with a private key, expected {}", secret_hint(provider))));
        };
        let public = p256_public_base64(&scalar).map_err(|why| bad(&why))?;
        (Secret::p256_private(&scalar[..]).map_err(|e| bad(&e))?, Some(public))
    } else {
        let secret = format.parse(text).map_err(|e| bad(&e))?;
        (secret, ed25519_public(format, text))
    };
    if !secret.can_sign() {
        return Err(bad(&format!("a public key only verifies; expected {}", secret_hint(provider))));
    }
    let verifier = Verifier::builder(provider).key(secret).build().map_err(|e| bad(&e))?;
    Ok(SigningKey { verifier, public_key })
}

/// The public key of an Ed25519 private key given as `seed:<hex>` (Discord: hex) or
/// `whsk_<base64>` (Standard Webhooks: `whpk_<base64>`). `None` for every other key.
fn ed25519_public(format: KeyFormat, text: &str) -> Option<String> {
    let text = text.trim();
    let seed: Zeroizing<Vec<u8>> = match format {
        KeyFormat::Ed25519Hex | KeyFormat::Ed25519Base64 => {
            Zeroizing::new(hex::decode(text.strip_prefix("seed:")?.trim()).ok()?)
        }
        KeyFormat::StandardWebhooks => {
            let b64 = text.strip_prefix("whsk_")?;
            Zeroizing::new(B64_ANY_PADDING.decode(b64.trim()).ok()?)
        }
        _ => return None,
    };
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.as_slice().try_into().ok()?);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    Some(match format {
        KeyFormat::Ed25519Hex => hex::encode(public),
        KeyFormat::Ed25519Base64 => base64::engine::general_purpose::STANDARD.encode(public),
        _ => format!("whpk_{}", base64::engine::general_purpose::STANDARD.encode(public)),
    })
}

/// The 32-byte scalar of an ECDSA P-256 private key given as PEM (PKCS#8 `PRIVATE KEY` or
/// SEC1 `EC PRIVATE KEY`, as openssl writes them) or as `p256:<64 hex digits>`. `Ok(None)`:
/// the text is not a private key (a public key, say).
fn p256_private_scalar(text: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    use p256::pkcs8::DecodePrivateKey;
    let text = text.trim();
    if let Some(hex_text) = text.strip_prefix("p256:") {
        let scalar = Zeroizing::new(
            hex::decode(hex_text.trim()).map_err(|_| "the p256: private key is not valid hex".to_owned())?,
        );
        if scalar.len() != 32 {
            return Err("a p256: private key is 64 hex digits (32 bytes)".to_owned());
        }
        return Ok(Some(scalar));
    }
    let sec1 = text.contains("-----BEGIN EC PRIVATE KEY-----");
    if !sec1 && !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Ok(None);
    }
    let b64: Zeroizing<String> =
        Zeroizing::new(text.lines().filter(|l| !l.trim_start().starts_with("-----")).map(str::trim).collect());
    let der = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| "the PEM private key is not valid base64".to_owned())?,
    );
    let key = if sec1 {
        p256::SecretKey::from_sec1_der(&der).map_err(|_| "not a SEC1 P-256 private key".to_owned())?
    } else {
        p256::SecretKey::from_pkcs8_der(&der).map_err(|_| "not a PKCS#8 P-256 private key".to_owned())?
    };
    Ok(Some(Zeroizing::new(key.to_bytes().to_vec())))
}

/// SendGrid's form of the public key for a P-256 scalar: base64 DER SubjectPublicKeyInfo.
fn p256_public_base64(scalar: &[u8]) -> Result<String, String> {
    use p256::pkcs8::EncodePublicKey;
    let key = p256::SecretKey::from_slice(scalar).map_err(|_| "not a valid P-256 private scalar".to_owned())?;
    let der = key.public_key().to_public_key_der().map_err(|e| format!("encoding the public key: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::providers;

    #[test]
    fn route_names_are_aliases() {
        assert_eq!(provider("standard").unwrap(), providers::STANDARD_WEBHOOKS);
        assert_eq!(provider("Standard-Webhooks").unwrap(), providers::STANDARD_WEBHOOKS);
        assert_eq!(provider("coinbase-commerce").unwrap(), providers::COINBASE_COMMERCE);
        assert!(provider("nope").is_err());
        // Every built-in provider is found by its own name.
        for p in Provider::all() {
            assert_eq!(provider(p.name()).unwrap(), *p);
        }
    }

    #[test]
    fn public_keys_are_derived_for_asymmetric_providers() {
        // RFC 8032 test 1: this seed has this public key.
        let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let discord = signing_key(providers::DISCORD, &format!("seed:{seed}")).unwrap();
        assert_eq!(
            discord.public_key.as_deref(),
            Some("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let hmac = signing_key(providers::GITHUB, "s3cret").unwrap();
        assert!(hmac.public_key.is_none());
    }

    #[test]
    fn keys_that_cannot_sign_are_usage_errors_without_the_key() {
        let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        for (provider, text) in [
            (providers::DISCORD, public),
            (providers::SENDGRID, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="),
            (providers::SENDGRID, "p256:zz"),
            (providers::STANDARD_WEBHOOKS, "whsec_not base64!"),
        ] {
            let Err(Failure::Usage(message)) = signing_key(provider, text) else {
                panic!("{} accepted a key it cannot sign with", provider.name());
            };
            assert!(message.starts_with(&format!("bad secret for {}", provider.name())), "{message}");
            assert!(!message.contains(text), "the key leaked into {message:?}");
        }
    }
}
