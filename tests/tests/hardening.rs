//! Slow clients, idle connections and connection floods, over real sockets on 127.0.0.1
//! against all three receivers, with timeouts set short (1 s headers and body, 2 s idle)
//! so every test ends in seconds. Each prints the times it measured (`--nocapture`), the
//! figures docs/OPERATIONS.md records.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test
#![allow(clippy::print_stderr)] // the measured figures, for docs/OPERATIONS.md

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use webhook_core::{providers, SignRequest, Verifier};
use webhook_tests::{send, Payload, Receiver};

const SECRET: &str = "hardening-secret";
const HEADER: Duration = Duration::from_secs(1);
const BODY: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(2);
/// What a loaded machine may add to a timeout before the close is seen.
const SLACK: Duration = Duration::from_millis(2500);

async fn start(receiver: Receiver, extra: &[(&str, &str)]) -> SocketAddr {
    let mut vars = vec![
        ("GITHUB_WEBHOOK_SECRET", SECRET),
        ("WEBHOOK_HEADER_TIMEOUT_SECS", "1"),
        ("WEBHOOK_BODY_TIMEOUT_SECS", "1"),
        ("WEBHOOK_IDLE_TIMEOUT_SECS", "2"),
    ];
    vars.extend_from_slice(extra);
    receiver.start(&vars).await
}

