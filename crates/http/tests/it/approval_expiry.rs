//! A pending approval past its `expires_at` reads as `expired` everywhere at once — show,
//! list, the `?state=` filters, a job's approval, eligibility — before the scheduler writes it
//! down; a vote on it is 409 `approval_expired` and changes nothing; the scheduler then writes
//! the state and its audit event exactly once.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::{s, Api, Db, TestApp};

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| s(&a["id"]))
        .collect()
}

both_backends!(an_approval_past_its_deadline_reads_expired_before_the_scheduler_runs);
async fn an_approval_past_its_deadline_reads_expired_before_the_scheduler_runs(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let short = app
        .policy("short", json!([{"role": "security", "count": 1}]), Some(1))
        .await;
    let long = app
        .policy(
            "long",
            json!([{"role": "security", "count": 1}]),
            Some(3600),
        )
        .await;
    let due_subject = app.subject("due.example.com", &short).await;
    let later_subject = app.subject("later.example.com", &long).await;
    let r = app.request_job(&requester, &due_subject, json!({})).await;
    let job = s(&r.json["job"]["id"]);
    let due = s(&r.json["approval"]["id"]);
    let r = app.request_job(&requester, &later_subject, json!({})).await;
    let later = s(&r.json["approval"]["id"]);

    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Show, the job's approval and eligibility.
    let r = app
        .get(&format!("/api/v1/approvals/{due}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "expired", "{}", r.text);
    let r = app
        .get(&format!("/api/v1/approvals/{later}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "pending", "{}", r.text);
    let r = app
        .get(&format!("/api/v1/approvals/{due}/eligible"), &sec)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "expired", "{}", r.text);
    assert_eq!(r.json["caller"]["would_count"], false, "{}", r.text);

    // Lists and filters.
    let r = app.get("/api/v1/approvals", &app.admin).await;
    let states: Vec<(String, String)> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (s(&a["id"]), s(&a["state"])))
        .collect();
    assert!(
        states.contains(&(due.clone(), "expired".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(later.clone(), "pending".into())),
        "{states:?}"
    );
    let r = app.get("/api/v1/approvals?state=pending", &app.admin).await;
    assert_eq!(ids(&r.json), std::slice::from_ref(&later), "{}", r.text);
    let r = app.get("/api/v1/approvals?state=expired", &app.admin).await;
    assert_eq!(ids(&r.json), std::slice::from_ref(&due), "{}", r.text);
    assert_eq!(r.json["data"][0]["state"], "expired");

    // A vote: 409 approval_expired, nothing written.
    let before = app.snapshot().await;
    let audit_before = app.audit_count().await;
    for verb in ["approve", "reject"] {
        let r = app
            .post(&format!("/api/v1/approvals/{due}/{verb}"), &sec, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.code(), "approval_expired", "{}", r.text);
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.audit_count().await, audit_before);

    // The scheduler writes it down exactly once.
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 1);
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 0);
    let expired: Vec<Value> = app
        .events("approval.expired")
        .await
        .into_iter()
        .filter(|e| e["resource"]["id"] == due.as_str())
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    let r = app
        .get(&format!("/api/v1/approvals/{due}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "expired");
    assert_eq!(r.json["decided_by"], "system:reaper");
    let r = app.get(&format!("/api/v1/jobs/{job}"), &app.admin).await;
    assert_eq!(r.json["status"], "cancelled");
    let r = app
        .post(&format!("/api/v1/approvals/{due}/approve"), &sec, json!({}))
        .await;
    assert_eq!(r.code(), "approval_expired", "{}", r.text);
    let r = app.get("/api/v1/approvals?state=expired", &app.admin).await;
    assert_eq!(ids(&r.json), [due], "{}", r.text);
}

both_backends!(the_state_filters_agree);
/// The state filters compare `expires_at` with now in the store's own query: the same on
/// every backend.
async fn the_state_filters_agree(db: Db) {
    let api = Api::over(&db).await;
    let mut approvals = Vec::new();
    for (name, timeout) in [("short", 1), ("long", 3600)] {
        let (status, policy) = api
            .post(
                "/api/v1/policies",
                json!({"name": name, "requires_approval": true, "approval_timeout_secs": timeout,
                       "rules": [{"role": "approver", "count": 1}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{policy}");
        let (_, subject) = api
            .post(
                "/api/v1/subjects",
                json!({"kind": "certificate", "name": format!("{name}.example.com"), "policy_id": policy["id"]}),
            )
            .await;
        let (status, r) = api
            .post(
                &format!("/api/v1/subjects/{}/jobs", s(&subject["id"])),
                json!({"action": "certificate.renew", "payload": {}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        approvals.push(s(&r["approval"]["id"]));
    }
    let [due, later] = [approvals[0].clone(), approvals[1].clone()];
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let (_, r) = api.get("/api/v1/approvals?state=pending").await;
    assert_eq!(ids(&r), [later], "{r}");
    let (_, r) = api.get("/api/v1/approvals?state=expired").await;
    assert_eq!(ids(&r), std::slice::from_ref(&due), "{r}");
    let (_, r) = api.get(&format!("/api/v1/approvals/{due}")).await;
    assert_eq!(r["state"], "expired", "{r}");
    assert_eq!(api.service.expire_due_approvals().await.unwrap(), 1);
    let (_, r) = api.get("/api/v1/approvals?state=expired").await;
    assert_eq!(ids(&r), [due], "{r}");
}
