//! A NUL character (`\u0000`) anywhere in input is 400 `invalid_request` naming the field —
//! never a 500 — and writes nothing, identically on PostgreSQL and SQLite: job payload keys
//! and values at any depth, labels, notes, reasons, messages, ingested events (their line
//! named), and the audit query filters.
//!
//! The same cases run through the real router over each backend.

use axum::http::{Method, StatusCode};
use countersign_domain::{Actor, ApprovalId, AuditEvent, Category, JobId, Resource};
use serde_json::{json, Value};

use crate::support::{Api, Db};

/// `(status, body)` is a 400 `invalid_request` whose message names `field`.
fn assert_names(case: &str, (status, body): &(StatusCode, Value), field: &str) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{case}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(field),
        "{case}: `{message}` should name `{field}`"
    );
    assert!(message.contains("NUL"), "{case}: {message}");
}

fn event_line(actor: &str, resource: &str) -> String {
    let mut who = Actor::anonymous();
    who.id = actor.to_owned();
    AuditEvent::new(
        Category::Access,
        "doc.read",
        who,
        Resource::new("doc", resource),
    )
    .to_json_line()
}

async fn nul_is_refused_everywhere(api: Api) {
    // A subject to request jobs on (no approval needed).
    let (status, policy) = api
        .post(
            "/api/v1/policies",
            json!({"name": "open", "requires_approval": false, "rules": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (status, subject) = api
        .post(
            "/api/v1/subjects",
            json!({"kind": "certificate", "name": "a.example.com", "policy_id": policy["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subject}");
    let jobs = format!("/api/v1/subjects/{}/jobs", subject["id"].as_str().unwrap());
    let before = api.state().await;

    let nul = "a\u{0}b";
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "payload value",
            jobs.clone(),
            json!({"action": "certificate.renew", "payload": {"k": nul}}),
            "payload.k",
        ),
        (
            "payload key",
            jobs.clone(),
            json!({"action": "certificate.renew", "payload": {nul: 1}}),
            "payload.a\\u0000b",
        ),
        (
            "nested payload",
            jobs.clone(),
            json!({"action": "certificate.renew", "payload": {"a": {"b": [1, {"c": nul}]}}}),
            "payload.a.b[1].c",
        ),
        (
            "label",
            "/api/v1/subjects".to_owned(),
            json!({"kind": "certificate", "name": "b.example.com", "policy_id": policy["id"], "labels": {"env": nul}}),
            "labels.env",
        ),
        (
            "note",
            format!("/api/v1/approvals/{}/approve", ApprovalId::new()),
            json!({"note": nul}),
            "note",
        ),
        (
            "reason",
            format!("/api/v1/jobs/{}/cancel", JobId::new()),
            json!({"reason": nul}),
            "reason",
        ),
        (
            "message",
            format!("/api/v1/jobs/{}/complete", JobId::new()),
            json!({"outcome": "succeeded", "message": nul}),
            "message",
        ),
        (
            "subject name",
            "/api/v1/subjects".to_owned(),
            json!({"kind": "certificate", "name": nul, "policy_id": policy["id"]}),
            "name",
        ),
    ];
    for (case, path, body, field) in cases {
        let reply = api.post(&path, body).await;
        assert_names(case, &reply, field);
    }

    // Ingestion: the batch is refused naming the bad event's line (NDJSON) or index (array).
    let ok = event_line("alice", "doc-1");
    let bad_actor = event_line(nul, "doc-2");
    let bad_resource = event_line("alice", nul);
    let reply = api
        .send(
            Method::POST,
            "/api/v1/audit/events",
            Some(("application/x-ndjson", format!("{ok}\n{bad_actor}\n"))),
        )
        .await;
    assert_names("ingested actor.id", &reply, "actor.id");
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        reply.1
    );
    let reply = api
        .send(
            Method::POST,
            "/api/v1/audit/events",
            Some(("application/json", format!("[{ok}, {bad_resource}]"))),
        )
        .await;
    assert_names("ingested resource.id", &reply, "resource.id");
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("index 1"),
        "{}",
        reply.1
    );

    // Query filters.
    for param in ["actor", "resource_type", "resource_id"] {
        let reply = api
            .send(Method::GET, &format!("/api/v1/audit?{param}=a%00b"), None)
            .await;
        assert_names(param, &reply, param);
    }
    let reply = api
        .send(
            Method::GET,
            "/api/v1/audit/export?from=2026-01-01T00:00:00Z&category=a%00",
            None,
        )
        .await;
    assert_names("export category", &reply, "category");

    assert_eq!(api.state().await, before, "refusals write nothing");
}

both_backends!(nul_is_refused);
async fn nul_is_refused(db: Db) {
    nul_is_refused_everywhere(Api::over(&db).await).await;
}
