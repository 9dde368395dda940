//! The built-in providers: one [`Scheme`] row each, plus three with code of their own
//! (Twilio, Mailgun, GitLab's plaintext token).
//!
//! Every row names where it was read from (the provider's SDK file or documentation: see
//! [`Scheme::source`]); docs/PROVIDERS.md is the table [`reference_table`] generates from
//! these rows. Where a provider documents no tolerance for a signed timestamp, the row says
//! which window this crate chose and why.

use std::time::Duration;

use crate::scheme::{
    Algorithm::{self, *},
    BodyFormat::Json as JsonBody,
    Encoding::{self, Base64, Hex},
    Handshake,
    Part::{self, Body, Id, Literal, Timestamp as Ts, Url},
    Scheme,
    Source::{Header, HeaderExcept, Json},
    TimeFormat, Timestamp,
};
use crate::secret::KeyFormat;

const FIVE_MINUTES: Duration = Duration::from_secs(300);

/// A sender of webhooks: a data-described [`Scheme`] or one of the few with code of their
/// own. Cheap to copy.
///
/// ```
/// use webhook_core::{providers, Provider};
/// assert_eq!(providers::STRIPE.name(), "stripe");
/// assert_eq!(Provider::from_name("stripe").unwrap().name(), "stripe");
/// assert!(Provider::all().len() >= 20);
/// ```
#[derive(Clone, Copy)]
pub struct Provider {
    pub(crate) kind: Kind,
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Scheme(&'static Scheme),
    #[cfg(feature = "twilio")]
    Twilio,
    Mailgun,
    GitLabToken,
    Credentials(&'static crate::special::credentials::Credentials),
    Adyen,
    #[cfg(feature = "sns")]
    Sns,
    #[cfg(feature = "paypal")]
    PayPal,
    #[cfg(feature = "jwt")]
    FusionAuth,
}

impl Provider {
    /// A provider described by a [`Scheme`] of your own.
    pub const fn custom(scheme: &'static Scheme) -> Self {
        Self { kind: Kind::Scheme(scheme) }
    }

    /// The provider's name, as used in routes, metrics and [`Verified::provider`](crate::Verified::provider).
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Scheme(s) => s.name,
            #[cfg(feature = "twilio")]
            Kind::Twilio => "twilio",
            Kind::Mailgun => "mailgun",
            Kind::GitLabToken => "gitlab",
            Kind::Credentials(c) => c.name,
            Kind::Adyen => "adyen",
            #[cfg(feature = "sns")]
            Kind::Sns => "aws-sns",
            #[cfg(feature = "paypal")]
            Kind::PayPal => "paypal",
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => "fusionauth",
        }
    }

    /// The scheme, for data-described providers.
    pub fn scheme(&self) -> Option<&'static Scheme> {
        match self.kind {
            Kind::Scheme(s) => Some(s),
            _ => None,
        }
    }

    /// The endpoint check the provider's scheme answers, if any (see
    /// [`Handshake`]); never chosen by name.
    pub fn handshake(&self) -> Option<Handshake> {
        match self.kind {
            Kind::Scheme(s) => s.handshake,
            Kind::Credentials(c) => c.handshake,
            _ => None,
        }
    }

    /// How configured key text becomes a key for this provider.
    pub fn key_format(&self) -> KeyFormat {
        match self.kind {
            Kind::Scheme(s) => s.key_format,
            Kind::Adyen => KeyFormat::Hex,
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => KeyFormat::JwtKey,
            _ => KeyFormat::Utf8,
        }
    }

    /// The header that carries the signature (Mailgun: none, it is in the body).
    pub fn signature_header(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Scheme(s) => Some(s.header[0]),
            #[cfg(feature = "twilio")]
            Kind::Twilio => Some("X-Twilio-Signature"),
            Kind::Mailgun => None,
            Kind::GitLabToken => Some("X-Gitlab-Token"),
            Kind::Credentials(c) => Some(c.header),
            Kind::Adyen => None,
            #[cfg(feature = "sns")]
            Kind::Sns => None,
            #[cfg(feature = "paypal")]
            Kind::PayPal => Some("PAYPAL-TRANSMISSION-SIG"),
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => Some(crate::special::fusionauth::HEADER),
        }
    }

    /// The header that names the event type, for providers that send it in a header
    /// (`X-GitHub-Event`, `X-Shopify-Topic`, ...): what a router that sees only the request
    /// head can route on. `None` when no single header names the type: Twitch's type is
    /// the message type for a revocation and the subscription type otherwise, so a router
    /// on `Twitch-Eventsub-Subscription-Type` alone would hand a revocation to the handler
    /// of the event it revoked.
    pub fn event_header(&self) -> Option<&'static str> {
        use crate::scheme::Source;
        match self.kind {
            Kind::Scheme(s) => match s.event_type.iter().find(|src| src.header_name().is_some()) {
                Some(Source::Header(h)) => Some(*h),
                _ => None,
            },
            Kind::GitLabToken => Some("X-Gitlab-Event"),
            Kind::Credentials(c) => c.event_type.first().and_then(|s| match s {
                crate::scheme::Source::Header(h) => Some(*h),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The header naming the delivery id, if the provider sends it in a header
    /// (`X-GitHub-Delivery`, `webhook-id`, ...): what an audit log can record, unverified,
    /// for a request whose signature did not verify.
    pub fn id_header(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Scheme(s) => s.id.iter().find_map(|src| match src {
                crate::scheme::Source::Header(h) => Some(*h),
                _ => None,
            }),
            #[cfg(feature = "twilio")]
            Kind::Twilio => Some("I-Twilio-Idempotency-Token"),
            Kind::GitLabToken => Some("Idempotency-Key"),
            Kind::Mailgun | Kind::Adyen => None,
            #[cfg(feature = "sns")]
            Kind::Sns => None,
            #[cfg(feature = "paypal")]
            Kind::PayPal => Some("PAYPAL-TRANSMISSION-ID"),
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => None,
            Kind::Credentials(c) => c.id.iter().find_map(|src| match src {
                crate::scheme::Source::Header(h) => Some(*h),
                _ => None,
            }),
        }
    }

    /// Whether verifying needs signing certificates from a
    /// [`CertificateStore`](crate::CertificateStore) (Amazon SNS, PayPal): a verifier
    /// without one refuses every delivery.
    pub fn needs_certificates(&self) -> bool {
        match self.kind {
            #[cfg(feature = "sns")]
            Kind::Sns => true,
            #[cfg(feature = "paypal")]
            Kind::PayPal => true,
            _ => false,
        }
    }

    /// Whether this provider's bodies are JSON (a verified body that is not is refused
    /// before it is stored). Mailgun's signed envelope is JSON; Twilio posts forms.
    pub fn body_is_json(&self) -> bool {
        match self.kind {
            Kind::Scheme(s) => s.body == crate::scheme::BodyFormat::Json,
            Kind::Mailgun => true,
            _ => false,
        }
    }

    /// The headers that describe a delivery (its id, event type and timestamp) and are worth
    /// keeping with it. Never a signature or a token.
    pub fn metadata_headers(&self) -> Vec<&'static str> {
        use crate::scheme::{Source, TimestampSource};
        match self.kind {
            Kind::Scheme(s) => {
                let mut names: Vec<&'static str> =
                    s.id.iter().chain(s.event_type).filter_map(Source::header_name).collect();
                if let Some(TimestampSource::Header(ts)) = s.timestamp.map(|t| t.source) {
                    names.extend_from_slice(ts);
                }
                names
            }
            #[cfg(feature = "twilio")]
            Kind::Twilio => vec!["I-Twilio-Idempotency-Token"],
            Kind::Mailgun => vec![],
            Kind::GitLabToken => vec!["Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Event"],
            Kind::Credentials(c) => c.id.iter().chain(c.event_type).filter_map(Source::header_name).collect(),
            Kind::Adyen => vec![],
            #[cfg(feature = "sns")]
            Kind::Sns => vec![],
            #[cfg(feature = "paypal")]
            Kind::PayPal => vec!["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME"],
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => vec![],
        }
    }

    /// The tolerance used when the verifier sets none, if the provider signs a timestamp.
    pub fn default_tolerance(&self) -> Option<Duration> {
        match self.kind {
            Kind::Scheme(s) => s.tolerance,
            Kind::Mailgun => Some(FIVE_MINUTES),
            _ => None,
        }
    }

    /// Looks a built-in provider up by name (`"github"`, `"standard-webhooks"`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::all().iter().copied().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Every built-in provider compiled in (features decide which), one row each. The
    /// legacy variants ([`GITHUB_SHA1`], [`META_SHA1`]) share a name with their main row and
    /// are not listed; enable them with [`VerifierBuilder::legacy`](crate::VerifierBuilder::legacy).
    pub fn all() -> &'static [Provider] {
        ALL
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Provider").field(&self.name()).finish()
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        match (self.kind, other.kind) {
            (Kind::Scheme(a), Kind::Scheme(b)) => std::ptr::eq(a, b) || a.name == b.name && a.header == b.header,
            // A custom scheme is never a built-in special provider, whatever its name.
            (Kind::Scheme(_), _) | (_, Kind::Scheme(_)) => false,
            _ => self.name() == other.name(),
        }
    }
}

