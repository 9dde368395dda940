//! Fixed, valid deliveries for the targeted parsers: the target replaces one field (the
//! signature header, the timestamp) with fuzz data and keeps the rest, so every input
//! reaches that field's parser with everything around it well-formed.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use webhook_core::{providers, Provider, SignRequest, Verifier};

use crate::configs::{self, TEST_SECRET, WHSEC_A, WHSK};
use crate::oracle::{hmac_sha256, B64};

/// The clock of the fixed deliveries (2023-11-14).
pub const NOW_SECS: u64 = 1_700_000_000;

/// Splits a fuzz input: its first byte picks one of `items` (modulo their number), the
/// rest is the input proper. `None` for an empty input.
pub fn pick<'a, T>(items: &'a [T], data: &'a [u8]) -> Option<(&'a T, &'a [u8])> {
    let (&sel, rest) = data.split_first()?;
    Some((&items[usize::from(sel) % items.len()], rest))
}

/// [`NOW_SECS`] as a time.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// A JSON body every provider accepts: an id and a type where the JSON-reading providers
/// look, and Linear's millisecond `webhookTimestamp` and Klaviyo's `meta.timestamp` equal
/// to [`NOW_SECS`].
pub const BODY: &[u8] = br#"{"id":"evt_1","event_id":"evt_1","type":"ping","event":{"id":"e1","event_type":"x"},"webhookTimestamp":1700000000000,"meta":{"timestamp":"2023-11-14T22:13:20.000000+00:00"}}"#;

fn single_key(provider: Provider, key: &str) -> Verifier {
    Verifier::new(provider, key).unwrap()
}

// ---------------------------------------------------------------------------------------
// `t=…,v1=…` lists: Stripe, Paddle, PagerDuty.

/// A list-layout provider and how its header reads, from docs/PROVIDERS.md.
pub struct ListScheme {
    /// The provider's name.
    pub name: &'static str,
    /// A verifier with the one key below.
    pub verifier: Verifier,
    /// The shared secret (used as UTF-8).
    pub key: &'static [u8],
    /// The signature header.
    pub header: &'static str,
    /// Between items.
    pub separator: u8,
    /// Between an item's label and value.
    pub assign: u8,
    /// The label of a signature item.
    pub sig_label: &'static [u8],
    /// The label of the timestamp item, if the scheme signs one.
    pub ts_label: Option<&'static [u8]>,
    /// Between the timestamp and the body in the signed message.
    pub ts_joiner: &'static [u8],
}

/// The list-layout providers.
pub fn list_schemes() -> &'static [ListScheme] {
    static ALL: OnceLock<Vec<ListScheme>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            ListScheme {
                name: "stripe",
                verifier: single_key(providers::STRIPE, "webhook_secret"),
                key: b"webhook_secret",
                header: "Stripe-Signature",
                separator: b',',
                assign: b'=',
                sig_label: b"v1",
                ts_label: Some(b"t"),
                ts_joiner: b".",
            },
            ListScheme {
                name: "paddle",
                verifier: single_key(providers::PADDLE, "VALID_SECRET"),
                key: b"VALID_SECRET",
                header: "Paddle-Signature",
                separator: b';',
                assign: b'=',
                sig_label: b"h1",
                ts_label: Some(b"ts"),
                ts_joiner: b":",
            },
            ListScheme {
                name: "pagerduty",
                verifier: single_key(providers::PAGERDUTY, "pd_secret"),
                key: b"pd_secret",
                header: "X-PagerDuty-Signature",
                separator: b',',
                assign: b'=',
                sig_label: b"v1",
                ts_label: None,
                ts_joiner: b"",
            },
        ]
    })
}

impl ListScheme {
    /// The signature over [`BODY`] at timestamp text `ts`.
    pub fn mac(&self, ts: &[u8]) -> [u8; 32] {
        match self.ts_label {
            Some(_) => hmac_sha256(self.key, &[ts, self.ts_joiner, BODY]),
            None => hmac_sha256(self.key, &[BODY]),
        }
    }

