//! Amazon SNS and PayPal over real HTTP against all three receivers: the signing
//! certificate each delivery names is fetched by the receiver from a local HTTPS server
//! whose TLS certificate comes from a CA this test makes. The receivers are started in this
//! process with a `CertificateFetcher` that resolves the providers' hosts to that server and
//! trusts that CA (`Receiver::start_with_certificates`); the host rule is the production
//! one. Checked: signed deliveries accepted (one fetch per certificate URL), a foreign
//! certificate URL refused with 400 before any connection, a certificate server that is
//! down answered 503 with nothing claimed or stored and the retry accepted once it is
//! back (and its failure remembered meanwhile), the downloads bounded in number, and an SNS
//! `SubscriptionConfirmation` confirmed by the worker, or, when the receiver publishes to
//! NATS JetStream or RabbitMQ, by the broker consumer's router.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use rsa::signature::{SignatureEncoding, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_pipeline::{
    CertificateFetcher, NatsConfig, NatsConsumer, NatsConsumerConfig, RabbitConfig, RabbitConsumer,
    RabbitConsumerConfig,
};
use webhook_tests::{send, service_url, Answer, Payload, Receiver};

mod support;

const SNS_HOST: &str = "sns.eu-west-1.amazonaws.com";
const PAYPAL_HOST: &str = "api.paypal.com";
/// A host that is not the provider's, pinned to the same server: a fetch from it would be
/// seen there.
const FOREIGN_HOST: &str = "attacker.example";
const LOOKALIKE_HOST: &str = "sns.eu-west-1.amazonaws.com.attacker.example";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";
const WEBHOOK_ID: &str = "1JE4291016473214C";
const ACCEPTED: &str = r#"{"status":"accepted"}"#;
const DUPLICATE: &str = r#"{"status":"duplicate"}"#;
/// How long the receivers' fetchers here remember a failed fetch (10 s by default): long
/// enough for the two requests between a failure and the retry that must find it
/// remembered, however loaded the machine.
const FAILURE_TTL: Duration = Duration::from_secs(3);
/// How long the server takes to answer a `/slow…` path: the time a second download has
/// to be refused in while the first one runs.
const SLOW: Duration = Duration::from_secs(3);

/// An RSA key and its self-signed certificate in PEM: what SNS and PayPal publish.
struct Pair {
    key: rsa::RsaPrivateKey,
    pem: String,
}

