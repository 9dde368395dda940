//! `webhook sign`, and the signing both `sign` and `send` do: options checked, body read,
//! delivery signed by `webhook_core::Verifier::sign`.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::{providers, Provider, SignRequest, Signed};
use zeroize::Zeroizing;

use crate::cli::{SignArgs, SigningArgs};
use crate::keys::{self, SigningKey};
use crate::output::{self, Failure};

/// The latest `--timestamp` accepted: 9999-12-31T23:59:59Z.
const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// The longest `--id` or `--event-type` accepted (Mailgun's token limit).
const MAX_TOKEN: usize = 256;

/// Shown instead of a header whose value is the secret itself (GitLab's `X-Gitlab-Token`).
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Everything checked and ready to sign deliveries.
pub(crate) struct Signer {
    /// The provider signed as.
    pub(crate) provider: Provider,
    key: SigningKey,
    secret: Zeroizing<String>,
    timestamp: SystemTime,
    unix: u64,
    id: Option<String>,
    event_type: Option<String>,
}

impl Signer {
    /// Checks the signing options: the provider, the key, the id, the event type and the
    /// timestamp. Every problem is a usage error naming it.
    pub(crate) fn new(args: &SigningArgs) -> Result<Self, Failure> {
        let provider = keys::provider(&args.provider)?;
        if let Some(id) = &args.id {
            check_token("--id", id, false)?;
        }
        if let Some(t) = &args.event_type {
            check_token("--event-type", t, true)?;
        }
        let unix = match args.timestamp {
            Some(t) if t > MAX_TIMESTAMP => {
                return Err(Failure::usage(format!(
                    "bad --timestamp {t}: Unix seconds up to {MAX_TIMESTAMP} (year 9999)"
                )))
            }
            Some(t) => t,
            None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let secret = keys::secret_text(&args.secret)?;
        let key = keys::signing_key(provider, &secret)?;
        Ok(Self {
            provider,
            key,
            secret,
            timestamp: UNIX_EPOCH + Duration::from_secs(unix),
            unix,
            id: args.id.clone(),
            event_type: args.event_type.clone(),
        })
    }

    /// The URL the delivery goes to. Twilio signs a JSON body through a `bodySHA256` query
    /// parameter, which is added here when the body is JSON and the URL has none; any
    /// other body is signed as form parameters, and every other provider takes the URL as
    /// given.
    pub(crate) fn delivery_url(&self, url: &str, body: &[u8]) -> String {
        let has_hash = url.split_once('?').is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("bodySHA256=")));
        if self.provider == providers::TWILIO && is_json(body) && !has_hash {
            webhook_core::twilio_json_url(url, body)
        } else {
            url.to_owned()
        }
    }

    /// Signs `body` as sent to `url`.
    pub(crate) fn sign(&self, body: &[u8], url: Option<&str>) -> Result<Signed, Failure> {
        let mut req = SignRequest::new(body, self.timestamp);
        if let Some(id) = &self.id {
            req = req.id(id);
        }
        if let Some(t) = &self.event_type {
            req = req.event_type(t);
        }
        if let Some(u) = url {
            req = req.url(u);
        }
        let verifier = &self.key.verifier;
        match verifier.sign(&req) {
            Ok(signed) => Ok(signed),
            // The same request with a URL signs: this provider signs the URL.
            Err(_) if url.is_none() && verifier.sign(&req.url("http://localhost/")).is_ok() => Err(Failure::usage(
                format!("{} signs the URL the delivery is posted to: pass --url", self.provider.name()),
            )),
            Err(e) => Err(Failure::runtime(format!("cannot sign as {}: {e}", self.provider.name()))),
        }
    }

    /// The headers of `signed` for output: a header whose value is the secret itself
    /// (GitLab's plaintext token, Okta's Authorization) or the secret as HTTP Basic
    /// credentials (Postmark, Chargebee, Pipedrive) is replaced by [`REDACTED`] unless
    /// `reveal`.
    pub(crate) fn shown_headers<'a>(&self, signed: &'a Signed, reveal: bool) -> Vec<(&'static str, &'a str)> {
        signed
            .headers()
            .iter()
            .map(|(k, v)| {
                let hidden = !reveal && self.is_secret(v);
                (*k, if hidden { REDACTED } else { v.as_str() })
            })
            .collect()
    }

    /// Whether some header is the secret itself.
    pub(crate) fn sends_secret(&self, signed: &Signed) -> bool {
        signed.headers().iter().any(|(_, v)| self.is_secret(v))
    }

    /// The secret, as is or as Basic credentials.
    fn is_secret(&self, value: &str) -> bool {
        use base64::Engine as _;
        let secret = self.secret.trim();
        value == secret
            || value.strip_prefix("Basic ").is_some_and(|b64| {
                base64::engine::general_purpose::STANDARD.decode(b64).is_ok_and(|raw| raw == secret.as_bytes())
            })
    }
}

