//! When the database goes away, the API answers 503 `unavailable` (contract JSON with the
//! request id), `/readyz` says not ready, `/healthz` still says alive — and nothing is
//! half-written.

use axum::http::{Method, StatusCode};
use countersign_http::HttpConfig;
use countersign_service::{Service, ServiceConfig};
use serde_json::json;

use crate::support::{Db, TestApp};

both_backends!(an_unreachable_database_is_503_and_writes_nothing);
async fn an_unreachable_database_is_503_and_writes_nothing(db: Db) {
    // A working app on the test database, for the admin key and the policy.
    let app = TestApp::new(db.clone()).await;
    let policy = app.policy("open", json!([]), None).await;
    let subject = app.subject("db.example.com", &policy).await;
    let before = app.snapshot().await;

    // A second server on its own pool to the same database; then that pool goes away.
    let own = db.another_pool().await;
    let service = Service::new(own.store(), ServiceConfig::default());
    let down = TestApp {
        router: countersign_http::router(service.clone(), HttpConfig::default()),
        service,
        db: db.clone(),
        admin: app.admin.clone(),
    };
    own.close().await;

    let r = down.send(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = down.send(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "unavailable");

    for (method, path, body) in [
        (Method::GET, "/api/v1/policies".to_owned(), None),
        (
            Method::POST,
            format!("/api/v1/subjects/{subject}/jobs"),
            Some(json!({"action": "certificate.renew", "payload": {}})),
        ),
    ] {
        let r = down
            .send(
                method,
                &path,
                Some(&down.admin),
                body.map(|b| axum::body::Body::from(b.to_string())),
                &[("x-request-id", "db-down-1")],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            r.text
        );
        assert_eq!(r.code(), "unavailable");
        assert_eq!(r.json["error"]["request_id"], "db-down-1");
    }
    assert_eq!(app.snapshot().await, before, "nothing was written");
}