/// A 1024-bit key (fast to make in a debug build; the providers use 2048).
fn pair(cn: &str) -> Pair {
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

static SIGNER: LazyLock<Pair> = LazyLock::new(|| pair("sns.amazonaws.com"));
static OTHER: LazyLock<Pair> = LazyLock::new(|| pair("attacker.example"));

/// The local certificate server: every host above, answering by path. While `up` is
/// false it drops each connection at once, as a host that cannot be reached. It keeps the
/// path of every request it answered.
struct Server {
    addr: SocketAddr,
    ca_pem: String,
    up: Arc<AtomicBool>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::default()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let names = [SNS_HOST, PAYPAL_HOST, FOREIGN_HOST, LOOKALIKE_HOST].map(str::to_owned).to_vec();
        let server_cert = CertificateParams::new(names).unwrap().signed_by(&server_key, &issuer).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (is_up, seen) = (up.clone(), paths.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                if !is_up.load(Ordering::SeqCst) {
                    drop(tcp);
                    continue;
                }
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
                    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    seen.lock().unwrap().push(path.clone());
                    if path.starts_with("/slow") {
                        tokio::time::sleep(SLOW).await;
                    }
                    let (status, body): (&str, Vec<u8>) = match path.as_str() {
                        "/cert.pem" | "/v1/notifications/certs/CERT-1" | "/slow-1.pem" | "/slow-2.pem" => {
                            ("200 OK", SIGNER.pem.clone().into_bytes())
                        }
                        p if p.starts_with("/?Action=ConfirmSubscription") => {
                            ("200 OK", b"<ConfirmSubscriptionResponse/>".to_vec())
                        }
                        _ => ("404 Not Found", b"no".to_vec()),
                    };
                    let head =
                        format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { addr, ca_pem: ca.pem(), up, paths }
    }

    /// A fetcher that resolves every host above to this server and trusts its CA only, and
    /// remembers a failed fetch for [`FAILURE_TTL`].
    fn fetcher(&self) -> CertificateFetcher {
        self.fetcher_with(|b| b.failure_ttl(FAILURE_TTL))
    }

    /// The same, with other settings.
    fn fetcher_with(
        &self,
        settings: impl FnOnce(webhook_pipeline::CertificateFetcherBuilder) -> webhook_pipeline::CertificateFetcherBuilder,
    ) -> CertificateFetcher {
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut builder = CertificateFetcher::builder().root_certificates(roots).timeout(Duration::from_secs(2));
        for host in [SNS_HOST, PAYPAL_HOST, FOREIGN_HOST, LOOKALIKE_HOST] {
            builder = builder.resolve(host, self.addr);
        }
        settings(builder).build().unwrap()
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// The paths requested, once `path` is among them or after 10 s (whoever handles the
    /// event, a worker or a broker consumer, does so within a few polls).
    async fn paths_once_seen(&self, path: &str) -> Vec<String> {
        for _ in 0..100 {
            let seen = self.paths();
            if seen.iter().any(|p| p == path) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.paths()
    }
}

/// A receiver serving `/webhooks/aws-sns` and `/webhooks/paypal` with `server`'s fetcher.
async fn receiver(kind: Receiver, server: &Server) -> SocketAddr {
    let vars = [("AWS_SNS_WEBHOOK_SECRET", TOPIC), ("PAYPAL_WEBHOOK_SECRET", WEBHOOK_ID)];
    kind.start_with_certificates(&vars, Some(server.fetcher())).await
}

/// An SNS message of type `kind` naming `cert_url`, signed (SignatureVersion 2) by `pair`.
fn sns(pair: &Pair, kind: &str, id: &str, cert_url: &str) -> Bytes {
    let mut msg = serde_json::json!({
        "Type": kind,
        "MessageId": id,
        "TopicArn": TOPIC,
        "Message": "hello",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
    });
    let mut fields = vec!["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"];
    if kind == "SubscriptionConfirmation" {
        msg["Token"] = "2336412f".into();
        msg["SubscribeURL"] =
            format!("https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f").into();
        fields = vec!["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
    }
    let data: String =
        fields.iter().filter_map(|f| msg.get(*f).and_then(|v| v.as_str()).map(|v| format!("{f}\n{v}\n"))).collect();
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(pair.key.clone()).sign(data.as_bytes()).to_vec();
    msg["Signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
    Bytes::from(serde_json::to_vec(&msg).unwrap())
}

/// A PayPal delivery naming `cert_url`, signed by `pair`: headers and body.
fn paypal(pair: &Pair, id: &str, cert_url: &str) -> (Vec<(String, String)>, Bytes) {
    let body =
        format!(r#"{{"id":"{id}","event_version":"1.0","event_type":"PAYMENT.SALE.COMPLETED","resource":{{}}}}"#);
    let (tid, time) = ("b2384410-f8d2-11e3-bfe8-4bae1b0d7fb2", "2023-11-14T22:13:20Z");
    let data = format!("{tid}|{time}|{WEBHOOK_ID}|{}", crc32fast::hash(body.as_bytes()));
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(pair.key.clone()).sign(data.as_bytes()).to_vec();
    let headers = vec![
        ("PAYPAL-TRANSMISSION-ID".into(), tid.into()),
        ("PAYPAL-TRANSMISSION-TIME".into(), time.into()),
        ("PAYPAL-TRANSMISSION-SIG".into(), base64::engine::general_purpose::STANDARD.encode(sig)),
        ("PAYPAL-CERT-URL".into(), cert_url.into()),
        ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
        ("Content-Type".into(), "application/json".into()),
    ];
    (headers, Bytes::from(body))
}

async fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: Bytes) -> Answer {
    send(addr, Method::POST, path, headers, Payload::Sized(body)).await
}

async fn post_sns(addr: SocketAddr, body: Bytes) -> Answer {
    let headers = [("Content-Type".to_owned(), "text/plain; charset=UTF-8".to_owned())];
    post(addr, "/webhooks/aws-sns", &headers, body).await
}

fn sns_cert() -> String {
    format!("https://{SNS_HOST}/cert.pem")
}

fn paypal_cert() -> String {
    format!("https://{PAYPAL_HOST}/v1/notifications/certs/CERT-1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_sns_and_paypal_deliveries_are_accepted_with_the_fetched_certificates() {
    for kind in Receiver::ALL {
        let server = Server::start().await;
        let addr = receiver(kind, &server).await;
        let note = sns(&SIGNER, "Notification", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", &sns_cert());
        let a = post_sns(addr, note.clone()).await;
        assert_eq!((a.status, a.body.as_str()), (200, ACCEPTED), "{kind:?}: {a:?}");
        let again = post_sns(addr, note).await;
        assert_eq!((again.status, again.body.as_str()), (200, DUPLICATE), "{kind:?}: {again:?}");

        let (headers, body) = paypal(&SIGNER, "WH-2WR32451HC0233532-67976317FL4543714", &paypal_cert());
        let a = post(addr, "/webhooks/paypal", &headers, body).await;
        assert_eq!((a.status, a.body.as_str()), (200, ACCEPTED), "{kind:?}: {a:?}");
        // One fetch per certificate URL; the duplicate used the cache.
        assert_eq!(server.paths(), ["/cert.pem", "/v1/notifications/certs/CERT-1"], "{kind:?}");

        // Signed by another key, naming the same certificate: the signature is refused.
        let forged = post_sns(addr, sns(&OTHER, "Notification", "forged-1", &sns_cert())).await;
        assert_eq!(forged.status, 401, "{kind:?}: {forged:?}");
        let (headers, body) = paypal(&OTHER, "WH-FORGED", &paypal_cert());
        let forged = post(addr, "/webhooks/paypal", &headers, body).await;
        assert_eq!(forged.status, 401, "{kind:?}: {forged:?}");
        assert_eq!(server.paths().len(), 2, "{kind:?}: still cached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_url_on_a_foreign_host_is_400_and_nothing_is_fetched() {
    for kind in Receiver::ALL {
        let server = Server::start().await;
        let addr = receiver(kind, &server).await;
        for url in [
            format!("https://{FOREIGN_HOST}/cert.pem"),
            format!("https://{LOOKALIKE_HOST}/cert.pem"),
            format!("http://{SNS_HOST}/cert.pem"),
            format!("https://{SNS_HOST}:{}/cert.pem", server.addr.port()),
        ] {
            let a = post_sns(addr, sns(&SIGNER, "Notification", "foreign-1", &url)).await;
            assert_eq!(a.status, 400, "{kind:?} {url}: {a:?}");
            assert!(a.body.contains("SigningCertURL"), "{kind:?} {url}: {}", a.body);
        }
        for url in [format!("https://{FOREIGN_HOST}/v1/notifications/certs/CERT-1"), "https://127.0.0.1/c".into()] {
            let (headers, body) = paypal(&SIGNER, "WH-FOREIGN", &url);
            let a = post(addr, "/webhooks/paypal", &headers, body).await;
            assert_eq!(a.status, 400, "{kind:?} {url}: {a:?}");
            assert!(a.body.contains("PAYPAL-CERT-URL"), "{kind:?} {url}: {}", a.body);
        }
        assert_eq!(server.paths(), Vec::<String>::new(), "{kind:?}: nothing may be fetched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_server_that_is_down_is_503_and_the_retry_once_it_is_back_is_accepted() {
    for kind in Receiver::ALL {
        let server = Server::start().await;
        let addr = receiver(kind, &server).await;
        server.up.store(false, Ordering::SeqCst);
        let note = sns(&SIGNER, "Notification", "retry-1", &sns_cert());
        let down = post_sns(addr, note.clone()).await;
        assert_eq!(down.status, 503, "{kind:?}: {down:?}");
        assert_eq!(
            down.body,
            format!(r#"{{"error":"the signing certificate could not be fetched from {SNS_HOST}; retry later"}}"#),
            "{kind:?}"
        );
        let (headers, body) = paypal(&SIGNER, "WH-RETRY-1", &paypal_cert());
        let paypal_down = post(addr, "/webhooks/paypal", &headers, body.clone()).await;
        assert_eq!(paypal_down.status, 503, "{kind:?}: {paypal_down:?}");
        // Back: the provider's retries are new deliveries (nothing was claimed or stored).
        server.up.store(true, Ordering::SeqCst);
        // A retry while the failure is remembered is 503 again, with no connection made.
        let early = post_sns(addr, note.clone()).await;
        assert_eq!(early.status, 503, "{kind:?}: {early:?}");
        assert!(server.paths().is_empty(), "{kind:?}: {:?}", server.paths());
        tokio::time::sleep(FAILURE_TTL + Duration::from_millis(100)).await;
        let retry = post_sns(addr, note).await;
        assert_eq!((retry.status, retry.body.as_str()), (200, ACCEPTED), "{kind:?}: {retry:?}");
        let retry = post(addr, "/webhooks/paypal", &headers, body).await;
        assert_eq!((retry.status, retry.body.as_str()), (200, ACCEPTED), "{kind:?}: {retry:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_subscription_confirmation_is_accepted_and_confirmed_by_the_worker() {
    for kind in Receiver::ALL {
        let server = Server::start().await;
        let addr = receiver(kind, &server).await;
        let confirmation =
            sns(&SIGNER, "SubscriptionConfirmation", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", &sns_cert());
        let a = post_sns(addr, confirmation).await;
        assert_eq!((a.status, a.body.as_str()), (200, ACCEPTED), "{kind:?}: {a:?}");
        let confirm = format!("/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f");
        let seen = server.paths_once_seen(&confirm).await;
        assert_eq!(seen, ["/cert.pem", confirm.as_str()], "{kind:?}: the certificate, then the confirmation");
        // A notification is not confirmed: only its certificate (cached) is needed.
        let a = post_sns(addr, sns(&SIGNER, "Notification", "after-confirm", &sns_cert())).await;
        assert_eq!(a.status, 200, "{kind:?}: {a:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.paths().len(), 2, "{kind:?}");
    }
}

/// Through a broker: the receiver verifies the confirmation (fetching its certificate) and
/// publishes it; nothing in the receiver confirms it. The broker consumer's router
/// (`consumer_router`, what `examples/broker-consumer` runs) takes it from NATS JetStream,
/// then from RabbitMQ, and confirms the subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_subscription_confirmation_through_a_broker_is_confirmed_by_the_consumer() {
    let test = "an_sns_subscription_confirmation_through_a_broker_is_confirmed_by_the_consumer";
    let (Some(nats), Some(amqp)) =
        (service_url("WEBHOOK_TEST_NATS_URL", test), service_url("WEBHOOK_TEST_AMQP_URL", test))
    else {
        return;
    };
    let confirm = format!("/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f");
    for url in [nats, amqp] {
        let server = Server::start().await;
        let name = support::unique("sns-confirm");
        let vars =
            [("AWS_SNS_WEBHOOK_SECRET", TOPIC), ("WEBHOOK_SINK", url.as_str()), ("WEBHOOK_SINK_NAME", name.as_str())];
        let addr = Receiver::Axum.start_with_certificates(&vars, Some(server.fetcher())).await;
        let confirmation = sns(&SIGNER, "SubscriptionConfirmation", &name, &sns_cert());
        let a = post_sns(addr, confirmation).await;
        assert_eq!((a.status, a.body.as_str()), (200, ACCEPTED), "{url}: {a:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.paths(), ["/cert.pem"], "{url}: published, confirmed by nobody yet");
        let router = receiver_common::handled::consumer_router(server.fetcher());
        let stream = name.to_ascii_uppercase().replace('-', "_");
        let nats = url.starts_with("nats");
        let (nats_consumer, rabbit_consumer) = if nats {
            let config = NatsConsumerConfig::new(NatsConfig::default().named(&stream, &name)).durable("confirm");
            (Some(NatsConsumer::start(&url, router, config).await.unwrap()), None)
        } else {
            let config = RabbitConsumerConfig::new(RabbitConfig::named(&name));
            (None, Some(RabbitConsumer::start(&url, router, config).await.unwrap()))
        };
        let seen = server.paths_once_seen(&confirm).await;
        assert_eq!(seen, ["/cert.pem", confirm.as_str()], "{url}: the certificate, then the confirmation");
        if let Some(consumer) = nats_consumer {
            consumer.shutdown().await;
            support::delete_nats(&url, &stream).await;
            support::delete_nats(&url, &format!("{stream}_DEAD")).await;
        }
        if let Some(consumer) = rabbit_consumer {
            consumer.shutdown().await;
            support::delete_rabbit(&url, &name).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_is_remembered_and_downloads_are_bounded_in_number() {
    let server = Server::start().await;
    // A time limit well past the slow answer: the slow download must succeed.
    let fetcher = server.fetcher_with(|b| b.failure_ttl(Duration::from_secs(60)).max_fetches(1).timeout(SLOW * 3));
    let provider = webhook_core::providers::AWS_SNS;
    let prepare = |body: Bytes| {
        let fetcher = fetcher.clone();
        async move {
            let headers: [(&str, &str); 0] = [];
            fetcher.prepare(provider, &webhook_core::WebhookRequest::new(&headers, body)).await
        }
    };
    // A made-up certificate path on the provider's host: fetched once, 404, a 503.
    let missing = sns(&SIGNER, "Notification", "m-1", &format!("https://{SNS_HOST}/made-up-1.pem"));
    let first = prepare(missing.clone()).await.unwrap_err();
    assert!(first.is_unavailable() && first.to_string().contains("status 404"), "{first}");
    assert_eq!(server.paths(), ["/made-up-1.pem"]);
    // Named again: the failure is remembered, no connection is made.
    let again = prepare(missing).await.unwrap_err();
    assert!(again.is_unavailable() && again.to_string().contains("not fetched again"), "{again}");
    assert_eq!(server.paths(), ["/made-up-1.pem"]);

    // One download at a time: a second URL while the first is being served is 503 at once.
    let slow = tokio::spawn(prepare(sns(&SIGNER, "Notification", "s-1", &format!("https://{SNS_HOST}/slow-1.pem"))));
    for _ in 0..250 {
        if server.paths().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.paths(), ["/made-up-1.pem", "/slow-1.pem"], "the slow download has begun");
    let busy = prepare(sns(&SIGNER, "Notification", "s-2", &format!("https://{SNS_HOST}/slow-2.pem"))).await;
    let busy = busy.unwrap_err();
    assert!(busy.is_unavailable() && busy.to_string().contains("1 certificate downloads are running"), "{busy}");
    assert!(!slow.is_finished(), "answered while the first download still ran");
    slow.await.unwrap().unwrap();
    // The refusal for being busy is not remembered as the URL's failure: it is fetched now.
    prepare(sns(&SIGNER, "Notification", "s-2", &format!("https://{SNS_HOST}/slow-2.pem"))).await.unwrap();
    assert_eq!(server.paths(), ["/made-up-1.pem", "/slow-1.pem", "/slow-2.pem"]);
}
