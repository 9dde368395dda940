//! The console's behaviour through its framework-free handler: authentication, CSRF,
//! escaping, paging, filters, replay and limits, over the memory, SQLite and PostgreSQL
//! stores.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use webhook_console::{Console, ConsoleConfig, ConsoleRequest};
use webhook_pipeline::testing::{postgres_url, TempDb};
use webhook_pipeline::{AuditRecord, EventStore, Filter, MemoryStore, NewEvent, SqliteStore, Status};

const TOKEN: &str = "test-admin-token-0123456789";

fn console(store: Arc<dyn EventStore>) -> Console {
    Console::new(store, ConsoleConfig::new(TOKEN).unwrap().page_size(10))
}

fn get(path: &str) -> ConsoleRequest {
    let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    ConsoleRequest::new("GET", path, query)
}

fn admin(req: ConsoleRequest) -> ConsoleRequest {
    req.header("Authorization", format!("Bearer {TOKEN}").as_bytes())
}

fn post(path: &str, form: &str) -> ConsoleRequest {
    ConsoleRequest::new("POST", path, None)
        .header("Content-Type", b"application/x-www-form-urlencoded")
        .body(form.as_bytes().to_vec().into())
}

fn new_event(provider: &str, id: &str, body: &str) -> NewEvent {
    NewEvent {
        provider: provider.into(),
        delivery_id: id.into(),
        event_type: Some("push".into()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_owned().into(),
        received_at: SystemTime::now(),
    }
}

/// Stores `n` events and kills the first `dead` of them (every attempt failed).
async fn fill(store: &dyn EventStore, n: usize, dead: usize) {
    let events: Vec<NewEvent> =
        (0..n).map(|i| new_event(if i % 2 == 0 { "github" } else { "stripe" }, &format!("d{i}"), "{}")).collect();
    store.insert(&events).await.unwrap();
    let leased = store.lease("w", dead, Duration::from_secs(60), SystemTime::now()).await.unwrap();
    for e in leased {
        store.fail(e.id, "w", "handler said no", None).await.unwrap();
    }
}

/// The delivery page's table of attempts.
fn attempts_table(page: &str) -> String {
    let at = page.find(r#"<table id="attempts">"#).expect("a table of attempts");
    page[at..].split("</table>").next().unwrap().to_owned()
}

/// The value of the first `name="csrf" value="..."` in a page.
fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn nothing_is_reachable_without_the_token() {
    let store = Arc::new(MemoryStore::new());
    fill(&*store, 3, 1).await;
    let c = console(store.clone());
    for path in ["/admin", "/admin/", "/admin/deliveries", "/admin/deliveries/1", "/admin/dead", "/admin/nope"] {
        let r = c.handle(get(path)).await;
        assert_eq!(r.status, 401, "{path}");
        assert!(r.text().contains("Sign in"), "{path}: the login form");
        assert!(!r.text().contains("<code>d0"), "{path}: no delivery shows");
    }
    // A wrong token, in any form.
    for value in [format!("Bearer {TOKEN}x"), format!("Bearer {}", &TOKEN[..10]), "Bearer ".into(), TOKEN.into()] {
        assert_eq!(c.handle(get("/admin/deliveries").header("authorization", value.as_bytes())).await.status, 401);
    }
    let forged = get("/admin/deliveries").header("cookie", format!("webhook_console={TOKEN}").as_bytes());
    assert_eq!(c.handle(forged).await.status, 401, "the token is not a session");
    // A replay without the token changes nothing.
    let r = c.handle(post("/admin/deliveries/1/replay", "csrf=x")).await;
    assert_eq!(r.status, 401);
    assert_eq!(store.get(1).await.unwrap().unwrap().status, Status::Dead);
    // Outside the base path the console answers nothing of its own.
    assert_eq!(c.handle(get("/administrator")).await.status, 404);
}

#[tokio::test]
async fn the_login_form_sets_a_session_cookie_that_is_not_the_token() {
    let c = console(Arc::new(MemoryStore::new()));
    let wrong = c.handle(post("/admin/login", "token=not-the-token")).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("not the admin token"));
    assert!(wrong.header("set-cookie").is_none());

    let ok = c.handle(post("/admin/login", &format!("token={TOKEN}"))).await;
    assert_eq!((ok.status, ok.header("location")), (303, Some("/admin/")));
    let cookie = ok.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie} has {attribute}");
    }
    assert!(!cookie.contains(TOKEN), "the cookie is not the token: {cookie}");
    let session = cookie.split(';').next().unwrap();
    let page = c.handle(get("/admin/deliveries").header("cookie", session.as_bytes())).await;
    assert_eq!(page.status, 200);

    // Logging out needs the CSRF token, and clears the cookie.
    let token = csrf(&page.text());
    let refused = c.handle(post("/admin/logout", "").header("cookie", session.as_bytes())).await;
    assert_eq!(refused.status, 403);
    let out = c.handle(post("/admin/logout", &format!("csrf={token}")).header("cookie", session.as_bytes())).await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn a_session_expires() {
    let c = console(Arc::new(MemoryStore::new()));
    let now = SystemTime::now();
    let ok = c.handle_at(post("/admin/login", &format!("token={TOKEN}")), now).await;
    let session = ok.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let at = |t| c.handle_at(get("/admin/").header("cookie", session.as_bytes()), t);
    assert_eq!(at(now + Duration::from_secs(3600)).await.status, 200);
    assert_eq!(at(now + Duration::from_secs(12 * 3600 + 1)).await.status, 401);
}

