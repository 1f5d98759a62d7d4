//! Minting a key for another principal passes the escalation guard: a key carries every
//! permission of its owner, so only someone holding every one of them may mint it.
//!
//! Both ways through the real router: a minter holding only `auth.key.create` is refused a key
//! for the admin and for an approver (403 `forbidden`, audited as `auth.denied`, nothing
//! written); it may mint a key for itself and for a principal whose permissions it holds, and
//! `key.created` names who created the key (the actor) and for whom.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{call, denial, events_of, s, Db, TestApp};

/// A custom role holding exactly `permissions`, created by the admin through the API.
async fn role(app: &TestApp, id: &str, permissions: &[&str]) {
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": id, "description": "test", "permissions": permissions}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

both_backends!(a_key_for_someone_holding_more_is_refused);
async fn a_key_for_someone_holding_more_is_refused(db: Db) {
    let app = TestApp::new(db).await;
    role(&app, "key-minter", &["auth.key.create"]).await;
    let (_, minter) = app.principal("minter", &["key-minter"]).await;
    let (approver, _) = app.principal("alice", &["approver"]).await;
    let admin_id = s(&app.get("/api/v1/auth/whoami", &app.admin).await.json["principal"]["id"]);

    for (target, rid) in [(&admin_id, "mint-admin"), (&approver, "mint-approver")] {
        let before = app.auth_state().await;
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/auth/principals/{target}/keys"),
            &minter,
            Some(json!({})),
            rid,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "forbidden");
        assert!(r.text.contains("escalation guard"), "{}", r.text);
        assert_eq!(
            app.auth_state().await,
            before,
            "a refused mint writes no key"
        );
        let e = denial(&app, rid).await;
        assert_eq!(e["resource"], json!({"type": "principal", "id": target}));
        assert_eq!(e["authorization"]["permission"], "auth.key.create");
        assert_eq!(e["actor"]["name"], "minter", "{e}");
        assert!(events_of(&app, "key.created", rid).await.is_empty());
    }
}

both_backends!(a_key_for_oneself_or_someone_holding_less_is_allowed);
async fn a_key_for_oneself_or_someone_holding_less_is_allowed(db: Db) {
    let app = TestApp::new(db).await;
    role(&app, "key-minter", &["auth.key.create", "job.read"]).await;
    role(&app, "reader", &["job.read"]).await;
    let (minter_id, minter) = app.principal("minter", &["key-minter"]).await;
    let (reader, _) = app.principal("reader", &["reader"]).await;
    let r = app
        .post(
            "/api/v1/auth/principals",
            &app.admin,
            json!({"name": "nobody", "kind": "service"}),
        )
        .await;
    let nobody = s(&r.json["id"]);

    for (target, name, rid) in [
        (&minter_id, "minter", "mint-self"),
        (&reader, "reader", "mint-lesser"),
        (&nobody, "nobody", "mint-roleless"),
    ] {
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/auth/principals/{target}/keys"),
            &minter,
            Some(json!({})),
            rid,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{rid}: {}", r.text);
        let created = events_of(&app, "key.created", rid).await;
        assert_eq!(created.len(), 1, "{created:?}");
        let e = &created[0];
        assert_eq!(
            e["actor"]["id"],
            minter_id.as_str(),
            "the creator is the actor: {e}"
        );
        assert_eq!(e["details"]["principal_id"], target.as_str(), "{e}");
        assert_eq!(e["details"]["principal_name"], name, "{e}");
        assert_eq!(e["resource"]["id"], r.json["key_id"], "{e}");
    }
}
