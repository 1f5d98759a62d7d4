//! `POST /api/v1/audit/events`: NDJSON and JSON-array batches, all or nothing, idempotent on
//! `event_id`, `ingested_by` set by the server, the count and byte limits, the permission —
//! and the real `countersign_audit::HttpSink` posting to a real server.

use axum::http::{Method, StatusCode};
use countersign_audit::{AuditSink, HttpSink, HttpSinkConfig, RetryPolicy, SinkError};
use countersign_domain::{
    Actor, ActorKind, AuditEvent, AuditResult, Authorization, Category, Decision, Resource,
};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use serde_json::{json, Value};

use crate::support::{Db, Reply, TestApp};

const PATH: &str = "/api/v1/audit/events";
const NDJSON: &str = "application/x-ndjson";

/// An event as an embedding service would send it: its own actor, resource and
/// authorization, free strings all.
fn event(i: usize) -> AuditEvent {
    AuditEvent::new(
        Category::Access,
        "document.viewed",
        Actor {
            kind: ActorKind::User,
            id: format!("u-{i}"),
            name: Some("carol".into()),
            key_id: Some("sso-session-9".into()),
        },
        Resource::new("document", format!("doc-{i}")),
    )
    .authorization(Authorization {
        decision: if i % 2 == 0 {
            Decision::Allow
        } else {
            Decision::Deny
        },
        permission: Some("documents:view".into()),
        policy: "opa".into(),
        reason: Some("team membership".into()),
    })
    .result(AuditResult::Ok)
    .request_id(Some("upstream-req-1"))
    .details(json!({"i": i}))
}

fn ndjson(events: &[AuditEvent]) -> String {
    events.iter().map(|e| e.to_json_line() + "\n").collect()
}

