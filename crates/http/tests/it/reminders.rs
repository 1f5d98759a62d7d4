//! Reminders and escalation: the policy fields (validated, shown, updated), the scheduler
//! step that sends `approval.reminder` after the delay and again every delay, one
//! `approval.escalated` naming the escalation role's holders, nothing for a decided or
//! expired request, and two schedulers at once never sending one due reminder twice.
//!
//! The delays are whole seconds (the contract's unit), so these tests wait for due times to
//! pass; nothing here measures speed.

use std::time::Duration;

use axum::http::StatusCode;
use countersign_service::{Service, ServiceConfig};
use serde_json::{json, Value};

use crate::support::{s, Db, TestApp};
use crate::webhooks::{app_with, config, create_webhook, pass, Receiver};

/// A requester (`rita`), an approver (`sam`, role `security`), an escalation role `oncall`
/// held by `olga`, `oscar` and `rita` herself, and a subject under a one-vote policy with
/// `notices` merged into its body. Answers `(requester key, approver key, subject, policy)`.
async fn setup(app: &TestApp, notices: Value, timeout: i64) -> (String, String, String, String) {
    let (_, requester) = app.principal("rita", &["requester", "oncall"]).await;
    let (_, approver) = app.principal("sam", &["security"]).await;
    app.principal("olga", &["oncall"]).await;
    app.principal("oscar", &["oncall"]).await;
    let mut body = json!({
        "name": "reminding",
        "requires_approval": true,
        "rules": [{"role": "security", "count": 1}],
        "approval_timeout_secs": timeout,
    });
    for (k, v) in notices.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/policies", &app.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let policy = s(&r.json["id"]);
    let subject = app.subject("db.example.com", &policy).await;
    (requester, approver, subject, policy)
}

/// `(type, data)` of every outbox message of `event`, oldest first.
async fn messages(app: &TestApp, event: &str) -> Vec<Value> {
    let bodies: Vec<String> = app
        .db
        .column(
            "SELECT body FROM outbox_messages WHERE event = $1 ORDER BY seq",
            &[event],
        )
        .await;
    bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["data"].clone())
        .collect()
}

/// Wait until `secs` seconds (and a little) have passed.
async fn wait_secs(secs: u64) {
    tokio::time::sleep(Duration::from_millis(secs * 1000 + 150)).await;
}

