//! The largest leaf: an entry bundle stores each leaf behind a 2-byte length, so an event's
//! canonical JSON is at most 65,535 bytes. Ingest refuses a longer event, naming its line; an
//! event the service builds from a list with no bound of its own (a principal's roles) is
//! stored fitted, its largest details named as omitted; and a leaf stored longer anyway (behind
//! the service's back) makes its entry bundle a clear 409, not a bare 500.

use axum::http::{Method, StatusCode};
use countersign_domain::audit::{MAX_EVENT_BYTES, OMITTED_DETAILS};
use countersign_domain::{Actor, AuditEvent, Category, Resource};
use countersign_service::tlog::EntryBundleId;
use serde_json::{json, Value};

use crate::log::{app, get_bytes, sequence};
use crate::support::{Db, TestApp};

/// An access event whose details carry `pad` bytes of text.
fn padded(pad: usize) -> AuditEvent {
    AuditEvent::new(
        Category::Access,
        "doc.read",
        Actor::anonymous(),
        Resource::new("doc", "d-1"),
    )
    .details(json!({"note": "x".repeat(pad)}))
}

/// The entry bundle holding every leaf of a log under 256 leaves.
async fn whole_bundle(app: &TestApp, size: u64) -> (StatusCode, Vec<u8>) {
    let bundle = EntryBundleId {
        index: 0,
        width: size as u32,
    };
    get_bytes(
        app,
        &format!("/api/v1/log/{}", bundle.path()),
        Some(&app.admin),
    )
    .await
}

async fn ingest_refuses_an_event_over_the_leaf_limit_by_its_line(db: Db) {
    let (app, _) = app(db.clone()).await;
    let ingest = |body: String| {
        let app = app.clone();
        async move {
            app.send_bytes(
                Method::POST,
                "/api/v1/audit/events",
                &app.admin,
                Some("application/x-ndjson"),
                body.into_bytes(),
            )
            .await
        }
    };
    let before = app.audit_count().await;
    let r = ingest(format!(
        "{}\n{}\n",
        padded(10).to_json_line(),
        padded(MAX_EVENT_BYTES).to_json_line()
    ))
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.code(), "invalid_request");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("line 2: event: "), "{message}");
    assert!(message.contains("at most 65535"), "{message}");
    assert_eq!(app.audit_count().await, before, "nothing of the batch");

    // Just under the limit: stored, sequenced, and served in its entry bundle.
    let big = padded(MAX_EVENT_BYTES - 1000);
    let r = ingest(format!("{}\n", big.to_json_line())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let size = sequence(&app).await;
    let (status, bundle) = whole_bundle(&app, size).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bundle.len() > MAX_EVENT_BYTES - 1000);
}
both_backends!(ingest_refuses_an_event_over_the_leaf_limit_by_its_line);

async fn an_own_event_over_the_limit_is_stored_fitted(db: Db) {
    let (app, _) = app(db.clone()).await;
    let (id, _) = app.principal("many-roles", &[]).await;
    // 1,100 roles of 63 characters, held by one principal: its `principal.disabled` event
    // lists them all, some 74 KB.
    let now = db.now();
    let names: Vec<String> = (0..1100)
        .map(|i| format!("r{i:04}-{}", "x".repeat(57)))
        .collect();
    for chunk in names.chunks(100) {
        let roles: Vec<String> = chunk
            .iter()
            .map(|r| format!("('{r}', '', false, 1, {now}, {now})"))
            .collect();
        db.execute(
            &format!(
                "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
                 VALUES {}",
                roles.join(", ")
            ),
            &[],
        )
        .await;
        let held: Vec<String> = chunk
            .iter()
            .map(|r| format!("('{id}', '{r}', {now})"))
            .collect();
        db.execute(
            &format!(
                "INSERT INTO principal_roles (principal_id, role_id, granted_at) VALUES {}",
                held.join(", ")
            ),
            &[],
        )
        .await;
    }
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{id}/disable"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let disabled = app.events("principal.disabled").await;
    assert_eq!(disabled.len(), 1);
    let event: AuditEvent = serde_json::from_value(disabled[0].clone()).unwrap();
    assert!(event.canonical_len() <= MAX_EVENT_BYTES);
    let details = &disabled[0]["details"];
    assert_eq!(details["name"], "many-roles", "the small members stay");
    assert!(details.get("roles").is_none());
    assert_eq!(details[OMITTED_DETAILS][0]["member"], "roles");
    assert!(details[OMITTED_DETAILS][0]["bytes"].as_u64().unwrap() > MAX_EVENT_BYTES as u64);

    let size = sequence(&app).await;
    let (status, _) = whole_bundle(&app, size).await;
    assert_eq!(status, StatusCode::OK);
}
both_backends!(an_own_event_over_the_limit_is_stored_fitted);

async fn a_stored_leaf_too_long_for_a_bundle_is_a_409_naming_it(db: Db) {
    let (app, _) = app(db.clone()).await;
    // Stored straight through the store, as a writer that skipped validation would.
    let long = padded(MAX_EVENT_BYTES + 10);
    app.seed_audit(std::slice::from_ref(&long)).await;
    let size = sequence(&app).await;
    let id = long.event_id.to_string();
    let index: i64 = db
        .scalar(
            "SELECT leaf_index FROM log_leaves WHERE event_id = $1",
            &[&id],
        )
        .await;

    let bundle = EntryBundleId {
        index: 0,
        width: size as u32,
    };
    let r = app
        .get(&format!("/api/v1/log/{}", bundle.path()), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("leaf {index} (event {id})")),
        "{message}"
    );
    assert!(message.contains("65535"), "{message}");
    // The event and its proof are still served.
    let r = app
        .get(&format!("/api/v1/audit/{id}/proof"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["leaf_index"], Value::from(index));
}
both_backends!(a_stored_leaf_too_long_for_a_bundle_is_a_409_naming_it);
