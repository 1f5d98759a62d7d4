//! Webhooks end to end: the API (secrets shown once, never read back, never audited), the
//! outbox written with each change (and only with a committed one), and delivery by the
//! scheduler to a real receiver on loopback — Standard Webhooks signatures checked by the
//! `standardwebhooks` crate, by an independent HMAC-SHA256 and by the Python reference
//! verifier when installed; retries, 410, ordering per approval, concurrent passes, and a
//! crashed sender's lease. The receiver and the setup functions are shared with the Slack,
//! redelivery and reminder tests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use countersign_service::{Service, ServiceConfig};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{s, Db, TestApp};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) answered: u16,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub(crate) fn kind(&self) -> String {
        s(&self.json()["type"])
    }
}

/// A webhook endpoint on `127.0.0.1:0`: it records every request and answers the next status
/// of its script (200 once the script is empty).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// How long it takes before answering (recording happens on arrival).
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Self, String) {
        let r = Receiver::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (r, format!("http://{addr}/hook"))
    }

    pub(crate) fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    r.got.lock().unwrap().push(Received {
        headers,
        body,
        answered: status,
    });
    let delay = *r.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap()
}

/// Immediate retries, so a test's passes retry at once.
pub(crate) fn config(retries: usize) -> ServiceConfig {
    ServiceConfig {
        public_url: Some("https://countersign.example.com/".into()),
        webhook_retry_schedule: vec![Duration::ZERO; retries],
        ..ServiceConfig::default()
    }
}

/// The real router over a service that delivers through the HTTP crate's webhook client.
pub(crate) async fn app_with(db: Db, cfg: ServiceConfig) -> TestApp {
    let service = Service::new(db.store(), cfg)
        .with_webhook_transport(countersign_http::webhook_transport().unwrap());
    TestApp::over(db, service).await
}

/// A requester, an approver (`sam`, role `security`), a one-vote policy and a subject.
pub(crate) async fn setup(app: &TestApp) -> (String, String, String) {
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, approver) = app.principal("sam", &["security"]).await;
    let policy = app
        .policy("one", json!([{"role": "security", "count": 1}]), Some(3600))
        .await;
    let subject = app.subject("db.example.com", &policy).await;
    (requester, approver, subject)
}

pub(crate) async fn create_webhook(
    app: &TestApp,
    url: &str,
    events: Option<Value>,
) -> (String, String) {
    let mut body = json!({"url": url, "description": "test receiver"});
    if let Some(e) = events {
        body["events"] = e;
    }
    let r = app.post("/api/v1/webhooks", &app.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (s(&r.json["id"]), s(&r.json["secret"]))
}

/// The real scheduler loop over a service, with an hour's tick for expiry and reclaim:
/// deliveries run beside it on their own poll and wake-ups.
pub(crate) struct RunningScheduler {
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<()>,
}

impl RunningScheduler {
    pub(crate) fn start(service: &Service) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = service.clone();
        let running = tokio::spawn(async move {
            service
                .run_scheduler(Duration::from_secs(3600), async {
                    let _ = stopped.await;
                })
                .await
        });
        Self { stop, running }
    }

    /// Shut it down and wait (at most `within`) for the loop to return.
    pub(crate) async fn stop(self, within: Duration) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(within, self.running)
            .await
            .expect("the scheduler stops on shutdown")
            .unwrap();
    }
}

pub(crate) async fn pass(service: &Service) {
    service.deliver_webhooks().await.unwrap();
}

pub(crate) fn verify_hmac(secret: &str, r: &Received) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.body
    );
    mac.update(signed.as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(r.header("webhook-signature"), expected);
}

/// The Python reference verifier (`pip install standardwebhooks`), when installed.
pub(crate) fn verify_with_python(secret: &str, r: &Received) {
    let have = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("note: Python `standardwebhooks` is not installed; its verifier was skipped");
        return;
    }
    let script = "import json, sys\n\
        from standardwebhooks.webhooks import Webhook\n\
        a = json.load(sys.stdin)\n\
        Webhook(a['secret']).verify(a['body'], a['headers'])\n\
        print('verified')\n";
    let headers: HashMap<&str, String> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .map(|h| (h, r.header(h)))
        .collect();
    let input = json!({"secret": secret, "body": r.body, "headers": headers}).to_string();
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python verifier refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
}

