//! The console in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`), against the console mounted in an axum app over a
//! SQLite store in a temporary directory, served on 127.0.0.1.
//!
//! It logs in, filters, opens a delivery, replays a dead letter and sees its status change,
//! and sees the 401 without the token. With `WEBHOOK_CONSOLE_SCREENSHOTS=<dir>` it saves a
//! PNG of each page there (docs/console.md shows them):
//!
//! ```text
//! WEBHOOK_CONSOLE_SCREENSHOTS=docs/console cargo test -p webhook-console --test browser
//! ```
//!
//! Without chromedriver the test fails under CI (`CI=true`) and is skipped, said so on
//! stderr, elsewhere.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_console::{Console, ConsoleConfig};
use webhook_pipeline::testing::TempDb;
use webhook_pipeline::{AuditRecord, EventStore, Filter, NewEvent, SqliteStore, Status};

const TOKEN: &str = "browser-test-admin-token-42";

/// chromedriver's path: `WEBHOOK_CHROMEDRIVER`, else the first `chromedriver` on `PATH`.
fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WEBHOOK_CHROMEDRIVER") {
        return Some(path.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (at most 10 s, polling every 100 ms) until something listens on `port`.
async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// A JSON body like a provider's.
fn body(provider: &str, i: usize) -> String {
    match provider {
        "github" => format!(
            r#"{{"ref":"refs/heads/main","before":"9049f1265b7d61be4a8904a9a27120d2064dab3b","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{{"id":{i},"full_name":"octo-org/octo-repo","private":false}},"pusher":{{"name":"octocat"}},"commits":[{{"id":"0d1a26e6","message":"Update README.md #{i}","author":{{"name":"Monalisa Octocat"}}}}]}}"#
        ),
        _ => format!(
            r#"{{"id":"evt_1Nx{i:04}","object":"event","type":"invoice.payment_failed","data":{{"object":{{"id":"in_1Nx{i:04}","amount_due":{},"currency":"eur","customer":"cus_9s6XKzkNRiz8i3"}}}},"livemode":false}}"#,
            1000 + i * 25
        ),
    }
}

const SECOND: Duration = Duration::from_secs(1);
const BAD_GATEWAY: &str = "handler: POST https://billing.internal/v1/invoices: 502 Bad Gateway";

/// A store with a morning's worth of deliveries: handled, failing and dead ones, and the
/// audit log of the last hour.
async fn seed(store: &dyn EventStore) {
    let now = SystemTime::now();
    let events: Vec<NewEvent> = (0..36)
        .map(|i| {
            let provider = if i % 3 == 0 { "stripe" } else { "github" };
            let (event_type, id) = if provider == "github" {
                ("push", format!("7d6a1e30-{i:04}-11ef-9c6a-c2a1c4b9b0e1"))
            } else {
                ("invoice.payment_failed", format!("evt_1Nx{i:04}"))
            };
            NewEvent {
                provider: provider.into(),
                delivery_id: id,
                event_type: Some(event_type.into()),
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    (
                        "User-Agent".into(),
                        if provider == "github" { "GitHub-Hookshot/a1b2c3d" } else { "Stripe/1.0" }.into(),
                    ),
                ],
                body: body(provider, i).into(),
                received_at: now - Duration::from_secs(60 * (36 - i as u64)),
            }
        })
        .collect();
    store.insert(&events).await.unwrap();
    let leased = store.lease("seed", 36, Duration::from_secs(60), now).await.unwrap();
    for e in leased {
        match e.id % 6 {
            0 => {
                assert!(store.fail(e.id, "seed", "handler: customer cus_9s6XKzkNRiz8i3 not found", None).await.unwrap())
            }
            5 => assert!(store
                .fail(e.id, "seed", "handler: timed out after 30s", Some(now + Duration::from_secs(300)))
                .await
                .unwrap()),
            // Stripe's (i % 6 == 3): two failed runs, then done on the third.
            4 => assert!(store.fail_attempt(e.id, "seed", BAD_GATEWAY, Some(now), now - 2 * SECOND).await.unwrap()),
            _ => assert!(store.complete(e.id, "seed").await.unwrap()),
        }
    }
    for run in 0..2 {
        for e in store.lease("seed", 36, Duration::from_secs(60), now).await.unwrap() {
            if run == 0 {
                assert!(store.fail_attempt(e.id, "seed", BAD_GATEWAY, Some(now), now - SECOND / 2).await.unwrap());
            } else {
                assert!(store.complete(e.id, "seed").await.unwrap());
            }
        }
    }
    let mut records = Vec::new();
    for minute in 0..60u64 {
        for k in 0..(3 + (minute * 7) % 11) {
            let provider = if k % 3 == 0 { "stripe" } else { "github" };
            let outcome = match (minute + k) % 17 {
                0 => "invalid_signature",
                1 => "stale",
                2 if minute % 5 == 0 => "store_error",
                3 => "duplicate",
                _ => "accepted",
            };
            records.push(AuditRecord {
                outcome: outcome.into(),
                status: if outcome == "store_error" {
                    503
                } else if outcome.starts_with('i') || outcome == "stale" {
                    401
                } else {
                    200
                },
                signature_verified: matches!(outcome, "accepted" | "duplicate"),
                client_ip: Some("192.0.2.10".into()),
                ..AuditRecord::new(
                    &format!("req-{minute}-{k}"),
                    provider,
                    now - Duration::from_secs(60 * (59 - minute) + k),
                )
            });
        }
    }
    store.record_audit(&records).await.unwrap();
}

