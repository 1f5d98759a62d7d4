//! Principal administration through the real router: create, list, get, disable, assign and
//! unassign roles — each with its happy path, its permission gate (403 plus an `auth.denied`
//! event) and bad input that changes nothing — and the escalation guards: nobody grants a
//! role they do not hold, and the last active admin can be neither disabled nor stripped of
//! `admin`, even by two admins racing to remove each other.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_refused, call, denial, s, Db, TestApp};

async fn admin_id(app: &TestApp) -> String {
    s(&app.get("/api/v1/auth/whoami", &app.admin).await.json["principal"]["id"])
}

/// Ids of the enabled principals holding `admin`, read straight from the tables.
async fn active_admins(app: &TestApp) -> Vec<String> {
    app.db
        .column(
            "SELECT p.id FROM principals p JOIN principal_roles r ON r.principal_id = p.id \
             WHERE r.role_id = 'admin' AND NOT p.disabled ORDER BY p.id",
            &[],
        )
        .await
}

both_backends!(principals_create_list_get);
async fn principals_create_list_get(db: Db) {
    let app = TestApp::new(db).await;
    let admin = admin_id(&app).await;

    let r = call(
        &app,
        Method::POST,
        "/api/v1/auth/principals",
        &app.admin,
        Some(json!({"name": "erin", "kind": "service"})),
        "mk-erin",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let erin = s(&r.json["id"]);
    assert!(erin.starts_with("prn_"));
    assert_eq!(r.json["name"], "erin");
    assert_eq!(r.json["kind"], "service");
    assert_eq!(r.json["disabled"], false);
    assert_eq!(r.json["roles"], json!([]));
    assert!(r.json["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let created: Vec<Value> = app
        .events("principal.created")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == "mk-erin")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["category"], "auth");
    assert_eq!(created[0]["actor"]["id"], admin.as_str());
    assert_eq!(
        created[0]["resource"],
        json!({"type": "principal", "id": erin})
    );
    assert_eq!(
        created[0]["authorization"]["permission"],
        "auth.principal.write"
    );
    assert_eq!(
        created[0]["details"],
        json!({"name": "erin", "kind": "service"})
    );

    // The kind defaults to `user`.
    let r = app
        .post(
            "/api/v1/auth/principals",
            &app.admin,
            json!({"name": "fred"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["kind"], "user");
    let (_, _) = app.principal("gina", &["approver"]).await;

    // get: with its roles.
    let r = app
        .get(&format!("/api/v1/auth/principals/{erin}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["name"], "erin");
    let r = app
        .get(&format!("/api/v1/auth/principals/{admin}"), &app.admin)
        .await;
    assert!(
        r.json["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("admin")),
        "{}",
        r.text
    );

    // list: newest first, with roles, paged.
    let r = app.get("/api/v1/auth/principals?limit=2", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let names: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"]))
        .collect();
    assert_eq!(names, ["gina", "fred"]);
    assert_eq!(r.json["data"][0]["roles"], json!(["approver"]));
    let cursor = s(&r.json["next_cursor"]);
    let r = app
        .get(
            &format!("/api/v1/auth/principals?limit=2&cursor={cursor}"),
            &app.admin,
        )
        .await;
    let names: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"]))
        .collect();
    assert_eq!(names, ["erin", "admin"]);
    assert_eq!(r.json["next_cursor"], Value::Null);

    // An auditor reads principals but cannot write them.
    let (_, auditor) = app.principal("audrey", &["auditor"]).await;
    let r = app.get("/api/v1/auth/principals", &auditor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/auth/principals/{erin}"), &auditor)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

both_backends!(principal_routes_refuse_without_their_permission);
async fn principal_routes_refuse_without_their_permission(db: Db) {
    let app = TestApp::new(db).await;
    let admin = admin_id(&app).await;
    let (erin, _) = app.principal("erin", &["approver"]).await;
    let (_, auditor) = app.principal("audrey", &["auditor"]).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let before = (app.snapshot().await, app.auth_state().await);

    let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
        (
            Method::POST,
            "/api/v1/auth/principals".into(),
            Some(json!({"name": "mallory"})),
            "auth.principal.write",
            &auditor,
        ),
        (
            Method::GET,
            "/api/v1/auth/principals".into(),
            None,
            "auth.principal.read",
            &requester,
        ),
        (
            Method::GET,
            format!("/api/v1/auth/principals/{erin}"),
            None,
            "auth.principal.read",
            &requester,
        ),
        (
            Method::POST,
            format!("/api/v1/auth/principals/{admin}/disable"),
            None,
            "auth.principal.write",
            &auditor,
        ),
        (
            Method::POST,
            format!("/api/v1/auth/principals/{erin}/roles"),
            Some(json!({"role": "auditor"})),
            "auth.role.assign",
            &auditor,
        ),
        (
            Method::DELETE,
            format!("/api/v1/auth/principals/{erin}/roles/approver"),
            None,
            "auth.role.revoke",
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
        assert!(r.text.contains(permission), "{}", r.text);
        let e = denial(&app, &rid).await;
        assert_eq!(e["authorization"]["permission"], permission, "{e}");
    }
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "refusals change nothing"
    );
}

both_backends!(principal_bad_input_changes_nothing);
async fn principal_bad_input_changes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let (erin, _) = app.principal("erin", &["approver"]).await;
    let unknown = countersign_domain::PrincipalId::new();
    let before = (app.snapshot().await, app.auth_state().await);
    let a = &app.admin;

    let bad_creates = [
        json!({"name": "Erin"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "ok", "kind": "robot"}),
        json!({"name": "ok", "role": "admin"}),
        json!({"kind": "user"}),
        json!({"name": 7}),
    ];
    for body in bad_creates {
        let r = app.post("/api/v1/auth/principals", a, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    let r = app
        .post_raw("/api/v1/auth/principals", a, "{\"name\": ")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .send(Method::POST, "/api/v1/auth/principals", Some(a), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .post("/api/v1/auth/principals", a, json!({"name": "erin"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");

    for path in [
        "/api/v1/auth/principals?limit=0",
        "/api/v1/auth/principals?limit=501",
        "/api/v1/auth/principals?cursor=nope",
        "/api/v1/auth/principals?limit=x",
    ] {
        let r = app.get(path, a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
    }
    for path in [
        format!("/api/v1/auth/principals/{unknown}"),
        "/api/v1/auth/principals/not-an-id".into(),
        format!(
            "/api/v1/auth/principals/{}",
            countersign_domain::JobId::new()
        ),
    ] {
        let r = app.get(&path, a).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert_eq!(r.code(), "not_found");
    }

    // disable
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{unknown}/disable"),
            a,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .post("/api/v1/auth/principals/prn_nope/disable", a, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // assign
    for body in [
        json!({"role": "no-such-role"}),
        json!({"role": "Not A Slug"}),
        json!({}),
        json!({"role": "approver", "x": 1}),
    ] {
        let r = app
            .post(
                &format!("/api/v1/auth/principals/{erin}/roles"),
                a,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{unknown}/roles"),
            a,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // unassign: a role not held, an unknown role, a malformed role, an unknown principal.
    for (path, code) in [
        (
            format!("/api/v1/auth/principals/{erin}/roles/auditor"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/auth/principals/{erin}/roles/no-such-role"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/auth/principals/{erin}/roles/Not_A_Slug"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/auth/principals/{unknown}/roles/approver"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/auth/principals/prn_x/roles/approver".into(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = app.delete(&path, a).await;
        assert_eq!(r.status, code, "{path}: {}", r.text);
    }
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "bad input changes nothing"
    );
}

both_backends!(a_disabled_principal_is_refused_at_once);
async fn a_disabled_principal_is_refused_at_once(db: Db) {
    let app = TestApp::new(db).await;
    let admin = admin_id(&app).await;
    let (bob, bob_key) = app.principal("bob", &["approver"]).await;
    let r = app.get("/api/v1/auth/whoami", &bob_key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bob_key_id = s(&r.json["key_id"]);

    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/auth/principals/{bob}/disable"),
        &app.admin,
        None,
        "disable-bob",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], bob.as_str());
    assert_eq!(r.json["disabled"], true);
    assert_eq!(r.json["roles"], json!(["approver"]));
    let events: Vec<Value> = app.events("principal.disabled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["category"], "auth");
    assert_eq!(events[0]["request_id"], "disable-bob");
    assert_eq!(events[0]["actor"]["id"], admin.as_str());
    assert_eq!(
        events[0]["resource"],
        json!({"type": "principal", "id": bob})
    );
    assert_eq!(
        events[0]["authorization"]["permission"],
        "auth.principal.write"
    );

    // Bob's very next request is refused and audited.
    assert_refused(
        &app,
        &bob_key,
        &bob_key_id,
        "/api/v1/auth/whoami",
        "bob-after",
        "disabled",
    )
    .await;

    // Disabling twice is a conflict; a disabled principal gets no new key.
    let before = (app.snapshot().await, app.auth_state().await);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{bob}/disable"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{bob}/keys"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!((app.snapshot().await, app.auth_state().await), before);
    assert_eq!(app.events("principal.disabled").await.len(), 1);

    // The principal still reads back, disabled.
    let r = app
        .get(&format!("/api/v1/auth/principals/{bob}"), &app.admin)
        .await;
    assert_eq!(r.json["disabled"], true);
}

both_backends!(assigning_and_unassigning_roles_is_audited_and_immediate);
async fn assigning_and_unassigning_roles_is_audited_and_immediate(db: Db) {
    let app = TestApp::new(db).await;
    app.ensure_role("auditor").await;
    let (erin, erin_key) = app.principal("erin", &[]).await;
    let r = app.get("/api/v1/policies", &erin_key).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/auth/principals/{erin}/roles"),
        &app.admin,
        Some(json!({"role": "auditor"})),
        "give",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["auditor"]));
    let e: Vec<Value> = app
        .events("role.assigned")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == "give")
        .collect();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["category"], "auth");
    assert_eq!(e[0]["details"]["role"], "auditor");
    assert_eq!(e[0]["resource"]["id"], erin.as_str());
    assert_eq!(
        app.get("/api/v1/policies", &erin_key).await.status,
        StatusCode::OK
    );

    // Assigning again changes nothing and writes nothing.
    let n = app.events("role.assigned").await.len();
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{erin}/roles"),
            &app.admin,
            json!({"role": "auditor"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.events("role.assigned").await.len(), n);

    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/auth/principals/{erin}/roles/auditor"),
        &app.admin,
        None,
        "take",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], erin.as_str());
    assert_eq!(r.json["roles"], json!([]));
    let e: Vec<Value> = app.events("role.unassigned").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["request_id"], "take");
    assert_eq!(e[0]["category"], "auth");
    assert_eq!(e[0]["authorization"]["permission"], "auth.role.revoke");
    assert_eq!(e[0]["details"]["role"], "auditor");
    // The very next request sees the change.
    assert_eq!(
        app.get("/api/v1/policies", &erin_key).await.status,
        StatusCode::FORBIDDEN
    );
    let who = app.get("/api/v1/auth/whoami", &erin_key).await;
    assert_eq!(who.json["roles"], json!([]));
}

both_backends!(nobody_grants_a_role_they_do_not_hold);
async fn nobody_grants_a_role_they_do_not_hold(db: Db) {
    let app = TestApp::new(db).await;
    // A delegate may assign roles, but holds only `delegate` (and `auditor`).
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": "delegate", "permissions": ["auth.role.assign", "auth.principal.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (carol, carol_key) = app.principal("carol", &["delegate", "auditor"]).await;
    let (dave, _) = app.principal("dave", &[]).await;
    let before = (app.snapshot().await, app.auth_state().await);

    for (n, (target, role)) in [(&carol, "admin"), (&dave, "admin"), (&dave, "approver")]
        .into_iter()
        .enumerate()
    {
        let rid = format!("grant-{n}");
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/auth/principals/{target}/roles"),
            &carol_key,
            Some(json!({"role": role})),
            &rid,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.code(), "forbidden");
        assert!(r.text.contains("escalation guard"), "{}", r.text);
        let e = denial(&app, &rid).await;
        assert_eq!(e["actor"]["id"], carol.as_str());
        assert_eq!(e["authorization"]["permission"], "auth.role.assign");
        assert_eq!(e["resource"], json!({"type": "principal", "id": target}));
    }
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "the guard changed nothing"
    );

    // Roles she holds, she may grant.
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{dave}/roles"),
            &carol_key,
            json!({"role": "auditor"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["auditor"]));

    // So is a role she does not hold whose every permission she holds: it gives nothing
    // beyond what she has.
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": "directory-reader", "permissions": ["auth.principal.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{dave}/roles"),
            &carol_key,
            json!({"role": "directory-reader"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // The admin holds every permission, so it grants any role without holding it.
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{dave}/roles"),
            &app.admin,
            json!({"role": "approver"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json["roles"],
        json!(["approver", "auditor", "directory-reader"])
    );
}

both_backends!(the_last_active_admin_stays);
async fn the_last_active_admin_stays(db: Db) {
    let app = TestApp::new(db).await;
    let admin = admin_id(&app).await;
    let before = (app.snapshot().await, app.auth_state().await);

    // Alone: it can neither disable itself nor give up `admin`.
    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/auth/principals/{admin}/disable"),
        &app.admin,
        None,
        "self-disable",
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");
    assert!(r.text.contains("last active admin"), "{}", r.text);
    let e = denial(&app, "self-disable").await;
    assert_eq!(e["authorization"]["permission"], "auth.principal.write");
    assert_eq!(e["result"]["kind"], "conflict");
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/auth/principals/{admin}/roles/admin"),
        &app.admin,
        None,
        "self-demote",
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("last active admin"), "{}", r.text);
    let e = denial(&app, "self-demote").await;
    assert_eq!(e["authorization"]["permission"], "auth.role.revoke");
    assert_eq!(
        (app.snapshot().await, app.auth_state().await),
        before,
        "the guard changed nothing"
    );

    // A disabled admin does not count as another admin.
    let (zed, _) = app.principal("zed", &["admin"]).await;
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{zed}/disable"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before = (app.snapshot().await, app.auth_state().await);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{admin}/disable"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!((app.snapshot().await, app.auth_state().await), before);
    // …and taking `admin` from a disabled principal is fine.
    let r = app
        .delete(
            &format!("/api/v1/auth/principals/{zed}/roles/admin"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // With a second active admin, the first may step down; then the second is the last.
    let (yve, yve_key) = app.principal("yve", &["admin"]).await;
    let r = app
        .delete(
            &format!("/api/v1/auth/principals/{admin}/roles/admin"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(active_admins(&app).await, std::slice::from_ref(&yve));
    let before = (app.snapshot().await, app.auth_state().await);
    let r = app
        .delete(
            &format!("/api/v1/auth/principals/{yve}/roles/admin"),
            &yve_key,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{yve}/disable"),
            &yve_key,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!((app.snapshot().await, app.auth_state().await), before);
}

/// A new principal made admin by the admin holding `by`: `(id, key)`.
async fn new_admin(app: &TestApp, by: &str, name: &str) -> (String, String) {
    let r = app
        .post("/api/v1/auth/principals", by, json!({"name": name}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = s(&r.json["id"]);
    let r = app
        .post(
            &format!("/api/v1/auth/principals/{id}/roles"),
            by,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .post(&format!("/api/v1/auth/principals/{id}/keys"), by, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (id, s(&r.json["key"]))
}

both_backends!(two_admins_disabling_each_other_leave_one);
async fn two_admins_disabling_each_other_leave_one(db: Db) {
    let app = TestApp::new(db).await;
    // Start with exactly two active admins: the bootstrap admin and `a0`.
    let mut a = (admin_id(&app).await, app.admin.clone());
    for round in 0..4 {
        let b = new_admin(&app, &a.1, &format!("b{round}")).await;
        // Retire every other admin so `a` and `b` are the only active ones.
        for id in active_admins(&app).await {
            if id != a.0 && id != b.0 {
                let r = app
                    .post(
                        &format!("/api/v1/auth/principals/{id}/disable"),
                        &a.1,
                        json!({}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            }
        }
        assert_eq!(active_admins(&app).await.len(), 2);
        let (disable_b, disable_a) = (
            format!("/api/v1/auth/principals/{}/disable", b.0),
            format!("/api/v1/auth/principals/{}/disable", a.0),
        );
        let (ra, rb) = tokio::join!(
            app.post(&disable_b, &a.1, json!({})),
            app.post(&disable_a, &b.1, json!({})),
        );
        let ok: Vec<bool> = [&ra, &rb]
            .iter()
            .map(|r| r.status == StatusCode::OK)
            .collect();
        assert_eq!(
            ok.iter().filter(|x| **x).count(),
            1,
            "round {round}: exactly one wins: {} / {}",
            ra.text,
            rb.text
        );
        for r in [&ra, &rb] {
            if r.status != StatusCode::OK {
                // Refused by the guard (it saw the other's disable) or, if the other's disable
                // landed before its key was checked, as disabled.
                assert!(
                    [StatusCode::CONFLICT, StatusCode::UNAUTHORIZED].contains(&r.status),
                    "round {round}: {}",
                    r.text
                );
            }
        }
        let left = active_admins(&app).await;
        assert_eq!(left.len(), 1, "round {round}: one admin is left");
        a = if ok[0] { a } else { b };
        assert_eq!(left, [a.0.clone()]);
    }
}
