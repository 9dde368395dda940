//! `CertificateFetcher` against a local HTTPS server whose certificate comes from a CA the
//! test makes: Amazon SNS and PayPal certificate URLs are pinned to it, and every rule is
//! checked: the URL refused before any connection, one fetch per URL then the cache, 503
//! for a missing, oversized, slow or unusable answer or an untrusted server, and an SNS
//! message verified end to end with the fetched certificate.

#![cfg(feature = "certificates")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rsa::signature::{SignatureEncoding, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_core::{providers, CertificateStore, Verifier, WebhookRequest};
use webhook_pipeline::CertificateFetcher;

const SNS_HOST: &str = "sns.eu-west-1.amazonaws.com";
const PAYPAL_HOST: &str = "api.paypal.com";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:orders";

/// An RSA key and its self-signed certificate in PEM: what SNS publishes.
fn signing_pair() -> (rsa::RsaPrivateKey, String) {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).unwrap();
    let cert = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::from(7u32),
        x509_cert::time::Validity::from_now(Duration::from_secs(3600)).unwrap(),
        x509_cert::name::Name::from_str("CN=sns.amazonaws.com").unwrap(),
        spki,
        &signer,
    )
    .unwrap()
    .build::<rsa::pkcs1v15::Signature>()
    .unwrap();
    (key, cert.to_pem(x509_cert::der::pem::LineEnding::LF).unwrap())
}

/// A local HTTPS server for both hosts, answering by path; it counts the requests.
struct Server {
    addr: SocketAddr,
    ca_pem: String,
    requests: Arc<AtomicUsize>,
}

async fn server(cert_pem: String) -> Server {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::default()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec![SNS_HOST.to_owned(), PAYPAL_HOST.to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
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
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, count, cert_pem) = (acceptor.clone(), count.clone(), cert_pem.clone());
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
                count.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let (status, body): (&str, Vec<u8>) = match path.as_str() {
                    "/cert.pem" | "/v1/notifications/certs/CERT-1" => ("200 OK", cert_pem.into_bytes()),
                    "/junk.pem" => ("200 OK", b"not a certificate".to_vec()),
                    p if p.starts_with("/?Action=ConfirmSubscription") => ("200 OK", b"<Confirmed/>".to_vec()),
                    "/big.pem" => ("200 OK", vec![b'A'; 200 * 1024]),
                    "/slow.pem" => {
                        // Longer than the fetcher's limit in the test; bounded all the same.
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        ("200 OK", cert_pem.into_bytes())
                    }
                    _ => ("404 Not Found", b"no".to_vec()),
                };
                let head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server { addr, ca_pem: ca.pem(), requests }
}

fn fetcher(server: &Server) -> CertificateFetcher {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(server.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    CertificateFetcher::builder()
        .root_certificates(roots)
        .timeout(Duration::from_millis(1500))
        .max_size(16 * 1024)
        .resolve(SNS_HOST, server.addr)
        .resolve(PAYPAL_HOST, server.addr)
        .build()
        .unwrap()
}

/// An SNS notification naming `cert_url`, signed (SignatureVersion 2) with `key`.
fn sns_message(key: &rsa::RsaPrivateKey, cert_url: &str) -> Vec<u8> {
    let mut msg = serde_json::json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": "hello",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
    });
    let data: String = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        .iter()
        .filter_map(|f| msg.get(*f).and_then(|v| v.as_str()).map(|v| format!("{f}\n{v}\n")))
        .collect();
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(data.as_bytes()).to_vec();
    msg["Signature"] = base64::engine::general_purpose::STANDARD.encode(sig).into();
    serde_json::to_vec(&msg).unwrap()
}

const NO_HEADERS: [(&str, &str); 0] = [];

