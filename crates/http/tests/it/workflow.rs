//! The approval workflow end to end through the real router: a two-rule quorum that one
//! person holding both roles cannot fill alone, two-person integrity, claims and completion,
//! the reject and cancel paths, idempotent requests, policy generations, and list paging —
//! each step checked against the audit trail it must leave.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Db, Reply, TestApp};

/// `payload` as sent (keys out of order, `2.0` spelled with a fraction) and the SHA-256 of
/// its RFC 8785 canonical form `{"a":[1,2,{"x":null,"y":"é"}],"domain":"api.example.com","z":true}`,
/// computed outside Rust with `sha256sum`.
const RAW_PAYLOAD: &str =
    r#"{"z": true, "domain": "api.example.com", "a": [1, 2.0, {"y": "é", "x": null}]}"#;
const RAW_PAYLOAD_SHA256: &str = "b873dbe2464792cf8ed449d245ee571ed678a8cdc15986a2178e06456e006bb5";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

async fn approve(app: &TestApp, key: &str, approval: &str) -> Reply {
    app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        key,
        json!({"note": "lgtm"}),
    )
    .await
}

async fn reject(app: &TestApp, key: &str, approval: &str, note: &str) -> Reply {
    app.post(
        &format!("/api/v1/approvals/{approval}/reject"),
        key,
        json!({"note": note}),
    )
    .await
}

/// The events about any of `resources`, oldest first.
async fn trail(app: &TestApp, resources: &[&str]) -> Vec<Value> {
    app.audit_events()
        .await
        .into_iter()
        .filter(|e| resources.iter().any(|r| e["resource"]["id"] == *r))
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| s(&e["action"])).collect()
}

fn assert_allowed(event: &Value, actor: &str, permission: &str) {
    assert_eq!(event["actor"]["id"], actor, "{event}");
    assert_eq!(event["authorization"]["decision"], "allow", "{event}");
    assert_eq!(event["authorization"]["permission"], permission, "{event}");
    assert_eq!(event["result"]["outcome"], "ok", "{event}");
}