    /// A valid header value at timestamp `ts` (for seeds).
    pub fn valid_header(&self, ts: &str) -> String {
        let sig = hex::encode(self.mac(ts.as_bytes()));
        let (sep, assign) = (char::from(self.separator), char::from(self.assign));
        let sig_label = std::str::from_utf8(self.sig_label).unwrap();
        match self.ts_label {
            Some(l) => format!("{}{assign}{ts}{sep}{sig_label}{assign}{sig}", std::str::from_utf8(l).unwrap()),
            None => format!("{sig_label}{assign}{sig}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Standard Webhooks' `v1,<b64> v1a,<b64>` space-separated lists.

/// The official Standard Webhooks vector's id, timestamp and body.
pub const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
/// The official vector's timestamp, also the clock of this fixture.
pub const SW_TS: u64 = 1_614_265_330;
/// The official vector's body.
pub const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;

/// A Standard-Webhooks-style provider with an HMAC key and (where the scheme takes one) an
/// Ed25519 key.
pub struct SpaceScheme {
    /// The provider's name.
    pub name: &'static str,
    /// Verifier with `WHSEC_A` and, if `asymmetric`, `WHSK`.
    pub verifier: Verifier,
    /// The signature header.
    pub header: &'static str,
    /// The id and timestamp headers.
    pub id_header: &'static str,
    /// The timestamp header.
    pub ts_header: &'static str,
    /// Whether `v1a` (Ed25519) items are read.
    pub asymmetric: bool,
    /// The valid `v1` signature bytes.
    pub v1: [u8; 32],
    /// The valid `v1a` signature bytes (signed by the core with `WHSK`), if asymmetric.
    pub v1a: Option<Vec<u8>>,
}

/// The space-list providers.
pub fn space_schemes() -> &'static [SpaceScheme] {
    static ALL: OnceLock<Vec<SpaceScheme>> = OnceLock::new();
    ALL.get_or_init(|| {
        let key = B64.decode(WHSEC_A.strip_prefix("whsec_").unwrap()).unwrap();
        let ts = SW_TS.to_string();
        let v1 = hmac_sha256(&key, &[SW_ID.as_bytes(), b".", ts.as_bytes(), b".", SW_BODY]);
        let row = |name, provider: Provider, header, id_header, ts_header, asymmetric: bool| {
            let mut b = Verifier::builder(provider).secret(WHSEC_A);
            if asymmetric {
                b = b.secret(WHSK);
            }
            let verifier = b.build().unwrap();
            let v1a = asymmetric.then(|| {
                let signer = Verifier::new(provider, WHSK).unwrap();
                let at = UNIX_EPOCH + Duration::from_secs(SW_TS);
                let signed = signer.sign(&SignRequest::new(SW_BODY, at).id(SW_ID)).unwrap();
                let value = signed.header(header).unwrap();
                B64.decode(value.strip_prefix("v1a,").unwrap()).unwrap()
            });
            SpaceScheme { name, verifier, header, id_header, ts_header, asymmetric, v1, v1a }
        };
        vec![
            row(
                "standard-webhooks",
                providers::STANDARD_WEBHOOKS,
                "webhook-signature",
                "webhook-id",
                "webhook-timestamp",
                true,
            ),
            row("svix", providers::SVIX, "svix-signature", "svix-id", "svix-timestamp", true),
            row("clerk", providers::CLERK, "svix-signature", "svix-id", "svix-timestamp", true),
            row("resend", providers::RESEND, "svix-signature", "svix-id", "svix-timestamp", true),
            row(
                "gitlab-signing",
                providers::GITLAB_SIGNING,
                "webhook-signature",
                "webhook-id",
                "webhook-timestamp",
                false,
            ),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// One signature after a fixed prefix: GitHub, Slack, Shopify, ..., Discord, SendGrid.

/// How a single signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal.
    Hex,
    /// Standard base64, padding optional.
    Base64,
}

/// A provider whose header holds one signature, with a valid delivery around it.
pub struct SingleScheme {
    /// Name (`github+sha1` for the legacy header).
    pub label: &'static str,
    /// The verifier (from [`configs`], variant 0).
    pub verifier: &'static Verifier,
    /// The signature header.
    pub header: &'static str,
    /// Text before the encoded signature.
    pub prefix: &'static str,
    /// How the signature is encoded.
    pub encoding: Encoding,
    /// The other headers of a valid delivery (id, timestamp, ...).
    pub others: Vec<(&'static str, String)>,
    /// The URL (Square).
    pub url: Option<&'static str>,
    /// The valid signature's bytes.
    pub expected: Vec<u8>,
    /// The valid header value.
    pub valid: String,
}

/// The single-signature providers.
pub fn single_schemes() -> &'static [SingleScheme] {
    static ALL: OnceLock<Vec<SingleScheme>> = OnceLock::new();
    ALL.get_or_init(|| {
        use Encoding::{Base64, Hex};
        let rows: &[(&str, &str, &str, Encoding)] = &[
            ("github", "X-Hub-Signature-256", "sha256=", Hex),
            ("github+sha1", "X-Hub-Signature", "sha1=", Hex),
            ("slack", "X-Slack-Signature", "v0=", Hex),
            ("shopify", "X-Shopify-Hmac-Sha256", "", Base64),
            ("zoom", "x-zm-signature", "v0=", Hex),
            ("linear", "Linear-Signature", "", Hex),
            ("twitch", "Twitch-Eventsub-Message-Signature", "sha256=", Hex),
            ("intercom", "X-Hub-Signature", "sha1=", Hex),
            ("bitbucket", "X-Hub-Signature", "sha256=", Hex),
            ("meta", "X-Hub-Signature-256", "sha256=", Hex),
            ("meta+sha1", "X-Hub-Signature", "sha1=", Hex),
            ("typeform", "Typeform-Signature", "sha256=", Base64),
            ("square@url", "x-square-hmacsha256-signature", "", Base64),
            ("discord", "X-Signature-Ed25519", "", Hex),
            ("sendgrid", "X-Twilio-Email-Event-Webhook-Signature", "", Base64),
        ];
        rows.iter()
            .map(|&(label, header, prefix, encoding)| {
                let cfg = &configs::all()[usize::from(configs::selector(label))];
                // One signing key, so the header carries the signature this row expects.
                let signer = match label {
                    "github+sha1" => Verifier::new(providers::GITHUB_SHA1, TEST_SECRET).unwrap(),
                    "meta+sha1" => Verifier::new(providers::META_SHA1, TEST_SECRET).unwrap(),
                    _ => cfg.verifier(0).clone(),
                };
                let url = cfg.url;
                let mut req = SignRequest::new(BODY, now()).id("delivery-1").event_type("ping");
                if let Some(u) = url {
                    req = req.url(u);
                }
                let signed = signer.sign(&req).unwrap();
                let valid = signed.header(header).unwrap().to_owned();
                let encoded = valid.strip_prefix(prefix).unwrap();
                let expected = match encoding {
                    Hex => hex::decode(encoded).unwrap(),
                    Base64 => B64.decode(encoded).unwrap(),
                };
                let others = signed
                    .headers()
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case(header))
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                SingleScheme {
                    label,
                    verifier: cfg.verifier(0),
                    header,
                    prefix,
                    encoding,
                    others,
                    url,
                    expected,
                    valid,
                }
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------
// Timestamps.

/// Where a timestamp goes and how the harness signs around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsMode {
    /// Slack: `X-Slack-Request-Timestamp`, `v0:{ts}:{body}`.
    Slack,
    /// Standard Webhooks: `webhook-timestamp`, `{id}.{ts}.{body}`.
    StandardWebhooks,
    /// Zoom: `x-zm-request-timestamp`, `v0:{ts}:{body}`.
    Zoom,
    /// Stripe: the `t=` item of `Stripe-Signature`, `{ts}.{body}`.
    Stripe,
    /// Paddle: the `ts=` item of `Paddle-Signature`, `{ts}:{body}`.
    Paddle,
    /// Twitch: RFC 3339 in `Twitch-Eventsub-Message-Timestamp`, `{id}{ts}{body}`.
    Twitch,
    /// Linear: the body's `webhookTimestamp` in milliseconds; the body is signed.
    Linear,
}

/// Every timestamp mode, in selector order.
pub const TS_MODES: &[TsMode] = &[
    TsMode::Slack,
    TsMode::StandardWebhooks,
    TsMode::Zoom,
    TsMode::Stripe,
    TsMode::Paddle,
    TsMode::Twitch,
    TsMode::Linear,
];

/// The secrets of the timestamp fixture.
pub const SLACK_KEY: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// Twitch's secret.
pub const TWITCH_KEY: &str = "secretabcd";

/// A verifier per timestamp mode (one key, default tolerance).
pub fn ts_verifier(mode: TsMode) -> &'static Verifier {
    static ALL: OnceLock<Vec<Verifier>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        TS_MODES
            .iter()
            .map(|m| match m {
                TsMode::Slack => single_key(providers::SLACK, SLACK_KEY),
                TsMode::StandardWebhooks => single_key(providers::STANDARD_WEBHOOKS, WHSEC_A),
                TsMode::Zoom => single_key(providers::ZOOM, TEST_SECRET),
                TsMode::Stripe => single_key(providers::STRIPE, "webhook_secret"),
                TsMode::Paddle => single_key(providers::PADDLE, "VALID_SECRET"),
                TsMode::Twitch => single_key(providers::TWITCH, TWITCH_KEY),
                TsMode::Linear => single_key(providers::LINEAR, TEST_SECRET),
            })
            .collect()
    });
    &all[TS_MODES.iter().position(|m| *m == mode).unwrap()]
}

/// The id header value used where the message signs one.
pub const TS_ID: &[u8] = b"msg_fuzz_1";

/// The request for `raw` in `mode`, signed by the harness over the raw timestamp bytes:
/// headers and body.
pub fn ts_request(mode: TsMode, raw: &[u8]) -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
    let hex_sig = |key: &[u8], parts: &[&[u8]]| hex::encode(hmac_sha256(key, parts)).into_bytes();
    let cat = |parts: &[&[u8]]| parts.concat();
    match mode {
        TsMode::Slack => (
            vec![
                ("X-Slack-Request-Timestamp", raw.to_vec()),
                ("X-Slack-Signature", cat(&[b"v0=", &hex_sig(SLACK_KEY.as_bytes(), &[b"v0:", raw, b":", BODY])])),
            ],
            BODY.to_vec(),
        ),
        TsMode::StandardWebhooks => {
            let key = B64.decode(WHSEC_A.strip_prefix("whsec_").unwrap()).unwrap();
            let sig =
                base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &[TS_ID, b".", raw, b".", BODY]));
            (
                vec![
                    ("webhook-id", TS_ID.to_vec()),
                    ("webhook-timestamp", raw.to_vec()),
                    ("webhook-signature", cat(&[b"v1,", sig.as_bytes()])),
                ],
                BODY.to_vec(),
            )
        }
        TsMode::Zoom => (
            vec![
                ("x-zm-request-timestamp", raw.to_vec()),
                ("x-zm-signature", cat(&[b"v0=", &hex_sig(TEST_SECRET.as_bytes(), &[b"v0:", raw, b":", BODY])])),
            ],
            BODY.to_vec(),
        ),
        TsMode::Stripe => (
            vec![("Stripe-Signature", cat(&[b"t=", raw, b",v1=", &hex_sig(b"webhook_secret", &[raw, b".", BODY])]))],
            BODY.to_vec(),
        ),
        TsMode::Paddle => (
            vec![("Paddle-Signature", cat(&[b"ts=", raw, b";h1=", &hex_sig(b"VALID_SECRET", &[raw, b":", BODY])]))],
            BODY.to_vec(),
        ),
        TsMode::Twitch => (
            vec![
                ("Twitch-Eventsub-Message-Id", TS_ID.to_vec()),
                ("Twitch-Eventsub-Message-Timestamp", raw.to_vec()),
                (
                    "Twitch-Eventsub-Message-Signature",
                    cat(&[b"sha256=", &hex_sig(TWITCH_KEY.as_bytes(), &[TS_ID, raw, BODY])]),
                ),
            ],
            BODY.to_vec(),
        ),
        TsMode::Linear => {
            let body = cat(&[br#"{"type":"Issue","webhookTimestamp":"#, raw, b"}"]);
            let sig = hex_sig(TEST_SECRET.as_bytes(), &[&body]);
            (vec![("Linear-Signature", sig), ("Linear-Delivery", TS_ID.to_vec())], body)
        }
    }
}
