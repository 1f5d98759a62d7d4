//! The scheduler's loops through the service, with the API to set up and to look: approval
//! expiry, lease reclaim (and failure after the last attempt), and bypass mode.

use std::time::Duration;

use axum::http::StatusCode;
use countersign_http::HttpConfig;
use countersign_service::scheduler::SchedulerReport;
use countersign_service::ServiceConfig;
use serde_json::{json, Value};

use crate::support::{Db, TestApp};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Past a one-second deadline (approval timeout or lease).
async fn wait_past_one_second() {
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

both_backends!(due_approvals_expire_once_and_cancel_their_jobs);
async fn due_approvals_expire_once_and_cancel_their_jobs(db: Db) {
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
    let job_id = s(&r.json["job"]["id"]);
    let approval_id = s(&r.json["approval"]["id"]);
    let r = app.request_job(&requester, &later_subject, json!({})).await;
    let later_approval = s(&r.json["approval"]["id"]);

    // Nothing is due yet.
    assert_eq!(
        app.service.run_scheduler_once().await.unwrap(),
        SchedulerReport::default()
    );

    wait_past_one_second().await;

    // Past the deadline, before the reaper: a vote cannot decide it any more.
    let before = app.snapshot().await;
    let r = app
        .post(
            &format!("/api/v1/approvals/{approval_id}/approve"),
            &sec,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "approval_expired");
    assert_eq!(app.snapshot().await, before);

    let report = app.service.run_scheduler_once().await.unwrap();
    assert_eq!(
        report,
        SchedulerReport {
            approvals_expired: 1,
            leases_reclaimed: 0,
            jobs_failed: 0
        }
    );

    let r = app
        .get(&format!("/api/v1/approvals/{approval_id}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "expired");
    assert_eq!(r.json["decided_by"], "system:reaper");
    assert!(r.json["decided_at"].is_string());
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "cancelled");
    assert_eq!(r.json["result_message"], "approval expired");
    // The other request is untouched.
    let r = app
        .get(&format!("/api/v1/approvals/{later_approval}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "pending");

    let expired = app.events("approval.expired").await;
    assert_eq!(expired.len(), 1);
    let e = &expired[0];
    assert_eq!(e["actor"]["id"], "system:reaper");
    assert_eq!(e["actor"]["kind"], "system");
    assert_eq!(
        e["resource"],
        json!({"type": "approval", "id": approval_id})
    );
    assert_eq!(e["details"]["job_id"], job_id.as_str());
    assert_eq!(e["details"]["policy_id"], short.as_str());
    assert_eq!(e["authorization"]["decision"], "allow");
    let cancelled = app.events("job.cancelled").await;
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["actor"]["id"], "system:reaper");
    assert_eq!(cancelled[0]["resource"]["id"], job_id.as_str());

    // A second pass does nothing.
    let snapshot = app.snapshot().await;
    let events = app.audit_events().await.len();
    assert_eq!(
        app.service.run_scheduler_once().await.unwrap(),
        SchedulerReport::default()
    );
    assert_eq!(app.snapshot().await, snapshot);
    assert_eq!(app.audit_events().await.len(), events);
}

both_backends!(expired_leases_go_back_to_pending_then_fail);
async fn expired_leases_go_back_to_pending_then_fail(db: Db) {
    let config = ServiceConfig {
        max_attempts: 2,
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (worker_id, worker) = app.principal("wendy", &["worker"]).await;
    let (worker2_id, worker2) = app.principal("walt", &["worker"]).await;
    let open = app.policy("open", json!([]), None).await;
    let subject = app.subject("jobs.example.com", &open).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let job_id = s(&r.json["job"]["id"]);

    // First claim; its one-second lease runs out.
    let r = app
        .post("/api/v1/jobs/claim", &worker, json!({"lease_secs": 1}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["attempts"], 1);
    wait_past_one_second().await;
    let report = app.service.run_scheduler_once().await.unwrap();
    assert_eq!(report.leases_reclaimed, 1);
    assert_eq!(report.jobs_failed, 0);
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["claimed_by"], Value::Null);
    assert_eq!(r.json["lease_expires_at"], Value::Null);
    assert_eq!(r.json["attempts"], 1);
    let lease_events = app.events("job.lease_expired").await;
    assert_eq!(lease_events.len(), 1);
    assert_eq!(lease_events[0]["actor"]["id"], "system:scheduler");
    assert_eq!(lease_events[0]["resource"]["id"], job_id.as_str());
    assert_eq!(lease_events[0]["details"]["claimed_by"], worker_id.as_str());
    assert_eq!(lease_events[0]["details"]["now"], "pending");

    // The first holder lost the lease: it can no longer complete the job.
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/complete"),
            &worker,
            json!({"outcome": "succeeded"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_transition", "{}", r.text);

    // Second (and last) attempt, by another worker; it runs out too.
    let r = app
        .post("/api/v1/jobs/claim", &worker2, json!({"lease_secs": 1}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], job_id.as_str());
    assert_eq!(r.json["attempts"], 2);
    assert_eq!(r.json["claimed_by"], worker2_id.as_str());
    wait_past_one_second().await;
    let report = app.service.run_scheduler_once().await.unwrap();
    assert_eq!(report.leases_reclaimed, 0);
    assert_eq!(report.jobs_failed, 1);
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "failed");
    assert_eq!(r.json["attempts"], 2);
    assert!(r.json["result_message"].is_string());
    let lease_events = app.events("job.lease_expired").await;
    assert_eq!(lease_events.len(), 2);
    assert_eq!(lease_events[1]["details"]["now"], "failed");
    assert_eq!(
        lease_events[1]["details"]["claimed_by"],
        worker2_id.as_str()
    );

    // Failed is terminal: nothing to claim, nothing more to reclaim.
    let r = app.post("/api/v1/jobs/claim", &worker, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.service.run_scheduler_once().await.unwrap(),
        SchedulerReport::default()
    );
}

both_backends!(a_lease_still_running_is_left_alone);
async fn a_lease_still_running_is_left_alone(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let open = app.policy("open", json!([]), None).await;
    let subject = app.subject("jobs.example.com", &open).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let job_id = s(&r.json["job"]["id"]);
    let r = app
        .post("/api/v1/jobs/claim", &worker, json!({"lease_secs": 600}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.service.run_scheduler_once().await.unwrap(),
        SchedulerReport::default()
    );
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "running");
    assert!(app.events("job.lease_expired").await.is_empty());
}

both_backends!(bypass_decides_every_approval_at_once);
async fn bypass_decides_every_approval_at_once(db: Db) {
    let config = ServiceConfig {
        approval_bypass: true,
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let (requester_id, requester) = app.principal("rita", &["requester"]).await;
    let policy = app
        .policy(
            "prod",
            json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}]),
            None,
        )
        .await;
    let subject = app.subject("api.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({"x": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["job"]["status"], "pending");
    let approval = &r.json["approval"];
    assert_eq!(approval["state"], "approved");
    assert_eq!(approval["decided_by"], "system:bypass");
    assert_eq!(approval["remaining"], json!([]));
    assert_eq!(approval["votes"], json!([]));
    let job_id = s(&r.json["job"]["id"]);
    let approval_id = s(&approval["id"]);

    // What the API answers later agrees with what the request answered.
    let r = app
        .get(&format!("/api/v1/approvals/{approval_id}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "approved");
    assert_eq!(r.json["decided_by"], "system:bypass");
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "pending");

    let bypassed = app.events("approval.bypassed").await;
    assert_eq!(bypassed.len(), 1);
    assert_eq!(bypassed[0]["actor"]["id"], "system:bypass");
    assert_eq!(bypassed[0]["actor"]["kind"], "system");
    assert_eq!(
        bypassed[0]["resource"],
        json!({"type": "approval", "id": approval_id})
    );
    assert_eq!(bypassed[0]["details"]["job_id"], job_id.as_str());
    // The request itself is still audited as the requester's, and bypass is never a vote.
    let requested = app.events("approval.requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["actor"]["id"], requester_id.as_str());
    assert!(app.events("approval.approved").await.is_empty());
    assert!(app.events("approval.voted").await.is_empty());

    // Nothing is left for the reaper.
    assert_eq!(
        app.service.run_scheduler_once().await.unwrap(),
        SchedulerReport::default()
    );
}
