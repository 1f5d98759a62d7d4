//! Requests tagged with a request id, and the checks that a request was refused and audited
//! as such (`auth.denied`).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::{Reply, TestApp};

/// Send with an `x-request-id`, so the request's audit events can be found.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
    rid: &str,
) -> Reply {
    app.send(
        method,
        path,
        Some(key),
        body.map(|b| Body::from(b.to_string())),
        &[("x-request-id", rid)],
    )
    .await
}

/// The events of `action` written by request `rid`.
pub async fn events_of(app: &TestApp, action: &str, rid: &str) -> Vec<Value> {
    app.events(action)
        .await
        .into_iter()
        .filter(|e| e["request_id"] == rid)
        .collect()
}

/// The one `auth.denied` event of request `rid`, checked to be a deny with an error result.
pub async fn denial(app: &TestApp, rid: &str) -> Value {
    let events = events_of(app, "auth.denied", rid).await;
    assert_eq!(
        events.len(),
        1,
        "exactly one auth.denied for {rid}: {events:?}"
    );
    let e = events.into_iter().next().unwrap();
    assert_eq!(e["category"], "auth", "{e}");
    assert_eq!(e["authorization"]["decision"], "deny", "{e}");
    assert_eq!(e["result"]["outcome"], "error", "{e}");
    e
}

/// `key` is refused on its next request (`GET path`, request id `rid`): 401
/// `unauthenticated`, and one `auth.denied` event naming the key and a reason containing
/// `reason`. Answers the event.
pub async fn assert_refused(
    app: &TestApp,
    key: &str,
    key_id: &str,
    path: &str,
    rid: &str,
    reason: &str,
) -> Value {
    let r = app
        .send(Method::GET, path, Some(key), None, &[("x-request-id", rid)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.code(), "unauthenticated");
    let e = denial(app, rid).await;
    assert_eq!(e["actor"]["key_id"], key_id, "{e}");
    assert_eq!(e["result"]["kind"], "unauthenticated", "{e}");
    assert!(
        e["authorization"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason)),
        "reason should mention {reason}: {e}"
    );
    e
}
