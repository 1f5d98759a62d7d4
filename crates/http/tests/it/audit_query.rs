//! `GET /api/v1/audit` and `GET /api/v1/audit/{event_id}`: every filter of the contract,
//! keyset pages that walk the trail with no gap and no repeat, bad values answered 400, and
//! the permission gate.

use axum::http::StatusCode;
use countersign_domain::{Actor, ActorKind, AuditEvent, Authorization, Category, Resource};
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::{Db, TestApp};

/// Seeded events live in 2020, far from the events the test app itself writes (now).
const T0: OffsetDateTime = datetime!(2020-03-01 00:00:00 UTC);
const WINDOW: &str = "from=2020-03-01T00:00:00Z&to=2020-03-02T00:00:00Z";

fn actor(kind: ActorKind, id: &str, name: Option<&str>) -> Actor {
    Actor {
        kind,
        id: id.to_owned(),
        name: name.map(str::to_owned),
        key_id: None,
    }
}

fn event(
    secs: i64,
    category: Category,
    action: &str,
    actor: Actor,
    resource: Resource,
) -> AuditEvent {
    AuditEvent::new(category, action, actor, resource).at(T0 + Duration::seconds(secs))
}

fn actions(r: &crate::support::Reply) -> Vec<String> {
    r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {}", r.text))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Six events, one per line of the filter table below, at T0 + 1..=6 s.
fn six() -> Vec<AuditEvent> {
    let alice = actor(
        ActorKind::User,
        "prn_01hx00000000000000000000a1",
        Some("alice"),
    );
    let bob = actor(
        ActorKind::User,
        "prn_01hx00000000000000000000b0",
        Some("bob"),
    );
    vec![
        event(
            1,
            Category::Lifecycle,
            "approval.approved",
            alice.clone(),
            Resource::new("approval", "apr_1"),
        ),
        event(
            2,
            Category::Auth,
            "auth.denied",
            Actor::anonymous(),
            Resource::new("route", "GET /api/v1/jobs"),
        )
        .authorization(Authorization::deny(Some("job.read"), "missing API key")),
        event(
            3,
            Category::Config,
            "policy.created",
            bob.clone(),
            Resource::new("policy", "pol_1"),
        ),
        event(
            4,
            Category::Access,
            "doc.read",
            actor(ActorKind::Service, "svc-7", Some("reporting")),
            Resource::new("doc", "d-1"),
        ),
        event(
            5,
            Category::Audit,
            "audit.exported",
            alice,
            Resource::new("audit_export", "req-1"),
        ),
        event(
            6,
            Category::Lifecycle,
            "job.requested",
            bob,
            Resource::new("approval", "apr_2"),
        ),
    ]
}

both_backends!(every_filter_selects_exactly_its_events);
async fn every_filter_selects_exactly_its_events(db: Db) {
    let app = TestApp::new(db).await;
    app.seed_audit(&six()).await;

    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "job.requested",
                "audit.exported",
                "doc.read",
                "policy.created",
                "auth.denied",
                "approval.approved",
            ],
        ),
        (
            "&category=lifecycle",
            &["job.requested", "approval.approved"],
        ),
        ("&category=auth", &["auth.denied"]),
        ("&category=config", &["policy.created"]),
        ("&category=access", &["doc.read"]),
        ("&category=audit", &["audit.exported"]),
        ("&action=doc.read", &["doc.read"]),
        ("&action=nothing.matches", &[]),
        // `actor` matches the actor id …
        (
            "&actor=prn_01hx00000000000000000000a1",
            &["audit.exported", "approval.approved"],
        ),
        ("&actor=svc-7", &["doc.read"]),
        // … or its name.
        ("&actor=bob", &["job.requested", "policy.created"]),
        ("&actor=reporting", &["doc.read"]),
        ("&actor=anonymous", &["auth.denied"]),
        (
            "&resource_type=approval",
            &["job.requested", "approval.approved"],
        ),
        ("&resource_id=pol_1", &["policy.created"]),
        (
            "&resource_type=approval&resource_id=apr_2",
            &["job.requested"],
        ),
        ("&resource_type=policy&resource_id=apr_2", &[]),
        ("&category=lifecycle&actor=alice", &["approval.approved"]),
    ];
    for (filter, expected) in cases {
        let r = app
            .get(&format!("/api/v1/audit?{WINDOW}{filter}"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.text);
        assert_eq!(actions(&r), *expected, "filter `{filter}`");
        assert_eq!(r.json["next_cursor"], Value::Null, "{filter}");
    }

    // `from` is inclusive and `to` exclusive.
    let r = app
        .get(
            "/api/v1/audit?from=2020-03-01T00:00:02Z&to=2020-03-01T00:00:05Z",
            &app.admin,
        )
        .await;
    assert_eq!(actions(&r), ["doc.read", "policy.created", "auth.denied"]);
    // Only one bound, and an offset other than Z.
    let r = app
        .get("/api/v1/audit?to=2020-03-01T02:00:03%2B02:00", &app.admin)
        .await;
    assert_eq!(
        actions(&r),
        ["auth.denied", "approval.approved"],
        "{}",
        r.text
    );
    let r = app
        .get(
            "/api/v1/audit?from=2020-03-01T00:00:06Z&category=lifecycle",
            &app.admin,
        )
        .await;
    assert_eq!(actions(&r), ["job.requested"], "{}", r.text);
}

