//! A requester voting on its own request is refused 403 `two_person_integrity` whether or not
//! it holds `approval.approve` / `approval.reject`, so every self-approval attempt is
//! recognisable; anyone else without the permission is still refused 403 `forbidden`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{call, denial, s, Db, TestApp};

both_backends!(a_requester_without_vote_permissions_gets_two_person_integrity);
async fn a_requester_without_vote_permissions_gets_two_person_integrity(db: Db) {
    let app = TestApp::new(db).await;
    let policy = app
        .policy("two", json!([{"role": "approver", "count": 1}]), None)
        .await;
    let subject = app.subject("web", &policy).await;
    // `requester` holds neither approval.approve nor approval.reject.
    let (requester_id, requester) = app.principal("rita", &["requester"]).await;
    let (_, bystander) = app.principal("bob", &["requester"]).await;
    let r = app.request_job(&requester, &subject, json!({"n": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let approval = s(&r.json["approval"]["id"]);

    let before = app.snapshot().await;
    for (verb, permission) in [
        ("approve", "approval.approve"),
        ("reject", "approval.reject"),
    ] {
        let rid = format!("self-{verb}");
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/approvals/{approval}/{verb}"),
            &requester,
            Some(json!({"note": "mine"})),
            &rid,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "two_person_integrity", "{}", r.text);
        let e = denial(&app, &rid).await;
        assert_eq!(e["result"]["kind"], "two_person_integrity", "{e}");
        assert_eq!(e["actor"]["id"], requester_id.as_str(), "{e}");
        assert_eq!(e["authorization"]["permission"], permission, "{e}");
        assert_eq!(e["resource"], json!({"type": "approval", "id": approval}));

        // Someone else without the permission is still refused as before.
        let rid = format!("other-{verb}");
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/approvals/{approval}/{verb}"),
            &bystander,
            Some(json!({"note": "not mine"})),
            &rid,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "forbidden", "{}", r.text);
        assert!(r.text.contains(permission), "{}", r.text);
        let e = denial(&app, &rid).await;
        assert_eq!(e["result"]["kind"], "forbidden", "{e}");
    }
    assert_eq!(app.snapshot().await, before, "refusals change nothing");

    let r = app
        .get(&format!("/api/v1/approvals/{approval}"), &app.admin)
        .await;
    assert_eq!(r.json["state"], "pending", "{}", r.text);
    assert_eq!(r.json["votes"], json!([]), "{}", r.text);
}