both_backends!(policies_take_reminder_and_escalation_settings);
async fn policies_take_reminder_and_escalation_settings(db: Db) {
    let app = TestApp::new(db).await;
    app.ensure_role("oncall").await;
    app.ensure_role("security").await;
    let r = app
        .post(
            "/api/v1/policies",
            &app.admin,
            json!({"name": "p", "requires_approval": true,
                   "rules": [{"role": "security", "count": 1}],
                   "remind_after_secs": 3600, "escalate_after_secs": 86400,
                   "escalate_to_role": "oncall"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["remind_after_secs"], 3600);
    assert_eq!(r.json["escalate_after_secs"], 86400);
    assert_eq!(r.json["escalate_to_role"], "oncall");
    let id = s(&r.json["id"]);
    let shown = app.get(&format!("/api/v1/policies/{id}"), &app.admin).await;
    assert_eq!(shown.json, r.json);
    let created = app.events("policy.created").await;
    assert_eq!(created[0]["details"]["escalate_to_role"], "oncall");

    // PUT with the full body: the settings go when left out.
    let u = app
        .put(
            &format!("/api/v1/policies/{id}"),
            &app.admin,
            json!({"name": "p", "requires_approval": true,
                   "rules": [{"role": "security", "count": 1}], "generation": 1,
                   "remind_after_secs": 60}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text);
    assert_eq!(u.json["remind_after_secs"], 60);
    assert!(u.json["escalate_after_secs"].is_null());
    assert!(u.json["escalate_to_role"].is_null());

    // A role named by an escalation cannot be deleted while the policy names it.
    let other = app
        .post(
            "/api/v1/policies",
            &app.admin,
            json!({"name": "q", "requires_approval": true,
                   "rules": [{"role": "security", "count": 1}],
                   "escalate_after_secs": 60, "escalate_to_role": "oncall"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let del = app.delete("/api/v1/auth/roles/oncall", &app.admin).await;
    assert_eq!(del.status, StatusCode::CONFLICT, "{}", del.text);
    assert!(del.text.contains("escalation"), "{}", del.text);

    let base = json!({"name": "bad", "requires_approval": true,
                      "rules": [{"role": "security", "count": 1}]});
    for (extra, field) in [
        (json!({"remind_after_secs": 0}), "remind_after_secs"),
        (json!({"remind_after_secs": -5}), "remind_after_secs"),
        (json!({"remind_after_secs": 31622401}), "remind_after_secs"),
        (json!({"remind_after_secs": "1h"}), ""),
        (json!({"remind_after_secs": 1.5}), ""),
        (json!({"escalate_after_secs": 60}), "escalate_to_role"),
        (json!({"escalate_to_role": "oncall"}), "escalate_after_secs"),
        (
            json!({"escalate_after_secs": 0, "escalate_to_role": "oncall"}),
            "escalate_after_secs",
        ),
        (
            json!({"escalate_after_secs": 60, "escalate_to_role": "nobody-holds"}),
            "escalate_to_role",
        ),
        (
            json!({"escalate_after_secs": 60, "escalate_to_role": "Not A Slug"}),
            "",
        ),
        (
            json!({"requires_approval": false, "rules": [], "remind_after_secs": 60}),
            "remind_after_secs",
        ),
    ] {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let policies = app.db.count("policies").await;
        let audit = app.audit_count().await;
        let r = app.post("/api/v1/policies", &app.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
        assert!(r.text.contains(field), "{body}: {}", r.text);
        assert_eq!(app.db.count("policies").await, policies);
        assert_eq!(app.audit_count().await, audit);
    }
}

both_backends!(a_reminder_fires_after_the_delay_and_repeats);
async fn a_reminder_fires_after_the_delay_and_repeats(db: Db) {
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, Some(json!(["approval.reminder"]))).await;
    let (requester, _, subject, _) = setup(&app, json!({"remind_after_secs": 2}), 3600).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = s(&r.json["approval"]["id"]);

    // Not yet due.
    assert_eq!(app.service.send_due_reminders().await.unwrap().reminders, 0);
    wait_secs(2).await;
    // The scheduler's pass sends it (and delivers its notification in the same pass).
    app.service.run_scheduler_once().await.unwrap();
    let sent = app.events("approval.reminder").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["actor"]["id"], "system:scheduler");
    assert_eq!(sent[0]["resource"]["id"], approval.as_str());
    assert_eq!(sent[0]["details"]["reminder"], 1);
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind(), "approval.reminder");
    let data = &got[0].json()["data"];
    assert_eq!(data["id"], approval.as_str());
    assert_eq!(data["state"], "pending");
    assert_eq!(data["waiting_on"], json!(["sam"]));
    assert_eq!(data["remaining"], json!([{"role": "security", "count": 1}]));

    // Sent once per due time: nothing more until the next one...
    assert_eq!(app.service.send_due_reminders().await.unwrap().reminders, 0);
    wait_secs(2).await;
    // ...which comes a delay later.
    assert_eq!(app.service.send_due_reminders().await.unwrap().reminders, 1);
    let sent = app.events("approval.reminder").await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["details"]["reminder"], 2);
    pass(&app.service).await;
    assert_eq!(rx.got().len(), 2);
    assert_eq!(messages(&app, "approval.reminder").await.len(), 2);
}

both_backends!(an_escalation_fires_once_naming_the_roles_holders);
async fn an_escalation_fires_once_naming_the_roles_holders(db: Db) {
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, Some(json!(["approval.escalated"]))).await;
    let (requester, _, subject, _) = setup(
        &app,
        json!({"escalate_after_secs": 1, "escalate_to_role": "oncall"}),
        3600,
    )
    .await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = s(&r.json["approval"]["id"]);
    let rules_before = r.json["approval"]["rules"].clone();

    assert_eq!(
        app.service.send_due_reminders().await.unwrap().escalations,
        0
    );
    wait_secs(1).await;
    let report = app.service.send_due_reminders().await.unwrap();
    assert_eq!((report.escalations, report.reminders), (1, 0));
    wait_secs(1).await;
    assert_eq!(
        app.service.send_due_reminders().await.unwrap().escalations,
        0,
        "once"
    );
    let sent = app.events("approval.escalated").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["actor"]["id"], "system:scheduler");
    assert_eq!(sent[0]["details"]["escalate_to_role"], "oncall");
    // The requester holds the role too, but can never act on her own request.
    assert_eq!(sent[0]["details"]["waiting_on"], json!(["olga", "oscar"]));

    pass(&app.service).await;
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind(), "approval.escalated");
    let data = &got[0].json()["data"];
    assert_eq!(data["waiting_on"], json!(["olga", "oscar"]));
    assert_eq!(data["escalated_to"], "oncall");
    assert_eq!(data["remaining"], json!([{"role": "security", "count": 1}]));

    // It notifies; the quorum is unchanged and the request still pending.
    let shown = app
        .get(&format!("/api/v1/approvals/{approval}"), &app.admin)
        .await;
    assert_eq!(shown.json["state"], "pending");
    assert_eq!(shown.json["rules"], rules_before);
    assert_eq!(
        shown.json["remaining"],
        json!([{"role": "security", "count": 1}])
    );
}