both_backends!(events_come_back_exactly_as_stored);
async fn events_come_back_exactly_as_stored(db: Db) {
    let app = TestApp::new(db).await;
    let events = six();
    app.seed_audit(&events).await;
    let r = app
        .get(&format!("/api/v1/audit?{WINDOW}&category=auth"), &app.admin)
        .await;
    assert_eq!(r.json["data"][0], serde_json::to_value(&events[1]).unwrap());
    assert_eq!(r.json["data"][0]["authorization"]["decision"], "deny");

    // By event id.
    let id = events[3].event_id;
    let r = app.get(&format!("/api/v1/audit/{id}"), &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, serde_json::to_value(&events[3]).unwrap());
    // Unknown and malformed ids are 404.
    let unknown = countersign_domain::EventId::new();
    for path in [
        format!("/api/v1/audit/{unknown}"),
        "/api/v1/audit/apr_01hx0000000000000000000000".to_owned(),
        "/api/v1/audit/nope".to_owned(),
    ] {
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert_eq!(r.code(), "not_found");
    }
}

both_backends!(pages_walk_every_event_once_newest_first);
async fn pages_walk_every_event_once_newest_first(db: Db) {
    let app = TestApp::new(db).await;
    // 103 events, three to a timestamp, so pages split inside groups of equal `ts` and the
    // event id has to break the tie.
    let categories = [Category::Lifecycle, Category::Access];
    let events: Vec<AuditEvent> = (0..103)
        .map(|i| {
            event(
                i / 3,
                categories[(i % 2) as usize],
                "doc.read",
                actor(ActorKind::Service, "svc", None),
                Resource::new("doc", i),
            )
        })
        .collect();
    app.seed_audit(&events).await;
    let mut expected = events.clone();
    expected.sort_by_key(|e| std::cmp::Reverse((e.ts, e.event_id)));

    for (filter, want) in [
        ("", expected.clone()),
        (
            "&category=access",
            expected
                .iter()
                .filter(|e| e.category == Category::Access)
                .cloned()
                .collect(),
        ),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/audit?{WINDOW}{filter}&limit=10");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = app.get(&path, &app.admin).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let data = r.json["data"].as_array().unwrap();
            assert!(data.len() <= 10);
            seen.extend(
                data.iter()
                    .map(|e| e["event_id"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 50, "runaway pagination");
        }
        let want: Vec<String> = want.iter().map(|e| e.event_id.to_string()).collect();
        assert_eq!(
            seen, want,
            "filter `{filter}`: every event once, newest first"
        );
        assert_eq!(pages, want.len().div_ceil(10));
    }

    // The default page is 50; the largest 500.
    let r = app
        .get(&format!("/api/v1/audit?{WINDOW}"), &app.admin)
        .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 50);
    let r = app
        .get(&format!("/api/v1/audit?{WINDOW}&limit=500"), &app.admin)
        .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 103);
    assert_eq!(r.json["next_cursor"], Value::Null);
}

both_backends!(bad_values_are_400);
async fn bad_values_are_400(db: Db) {
    let app = TestApp::new(db).await;
    for (query, names) in [
        ("category=misc", "category"),
        ("category=", "category"),
        ("from=yesterday", "from"),
        ("to=2020-13-01T00:00:00Z", "to"),
        (
            "from=2020-03-01T00:00:00Z&to=2020-03-01T00:00:00Z",
            "to: must be after from",
        ),
        (
            "from=2020-03-02T00:00:00Z&to=2020-03-01T00:00:00Z",
            "to: must be after from",
        ),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=zz", "cursor"),
        ("action=Approval%20Approved", "action"),
        ("action=", "action"),
        ("actor=", "actor"),
        ("resource_type=", "resource_type"),
        ("resource_id=", "resource_id"),
        // A mistyped filter must not silently widen the answer.
        ("categroy=auth", "categroy"),
    ] {
        let r = app.get(&format!("/api/v1/audit?{query}"), &app.admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.code(), "invalid_request", "{query}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
}

both_backends!(reading_needs_audit_read);
async fn reading_needs_audit_read(db: Db) {
    let app = TestApp::new(db).await;
    let events = six();
    app.seed_audit(&events).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let (_, auditor) = app.principal("aude", &["auditor"]).await;
    let denied_before = app.events("auth.denied").await.len();
    for path in [
        "/api/v1/audit".to_owned(),
        format!("/api/v1/audit/{}", events[0].event_id),
    ] {
        let r = app.get(&path, &worker).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.code(), "forbidden");
        let r = app.get(&path, &auditor).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let denied = app.events("auth.denied").await;
    assert_eq!(denied.len(), denied_before + 2, "each refusal is audited");
    assert_eq!(
        denied.last().unwrap()["authorization"],
        json!({"decision": "deny", "permission": "audit.read", "policy": "rbac", "reason": "missing permission `audit.read`"})
    );
}
