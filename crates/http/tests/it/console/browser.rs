//! The console in a real browser: headless Chromium driven over WebDriver (`fantoccini`), the
//! test starting `chromedriver` on a free port itself and the real server on port 0.
//!
//! With `COUNTERSIGN_SCREENSHOTS=docs/screenshots` (a path relative to the workspace root, or
//! absolute) the PostgreSQL run saves PNGs of the main pages at desktop and phone widths:
//! `cargo test -p countersign-http --all-features -- console::browser`.
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`; `.ci/run`
//! installs them); `CHROMIUM` and `CHROMEDRIVER` point elsewhere.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use super::{approval_state, scene};
use crate::support::{Db, TestApp};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;

const DESKTOP: (u32, u32) = (1280, 1200);
const PHONE: (u32, u32) = (390, 844);

/// A chromedriver child process and a browser session on it; both end when dropped (the
/// process is killed on drop).
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    base: String,
    screenshots: Option<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    async fn start(base: String, screenshots: bool) -> Self {
        let driver_bin =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} (Debian package chromium-driver): {e}")
            });
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         format!("--window-size={},{}", DESKTOP.0, DESKTOP.1)],
            }),
        );
        // chromedriver listens within moments; give it up to 20 s on a loaded machine.
        let mut last_error = None;
        let mut client = None;
        for _ in 0..200 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let client = client.unwrap_or_else(|| panic!("no WebDriver session: {last_error:?}"));
        let screenshots = screenshots
            .then(|| std::env::var_os("COUNTERSIGN_SCREENSHOTS"))
            .flatten()
            .map(|dir| {
                let dir = PathBuf::from(dir);
                let dir = if dir.is_absolute() {
                    dir
                } else {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../..")
                        .join(dir)
                };
                std::fs::create_dir_all(&dir).unwrap();
                dir
            });
        Self {
            client,
            _driver: driver,
            base,
            screenshots,
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to click: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to type into: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn sign_in(&self, key: &str) {
        self.goto("/ui/sign-in").await;
        self.type_into("#api_key", key).await;
        self.click("#sign-in").await;
        self.client
            .wait()
            .for_element(Locator::Css("#me"))
            .await
            .expect("signed in");
    }

    async fn sign_out(&self) {
        self.click("#sign-out").await;
        self.wait_for_path("/ui/sign-in?signed_out=1").await;
    }

    /// Wait (up to 10 s) until the browser is at `path`: a click that navigates returns before
    /// the new page is there.
    async fn wait_for_path(&self, path: &str) {
        for _ in 0..100 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.path().await, path);
    }

    /// Save the page as `{name}.png` (and at phone width as `{name}-phone.png` when
    /// `phone`), when screenshots were asked for.
    async fn screenshot(&self, name: &str, phone: bool) {
        let Some(dir) = &self.screenshots else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        if phone {
            self.client.set_window_size(PHONE.0, PHONE.1).await.unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-phone.png")), png).unwrap();
            self.client
                .set_window_size(DESKTOP.0, DESKTOP.1)
                .await
                .unwrap();
        }
    }
}

async fn walkthrough(db: Db) {
    let screenshots = matches!(db, Db::Postgres(_));
    let app = TestApp::new(db).await;
    let (bob, carol, approval) = scene(&app).await;
    let (addr, server) = app.spawn_server().await;
    let b = Browser::start(format!("http://{addr}"), screenshots).await;
    let page = format!("/ui/approvals/{approval}");

    // The requester: nothing waits on him; his own request says why he cannot approve it,
    // and trying anyway is the use case's two-person-integrity refusal.
    b.goto("/ui/").await;
    assert!(b.path().await.starts_with("/ui/sign-in"), "signed out");
    b.screenshot("sign-in", false).await;
    b.sign_in(&bob).await;
    assert!(b
        .text("#nothing-waiting")
        .await
        .contains("Nothing is waiting on your vote"));
    b.goto(&page).await;
    assert_eq!(
        b.text("#eligibility").await,
        "You cannot approve this request: requester cannot vote (two-person integrity)."
    );
    b.click("#approve").await;
    b.wait_for_path(&format!("{page}/confirm")).await;
    b.click("#confirm").await;
    b.wait_for_path(&format!("{page}/vote")).await;
    let message = b.text("#message").await;
    assert!(message.contains("two_person_integrity"), "{message}");
    assert_eq!(approval_state(&app, &approval).await, "pending");
    b.sign_out().await;
    assert_eq!(b.text("#message").await, "You have signed out.");
    b.goto("/ui/").await;
    assert!(
        b.path().await.starts_with("/ui/sign-in"),
        "the session ended"
    );

    // The approver sees the request waiting, and approves it with a note after confirming.
    b.sign_in(&carol).await;
    let row = b.text("tr.approval").await;
    assert!(
        row.contains("api.example.com") && row.contains("bob"),
        "{row}"
    );
    b.screenshot("waiting", true).await;
    b.click(&format!("a[href='{page}']")).await;
    b.wait_for_path(&page).await;
    assert!(b
        .text("#eligibility")
        .await
        .starts_with("You may approve this request"));
    assert!(b.text("#payload").await.contains("\"ttl\": \"90d\""));
    b.screenshot("approval", true).await;
    b.type_into("#note", "Checked the SANs; renew.").await;
    b.click("#approve").await;
    b.wait_for_path(&format!("{page}/confirm")).await;
    b.screenshot("confirm", false).await;
    b.click("#confirm").await;
    b.wait_for_path(&format!("{page}?voted=approve")).await;
    assert_eq!(b.text("#state").await, "approved");
    let votes = b.text("#votes").await;
    assert!(
        votes.contains("carol") && votes.contains("Checked the SANs; renew."),
        "{votes}"
    );
    assert_eq!(approval_state(&app, &approval).await, "approved");

    // A forged post: the vote form's CSRF token altered, then removed, before submitting.
    let subject = app
        .get(&format!("/api/v1/approvals/{approval}"), &app.admin)
        .await
        .json["subject_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.request_job(&bob, &subject, json!({"ttl": "30d"})).await;
    let second = second.json["approval"]["id"].as_str().unwrap().to_owned();
    for script in [
        "document.querySelector('form.vote-form input[name=csrf]').value = 'forged';",
        "document.querySelector('form.vote-form input[name=csrf]').remove();",
    ] {
        b.goto(&format!("/ui/approvals/{second}")).await;
        b.client.execute(script, vec![]).await.unwrap();
        b.click("#approve").await;
        b.wait_for_path(&format!("/ui/approvals/{second}/confirm"))
            .await;
        assert!(b.text("h1").await.starts_with("403"), "refused");
        assert!(b.text("#message").await.contains("CSRF"));
        assert_eq!(approval_state(&app, &second).await, "pending");
    }
    b.goto("/ui/requests").await;
    b.sign_out().await;

    // The audit page shows the vote.
    b.sign_in(&app.admin).await;
    b.goto("/ui/audit?action=approval.voted").await;
    let event = b.text("tr[data-action='approval.voted']").await;
    assert!(event.contains("carol"), "{event}");
    b.screenshot("audit", true).await;
    b.goto("/ui/jobs").await;
    b.screenshot("jobs", false).await;
    b.goto(&format!("/ui/approvals/{second}")).await;
    b.screenshot("approval-pending", false).await;

    b.client.clone().close().await.unwrap();
    server.abort();
}
both_backends!(walkthrough);

async fn idle_session_expires(db: Db) {
    let config = ServiceConfig {
        session_idle_timeout: Duration::from_secs(2),
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    let (addr, server) = app.spawn_server().await;
    let b = Browser::start(format!("http://{addr}"), false).await;
    b.sign_in(&app.admin).await;
    b.goto("/ui/jobs").await;
    assert_eq!(b.path().await, "/ui/jobs");
    // Let the session go idle past its timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    b.goto("/ui/jobs").await;
    assert_eq!(b.path().await, "/ui/sign-in?expired=1&next=%2Fui%2Fjobs");
    assert_eq!(
        b.text("#message").await,
        "Your session has ended. Sign in again to continue."
    );
    let ended = app.events("session.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["details"]["reason"], "idle");
    b.client.clone().close().await.unwrap();
    server.abort();
}
both_backends!(idle_session_expires);