const fn hmac256(name: &'static str, header: &'static [&'static str], encoding: crate::scheme::Encoding) -> Scheme {
    Scheme::new(name, header, HmacSha256, encoding)
}

/// `{id}.{timestamp}.{body}`, the Standard Webhooks message.
const ID_DOT_TS_DOT_BODY: &[Part] = &[Id, Literal(b"."), Ts, Literal(b"."), Body];
/// `v0:{timestamp}:{body}`, Slack's and Zoom's message.
const V0_TS_BODY: &[Part] = &[Literal(b"v0:"), Ts, Literal(b":"), Body];

const fn standard_webhooks(
    name: &'static str,
    signature: &'static [&'static str],
    timestamp: &'static [&'static str],
    id: &'static [crate::scheme::Source],
) -> Scheme {
    hmac256(name, signature, Base64)
        .list(b' ', b',', &["v1"])
        .asymmetric(Algorithm::Ed25519, "v1a")
        .signs(ID_DOT_TS_DOT_BODY)
        .timestamp(Timestamp::header(timestamp))
        .id(id)
        .event_type(&[Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .key_format(KeyFormat::StandardWebhooks)
        .body(JsonBody)
}

macro_rules! providers {
    ($( $(#[$m:meta])* $name:ident = $scheme:expr; )*) => {
        /// The schemes behind the providers, as data.
        pub mod schemes {
            #[allow(unused_imports)]
            use super::*;
            $( $(#[$m])* #[allow(missing_docs)] pub static $name: Scheme = $scheme; )*
        }
        $( $(#[$m])* pub const $name: Provider = Provider::custom(&schemes::$name); )*
    };
}

providers! {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body; id `X-GitHub-Delivery`,
    /// type `X-GitHub-Event`. No timestamp is signed: deduplicate on the delivery id.
    GITHUB = hmac256("github", &["X-Hub-Signature-256"], Hex)
        .prefix("sha256=")
        .id(&[Header("X-GitHub-Delivery")])
        .event_type(&[Header("X-GitHub-Event")])
        .source("github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md");
    /// GitHub's legacy `X-Hub-Signature: sha1=<hex>`, accepted only when enabled with
    /// [`VerifierBuilder::legacy`](crate::VerifierBuilder::legacy).
    #[cfg(feature = "sha1")]
    GITHUB_SHA1 = Scheme::new("github", &["X-Hub-Signature"], HmacSha1, Hex)
        .prefix("sha1=")
        .id(&[Header("X-GitHub-Delivery")])
        .event_type(&[Header("X-GitHub-Event")])
        .source("github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md");
    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=…]` over `{t}.{body}`; only `v1`
    /// counts (`v0` is ignored); the whole `whsec_…` string is the key; 300 s.
    STRIPE = hmac256("stripe", &["Stripe-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t"))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("stripe/stripe-python stripe/_webhook.py");
    /// Slack: `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, 5 minutes. The body is
    /// JSON (Events API) or a form (slash commands, interactivity).
    SLACK = hmac256("slack", &["X-Slack-Signature"], Hex)
        .prefix("v0=")
        .signs(V0_TS_BODY)
        .timestamp(Timestamp::header(&["X-Slack-Request-Timestamp"]))
        .id(&[Json(&["event_id"])])
        .event_type(&[Json(&["event", "type"]), Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .handshake(Handshake::SlackUrlVerification)
        .source("slackapi/python-slack-sdk slack_sdk/signature/__init__.py");
    /// Standard Webhooks: `webhook-signature: v1,<b64> [v1a,<b64>]` over `{id}.{ts}.{body}`,
    /// `whsec_` keys base64-decoded, `whpk_` Ed25519 keys for `v1a`; the `svix-*` headers
    /// are accepted too. ±5 minutes.
    STANDARD_WEBHOOKS = standard_webhooks(
        "standard-webhooks",
        &["webhook-signature", "svix-signature"],
        &["webhook-timestamp", "svix-timestamp"],
        &[Header("webhook-id"), Header("svix-id")],
    )
        .source("standard-webhooks/standard-webhooks spec/standard-webhooks.md");
    /// Svix-branded Standard Webhooks: `svix-*` headers first, `webhook-*` accepted.
    SVIX = standard_webhooks(
        "svix",
        &["svix-signature", "webhook-signature"],
        &["svix-timestamp", "webhook-timestamp"],
        &[Header("svix-id"), Header("webhook-id")],
    )
        .source("svix/svix-webhooks python/svix/webhooks.py");
    /// Clerk (delivered by Svix): the `svix-*` headers are required, as in Clerk's helper.
    CLERK = standard_webhooks("clerk", &["svix-signature"], &["svix-timestamp"], &[Header("svix-id")])
        .source("clerk/javascript packages/backend/src/webhooks.ts");
    /// Resend (delivered by Svix): the `svix-*` headers.
    RESEND = standard_webhooks("resend", &["svix-signature"], &["svix-timestamp"], &[Header("svix-id")])
        .source("resend/resend-node src/webhooks/webhooks.ts");
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body; id `X-Shopify-Webhook-Id`,
    /// type `X-Shopify-Topic`; the newer unprefixed `Shopify-*` names are accepted.
    SHOPIFY = hmac256("shopify", &["X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256"], Base64)
        .id(&[Header("X-Shopify-Webhook-Id"), Header("Shopify-Webhook-Id")])
        .event_type(&[Header("X-Shopify-Topic"), Header("Shopify-Topic")])
        .source("https://shopify.dev/docs/apps/build/webhooks/subscribe/https");
    /// GitLab's signing token (Standard-Webhooks-style `webhook-signature: v1,<b64>` over
    /// `{webhook-id}.{ts}.{body}`). A `whsec_` token is base64-decoded, any other is used as
    /// UTF-8: GitLab has not documented the form. For the classic `X-Gitlab-Token` use
    /// [`GITLAB`].
    GITLAB_SIGNING = hmac256("gitlab-signing", &["webhook-signature"], Base64)
        .list(b' ', b',', &["v1"])
        .signs(ID_DOT_TS_DOT_BODY)
        .timestamp(Timestamp::header(&["webhook-timestamp"]))
        .id(&[Header("webhook-id"), Header("Idempotency-Key")])
        .event_type(&[Header("X-Gitlab-Event"), Json(&["object_kind"])])
        .tolerance(FIVE_MINUTES)
        .key_format(KeyFormat::WhsecOrUtf8)
        .body(JsonBody)
        .source("https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944");
    /// Discord: Ed25519 over `{timestamp}{body}`, `X-Signature-Ed25519` hex, public key in
    /// hex. Discord documents no window; this crate uses 5 minutes. The event type of a
    /// webhook event is `event.type` (`APPLICATION_AUTHORIZED`; its outer `type` is 0 for a
    /// ping, 1 for an event); an interaction, which has no `event`, keeps its `type`.
    #[cfg(feature = "ed25519")]
    DISCORD = Scheme::new("discord", &["X-Signature-Ed25519"], Algorithm::Ed25519, Hex)
        .signs(&[Ts, Body])
        .timestamp(Timestamp::header(&["X-Signature-Timestamp"]))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["event", "type"]), Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .key_format(KeyFormat::Ed25519Hex)
        .body(JsonBody)
        .handshake(Handshake::DiscordPing)
        .source("discord/discord-interactions-js src/util.ts");
    /// Square: `x-square-hmacsha256-signature: <base64>` over `{notification_url}{body}`.
    /// Set the subscription's URL with
    /// [`VerifierBuilder::url`](crate::VerifierBuilder::url).
    SQUARE = hmac256("square", &["x-square-hmacsha256-signature"], Base64)
        .signs(&[Url, Body])
        .id(&[Json(&["event_id"])])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("square/square-python-sdk src/square/utils/webhooks_helper.py");
    /// Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex>` over `{ts}:{body}`. The SDKs
    /// allow only 5 s; this crate uses 60 s so that ordinary clock skew does not refuse
    /// real deliveries (set a tighter one with `tolerance`).
    PADDLE = hmac256("paddle", &["Paddle-Signature"], Hex)
        .list(b';', b'=', &["h1"])
        .signs(&[Ts, Literal(b":"), Body])
        .timestamp(Timestamp::list_item("ts"))
        .id(&[Json(&["event_id"])])
        .event_type(&[Json(&["event_type"])])
        .tolerance(Duration::from_secs(60))
        .body(JsonBody)
        .source("PaddleHQ/paddle-python-sdk paddle_billing/Notifications/Verifier.py");
    /// Zoom: `x-zm-signature: v0=<hex>` over `v0:{ts}:{body}`. No documented window; 5 minutes.
    ZOOM = hmac256("zoom", &["x-zm-signature"], Hex)
        .prefix("v0=")
        .signs(V0_TS_BODY)
        .timestamp(Timestamp::header(&["x-zm-request-timestamp"]))
        .event_type(&[Json(&["event"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .handshake(Handshake::ZoomUrlValidation)
        .source("https://developers.zoom.us/docs/api/webhooks/");
    /// Linear: `Linear-Signature: <hex>` over the body; the timestamp is the signed body's
    /// `webhookTimestamp` in milliseconds (the `linear-timestamp` header is not signed and
    /// is ignored), 60 s as in Linear's SDK.
    LINEAR = hmac256("linear", &["Linear-Signature"], Hex)
        .timestamp(Timestamp::json(&["webhookTimestamp"]).format(TimeFormat::UnixMillis))
        .id(&[Header("Linear-Delivery")])
        .event_type(&[Header("Linear-Event"), Json(&["type"])])
        .tolerance(Duration::from_secs(60))
        .body(JsonBody)
        .source("linear/linear packages/sdk/src/webhooks/client.ts");
    /// Twitch EventSub: `sha256=<hex>` over `{message id}{timestamp}{body}`, RFC 3339
    /// timestamp, 10 minutes. The event type is the subscription type for a
    /// `notification`, and the message type otherwise: a `revocation` is routed as
    /// `revocation`, never to the handler of the event it revoked.
    TWITCH = hmac256("twitch", &["Twitch-Eventsub-Message-Signature"], Hex)
        .prefix("sha256=")
        .signs(&[Id, Ts, Body])
        .timestamp(Timestamp::header(&["Twitch-Eventsub-Message-Timestamp"]).format(TimeFormat::Rfc3339))
        .id(&[Header("Twitch-Eventsub-Message-Id")])
        .event_type(&[
            HeaderExcept("Twitch-Eventsub-Message-Type", "notification"),
            Header("Twitch-Eventsub-Subscription-Type"),
        ])
        .tolerance(Duration::from_secs(600))
        .body(JsonBody)
        .handshake(Handshake::TwitchChallenge)
        .source("https://dev.twitch.tv/docs/eventsub/handling-webhook-events/");
    /// Intercom: `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1) over the body.
    #[cfg(feature = "sha1")]
    INTERCOM = Scheme::new("intercom", &["X-Hub-Signature"], HmacSha1, Hex)
        .prefix("sha1=")
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["topic"])])
        .body(JsonBody)
        .source("https://developers.intercom.com/docs/references/webhooks/webhook-models");
    /// Bitbucket Cloud and Data Center: `X-Hub-Signature: sha256=<hex>`; id `X-Request-UUID`
    /// (Cloud) or `X-Request-Id` (Data Center), type `X-Event-Key`.
    BITBUCKET = hmac256("bitbucket", &["X-Hub-Signature"], Hex)
        .prefix("sha256=")
        .id(&[Header("X-Request-UUID"), Header("X-Request-Id")])
        .event_type(&[Header("X-Event-Key")])
        .body(JsonBody)
        .source("https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/");
    /// SendGrid Event Webhook: ECDSA P-256 over `{timestamp}{body}`, base64 DER signature,
    /// base64 DER public key. No documented window; 5 minutes.
    #[cfg(feature = "ecdsa")]
    SENDGRID = Scheme::new(
        "sendgrid",
        &["X-Twilio-Email-Event-Webhook-Signature"],
        Algorithm::EcdsaP256Sha256,
        Base64,
    )
    .signs(&[Ts, Body])
    .timestamp(Timestamp::header(&["X-Twilio-Email-Event-Webhook-Timestamp"]))
    .tolerance(FIVE_MINUTES)
    .key_format(KeyFormat::P256Der)
    .body(JsonBody)
        .source("sendgrid/sendgrid-python sendgrid/helpers/eventwebhook/__init__.py");
    /// Meta (Graph API, Messenger, Instagram, WhatsApp): `X-Hub-Signature-256: sha256=<hex>`
    /// over the body exactly as received. No delivery id: deduplicate on natural keys.
    META = hmac256("meta", &["X-Hub-Signature-256"], Hex)
        .prefix("sha256=")
        .event_type(&[Json(&["object"])])
        .body(JsonBody)
        .source("https://developers.facebook.com/docs/graph-api/webhooks/getting-started");
    /// Meta's legacy `X-Hub-Signature: sha1=<hex>`, accepted only when enabled.
    #[cfg(feature = "sha1")]
    META_SHA1 = Scheme::new("meta", &["X-Hub-Signature"], HmacSha1, Hex)
        .prefix("sha1=")
        .event_type(&[Json(&["object"])])
        .body(JsonBody)
        .source("https://developers.facebook.com/docs/graph-api/webhooks/getting-started");
    /// Typeform: `Typeform-Signature: sha256=<base64>` (base64 behind a hex-looking prefix).
    TYPEFORM = hmac256("typeform", &["Typeform-Signature"], Base64)
        .prefix("sha256=")
        .id(&[Json(&["event_id"])])
        .event_type(&[Json(&["event_type"])])
        .body(JsonBody)
        .source("https://www.typeform.com/developers/webhooks/secure-your-webhooks/");
    /// PagerDuty V3: `X-PagerDuty-Signature: v1=<hex>[,v1=…]` over the body; the secret is
    /// used as UTF-8 even though it looks like base64.
    PAGERDUTY = hmac256("pagerduty", &["X-PagerDuty-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .id(&[Json(&["event", "id"])])
        .event_type(&[Json(&["event", "event_type"])])
        .body(JsonBody)
        .source("PagerDuty/go-pagerduty webhookv3/webhookv3.go");
    /// Razorpay: `X-Razorpay-Signature: <hex>` HMAC-SHA256 of the body with the webhook
    /// secret; id `X-Razorpay-Event-Id`, type `event`. Nothing timed is signed.
    RAZORPAY = hmac256("razorpay", &["X-Razorpay-Signature"], Hex)
        .id(&[Header("X-Razorpay-Event-Id")])
        .event_type(&[Json(&["event"])])
        .body(JsonBody)
        .source("razorpay/razorpay-node, npm razorpay@2.9.8 dist/utils/razorpay-utils.js (validateWebhookSignature)");
    /// LINE Messaging API: `x-line-signature: <base64>` HMAC-SHA256 of the body with the
    /// channel secret. One delivery carries an `events` array (each with its own
    /// `webhookEventId`): no delivery id or type at the top level.
    LINE = hmac256("line", &["x-line-signature"], Base64)
        .body(JsonBody)
        .source("line/line-bot-sdk-nodejs, npm @line/bot-sdk@11.0.0 dist/validate-signature.js");
    /// Coinbase Commerce: `X-CC-Webhook-Signature: <hex>` HMAC-SHA256 of the body with the
    /// shared secret; id `event.id`, type `event.type`.
    COINBASE_COMMERCE = hmac256("coinbase-commerce", &["X-CC-Webhook-Signature"], Hex)
        .id(&[Json(&["event", "id"])])
        .event_type(&[Json(&["event", "type"])])
        .body(JsonBody)
        .source("coinbase/coinbase-commerce-node, npm coinbase-commerce-node@1.0.4 lib/Webhook.js (verifySigHeader)");
    /// GoCardless: `Webhook-Signature: <hex>` HMAC-SHA256 of the body with the endpoint
    /// secret; one delivery carries an `events` array, id `meta.webhook_id`.
    GOCARDLESS = hmac256("gocardless", &["Webhook-Signature"], Hex)
        .id(&[Json(&["meta", "webhook_id"])])
        .body(JsonBody)
        .source("gocardless/gocardless-nodejs, npm gocardless-nodejs@10.1.2 cjs/webhooks.js (verifySignature)");
    /// Mux: `Mux-Signature: t=<unix s>,v1=<hex>` over `{t}.{body}`, 5 minutes as in Mux's
    /// SDK; id `id`, type `type`.
    MUX = hmac256("mux", &["Mux-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t"))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("muxinc/mux-node-sdk, npm @mux/mux-node@15.3.0 resources/webhooks/webhooks.js (verifySignature)");
    /// WorkOS: `WorkOS-Signature: t=<unix ms>, v1=<hex>` over `{t}.{body}`, 180 s as in
    /// WorkOS's SDK; id `id`, type `event`.
    WORKOS = hmac256("workos", &["WorkOS-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t").format(TimeFormat::UnixMillis))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["event"])])
        .tolerance(Duration::from_secs(180))
        .body(JsonBody)
        .source("workos/workos-node src/common/crypto/signature-provider.ts, npm @workos-inc/node@8.13.0");
    /// OpenAI (a Standard Webhooks sender): the `webhook-*` headers; a `whsec_` secret is
    /// base64-decoded, any other used as UTF-8, as OpenAI's SDK does.
    OPENAI = standard_webhooks("openai", &["webhook-signature"], &["webhook-timestamp"], &[Header("webhook-id")])
        .key_format(KeyFormat::WhsecOrUtf8)
        .source("openai/openai-node, npm openai@6.49.0 resources/webhooks/webhooks.js (verifySignature)");
    /// Replicate (a Standard Webhooks sender): the `webhook-*` headers and a `whsec_`
    /// secret. The body is the prediction, which names no event type.
    REPLICATE = standard_webhooks("replicate", &["webhook-signature"], &["webhook-timestamp"], &[Header("webhook-id")])
        .event_type(&[])
        .source("replicate/replicate-javascript, npm replicate@1.4.0 lib/util.js (validateWebhook)");
    /// Telnyx: Ed25519 over `{timestamp}|{body}`, `telnyx-signature-ed25519` base64,
    /// `telnyx-timestamp` unix seconds, 5 minutes as in Telnyx's SDK; the public key is
    /// base64. Id `data.id`, type `data.event_type`.
    #[cfg(feature = "ed25519")]
    TELNYX = Scheme::new("telnyx", &["telnyx-signature-ed25519"], Algorithm::Ed25519, Base64)
        .signs(&[Ts, Literal(b"|"), Body])
        .timestamp(Timestamp::header(&["telnyx-timestamp"]))
        .id(&[Json(&["data", "id"])])
        .event_type(&[Json(&["data", "event_type"])])
        .tolerance(FIVE_MINUTES)
        .key_format(KeyFormat::Ed25519Base64)
        .body(JsonBody)
        .source("team-telnyx/telnyx-node, npm telnyx@7.24.0 lib/webhooks.js");
    /// ElevenLabs: `ElevenLabs-Signature: t=<unix s>,v0=<hex>` over `{t}.{body}`; 30 minutes
    /// as in ElevenLabs' SDK. Type `type`.
    ELEVENLABS = hmac256("elevenlabs", &["ElevenLabs-Signature"], Hex)
        .list(b',', b'=', &["v0"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t"))
        .event_type(&[Json(&["type"])])
        .tolerance(Duration::from_secs(1800))
        .body(JsonBody)
        .source("elevenlabs/elevenlabs-js, npm @elevenlabs/elevenlabs-js@2.73.0 wrapper/webhooks.js (constructEvent)");
    /// HubSpot (signature v3): `X-HubSpot-Signature-v3: <base64>` HMAC-SHA256 of
    /// `POST{url}{body}{timestamp}` with the app's client secret, `X-HubSpot-Request-Timestamp`
    /// in unix milliseconds, 5 minutes. Webhooks are always POSTs; set the subscription's
    /// URL with [`VerifierBuilder::url`](crate::VerifierBuilder::url) (or pass the request
    /// URL). The body is an array of events: no id or type at its top level.
    HUBSPOT = hmac256("hubspot", &["X-HubSpot-Signature-v3"], Base64)
        .signs(&[Literal(b"POST"), Url, Body, Ts])
        .timestamp(Timestamp::header(&["X-HubSpot-Request-Timestamp"]).format(TimeFormat::UnixMillis))
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("HubSpot/hubspot-api-nodejs, npm @hubspot/api-client@13.5.0 lib/src/utils/signature.js (Signature.getSignature v3)");
    /// Webflow: `x-webflow-signature: <hex>` HMAC-SHA256 of `{timestamp}:{body}`,
    /// `x-webflow-timestamp` in unix milliseconds; Webflow's docs refuse requests older than
    /// 5 minutes. Type `triggerType`.
    WEBFLOW = hmac256("webflow", &["x-webflow-signature"], Hex)
        .signs(&[Ts, Literal(b":"), Body])
        .timestamp(Timestamp::header(&["x-webflow-timestamp"]).format(TimeFormat::UnixMillis))
        .event_type(&[Json(&["triggerType"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("webflow/js-webflow-api, npm webflow-api@3.3.4 wrapper/WebhooksClient.js (verifySignature)");
    /// Paystack: `x-paystack-signature: <hex>` HMAC-SHA512 of the body with the secret key;
    /// type `event`.
    PAYSTACK = Scheme::new("paystack", &["x-paystack-signature"], HmacSha512, Hex)
        .event_type(&[Json(&["event"])])
        .body(JsonBody)
        .source("PaystackOSS/doc-code-snippets src/doc/payments/webhooks/verifying-transaction/index.js");
    /// Vercel: `x-vercel-signature: <hex>` HMAC-SHA1 of the body with the webhook (or
    /// integration client) secret; id `id`, type `type`.
    #[cfg(feature = "sha1")]
    VERCEL = Scheme::new("vercel", &["x-vercel-signature"], HmacSha1, Hex)
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("https://vercel.com/docs/webhooks");
    /// Sentry integration platform: `Sentry-Hook-Signature: <hex>` HMAC-SHA256 of the body
    /// with the integration's client secret; id `Request-ID`, type `Sentry-Hook-Resource`
    /// (`Sentry-Hook-Timestamp` is not signed and is ignored).
    SENTRY = hmac256("sentry", &["Sentry-Hook-Signature"], Hex)
        .id(&[Header("Request-ID")])
        .event_type(&[Header("Sentry-Hook-Resource")])
        .body(JsonBody)
        .source("https://docs.sentry.io/integrations/integration-platform/webhooks/");
    /// Lemon Squeezy: `X-Signature: <hex>` HMAC-SHA256 of the body with the signing secret;
    /// type `X-Event-Name` (or `meta.event_name`).
    LEMONSQUEEZY = hmac256("lemonsqueezy", &["X-Signature"], Hex)
        .event_type(&[Header("X-Event-Name"), Json(&["meta", "event_name"])])
        .body(JsonBody)
        .source("https://docs.lemonsqueezy.com/help/webhooks/signing-requests");
    /// Alchemy Notify: `X-Alchemy-Signature: <hex>` HMAC-SHA256 of the body with the
    /// webhook's signing key; id `id`, type `type`.
    ALCHEMY = hmac256("alchemy", &["X-Alchemy-Signature"], Hex)
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("https://www.alchemy.com/docs/reference/notify-api-quickstart");
    /// WooCommerce: `X-WC-Webhook-Signature: <base64>` HMAC-SHA256 of the body with the
    /// webhook secret; id `X-WC-Webhook-Delivery-ID`, type `X-WC-Webhook-Topic`. The body is
    /// JSON, except the form-encoded ping sent when a webhook is created.
    WOOCOMMERCE = hmac256("woocommerce", &["X-WC-Webhook-Signature"], Base64)
        .id(&[Header("X-WC-Webhook-Delivery-ID")])
        .event_type(&[Header("X-WC-Webhook-Topic")])
        .source("woocommerce/woocommerce plugins/woocommerce/includes/class-wc-webhook.php (generate_signature)");
    /// Segment (webhooks destination): `X-Signature: <hex>` HMAC-SHA1 of the body with the
    /// shared secret; id `messageId`, type `type`.
    #[cfg(feature = "sha1")]
    SEGMENT = Scheme::new("segment", &["X-Signature"], HmacSha1, Hex)
        .id(&[Json(&["messageId"])])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("https://segment.com/docs/connections/destinations/catalog/webhooks/");
    /// Trello: `X-Trello-Webhook: <base64>` HMAC-SHA1 of `{body}{callback URL}` with the
    /// application secret: set the callback URL with
    /// [`VerifierBuilder::url`](crate::VerifierBuilder::url). Id `action.id`, type
    /// `action.type`.
    #[cfg(feature = "sha1")]
    TRELLO = Scheme::new("trello", &["X-Trello-Webhook"], HmacSha1, Base64)
        .signs(&[Body, Url])
        .id(&[Json(&["action", "id"])])
        .event_type(&[Json(&["action", "type"])])
        .body(JsonBody)
        .source("https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/");
    /// Xero: `x-xero-signature: <base64>` HMAC-SHA256 of the body with the webhook key. The
    /// "intent to receive" check is answered by verification itself: 200 for a good
    /// signature, 401 for a bad one. One delivery carries an `events` array.
    XERO = hmac256("xero", &["x-xero-signature"], Base64)
        .body(JsonBody)
        .source("https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/");
    /// Dropbox: `X-Dropbox-Signature: <hex>` HMAC-SHA256 of the body with the app secret.
    /// The endpoint check is an unsigned `GET ?challenge=…`: see
    /// [`dropbox_challenge`](crate::handshake::dropbox_challenge).
    DROPBOX = hmac256("dropbox", &["X-Dropbox-Signature"], Hex)
        .body(JsonBody)
        .handshake(Handshake::DropboxChallenge)
        .source("https://www.dropbox.com/developers/reference/webhooks");
    /// X (Twitter) Account Activity: `x-twitter-webhooks-signature: sha256=<base64>`
    /// HMAC-SHA256 of the body with the consumer secret. The CRC check is a `GET
    /// ?crc_token=…`: see [`x_crc_response`](crate::handshake::x_crc_response).
    X = hmac256("x", &["x-twitter-webhooks-signature"], Base64)
        .prefix("sha256=")
        .body(JsonBody)
        .handshake(Handshake::XCrc)
        .source("https://docs.x.com/x-api/webhooks/introduction");
    /// Calendly: `Calendly-Webhook-Signature: t=<unix s>,v1=<hex>` over `{t}.{body}` with
    /// the webhook signing key; 3 minutes as in Calendly's example. Type `event`.
    CALENDLY = hmac256("calendly", &["Calendly-Webhook-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t"))
        .event_type(&[Json(&["event"])])
        .tolerance(Duration::from_secs(180))
        .body(JsonBody)
        .source("https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures");
    /// Zendesk: `X-Zendesk-Webhook-Signature: <base64>` HMAC-SHA256 of `{timestamp}{body}`,
    /// `X-Zendesk-Webhook-Signature-Timestamp` in RFC 3339. Zendesk documents no window;
    /// this crate uses 5 minutes. The body may be JSON, XML or a form.
    ZENDESK = hmac256("zendesk", &["X-Zendesk-Webhook-Signature"], Base64)
        .signs(&[Ts, Body])
        .timestamp(Timestamp::header(&["X-Zendesk-Webhook-Signature-Timestamp"]).format(TimeFormat::Rfc3339))
        .tolerance(FIVE_MINUTES)
        .source("https://developer.zendesk.com/documentation/webhooks/verifying/");
    /// Notion: `X-Notion-Signature: sha256=<hex>` HMAC-SHA256 of the body with the
    /// subscription's `verification_token`; id `id`, type `type`. Notion first posts the
    /// token itself, unsigned (`{"verification_token":…}`): it cannot be verified, so
    /// configure the token from the integration's settings, after which every event is.
    NOTION = hmac256("notion", &["X-Notion-Signature"], Hex)
        .prefix("sha256=")
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("makenotion/notion-sdk-js, npm @notionhq/client@5.26.0 build/src/webhooks.js (verifyWebhookSignature)");
    /// Box: `box-signature-primary` and `box-signature-secondary`, base64 HMAC-SHA256 of
    /// `{body}{box-delivery-timestamp}` under the primary and the secondary key; either
    /// verifies (configure both keys). The timestamp is RFC 3339 with an offset; 10 minutes
    /// as in Box's SDK. Id `id` (the event's, the same on every retry), type `trigger`.
    BOX = hmac256("box", &["box-signature-primary", "box-signature-secondary"], Base64)
        .every_header()
        .signs(&[Body, Ts])
        .timestamp(Timestamp::header(&["box-delivery-timestamp"]).format(TimeFormat::Rfc3339))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["trigger"])])
        .tolerance(Duration::from_secs(600))
        .body(JsonBody)
        .source("box/box-typescript-sdk-gen, npm box-node-sdk@10.12.0 lib/managers/webhooks.js (validateMessage), lib/internal/utilsNode.js (computeWebhookSignature)");
    /// DocuSign Connect: `X-DocuSign-Signature-1`, `-2`, ... one per HMAC key, each base64
    /// HMAC-SHA256 of the body; any verifies. The first ten are read (an account with more
    /// active keys must keep the configured one among them). Type `event`.
    DOCUSIGN = hmac256(
        "docusign",
        &[
            "X-DocuSign-Signature-1",
            "X-DocuSign-Signature-2",
            "X-DocuSign-Signature-3",
            "X-DocuSign-Signature-4",
            "X-DocuSign-Signature-5",
            "X-DocuSign-Signature-6",
            "X-DocuSign-Signature-7",
            "X-DocuSign-Signature-8",
            "X-DocuSign-Signature-9",
            "X-DocuSign-Signature-10",
        ],
        Base64,
    )
    .every_header()
    .event_type(&[Json(&["event"])])
    .body(JsonBody)
    .source("https://developers.docusign.com/platform/webhooks/connect/hmac/");
    /// Front application webhooks: `x-front-signature: <base64>` HMAC-SHA256 of
    /// `{timestamp}:{body}` with the app secret, `x-front-request-timestamp` in unix
    /// milliseconds; 5 minutes, as Front recommends. The validation request (`type: sync`)
    /// carries `x-front-challenge`, answered by [`Verifier::handshake`](crate::Verifier::handshake).
    /// Id `id`, type `type`. (Front's older rule webhooks sign with HMAC-SHA1 and are not
    /// this row.)
    FRONT = hmac256("front", &["x-front-signature"], Base64)
        .signs(&[Ts, Literal(b":"), Body])
        .timestamp(Timestamp::header(&["x-front-request-timestamp"]).format(TimeFormat::UnixMillis))
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .handshake(Handshake::FrontChallenge)
        .source("https://dev.frontapp.com/docs/application-webhooks");
    /// Mollie (next-gen webhooks): `X-Mollie-Signature: sha256=<hex>` (the prefix optional,
    /// as in Mollie's library) HMAC-SHA256 of the body with the webhook's signing secret;
    /// while a secret is rotated the header comes once per secret, and any verifies. Id `id`, type `type`. Classic Mollie webhooks
    /// (a bare `id=tr_…` form) are unsigned and are not this row.
    MOLLIE = hmac256("mollie", &["X-Mollie-Signature"], Hex)
        .optional_prefix("sha256=")
        .repeated_header()
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["type"]), Json(&["event_type"])])
        .body(JsonBody)
        .source("mollie/mollie-api-php src/Webhooks/SignatureValidator.php");
    /// Persona: `Persona-Signature: t=<unix s>,v1=<hex>` over `{t}.{body}` with the
    /// webhook's secret; while a secret is rotated the header carries one such group per
    /// secret, separated by a space. Persona documents no window; this crate uses 5
    /// minutes. Id `data.id` (the event's), type `data.attributes.name`.
    PERSONA = hmac256("persona", &["Persona-Signature"], Hex)
        .list(b',', b'=', &["v1"])
        .list_groups(b' ')
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t"))
        .id(&[Json(&["data", "id"])])
        .event_type(&[Json(&["data", "attributes", "name"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("https://docs.withpersona.com/docs/webhooks-best-practices");
    /// Contentful (webhooks and app requests): `x-contentful-signature: <hex>` HMAC-SHA256
    /// of the canonical request `POST\n{path}\n{signed headers}\n{body}`, where the signed
    /// headers are those `x-contentful-signed-headers` names (always itself and
    /// `x-contentful-timestamp`, unix milliseconds); 30 s as in Contentful's toolkit. Set
    /// the URL Contentful calls with [`VerifierBuilder::url`](crate::VerifierBuilder::url)
    /// (or pass the request URL); only `POST` requests are read.
    CONTENTFUL = hmac256("contentful", &["x-contentful-signature"], Hex)
        .signs(&[
            Literal(b"POST\n"),
            Part::EncodedPath,
            Literal(b"\n"),
            Part::SignedHeaders("x-contentful-signed-headers"),
            Literal(b"\n"),
            Body,
        ])
        .timestamp(Timestamp::header(&["x-contentful-timestamp"]).format(TimeFormat::UnixMillis))
        .event_type(&[Header("X-Contentful-Topic")])
        .tolerance(Duration::from_secs(30))
        .source("contentful/node-apps-toolkit, npm @contentful/node-apps-toolkit@3.16.1 lib/index.cjs (signRequest, verifyRequest)");
    /// Klaviyo system webhooks: `Klaviyo-Signature: <hex>` HMAC-SHA256 of the body followed
    /// by the `Klaviyo-Timestamp` header exactly as sent, with the webhook's secret key. The
    /// header's text is signed but not read as a time (its form is not documented); the
    /// window is checked on the signed body's `meta.timestamp` (RFC 3339, "when the webhook
    /// request was sent"). Klaviyo documents no window; this crate uses 5 minutes. One
    /// delivery carries a `data` array of events (each with its `topic` and `external_id`):
    /// no delivery id or type at the top level. (`meta.klaviyo_webhook_id` names the webhook,
    /// as the unsigned `Klaviyo-Webhook-Id` header does.)
    KLAVIYO = hmac256("klaviyo", &["Klaviyo-Signature"], Hex)
        .signs(&[Body, Part::SentAt("Klaviyo-Timestamp")])
        .timestamp(Timestamp::json(&["meta", "timestamp"]).format(TimeFormat::Rfc3339))
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("https://developers.klaviyo.com/en/docs/working_with_system_webhooks");
    /// Sanity (GROQ-powered webhooks): `sanity-webhook-signature: t=<unix ms>,v1=<base64url>`,
    /// HMAC-SHA256 of `{t}.{body}` with the webhook's secret as UTF-8, the signature in
    /// unpadded URL-safe base64. Sanity's toolkit checks no window (it only refuses a `t`
    /// before 2021); this crate uses 5 minutes, as for the other senders that document
    /// none (set another with `tolerance`, or none with `no_tolerance`). The body is the
    /// webhook's own GROQ projection: no delivery id or type is read from it.
    SANITY = hmac256("sanity", &["sanity-webhook-signature"], Encoding::Base64Url)
        .list(b',', b'=', &["v1"])
        .signs(&[Ts, Literal(b"."), Body])
        .timestamp(Timestamp::list_item("t").format(TimeFormat::UnixMillis))
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("sanity-io/webhook-toolkit, npm @sanity/webhook@4.0.4 src/signature.ts (assertValidSignature, decodeSignatureHeader, createHS256Signature)");
    /// Recurly (JSON webhooks): `recurly-signature: <unix ms>,<hex>[,<hex>…]`, HMAC-SHA256 of
    /// `{timestamp}.{body}` with the endpoint's secret key; while a key is rotated the
    /// header carries one signature per key, and any verifies. 5 minutes either side, as in
    /// Recurly's client. (XML webhooks are not signed and are not this row.) No delivery id
    /// or type is read.
    RECURLY = hmac256("recurly", &["recurly-signature"], Hex)
        .leading_timestamp(b',', TimeFormat::UnixMillis)
        .signs(&[Ts, Literal(b"."), Body])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("recurly/recurly-client-ruby, gem recurly@4.48.0 lib/recurly/webhooks.rb (Recurly::Webhooks.verify_signature)");
    /// EasyPost: `X-Hmac-Signature: hmac-sha256-hex=<hex>`, HMAC-SHA256 of the body with the
    /// webhook secret NFKD-normalised ([`KeyFormat::Nfkd`]). Nothing timed is signed. Id
    /// `id` (the event's `evt_…`), type `description` (`tracker.updated`). EasyPost's Node
    /// library first rewrites an integer `"weight": 136` in the body to `136.0`, which only
    /// matters for a body parsed and re-serialised by JavaScript: the raw body (which
    /// carries `136.0`) is verified here as received.
    EASYPOST = hmac256("easypost", &["X-Hmac-Signature"], Hex)
        .prefix("hmac-sha256-hex=")
        .key_format(KeyFormat::Nfkd)
        .id(&[Json(&["id"])])
        .event_type(&[Json(&["description"])])
        .body(JsonBody)
        .source("EasyPost/easypost-node, npm @easypost/api@8.9.0 src/utils/util.js (validateWebhook)");
    /// Gitea and Forgejo: `X-Gitea-Signature: <hex>` HMAC-SHA256 of the body with the
    /// webhook's secret; id `X-Gitea-Delivery`, type `X-Gitea-Event`. Forgejo sends the same
    /// values under both `X-Forgejo-*` and `X-Gitea-*` names, so one row verifies both
    /// servers; the `X-Forgejo-*` names are read when the Gitea ones are absent. Nothing
    /// timed is signed: deduplicate on the delivery id. Only the `application/json` content
    /// type is verifiable: with the form type the server signs the JSON but sends
    /// `payload=<the JSON, form-encoded>`, and with no secret the header is empty.
    GITEA = hmac256("gitea", &["X-Gitea-Signature", "X-Forgejo-Signature"], Hex)
        .id(&[Header("X-Gitea-Delivery"), Header("X-Forgejo-Delivery")])
        .event_type(&[Header("X-Gitea-Event"), Header("X-Forgejo-Event")])
        .body(JsonBody)
        .source("go-gitea/gitea services/webhook/deliver.go (addDefaultHeaders); Forgejo (codeberg.org/forgejo/forgejo, read in a GitHub mirror) services/webhook/shared/payloader.go (AddDefaultHeaders)");
    /// Customer.io reporting webhooks: `X-CIO-Signature: <hex>` HMAC-SHA256 of
    /// `v0:{X-CIO-Timestamp}:{body}` with the webhook's signing key, the timestamp in unix
    /// seconds. Customer.io documents no window; this crate uses 5 minutes. Id `event_id`,
    /// type `metric` (`sent`, `opened`, …; the channel is `object_type`).
    CUSTOMERIO = hmac256("customerio", &["X-CIO-Signature"], Hex)
        .signs(V0_TS_BODY)
        .timestamp(Timestamp::header(&["X-CIO-Timestamp"]))
        .id(&[Json(&["event_id"])])
        .event_type(&[Json(&["metric"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("https://docs.customer.io/api/webhooks/ (Securely Verifying Requests)");
    /// Cal.com: `X-Cal-Signature-256: <hex>` HMAC-SHA256 of the body with the webhook's
    /// secret; type `triggerEvent` (`BOOKING_CREATED`, …). Nothing timed is signed and no
    /// delivery id is sent. The body is JSON unless a custom payload template that is not
    /// JSON is set (then it is sent as a form, signed all the same); a webhook with no
    /// secret is sent `no-secret-provided`, refused as malformed.
    CALCOM = hmac256("calcom", &["X-Cal-Signature-256"], Hex)
        .event_type(&[Json(&["triggerEvent"])])
        .source("calcom/cal.com packages/features/webhooks/lib/sendPayload.ts (createWebhookSignature, _sendPayload)");
    /// Pusher Channels: `X-Pusher-Signature: <hex>` HMAC-SHA256 of the body with the app's
    /// secret. `X-Pusher-Key` names the app (Pusher's library checks it equals the app key
    /// before it checks the signature); it is not read here: every configured secret is
    /// tried, so configure one app's secret per route. The body `{"time_ms":…,"events":[…]}`
    /// carries an array of events: no delivery id or type at its top level, and `time_ms`
    /// is not a window (the library checks none).
    PUSHER = hmac256("pusher", &["X-Pusher-Signature"], Hex)
        .body(JsonBody)
        .source("pusher/pusher-http-node, npm pusher@5.3.4 lib/webhook.js (WebHook.isValid), lib/token.js (Token.verify)");
    /// Onfido (Entrust): `X-SHA2-Signature: <hex>` HMAC-SHA256 of the body with the
    /// webhook's token; type `payload.action` (`check.completed`, …). Nothing timed is
    /// signed and no delivery id is sent (`payload.object.id` names the check or report,
    /// the same on each of its events). The legacy SHA-1 `X-Signature` is not this row.
    ONFIDO = hmac256("onfido", &["X-SHA2-Signature"], Hex)
        .event_type(&[Json(&["payload", "action"])])
        .body(JsonBody)
        .source("onfido/onfido-node, npm @onfido/api@6.2.0 dist/webhook-event-verifier.js (WebhookEventVerifier.readPayload); the header as https://documentation.identity.entrust.com/api/manual-webhook-signature-verification/ names it");
    /// Stream Chat: `X-Signature: <hex>` HMAC-SHA256 of the body with the app's API secret;
    /// id `X-Webhook-Id` (the same on every retry, as Stream documents; `X-Webhook-Attempt`
    /// counts them and is not read), type `type` (`message.new`, …). `X-Api-Key` names the
    /// app and is not read: every configured secret is tried. Nothing timed is signed. With
    /// Stream's webhook compression on, the body is gzip and the signature covers the JSON
    /// inside it (Stream's SDK decompresses first): such a delivery is refused here, so
    /// leave compression off for this route.
    STREAM_CHAT = hmac256("stream-chat", &["X-Signature"], Hex)
        .id(&[Header("X-Webhook-Id")])
        .event_type(&[Json(&["type"])])
        .body(JsonBody)
        .source("GetStream/stream-chat-js, npm stream-chat@9.53.0 src/signing.ts (verifySignature, verifyAndParseWebhook), src/client.ts (verifyWebhook); the headers as https://getstream.io/chat/docs/php/webhooks_overview/ lists them");
    /// Frame.io (V4 and legacy webhooks, custom actions): `X-Frameio-Signature: v0=<hex>`
    /// HMAC-SHA256 of `v0:{X-Frameio-Request-Timestamp}:{body}` with the webhook's signing
    /// secret, the timestamp in unix seconds; 5 minutes, as Frame.io recommends (its sample
    /// code allows 500 s in the past). Type `type` (`file.ready`, …); no delivery id is
    /// sent (`resource.id` names the file or comment, the same on each of its events).
    FRAMEIO = hmac256("frameio", &["X-Frameio-Signature"], Hex)
        .prefix("v0=")
        .signs(V0_TS_BODY)
        .timestamp(Timestamp::header(&["X-Frameio-Request-Timestamp"]))
        .event_type(&[Json(&["type"])])
        .tolerance(FIVE_MINUTES)
        .body(JsonBody)
        .source("AdobeDocs/frameio-api src/pages/guides/Webhooks/index.md (Verifying Webhook Signatures)");
    /// Airtable: `X-Airtable-Content-MAC: hmac-sha256=<hex>`, HMAC-SHA256 of the body keyed
    /// with the webhook's `macSecretBase64` decoded ([`KeyFormat::Base64`]). The body is a
    /// ping (`{"base":{"id":…},"webhook":{"id":…},"timestamp":…}`): the changes are fetched
    /// from the payloads endpoint, whose transaction numbers are what deduplicates. No
    /// delivery id or type is read, and the `timestamp` is not a window: Airtable retries a
    /// failed ping for about a day.
    AIRTABLE = hmac256("airtable", &["X-Airtable-Content-MAC"], Hex)
        .prefix("hmac-sha256=")
        .key_format(KeyFormat::Base64)
        .body(JsonBody)
        .source("https://airtable.com/developers/web/api/webhooks-overview (Webhook notification delivery)");
    /// Help Scout: `X-HelpScout-Signature: <base64>` HMAC-SHA1 of the body with the
    /// webhook's secret key; type `X-HelpScout-Event` (`convo.created`, `helpscout.test`, …).
    /// No delivery id is read (Help Scout's SDK reads none) and no timestamp: no window.
    #[cfg(feature = "sha1")]
    HELPSCOUT = Scheme::new("helpscout", &["X-HelpScout-Signature"], HmacSha1, Base64)
        .event_type(&[Header("X-HelpScout-Event")])
        .body(JsonBody)
        .source("helpscout/helpscout-api-php src/Webhooks/IncomingWebhook.php (generateSignature, validateSignature, getEventType), commit 0d75ed7");
    /// Webex (Cisco, the Webhooks API): `X-Spark-Signature: <hex>` HMAC-SHA1 of the body with
    /// the webhook's secret, checked over the bytes received (Webex's framework hashes
    /// `JSON.stringify` of the parsed body, the same bytes for the compact JSON Webex sends).
    /// No delivery id (the body's `id` names the webhook, the same on each of its events)
    /// and no single type field (the type is `resource` and `event` together, read them from
    /// the payload); no timestamp, no window. Contact Center subscriptions sign otherwise.
    #[cfg(feature = "sha1")]
    WEBEX = Scheme::new("webex", &["X-Spark-Signature"], HmacSha1, Hex)
        .body(JsonBody)
        .source("WebexCommunity/webex-node-bot-framework, npm webex-node-bot-framework@2.3.14 lib/webhook.js (Webhook); https://developer.webex.com/docs/receive-and-verify-webhooks");
    /// Mandrill (Mailchimp Transactional): `X-Mandrill-Signature: <base64>` HMAC-SHA1 of the
    /// webhook URL followed by each POST parameter's name and value, sorted (the body is
    /// the form `mandrill_events=[…]`). Set the URL exactly as configured in Mandrill with
    /// [`VerifierBuilder::url`](crate::VerifierBuilder::url).
    #[cfg(feature = "sha1")]
    MANDRILL = Scheme::new("mandrill", &["X-Mandrill-Signature"], HmacSha1, Base64)
        .signs(&[Url, Part::FormParams])
        .source("https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/");
}

/// Twilio: `X-Twilio-Signature` is base64 HMAC-SHA1 of the full URL followed by the
/// sorted form parameters (or, for JSON bodies, of the URL carrying `bodySHA256`). The
/// verifier needs the request URL.
#[cfg(feature = "twilio")]
pub const TWILIO: Provider = Provider { kind: Kind::Twilio };

/// Mailgun: the signature is inside the body (`signature.{timestamp,token,signature}`,
/// HMAC-SHA256 of `{timestamp}{token}`); the event data itself is **not** signed. 5 minutes.
pub const MAILGUN: Provider = Provider { kind: Kind::Mailgun };

/// GitLab's classic `X-Gitlab-Token`: the configured token is sent in plaintext and
/// compared in constant time. No HMAC, no timestamp. For the signing token use
/// [`GITLAB_SIGNING`].
pub const GITLAB: Provider = Provider { kind: Kind::GitLabToken };

use crate::special::credentials::Credentials;

/// Amazon SNS (HTTP/S subscriptions): an RSA signature inside the JSON body (SHA-1 for
/// `SignatureVersion` 1, SHA-256 for 2) over the message's fields, checked with the
/// certificate `SigningCertURL` names (an `https://sns.<region>.amazonaws.com/….pem` URL),
/// taken from the [`CertificateStore`](crate::CertificateStore) given with
/// [`VerifierBuilder::certificates`](crate::VerifierBuilder::certificates). The secrets are
/// the topic ARNs accepted. Id `MessageId`, type `Type` (`Notification`,
/// `SubscriptionConfirmation`: confirm it with
/// [`Verifier::sns_subscribe_url`](crate::Verifier::sns_subscribe_url)).
#[cfg(feature = "sns")]
pub const AWS_SNS: Provider = Provider { kind: Kind::Sns };

/// PayPal: `PAYPAL-TRANSMISSION-SIG`, base64 RSA (`SHA256withRSA`) over
/// `{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook id}|{CRC32 of the body}`,
/// checked with the certificate `PAYPAL-CERT-URL` names (an `https://….paypal.com` URL),
/// taken from the [`CertificateStore`](crate::CertificateStore) given with
/// [`VerifierBuilder::certificates`](crate::VerifierBuilder::certificates). The secrets are
/// the webhook ids. Id `id` (the event's), type `event_type`.
#[cfg(feature = "paypal")]
pub const PAYPAL: Provider = Provider { kind: Kind::PayPal };

/// FusionAuth: `X-FusionAuth-Signature-JWT`, a JWT signed with the webhook's signing key
/// whose claim `request_body_sha256` is the base64 SHA-256 of the body. The key is the
/// HMAC signing key as text (HS256/384/512) or the RSA (RS256/384/512) or EC (ES256/384)
/// key's public key in PEM ([`KeyFormat::JwtKey`]); the key's kind decides the algorithms
/// it accepts. Id `event.id`, type `event.type`.
#[cfg(feature = "jwt")]
pub const FUSIONAUTH: Provider = Provider { kind: Kind::FusionAuth };

/// Adyen (standard payment webhooks): each `NotificationRequestItem` carries
/// `additionalData.hmacSignature`, base64 HMAC-SHA256 of eight of its fields joined with
/// `:`, keyed with the hex-decoded HMAC key; every item must verify. Id
/// `pspReference:eventCode:success` (one item), type `eventCode`.
pub const ADYEN: Provider = Provider { kind: Kind::Adyen };

/// Postmark: HTTP Basic credentials set in the webhook URL (`https://user:password@…`),
/// sent as `Authorization: Basic …` and compared in constant time; the secret is
/// `user:password`. Nothing signs the body. Type `RecordType`.
pub const POSTMARK: Provider = Provider {
    kind: Kind::Credentials(&Credentials {
        name: "postmark",
        header: "Authorization",
        basic: true,
        id: &[],
        event_type: &[Json(&["RecordType"])],
        json: true,
        handshake: None,
        reference: "https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
    }),
};

/// Chargebee: HTTP Basic credentials configured on the webhook, compared in constant time;
/// the secret is `user:password`. Nothing signs the body. Id `id`, type `event_type`.
pub const CHARGEBEE: Provider = Provider {
    kind: Kind::Credentials(&Credentials {
        name: "chargebee",
        header: "Authorization",
        basic: true,
        id: &[Json(&["id"])],
        event_type: &[Json(&["event_type"])],
        json: true,
        handshake: None,
        reference: "https://www.chargebee.com/docs/billing/2.0/site-configuration/webhook_settings",
    }),
};

/// Pipedrive: HTTP Basic credentials set on the webhook (`http_auth_user`,
/// `http_auth_password`), compared in constant time; the secret is `user:password`. Nothing
/// signs the body.
pub const PIPEDRIVE: Provider = Provider {
    kind: Kind::Credentials(&Credentials {
        name: "pipedrive",
        header: "Authorization",
        basic: true,
        id: &[],
        event_type: &[],
        json: true,
        handshake: None,
        reference: "https://pipedrive.readme.io/docs/guide-for-webhooks",
    }),
};

/// Okta event hooks: the `Authorization` header carries the secret configured on the hook,
/// compared in constant time. Id `eventId`. The one-time verification is a `GET` with
/// `x-okta-verification-challenge`: see
/// [`okta_verification`](crate::handshake::okta_verification).
pub const OKTA: Provider = Provider {
    kind: Kind::Credentials(&Credentials {
        name: "okta",
        header: "Authorization",
        basic: false,
        id: &[Json(&["eventId"])],
        event_type: &[Json(&["eventType"])],
        json: false,
        handshake: Some(Handshake::OktaVerification),
        reference: "https://developer.okta.com/docs/concepts/event-hooks/",
    }),
};

static ALL: &[Provider] = &[
    GITHUB,
    STRIPE,
    SLACK,
    STANDARD_WEBHOOKS,
    SVIX,
    CLERK,
    RESEND,
    SHOPIFY,
    GITLAB,
    GITLAB_SIGNING,
    #[cfg(feature = "twilio")]
    TWILIO,
    #[cfg(feature = "ed25519")]
    DISCORD,
    SQUARE,
    PADDLE,
    ZOOM,
    LINEAR,
    TWITCH,
    MAILGUN,
    #[cfg(feature = "sha1")]
    INTERCOM,
    BITBUCKET,
    #[cfg(feature = "ecdsa")]
    SENDGRID,
    META,
    TYPEFORM,
    PAGERDUTY,
    RAZORPAY,
    LINE,
    COINBASE_COMMERCE,
    GOCARDLESS,
    MUX,
    WORKOS,
    OPENAI,
    REPLICATE,
    #[cfg(feature = "ed25519")]
    TELNYX,
    ELEVENLABS,
    HUBSPOT,
    WEBFLOW,
    PAYSTACK,
    #[cfg(feature = "sha1")]
    VERCEL,
    SENTRY,
    LEMONSQUEEZY,
    ALCHEMY,
    WOOCOMMERCE,
    #[cfg(feature = "sha1")]
    SEGMENT,
    #[cfg(feature = "sha1")]
    TRELLO,
    XERO,
    DROPBOX,
    X,
    CALENDLY,
    ZENDESK,
    POSTMARK,
    CHARGEBEE,
    PIPEDRIVE,
    OKTA,
    NOTION,
    ADYEN,
    BOX,
    DOCUSIGN,
    #[cfg(feature = "sha1")]
    MANDRILL,
    FRONT,
    MOLLIE,
    PERSONA,
    CONTENTFUL,
    KLAVIYO,
    SANITY,
    RECURLY,
    EASYPOST,
    GITEA,
    CUSTOMERIO,
    CALCOM,
    PUSHER,
    ONFIDO,
    STREAM_CHAT,
    FRAMEIO,
    AIRTABLE,
    #[cfg(feature = "sha1")]
    HELPSCOUT,
    #[cfg(feature = "sha1")]
    WEBEX,
    #[cfg(feature = "sns")]
    AWS_SNS,
    #[cfg(feature = "paypal")]
    PAYPAL,
    #[cfg(feature = "jwt")]
    FUSIONAUTH,
];

/// The provider reference, one Markdown table row per built-in provider, generated from the
/// rows themselves: docs/PROVIDERS.md holds this table between its `providers:begin` and
/// `providers:end` markers, and a test fails when the two differ.
///
/// ```
/// let table = webhook_core::providers::reference_table();
/// assert!(table.lines().any(|l| l.starts_with("| `github` |")));
/// ```
pub fn reference_table() -> String {
    let mut out = String::from(
        "| id | signature header | signed bytes | algorithm, encoding | key | timestamp, tolerance | delivery id | event type | handshake | source |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in Provider::all() {
        let cells = match p.kind {
            Kind::Scheme(s) => scheme_cells(s),
            #[cfg(feature = "twilio")]
            Kind::Twilio => [
                "`X-Twilio-Signature: <sig>`".into(),
                "`{url}` + each form parameter `{name}{value}`, sorted by name (JSON: the URL carrying `bodySHA256`)"
                    .into(),
                "HMAC-SHA1, base64".into(),
                "UTF-8 (auth token)".into(),
                "none".into(),
                "header `I-Twilio-Idempotency-Token`".into(),
                "none".into(),
                "none".into(),
                "twilio/twilio-python twilio/request_validator.py".into(),
            ],
            Kind::Mailgun => [
                "none: `signature.{timestamp,token,signature[,parent-signature]}` in the body".into(),
                "`{timestamp}{token}` (the event data is not signed)".into(),
                "HMAC-SHA256, hex".into(),
                "UTF-8 (webhook signing key; the primary account's for `parent-signature`)".into(),
                "body `signature.timestamp` (unix s), 300 s".into(),
                "body `signature.token` (signed); `event-data.id` is `Verified::event_id`".into(),
                "body `event-data.event`".into(),
                "none".into(),
                "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks".into(),
            ],
            Kind::Credentials(c) => [
                if c.basic {
                    format!("`{}: Basic base64(user:password)`", c.header)
                } else {
                    format!("`{}: <secret>`", c.header)
                },
                "nothing: the credentials themselves, compared in constant time".into(),
                if c.basic { "HTTP Basic".into() } else { "plaintext secret".into() },
                if c.basic { "`user:password`".into() } else { "UTF-8".into() },
                "none".into(),
                sources_text(c.id),
                sources_text(c.event_type),
                c.handshake.map_or_else(|| "none".to_owned(), |h| format!("{h:?}")),
                c.reference.into(),
            ],
            #[cfg(feature = "jwt")]
            Kind::FusionAuth => [
                "`X-FusionAuth-Signature-JWT: <JWT>`".into(),
                "the token's claim `request_body_sha256` = base64(SHA-256(`{body}`))".into(),
                "JWT: HS256/384/512, RS256/384/512, ES256/384 (by the key's kind, never the token's `alg`)".into(),
                "the HMAC signing key as UTF-8, or the RSA / EC public key in PEM".into(),
                "none (no time claim is read)".into(),
                "body `event.id`".into(),
                "body `event.type`".into(),
                "none".into(),
                "https://fusionauth.io/docs/extend/events-and-webhooks/signing".into(),
            ],
            #[cfg(feature = "paypal")]
            Kind::PayPal => [
                "`PAYPAL-TRANSMISSION-SIG: <base64>` (+ `PAYPAL-CERT-URL`, `PAYPAL-AUTH-ALGO: SHA256withRSA`)".into(),
                "`{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook id}|{crc32(body), decimal}`".into(),
                "RSA PKCS#1 v1.5 SHA-256, base64".into(),
                "the webhook ids; the certificate from a `CertificateStore`".into(),
                "header `PAYPAL-TRANSMISSION-TIME` (RFC 3339), not checked".into(),
                "body `id`, else header `PAYPAL-TRANSMISSION-ID`".into(),
                "body `event_type`".into(),
                "none".into(),
                "https://developer.paypal.com/api/rest/webhooks/rest/".into(),
            ],
            #[cfg(feature = "sns")]
            Kind::Sns => [
                "none: `Signature` and `SigningCertURL` in the JSON body".into(),
                "`{field}\\n{value}\\n` for each of Message, MessageId, Subject, (SubscribeURL,) Timestamp, (Token,) TopicArn, Type present".into(),
                "RSA PKCS#1 v1.5, SHA-1 (`SignatureVersion` 1) or SHA-256 (2), base64".into(),
                "the accepted topic ARNs; the certificate from a `CertificateStore`".into(),
                "body `Timestamp` (RFC 3339), not checked".into(),
                "body `MessageId`".into(),
                "body `Type`".into(),
                "SubscriptionConfirmation: GET `Verifier::sns_subscribe_url`".into(),
                "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html".into(),
            ],
            Kind::Adyen => [
                "none: `additionalData.hmacSignature` in each `NotificationRequestItem`".into(),
                "per item: `{pspReference}:{originalReference}:{merchantAccountCode}:{merchantReference}:{amount.value}:{amount.currency}:{eventCode}:{success}`".into(),
                "HMAC-SHA256, base64".into(),
                "hex (decoded)".into(),
                "none".into(),
                "`pspReference:eventCode:success` of the single item".into(),
                "item `eventCode`".into(),
                "none".into(),
                "Adyen/adyen-node-api-library src/utils/hmacValidator.ts, npm @adyen/api-library@32.1.0 lib/src/utils/hmacValidator.js".into(),
            ],
            Kind::GitLabToken => [
                "`X-Gitlab-Token: <token>`".into(),
                "nothing: the token itself, compared in constant time".into(),
                "plaintext token".into(),
                "UTF-8".into(),
                "none".into(),
                "header `Idempotency-Key` / `X-Gitlab-Event-UUID`".into(),
                "header `X-Gitlab-Event`".into(),
                "none".into(),
                "https://docs.gitlab.com/user/project/integrations/webhooks/".into(),
            ],
        };
        out.push_str(&format!("| `{}` |", p.name()));
        for cell in &cells {
            out.push(' ');
            out.push_str(&cell.replace('|', "\\|"));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

fn sources_text(sources: &[crate::scheme::Source]) -> String {
    use crate::scheme::Source;
    if sources.is_empty() {
        return "none".into();
    }
    sources
        .iter()
        .map(|s| match s {
            Source::Header(h) => format!("header `{h}`"),
            Source::HeaderExcept(h, v) => format!("header `{h}` unless `{v}`"),
            Source::Json(path) => format!("body `{}`", path.join(".")),
        })
        .collect::<Vec<_>>()
        .join(", else ")
}

fn scheme_cells(s: &Scheme) -> [String; 9] {
    use crate::scheme::{Encoding, Layout, TimestampSource};
    let enc = match s.encoding {
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
        Encoding::Base64Url => "base64url",
    };
    let names = s.header.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(" / ");
    let names = if s.every_header {
        format!("each of {names} (one per key)")
    } else if s.repeated_header {
        format!("{names}, once per key")
    } else {
        names
    };
    let ts_label = match s.timestamp.map(|t| t.source) {
        Some(TimestampSource::ListItem(l)) => Some(l),
        _ => None,
    };
    let layout = match s.layout {
        Layout::Single { prefix } if s.prefix_optional => format!("`[{prefix}]<sig>`"),
        Layout::Single { prefix } => format!("`{prefix}<sig>`"),
        Layout::List { separator, assign } => {
            let (sep, assign) = (char::from(separator), char::from(assign));
            let mut items: Vec<String> = ts_label.map(|l| format!("{l}{assign}<ts>")).into_iter().collect();
            items.extend(s.labels.iter().map(|l| format!("{l}{assign}<sig>")));
            if let Some((_, l)) = s.asymmetric {
                items.push(format!("{l}{assign}<sig>"));
            }
            match s.group_separator {
                Some(g) => {
                    format!("`{}`, one group per key separated by {:?}", items.join(&sep.to_string()), char::from(g))
                }
                None => format!("`{}` (several allowed)", items.join(&sep.to_string())),
            }
        }
        Layout::Leading { separator } => {
            let sep = char::from(separator);
            format!("`<ts>{sep}<sig>[{sep}<sig>…]`, one signature per key")
        }
    };
    let signed: String = s
        .message
        .iter()
        .map(|part| match part {
            Part::Id => "{id}".to_owned(),
            Part::Timestamp => "{timestamp}".to_owned(),
            Part::Body => "{body}".to_owned(),
            Part::Url => "{url}".to_owned(),
            // Written as `\n`, so a line break cannot split the table row.
            Part::Literal(b) => String::from_utf8_lossy(b).replace('\n', "\\n"),
            Part::FormParams => "{each form parameter's name and value, sorted}".to_owned(),
            Part::EncodedPath => "{encoded path and query}".to_owned(),
            Part::SignedHeaders(h) => format!("{{the headers {h} names, name:value;…}}"),
            Part::SentAt(h) => format!("{{header {h}, as sent}}"),
        })
        .collect();
    let alg = |a: Algorithm| match a {
        HmacSha1 => "HMAC-SHA1",
        HmacSha256 => "HMAC-SHA256",
        HmacSha512 => "HMAC-SHA512",
        Algorithm::Ed25519 => "Ed25519",
        EcdsaP256Sha256 => "ECDSA P-256 SHA-256 (DER)",
    };
    let mut algorithm = format!("{}, {enc}", alg(s.algorithm));
    if let Some((a, l)) = s.asymmetric {
        algorithm.push_str(&format!("; `{l}`: {}", alg(a)));
    }
    let key = match s.key_format {
        KeyFormat::Utf8 => "UTF-8, as shown",
        KeyFormat::StandardWebhooks => "`whsec_` base64 (decoded); `whpk_` Ed25519",
        KeyFormat::WhsecOrUtf8 => "`whsec_` base64 (decoded), else UTF-8",
        KeyFormat::Ed25519Hex => "Ed25519 public key, hex",
        KeyFormat::Ed25519Base64 => "Ed25519 public key, base64",
        KeyFormat::Hex => "hex (decoded)",
        KeyFormat::P256Der => "P-256 public key, DER base64 or PEM",
        KeyFormat::JwtKey => "PEM RSA / EC public key, else UTF-8 HMAC key",
        KeyFormat::Nfkd => "UTF-8 after Unicode NFKD normalisation",
        KeyFormat::Base64 => "base64 (decoded)",
    };
    let timestamp = match s.timestamp {
        None => "none".to_owned(),
        Some(t) => {
            let place = match t.source {
                TimestampSource::Header(h) => format!("header `{}`", h.join("` / `")),
                TimestampSource::ListItem(l) => format!("item `{l}`"),
                TimestampSource::Leading => "the header's first item".to_owned(),
                TimestampSource::Json(path) => format!("body `{}`", path.join(".")),
            };
            let format = match t.format {
                TimeFormat::UnixSeconds => "unix s",
                TimeFormat::UnixMillis => "unix ms",
                TimeFormat::Rfc3339 => "RFC 3339",
            };
            let tolerance = s.tolerance.map_or_else(|| "not checked".to_owned(), |d| format!("{} s", d.as_secs()));
            format!("{place} ({format}), {tolerance}")
        }
    };
    let handshake = s.handshake.map_or_else(|| "none".to_owned(), |h| format!("{h:?}"));
    let source = if s.reference.is_empty() { "—".to_owned() } else { s.reference.to_owned() };
    [
        format!("{names}: {layout}"),
        format!("`{signed}`"),
        algorithm,
        key.to_owned(),
        timestamp,
        sources_text(s.id),
        sources_text(s.event_type),
        handshake,
        source,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut names: Vec<_> = Provider::all().iter().map(|p| p.name()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate provider names");
        for p in Provider::all() {
            assert_eq!(Provider::from_name(p.name()), Some(*p));
            if let Some(s) = p.scheme() {
                assert!(!s.reference().is_empty(), "{} names no source", p.name());
            }
        }
        assert_eq!(Provider::from_name("GitHub"), Some(GITHUB));
        assert_eq!(Provider::from_name("nope"), None);
    }
}