both_backends!(a_decided_or_expired_request_gets_no_reminder);
async fn a_decided_or_expired_request_gets_no_reminder(db: Db) {
    let app = app_with(db, config(1)).await;
    let (requester, approver, subject, _) = setup(
        &app,
        json!({"remind_after_secs": 1, "escalate_after_secs": 1, "escalate_to_role": "oncall"}),
        2,
    )
    .await;
    // One approved at once, one cancelled, one left to expire (its reminder would have
    // been due a second before its expiry).
    let approved = app.request_job(&requester, &subject, json!({"n": 1})).await;
    let approved = s(&approved.json["approval"]["id"]);
    let v = app
        .post(
            &format!("/api/v1/approvals/{approved}/approve"),
            &approver,
            json!({}),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    let cancelled = app.request_job(&requester, &subject, json!({"n": 2})).await;
    let job = s(&cancelled.json["job"]["id"]);
    let c = app
        .post(&format!("/api/v1/jobs/{job}/cancel"), &requester, json!({}))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    app.request_job(&requester, &subject, json!({"n": 3})).await;
    assert_eq!(app.db.count("approval_reminders").await, 3);

    wait_secs(2).await;
    // Past its expiry the third reads as expired even before the reaper runs.
    let report = app.service.send_due_reminders().await.unwrap();
    assert_eq!(
        (report.reminders, report.escalations, report.retired),
        (0, 0, 3)
    );
    assert!(app.events("approval.reminder").await.is_empty());
    assert!(app.events("approval.escalated").await.is_empty());
    let due: i64 = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM approval_reminders WHERE next_reminder_at IS NOT NULL \
             OR escalate_at IS NOT NULL",
            &[],
        )
        .await;
    assert_eq!(due, 0, "every schedule is retired");
    app.service.run_scheduler_once().await.unwrap();
    assert!(app.events("approval.reminder").await.is_empty());
}

both_backends!(two_schedulers_never_send_one_due_reminder_twice);
async fn two_schedulers_never_send_one_due_reminder_twice(db: Db) {
    let cfg = ServiceConfig {
        scheduler_batch: 3,
        ..config(1)
    };
    let app = app_with(db.clone(), cfg.clone()).await;
    let (requester, _, subject, _) = setup(
        &app,
        json!({"remind_after_secs": 1, "escalate_after_secs": 1, "escalate_to_role": "oncall"}),
        3600,
    )
    .await;
    let n = 10;
    for i in 0..n {
        let r = app.request_job(&requester, &subject, json!({"i": i})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    wait_secs(1).await;
    // Two scheduler replicas on their own services, over their own connection pools.
    let other = Service::new(db.another_pool().await.store(), cfg);
    let (a, b) = tokio::join!(app.service.send_due_reminders(), other.send_due_reminders());
    let (a, b) = (a.unwrap(), b.unwrap());
    // Whatever one replica's short batch left, a later pass sends.
    let rest = app.service.send_due_reminders().await.unwrap();
    let reminders = app.events("approval.reminder").await;
    let escalations = app.events("approval.escalated").await;
    assert_eq!(a.reminders + b.reminders + rest.reminders, reminders.len());
    assert_eq!(
        a.escalations + b.escalations + rest.escalations,
        escalations.len()
    );
    // Every request reminded, no due time twice (a slow run may legitimately reach a
    // request's second due time, a second later).
    let mut due_times: Vec<(String, String)> = reminders
        .iter()
        .map(|e| (s(&e["resource"]["id"]), s(&e["details"]["due_at"])))
        .collect();
    let sent = due_times.len();
    due_times.sort();
    due_times.dedup();
    assert_eq!(due_times.len(), sent, "a due reminder was sent twice");
    let mut reminded: Vec<&String> = due_times.iter().map(|(id, _)| id).collect();
    reminded.dedup();
    assert_eq!(reminded.len(), n);
    // Escalated once each.
    let mut escalated: Vec<String> = escalations
        .iter()
        .map(|e| s(&e["resource"]["id"]))
        .collect();
    escalated.sort();
    escalated.dedup();
    assert_eq!((escalations.len(), escalated.len()), (n, n));
    assert_eq!(messages(&app, "approval.reminder").await.len(), sent);
    assert_eq!(messages(&app, "approval.escalated").await.len(), n);
}

both_backends!(
    the_notices_counter_counts_each_reminder_and_escalation_once,
    alone
);
async fn the_notices_counter_counts_each_reminder_and_escalation_once(db: Db) {
    const NOTICES: &str = "countersign_approval_notices_total";
    let app = app_with(db, config(1)).await;
    let before = (
        app.metric(NOTICES, &[("kind", "reminder")]).await,
        app.metric(NOTICES, &[("kind", "escalation")]).await,
    );
    let (requester, _, subject, _) = setup(
        &app,
        json!({"remind_after_secs": 1, "escalate_after_secs": 1, "escalate_to_role": "oncall"}),
        3600,
    )
    .await;
    app.request_job(&requester, &subject, json!({})).await;
    app.request_job(&requester, &subject, json!({"n": 2})).await;
    wait_secs(1).await;
    let report = app.service.send_due_reminders().await.unwrap();
    assert_eq!((report.reminders, report.escalations), (2, 2));
    // A pass with nothing due adds nothing.
    app.service.send_due_reminders().await.unwrap();
    let after = (
        app.metric(NOTICES, &[("kind", "reminder")]).await,
        app.metric(NOTICES, &[("kind", "escalation")]).await,
    );
    assert_eq!((after.0 - before.0, after.1 - before.1), (2.0, 2.0));
}
