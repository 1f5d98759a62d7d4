//! API keys from birth to death through the real router: minted and shown once, listed without
//! secrets, revoked (and refused on the very next request, audited), expired, and the
//! operator's command-line list and revoke — each route with its permission gate and bad
//! input that changes nothing.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use countersign_domain::{KeyId, PrincipalId};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::support::{assert_refused, call, denial, s, Db, TestApp};

/// The secret part of a `cs_<key id>_<secret>` token.
fn secret_of(token: &str) -> String {
    token.rsplit_once('_').unwrap().1.to_owned()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

both_backends!(mint_list_revoke);
async fn mint_list_revoke(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, _) = app.principal("erin", &["auditor"]).await;
    let expires = OffsetDateTime::now_utc() + time::Duration::days(30);

    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/auth/principals/{erin}/keys"),
        &app.admin,
        Some(json!({"expires_at": rfc3339(expires)})),
        "mint",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let key_id = s(&r.json["key_id"]);
    let token = s(&r.json["key"]);
    assert!(token.starts_with(&format!("cs_{key_id}_")), "{token}");
    let returned = OffsetDateTime::parse(r.json["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!((returned - expires).abs() < time::Duration::milliseconds(1));
    let secret = secret_of(&token);

    // The key works.
    let r = app.get("/api/v1/auth/whoami", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["key_id"], key_id.as_str());

    // key.created: who, for whom, until when — never the secret.
    let created: Vec<Value> = app
        .events("key.created")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == "mint")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["category"], "auth");
    assert_eq!(created[0]["resource"], json!({"type": "key", "id": key_id}));
    assert_eq!(created[0]["details"]["principal_id"], erin.as_str());
    assert_eq!(created[0]["authorization"]["permission"], "auth.key.create");

    // The list never shows a secret or a hash.
    let r = app
        .get(
            &format!("/api/v1/auth/keys?principal_id={erin}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys = r.json["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the helper's key and this one: {}", r.text);
    assert_eq!(keys[0]["id"], key_id.as_str(), "newest first");
    assert_eq!(keys[0]["principal_id"], erin.as_str());
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(keys[0]["revoked_at"], Value::Null);
    assert!(keys[0]["created_at"].is_string() && keys[0]["expires_at"].is_string());
    assert!(
        !r.text.contains(&secret) && !r.text.contains("hash") && !r.text.contains("cs_"),
        "{}",
        r.text
    );

    // Revoke: 204, audited, and the list says so.
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/auth/keys/{key_id}"),
        &app.admin,
        None,
        "revoke",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty());
    let revoked = app.events("key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["request_id"], "revoke");
    assert_eq!(revoked[0]["category"], "auth");
    assert_eq!(revoked[0]["resource"], json!({"type": "key", "id": key_id}));
    assert_eq!(revoked[0]["authorization"]["permission"], "auth.key.revoke");
    assert_eq!(revoked[0]["details"]["principal_id"], erin.as_str());
    let r = app
        .get(
            &format!("/api/v1/auth/keys?principal_id={erin}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.json["data"][0]["status"], "revoked");
    assert!(r.json["data"][0]["revoked_at"].is_string());
    assert_eq!(r.json["data"][1]["status"], "active");

    // Revoking twice is a conflict and changes nothing.
    let before = (app.snapshot().await, app.auth_state().await);
    let r = app
        .delete(&format!("/api/v1/auth/keys/{key_id}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");
    assert_eq!((app.snapshot().await, app.auth_state().await), before);
    assert_eq!(app.events("key.revoked").await.len(), 1);

    // No event anywhere holds the secret.
    let trail = serde_json::to_string(&app.audit_events().await).unwrap();
    assert!(!trail.contains(&secret));
}

both_backends!(a_revoked_key_is_refused_on_its_next_request);
async fn a_revoked_key_is_refused_on_its_next_request(db: Db) {
    let app = TestApp::new(db).await;
    let (_, token) = app.principal("erin", &["auditor"]).await;
    let r = app.get("/api/v1/auth/whoami", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let key_id = s(&r.json["key_id"]);
    assert_eq!(
        app.get("/api/v1/policies", &token).await.status,
        StatusCode::OK
    );

    let r = app
        .delete(&format!("/api/v1/auth/keys/{key_id}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    let e = assert_refused(
        &app,
        &token,
        &key_id,
        "/api/v1/policies",
        "after-revoke",
        "revoked",
    )
    .await;
    assert_eq!(e["authorization"]["permission"], "policy.read");
    assert!(!e.to_string().contains(&secret_of(&token)));
}

both_backends!(a_principal_may_revoke_its_own_key);
async fn a_principal_may_revoke_its_own_key(db: Db) {
    let app = TestApp::new(db).await;
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": "key-keeper", "permissions": ["auth.key.revoke", "auth.key.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (_, token) = app.principal("erin", &["key-keeper"]).await;
    let key_id = s(&app.get("/api/v1/auth/whoami", &token).await.json["key_id"]);
    let r = app
        .delete(&format!("/api/v1/auth/keys/{key_id}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/auth/whoami", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

both_backends!(an_expired_key_is_refused);
async fn an_expired_key_is_refused(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, _) = app.principal("erin", &["auditor"]).await;
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{erin}/keys"),
            &app.admin,
            json!({"expires_at": rfc3339(expires)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token = s(&r.json["key"]);
    let key_id = s(&r.json["key_id"]);
    // Usable before its expiry…
    let r = app.get("/api/v1/auth/whoami", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // …and refused once it has passed.
    while OffsetDateTime::now_utc() <= expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_refused(
        &app,
        &token,
        &key_id,
        "/api/v1/auth/whoami",
        "expired",
        "expired",
    )
    .await;

    let r = app
        .get(
            &format!("/api/v1/auth/keys?principal_id={erin}"),
            &app.admin,
        )
        .await;
    let listed: Vec<&Value> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["id"] == key_id.as_str())
        .collect();
    assert_eq!(listed[0]["status"], "expired");
}

both_backends!(key_routes_refuse_without_their_permission);
async fn key_routes_refuse_without_their_permission(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, erin_key) = app.principal("erin", &["requester"]).await;
    let (_, auditor) = app.principal("audrey", &["auditor"]).await;
    let erin_key_id = s(&app.get("/api/v1/auth/whoami", &erin_key).await.json["key_id"]);
    let before = (app.snapshot().await, app.auth_state().await);

    let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
        (
            Method::POST,
            format!("/api/v1/auth/principals/{erin}/keys"),
            Some(json!({})),
            "auth.key.create",
            &erin_key,
        ),
        (
            Method::POST,
            format!("/api/v1/auth/principals/{erin}/keys"),
            Some(json!({})),
            "auth.key.create",
            &auditor,
        ),
        (
            Method::GET,
            "/api/v1/auth/keys".into(),
            None,
            "auth.key.read",
            &erin_key,
        ),
        (
            Method::DELETE,
            format!("/api/v1/auth/keys/{erin_key_id}"),
            None,
            "auth.key.revoke",
            &erin_key,
        ),
        (
            Method::DELETE,
            format!("/api/v1/auth/keys/{erin_key_id}"),
            None,
            "auth.key.revoke",
            &auditor,
        ),
    ];
    for (n, (method, path, body, permission, key)) in cases.into_iter().enumerate() {
        let rid = format!("deny-{n}");
        let r = call(&app, method.clone(), &path, key, body, &rid).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "forbidden");
        let e = denial(&app, &rid).await;
        assert_eq!(e["authorization"]["permission"], permission, "{e}");
        assert_eq!(e["result"]["kind"], "forbidden");
    }
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "refusals change nothing"
    );
    // The auditor reads keys.
    assert_eq!(
        app.get("/api/v1/auth/keys", &auditor).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/whoami", &erin_key).await.status,
        StatusCode::OK
    );
}

both_backends!(key_bad_input_changes_nothing);
async fn key_bad_input_changes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, _) = app.principal("erin", &["auditor"]).await;
    let a = &app.admin;
    let before = (app.snapshot().await, app.auth_state().await);

    let past = rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(1));
    for body in [
        json!({"expires_at": past}),
        json!({"expires_at": "tomorrow"}),
        json!({"expires_at": 12}),
        json!({"expires_in": 3600}),
    ] {
        let r = app
            .post(
                &format!("/api/v1/auth/principals/{erin}/keys"),
                a,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    let r = app
        .post_raw(&format!("/api/v1/auth/principals/{erin}/keys"), a, "{")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    for path in [
        format!("/api/v1/auth/principals/{}/keys", PrincipalId::new()),
        "/api/v1/auth/principals/prn_zz/keys".into(),
    ] {
        let r = app.post(&path, a, json!({})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }

    for path in [
        "/api/v1/auth/keys?principal_id=erin",
        "/api/v1/auth/keys?principal_id=key_01",
        "/api/v1/auth/keys?limit=0",
        "/api/v1/auth/keys?limit=501",
        "/api/v1/auth/keys?cursor=%%%",
    ] {
        let r = app.get(path, a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    // An unknown principal simply has no keys.
    let r = app
        .get(
            &format!("/api/v1/auth/keys?principal_id={}", PrincipalId::new()),
            a,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["data"], json!([]));

    for path in [
        format!("/api/v1/auth/keys/{}", KeyId::new()),
        "/api/v1/auth/keys/not-a-key".into(),
        format!("/api/v1/auth/keys/{erin}"),
    ] {
        let r = app.delete(&path, a).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert_eq!(r.code(), "not_found");
    }
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "bad input changes nothing"
    );
}

both_backends!(keys_list_filters_and_pages);
async fn keys_list_filters_and_pages(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, _) = app.principal("erin", &["auditor"]).await;
    let (fred, _) = app.principal("fred", &["auditor"]).await;
    let mut minted = Vec::new();
    for _ in 0..3 {
        let r = app
            .post(
                &format!("/api/v1/auth/principals/{erin}/keys"),
                &app.admin,
                json!({}),
            )
            .await;
        minted.push(s(&r.json["key_id"]));
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/auth/keys?principal_id={erin}&limit=2");
    loop {
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = r.json["data"].as_array().unwrap();
        assert!(page.len() <= 2);
        for k in page {
            assert_eq!(k["principal_id"], erin.as_str());
            seen.push(s(&k["id"]));
        }
        match r.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/auth/keys?principal_id={erin}&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "the helper's key and three more");
    minted.reverse();
    assert_eq!(seen[..3], minted[..], "newest first");

    // Unfiltered: every principal's keys (admin, erin ×4, fred).
    let r = app.get("/api/v1/auth/keys?limit=500", &app.admin).await;
    let all = r.json["data"].as_array().unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.iter().any(|k| k["principal_id"] == fred.as_str()));
}

both_backends!(the_operator_lists_and_revokes_keys_without_the_api);
async fn the_operator_lists_and_revokes_keys_without_the_api(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, token) = app.principal("erin", &["auditor"]).await;
    let key_id: KeyId = s(&app.get("/api/v1/auth/whoami", &token).await.json["key_id"])
        .parse()
        .unwrap();

    let rows = app.service.operator_list_keys(Some("erin")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key.key.id, key_id);
    assert_eq!(rows[0].principal_name.as_ref().unwrap().as_str(), "erin");
    let all = app.service.operator_list_keys(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all
        .iter()
        .any(|r| r.principal_name.as_ref().unwrap().as_str() == "admin"));
    let listed = app.events("key.listed").await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["category"], "access");
    assert_eq!(
        listed[0]["actor"],
        json!({"kind": "system", "id": "system:bootstrap"})
    );
    assert_eq!(
        listed[0]["details"],
        json!({"principal": "erin", "rows": 1})
    );

    // Unknown or malformed names are errors and change nothing.
    let before = (app.snapshot().await, app.auth_state().await);
    assert_eq!(
        app.service
            .operator_list_keys(Some("nobody"))
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        app.service
            .operator_list_keys(Some("No Body"))
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(
        app.service
            .operator_revoke_key(KeyId::new())
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!((app.snapshot().await, app.auth_state().await), before);

    let view = app.service.operator_revoke_key(key_id).await.unwrap();
    assert_eq!(view.status.as_str(), "revoked");
    let revoked = app.events("key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0]["actor"],
        json!({"kind": "system", "id": "system:bootstrap"})
    );
    assert_eq!(revoked[0]["details"]["principal_id"], erin.as_str());
    assert_eq!(
        app.get("/api/v1/auth/whoami", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.service
            .operator_revoke_key(key_id)
            .await
            .unwrap_err()
            .code(),
        "conflict"
    );
}
