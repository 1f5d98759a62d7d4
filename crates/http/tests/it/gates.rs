//! Walks the whole route table: every route has the gate it should, and every gate is really
//! wired (no key → 401, a key without the permission → 403, both audited as `auth.denied`).
//!
//! New routes are picked up automatically; a route registered as `Public` or `Authenticated`
//! other than the ops endpoints and `whoami` fails the walk, and so does a `Permission` route
//! whose gate does not refuse.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use countersign_domain::{
    ApprovalId, DeliveryId, EventId, JobId, KeyId, PolicyId, PrincipalId, SubjectId, WebhookId,
};
use countersign_http::gate::{Gate, RouteEntry};
use countersign_http::HttpConfig;
use serde_json::Value;

use crate::support::{Db, TestApp};

/// A well-formed id that names nothing, chosen by the collection the `{id}` segment follows.
fn unknown_id_for(collection: &str, path: &str) -> String {
    match collection {
        "principals" => PrincipalId::new().to_string(),
        "policies" => PolicyId::new().to_string(),
        "subjects" => SubjectId::new().to_string(),
        "jobs" => JobId::new().to_string(),
        "approvals" => ApprovalId::new().to_string(),
        "audit" | "events" => EventId::new().to_string(),
        "keys" => KeyId::new().to_string(),
        "roles" => "no-such-role".to_owned(),
        "webhooks" => WebhookId::new().to_string(),
        other => {
            panic!("route {path}: no id type known for `{{id}}` after `{other}`; teach gates.rs")
        }
    }
}

/// The route's path with every `{param}` replaced by a well-formed unknown value.
fn concrete(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            out.push((*seg).to_owned());
            continue;
        };
        let value = match name {
            "id" => unknown_id_for(segments[i - 1], path),
            "role" | "role_id" => "no-such-role".to_owned(),
            "perm" | "permission" => "audit.read".to_owned(),
            "event_id" => EventId::new().to_string(),
            "delivery_id" => DeliveryId::new().to_string(),
            // A catch-all: the log's tile paths.
            "*path" => "0/000".to_owned(),
            other => panic!("route {path}: unknown path parameter `{other}`; teach gates.rs"),
        };
        out.push(value);
    }
    out.join("/")
}

fn body_for(method: &Method) -> Option<Body> {
    // The gate answers before any body is read; send `{}` where a body would be expected so
    // a missing body can never be what refused the request.
    matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| Body::from("{}"))
}

async fn denied_event(app: &TestApp, request_id: &str) -> Value {
    let events: Vec<Value> = app
        .events("auth.denied")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == request_id)
        .collect();
    assert_eq!(
        events.len(),
        1,
        "exactly one auth.denied for request {request_id}: {events:?}"
    );
    events.into_iter().next().unwrap()
}

fn table(app: &TestApp) -> Vec<RouteEntry> {
    let (_, table) =
        countersign_http::app::router_with_table(app.service.clone(), HttpConfig::default());
    table
}

both_backends!(only_ops_are_public_and_only_whoami_is_merely_authenticated);
async fn only_ops_are_public_and_only_whoami_is_merely_authenticated(db: Db) {
    let app = TestApp::new(db).await;
    let table = table(&app);
    assert!(table.len() > 10, "the table lists the API: {table:?}");

    let mut public: Vec<&str> = table
        .iter()
        .filter(|r| r.gate == Gate::Public)
        .map(|r| r.path)
        .collect();
    public.sort_unstable();
    assert_eq!(public, ["/healthz", "/metrics", "/readyz"]);
    for r in table.iter().filter(|r| r.gate == Gate::Public) {
        assert_eq!(r.method, Method::GET, "{r:?}");
    }

    let authenticated: Vec<(&Method, &str)> = table
        .iter()
        .filter(|r| r.gate == Gate::Authenticated)
        .map(|r| (&r.method, r.path))
        .collect();
    assert_eq!(authenticated, [(&Method::GET, "/api/v1/auth/whoami")]);

    // Everything else names a permission, and every API route lives under /api/v1.
    for r in &table {
        match r.gate {
            Gate::Public => {}
            Gate::Authenticated | Gate::Permission(_) | Gate::UseCase(_) => {
                assert!(r.path.starts_with("/api/v1/"), "{r:?}");
            }
        }
    }

    // Only the votes leave the permission check to their use case (two-person integrity
    // ranks above it there).
    let mut use_case: Vec<&str> = table
        .iter()
        .filter(|r| matches!(r.gate, Gate::UseCase(_)))
        .map(|r| r.path)
        .collect();
    use_case.sort_unstable();
    assert_eq!(
        use_case,
        [
            "/api/v1/approvals/{id}/approve",
            "/api/v1/approvals/{id}/reject"
        ]
    );

    // No (method, path) is registered twice (a second registration would shadow a gate).
    let mut seen = std::collections::BTreeSet::new();
    for r in &table {
        assert!(
            seen.insert((r.method.to_string(), r.path)),
            "registered twice: {r:?}"
        );
    }

    // The public routes answer without a key.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let reply = app.send(Method::GET, path, None, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    }
}