both_backends!(the_api_shows_a_secret_once_and_never_again);
async fn the_api_shows_a_secret_once_and_never_again(db: Db) {
    let app = app_with(db, config(1)).await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &app.admin,
            json!({"url": "https://hooks.example.com/x", "events": ["approval.requested", "approval.approved"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = s(&r.json["id"]);
    let secret = s(&r.json["secret"]);
    assert!(id.starts_with("whk_"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert!(raw.len() >= 24);
    assert_eq!(r.json["format"], "standard");
    assert_eq!(r.json["disabled"], false);

    let shown = app.get(&format!("/api/v1/webhooks/{id}"), &app.admin).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.json.get("secret").is_none());
    let listed = app.get("/api/v1/webhooks", &app.admin).await;
    assert_eq!(listed.json["data"][0]["id"], id.as_str());
    assert!(!listed.text.contains(&secret) && !shown.text.contains(&secret));

    let rotated = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = s(&rotated.json["secret"]);
    assert_ne!(new_secret, secret);

    // Audited as config events, with no secret anywhere in the trail.
    let created = app.events("webhook.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["category"], "config");
    assert_eq!(app.events("webhook.secret_rotated").await.len(), 1);
    let trail = serde_json::to_string(&app.audit_events().await).unwrap();
    assert!(!trail.contains(&secret) && !trail.contains(&new_secret));

    // An auditor reads, but cannot write.
    let (_, auditor) = app.principal("aud", &["auditor"]).await;
    assert_eq!(
        app.get("/api/v1/webhooks", &auditor).await.status,
        StatusCode::OK
    );
    let refused = app
        .post(
            "/api/v1/webhooks",
            &auditor,
            json!({"url": "https://x.example.com"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let gone = app
        .delete(&format!("/api/v1/webhooks/{id}"), &app.admin)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{id}"), &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.events("webhook.deleted").await.len(), 1);
}

both_backends!(bad_webhooks_are_refused_and_change_nothing);
async fn bad_webhooks_are_refused_and_change_nothing(db: Db) {
    let app = app_with(db, config(1)).await;
    for body in [
        json!({"url": "ftp://example.com/x"}),
        json!({"url": "https://"}),
        json!({"url": "not a url"}),
        json!({"url": "https://x.example.com", "events": []}),
        json!({"url": "https://x.example.com", "events": ["approval.nope"]}),
        json!({"url": "https://x.example.com", "format": "xml"}),
        json!({"url": "https://x.example.com", "surprise": 1}),
        json!({"events": ["approval.requested"]}),
    ] {
        let before = app.db.count("webhooks").await;
        let audit = app.audit_count().await;
        let r = app.post("/api/v1/webhooks", &app.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
        assert_eq!(app.db.count("webhooks").await, before);
        assert_eq!(app.audit_count().await, audit);
    }
}

both_backends!(deliveries_are_signed_and_carry_the_approval);
async fn deliveries_are_signed_and_carry_the_approval(db: Db) {
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    let (_, secret) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    let r = app.request_job(&requester, &subject, json!({"n": 1})).await;
    let approval = s(&r.json["approval"]["id"]);

    pass(&app.service).await;
    let got = rx.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert!(d.header("webhook-id").starts_with("msg_"));
    assert_eq!(d.header("content-type"), "application/json");
    let ts: i64 = d.header("webhook-timestamp").parse().unwrap();
    assert!((ts - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 60);

    // The crate's verifier, an independent HMAC, and the Python reference verifier.
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(d.body.as_bytes(), &d.headers)
        .unwrap();
    verify_hmac(&secret, d);
    verify_with_python(&secret, d);
    let wrong = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(wrong.verify(d.body.as_bytes(), &d.headers).is_err());

    let body = d.json();
    assert_eq!(body["type"], "approval.requested");
    let data = &body["data"];
    assert_eq!(data["id"], approval.as_str());
    assert_eq!(data["state"], "pending");
    assert_eq!(data["subject"]["name"], "db.example.com");
    assert_eq!(data["requester"]["name"], "rita");
    assert_eq!(data["waiting_on"], json!(["sam"]));
    assert_eq!(
        data["console_url"],
        format!("https://countersign.example.com/ui/approvals/{approval}").as_str()
    );
    // The view is the one `GET /api/v1/approvals/{id}` answers.
    let shown = app
        .get(&format!("/api/v1/approvals/{approval}"), &app.admin)
        .await;
    for field in [
        "job_id",
        "rules",
        "payload_sha256",
        "expires_at",
        "remaining",
    ] {
        assert_eq!(data[field], shown.json[field], "{field}");
    }

    // A test send reaches this webhook, signed the same way.
    let webhooks = app.get("/api/v1/webhooks", &app.admin).await;
    let id = s(&webhooks.json["data"][0]["id"]);
    let t = app
        .post(
            &format!("/api/v1/webhooks/{id}/test"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(t.status, StatusCode::ACCEPTED, "{}", t.text);
    pass(&app.service).await;
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].kind(), "webhook.test");
    assert_eq!(got[1].header("webhook-id"), s(&t.json["message_id"]));
    verify_hmac(&secret, &got[1]);
}

both_backends!(failed_attempts_retry_then_succeed_with_one_webhook_id);
async fn failed_attempts_retry_then_succeed_with_one_webhook_id(db: Db) {
    let app = app_with(db, config(3)).await;
    let (rx, url) = Receiver::start().await;
    let (id, _) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    rx.answer(&[500, 503]);
    app.request_job(&requester, &subject, json!({})).await;

    for _ in 0..3 {
        pass(&app.service).await;
    }
    let got = rx.got();
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let list = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &app.admin)
        .await;
    let d = &list.json["data"][0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status_code"], 200);
    assert_eq!(d["message_id"], ids[0].as_str());
    assert_eq!(d["event"], "approval.requested");
}

both_backends!(after_the_last_retry_a_delivery_fails_and_can_be_redelivered);
async fn after_the_last_retry_a_delivery_fails_and_can_be_redelivered(db: Db) {
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    let (id, _) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    rx.answer(&[500, 500]);
    app.request_job(&requester, &subject, json!({})).await;
    for _ in 0..3 {
        pass(&app.service).await;
    }
    assert_eq!(rx.got().len(), 2, "one attempt and one retry");
    let list = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &app.admin)
        .await;
    let d = &list.json["data"][0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["last_status_code"], 500);
    assert!(d["next_attempt_at"].is_null());

    let delivery = s(&d["id"]);
    let r = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "pending");
    assert_eq!(app.events("webhook.redelivered").await.len(), 1);
    pass(&app.service).await;
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].answered, 200);
    assert_eq!(got[2].header("webhook-id"), got[0].header("webhook-id"));
    let list = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &app.admin)
        .await;
    assert_eq!(list.json["data"][0]["status"], "delivered");
}

both_backends!(gone_disables_the_webhook);
async fn gone_disables_the_webhook(db: Db) {
    let app = app_with(db, config(3)).await;
    let (rx, url) = Receiver::start().await;
    let (id, _) = create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    rx.answer(&[410]);
    app.request_job(&requester, &subject, json!({})).await;
    pass(&app.service).await;
    app.request_job(&requester, &subject, json!({"again": true}))
        .await;
    pass(&app.service).await;
    pass(&app.service).await;

    assert_eq!(rx.got().len(), 1, "nothing is sent to a disabled webhook");
    let w = app.get(&format!("/api/v1/webhooks/{id}"), &app.admin).await;
    assert_eq!(w.json["disabled"], true);
    let list = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &app.admin)
        .await;
    let first = list.json["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first["status"], "failed");
    assert_eq!(first["last_status_code"], 410);
    let disabled = app.events("webhook.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["actor"]["id"], "system:scheduler");
}

both_backends!(one_approval_is_delivered_in_order);
async fn one_approval_is_delivered_in_order(db: Db) {
    let app = app_with(db, config(5)).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, None).await;
    let (requester, approver, subject) = setup(&app).await;
    // The first message fails twice; those after it for the same approval must wait.
    rx.answer(&[500, 500]);
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = s(&r.json["approval"]["id"]);
    let v = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &approver,
            json!({"note": "ok"}),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    for _ in 0..6 {
        pass(&app.service).await;
    }
    let got = rx.got();
    let seen: Vec<(String, u16)> = got.iter().map(|r| (r.kind(), r.answered)).collect();
    assert_eq!(
        seen,
        [
            ("approval.requested".to_owned(), 500),
            ("approval.requested".to_owned(), 500),
            ("approval.requested".to_owned(), 200),
            ("approval.voted".to_owned(), 200),
            ("approval.approved".to_owned(), 200),
        ]
    );
    // The decision reached the requester's side with nobody left to vote.
    let approved = got[4].json();
    assert_eq!(approved["data"]["state"], "approved");
    assert_eq!(approved["data"]["waiting_on"], json!([]));
}

both_backends!(two_concurrent_passes_never_send_one_attempt_twice);
async fn two_concurrent_passes_never_send_one_attempt_twice(db: Db) {
    let cfg = ServiceConfig {
        scheduler_batch: 3,
        ..config(1)
    };
    let app = app_with(db, cfg).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, Some(json!(["approval.requested"]))).await;
    let (requester, _, subject) = setup(&app).await;
    for i in 0..12 {
        app.request_job(&requester, &subject, json!({"i": i})).await;
    }
    let (a, b) = (app.service.clone(), app.service.clone());
    let (ra, rb) = tokio::join!(a.deliver_webhooks(), b.deliver_webhooks());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // Whatever is left (a pass stops after a short batch) is sent by later passes.
    for _ in 0..6 {
        pass(&app.service).await;
    }
    let got = rx.got();
    let mut ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 12, "{} + {}", ra.attempts, rb.attempts);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "a message was sent twice");
    assert_eq!(
        app.db
            .scalar::<i64>(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered' AND attempts = 1",
                &[]
            )
            .await,
        12
    );
}

both_backends!(a_crashed_senders_claim_is_sent_again_with_the_same_id);
async fn a_crashed_senders_claim_is_sent_again_with_the_same_id(db: Db) {
    let cfg = ServiceConfig {
        webhook_lease: Duration::from_secs(1),
        ..config(1)
    };
    let app = app_with(db, cfg).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    app.request_job(&requester, &subject, json!({})).await;
    app.service.fan_out_messages().await.unwrap();
    // A sender claims and dies before sending: nothing else may send it under its lease...
    let claimed = app.service.claim_due_deliveries().await.unwrap();
    assert_eq!(claimed.len(), 1);
    pass(&app.service).await;
    assert!(rx.got().is_empty());
    // ...and once the lease ends, it is sent, as the same message.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    pass(&app.service).await;
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("webhook-id"),
        claimed[0].message_id.to_string()
    );
    // The dead sender's late record is refused: the attempt was taken over.
    assert!(!app.service.send_claimed(&claimed[0]).await.unwrap());
    assert_eq!(
        app.db
            .scalar::<i64>(
                "SELECT CAST(attempts AS BIGINT) FROM webhook_deliveries",
                &[]
            )
            .await,
        2
    );
}

both_backends!(a_message_exists_exactly_when_its_change_committed);
async fn a_message_exists_exactly_when_its_change_committed(db: Db) {
    let app = app_with(db, config(1)).await;
    let (requester, approver, subject) = setup(&app).await;
    let r = app.request_job(&requester, &subject, json!({})).await;
    let approval = s(&r.json["approval"]["id"]);
    let events = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            db.column::<String>("SELECT event FROM outbox_messages ORDER BY seq", &[])
                .await
        }
    };
    assert_eq!(events(&app).await, ["approval.requested"]);

    // A refused vote (the requester's own) writes nothing.
    let own = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &requester,
            json!({}),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert_eq!(events(&app).await, ["approval.requested"]);

    // A vote whose transaction fails at its last write (the audit append, after the outbox
    // message was written) leaves no message behind.
    let trigger = match app.db.store().backend() {
        "postgres" => vec![
            "CREATE FUNCTION refuse_votes() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.action = 'approval.voted' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_votes BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_votes()",
        ],
        _ => vec![
            "CREATE TRIGGER refuse_votes BEFORE INSERT ON audit_events FOR EACH ROW \
             WHEN NEW.action = 'approval.voted' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
    };
    for sql in &trigger {
        app.db.execute(sql, &[]).await;
    }
    let failed = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &approver,
            json!({}),
        )
        .await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.text
    );
    assert_eq!(events(&app).await, ["approval.requested"]);
    assert_eq!(app.db.count("votes").await, 0);

    let drop = match app.db.store().backend() {
        "postgres" => "DROP TRIGGER refuse_votes ON audit_events",
        _ => "DROP TRIGGER refuse_votes",
    };
    app.db.execute(drop, &[]).await;
    let ok = app
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            &approver,
            json!({}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        events(&app).await,
        ["approval.requested", "approval.voted", "approval.approved"]
    );
}

