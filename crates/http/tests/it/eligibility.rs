//! "Who can approve this?" (`GET /api/v1/approvals/{id}/eligible`) through the real router,
//! and role changes against votes: a vote keeps the roles its voter held, while a principal
//! whose role was taken away can no longer vote.

use axum::http::{Method, StatusCode};
use countersign_domain::ApprovalId;
use serde_json::{json, Value};

use crate::support::{call, denial, s, Db, Reply, TestApp};

async fn eligible(app: &TestApp, key: &str, approval: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/approvals/{approval}/eligible"), key)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

/// The candidate names of the rule for `role`, sorted.
fn candidates(e: &Value, role: &str) -> Vec<String> {
    let rule = e["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == role)
        .unwrap();
    let mut names: Vec<String> = rule["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["name"]))
        .collect();
    names.sort();
    names
}

fn remaining(e: &Value, role: &str) -> u64 {
    let rule = e["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == role)
        .unwrap();
    rule["remaining"].as_u64().unwrap()
}

fn verdict(e: &Value) -> (bool, String) {
    (
        e["caller"]["would_count"].as_bool().unwrap(),
        s(&e["caller"]["reason"]),
    )
}

async fn approve(app: &TestApp, key: &str, approval: &str) -> Reply {
    app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        key,
        json!({}),
    )
    .await
}

/// A new pending approval for `subject`, requested by `key`.
async fn new_approval(app: &TestApp, key: &str, subject: &str, n: u32) -> String {
    let r = app.request_job(key, subject, json!({"n": n})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    s(&r.json["approval"]["id"])
}

both_backends!(who_can_approve_and_whether_my_vote_counts);
async fn who_can_approve_and_whether_my_vote_counts(db: Db) {
    let app = TestApp::new(db).await;
    // `platform` grants nothing by itself: its holders vote through the approver role.
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": "platform", "description": "Platform team"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (rita_id, rita) = app.principal("rita", &["requester", "security"]).await;
    let (sam_id, sam) = app.principal("sam", &["security"]).await;
    let (_, sue) = app.principal("sue", &["security"]).await;
    let (_, pat) = app.principal("pat", &["platform", "approver"]).await;
    let (_, bo) = app.principal("bo", &["security", "platform"]).await;
    let (_, _) = app.principal("nat", &["platform"]).await; // holds the role, cannot approve
    let (off_id, _) = app.principal("off", &["security"]).await;
    let (_, otto) = app.principal("otto", &["approver"]).await;
    let (_, audrey) = app.principal("audrey", &["auditor"]).await;
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{off_id}/disable"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let policy = app
        .policy(
            "prod-tls",
            json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}]),
            None,
        )
        .await;
    let subject = app.subject("api.example.com", &policy).await;
    let apr = new_approval(&app, &rita, &subject, 1).await;

    // Before any vote: every enabled holder who can approve, except the requester.
    let e = eligible(&app, &rita, &apr).await;
    assert_eq!(e["approval_id"], apr.as_str());
    assert_eq!(e["state"], "pending");
    assert_eq!(e["rules"].as_array().unwrap().len(), 2);
    assert_eq!(e["rules"][0]["role"], "security");
    assert_eq!(e["rules"][0]["count"], 1);
    assert_eq!(remaining(&e, "security"), 1);
    assert_eq!(
        candidates(&e, "security"),
        ["bo", "sam", "sue"],
        "not rita (requester), not off (disabled)"
    );
    assert_eq!(
        candidates(&e, "platform"),
        ["bo", "pat"],
        "not nat (no approval.approve)"
    );
    let bo_entry = e["rules"][0]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bo")
        .unwrap()
        .clone();
    assert_eq!(bo_entry["roles_matching"], json!(["platform", "security"]));
    assert!(bo_entry["principal_id"]
        .as_str()
        .unwrap()
        .starts_with("prn_"));
    assert_eq!(e["caller"]["principal_id"], rita_id.as_str());
    assert_eq!(
        verdict(&e),
        (false, "requester cannot vote (two-person integrity)".into())
    );

    assert_eq!(
        verdict(&eligible(&app, &otto, &apr).await),
        (false, "holds none of the rules' roles".into())
    );
    assert_eq!(
        verdict(&eligible(&app, &audrey, &apr).await),
        (false, "missing permission `approval.approve`".into())
    );
    assert_eq!(
        verdict(&eligible(&app, &sam, &apr).await),
        (true, "would fill rule security".into())
    );
    assert_eq!(
        verdict(&eligible(&app, &pat, &apr).await),
        (true, "would fill rule platform".into())
    );

    // Sam fills `security`: it is closed, Sam has voted, Sue's vote would no longer count.
    assert_eq!(approve(&app, &sam, &apr).await.status, StatusCode::OK);
    let e = eligible(&app, &sue, &apr).await;
    assert_eq!(remaining(&e, "security"), 0);
    assert_eq!(remaining(&e, "platform"), 1);
    assert!(candidates(&e, "security").is_empty());
    assert_eq!(candidates(&e, "platform"), ["bo", "pat"]);
    assert_eq!(
        verdict(&e),
        (
            false,
            "every rule the caller's roles match is already filled".into()
        )
    );
    let e = eligible(&app, &sam, &apr).await;
    assert_eq!(e["caller"]["principal_id"], sam_id.as_str());
    assert_eq!(verdict(&e), (false, "already voted".into()));

    // Pat completes it: nobody is a candidate any more.
    assert_eq!(approve(&app, &pat, &apr).await.status, StatusCode::OK);
    let e = eligible(&app, &bo, &apr).await;
    assert_eq!(e["state"], "approved");
    assert_eq!(
        (remaining(&e, "security"), remaining(&e, "platform")),
        (0, 0)
    );
    assert!(candidates(&e, "security").is_empty() && candidates(&e, "platform").is_empty());
    assert_eq!(verdict(&e), (false, "request is already approved".into()));
}

both_backends!(a_vote_can_count_by_moving_an_earlier_voter);
async fn a_vote_can_count_by_moving_an_earlier_voter(db: Db) {
    let app = TestApp::new(db).await;
    let (_, rita) = app.principal("rita", &["requester"]).await;
    let (_, bo) = app.principal("bo", &["security", "platform"]).await;
    let (_, sam) = app.principal("sam", &["security"]).await;
    let (_, pat) = app.principal("pat", &["platform"]).await;
    let policy = app
        .policy(
            "prod",
            json!([{"role": "security", "count": 1}, {"role": "platform", "count": 1}]),
            None,
        )
        .await;
    let subject = app.subject("db.example.com", &policy).await;
    let apr = new_approval(&app, &rita, &subject, 1).await;

    // Bo holds both roles and fills one place; whichever it took, a holder of either role
    // completes the quorum (Bo moves to the other rule if need be).
    assert_eq!(approve(&app, &bo, &apr).await.status, StatusCode::OK);
    let e = eligible(&app, &sam, &apr).await;
    let open: Vec<&str> = ["security", "platform"]
        .into_iter()
        .filter(|r| remaining(&e, r) == 1)
        .collect();
    assert_eq!(open.len(), 1, "{e}");
    assert_eq!(candidates(&e, open[0]), ["pat", "sam"], "{e}");
    assert_eq!(verdict(&e), (true, format!("would fill rule {}", open[0])));
    assert_eq!(
        verdict(&eligible(&app, &pat, &apr).await),
        (true, format!("would fill rule {}", open[0]))
    );
    let r = approve(&app, &sam, &apr).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json["state"], "approved",
        "the eligibility answer was right"
    );
}