both_backends!(every_permission_route_refuses_without_a_key_and_audits_it);
async fn every_permission_route_refuses_without_a_key_and_audits_it(db: Db) {
    let app = TestApp::new(db).await;
    let routes: Vec<RouteEntry> = table(&app)
        .into_iter()
        .filter(|r| {
            matches!(
                r.gate,
                Gate::Permission(_) | Gate::UseCase(_) | Gate::Authenticated
            )
        })
        .collect();
    assert!(!routes.is_empty());
    let before = app.snapshot().await;
    for (n, r) in routes.iter().enumerate() {
        let path = concrete(r.path);
        let request_id = format!("gate-anon-{n}");
        let reply = app
            .send(
                r.method.clone(),
                &path,
                None,
                body_for(&r.method),
                &[("x-request-id", &request_id)],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{} {path}: {}",
            r.method,
            reply.text
        );
        assert_eq!(reply.code(), "unauthenticated", "{} {path}", r.method);
        assert_eq!(reply.json["error"]["request_id"], request_id.as_str());
        let event = denied_event(&app, &request_id).await;
        assert_eq!(event["category"], "auth");
        assert_eq!(event["authorization"]["decision"], "deny", "{event}");
        assert_eq!(event["result"]["outcome"], "error");
        assert_eq!(event["result"]["kind"], "unauthenticated");
        assert_eq!(event["resource"]["type"], "route");
        assert_eq!(event["resource"]["id"], format!("{} {}", r.method, r.path));
        if let Some(p) = r.gate.permission() {
            assert_eq!(event["authorization"]["permission"], p.as_str(), "{event}");
        }
    }
    assert_eq!(app.snapshot().await, before, "refusals change nothing");
}

both_backends!(every_permission_route_refuses_a_principal_without_roles_and_audits_it);
async fn every_permission_route_refuses_a_principal_without_roles_and_audits_it(db: Db) {
    let app = TestApp::new(db).await;
    let (nobody_id, nobody) = app.principal("nobody", &[]).await;

    // A key without roles still passes the `Authenticated` gate.
    let reply = app.get("/api/v1/auth/whoami", &nobody).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["principal"]["id"], nobody_id.as_str());
    assert_eq!(reply.json["permissions"], Value::Array(vec![]));

    let routes: Vec<RouteEntry> = table(&app)
        .into_iter()
        .filter(|r| matches!(r.gate, Gate::Permission(_) | Gate::UseCase(_)))
        .collect();
    let before = app.snapshot().await;
    for (n, r) in routes.iter().enumerate() {
        let Some(p) = r.gate.permission() else {
            unreachable!()
        };
        let path = concrete(r.path);
        let request_id = format!("gate-nobody-{n}");
        let reply = app
            .send(
                r.method.clone(),
                &path,
                Some(&nobody),
                body_for(&r.method),
                &[("x-request-id", &request_id)],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{} {path}: {}",
            r.method,
            reply.text
        );
        assert_eq!(reply.code(), "forbidden", "{} {path}", r.method);
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(p.as_str()),
            "the refusal names the permission: {}",
            reply.text
        );
        let event = denied_event(&app, &request_id).await;
        assert_eq!(event["authorization"]["decision"], "deny", "{event}");
        assert_eq!(event["authorization"]["permission"], p.as_str(), "{event}");
        assert_eq!(event["actor"]["id"], nobody_id.as_str());
        assert_eq!(event["actor"]["name"], "nobody");
        assert!(event["actor"]["key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with("key_")));
        assert_eq!(event["result"]["kind"], "forbidden");
        match r.gate {
            // The gate refuses naming the route.
            Gate::Permission(_) => {
                assert_eq!(event["resource"]["id"], format!("{} {}", r.method, r.path));
            }
            // The use case refuses naming what was asked for.
            _ => {
                let id = path.split('/').nth(4).unwrap();
                assert_eq!(event["resource"]["id"], id, "{event}");
            }
        }
    }
    assert_eq!(app.snapshot().await, before, "refusals change nothing");
}

#[test]
fn concrete_paths_use_the_right_id_types() {
    assert!(concrete("/api/v1/jobs/{id}/complete").starts_with("/api/v1/jobs/job_"));
    assert!(concrete("/api/v1/approvals/{id}").starts_with("/api/v1/approvals/apr_"));
    assert!(
        concrete("/api/v1/auth/principals/{id}/keys").starts_with("/api/v1/auth/principals/prn_")
    );
    assert_eq!(
        concrete("/api/v1/auth/roles/{id}/permissions/{perm}"),
        "/api/v1/auth/roles/no-such-role/permissions/audit.read"
    );
    assert_eq!(concrete("/api/v1/policies"), "/api/v1/policies");
}
