//! A first walk through the router: the admin bootstrap works and errors are contract JSON.

use axum::http::{Method, StatusCode};

use crate::support::{Db, TestApp};

both_backends!(whoami_and_error_shapes);
async fn whoami_and_error_shapes(db: Db) {
    let app = TestApp::new(db).await;
    let r = app.get("/api/v1/auth/whoami", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["principal"]["name"], "admin");
    assert!(r.headers.contains_key("x-request-id"));

    let r = app
        .send(
            Method::GET,
            "/api/v1/auth/whoami",
            None,
            None,
            &[("x-request-id", "trace-42")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthenticated");
    assert_eq!(r.json["error"]["request_id"], "trace-42");
    assert_eq!(r.headers["x-request-id"], "trace-42");

    let r = app
        .send(
            Method::DELETE,
            "/api/v1/policies",
            Some(&app.admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");

    let r = app.get("/api/v1/nothing-here", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
}
