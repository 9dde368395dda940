//! The actix-web glue: the console as a `Scope`, its answers passed through whole.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use actix_web::{test, web, App, HttpResponse};
use webhook_console::{Console, ConsoleConfig};
use webhook_pipeline::{EventStore, MemoryStore, NewEvent};

const TOKEN: &str = "actix-admin-token-0123456789";

#[actix_web::test]
async fn the_scope_serves_the_console_and_nothing_else() {
    let store = Arc::new(MemoryStore::new());
    store
        .insert(&[NewEvent {
            provider: "github".into(),
            delivery_id: "d-actix".into(),
            event_type: Some("push".into()),
            headers: vec![],
            body: "{}".into(),
            received_at: std::time::SystemTime::now(),
        }])
        .await
        .unwrap();
    let console = Console::new(store, ConsoleConfig::new(TOKEN).unwrap());
    let app = test::init_service(
        App::new()
            .route("/health", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
            .service(webhook_console::actix::scope(console)),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/admin/deliveries").to_request()).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());

    let req = test::TestRequest::get()
        .uri("/admin/deliveries?provider=github")
        .insert_header(("authorization", format!("Bearer {TOKEN}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-security-policy").is_some());
    let body = test::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("d-actix"));

    // The login sets the cookie; the form body goes through.
    let req = test::TestRequest::post()
        .uri("/admin/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!("token={TOKEN}"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 303);
    assert!(res.headers().get("set-cookie").unwrap().to_str().unwrap().contains("HttpOnly; SameSite=Strict"));

    // A body past the limit is refused before the console reads it.
    let req = test::TestRequest::post().uri("/admin/login").set_payload(vec![b'x'; 64 * 1024]).to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 413);

    let res = test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
    assert_eq!(res.status(), 200);
}