#[tokio::test]
async fn a_replay_needs_the_csrf_token_of_its_session() {
    let store = Arc::new(MemoryStore::new());
    fill(&*store, 3, 1).await;
    let c = console(store.clone());
    let login = |_: ()| c.handle(post("/admin/login", &format!("token={TOKEN}")));
    let a = login(()).await.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let b = login(()).await.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let page = c.handle(get("/admin/dead").header("cookie", a.as_bytes())).await;
    assert!(page.text().contains("handler said no"));
    let a_csrf = csrf(&page.text());

    for (session, form) in [(&a, "".to_owned()), (&a, "csrf=00".into()), (&b, format!("csrf={a_csrf}"))] {
        let r = c.handle(post("/admin/deliveries/1/replay", &form).header("cookie", session.as_bytes())).await;
        assert_eq!(r.status, 403, "{form}");
    }
    assert_eq!(store.get(1).await.unwrap().unwrap().status, Status::Dead);

    let r =
        c.handle(post("/admin/deliveries/1/replay", &format!("csrf={a_csrf}")).header("cookie", a.as_bytes())).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/admin/deliveries/1?replayed=1")));
    let e = store.get(1).await.unwrap().unwrap();
    assert_eq!((e.status, e.attempts), (Status::Pending, 0));
    let page = c.handle(get("/admin/deliveries/1?replayed=1").header("cookie", a.as_bytes())).await;
    assert!(page.text().contains("pending again"));
}

#[tokio::test]
async fn the_dead_letters_of_a_filter_are_replayed_and_no_others() {
    let store = Arc::new(MemoryStore::new());
    fill(&*store, 6, 6).await;
    let c = console(store.clone());
    let page = c.handle(admin(get("/admin/dead"))).await.text().into_owned();
    let r = c.handle(admin(post("/admin/dead/replay", &format!("csrf={}&provider=stripe", csrf(&page))))).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/admin/dead?replayed=3")));
    let dead = store.list(&Filter::dead(), 100).await.unwrap();
    assert!(dead.len() == 3 && dead.iter().all(|e| e.provider == "github"));
}

