//! `/metrics` after real actions: decision counters by outcome and policy, the pending-age
//! histogram with the contract's buckets, the HTTP request counter and the audit write
//! counter.
//!
//! The metrics recorder is global to the test process, so every test here runs alone
//! (`both_backends!(…, alone)`) and compares before/after deltas, with policy labels unique
//! to the test.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use serde_json::json;

use crate::support::{metric_value, Db, TestApp};

const DECISIONS: &str = "countersign_approval_decisions_total";
const PENDING_AGE: &str = "countersign_approval_pending_age_seconds";
const HTTP_REQUESTS: &str = "countersign_http_requests_total";
const AUDIT_WRITES: &str = "countersign_audit_writes_total";

async fn scrape(app: &TestApp) -> String {
    let r = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text"
    );
    r.text
}

async fn decisions(app: &TestApp, outcome: &str, policy: &str) -> f64 {
    app.metric(DECISIONS, &[("outcome", outcome), ("policy", policy)])
        .await
}

async fn audit_rows(app: &TestApp) -> f64 {
    let n = app.db.count("audit_events").await;
    n as f64
}

both_backends!(a_quorum_counts_one_approval_and_its_requests, alone);
async fn a_quorum_counts_one_approval_and_its_requests(db: Db) {
    let app = TestApp::new(db).await;
    // Install the exporter before anything is recorded.
    scrape(&app).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, a) = app.principal("alice", &["security"]).await;
    let (_, b) = app.principal("bob", &["platform"]).await;
    let policy = app
        .policy(
            "two-rules",
            json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}]),
            None,
        )
        .await;
    let subject = app.subject("m.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = r.json["approval"]["id"].as_str().unwrap().to_owned();

    let approve_200 = [
        ("method", "POST"),
        ("route", "/api/v1/approvals/{id}/approve"),
        ("status", "200"),
    ];
    let approve_409 = [
        ("method", "POST"),
        ("route", "/api/v1/approvals/{id}/approve"),
        ("status", "409"),
    ];
    let requests_before = app.metric(HTTP_REQUESTS, &approve_200).await;
    let conflicts_before = app.metric(HTTP_REQUESTS, &approve_409).await;
    let approved_before = decisions(&app, "approved", &policy).await;
    let age_count_before = app.metric(&format!("{PENDING_AGE}_count"), &[]).await;
    let audit_ok_before = app
        .metric(AUDIT_WRITES, &[("sink", "database"), ("status", "ok")])
        .await;
    let rows_before = audit_rows(&app).await;

    let path = format!("/api/v1/approvals/{approval}/approve");
    let r = app.post(&path, &a, json!({})).await;
    assert_eq!(r.json["state"], "pending");
    assert_eq!(
        decisions(&app, "approved", &policy).await,
        approved_before,
        "no decision yet"
    );
    let r = app.post(&path, &b, json!({})).await;
    assert_eq!(r.json["state"], "approved");
    let r = app.post(&path, &b, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    assert_eq!(
        decisions(&app, "approved", &policy).await,
        approved_before + 1.0
    );
    for outcome in ["rejected", "expired", "bypassed"] {
        assert_eq!(decisions(&app, outcome, &policy).await, 0.0, "{outcome}");
    }
    assert_eq!(
        app.metric(HTTP_REQUESTS, &approve_200).await,
        requests_before + 2.0
    );
    assert_eq!(
        app.metric(HTTP_REQUESTS, &approve_409).await,
        conflicts_before + 1.0
    );
    assert_eq!(
        app.metric(&format!("{PENDING_AGE}_count"), &[]).await,
        age_count_before + 1.0
    );
    // Every audit row the votes wrote was counted as a database write (two votes, one
    // approval decision: three events).
    let written = audit_rows(&app).await - rows_before;
    assert_eq!(written, 3.0);
    assert_eq!(
        app.metric(AUDIT_WRITES, &[("sink", "database"), ("status", "ok")])
            .await,
        audit_ok_before + written
    );
}

both_backends!(the_pending_age_histogram_has_the_contract_buckets, alone);
async fn the_pending_age_histogram_has_the_contract_buckets(db: Db) {
    let app = TestApp::new(db).await;
    scrape(&app).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let policy = app
        .policy("buckets", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("h.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = r.json["approval"]["id"].as_str().unwrap().to_owned();

    let before = scrape(&app).await;
    let r = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &sec,
            json!({}),
        )
        .await;
    assert_eq!(r.json["state"], "approved");
    let after = scrape(&app).await;

    let bucket = format!("{PENDING_AGE}_bucket");
    let les: Vec<String> = after
        .lines()
        .filter(|l| l.starts_with(&format!("{bucket}{{")))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        les,
        ["60", "300", "1800", "3600", "21600", "86400", "+Inf"],
        "{after}"
    );
    // Decided within a minute: every bucket counts it once more.
    for le in &les {
        let b = metric_value(&before, &bucket, &[("le", le)]);
        let a = metric_value(&after, &bucket, &[("le", le)]);
        assert_eq!(a, b + 1.0, "le={le}");
    }
    assert!(
        after.contains(&format!("# TYPE {PENDING_AGE} histogram")),
        "{after}"
    );
}

both_backends!(rejections_and_expiries_are_counted_per_policy, alone);
async fn rejections_and_expiries_are_counted_per_policy(db: Db) {
    let app = TestApp::new(db).await;
    scrape(&app).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let rejecting = app
        .policy("rejecting", json!([{"role": "security", "count": 1}]), None)
        .await;
    let expiring = app
        .policy(
            "expiring",
            json!([{"role": "security", "count": 1}]),
            Some(1),
        )
        .await;
    let s1 = app.subject("r.example.com", &rejecting).await;
    let s2 = app.subject("e.example.com", &expiring).await;

    let r = app.request_job(&requester, &s1, json!({})).await;
    let to_reject = r.json["approval"]["id"].as_str().unwrap().to_owned();
    let r = app.request_job(&requester, &s2, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let rejected_before = decisions(&app, "rejected", &rejecting).await;
    let reject_route = [
        ("method", "POST"),
        ("route", "/api/v1/approvals/{id}/reject"),
        ("status", "200"),
    ];
    let reject_requests_before = app.metric(HTTP_REQUESTS, &reject_route).await;
    let r = app
        .post(
            &format!("/api/v1/approvals/{to_reject}/reject"),
            &sec,
            json!({"note": "no"}),
        )
        .await;
    assert_eq!(r.json["state"], "rejected");
    assert_eq!(
        decisions(&app, "rejected", &rejecting).await,
        rejected_before + 1.0
    );
    assert_eq!(
        app.metric(HTTP_REQUESTS, &reject_route).await,
        reject_requests_before + 1.0
    );
    assert_eq!(decisions(&app, "approved", &rejecting).await, 0.0);

    // A cancel of an awaiting job is counted as `cancelled`, not as a rejection.
    let cancelled_before = decisions(&app, "cancelled", &rejecting).await;
    let r = app.request_job(&requester, &s1, json!({"n": 2})).await;
    let job = r.json["job"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(&format!("/api/v1/jobs/{job}/cancel"), &requester, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        decisions(&app, "rejected", &rejecting).await,
        rejected_before + 1.0
    );
    assert_eq!(
        decisions(&app, "cancelled", &rejecting).await,
        cancelled_before + 1.0
    );

    let expired_before = decisions(&app, "expired", &expiring).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 1);
    assert_eq!(
        decisions(&app, "expired", &expiring).await,
        expired_before + 1.0
    );
    // Nothing more on a second pass.
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 0);
    assert_eq!(
        decisions(&app, "expired", &expiring).await,
        expired_before + 1.0
    );
}

both_backends!(bypassed_decisions_are_counted, alone);
async fn bypassed_decisions_are_counted(db: Db) {
    let config = ServiceConfig {
        approval_bypass: true,
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    scrape(&app).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let policy = app
        .policy("bypassed", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("b.example.com", &policy).await;
    let before = decisions(&app, "bypassed", &policy).await;
    let audit_before = app
        .metric(AUDIT_WRITES, &[("sink", "database"), ("status", "ok")])
        .await;
    let rows_before = audit_rows(&app).await;
    for n in 0..2 {
        let r = app.request_job(&requester, &subject, json!({"n": n})).await;
        assert_eq!(r.json["approval"]["state"], "approved");
    }
    assert_eq!(decisions(&app, "bypassed", &policy).await, before + 2.0);
    assert_eq!(decisions(&app, "approved", &policy).await, 0.0);
    // job.requested, approval.requested, approval.bypassed, twice.
    let written = audit_rows(&app).await - rows_before;
    assert_eq!(written, 6.0);
    assert_eq!(
        app.metric(AUDIT_WRITES, &[("sink", "database"), ("status", "ok")])
            .await,
        audit_before + written
    );
}
