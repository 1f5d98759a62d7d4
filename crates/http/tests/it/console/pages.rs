//! The console's pages over plain HTTP: security headers on every answer, the session
//! cookie's attributes, sessions stored as hashes, permission refusals, and what "waiting on
//! me" holds.

use axum::http::StatusCode;
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{scene, Visitor};
use crate::support::{Db, Reply, TestApp};

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn assert_secure_headers(r: &Reply, what: &str) {
    let h = |name: &str| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
    };
    assert_eq!(h("content-security-policy"), CSP, "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "same-origin", "{what}");
}

fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn headers_and_cookie(db: Db) {
    let app = TestApp::new(db).await;
    let (_, carol, approval) = scene(&app).await;
    let mut v = Visitor::new(&app);

    // Signed out: every page sends to the sign-in page, itself with the headers.
    let r = v.get("/ui/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/ui/sign-in?next=%2Fui%2F");
    assert_secure_headers(&r, "redirect");
    let r = v.get("/ui/sign-in").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_secure_headers(&r, "sign-in");
    assert_eq!(r.headers["cache-control"], "no-store");

    let r = v.sign_in(&carol).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.headers["location"], "/ui/");
    let session = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("countersign_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");

    // Only the token's hash is stored.
    let token = v.cookies["countersign_session"].clone();
    let hash = hex_of(&Sha256::digest(token.as_bytes()));
    let hex = match app.db {
        Db::Postgres(_) => "encode(token_hash, 'hex')",
        _ => "lower(hex(token_hash))",
    };
    let stored: Vec<String> = app
        .db
        .column(&format!("SELECT {hex} FROM console_sessions"), &[])
        .await;
    assert_eq!(stored, vec![hash]);

    for page in [
        "/ui/".to_owned(),
        "/ui/requests".to_owned(),
        format!("/ui/approvals/{approval}"),
        "/ui/jobs".to_owned(),
        "/ui/no-such-page".to_owned(),
    ] {
        let r = v.get(&page).await;
        assert_secure_headers(&r, &page);
        assert_eq!(r.headers["cache-control"], "no-store", "{page}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{page}"
        );
    }
    let css = v.get("/ui/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert_secure_headers(&css, "stylesheet");
    assert_eq!(
        v.get("/ui/assets/nothing.css").await.status,
        StatusCode::NOT_FOUND
    );

    let created = app.events("session.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["name"], "carol");
    assert_eq!(created[0]["resource"]["type"], "session");
}
both_backends!(headers_and_cookie);

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn secure_cookie_over_https(db: Db) {
    let config = ServiceConfig {
        public_url: Some("https://countersign.example.com".into()),
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let mut v = Visitor::new(&app);
    let form = v.get("/ui/sign-in").await;
    assert!(set_cookies(&form).iter().all(|c| c.contains("; Secure")));
    let admin = app.admin.clone();
    let r = v.sign_in(&admin).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let cookies = set_cookies(&r);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("countersign_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Secure"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
}
both_backends!(secure_cookie_over_https);

async fn permissions_are_the_apis(db: Db) {
    let app = TestApp::new(db).await;
    let (_, carol, approval) = scene(&app).await;
    let (_, wendy) = app.principal("wendy", &["worker"]).await;

    // A worker reads jobs but not approvals; the refusal is the use case's, audited.
    let mut w = Visitor::signed_in(&app, &wendy).await;
    let r = w.get(&format!("/ui/approvals/{approval}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("approval.read"), "{}", r.text);
    assert_eq!(w.get("/ui/").await.status, StatusCode::FORBIDDEN);
    assert_eq!(w.get("/ui/jobs").await.status, StatusCode::OK);
    let denied = app.events("auth.denied").await;
    assert!(
        denied.iter().any(|e| e["actor"]["name"] == "wendy"
            && e["authorization"]["permission"] == "approval.read"),
        "{denied:?}"
    );

    // An approver has no audit.read: the audit page is refused, and its link not shown.
    let mut c = Visitor::signed_in(&app, &carol).await;
    let home = c.get("/ui/").await;
    assert!(!home.text.contains("href=\"/ui/audit\""));
    assert_eq!(c.get("/ui/audit").await.status, StatusCode::FORBIDDEN);
    assert!(
        app.events("auth.denied")
            .await
            .iter()
            .any(|e| e["actor"]["name"] == "carol"
                && e["authorization"]["permission"] == "audit.read")
    );

    // A malformed id names nothing.
    assert_eq!(
        c.get("/ui/approvals/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    // A bad cursor is the use case's 400.
    assert_eq!(
        c.get("/ui/?cursor=zz").await.status,
        StatusCode::BAD_REQUEST
    );
}
both_backends!(permissions_are_the_apis);

async fn waiting_on_me_holds_only_my_open_votes(db: Db) {
    let app = TestApp::new(db).await;
    let (bob, carol, first) = scene(&app).await;
    let (_, dave) = app.principal("dave", &["approver"]).await;
    // A request under another role's policy: not carol's to decide.
    app.ensure_role("security").await;
    let sec = app
        .policy("sec", json!([{"role": "security", "count": 1}]), None)
        .await;
    let sec_subject = app.subject("vault.example.com", &sec).await;
    let other = app.request_job(&bob, &sec_subject, json!({})).await;
    let other = other.json["approval"]["id"].as_str().unwrap().to_owned();
    // A request carol has voted on already (two approvers needed, so it stays pending).
    let two = app
        .policy("two", json!([{"role": "approver", "count": 2}]), None)
        .await;
    let two_subject = app.subject("db.example.com", &two).await;
    let voted = app.request_job(&bob, &two_subject, json!({})).await;
    let voted = voted.json["approval"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/approvals/{voted}/approve"),
            &carol,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let mut c = Visitor::signed_in(&app, &carol).await;
    let page = c.get("/ui/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&first), "{}", page.text);
    assert!(!page.text.contains(&other), "not carol's role");
    assert!(!page.text.contains(&voted), "carol voted already");

    // Bob requested all three: none waits on him, though he approves.
    let mut b = Visitor::signed_in(&app, &bob).await;
    let page = b.get("/ui/").await;
    assert!(
        page.text.contains("Nothing is waiting on your vote"),
        "{}",
        page.text
    );
    let mine = b.get("/ui/requests").await;
    for id in [&first, &other, &voted] {
        assert!(mine.text.contains(id.as_str()), "my requests lists {id}");
    }

    // Dave sees both approver requests; paging one at a time walks them newest first.
    let mut d = Visitor::signed_in(&app, &dave).await;
    let p1 = d.get("/ui/?limit=1").await;
    assert!(
        p1.text.contains(&voted) && !p1.text.contains(&first),
        "{}",
        p1.text
    );
    let next = p1
        .text
        .split("href=\"")
        .find_map(|s| s.strip_prefix("/ui/?cursor="))
        .map(|s| {
            format!(
                "/ui/?cursor={}",
                &s[..s.find('"').unwrap()]
                    .replace("&#38;", "&")
                    .replace("&amp;", "&")
            )
        })
        .expect("a next link");
    let p2 = d.get(&next).await;
    assert!(
        p2.text.contains(&first) && !p2.text.contains(&voted),
        "{}",
        p2.text
    );
}
both_backends!(waiting_on_me_holds_only_my_open_votes);
