//! Concurrency: many voters on one request, many claimers on few jobs, several reapers on the
//! same due approvals, and a vote racing the reaper. Every race must end with each piece of
//! work done exactly once and every answer accounted for.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use serde_json::{json, Value};

use crate::support::{Db, TestApp};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    app.db.scalar(sql, &[bind]).await
}

both_backends!(twenty_concurrent_voters_reach_the_quorum_exactly_once);
async fn twenty_concurrent_voters_reach_the_quorum_exactly_once(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let policy = app
        .policy(
            "three-of-many",
            json!([{"role": "reviewers", "count": 3}]),
            None,
        )
        .await;
    let subject = app.subject("race.example.com", &policy).await;
    let mut voters = Vec::new();
    for i in 0..20 {
        voters.push(
            app.principal(&format!("voter-{i:02}"), &["reviewers"])
                .await,
        );
    }
    let r = app.request_job(&requester, &subject, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job_id = s(&r.json["job"]["id"]);
    let approval_id = s(&r.json["approval"]["id"]);

    let mut tasks = Vec::new();
    for (id, key) in voters.clone() {
        let app = app.clone();
        let path = format!("/api/v1/approvals/{approval_id}/approve");
        tasks.push(tokio::spawn(async move {
            (id, app.post(&path, &key, json!({})).await)
        }));
    }
    let mut accepted = Vec::new();
    let mut deciding = 0;
    for t in tasks {
        let (id, r) = t.await.unwrap();
        match r.status {
            StatusCode::OK => {
                accepted.push(id);
                if r.json["state"] == "approved" {
                    deciding += 1;
                }
            }
            StatusCode::CONFLICT => assert_eq!(r.code(), "already_decided", "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(
        accepted.len(),
        3,
        "votes serialize: exactly the quorum's three are counted"
    );
    assert_eq!(deciding, 1, "exactly one vote decided the request");

    let votes = count(
        &app,
        "SELECT count(*) FROM votes WHERE approval_id = $1",
        &approval_id,
    )
    .await;
    assert_eq!(
        votes,
        accepted.len() as i64,
        "every 200 is a stored vote, and nothing else is"
    );
    let voters_stored: BTreeSet<String> = app
        .db
        .column::<String>(
            "SELECT principal_id FROM votes WHERE approval_id = $1",
            &[&approval_id],
        )
        .await
        .into_iter()
        .collect();
    assert_eq!(voters_stored, accepted.iter().cloned().collect());

    let state: String = app
        .db
        .scalar("SELECT state FROM approvals WHERE id = $1", &[&approval_id])
        .await;
    assert_eq!(state, "approved");
    let status: String = app
        .db
        .scalar("SELECT status FROM jobs WHERE id = $1", &[&job_id])
        .await;
    assert_eq!(status, "pending");

    assert_eq!(app.events("approval.approved").await.len(), 1);
    assert_eq!(app.events("approval.voted").await.len(), accepted.len());
    // The job moved once: no cancellation, no second decision of any kind.
    assert!(app.events("job.cancelled").await.is_empty());
    assert!(app.events("approval.rejected").await.is_empty());
    // Whoever decided it was one of the counted voters.
    let approved = &app.events("approval.approved").await[0];
    assert!(accepted.contains(&s(&approved["actor"]["id"])));
}

both_backends!(ten_claimers_on_five_jobs_never_share_one);
async fn ten_claimers_on_five_jobs_never_share_one(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let policy = app.policy("open", json!([]), None).await;
    let subject = app.subject("jobs.example.com", &policy).await;
    let mut jobs = BTreeSet::new();
    for i in 0..5 {
        let r = app.request_job(&requester, &subject, json!({"i": i})).await;
        assert_eq!(r.json["job"]["status"], "pending");
        jobs.insert(s(&r.json["job"]["id"]));
    }
    let mut workers = Vec::new();
    for i in 0..10 {
        workers.push(app.principal(&format!("worker-{i}"), &["worker"]).await);
    }

    let mut tasks = Vec::new();
    for (id, key) in workers {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            (
                id,
                app.post("/api/v1/jobs/claim", &key, json!({"lease_secs": 300}))
                    .await,
            )
        }));
    }
    let mut claimed = Vec::new();
    let mut empty = 0;
    for t in tasks {
        let (worker, r) = t.await.unwrap();
        match r.status {
            StatusCode::OK => {
                assert_eq!(r.json["status"], "running");
                assert_eq!(r.json["claimed_by"], worker.as_str());
                assert_eq!(r.json["attempts"], 1);
                claimed.push(s(&r.json["id"]));
            }
            StatusCode::NO_CONTENT => empty += 1,
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(claimed.len(), 5);
    assert_eq!(empty, 5);
    let distinct: BTreeSet<String> = claimed.iter().cloned().collect();
    assert_eq!(distinct, jobs, "each job claimed exactly once");
    let events = app.events("job.claimed").await;
    assert_eq!(events.len(), 5);
    let event_jobs: BTreeSet<String> = events.iter().map(|e| s(&e["resource"]["id"])).collect();
    assert_eq!(event_jobs, jobs);
    let running: i64 = app
        .db
        .scalar(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND attempts = 1",
            &[],
        )
        .await;
    assert_eq!(running, 5);
}

/// `n` jobs behind approvals that time out after one second, waited out.
async fn due_approvals(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let policy = app
        .policy("short", json!([{"role": "security", "count": 1}]), Some(1))
        .await;
    let subject = app.subject("due.example.com", &policy).await;
    let mut out = Vec::new();
    for i in 0..n {
        let r = app.request_job(&requester, &subject, json!({"i": i})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        out.push((s(&r.json["job"]["id"]), s(&r.json["approval"]["id"])));
    }
    // Wait until every one of them is due (the timeout is one second from its creation).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    out
}

both_backends!(concurrent_reapers_expire_each_approval_once);
async fn concurrent_reapers_expire_each_approval_once(db: Db) {
    // Small batches so the reapers loop and meet each other's locked rows.
    let config = ServiceConfig {
        scheduler_batch: 4,
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let due = due_approvals(&app, 30).await;

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let service = app.service.clone();
        tasks.push(tokio::spawn(
            async move { service.expire_due_approvals().await },
        ));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().expect("a reaper pass succeeds");
    }
    assert_eq!(total, 30, "the passes expired 30 approvals between them");
    // One more pass finds nothing.
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 0);

    let expired = app.events("approval.expired").await;
    assert_eq!(expired.len(), 30);
    let ids: BTreeSet<String> = expired.iter().map(|e| s(&e["resource"]["id"])).collect();
    assert_eq!(ids, due.iter().map(|(_, a)| a.clone()).collect());
    assert!(expired.iter().all(|e| e["actor"]["id"] == "system:reaper"));
    let cancelled = app.events("job.cancelled").await;
    assert_eq!(cancelled.len(), 30);
    let jobs: BTreeSet<String> = cancelled.iter().map(|e| s(&e["resource"]["id"])).collect();
    assert_eq!(jobs, due.iter().map(|(j, _)| j.clone()).collect());

    let left: i64 = app
        .db
        .scalar(
            "SELECT count(*) FROM approvals WHERE state <> 'expired'",
            &[],
        )
        .await;
    assert_eq!(left, 0);
    let jobs_left: i64 = app
        .db
        .scalar(
            "SELECT count(*) FROM jobs WHERE status <> 'cancelled' OR result_message <> 'approval expired'",
            &[],
        )
        .await;
    assert_eq!(jobs_left, 0);
}

both_backends!(a_vote_racing_the_reaper_leaves_one_decision);
async fn a_vote_racing_the_reaper_leaves_one_decision(db: Db) {
    let app = TestApp::new(db).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let due = due_approvals(&app, 1).await;
    let (job_id, approval_id) = due[0].clone();

    let vote = {
        let app = app.clone();
        let path = format!("/api/v1/approvals/{approval_id}/approve");
        tokio::spawn(async move { app.post(&path, &sec, json!({})).await })
    };
    let reap = {
        let service = app.service.clone();
        tokio::spawn(async move { service.expire_due_approvals().await })
    };
    let vote = vote.await.unwrap();
    let reaped = reap.await.unwrap().unwrap();
    // The vote either lost to the reaper or came past the deadline: both are conflicts. (A
    // reaper that found the row locked by the voter skipped it; the next pass settles it.)
    assert_eq!(vote.status, StatusCode::CONFLICT, "{}", vote.text);
    assert_eq!(vote.code(), "approval_expired");
    let settled = app.service.expire_due_approvals().await.unwrap();
    assert_eq!(reaped + settled, 1, "expired exactly once");
    assert_eq!(app.service.expire_due_approvals().await.unwrap(), 0);

    let decisions: Vec<Value> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|e| {
            e["resource"]["id"] == approval_id.as_str()
                && ["approval.approved", "approval.rejected", "approval.expired"]
                    .contains(&e["action"].as_str().unwrap())
        })
        .collect();
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    assert_eq!(decisions[0]["action"], "approval.expired");
    let r = app
        .get(&format!("/api/v1/approvals/{approval_id}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "expired");
    assert_eq!(r.json["votes"], json!([]));
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin).await;
    assert_eq!(r.json["status"], "cancelled");
    assert_eq!(r.json["result_message"], "approval expired");
}

both_backends!(a_refused_completion_never_hides_a_pending_job_from_claimers);
async fn a_refused_completion_never_hides_a_pending_job_from_claimers(db: Db) {
    // A refused request must release its row locks before it answers: a claim that follows
    // at once must still see the job (a `SKIP LOCKED` claim passes over locked rows).
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let (_, other) = app.principal("walt", &["worker"]).await;
    let policy = app.policy("open", json!([]), None).await;
    let subject = app.subject("jobs.example.com", &policy).await;
    for i in 0..20 {
        let r = app.request_job(&requester, &subject, json!({"i": i})).await;
        let job_id = s(&r.json["job"]["id"]);
        let r = app
            .post(
                &format!("/api/v1/jobs/{job_id}/complete"),
                &other,
                json!({"outcome": "succeeded"}),
            )
            .await;
        assert_eq!(r.code(), "invalid_transition", "{}", r.text);
        let r = app.post("/api/v1/jobs/claim", &worker, json!({})).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "round {i}: the pending job must be claimable"
        );
        assert_eq!(r.json["id"], job_id.as_str());
    }
}