both_backends!(delivery_metrics_follow_the_outbox, alone);
async fn delivery_metrics_follow_the_outbox(db: Db) {
    use countersign_service::metrics as m;
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    let delivered_before = app
        .metric(m::WEBHOOK_ATTEMPTS_TOTAL, &[("outcome", "delivered")])
        .await;
    let retried_before = app
        .metric(m::WEBHOOK_ATTEMPTS_TOTAL, &[("outcome", "retry")])
        .await;
    let latency_before = app
        .metric(
            &format!("{}_count", m::WEBHOOK_DELIVERY_LATENCY_SECONDS),
            &[],
        )
        .await;

    app.request_job(&requester, &subject, json!({"a": 1})).await;
    app.request_job(&requester, &subject, json!({"a": 2})).await;
    // Two messages written, none fanned out yet.
    assert_eq!(app.metric(m::OUTBOX_DEPTH, &[]).await, 2.0);
    app.service.fan_out_messages().await.unwrap();
    assert_eq!(app.metric(m::OUTBOX_DEPTH, &[]).await, 0.0);
    assert_eq!(
        app.metric(m::WEBHOOK_DELIVERIES, &[("status", "pending")])
            .await,
        2.0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        app.metric(m::OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS, &[])
            .await
            >= 1.0
    );

    rx.answer(&[500]);
    pass(&app.service).await;
    pass(&app.service).await;
    assert_eq!(rx.got().len(), 3);
    assert_eq!(
        app.metric(m::WEBHOOK_DELIVERIES, &[("status", "delivered")])
            .await,
        2.0
    );
    assert_eq!(
        app.metric(m::WEBHOOK_DELIVERIES, &[("status", "pending")])
            .await,
        0.0
    );
    assert_eq!(
        app.metric(m::OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS, &[])
            .await,
        0.0
    );
    assert_eq!(
        app.metric(m::WEBHOOK_ATTEMPTS_TOTAL, &[("outcome", "delivered")])
            .await
            - delivered_before,
        2.0
    );
    assert_eq!(
        app.metric(m::WEBHOOK_ATTEMPTS_TOTAL, &[("outcome", "retry")])
            .await
            - retried_before,
        1.0
    );
    assert_eq!(
        app.metric(
            &format!("{}_count", m::WEBHOOK_DELIVERY_LATENCY_SECONDS),
            &[]
        )
        .await
            - latency_before,
        2.0
    );
}