#[tokio::test]
async fn a_body_or_header_holding_markup_shows_as_text() {
    let store = Arc::new(MemoryStore::new());
    let mut event = new_event("github", "<script>alert('id')</script>", r#"{"title":"<script>alert(1)</script>"}"#);
    event.headers.push(("User-Agent".into(), "<script>alert(2)</script>".into()));
    event.event_type = Some("<img src=x onerror=alert(3)>".into());
    store.insert(&[event]).await.unwrap();
    let leased = store.lease("w", 1, Duration::from_secs(60), SystemTime::now()).await.unwrap();
    store.fail(leased[0].id, "w", "<b>boom</b>", None).await.unwrap();
    let c = console(store);
    for path in ["/admin/deliveries/1", "/admin/deliveries", "/admin/dead"] {
        let page = c.handle(admin(get(path))).await.text().into_owned();
        assert!(!page.contains("<script"), "{path}: a raw <script> tag");
        assert!(!page.contains("<img"), "{path}: a raw <img> tag");
        assert!(!page.contains("<b>boom"), "{path}: raw markup from an error");
        assert!(page.contains("&lt;script&gt;alert"), "{path}: the text, escaped");
    }
    let one = c.handle(admin(get("/admin/deliveries/1"))).await;
    assert!(one.text().contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "the header");
    let attempts = attempts_table(&one.text());
    assert!(attempts.contains("<code>&lt;b&gt;boom&lt;/b&gt;</code>"), "the attempt's error, escaped: {attempts}");
    assert!(one.header("content-security-policy").unwrap().contains("default-src 'none'"));
}

#[tokio::test]
async fn the_listing_pages_by_keyset_and_filters() {
    let store = Arc::new(MemoryStore::new());
    fill(&*store, 25, 0).await;
    let c = console(store);
    let first = c.handle(admin(get("/admin/deliveries"))).await.text().into_owned();
    assert!(first.contains(">25<") && first.contains(">16<") && !first.contains(">15<"), "newest ten");
    assert!(first.contains(r#"href="/admin/deliveries?before=16""#), "the next page starts below 16");
    let second = c.handle(admin(get("/admin/deliveries?before=16"))).await.text().into_owned();
    assert!(second.contains(">15<") && second.contains(">6<") && !second.contains(">16<"));
    let third = c.handle(admin(get("/admin/deliveries?before=6"))).await.text().into_owned();
    assert!(third.contains(">1<") && !third.contains(r#"id="next""#), "the last page has no next");

    let stripe = c.handle(admin(get("/admin/deliveries?provider=stripe&before=100"))).await.text().into_owned();
    assert!(stripe.contains(r#"href="/admin/deliveries?provider=stripe&amp;before=6""#), "filters carried: {stripe}");
    let one = c.handle(admin(get("/admin/deliveries?delivery_id=d7"))).await.text().into_owned();
    assert_eq!(one.matches("<code>d").count(), 1);

    let future = c.handle(admin(get("/admin/deliveries?since=2999-01-01T00:00"))).await.text().into_owned();
    assert!(future.contains("No event matches."));
    for bad in ["status=zombie", "since=yesterday", "before=x", &format!("provider={}", "p".repeat(300))] {
        let r = c.handle(admin(get(&format!("/admin/deliveries?{bad}")))).await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn sizes_are_bounded() {
    let c = console(Arc::new(MemoryStore::new()));
    let big = post("/admin/login", &format!("token={}", "x".repeat(17 * 1024)));
    assert_eq!(c.handle(big).await.status, 413);
    let long = admin(get(&format!("/admin/deliveries?provider={}", "p".repeat(5000))));
    assert_eq!(c.handle(long).await.status, 414);
    assert!(ConsoleConfig::new("short").is_err());
    assert!(ConsoleConfig::new(TOKEN).unwrap().base_path("/admin/").is_err());
}

#[tokio::test]
async fn the_overview_counts_the_last_hour() {
    let store = Arc::new(MemoryStore::new());
    let now = SystemTime::now();
    let record = |r: &str, provider: &str, ago: u64, outcome: &str| AuditRecord {
        outcome: outcome.into(),
        ..AuditRecord::new(r, provider, now - Duration::from_secs(ago))
    };
    store
        .record_audit(&[
            record("a", "github", 10, "accepted"),
            record("b", "github", 70, "accepted"),
            record("c", "stripe", 10, "invalid_signature"),
            record("d", "stripe", 20, "store_error"),
            record("e", "github", 7200, "accepted"),
        ])
        .await
        .unwrap();
    let page = console(store).handle(admin(get("/admin/"))).await.text().into_owned();
    assert!(page.contains("<svg"));
    assert!(page.contains(r#"<td>github</td><td>accepted</td><td>accepted</td><td class="num">2</td>"#), "{page}");
    assert!(page.contains(r#"<td>stripe</td><td>store_error</td><td>failed</td><td class="num">1</td>"#));
    assert!(page.contains(r#"<td>stripe</td><td>invalid_signature</td><td>refused</td><td class="num">1</td>"#));
}

async fn pages_on(store: Arc<dyn EventStore>) {
    fill(&*store, 12, 2).await;
    store
        .record_audit(&[AuditRecord {
            delivery_id: Some("d0".into()),
            signature_verified: true,
            outcome: "accepted".into(),
            status: 200,
            ..AuditRecord::new("req-d0", "github", SystemTime::now())
        }])
        .await
        .unwrap();
    let c = console(store.clone());
    let list = c.handle(admin(get("/admin/deliveries?provider=github"))).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.text().matches(r#"<td><a href="/admin/deliveries/"#).count(), 6);
    let first = store.list(&Filter::default().delivery_id("d0"), 1).await.unwrap()[0].id;
    let one = c.handle(admin(get(&format!("/admin/deliveries/{first}")))).await.text().into_owned();
    assert!(one.contains("req-d0"), "the audit record of the delivery");
    let attempt = r#"<tr><td class="num">1</td>"#;
    let attempts = attempts_table(&one);
    assert!(attempts.contains(attempt) && attempts.contains("<td>dead</td>"), "{attempts}");
    assert!(attempts.contains("<code>handler said no</code>") && attempts.contains("<code>w</code>"), "{attempts}");
    let overview = c.handle(admin(get("/admin/"))).await.text().into_owned();
    assert!(overview.contains(r#"<dd id="dead-count"><a href="/admin/dead">2 event(s)</a>"#), "{overview}");
    let pending = r#"<tr id="stored-pending"><td><span class="badge s-pending">pending</span></td><td class="num">10</td><td class="num">20 B</td>"#;
    assert!(overview.contains(pending), "{overview}");
    let page = c.handle(admin(get("/admin/dead"))).await.text().into_owned();
    assert_eq!(page.matches("handler said no").count(), 2);
    let r = c.handle(admin(post("/admin/dead/replay", &format!("csrf={}", csrf(&page))))).await;
    assert_eq!(r.header("location"), Some("/admin/dead?replayed=2"));
    let overview = c.handle(admin(get("/admin/"))).await.text().into_owned();
    assert!(overview.contains("accepted"));
    assert!(overview.contains(r#"<dd id="dead-count"><a href="/admin/dead">0 event(s)</a>"#), "{overview}");
    let one = c.handle(admin(get(&format!("/admin/deliveries/{first}")))).await.text().into_owned();
    assert!(attempts_table(&one).contains(attempt), "a replay keeps the attempts");
}

#[tokio::test]
async fn pages_on_sqlite() {
    let db = TempDb::new();
    let store = Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    pages_on(store.clone()).await;
    store.close().await;
}

#[tokio::test]
async fn pages_on_postgres() {
    let Some(url) = postgres_url("pages_on_postgres") else { return };
    let (store, schema) = webhook_pipeline::testing::postgres_store(&url).await;
    let store = Arc::new(store);
    pages_on(store.clone()).await;
    store.close().await;
    webhook_pipeline::testing::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn the_debug_output_names_no_secret() {
    let config = ConsoleConfig::new(TOKEN).unwrap();
    assert!(!format!("{config:?}").contains(TOKEN));
    let req = admin(get("/admin/"));
    assert!(!format!("{req:?}").contains(TOKEN));
}