#[tokio::test]
async fn sns_certificate_is_fetched_once_then_verifies() {
    let (key, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    let verifier =
        Verifier::builder(providers::AWS_SNS).secret(TOPIC).certificates(Arc::new(fetcher.clone())).build().unwrap();
    let url = format!("https://{SNS_HOST}/cert.pem");
    let body = sns_message(&key, &url);
    let req = WebhookRequest::new(&NO_HEADERS, body.clone());
    // Before the fetch the store has nothing: verify refuses.
    assert!(verifier.verify(&req, SystemTime::now()).is_err());
    fetcher.prepare(verifier.provider(), &req).await.unwrap();
    assert!(fetcher.certificate(&url).is_some());
    let delivery = verifier.verify(&req, SystemTime::now()).unwrap();
    assert_eq!(delivery.id(), Some("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"));
    // Cached: no second request, and concurrent deliveries share it.
    let again = futures_util::future::join_all((0..5).map(|_| fetcher.prepare(providers::AWS_SNS, &req))).await;
    assert!(again.iter().all(Result::is_ok));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn urls_that_are_not_the_providers_are_refused_before_any_connection() {
    let (key, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    for url in [
        "https://attacker.example/cert.pem".to_owned(),
        format!("http://{SNS_HOST}/cert.pem"),
        format!("https://{SNS_HOST}:8443/cert.pem"),
        format!("https://{SNS_HOST}/cert.txt"),
        format!("https://user@{SNS_HOST}/cert.pem"),
        "https://sns.eu-west-1.amazonaws.com.attacker.example/cert.pem".to_owned(),
    ] {
        let req = WebhookRequest::new(&NO_HEADERS, sns_message(&key, &url));
        let e = fetcher.prepare(providers::AWS_SNS, &req).await.unwrap_err();
        assert!(e.is_refused(), "{url}: {e}");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{url}");
    }
    // No URL at all, and a body that is not JSON.
    for body in [&b"{}"[..], b"not json"] {
        let e = fetcher.prepare(providers::AWS_SNS, &WebhookRequest::new(&NO_HEADERS, body.to_vec())).await;
        assert_eq!(e.unwrap_err().status(), http::StatusCode::BAD_REQUEST);
    }
    // PayPal: the header must name a paypal.com HTTPS URL.
    for url in ["https://paypal.com.attacker.example/cert", "http://api.paypal.com/cert"] {
        let headers = [("PAYPAL-CERT-URL", url)];
        let e = fetcher.prepare(providers::PAYPAL, &WebhookRequest::new(&headers, &b"{}"[..])).await.unwrap_err();
        assert!(e.is_refused(), "{url}: {e}");
    }
    let e = fetcher.prepare(providers::PAYPAL, &WebhookRequest::new(&NO_HEADERS, &b"{}"[..])).await.unwrap_err();
    assert!(e.is_refused());
    // A provider without certificates needs nothing.
    fetcher.prepare(providers::GITHUB, &WebhookRequest::new(&NO_HEADERS, &b"{}"[..])).await.unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 0, "nothing may be fetched");
}

#[tokio::test]
async fn answers_that_are_not_a_certificate_in_time_are_503() {
    let (key, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    for path in ["missing.pem", "junk.pem", "big.pem", "slow.pem"] {
        let url = format!("https://{SNS_HOST}/{path}");
        let req = WebhookRequest::new(&NO_HEADERS, sns_message(&key, &url));
        let e = fetcher.prepare(providers::AWS_SNS, &req).await.unwrap_err();
        assert!(e.is_unavailable(), "{path}: {e}");
        assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(fetcher.certificate(&url).is_none(), "{path} was cached");
    }
}

#[tokio::test]
async fn a_server_outside_the_trusted_roots_is_503() {
    let (key, pem) = signing_pair();
    let server = server(pem).await;
    // Mozilla's roots: the test CA is not among them.
    let fetcher = CertificateFetcher::builder().resolve(SNS_HOST, server.addr).build().unwrap();
    let req = WebhookRequest::new(&NO_HEADERS, sns_message(&key, &format!("https://{SNS_HOST}/cert.pem")));
    let e = fetcher.prepare(providers::AWS_SNS, &req).await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 0, "no request may be sent over an untrusted connection");
}

#[tokio::test]
async fn paypal_certificate_url_is_fetched() {
    let (_, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    let url = format!("https://{PAYPAL_HOST}/v1/notifications/certs/CERT-1");
    let headers = [("PAYPAL-CERT-URL", url.as_str())];
    fetcher.prepare(providers::PAYPAL, &WebhookRequest::new(&headers, &b"{}"[..])).await.unwrap();
    assert!(fetcher.certificate(&url).is_some());
}

#[tokio::test]
async fn as_an_endpoint_hook_it_answers_400_and_503_before_anything_is_claimed() {
    use webhook_core::prepare::Prepare;
    use webhook_core::receive::Endpoint;
    let (key, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    let verifier =
        Verifier::builder(providers::AWS_SNS).secret(TOPIC).certificates(Arc::new(fetcher.clone())).build().unwrap();
    let endpoint = Endpoint::new(verifier).with_prepare(Arc::new(fetcher.clone()));
    let now = SystemTime::now();
    let foreign = sns_message(&key, "https://attacker.example/cert.pem");
    let req = WebhookRequest::new(&NO_HEADERS, foreign.clone());
    let e = Prepare::prepare(&fetcher, providers::AWS_SNS, &req).await.unwrap_err();
    assert!(e.is_refused() && e.verify_error().is_some(), "{e}");
    let o = endpoint.receive(&WebhookRequest::new(&NO_HEADERS, foreign), now).await;
    assert_eq!((o.status().as_u16(), o.label()), (400, "malformed"));
    let missing = sns_message(&key, &format!("https://{SNS_HOST}/missing.pem"));
    let o = endpoint.receive(&WebhookRequest::new(&NO_HEADERS, missing), now).await;
    assert_eq!((o.status().as_u16(), o.label()), (503, "unavailable"));
    assert_eq!(
        o.body().as_ref(),
        format!(r#"{{"error":"the signing certificate could not be fetched from {SNS_HOST}; retry later"}}"#)
            .as_bytes()
    );
    let good = sns_message(&key, &format!("https://{SNS_HOST}/cert.pem"));
    let o = endpoint.receive(&WebhookRequest::new(&NO_HEADERS, good), now).await;
    assert_eq!(o.label(), "accepted");
    assert_eq!(server.requests.load(Ordering::SeqCst), 2, "the missing certificate, then the good one");
}

#[tokio::test]
async fn an_sns_subscription_is_confirmed_on_an_sns_host_only() {
    let (_, pem) = signing_pair();
    let server = server(pem).await;
    let fetcher = fetcher(&server);
    let confirmation = |url: &str| {
        serde_json::to_vec(&serde_json::json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "m-1",
            "TopicArn": TOPIC,
            "SubscribeURL": url,
        }))
        .unwrap()
    };
    let ok = confirmation(&format!("https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"));
    assert!(fetcher.confirm_subscription(&ok).await.unwrap());
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    for url in ["https://attacker.example/?Action=ConfirmSubscription", "http://sns.eu-west-1.amazonaws.com/?x=1"] {
        let e = fetcher.confirm_subscription(&confirmation(url)).await.unwrap_err();
        assert!(e.is_refused(), "{url}: {e}");
    }
    // A 404 is not a confirmation: retry later.
    let e = fetcher.confirm_subscription(&confirmation(&format!("https://{SNS_HOST}/other"))).await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    // Not a confirmation at all: nothing to do.
    assert!(!fetcher.confirm_subscription(br#"{"Type":"Notification"}"#).await.unwrap());
    assert!(!fetcher.confirm_subscription(b"not json").await.unwrap());
    assert_eq!(server.requests.load(Ordering::SeqCst), 2, "only the SNS host was asked");
}
