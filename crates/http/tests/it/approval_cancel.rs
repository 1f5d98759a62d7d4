//! Cancelling a job that awaits approval ends its approval `cancelled` — audited as
//! `approval.cancelled` by the canceller, filterable as `?state=cancelled`, counted under the
//! decisions metric's `cancelled` outcome — and never as `rejected` "by" the requester. On
//! both backends (the SQLite schema gains the state through migration 0002).

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{s, Api, Db, TestApp};

both_backends!(cancelling_an_awaiting_job_cancels_its_approval);
async fn cancelling_an_awaiting_job_cancels_its_approval(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let admin_id = s(&app.get("/api/v1/auth/whoami", &app.admin).await.json["principal"]["id"]);
    let policy = app
        .policy("sec", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("a.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let job = s(&r.json["job"]["id"]);
    let approval = s(&r.json["approval"]["id"]);
    let r = app.request_job(&requester, &subject, json!({"n": 2})).await;
    let other = s(&r.json["approval"]["id"]);

    // Cancelled by someone other than the requester: decided by the canceller.
    let r = app
        .post(
            &format!("/api/v1/jobs/{job}/cancel"),
            &app.admin,
            json!({"reason": "not needed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/approvals/{approval}"), &sec)
        .await;
    assert_eq!(r.json["state"], "cancelled", "{}", r.text);
    assert_eq!(r.json["decided_by"], admin_id.as_str());

    let cancelled = app.events("approval.cancelled").await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["resource"]["id"], approval.as_str());
    assert_eq!(cancelled[0]["actor"]["id"], admin_id.as_str());
    assert_eq!(cancelled[0]["details"]["job_id"], job.as_str());
    assert!(app.events("approval.rejected").await.is_empty());

    let r = app.get("/api/v1/approvals?state=cancelled", &sec).await;
    let listed: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| s(&a["id"]))
        .collect();
    assert_eq!(listed, std::slice::from_ref(&approval), "{}", r.text);
    let r = app.get("/api/v1/approvals?state=pending", &sec).await;
    assert_eq!(r.json["data"][0]["id"], other.as_str(), "{}", r.text);

    // Terminal: a late vote is already_decided.
    let r = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &sec,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "already_decided");
}

// SQLite only: it checks the approvals table that migration 0002 rebuilds on SQLite (its
// guard trigger and `pragma_foreign_key_check`); PostgreSQL alters the table in place.
sqlite_only!(cancelled_approvals_are_stored_on_sqlite);
/// The same through the router on SQLite: the rebuilt table accepts the new state, keeps its
/// triggers, and the filter finds it.
async fn cancelled_approvals_are_stored_on_sqlite(db: Db) {
    let api = Api::over(&db).await;
    let (status, policy) = api
        .post(
            "/api/v1/policies",
            json!({"name": "sec", "requires_approval": true, "rules": [{"role": "approver", "count": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (_, subject) = api
        .post(
            "/api/v1/subjects",
            json!({"kind": "certificate", "name": "a.example.com", "policy_id": policy["id"]}),
        )
        .await;
    let (status, r) = api
        .post(
            &format!("/api/v1/subjects/{}/jobs", s(&subject["id"])),
            json!({"action": "certificate.renew", "payload": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let job = s(&r["job"]["id"]);
    let approval = s(&r["approval"]["id"]);
    let (status, r) = api
        .post(&format!("/api/v1/jobs/{job}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (_, r) = api.get(&format!("/api/v1/approvals/{approval}")).await;
    assert_eq!(r["state"], "cancelled", "{r}");
    let (_, r) = api.get("/api/v1/approvals?state=cancelled").await;
    assert_eq!(r["data"][0]["id"], approval.as_str(), "{r}");
    let (_, r) = api.get("/api/v1/audit?action=approval.cancelled").await;
    assert_eq!(r["data"].as_array().unwrap().len(), 1, "{r}");

    // The rebuilt table kept its guard trigger and every foreign key holds.
    let err = db
        .try_execute(
            "UPDATE approvals SET state = 'pending' WHERE id = $1",
            &[&approval],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("approvals_terminal"), "{err}");
    let violations: Vec<String> = db
        .column("SELECT \"table\" FROM pragma_foreign_key_check", &[])
        .await;
    assert!(violations.is_empty(), "{violations:?}");
}