/// A signed GitHub `push`: its body and headers.
fn delivery(id: &str) -> (Bytes, Vec<(String, String)>) {
    let body = Bytes::from(format!(r#"{{"ref":"refs/heads/main","id":"{id}","padding":"{}"}}"#, "x".repeat(200)));
    let github = Verifier::new(providers::GITHUB, SECRET).unwrap();
    let signed = github.sign(&SignRequest::new(&body, SystemTime::now()).id(id).event_type("push")).unwrap();
    let mut headers: Vec<(String, String)> = signed.headers().iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    headers.push(("content-type".into(), "application/json".into()));
    (body, headers)
}

/// Reads until the peer closes (`None` when `within` passes first); returns the bytes read.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response with a `Content-Length` body: (status, body).
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                let status = text.get(9..12)?.parse().ok()?;
                return Some((status, text[end + 4..end + 4 + length].to_owned()));
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_line_without_headers_is_closed_within_the_header_timeout() {
    for receiver in Receiver::ALL {
        let addr = start(receiver, &[]).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"POST /webhooks/github HTTP/1.1\r\n").await.unwrap();
        let started = Instant::now();
        let answered = read_until_closed(&mut stream, HEADER + SLACK).await;
        let took = started.elapsed();
        let answered = answered.unwrap_or_else(|| panic!("{receiver:?}: still open after {took:?}"));
        // hyper closes without a word; actix answers 408 first.
        let text = String::from_utf8_lossy(&answered);
        assert!(answered.is_empty() || text.starts_with("HTTP/1.1 408"), "{receiver:?}: {text}");
        assert!(took >= HEADER - Duration::from_millis(200), "{receiver:?}: closed after only {took:?}");
        eprintln!("{receiver:?}: request line only, closed after {took:?} (header timeout {HEADER:?})");
    }
}

/// Sends a signed delivery's headers, then its body a byte a second; returns the answer's
/// text and when it came, after checking that nothing was claimed or stored (the same
/// delivery, sent properly afterwards, is new).
async fn trickle(receiver: Receiver, addr: SocketAddr, id: &str, within: Duration) -> (String, Duration) {
    let (body, headers) = delivery(id);
    let mut head = format!("POST /webhooks/github HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn({
        let body = body.clone();
        async move {
            for byte in body.iter().take(10) {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    while !String::from_utf8_lossy(&answer).contains('}') {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let took = started.elapsed();
    trickle.abort();
    let answered = send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body)).await;
    assert_eq!((answered.status, answered.body.as_str()), (200, r#"{"status":"accepted"}"#), "{receiver:?}");
    (String::from_utf8_lossy(&answer).into_owned(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_a_byte_a_second_is_408_within_the_body_timeout_and_nothing_is_stored() {
    for receiver in Receiver::ALL {
        let addr = start(receiver, &[]).await;
        let (text, took) = trickle(receiver, addr, &format!("trickle-{receiver:?}"), BODY + SLACK).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{receiver:?} after {took:?}: {text}");
        assert!(text.contains(r#"{"error":"the body was not received in time"}"#), "{receiver:?}: {text}");
        assert!(took >= BODY - Duration::from_millis(200) && took < BODY + SLACK, "{receiver:?}: {took:?}");
        eprintln!("{receiver:?}: body at 1 byte/s, 408 after {took:?} (body timeout {BODY:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_under_the_minimum_rate_is_cut_long_before_the_body_timeout() {
    // A 30 s body timeout; the default minimum rate (1 KiB/s after 2 s) cuts a body sent
    // a byte a second at about 2 s.
    let grace = webhook_core::limits::ConnectionLimits::default().body_rate_grace;
    for receiver in Receiver::ALL {
        let addr = start(receiver, &[("WEBHOOK_BODY_TIMEOUT_SECS", "30")]).await;
        let (text, took) = trickle(receiver, addr, &format!("rate-{receiver:?}"), grace + SLACK).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{receiver:?} after {took:?}: {text}");
        assert!(took >= grace - Duration::from_millis(200) && took < grace + SLACK, "{receiver:?}: {took:?}");
        eprintln!("{receiver:?}: body at 1 byte/s, body timeout 30 s: 408 after {took:?} (the minimum rate)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    for receiver in Receiver::ALL {
        let addr = start(receiver, &[]).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let (status, body) = read_response(&mut stream, SLACK).await.unwrap();
        assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#), "{receiver:?}");
        let idle_since = Instant::now();
        // Past the header timeout the kept-alive connection is still open: idle is not slow.
        let early = read_until_closed(&mut stream, HEADER + Duration::from_millis(300)).await;
        assert!(early.is_none(), "{receiver:?}: closed after {:?}, before the idle timeout", idle_since.elapsed());
        let closed = read_until_closed(&mut stream, IDLE + SLACK).await;
        let took = idle_since.elapsed();
        assert!(closed.is_some(), "{receiver:?}: still open after {took:?} idle");
        assert!(took < IDLE + SLACK, "{receiver:?}: {took:?}");
        eprintln!("{receiver:?}: idle keep-alive connection closed after {took:?} (idle timeout {IDLE:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_delivery_waits_for_the_slow_ones_and_service_resumes() {
    const CAP: usize = 50;
    const FLOOD: usize = 100;
    for receiver in Receiver::ALL {
        let addr = start(receiver, &[("WEBHOOK_MAX_CONNECTIONS", "50")]).await;
        let mut held = Vec::new();
        for _ in 0..FLOOD {
            let mut s = TcpStream::connect(addr).await.unwrap();
            // A request line and nothing more: every one of them is slow.
            s.write_all(b"POST /webhooks/github HTTP/1.1\r\n").await.unwrap();
            held.push(s);
        }
        let started = Instant::now();
        let (body, headers) = delivery(&format!("flood-{receiver:?}"));
        let during = tokio::time::timeout(
            Duration::from_secs(15),
            send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body)),
        )
        .await
        .unwrap_or_else(|_| panic!("{receiver:?}: the delivery was not answered during the flood"));
        let took = started.elapsed();
        assert_eq!((during.status, during.body.as_str()), (200, r#"{"status":"accepted"}"#), "{receiver:?}");
        // It waited in the backlog behind the capped slow connections until their header
        // timeout freed slots: the cap held.
        assert!(took >= HEADER - Duration::from_millis(200), "{receiver:?}: answered after only {took:?}");
        // Every flood connection was closed by the header timeout, not served.
        let mut closed = 0;
        for s in &mut held {
            if read_until_closed(s, SLACK).await.is_some() {
                closed += 1;
            }
        }
        assert_eq!(closed, FLOOD, "{receiver:?}");
        // Afterwards, normal service, at once.
        let after = Instant::now();
        let (body, headers) = delivery(&format!("after-{receiver:?}"));
        let answer = send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body)).await;
        assert_eq!(answer.status, 200, "{receiver:?}");
        assert!(after.elapsed() < Duration::from_secs(2), "{receiver:?}: {:?}", after.elapsed());
        let metrics = send(addr, Method::GET, "/metrics", &[], Payload::Sized(Bytes::new())).await.body;
        assert!(metrics.contains("webhook_connections_open"), "{receiver:?}: {metrics}");
        if receiver != Receiver::Actix {
            // actix times headers itself and does not say; the hyper receivers count them.
            assert!(metrics.contains(r#"webhook_timeouts_total{kind="header"}"#), "{receiver:?}: {metrics}");
        }
        eprintln!(
            "{receiver:?}: cap {CAP}, {FLOOD} slow connections: a delivery sent behind them answered after {took:?}; \
             the next one after {:?}",
            after.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_per_client_cap_a_connection_is_closed_at_once_and_the_others_are_served() {
    // actix has no per-client cap: the axum and tower receivers apply it in their accept loop.
    for receiver in [Receiver::Axum, Receiver::Tower] {
        let addr = start(receiver, &[("WEBHOOK_MAX_CONNECTIONS_PER_CLIENT", "3")]).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let closed = read_until_closed(&mut fourth, Duration::from_millis(800)).await;
        let took = started.elapsed();
        assert_eq!(closed, Some(Vec::new()), "{receiver:?}: the fourth connection is closed before the header timeout");
        // The three held ones are still open, and served.
        let mut first = held.remove(0);
        first.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let (status, _) = read_response(&mut first, SLACK).await.unwrap();
        assert_eq!(status, 200, "{receiver:?}");
        // Once they close, the client gets its places back.
        drop((first, held));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (body, headers) = delivery(&format!("per-client-{receiver:?}"));
        let answer = send(addr, Method::POST, "/webhooks/github", &headers, Payload::Sized(body)).await;
        assert_eq!(answer.status, 200, "{receiver:?}");
        let metrics = send(addr, Method::GET, "/metrics", &[], Payload::Sized(Bytes::new())).await.body;
        assert!(metrics.contains(r#"webhook_connections_refused_total{reason="per_client"}"#), "{receiver:?}");
        eprintln!("{receiver:?}: per-client cap 3, the fourth connection closed after {took:?}");
    }
}
