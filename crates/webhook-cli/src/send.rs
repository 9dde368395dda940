//! `webhook send`: sign a body and POST it over HTTP or HTTPS (rustls) with hyper's client,
//! reading at most [`MAX_RESPONSE`] bytes of the answer.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use webhook_core::providers;

use crate::cli::SendArgs;
use crate::output::{self, Failure};
use crate::sign::{self, Signer};

/// The most of a response body read; the rest is left unread.
pub(crate) const MAX_RESPONSE: usize = 1024 * 1024;

/// What came back.
struct Response {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
    truncated: bool,
}

/// `webhook send`: exit code 0 for a 2xx answer, 1 for any other.
pub(crate) fn run(args: &SendArgs) -> Result<ExitCode, Failure> {
    let signer = Signer::new(&args.signing)?;
    let uri = sign::check_url(&args.url)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(Failure::usage("bad --url: only http:// and https:// are supported"));
    }
    let tls = tls_config(args)?;
    if args.insecure {
        eprintln!("warning: --insecure: the receiver's certificate is not checked");
    }
    let extra = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    if args.timeout == 0 {
        return Err(Failure::usage("bad --timeout: at least 1 second"));
    }
    let body = sign::read_body(Some(&args.file))?;
    let url = signer.delivery_url(&args.url, &body);
    let signed = signer.sign(&body, Some(&url))?;
    let request = build_request(&signer, &url, &signed, extra)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let timeout = Duration::from_secs(args.timeout);
    let response = runtime.block_on(async {
        tokio::time::timeout(timeout, post(request, timeout, tls))
            .await
            .map_err(|_| Failure::runtime(format!("no complete response from {url} within {} s", args.timeout)))?
    })?;

    let ok = response.status.is_success();
    if args.json {
        let headers: serde_json::Map<String, serde_json::Value> = response
            .headers
            .keys()
            .map(|name| {
                let values: Vec<String> = response
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                (name.as_str().to_owned(), values.join(", ").into())
            })
            .collect();
        let (encoding, text) = output::body_json(&response.body);
        output::print_json(&serde_json::json!({
            "url": url,
            "status": response.status.as_u16(),
            "ok": ok,
            "headers": headers,
            "body": text,
            "body_encoding": encoding,
            "truncated": response.truncated,
        }))?;
    } else {
        let mut text =
            format!("HTTP {} {}\n", response.status.as_u16(), response.status.canonical_reason().unwrap_or_default());
        match std::str::from_utf8(&response.body) {
            Ok(b) if !b.is_empty() => {
                text.push_str(&output::printable(b));
                if !b.ends_with('\n') {
                    text.push('\n');
                }
            }
            Ok(_) => {}
            Err(_) => text.push_str(&format!("[{} bytes of binary data not shown]\n", response.body.len())),
        }
        output::write_stdout(text.as_bytes())?;
    }
    if response.truncated {
        eprintln!("note: only the first {MAX_RESPONSE} bytes of the response body were read");
    }
    if url != args.url {
        eprintln!("note: posted to {url} (Twilio signs a JSON body through bodySHA256 in the URL)");
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `Name: value` from `--header`. The message names the header but never shows the value,
/// which may be a credential.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), Failure> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(Failure::usage("bad --header: expected 'Name: value'"));
    };
    let name = name.trim();
    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Failure::usage(format!("bad --header: {:?} is not a valid header name", output::cell(name, 64)))
    })?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        Failure::usage(format!("bad --header {header}: the value has characters a header cannot carry"))
    })?;
    Ok((header, value))
}

/// The POST: the signed headers, replaced by any `--header` of the same name, a
/// Content-Type and a User-Agent unless given, and the signed body.
fn build_request(
    signer: &Signer,
    url: &str,
    signed: &webhook_core::Signed,
    extra: Vec<(HeaderName, HeaderValue)>,
) -> Result<http::Request<Full<Bytes>>, Failure> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in signed.headers() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::runtime(format!("the signed header name {name:?} is not valid")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Failure::runtime(format!("the signed header {name} has characters a header cannot carry")))?;
        headers.append(name, value);
    }
    for name in extra.iter().map(|(n, _)| n) {
        headers.remove(name);
    }
    for (name, value) in extra {
        headers.append(name, value);
    }
    if !headers.contains_key(CONTENT_TYPE) {
        let form = signer.provider == providers::TWILIO && !sign::is_json(signed.body());
        let content_type = if form { "application/x-www-form-urlencoded" } else { "application/json" };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("webhook-cli/", env!("CARGO_PKG_VERSION"))));
    }
    let mut request = http::Request::post(url)
        .body(Full::new(signed.body().clone()))
        .map_err(|e| Failure::usage(format!("bad --url: {e}")))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The TLS settings for https://: the public webpki roots, the CA certificates of
/// `--cacert`, or no check at all with `--insecure`.
fn tls_config(args: &SendArgs) -> Result<rustls::ClientConfig, Failure> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::runtime(format!("TLS: {e}")))?;
    if args.insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match &args.cacert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Failure::usage(format!("bad --cacert {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Failure::usage(format!("bad --cacert {}: no certificate in it", path.display())));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| Failure::usage(format!("bad --cacert {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `--insecure`: accepts any certificate. The handshake's signatures are still checked
/// with the certificate presented, so the connection is encrypted to whoever holds it.
#[derive(Debug)]
struct NoCertificateCheck(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Sends `request` and reads at most [`MAX_RESPONSE`] bytes of the answer.
async fn post(
    request: http::Request<Full<Bytes>>,
    connect_timeout: Duration,
    tls: rustls::ClientConfig,
) -> Result<Response, Failure> {
    let url = request.uri().to_string();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let response = client.request(request).await.map_err(|e| {
        let what = if e.is_connect() { "cannot connect to" } else { "request failed:" };
        Failure::runtime(format!("{what} {url}: {}", causes(&e)))
    })?;
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::runtime(format!("reading the response from {url}: {}", causes(&e))))?;
        if let Ok(data) = frame.into_data() {
            let room = MAX_RESPONSE - bytes.len();
            if data.len() > room {
                bytes.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Response { status: parts.status, headers: parts.headers, body: bytes, truncated })
}

/// An error and its causes, `outer: inner: root`, skipping repeats.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_without_echoing_values() {
        let (n, v) = parse_header("Authorization:  Bearer abc ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("authorization", "Bearer abc"));
        for bad in ["no colon", "bad name: x", ": x"] {
            assert!(matches!(parse_header(bad), Err(Failure::Usage(_))), "{bad:?}");
        }
        let Err(Failure::Usage(m)) = parse_header("X-Token: sec\u{7}ret") else {
            panic!("accepted a control character")
        };
        assert!(!m.contains("sec"), "{m}");
    }
}