both_backends!(two_rules_two_people_then_a_worker);
async fn two_rules_two_people_then_a_worker(db: Db) {
    let app = TestApp::new(db).await;
    // The requester is also a security approver: eligible, but never for its own request.
    let (requester_id, requester) = app.principal("rita", &["requester", "security"]).await;
    let (both_id, both) = app.principal("bo", &["security", "platform"]).await;
    let (sec_id, sec) = app.principal("sam", &["security"]).await;
    let (_plat_id, plat) = app.principal("pat", &["platform"]).await;
    let (other_approver_id, other_approver) = app.principal("otto", &["approver"]).await;
    let (worker_id, worker) = app.principal("wendy", &["worker"]).await;
    let (_worker2_id, worker2) = app.principal("walt", &["worker"]).await;

    let policy = app
        .policy(
            "prod-tls",
            json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}]),
            Some(86_400),
        )
        .await;
    let subject = app.subject("api.example.com", &policy).await;

    // The request: 201, the job waits behind a pending approval.
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/subjects/{subject}/jobs"),
            Some(&requester),
            Some(Body::from(format!(
                r#"{{"action": "certificate.renew", "payload": {RAW_PAYLOAD}}}"#
            ))),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job = r.json["job"].clone();
    let approval = r.json["approval"].clone();
    let job_id = s(&job["id"]);
    let approval_id = s(&approval["id"]);
    assert!(job_id.starts_with("job_") && approval_id.starts_with("apr_"));
    assert_eq!(job["status"], "awaiting_approval");
    assert_eq!(job["requested_by"], requester_id.as_str());
    assert_eq!(job["subject_id"], subject.as_str());
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["claimed_by"], Value::Null);
    assert_eq!(job["payload_sha256"], RAW_PAYLOAD_SHA256);
    assert_eq!(
        job["payload"],
        serde_json::from_str::<Value>(RAW_PAYLOAD).unwrap()
    );
    assert_eq!(approval["state"], "pending");
    assert_eq!(approval["job_id"], job_id.as_str());
    assert_eq!(approval["policy_id"], policy.as_str());
    assert_eq!(approval["subject_id"], subject.as_str());
    assert_eq!(approval["requested_by"], requester_id.as_str());
    assert_eq!(approval["payload_sha256"], RAW_PAYLOAD_SHA256);
    assert_eq!(approval["payload"], job["payload"]);
    assert_eq!(approval["votes"], json!([]));
    assert_eq!(
        approval["remaining"],
        json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}])
    );
    assert_eq!(approval["rules"], approval["remaining"]);
    assert_eq!(approval["decided_at"], Value::Null);
    assert_eq!(approval["decided_by"], Value::Null);

    // The requester cannot decide its own request, whatever roles it holds.
    let before = app.snapshot().await;
    let r = approve(&app, &requester, &approval_id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "two_person_integrity");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two-person integrity"),
        "{}",
        r.text
    );
    assert_eq!(app.snapshot().await, before);
    // A second key of the same principal is the same person.
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{requester_id}/keys"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let requester_key2 = s(&r.json["key"]);
    let before = app.snapshot().await;
    let r = approve(&app, &requester_key2, &approval_id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "two_person_integrity");
    // A principal with the permission but none of the rules' roles is not an eligible approver.
    let r = approve(&app, &other_approver, &approval_id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "forbidden");
    assert_eq!(app.snapshot().await, before, "refused votes change nothing");

    // One person holding both roles fills one place, not two.
    let r = approve(&app, &both, &approval_id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "pending");
    let remaining = r.json["remaining"].as_array().unwrap();
    assert_eq!(remaining.len(), 1, "{}", r.text);
    assert_eq!(remaining[0]["count"], 1);
    assert!(["security", "platform"].contains(&remaining[0]["role"].as_str().unwrap()));
    assert_eq!(r.json["votes"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["votes"][0]["principal_id"], both_id.as_str());
    assert_eq!(r.json["votes"][0]["decision"], "approve");
    assert_eq!(r.json["votes"][0]["note"], "lgtm");
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &requester).await;
    assert_eq!(r.json["status"], "awaiting_approval");

    // And cannot vote again.
    let before = app.snapshot().await;
    let r = approve(&app, &both, &approval_id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "already_voted");
    assert_eq!(app.snapshot().await, before);

    // A second, distinct person completes the quorum: the double-role holder moves to
    // platform and the security-only approver takes security.
    let r = approve(&app, &sec, &approval_id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "approved");
    assert_eq!(r.json["remaining"], json!([]));
    assert_eq!(r.json["decided_by"], sec_id.as_str());
    assert!(r.json["decided_at"].is_string());
    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &requester).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "pending");

    // Any vote on a decided request.
    let before = app.snapshot().await;
    let r = approve(&app, &plat, &approval_id).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "already_decided");
    let r = reject(&app, &plat, &approval_id, "too late").await;
    assert_eq!(r.code(), "already_decided");
    assert_eq!(app.snapshot().await, before);

    // A worker claims it.
    let r = app
        .post("/api/v1/jobs/claim", &worker, json!({"lease_secs": 120}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], job_id.as_str());
    assert_eq!(r.json["status"], "running");
    assert_eq!(r.json["attempts"], 1);
    assert_eq!(r.json["claimed_by"], worker_id.as_str());
    assert!(r.json["lease_expires_at"].is_string(), "{}", r.text);

    // Only the lease holder may complete it.
    let before = app.snapshot().await;
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/complete"),
            &worker2,
            json!({"outcome": "succeeded"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "invalid_transition");
    assert_eq!(app.snapshot().await, before);

    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/complete"),
            &worker,
            json!({"outcome": "succeeded", "message": "renewed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "succeeded");
    assert_eq!(r.json["result_message"], "renewed");
    assert_eq!(r.json["lease_expires_at"], Value::Null);

    // Completing again, by anyone, is not a transition.
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/complete"),
            &worker,
            json!({"outcome": "failed"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_transition", "{}", r.text);

    // Nothing left to claim.
    let r = app.post("/api/v1/jobs/claim", &worker, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty());

    // The audit trail, oldest first.
    let events = trail(&app, &[&job_id, &approval_id]).await;
    assert_eq!(
        actions(&events),
        [
            "job.requested",
            "approval.requested",
            "auth.denied",
            "auth.denied",
            "auth.denied",
            "approval.voted",
            "approval.voted",
            "approval.approved",
            "job.claimed",
            "job.completed",
        ],
        "{events:#?}"
    );
    let [requested, apr_requested, denied_tpi, denied_tpi_key2, denied_ineligible, voted1, voted2, approved, claimed, completed] =
        &events[..]
    else {
        unreachable!()
    };
    assert_allowed(requested, &requester_id, "job.request");
    assert_eq!(requested["resource"], json!({"type": "job", "id": job_id}));
    assert_eq!(requested["details"]["payload_sha256"], RAW_PAYLOAD_SHA256);
    assert_eq!(requested["details"]["policy_id"], policy.as_str());
    assert_allowed(apr_requested, &requester_id, "job.request");
    assert_eq!(
        apr_requested["resource"],
        json!({"type": "approval", "id": approval_id})
    );

    assert_eq!(denied_tpi["actor"]["id"], requester_id.as_str());
    assert_eq!(denied_tpi["authorization"]["decision"], "deny");
    assert_eq!(
        denied_tpi["authorization"]["permission"],
        "approval.approve"
    );
    assert_eq!(denied_tpi["result"]["kind"], "two_person_integrity");
    assert_eq!(denied_tpi_key2["actor"]["id"], requester_id.as_str());
    assert_eq!(denied_tpi_key2["result"]["kind"], "two_person_integrity");
    assert_ne!(
        denied_tpi_key2["actor"]["key_id"], denied_tpi["actor"]["key_id"],
        "two keys, one person"
    );
    assert_eq!(denied_ineligible["actor"]["id"], other_approver_id.as_str());
    assert_eq!(denied_ineligible["authorization"]["decision"], "deny");
    assert_eq!(denied_ineligible["result"]["kind"], "forbidden");

    assert_allowed(voted1, &both_id, "approval.approve");
    assert_eq!(voted1["details"]["decision"], "approve");
    assert_allowed(voted2, &sec_id, "approval.approve");
    assert_allowed(approved, &sec_id, "approval.approve");
    assert_eq!(approved["resource"]["id"], approval_id.as_str());
    let mut approvers: Vec<(String, String)> = approved["details"]["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (s(&a["principal_id"]), s(&a["role"])))
        .collect();
    approvers.sort();
    let mut expected = vec![
        (both_id.clone(), "platform".to_owned()),
        (sec_id.clone(), "security".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        approvers, expected,
        "one person fills one place: {approved}"
    );
    assert_allowed(claimed, &worker_id, "job.claim");
    assert_eq!(claimed["details"]["attempt"], 1);
    assert_allowed(completed, &worker_id, "job.complete");
    assert_eq!(completed["details"]["outcome"], "succeeded");
    for e in &events {
        assert!(
            e["request_id"].is_string(),
            "every request-driven event names its request: {e}"
        );
        assert_eq!(e["schema"], "countersign.audit.v1");
    }

    // The same trail through the API, newest first.
    let r = app
        .get(
            &format!("/api/v1/audit?resource_id={approval_id}&limit=500"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut via_api: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["event_id"]))
        .collect();
    via_api.reverse();
    let from_db: Vec<String> = events
        .iter()
        .filter(|e| e["resource"]["id"] == approval_id.as_str())
        .map(|e| s(&e["event_id"]))
        .collect();
    assert_eq!(via_api, from_db);
}

both_backends!(one_eligible_reject_cancels_the_job);
async fn one_eligible_reject_cancels_the_job(db: Db) {
    let app = TestApp::new(db).await;
    let (requester_id, requester) = app.principal("rita", &["requester", "security"]).await;
    let (sec_id, sec) = app.principal("sam", &["security"]).await;
    let (_, sec2) = app.principal("sue", &["security"]).await;
    let policy = app
        .policy("two-sec", json!([{"role": "security", "count": 2}]), None)
        .await;
    let subject = app.subject("db.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({"n": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job_id = s(&r.json["job"]["id"]);
    let approval_id = s(&r.json["approval"]["id"]);

    // The requester cannot reject its own request either.
    let r = reject(&app, &requester, &approval_id, "mine").await;
    assert_eq!(r.code(), "two_person_integrity", "{}", r.text);

    let r = reject(&app, &sec, &approval_id, "wrong host").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "rejected");
    assert_eq!(r.json["decided_by"], sec_id.as_str());
    assert_eq!(r.json["votes"][0]["decision"], "reject");
    assert_eq!(r.json["votes"][0]["note"], "wrong host");

    let r = app.get(&format!("/api/v1/jobs/{job_id}"), &requester).await;
    assert_eq!(r.json["status"], "cancelled");
    assert_eq!(r.json["result_message"], "approval rejected");

    let r = approve(&app, &sec2, &approval_id).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "already_decided");

    // A cancelled job is never claimable.
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let r = app.post("/api/v1/jobs/claim", &worker, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let events = trail(&app, &[&job_id, &approval_id]).await;
    let lifecycle: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] != "auth.denied")
        .collect();
    assert_eq!(
        lifecycle
            .iter()
            .map(|e| s(&e["action"]))
            .collect::<Vec<_>>(),
        [
            "job.requested",
            "approval.requested",
            "approval.voted",
            "approval.rejected",
            "job.cancelled"
        ]
    );
    assert_allowed(lifecycle[2], &sec_id, "approval.reject");
    assert_eq!(lifecycle[2]["details"]["decision"], "reject");
    assert_allowed(lifecycle[3], &sec_id, "approval.reject");
    assert_allowed(lifecycle[4], &sec_id, "approval.reject");
    assert_eq!(lifecycle[4]["resource"]["id"], job_id.as_str());
    let denied: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "auth.denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["actor"]["id"], requester_id.as_str());
    assert_eq!(denied[0]["authorization"]["permission"], "approval.reject");
}

both_backends!(cancelling_an_awaiting_job_cancels_its_approval);
async fn cancelling_an_awaiting_job_cancels_its_approval(db: Db) {
    let app = TestApp::new(db).await;
    let (requester_id, requester) = app.principal("rita", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let policy = app
        .policy("sec", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("a.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let job_id = s(&r.json["job"]["id"]);
    let approval_id = s(&r.json["approval"]["id"]);

    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/cancel"),
            &requester,
            json!({"reason": "not needed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "cancelled");
    assert_eq!(r.json["result_message"], "not needed");

    let r = app
        .get(&format!("/api/v1/approvals/{approval_id}"), &requester)
        .await;
    assert_eq!(r.json["state"], "cancelled");
    assert_eq!(r.json["decided_by"], requester_id.as_str());

    // Terminal now: a second cancel and a late vote are both conflicts.
    let before = app.snapshot().await;
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/cancel"),
            &requester,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "invalid_transition");
    let r = approve(&app, &sec, &approval_id).await;
    assert_eq!(r.code(), "already_decided");
    assert_eq!(app.snapshot().await, before);

    let events = trail(&app, &[&job_id, &approval_id]).await;
    assert_eq!(
        actions(&events),
        [
            "job.requested",
            "approval.requested",
            "approval.cancelled",
            "job.cancelled"
        ]
    );
    assert_allowed(&events[2], &requester_id, "job.cancel");
    assert_allowed(&events[3], &requester_id, "job.cancel");
    assert_eq!(events[3]["details"]["from"], "awaiting_approval");

    // A pending job (no approval) cancels too.
    let open = app.policy("open", json!([]), None).await;
    let subject = app.subject("b.example.com", &open).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let job_id = s(&r.json["job"]["id"]);
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/cancel"),
            &requester,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "cancelled");
}

both_backends!(idempotency_key_replays_the_first_answer);
async fn idempotency_key_replays_the_first_answer(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, other) = app.principal("ravi", &["requester"]).await;
    let policy = app
        .policy("sec", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("a.example.com", &policy).await;
    let path = format!("/api/v1/subjects/{subject}/jobs");
    let send = |key: String, body: &'static str, idem: &'static str| {
        let app = app.clone();
        let path = path.clone();
        async move {
            app.send(
                Method::POST,
                &path,
                Some(&key),
                Some(Body::from(body)),
                &[("idempotency-key", idem)],
            )
            .await
        }
    };
    let body = r#"{"action": "certificate.renew", "payload": {"a": 1, "b": 2}}"#;
    let same_body_reordered = r#"{"payload": {"b": 2, "a": 1.0}, "action": "certificate.renew"}"#;

    let first = send(requester.clone(), body, "renew-2026-05").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let snapshot = app.snapshot().await;
    let requested_events = app.events("job.requested").await.len();

    let again = send(requester.clone(), same_body_reordered, "renew-2026-05").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["job"]["id"], first.json["job"]["id"]);
    assert_eq!(again.json["approval"]["id"], first.json["approval"]["id"]);
    assert_eq!(
        again.json["job"]["payload_sha256"],
        first.json["job"]["payload_sha256"]
    );
    assert_eq!(app.snapshot().await, snapshot, "a replay writes nothing");
    assert_eq!(app.events("job.requested").await.len(), requested_events);

    let changed = send(
        requester.clone(),
        r#"{"action": "certificate.renew", "payload": {"a": 1, "b": 3}}"#,
        "renew-2026-05",
    )
    .await;
    assert_eq!(changed.status, StatusCode::CONFLICT, "{}", changed.text);
    assert_eq!(changed.code(), "conflict");
    let changed = send(
        requester.clone(),
        r#"{"action": "certificate.revoke", "payload": {"a": 1, "b": 2}}"#,
        "renew-2026-05",
    )
    .await;
    assert_eq!(changed.code(), "conflict", "{}", changed.text);
    assert_eq!(app.snapshot().await, snapshot);

    // Keys belong to their requester; a new key is a new job.
    let theirs = send(other, body, "renew-2026-05").await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
    assert_ne!(theirs.json["job"]["id"], first.json["job"]["id"]);
    let fresh = send(requester, body, "renew-2026-06").await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.text);
    assert_ne!(fresh.json["job"]["id"], first.json["job"]["id"]);

    let events = app.events("job.requested").await;
    assert_eq!(events[0]["idempotency_key"], "renew-2026-05");
}

both_backends!(policy_updates_need_the_generation_they_read);
async fn policy_updates_need_the_generation_they_read(db: Db) {
    let app = TestApp::new(db).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    app.ensure_role("platform").await;
    let policy = app
        .policy(
            "prod",
            json!([{"role": "security", "count": 1}]),
            Some(3600),
        )
        .await;
    let subject = app.subject("a.example.com", &policy).await;
    let before_update = app.request_job(&requester, &subject, json!({})).await;
    assert_eq!(before_update.status, StatusCode::CREATED);

    let r = app
        .get(&format!("/api/v1/policies/{policy}"), &app.admin)
        .await;
    assert_eq!(r.json["generation"], 1);
    let created_at = r.json["created_at"].clone();

    let body = |generation: i64| {
        json!({
            "name": "prod",
            "requires_approval": true,
            "rules": [{"role": "security", "count": 1}, {"role": "platform", "count": 1}],
            "approval_timeout_secs": 7200,
            "generation": generation,
        })
    };
    let r = app
        .put(&format!("/api/v1/policies/{policy}"), &app.admin, body(1))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 2);
    assert_eq!(r.json["approval_timeout_secs"], 7200);
    assert_eq!(r.json["rules"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["created_at"], created_at);

    // A writer that read generation 1 loses.
    let snapshot = app.snapshot().await;
    let r = app
        .put(&format!("/api/v1/policies/{policy}"), &app.admin, body(1))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "generation_mismatch");
    assert_eq!(app.snapshot().await, snapshot);
    let r = app
        .get(&format!("/api/v1/policies/{policy}"), &app.admin)
        .await;
    assert_eq!(r.json["generation"], 2);

    let updated = app.events("policy.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["previous_generation"], 1);
    assert_eq!(updated[0]["new_generation"], 2);
    assert_eq!(updated[0]["category"], "config");
    assert_eq!(updated[0]["authorization"]["permission"], "policy.write");

    // Requests made before the update keep the rules they were made under.
    let old_id = s(&before_update.json["approval"]["id"]);
    let r = app
        .get(&format!("/api/v1/approvals/{old_id}"), &app.admin)
        .await;
    assert_eq!(r.json["rules"], json!([{"role": "security", "count": 1}]));
    let after = app.request_job(&requester, &subject, json!({"n": 2})).await;
    assert_eq!(after.json["approval"]["rules"].as_array().unwrap().len(), 2);
}

both_backends!(a_policy_without_approval_makes_pending_jobs);
async fn a_policy_without_approval_makes_pending_jobs(db: Db) {
    let app = TestApp::new(db).await;
    let (requester_id, requester) = app.principal("rita", &["requester"]).await;
    let (worker_id, worker) = app.principal("wendy", &["worker"]).await;
    let policy = app.policy("open", json!([]), None).await;
    let subject = app.subject("open.example.com", &policy).await;
    let r = app.request_job(&requester, &subject, json!({"x": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["job"]["status"], "pending");
    assert_eq!(r.json["approval"], Value::Null);
    let job_id = s(&r.json["job"]["id"]);

    let r = app
        .post(
            "/api/v1/jobs/claim",
            &worker,
            json!({"actions": ["certificate.renew"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], job_id.as_str());
    let r = app
        .post(
            &format!("/api/v1/jobs/{job_id}/complete"),
            &worker,
            json!({"outcome": "failed", "message": "boom"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "failed");

    let events = trail(&app, &[&job_id]).await;
    assert_eq!(
        actions(&events),
        ["job.requested", "job.claimed", "job.completed"]
    );
    assert_allowed(&events[0], &requester_id, "job.request");
    assert_eq!(events[0]["details"]["requires_approval"], false);
    assert_allowed(&events[1], &worker_id, "job.claim");
    assert_eq!(events[2]["details"]["outcome"], "failed");
    assert!(app.events("approval.requested").await.is_empty());
}

/// Walk a list with `limit=1`, checking every page, and compare with one big page.
async fn walk(app: &TestApp, key: &str, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let all = app.get(&format!("{path}{sep}limit=500"), key).await;
    assert_eq!(all.status, StatusCode::OK, "{path}: {}", all.text);
    assert_eq!(all.json["next_cursor"], Value::Null);
    let all = all.json["data"].as_array().unwrap().clone();

    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit=1"),
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
        };
        let page = app.get(&url, key).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.text);
        let data = page.json["data"].as_array().unwrap();
        assert!(data.len() <= 1);
        walked.extend(data.iter().cloned());
        match page.json["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(data.len(), 1, "a page with a cursor is full");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
        assert!(walked.len() <= all.len() + 1, "paging must end");
    }
    let ids = |v: &[Value]| v.iter().map(|x| s(&x["id"])).collect::<Vec<_>>();
    assert_eq!(
        ids(&walked),
        ids(&all),
        "{path}: paging sees every item once, in order"
    );
    // Newest first.
    for pair in all.windows(2) {
        assert!(
            s(&pair[0]["created_at"]) >= s(&pair[1]["created_at"]),
            "{path}: newest first"
        );
    }
    all
}

both_backends!(lists_filter_and_page);
async fn lists_filter_and_page(db: Db) {
    let app = TestApp::new(db).await;
    let (rita_id, rita) = app.principal("rita", &["requester"]).await;
    let (_, ravi) = app.principal("ravi", &["requester"]).await;
    let (_, sec) = app.principal("sam", &["security"]).await;
    let gated = app
        .policy("gated", json!([{"role": "security", "count": 1}]), None)
        .await;
    let open = app.policy("open", json!([]), None).await;
    let _spare = app.policy("spare", json!([]), None).await;
    let s1 = app.subject("one.example.com", &gated).await;
    let s2 = app.subject("two.example.com", &gated).await;
    let r = app
        .post(
            "/api/v1/subjects",
            &app.admin,
            json!({"kind": "secret", "name": "db-password", "policy_id": open}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let s3 = s(&r.json["id"]);

    let mut approvals = Vec::new();
    for (key, subject) in [(&rita, &s1), (&ravi, &s1), (&rita, &s2)] {
        let r = app.request_job(key, subject, json!({})).await;
        approvals.push(s(&r.json["approval"]["id"]));
    }
    let r = app.request_job(&rita, &s3, json!({})).await;
    let open_job = s(&r.json["job"]["id"]);
    // Decide one so states differ.
    let r = approve(&app, &sec, &approvals[0]).await;
    assert_eq!(r.json["state"], "approved");

    let key = &app.admin;
    let policies = walk(&app, key, "/api/v1/policies").await;
    assert_eq!(policies.len(), 3);
    let subjects = walk(&app, key, "/api/v1/subjects").await;
    assert_eq!(subjects.len(), 3);
    let by_kind = walk(&app, key, "/api/v1/subjects?kind=secret").await;
    assert_eq!(
        by_kind.iter().map(|x| s(&x["id"])).collect::<Vec<_>>(),
        [s3]
    );
    let by_policy = walk(&app, key, &format!("/api/v1/subjects?policy_id={gated}")).await;
    assert_eq!(by_policy.len(), 2);
    assert!(by_policy.iter().all(|x| x["policy_id"] == gated.as_str()));

    let jobs = walk(&app, key, "/api/v1/jobs").await;
    assert_eq!(jobs.len(), 4);
    let pending = walk(&app, key, "/api/v1/jobs?status=pending").await;
    assert_eq!(pending.len(), 2, "the approved one and the open one");
    assert!(pending.iter().any(|j| j["id"] == open_job.as_str()));
    let awaiting = walk(&app, key, "/api/v1/jobs?status=awaiting_approval").await;
    assert_eq!(awaiting.len(), 2);
    let on_s1 = walk(&app, key, &format!("/api/v1/jobs?subject_id={s1}")).await;
    assert_eq!(on_s1.len(), 2);
    let on_s1_pending = walk(
        &app,
        key,
        &format!("/api/v1/jobs?subject_id={s1}&status=pending"),
    )
    .await;
    assert_eq!(on_s1_pending.len(), 1);

    let all = walk(&app, key, "/api/v1/approvals").await;
    assert_eq!(all.len(), 3);
    let pending = walk(&app, key, "/api/v1/approvals?state=pending").await;
    assert_eq!(
        pending
            .iter()
            .map(|x| s(&x["id"]))
            .collect::<std::collections::BTreeSet<_>>(),
        [approvals[1].clone(), approvals[2].clone()]
            .into_iter()
            .collect()
    );
    let approved = walk(&app, key, "/api/v1/approvals?state=approved").await;
    assert_eq!(approved.len(), 1);
    let by_rita = walk(
        &app,
        key,
        &format!("/api/v1/approvals?requested_by={rita_id}"),
    )
    .await;
    assert_eq!(by_rita.len(), 2);
    let mixed = walk(
        &app,
        key,
        &format!("/api/v1/approvals?requested_by={rita_id}&subject_id={s1}&state=approved"),
    )
    .await;
    assert_eq!(
        mixed.iter().map(|x| s(&x["id"])).collect::<Vec<_>>(),
        [approvals[0].clone()]
    );
    let none = walk(&app, key, "/api/v1/approvals?state=expired").await;
    assert!(none.is_empty());
}