both_backends!(the_running_scheduler_delivers_between_its_ticks_and_stops);
async fn the_running_scheduler_delivers_between_its_ticks_and_stops(db: Db) {
    let app = app_with(db, config(1)).await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    // A long tick for expiry and reclaim; deliveries run each second beside them.
    let scheduler = RunningScheduler::start(&app.service);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.request_job(&requester, &subject, json!({})).await;
    let mut waited = Duration::ZERO;
    while rx.got().is_empty() && waited < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    assert_eq!(rx.got().len(), 1, "not delivered while the scheduler ran");
    scheduler.stop(Duration::from_secs(10)).await;
}

/// `(event, approval state in data)` of every outbox message, oldest first.
async fn outbox(app: &TestApp) -> Vec<(String, String)> {
    let bodies: Vec<String> = app
        .db
        .column("SELECT body FROM outbox_messages ORDER BY seq", &[])
        .await;
    bodies
        .iter()
        .map(|b| {
            let v: Value = serde_json::from_str(b).unwrap();
            let state = v["data"]["state"].as_str().unwrap_or("-").to_owned();
            (s(&v["type"]), state)
        })
        .collect()
}

both_backends!(every_event_of_the_list_writes_its_message);
async fn every_event_of_the_list_writes_its_message(db: Db) {
    let app = app_with(db, config(1)).await;
    let (requester, approver, subject) = setup(&app).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let short = app
        .policy("short", json!([{"role": "security", "count": 1}]), Some(1))
        .await;
    let due = app.subject("due.example.com", &short).await;
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());

    // Approved, then completed by a worker.
    let r = app.request_job(&requester, &subject, json!({"n": 1})).await;
    let (job, approval) = (s(&r.json["job"]["id"]), s(&r.json["approval"]["id"]));
    app.post(
        &format!("/api/v1/approvals/{approval}/approve"),
        &approver,
        json!({}),
    )
    .await;
    let claimed = app
        .post("/api/v1/jobs/claim", &worker, json!({"lease_secs": 60}))
        .await;
    assert_eq!(s(&claimed.json["id"]), job);
    let done = app
        .post(
            &format!("/api/v1/jobs/{job}/complete"),
            &worker,
            json!({"outcome": "succeeded"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // Rejected.
    let r = app.request_job(&requester, &subject, json!({"n": 2})).await;
    let approval = s(&r.json["approval"]["id"]);
    app.post(
        &format!("/api/v1/approvals/{approval}/reject"),
        &approver,
        json!({}),
    )
    .await;
    // Cancelled with its job.
    let r = app.request_job(&requester, &subject, json!({"n": 3})).await;
    let job = s(&r.json["job"]["id"]);
    let c = app
        .post(&format!("/api/v1/jobs/{job}/cancel"), &requester, json!({}))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    // Expired by the scheduler.
    app.request_job(&requester, &due, json!({"n": 4})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.service.expire_due_approvals().await.unwrap();

    assert_eq!(
        outbox(&app).await,
        [
            pair("approval.requested", "pending"),
            pair("approval.voted", "approved"),
            pair("approval.approved", "approved"),
            pair("job.completed", "approved"),
            pair("approval.requested", "pending"),
            pair("approval.voted", "rejected"),
            pair("approval.rejected", "rejected"),
            pair("approval.requested", "pending"),
            pair("approval.cancelled", "cancelled"),
            pair("approval.requested", "pending"),
            pair("approval.expired", "expired"),
        ]
    );
    // Each message says who asked; the completion carries the job.
    let bodies: Vec<String> = app
        .db
        .column("SELECT body FROM outbox_messages ORDER BY seq", &[])
        .await;
    let completed: Value = serde_json::from_str(&bodies[3]).unwrap();
    assert_eq!(completed["data"]["job"]["status"], "succeeded");
    // A deciding vote announces two events about one approval: one data, each its own type.
    let voted: Value = serde_json::from_str(&bodies[1]).unwrap();
    let approved: Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(voted["data"], approved["data"]);
    assert_eq!(voted["type"], "approval.voted");
    assert_eq!(approved["type"], "approval.approved");
    for b in &bodies {
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["data"]["requester"]["name"], "rita", "{b}");
    }
}

both_backends!(a_slow_endpoint_never_holds_back_another);
async fn a_slow_endpoint_never_holds_back_another(db: Db) {
    let app = app_with(db, config(1)).await;
    let (slow, slow_url) = Receiver::start().await;
    let (fast, fast_url) = Receiver::start().await;
    *slow.delay.lock().unwrap() = Duration::from_secs(6);
    create_webhook(&app, &slow_url, None).await;
    create_webhook(&app, &fast_url, None).await;
    let (requester, _, subject) = setup(&app).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = app.service.clone();
    let running = tokio::spawn(async move {
        service
            .run_scheduler(Duration::from_secs(3600), async {
                let _ = stopped.await;
            })
            .await
    });
    let wait_until = |rx: Receiver, n: usize| async move {
        let started = std::time::Instant::now();
        while rx.got().len() < n && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rx.got().len()
    };
    app.request_job(&requester, &subject, json!({"n": 1})).await;
    assert_eq!(wait_until(slow.clone(), 1).await, 1);
    // While the slow endpoint still holds its first request, the fast one gets a second
    // message of another approval.
    app.request_job(&requester, &subject, json!({"n": 2})).await;
    let started = std::time::Instant::now();
    assert_eq!(wait_until(fast.clone(), 2).await, 2);
    assert!(started.elapsed() < Duration::from_secs(5));
    stop.send(()).unwrap();
    // Shutdown lets the slow attempt finish and record it.
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the scheduler stops")
        .unwrap();
    let delivered: i64 = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'",
            &[],
        )
        .await;
    assert!(delivered >= 3, "{delivered}");
}
