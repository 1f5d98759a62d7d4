//! The browser console (`/ui/`): plain HTTP tests of its routes on both backends ([`pages`],
//! [`forms`]) and browser tests driving headless Chromium over WebDriver ([`browser`]).
//!
//! [`Visitor`] is a minimal browser for the plain tests: it keeps the cookies the console sets
//! (honouring removals) and posts URL-encoded forms.

mod browser;
mod forms;
mod pages;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{Reply, TestApp};

/// A cookie-keeping client of the console over the real router.
pub struct Visitor<'a> {
    pub app: &'a TestApp,
    pub cookies: BTreeMap<String, String>,
}

/// `value` percent-encoded for a form body.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of the first `<input name="{name}" … value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    /// Send a request with this visitor's cookies, keeping the cookies of the answer.
    pub async fn send(&mut self, method: Method, path: &str, form: Option<String>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(header::COOKIE, cookie);
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = req
            .body(form.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let resp = self.app.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// Post a form of `fields`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(Method::POST, path, Some(body)).await
    }

    /// Sign in with `key` through the sign-in form; the answer of the form's post.
    pub async fn sign_in(&mut self, key: &str) -> Reply {
        let form = self.get("/ui/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        let csrf = input_value(&form.text, "csrf").expect("the sign-in form has a CSRF token");
        self.post(
            "/ui/sign-in",
            &[("csrf", &csrf), ("api_key", key), ("next", "/ui/")],
        )
        .await
    }

    /// A visitor signed in with `key`.
    pub async fn signed_in(app: &'a TestApp, key: &str) -> Self {
        let mut v = Self::new(app);
        let r = v.sign_in(key).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        assert!(v.cookies.contains_key("countersign_session"));
        v
    }

    /// The session's CSRF token, as the console's pages carry it.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/ui/").await;
        input_value(&page.text, "csrf").expect("a signed-in page carries the CSRF token")
    }
}

/// A requester `bob` (who also approves), an approver `carol`, a policy needing one approver,
/// a subject, and one pending approval requested by bob: `(bob key, carol key, approval id)`.
pub async fn scene(app: &TestApp) -> (String, String, String) {
    let (_, bob) = app.principal("bob", &["requester", "approver"]).await;
    let (_, carol) = app.principal("carol", &["approver"]).await;
    let policy = app
        .policy("prod-tls", json!([{"role": "approver", "count": 1}]), None)
        .await;
    let subject = app.subject("api.example.com", &policy).await;
    let r = app
        .request_job(
            &bob,
            &subject,
            json!({"ttl": "90d", "san": ["api.example.com"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let approval = r.json["approval"]["id"].as_str().unwrap().to_owned();
    (bob, carol, approval)
}

/// The approval's state, read through the API as the admin.
pub async fn approval_state(app: &TestApp, id: &str) -> String {
    let r = app
        .get(&format!("/api/v1/approvals/{id}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["state"].as_str().unwrap().to_owned()
}
