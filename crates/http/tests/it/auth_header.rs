//! Two `Authorization` headers are refused (401 `unauthenticated`, audited like every other
//! 401) — even when both carry the same valid key, so no proxy or library choice of "which
//! one counts" can ever matter.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{denial, Db, TestApp};

async fn with_two_headers(
    app: &TestApp,
    first: &str,
    second: &str,
    rid: &str,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/auth/whoami")
        .header(header::AUTHORIZATION, format!("Bearer {first}"))
        .header(header::AUTHORIZATION, format!("Bearer {second}"))
        .header("x-request-id", rid)
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

both_backends!(two_authorization_headers_are_refused_and_audited);
async fn two_authorization_headers_are_refused_and_audited(db: Db) {
    let app = TestApp::new(db).await;
    let (_, alice) = app.principal("alice", &["auditor"]).await;

    // One header: fine.
    let r = app.get("/api/v1/auth/whoami", &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    for (first, second, rid) in [
        (app.admin.clone(), alice.clone(), "two-different"),
        (
            alice.clone(),
            "cs_key_nonsense".to_owned(),
            "valid-then-bad",
        ),
        (alice.clone(), alice.clone(), "two-same"),
    ] {
        let (status, body) = with_two_headers(&app, &first, &second, rid).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{rid}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{rid}: {body}");
        let e = denial(&app, rid).await;
        assert_eq!(e["result"]["kind"], "unauthenticated", "{e}");
        assert_eq!(e["actor"]["id"], "anonymous", "{e}");
        assert!(
            e["authorization"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("more than one Authorization header")),
            "{e}"
        );
    }
}