/// `--id` and `--event-type` go into headers: 1 to 256 visible ASCII characters (spaces
/// allowed inside an event type).
fn check_token(flag: &str, value: &str, spaces: bool) -> Result<(), Failure> {
    let ok_char = |c: char| c.is_ascii_graphic() || (spaces && c == ' ');
    if value.is_empty() || value.len() > MAX_TOKEN || !value.chars().all(ok_char) || value.trim() != value {
        let what =
            if spaces { "visible ASCII characters and inner spaces" } else { "visible ASCII characters, no spaces" };
        return Err(Failure::usage(format!("bad {flag}: expected 1 to {MAX_TOKEN} {what}")));
    }
    Ok(())
}

/// A URL given with `--url`: absolute, http or https.
pub(crate) fn check_url(url: &str) -> Result<http::Uri, Failure> {
    let bad = |why: &str| Failure::usage(format!("bad --url: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("expected an absolute http:// or https:// URL")),
    }
    if uri.authority().is_none() {
        return Err(bad("the URL has no host"));
    }
    Ok(uri)
}

/// Whether `body` is one JSON value.
pub(crate) fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The body from `file`, or from standard input when it is absent or `-`.
pub(crate) fn read_body(file: Option<&Path>) -> Result<Vec<u8>, Failure> {
    match file {
        Some(path) if path != Path::new("-") => std::fs::read(path)
            .map_err(|e| Failure::runtime(format!("cannot read the body from {}: {e}", path.display()))),
        _ => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                eprintln!("reading the body from standard input (end it with Ctrl-D)");
            }
            let mut body = Vec::new();
            stdin
                .read_to_end(&mut body)
                .map_err(|e| Failure::runtime(format!("cannot read the body from standard input: {e}")))?;
            Ok(body)
        }
    }
}

/// `webhook sign`.
pub(crate) fn run(args: &SignArgs) -> Result<(), Failure> {
    let signer = Signer::new(&args.signing)?;
    if let Some(url) = &args.url {
        check_url(url)?;
    }
    let body = read_body(args.file.as_deref())?;
    let url = args.url.as_deref().map(|u| signer.delivery_url(u, &body));
    let signed = signer.sign(&body, url.as_deref())?;
    let headers = signer.shown_headers(&signed, args.show_token);
    let body_changed = signed.body().as_ref() != body.as_slice();

    if args.json {
        let mut out = serde_json::json!({
            "provider": signer.provider.name(),
            "timestamp": signer.unix,
            "headers": headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect::<serde_json::Map<_, _>>(),
        });
        if let Some(url) = &url {
            out["url"] = url.as_str().into();
        }
        if body_changed {
            let (encoding, text) = output::body_json(signed.body());
            out["body"] = text.into();
            out["body_encoding"] = encoding.into();
        }
        if let Some(public) = &signer.key.public_key {
            out["public_key"] = public.as_str().into();
        }
        output::print_json(&out)?;
    } else {
        let mut text = String::new();
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        if body_changed {
            // The signature travels in the body (Mailgun): the body to send follows.
            text.push('\n');
            match std::str::from_utf8(signed.body()) {
                Ok(b) => text.push_str(b),
                Err(_) => text.push_str(&output::body_json(signed.body()).1),
            }
            text.push('\n');
        }
        output::write_stdout(text.as_bytes())?;
        if let (Some(given), Some(url)) = (&args.url, &url) {
            if given != url {
                eprintln!("note: post to {url} (Twilio signs a JSON body through bodySHA256 in the URL)");
            }
        }
        if let Some(public) = &signer.key.public_key {
            eprintln!("note: the receiver verifies with the public key {public}");
        }
    }
    if !args.show_token && signer.sends_secret(&signed) {
        eprintln!(
            "note: {} sends the secret itself in a header, shown as {REDACTED}; pass --show-token to print it",
            signer.provider.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_urls_are_checked() {
        assert!(check_token("--id", "msg_123-abc.DEF", false).is_ok());
        for bad in ["", " x", "a b", "a\nb", "é", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(matches!(check_token("--id", bad, false), Err(Failure::Usage(_))), "{bad:?}");
        }
        assert!(check_token("--event-type", "order paid", true).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hooks?x=1").is_ok());
        for bad in ["/relative", "ftp://x/", "not a url", "http://"] {
            assert!(matches!(check_url(bad), Err(Failure::Usage(_))), "{bad:?}");
        }
    }
}