both_backends!(eligible_needs_approval_read_and_a_real_approval);
async fn eligible_needs_approval_read_and_a_real_approval(db: Db) {
    let app = TestApp::new(db).await;
    let (_, rita) = app.principal("rita", &["requester"]).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let policy = app
        .policy("prod", json!([{"role": "security", "count": 1}]), None)
        .await;
    let subject = app.subject("x.example.com", &policy).await;
    let apr = new_approval(&app, &rita, &subject, 1).await;
    let before = (app.snapshot().await, app.auth_state().await);

    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/approvals/{apr}/eligible"),
        &worker,
        None,
        "no-read",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "forbidden");
    let e = denial(&app, "no-read").await;
    assert_eq!(e["authorization"]["permission"], "approval.read");

    for path in [
        format!("/api/v1/approvals/{}/eligible", ApprovalId::new()),
        "/api/v1/approvals/apr_nope/eligible".into(),
        format!(
            "/api/v1/approvals/{}/eligible",
            countersign_domain::JobId::new()
        ),
    ] {
        let r = app.get(&path, &rita).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert_eq!(r.code(), "not_found");
    }
    let r = app
        .post(
            &format!("/api/v1/approvals/{apr}/eligible"),
            &rita,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "reads and refusals change nothing"
    );
}

both_backends!(votes_keep_their_roles_but_an_unassigned_voter_cannot_vote_again);
async fn votes_keep_their_roles_but_an_unassigned_voter_cannot_vote_again(db: Db) {
    let app = TestApp::new(db).await;
    let (_, rita) = app.principal("rita", &["requester"]).await;
    // Sam keeps approval.approve through `approver` after losing `security`.
    let (sam_id, sam) = app.principal("sam", &["security", "approver"]).await;
    let (_, sue) = app.principal("sue", &["security"]).await;
    let policy = app
        .policy("two-sec", json!([{"role": "security", "count": 2}]), None)
        .await;
    let subject = app.subject("two.example.com", &policy).await;
    let first = new_approval(&app, &rita, &subject, 1).await;
    let second = new_approval(&app, &rita, &subject, 2).await;

    let r = approve(&app, &sam, &first).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["votes"][0]["roles"], json!(["approver", "security"]));

    let r = app
        .delete(
            &format!("/api/v1/auth/principals/{sam_id}/roles/security"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["approver"]));

    // History is not rewritten: the vote still shows, and still counts, with `security`.
    let r = app
        .get(&format!("/api/v1/approvals/{first}"), &app.admin)
        .await;
    assert_eq!(r.json["votes"][0]["principal_id"], sam_id.as_str());
    assert_eq!(r.json["votes"][0]["roles"], json!(["approver", "security"]));
    assert_eq!(
        r.json["remaining"],
        json!([{"role": "security", "count": 1}])
    );

    // But Sam cannot cast a new vote.
    assert_eq!(
        verdict(&eligible(&app, &sam, &second).await),
        (false, "holds none of the rules' roles".into())
    );
    assert!(
        !candidates(&eligible(&app, &sue, &second).await, "security").contains(&"sam".to_owned())
    );
    let before = (app.snapshot().await, app.auth_state().await);
    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/approvals/{second}/approve"),
        &sam,
        Some(json!({})),
        "sam-again",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "forbidden");
    let e = denial(&app, "sam-again").await;
    assert_eq!(e["authorization"]["permission"], "approval.approve");
    assert_eq!((app.snapshot().await, app.auth_state().await), before);

    // Sue's vote completes the first request, counting Sam's recorded role.
    let r = approve(&app, &sue, &first).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "approved");
}