async fn post(
    app: &TestApp,
    key: &str,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Reply {
    app.send_bytes(Method::POST, PATH, key, content_type, body.into())
        .await
}

/// The stored event, parsed from its stored body.
async fn stored(app: &TestApp, e: &AuditEvent) -> Option<Value> {
    app.db
        .optional::<String>(
            "SELECT CAST(body AS TEXT) FROM audit_events WHERE event_id = $1",
            &[&e.event_id.to_string()],
        )
        .await
        .map(|b| serde_json::from_str(&b).unwrap())
}

both_backends!(ndjson_batches_land_as_sent_and_resending_is_a_no_op);
async fn ndjson_batches_land_as_sent_and_resending_is_a_no_op(db: Db) {
    let app = TestApp::new(db).await;
    let (writer_id, writer) = app.principal("reporting", &["audit-writer"]).await;
    let mut batch: Vec<AuditEvent> = (0..3).map(event).collect();
    // Whatever a client claims, the server says who ingested the event.
    batch[1].ingested_by = Some("someone-else".into());
    // Blank lines (and CRLF endings) are ignored.
    let body = format!(
        "\n{}\r\n\n{}\n{}",
        batch[0].to_json_line(),
        batch[1].to_json_line(),
        batch[2].to_json_line()
    );
    let r = post(&app, &writer, Some(NDJSON), body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, json!({"accepted": 3, "duplicates": 0}));

    for e in &batch {
        let mut want = serde_json::to_value(e).unwrap();
        want["ingested_by"] = json!(writer_id);
        assert_eq!(
            stored(&app, e).await.unwrap(),
            want,
            "kept as sent, plus ingested_by"
        );
    }
    let denied = stored(&app, &batch[1]).await.unwrap();
    assert_eq!(
        denied["authorization"],
        json!({"decision": "deny", "permission": "documents:view", "policy": "opa", "reason": "team membership"})
    );
    assert_eq!(denied["actor"]["id"], "u-1");

    // Resending is a no-op; a new event alongside old ones is stored once.
    let count = app.audit_count().await;
    let r = post(&app, &writer, Some(NDJSON), body).await;
    assert_eq!(r.json, json!({"accepted": 0, "duplicates": 3}));
    batch.push(event(3));
    let r = post(
        &app,
        &writer,
        Some("application/x-ndjson; charset=utf-8"),
        ndjson(&batch),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, json!({"accepted": 1, "duplicates": 3}));
    assert_eq!(app.audit_count().await, count + 1);
    // A repeat inside one batch is a duplicate too.
    let twice = vec![event(4), event(5)];
    let r = post(
        &app,
        &writer,
        Some(NDJSON),
        ndjson(&[twice.clone(), twice].concat()),
    )
    .await;
    assert_eq!(r.json, json!({"accepted": 2, "duplicates": 2}));

    // Sub-microsecond times are stored at the store's precision, body and order key alike.
    let mut fine = event(6);
    fine.ts = time::macros::datetime!(2026-05-20 10:00:00.123_456_789 UTC);
    let r = post(&app, &writer, Some(NDJSON), ndjson(&[fine.clone()])).await;
    assert_eq!(r.json["accepted"], 1);
    assert_eq!(
        stored(&app, &fine).await.unwrap()["ts"],
        "2026-05-20T10:00:00.123456Z"
    );

    // An empty batch stores nothing and is not an error.
    let r = post(&app, &writer, Some(NDJSON), "\n\n").await;
    assert_eq!(r.json, json!({"accepted": 0, "duplicates": 0}));
}

both_backends!(json_array_batches);
async fn json_array_batches(db: Db) {
    let app = TestApp::new(db).await;
    let batch: Vec<AuditEvent> = (0..4).map(event).collect();
    let r = post(
        &app,
        &app.admin,
        Some("application/json"),
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, json!({"accepted": 4, "duplicates": 0}));
    let r = post(
        &app,
        &app.admin,
        Some("application/json"),
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!(r.json, json!({"accepted": 0, "duplicates": 4}));
    assert!(stored(&app, &batch[3]).await.unwrap()["ingested_by"]
        .as_str()
        .unwrap()
        .starts_with("prn_"));
}

both_backends!(one_bad_event_rejects_the_whole_batch);
async fn one_bad_event_rejects_the_whole_batch(db: Db) {
    let app = TestApp::new(db).await;
    let good: Vec<AuditEvent> = (0..3).map(event).collect();
    let with = |i: usize, f: &dyn Fn(&mut Value)| -> Vec<Value> {
        let mut vs: Vec<Value> = good
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        f(&mut vs[i]);
        vs
    };
    let as_ndjson = |vs: &[Value]| -> String { vs.iter().map(|v| format!("{v}\n\n")).collect() };
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("unknown field", with(2, &|v| v["surprise"] = json!(1))),
        (
            "unsupported schema",
            with(2, &|v| v["schema"] = json!("countersign.audit.v2")),
        ),
        (
            "unknown variant `misc`",
            with(2, &|v| v["category"] = json!("misc")),
        ),
        (
            "missing field `actor`",
            with(2, &|v| {
                v.as_object_mut().unwrap().remove("actor");
            }),
        ),
        (
            "evt_",
            with(2, &|v| {
                v["event_id"] = json!("apr_01hx0000000000000000000000")
            }),
        ),
        ("action", with(2, &|v| v["action"] = json!("Not An Action"))),
        ("resource.id", with(2, &|v| v["resource"]["id"] = json!(""))),
        (
            "actor.id",
            with(2, &|v| v["actor"]["id"] = json!("x".repeat(513))),
        ),
    ];
    let before = app.audit_count().await;
    for (what, values) in &cases {
        // NDJSON: every event is followed by a blank line, so the third event is on line 5.
        let r = post(&app, &app.admin, Some(NDJSON), as_ndjson(values)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
        let m = r.json["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("line 5"), "{what}: {m}");
        assert!(m.contains(what), "{what}: {m}");
        // JSON array: index 2.
        let r = post(
            &app,
            &app.admin,
            Some("application/json"),
            serde_json::to_vec(values).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        let m = r.json["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("event at index 2"), "{what}: {m}");
        assert!(m.contains(what), "{what}: {m}");
    }
    // Not JSON at all.
    let r = post(
        &app,
        &app.admin,
        Some(NDJSON),
        format!("{}\n{{not json\n", good[0].to_json_line()),
    )
    .await;
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2"),
        "{}",
        r.text
    );
    let r = post(
        &app,
        &app.admin,
        Some("application/json"),
        serde_json::to_string(&good[0]).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON array"),
        "{}",
        r.text
    );
    // No usable Content-Type.
    for ct in [None, Some("text/plain")] {
        let r = post(&app, &app.admin, ct, ndjson(&good)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ct:?}");
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type"));
    }
    // Nothing at all was written, not even the good events before the bad one.
    assert_eq!(app.audit_count().await, before);
    for e in &good {
        assert!(stored(&app, e).await.is_none());
    }
}

both_backends!(count_and_size_limits);
async fn count_and_size_limits(db: Db) {
    // A 4 KiB body limit: the ingest route takes 40 KiB, every other route 4 KiB.
    let http = HttpConfig {
        max_body: 4096,
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(db, ServiceConfig::default(), http).await;
    let before = app.audit_count().await;

    // ~20 KiB: over the global limit, under the ingest route's.
    let batch: Vec<AuditEvent> = (0..40).map(event).collect();
    let body = ndjson(&batch);
    assert!(
        body.len() > 4096 * 3 && body.len() < 40_960,
        "{}",
        body.len()
    );
    let r = post(&app, &app.admin, Some(NDJSON), body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["accepted"], 40);
    // The same size elsewhere is refused.
    let r = app
        .send_bytes(
            Method::POST,
            "/api/v1/policies",
            &app.admin,
            Some("application/json"),
            format!("{{\"name\": \"{}\"}}", "p".repeat(20_000)).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);

    // Over ten times the limit: 413, nothing written.
    let big: Vec<AuditEvent> = (100..200).map(event).collect();
    let body = ndjson(&big);
    assert!(body.len() > 40_960);
    let r = post(&app, &app.admin, Some(NDJSON), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.code(), "payload_too_large");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("40960"));
    assert_eq!(app.audit_count().await, before + 40);
}

both_backends!(at_most_a_thousand_events_per_request);
async fn at_most_a_thousand_events_per_request(db: Db) {
    let app = TestApp::new(db).await;
    let before = app.audit_count().await;
    let small = |i: usize| {
        AuditEvent::new(
            Category::Access,
            "a",
            Actor::anonymous(),
            Resource::new("d", i),
        )
    };
    let batch: Vec<AuditEvent> = (0..1001).map(small).collect();
    let r = post(&app, &app.admin, Some(NDJSON), ndjson(&batch)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 1000 events"));
    let r = post(
        &app,
        &app.admin,
        Some("application/json"),
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(app.audit_count().await, before);
    let r = post(&app, &app.admin, Some(NDJSON), ndjson(&batch[..1000])).await;
    assert_eq!(r.json, json!({"accepted": 1000, "duplicates": 0}));
}

both_backends!(ingesting_needs_audit_write);
async fn ingesting_needs_audit_write(db: Db) {
    let app = TestApp::new(db).await;
    let (_, auditor) = app.principal("aude", &["auditor"]).await;
    let batch = vec![event(0)];
    let r = post(&app, &auditor, Some(NDJSON), ndjson(&batch)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "forbidden");
    assert!(stored(&app, &batch[0]).await.is_none());
    let denied = app.events("auth.denied").await;
    assert_eq!(
        denied.last().unwrap()["authorization"]["permission"],
        "audit.write"
    );
    let r = post(
        &app,
        "cs_key_01hx0000000000000000000000_nope",
        Some(NDJSON),
        ndjson(&batch),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(stored(&app, &batch[0]).await.is_none());
}

both_backends!(the_http_sink_posts_to_a_real_server);
async fn the_http_sink_posts_to_a_real_server(db: Db) {
    let app = TestApp::new(db).await;
    let (writer_id, writer) = app.principal("billing", &["audit-writer"]).await;
    let (addr, server) = app.spawn_server().await;
    let sink = HttpSink::new(&format!("http://{addr}"), writer.clone()).unwrap();

    let batch: Vec<AuditEvent> = (0..250).map(event).collect();
    sink.write(&batch).await.unwrap();
    // The sink may resend after a lost answer: the server makes that harmless.
    sink.write(&batch).await.unwrap();
    for e in [&batch[0], &batch[249]] {
        let mut want = serde_json::to_value(e).unwrap();
        want["ingested_by"] = json!(writer_id);
        assert_eq!(stored(&app, e).await.unwrap(), want);
    }
    let n: i64 = app
        .db
        .scalar(
            "SELECT count(*) FROM audit_events WHERE ingested_by = $1",
            &[&writer_id],
        )
        .await;
    assert_eq!(n, 250);

    // A key without audit.write is a final rejection, not a retry.
    let (_, reader) = app.principal("reader", &["auditor"]).await;
    let config = HttpSinkConfig::new(format!("http://{addr}"), reader).retry(RetryPolicy::none());
    let err = HttpSink::from_config(config)
        .unwrap()
        .write(&[event(999)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Rejected {
                status: Some(403),
                ..
            }
        ),
        "{err:?}"
    );
    server.abort();
}
