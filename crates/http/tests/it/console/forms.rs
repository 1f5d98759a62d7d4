//! The console's forms over plain HTTP: sign-in and its refusals, the CSRF check on every
//! form (a forged post is 403 and changes nothing), the vote through the API's use case (the
//! requester gets `two_person_integrity`), sign-out, idle expiry, and the export link.

use std::time::Duration;

use axum::http::StatusCode;
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use time::format_description::well_known::Rfc3339;

use super::{approval_state, input_value, scene, Visitor};
use crate::support::{Db, TestApp};

async fn sign_in_refusals(db: Db) {
    let app = TestApp::new(db).await;
    let mut v = Visitor::new(&app);

    // A key that does not authenticate: 401, the form again, an `auth.denied` event.
    let r = v.sign_in("cs_key_01hzzzzzzzzzzzzzzzzzzzzzzz_00").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.text.contains("was not accepted"));
    assert!(!v.cookies.contains_key("countersign_session"));
    let denied = app.events("auth.denied").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["resource"]["id"], "POST /ui/sign-in");

    // The sign-in form's own CSRF token is checked too (double submit).
    let admin = app.admin.clone();
    let form = v.get("/ui/sign-in").await;
    let csrf = input_value(&form.text, "csrf").unwrap();
    for (label, token) in [("missing", ""), ("wrong", "0".repeat(64).as_str())] {
        let r = v
            .post("/ui/sign-in", &[("csrf", token), ("api_key", &admin)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{label}: {}", r.text);
    }
    let mut stranger = Visitor::new(&app);
    let r = stranger
        .post("/ui/sign-in", &[("csrf", &csrf), ("api_key", &admin)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "no form cookie: {}",
        r.text
    );
    assert_eq!(app.db.count("console_sessions").await, 0);
    assert!(app.events("session.created").await.is_empty());
    // Each refusal is an anonymous `auth.denied` (through the flood control).
    let denied = app.events("auth.denied").await;
    assert_eq!(denied.len(), 4, "{denied:?}");
    assert!(denied[1..]
        .iter()
        .all(|e| e["resource"]["id"] == "POST /ui/sign-in" && e["result"]["kind"] == "forbidden"));

    // A page asked for while signed out comes back after sign-in.
    let mut v = Visitor::new(&app);
    let r = v.get("/ui/jobs").await;
    assert_eq!(r.headers["location"], "/ui/sign-in?next=%2Fui%2Fjobs");
    let form = v.get("/ui/sign-in?next=%2Fui%2Fjobs").await;
    let csrf = input_value(&form.text, "csrf").unwrap();
    let next = input_value(&form.text, "next").unwrap();
    assert_eq!(next, "/ui/jobs");
    let r = v
        .post(
            "/ui/sign-in",
            &[("csrf", &csrf), ("api_key", &admin), ("next", &next)],
        )
        .await;
    assert_eq!(r.headers["location"], "/ui/jobs");
    // … but never outside the console.
    let form = v
        .get("/ui/sign-in?next=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(input_value(&form.text, "next").unwrap(), "/ui/");
}
both_backends!(sign_in_refusals);

async fn forged_forms_are_refused(db: Db) {
    let app = TestApp::new(db).await;
    let (_, carol, approval) = scene(&app).await;
    let mut c = Visitor::signed_in(&app, &carol).await;
    let csrf = c.csrf().await;
    let other_session = Visitor::signed_in(&app, &carol).await;
    let foreign = {
        let mut o = other_session;
        o.csrf().await
    };
    assert_ne!(csrf, foreign, "CSRF tokens are per session");

    let vote = format!("/ui/approvals/{approval}/vote");
    let confirm = format!("/ui/approvals/{approval}/confirm");
    let bad = [
        ("missing", None),
        ("wrong", Some("f".repeat(64))),
        ("another session's", Some(foreign)),
    ];
    for (label, token) in &bad {
        for path in [&vote, &confirm] {
            let mut fields = vec![("decision", "approve"), ("confirm", "yes")];
            if let Some(t) = token {
                fields.push(("csrf", t));
            }
            let r = c.post(path, &fields).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{label} on {path}: {}",
                r.text
            );
            assert!(r.text.contains("CSRF"), "{}", r.text);
        }
        let r = c
            .post(
                "/ui/sign-out",
                &token
                    .iter()
                    .map(|t| ("csrf", t.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{label} sign-out");
    }
    // Nothing changed: no vote, the session still works, each refusal audited.
    assert_eq!(approval_state(&app, &approval).await, "pending");
    assert!(app.events("approval.voted").await.is_empty());
    assert!(app.events("session.ended").await.is_empty());
    assert_eq!(c.get("/ui/").await.status, StatusCode::OK);
    let refusals: Vec<_> = app
        .events("auth.denied")
        .await
        .into_iter()
        .filter(|e| {
            e["authorization"]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("CSRF")
        })
        .collect();
    assert_eq!(refusals.len(), bad.len() * 3);
    assert!(refusals.iter().all(|e| e["actor"]["name"] == "carol"));

    // With the right token the same post goes through.
    let r = c
        .post(
            &vote,
            &[("csrf", &csrf), ("decision", "approve"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(approval_state(&app, &approval).await, "approved");
}
both_backends!(forged_forms_are_refused);

async fn votes_go_through_the_use_case(db: Db) {
    let app = TestApp::new(db).await;
    let (bob, carol, approval) = scene(&app).await;
    let page = format!("/ui/approvals/{approval}");

    // The requester sees why not, and voting anyway is the use case's refusal.
    let mut b = Visitor::signed_in(&app, &bob).await;
    let r = b.get(&page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text.contains(
            "You cannot approve this request: requester cannot vote (two-person integrity)"
        ),
        "{}",
        r.text
    );
    let csrf = b.csrf().await;
    let r = b
        .post(
            &format!("{page}/vote"),
            &[("csrf", &csrf), ("decision", "approve"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("two_person_integrity"), "{}", r.text);
    assert_eq!(approval_state(&app, &approval).await, "pending");
    let denied = app.events("auth.denied").await;
    assert!(denied
        .iter()
        .any(|e| e["actor"]["name"] == "bob" && e["result"]["kind"] == "two_person_integrity"));

    // The approver: page, confirmation, vote with a note.
    let mut c = Visitor::signed_in(&app, &carol).await;
    let r = c.get(&page).await;
    assert!(
        r.text.contains("You may approve this request"),
        "{}",
        r.text
    );
    assert!(r.text.contains("certificate.renew"));
    assert!(
        r.text.contains("&#34;ttl&#34;: &#34;90d&#34;"),
        "payload pretty-printed: {}",
        r.text
    );
    let sha = app
        .get(&format!("/api/v1/approvals/{approval}"), &app.admin)
        .await
        .json["payload_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(r.text.contains(&sha));
    assert!(r.text.contains(">bob<"), "requester by name");
    let csrf = input_value(&r.text, "csrf").unwrap();
    let note = "checked the SANs <ok>";
    let confirm = c
        .post(
            &format!("{page}/confirm"),
            &[("csrf", &csrf), ("decision", "approve"), ("note", note)],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    assert!(confirm.text.contains("Yes, approve"));
    assert!(
        confirm.text.contains("checked the SANs &#60;ok&#62;"),
        "escaped: {}",
        confirm.text
    );
    assert!(
        app.events("approval.voted").await.is_empty(),
        "confirming is not voting"
    );
    // Without the confirmation step's field, nothing is cast.
    let r = c
        .post(
            &format!("{page}/vote"),
            &[("csrf", &csrf), ("decision", "approve"), ("note", note)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .post(
            &format!("{page}/vote"),
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("note", note),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        r.headers["location"],
        format!("{page}?voted=approve").as_str()
    );
    let after = c.get(&format!("{page}?voted=approve")).await;
    assert!(after.text.contains("Your approval was recorded"));
    assert!(after.text.contains("checked the SANs &#60;ok&#62;"));
    assert_eq!(approval_state(&app, &approval).await, "approved");
    let voted = app.events("approval.voted").await;
    assert_eq!(voted.len(), 1);
    assert_eq!(voted[0]["actor"]["name"], "carol");

    // A second vote is the use case's 409, shown on the page.
    let r = c
        .post(
            &format!("{page}/vote"),
            &[("csrf", &csrf), ("decision", "reject"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("already_decided") || r.text.contains("already_voted"));
}
both_backends!(votes_go_through_the_use_case);

async fn sign_out_and_idle_expiry(db: Db) {
    let config = ServiceConfig {
        session_idle_timeout: Duration::from_secs(1),
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let admin = app.admin.clone();

    // Sign-out ends the session: the old cookie no longer opens a page.
    let mut v = Visitor::signed_in(&app, &admin).await;
    let token = v.cookies["countersign_session"].clone();
    let csrf = v.csrf().await;
    let r = v.post("/ui/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/ui/sign-in?signed_out=1");
    assert!(
        !v.cookies.contains_key("countersign_session"),
        "cookie removed"
    );
    v.cookies.insert("countersign_session".into(), token);
    let r = v.get("/ui/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/ui/sign-in"));
    let ended = app.events("session.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["details"]["reason"], "signed_out");

    // Idle past the timeout: refused, ended as idle, once.
    let mut v = Visitor::signed_in(&app, &admin).await;
    assert_eq!(v.get("/ui/").await.status, StatusCode::OK);
    let token = v.cookies["countersign_session"].clone();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = v.get("/ui/jobs").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"],
        "/ui/sign-in?expired=1&next=%2Fui%2Fjobs"
    );
    v.cookies.insert("countersign_session".into(), token);
    assert_eq!(v.get("/ui/").await.status, StatusCode::SEE_OTHER);
    let ended = app.events("session.ended").await;
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert_eq!(ended[1]["details"]["reason"], "idle");
    assert_eq!(ended[1]["actor"]["name"], "admin");
}
both_backends!(sign_out_and_idle_expiry);

async fn revoking_the_key_ends_what_the_session_may_do(db: Db) {
    let app = TestApp::new(db).await;
    let (_, carol, _) = scene(&app).await;
    let mut c = Visitor::signed_in(&app, &carol).await;
    assert_eq!(c.get("/ui/").await.status, StatusCode::OK);
    let key_id = carol
        .split('_')
        .skip(1)
        .take(2)
        .collect::<Vec<_>>()
        .join("_");
    let r = app
        .delete(&format!("/api/v1/auth/keys/{key_id}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = c.get("/ui/").await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a revoked key's session opens nothing"
    );
}
both_backends!(revoking_the_key_ends_what_the_session_may_do);

async fn export_link(db: Db) {
    let app = TestApp::new(db).await;
    let (_, auditor) = app.principal("audrey", &["auditor"]).await;
    let mut a = Visitor::signed_in(&app, &auditor).await;
    let page = a.get("/ui/audit?action=session.created").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains("data-action=\"session.created\""),
        "{}",
        page.text
    );
    let href = page
        .text
        .split("id=\"export\" href=\"")
        .nth(1)
        .map(|s| {
            s[..s.find('"').unwrap()]
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        })
        .expect("an export link");
    let r = a.get(&href).await;
    assert_eq!(r.status, StatusCode::OK, "{href}: {}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|e| e["action"] == "session.created"));
    let exported = app.events("audit.exported").await;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["actor"]["name"], "audrey");

    // Without the session's token the export is refused and not run.
    let now = time::OffsetDateTime::now_utc();
    let from = (now - time::Duration::hours(1)).format(&Rfc3339).unwrap();
    let to = (now + time::Duration::hours(1)).format(&Rfc3339).unwrap();
    let r = a
        .get(&format!("/ui/audit/export?from={from}&to={to}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events("audit.exported").await.len(), 1);
}
both_backends!(export_link);
