//! Role administration through the real router: create, list, get, edit with `generation`,
//! delete, add and remove one permission — each with its happy path, its permission gate
//! (403 plus an `auth.denied` event) and bad input that changes nothing — plus the rules that
//! keep it safe: built-ins are read-only, nobody puts into a role a permission they lack, and
//! a role a policy names cannot be deleted.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{call, denial, events_of, s, Db, TestApp};

async fn state(app: &TestApp) -> (Vec<(String, i64)>, Vec<String>) {
    (app.snapshot().await, app.auth_state().await)
}

both_backends!(a_role_from_creation_to_deletion);
async fn a_role_from_creation_to_deletion(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;

    // Create: 201, generation 1.
    let body = json!({"id": "security", "description": "Security reviewers", "permissions": ["approval.read", "approval.approve"]});
    let r = call(
        &app,
        Method::POST,
        "/api/v1/auth/roles",
        a,
        Some(body),
        "create",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["id"], "security");
    assert_eq!(r.json["description"], "Security reviewers");
    assert_eq!(
        r.json["permissions"],
        json!(["approval.read", "approval.approve"]),
        "contract order"
    );
    assert_eq!(r.json["builtin"], false);
    assert_eq!(r.json["generation"], 1);
    let created = events_of(&app, "role.created", "create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["category"], "auth");
    assert_eq!(
        created[0]["resource"],
        json!({"type": "role", "id": "security"})
    );
    assert_eq!(created[0]["new_generation"], 1);
    assert_eq!(
        created[0]["authorization"]["permission"],
        "auth.role.create"
    );
    assert_eq!(
        created[0]["details"]["permissions"],
        json!(["approval.read", "approval.approve"])
    );
    // Creating a role assigns it to nobody, not even the creator (who would otherwise become
    // eligible for approval rules naming it).
    assert!(events_of(&app, "role.assigned", "create").await.is_empty());
    let who = app.get("/api/v1/auth/whoami", a).await;
    assert!(!who.json["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("security")));

    // Read: one, and the list (the built-ins included, newest first).
    let r = app.get("/api/v1/auth/roles/security", a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 1);
    let r = app.get("/api/v1/auth/roles", a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["id"]))
        .collect();
    assert_eq!(ids[0], "security");
    for b in [
        "admin",
        "requester",
        "approver",
        "auditor",
        "worker",
        "audit-writer",
    ] {
        assert!(ids.contains(&b.to_owned()), "{b} in {ids:?}");
    }
    let admin_role = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "admin")
        .unwrap();
    assert_eq!(admin_role["builtin"], true);
    assert_eq!(admin_role["permissions"].as_array().unwrap().len(), 29);
    let mut paged = Vec::new();
    let mut path = "/api/v1/auth/roles?limit=3".to_owned();
    loop {
        let r = app.get(&path, a).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.json["data"].as_array().unwrap().len() <= 3);
        paged.extend(
            r.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| s(&r["id"])),
        );
        match r.json["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/auth/roles?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ids, "paging walks the same list, once each");
    assert_eq!(paged.len(), 7);

    // Edit: generation 1 → 2, audited with both generations and the before/after.
    let edit = json!({"description": "Security team", "permissions": ["approval.read", "approval.approve", "approval.reject"], "generation": 1});
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/auth/roles/security",
        a,
        Some(edit),
        "edit",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 2);
    assert_eq!(r.json["description"], "Security team");
    assert_eq!(
        r.json["permissions"],
        json!(["approval.read", "approval.approve", "approval.reject"])
    );
    let updated = events_of(&app, "role.updated", "edit").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["category"], "auth");
    assert_eq!(updated[0]["previous_generation"], 1);
    assert_eq!(updated[0]["new_generation"], 2);
    assert_eq!(updated[0]["authorization"]["permission"], "auth.role.edit");
    assert_eq!(updated[0]["details"]["added"], json!(["approval.reject"]));
    assert_eq!(
        updated[0]["details"]["previous"]["description"],
        "Security reviewers"
    );

    // Add and remove one permission: each bumps the generation.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/auth/roles/security/permissions",
        a,
        Some(json!({"permission": "audit.read"})),
        "add",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 3);
    assert!(r.json["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("audit.read")));
    let e = events_of(&app, "role.updated", "add").await;
    assert_eq!(
        (
            e[0]["previous_generation"].clone(),
            e[0]["new_generation"].clone()
        ),
        (json!(2), json!(3))
    );
    assert_eq!(e[0]["details"]["added"], json!(["audit.read"]));
    // Adding it again changes nothing.
    let r = app
        .post(
            "/api/v1/auth/roles/security/permissions",
            a,
            json!({"permission": "audit.read"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 3);
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/auth/roles/security/permissions/approval.reject",
        a,
        None,
        "remove",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["generation"], 4);
    assert!(!r.json["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("approval.reject")));
    let e = events_of(&app, "role.updated", "remove").await;
    assert_eq!(
        (
            e[0]["previous_generation"].clone(),
            e[0]["new_generation"].clone()
        ),
        (json!(3), json!(4))
    );
    assert_eq!(e[0]["details"]["removed"], json!(["approval.reject"]));
    assert_eq!(app.events("role.updated").await.len(), 3);

    // A holder's permissions follow the role at once.
    let (sam_id, sam) = app.principal("sam", &["security"]).await;
    assert_eq!(app.get("/api/v1/audit", &sam).await.status, StatusCode::OK);
    let r = app
        .delete("/api/v1/auth/roles/security/permissions/audit.read", a)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/audit", &sam).await.status,
        StatusCode::FORBIDDEN
    );

    // Delete: 204, audited, gone — with its assignments.
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/auth/roles/security",
        a,
        None,
        "delete",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let deleted = events_of(&app, "role.deleted", "delete").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["category"], "auth");
    assert_eq!(
        deleted[0]["resource"],
        json!({"type": "role", "id": "security"})
    );
    assert_eq!(
        deleted[0]["authorization"]["permission"],
        "auth.role.delete"
    );
    // Only sam held it (creating a role assigns it to nobody).
    assert_eq!(deleted[0]["details"]["active_holders"], json!([sam_id]));
    assert_eq!(
        app.get("/api/v1/auth/roles/security", a).await.status,
        StatusCode::NOT_FOUND
    );
    let who = app.get("/api/v1/auth/whoami", &sam).await;
    assert_eq!(who.json["roles"], json!([]));
}

both_backends!(edits_need_the_generation_they_read);
async fn edits_need_the_generation_they_read(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;
    let r = app
        .post(
            "/api/v1/auth/roles",
            a,
            json!({"id": "ops", "permissions": ["job.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .put(
            "/api/v1/auth/roles/ops",
            a,
            json!({"description": "", "permissions": ["job.read", "job.cancel"], "generation": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let before = state(&app).await;
    let r = app
        .put(
            "/api/v1/auth/roles/ops",
            a,
            json!({"description": "late", "permissions": [], "generation": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "generation_mismatch");
    assert!(r.text.contains("now at 2"), "{}", r.text);
    assert_eq!(state(&app).await, before);
    assert_eq!(app.events("role.updated").await.len(), 1);
}

both_backends!(built_in_roles_are_read_only);
async fn built_in_roles_are_read_only(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;
    let before = state(&app).await;
    let attempts: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::PUT,
            "/api/v1/auth/roles/admin",
            Some(json!({"description": "x", "permissions": [], "generation": 1})),
        ),
        (
            Method::PUT,
            "/api/v1/auth/roles/approver",
            Some(
                json!({"description": "Reads and decides approval requests.", "permissions": ["approval.read"], "generation": 1}),
            ),
        ),
        (Method::DELETE, "/api/v1/auth/roles/approver", None),
        (Method::DELETE, "/api/v1/auth/roles/admin", None),
        (
            Method::POST,
            "/api/v1/auth/roles/auditor/permissions",
            Some(json!({"permission": "audit.write"})),
        ),
        (
            Method::DELETE,
            "/api/v1/auth/roles/admin/permissions/auth.role.edit",
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/auth/roles/worker/permissions/job.claim",
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let r = app
            .send(
                method.clone(),
                path,
                Some(a),
                body.map(|b| Body::from(b.to_string())),
                &[],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "conflict");
        assert!(r.text.contains("built-in role"), "{}", r.text);
    }
    assert_eq!(state(&app).await, before, "built-ins are unchanged");
    // Nor can a role be created over a built-in's id.
    let r = app
        .post("/api/v1/auth/roles", a, json!({"id": "admin"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(state(&app).await, before);
}

both_backends!(role_routes_refuse_without_their_permission);
async fn role_routes_refuse_without_their_permission(db: Db) {
    let app = TestApp::new(db).await;
    let r = app
        .post(
            "/api/v1/auth/roles",
            &app.admin,
            json!({"id": "ops", "permissions": ["job.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (_, auditor) = app.principal("audrey", &["auditor"]).await;
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let before = state(&app).await;

    let cases: Vec<(Method, &str, Option<Value>, &str, &str)> = vec![
        (
            Method::POST,
            "/api/v1/auth/roles",
            Some(json!({"id": "mine"})),
            "auth.role.create",
            &auditor,
        ),
        (
            Method::GET,
            "/api/v1/auth/roles",
            None,
            "auth.role.read",
            &requester,
        ),
        (
            Method::GET,
            "/api/v1/auth/roles/ops",
            None,
            "auth.role.read",
            &requester,
        ),
        (
            Method::PUT,
            "/api/v1/auth/roles/ops",
            Some(json!({"description": "", "permissions": [], "generation": 1})),
            "auth.role.edit",
            &auditor,
        ),
        (
            Method::DELETE,
            "/api/v1/auth/roles/ops",
            None,
            "auth.role.delete",
            &auditor,
        ),
        (
            Method::POST,
            "/api/v1/auth/roles/ops/permissions",
            Some(json!({"permission": "job.read"})),
            "auth.role.edit",
            &auditor,
        ),
        (
            Method::DELETE,
            "/api/v1/auth/roles/ops/permissions/job.read",
            None,
            "auth.role.edit",
            &auditor,
        ),
    ];
    for (n, (method, path, body, permission, key)) in cases.into_iter().enumerate() {
        let rid = format!("deny-{n}");
        let r = call(&app, method.clone(), path, key, body, &rid).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "forbidden");
        let e = denial(&app, &rid).await;
        assert_eq!(e["authorization"]["permission"], permission, "{e}");
    }
    assert_eq!(state(&app).await, before, "refusals change nothing");
    // The auditor reads roles.
    assert_eq!(
        app.get("/api/v1/auth/roles/ops", &auditor).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/roles", &auditor).await.status,
        StatusCode::OK
    );
}

both_backends!(role_bad_input_changes_nothing);
async fn role_bad_input_changes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;
    let r = app
        .post(
            "/api/v1/auth/roles",
            a,
            json!({"id": "ops", "permissions": ["job.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let before = state(&app).await;

    for body in [
        json!({"id": "Bad_Id"}),
        json!({"id": ""}),
        json!({"id": "x".repeat(64)}),
        json!({"id": "fine", "permissions": ["root"]}),
        json!({"id": "fine", "permissions": "job.read"}),
        json!({"id": "fine", "builtin": true}),
        json!({"id": "fine", "description": "d".repeat(1025)}),
        json!({"id": "fine", "description": "bell\u{7}"}),
        json!({"permissions": []}),
    ] {
        let r = app.post("/api/v1/auth/roles", a, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    let r = app.post_raw("/api/v1/auth/roles", a, "[").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .post("/api/v1/auth/roles", a, json!({"id": "ops"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("already exists"), "{}", r.text);

    for body in [
        json!({"description": "", "permissions": []}),
        json!({"description": "", "permissions": ["nope"], "generation": 1}),
        json!({"description": "", "permissions": [], "generation": "1"}),
        json!({"id": "ops", "description": "", "permissions": [], "generation": 1}),
        json!({"description": "d".repeat(1025), "permissions": [], "generation": 1}),
    ] {
        let r = app.put("/api/v1/auth/roles/ops", a, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    for body in [
        json!({}),
        json!({"permission": "nope"}),
        json!({"permission": "job.read", "x": 1}),
        json!({"permissions": ["job.read"]}),
    ] {
        let r = app
            .post("/api/v1/auth/roles/ops/permissions", a, body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    let r = app
        .delete("/api/v1/auth/roles/ops/permissions/not.a.permission", a)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Removing a permission the role lacks: nothing to remove.
    let r = app
        .delete("/api/v1/auth/roles/ops/permissions/job.cancel", a)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // Unknown or malformed role ids name nothing.
    let put = json!({"description": "", "permissions": [], "generation": 1});
    for (method, path, body) in [
        (Method::GET, "/api/v1/auth/roles/no-such-role", None),
        (Method::GET, "/api/v1/auth/roles/Not_A_Slug", None),
        (
            Method::PUT,
            "/api/v1/auth/roles/no-such-role",
            Some(put.clone()),
        ),
        (Method::PUT, "/api/v1/auth/roles/Not_A_Slug", Some(put)),
        (Method::DELETE, "/api/v1/auth/roles/no-such-role", None),
        (
            Method::POST,
            "/api/v1/auth/roles/no-such-role/permissions",
            Some(json!({"permission": "job.read"})),
        ),
        (
            Method::DELETE,
            "/api/v1/auth/roles/no-such-role/permissions/job.read",
            None,
        ),
    ] {
        let r = app
            .send(
                method.clone(),
                path,
                Some(a),
                body.map(|b| Body::from(b.to_string())),
                &[],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "not_found");
    }
    for path in [
        "/api/v1/auth/roles?limit=0",
        "/api/v1/auth/roles?limit=501",
        "/api/v1/auth/roles?cursor=abc",
    ] {
        let r = app.get(path, a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
    }
    assert_eq!(state(&app).await, before, "bad input changes nothing");
}

both_backends!(nobody_puts_into_a_role_a_permission_they_lack);
async fn nobody_puts_into_a_role_a_permission_they_lack(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;
    // A role-smith may create and edit roles, and read audit events — nothing more.
    let r = app
        .post("/api/v1/auth/roles", a, json!({"id": "role-smith", "permissions": ["auth.role.create", "auth.role.edit", "auth.role.read", "audit.read"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (smith, smith_key) = app.principal("smith", &["role-smith"]).await;
    let r = app
        .post(
            "/api/v1/auth/roles",
            &smith_key,
            json!({"id": "reader", "permissions": ["audit.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let before = state(&app).await;

    let attempts: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::POST,
            "/api/v1/auth/roles",
            json!({"id": "exporter", "permissions": ["audit.read", "audit.export"]}),
            "auth.role.create",
        ),
        (
            Method::POST,
            "/api/v1/auth/roles",
            json!({"id": "root", "permissions": ["auth.role.assign"]}),
            "auth.role.create",
        ),
        (
            Method::PUT,
            "/api/v1/auth/roles/reader",
            json!({"description": "", "permissions": ["audit.read", "audit.export"], "generation": 1}),
            "auth.role.edit",
        ),
        (
            Method::PUT,
            "/api/v1/auth/roles/role-smith",
            json!({"description": "", "permissions": ["auth.role.create", "auth.role.edit", "auth.role.read", "audit.read", "auth.role.assign"], "generation": 1}),
            "auth.role.edit",
        ),
        (
            Method::POST,
            "/api/v1/auth/roles/reader/permissions",
            json!({"permission": "audit.export"}),
            "auth.role.edit",
        ),
        (
            Method::POST,
            "/api/v1/auth/roles/role-smith/permissions",
            json!({"permission": "auth.role.delete"}),
            "auth.role.edit",
        ),
    ];
    for (n, (method, path, body, permission)) in attempts.into_iter().enumerate() {
        let rid = format!("guard-{n}");
        let r = call(&app, method.clone(), path, &smith_key, Some(body), &rid).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "forbidden");
        assert!(r.text.contains("escalation guard"), "{}", r.text);
        let e = denial(&app, &rid).await;
        assert_eq!(e["actor"]["id"], smith.as_str());
        assert_eq!(e["authorization"]["permission"], permission, "{e}");
        assert_eq!(e["result"]["kind"], "forbidden");
    }
    assert_eq!(state(&app).await, before, "the guard changed nothing");

    // Only what is added is checked: keeping a permission the editor lacks is fine.
    let r = app
        .post(
            "/api/v1/auth/roles/reader/permissions",
            a,
            json!({"permission": "policy.write"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let g = r.json["generation"].as_i64().unwrap();
    let r = app
        .put("/api/v1/auth/roles/reader", &smith_key, json!({"description": "Readers", "permissions": ["audit.read", "policy.write"], "generation": g}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // …and so is removing it.
    let r = app
        .put(
            "/api/v1/auth/roles/reader",
            &smith_key,
            json!({"description": "Readers", "permissions": ["audit.read"], "generation": g + 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["permissions"], json!(["audit.read"]));
}

both_backends!(a_role_a_policy_names_cannot_be_deleted);
async fn a_role_a_policy_names_cannot_be_deleted(db: Db) {
    let app = TestApp::new(db).await;
    let a = &app.admin;
    for id in ["security", "spare"] {
        let r = app
            .post(
                "/api/v1/auth/roles",
                a,
                json!({"id": id, "permissions": ["approval.read", "approval.approve"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let policy = app
        .policy("prod", json!([{"role": "security", "count": 1}]), None)
        .await;
    let (_, _) = app.principal("sam", &["security"]).await;

    let before = state(&app).await;
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/auth/roles/security",
        a,
        None,
        "del",
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "conflict");
    assert!(r.text.contains("policy"), "{}", r.text);
    assert_eq!(
        state(&app).await,
        before,
        "the role, its permissions and its holders stay"
    );
    assert!(events_of(&app, "role.deleted", "del").await.is_empty());
    assert_eq!(
        app.get("/api/v1/auth/roles/security", a).await.status,
        StatusCode::OK
    );

    // Once the policy no longer names it, it can go.
    let p = app.get(&format!("/api/v1/policies/{policy}"), a).await;
    let r = app
        .put(&format!("/api/v1/policies/{policy}"), a, json!({"name": "prod", "requires_approval": true, "rules": [{"role": "spare", "count": 1}], "generation": p.json["generation"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.delete("/api/v1/auth/roles/security", a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}