/// Writes a screenshot of the page when `WEBHOOK_CONSOLE_SCREENSHOTS` names a directory.
async fn screenshot(client: &Client, name: &str) {
    let Some(dir) = std::env::var_os("WEBHOOK_CONSOLE_SCREENSHOTS") else { return };
    let png = client.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
}

/// The status line of a plain `GET` over HTTP/1.1, without credentials.
async fn status_of(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .expect(css)
        .text()
        .await
        .unwrap()
}

/// Clicks what `css` finds and waits (at most 10 s) until the browser has loaded another
/// page. A click that submits a form or follows a link returns before the next page is there,
/// so an element looked up right after it may be the old page's (the deliveries list has a
/// `#provider` too) and go stale while being read. The old page's window carries a mark; the
/// next page's window is a new one, without it. While the page changes, Chromium may answer a
/// script with an error; those are retried until the 10 s are up.
async fn click_away(client: &Client, css: &str) {
    client.execute("window.__webhookOldPage = true; return null", vec![]).await.unwrap();
    client.find(Locator::Css(css)).await.expect(css).click().await.unwrap();
    let arrived = "return window.__webhookOldPage === undefined && document.readyState === 'complete'";
    let mut last = String::new();
    for _ in 0..200 {
        match client.execute(arrived, vec![]).await {
            Ok(serde_json::Value::Bool(true)) => return,
            Ok(answer) => last = format!("answered {answer}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new page 10 s after clicking {css} (last check: {last})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser() {
    let Some(driver) = chromedriver() else {
        assert!(std::env::var("CI").is_err(), "chromedriver is missing (apt-get install chromium chromium-driver)");
        eprintln!("SKIPPED the_console_in_a_browser: no chromedriver on PATH");
        return;
    };

    // The app: the console merged into an axum router, over SQLite in a temporary file.
    let db = TempDb::new();
    let store = Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    seed(&*store).await;
    let console = Console::new(store.clone(), ConsoleConfig::new(TOKEN).unwrap().page_size(15));
    let app: axum::Router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(webhook_console::axum::router(console));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}/admin");

    // 401 without the token, on every page.
    for path in ["/admin/", "/admin/deliveries", "/admin/dead", "/admin/deliveries/1"] {
        assert_eq!(status_of(addr, path).await, "HTTP/1.1 401 Unauthorized", "{path}");
    }
    assert_eq!(status_of(addr, "/health").await, "HTTP/1.1 200 OK", "the rest of the app is untouched");

    let port = free_port();
    let mut chromedriver = tokio::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    wait_for_port(port).await;
    let mut caps = serde_json::Map::new();
    let binary = std::env::var("WEBHOOK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", "--hide-scrollbars", "--force-device-scale-factor=1"]
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session");

    let run = async {
        // Without the token: the login form.
        client.goto(&format!("{base}/deliveries")).await.unwrap();
        assert_eq!(text(&client, "h1").await, "Sign in");
        client.find(Locator::Css("#token")).await.unwrap().send_keys("not the token at all").await.unwrap();
        click_away(&client, "#login").await;
        assert!(text(&client, ".error").await.contains("not the admin token"));
        screenshot(&client, "login").await;

        // Log in: the overview.
        client.find(Locator::Css("#token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        click_away(&client, "#login").await;
        assert_eq!(text(&client, "h1").await, "Overview");
        let bars = client.find_all(Locator::Css("#chart rect")).await.unwrap();
        assert!(bars.len() >= 60, "a bar (or more) per minute: {}", bars.len());
        assert!(text(&client, "#totals").await.contains("invalid_signature"));
        assert!(text(&client, "#dead-count").await.starts_with("6 event(s) ("), "the dead letters counted");
        screenshot(&client, "overview").await;

        // Filter: stripe's deliveries only.
        client.goto(&format!("{base}/deliveries")).await.unwrap();
        screenshot(&client, "deliveries").await;
        client.find(Locator::Css("input[name=provider]")).await.unwrap().send_keys("stripe").await.unwrap();
        click_away(&client, "#apply").await;
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#events")).await.unwrap();
        assert!(client.current_url().await.unwrap().query().unwrap_or("").contains("provider=stripe"));
        let rows = client.find_all(Locator::Css("#events tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 12, "36 deliveries, every third is stripe's");
        for row in &rows {
            assert!(row.text().await.unwrap().contains("stripe"));
        }

        // Open one: its headers, body, attempts and error.
        click_away(&client, "#events tbody tr td a").await;
        assert_eq!(text(&client, "#provider").await, "stripe");
        assert!(text(&client, "#body").await.contains("\"object\": \"event\""), "pretty-printed");
        assert!(text(&client, "#headers").await.contains("Stripe/1.0"));
        let attempts = client.find_all(Locator::Css("#attempts tbody tr")).await.unwrap();
        assert_eq!(attempts.len(), 2, "two failed runs before the one that succeeded");
        assert!(text(&client, "#attempts").await.contains("502 Bad Gateway"));
        screenshot(&client, "delivery").await;

        // The dead letters; replay the first and see it pending.
        client.goto(&format!("{base}/dead")).await.unwrap();
        let dead = client.find_all(Locator::Css("#events tbody tr")).await.unwrap();
        assert_eq!(dead.len(), 6);
        assert!(text(&client, "#events").await.contains("not found"));
        screenshot(&client, "dead-letters").await;
        let first = client.find(Locator::Css("#events tbody tr td a")).await.unwrap().text().await.unwrap();
        let id: i64 = first.parse().unwrap();
        assert_eq!(store.get(id).await.unwrap().unwrap().status, Status::Dead);
        click_away(&client, "#events tbody tr button").await;
        assert!(text(&client, "#notice").await.contains("pending again"));
        assert_eq!(text(&client, "#status").await, "pending");
        assert_eq!(store.get(id).await.unwrap().unwrap().status, Status::Pending);
        client.goto(&format!("{base}/dead")).await.unwrap();
        assert_eq!(client.find_all(Locator::Css("#events tbody tr")).await.unwrap().len(), 5);
        assert_eq!(store.list(&Filter::dead(), 100).await.unwrap().len(), 5);

        // Log out: the console is closed again.
        click_away(&client, "header form button").await;
        assert_eq!(text(&client, "h1").await, "Sign in");
        client.goto(&format!("{base}/dead")).await.unwrap();
        assert_eq!(text(&client, "h1").await, "Sign in");
    };
    run.await;
    client.close().await.unwrap();
    chromedriver.kill().await.unwrap();
    server.abort();
    store.close().await;
}
