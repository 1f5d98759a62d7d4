//! The live event stream, `GET /api/v1/events/stream`, through the real router (and a real
//! server for the shutdown): events in commit order with their outbox message ids, resuming
//! with `Last-Event-ID`, the gate, test sends left out; on PostgreSQL, a commit wakes the
//! stream and the scheduler's delivery loop through NOTIFY (their polls set far beyond the
//! test's patience), and a transaction that took an earlier `seq` but commits later is not
//! skipped.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use countersign_service::{Service, ServiceConfig};
use eventsource_stream::{Event, Eventsource};
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{s, Db, TestApp};

/// Longest wait for an event that must come.
const PATIENCE: Duration = Duration::from_secs(10);

/// An open stream, parsed by an SSE client library.
struct Events(BoxStream<'static, Event>);

impl Events {
    /// The next event; panics after [`PATIENCE`].
    async fn next(&mut self) -> Event {
        self.within(PATIENCE)
            .await
            .expect("an event within the patience")
    }

    /// The next event if one comes within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<Event> {
        match tokio::time::timeout(wait, self.0.next()).await {
            Ok(Some(e)) => Some(e),
            Ok(None) => panic!("the stream ended"),
            Err(_) => None,
        }
    }

    /// The next `n` events.
    async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            got.push(self.next().await);
        }
        got
    }
}

/// Open the stream as `key` (resuming after `last`): the status, and the events when 200.
async fn open(app: &TestApp, key: Option<&str>, last: Option<&str>) -> (StatusCode, Events) {
    let mut req = Request::get("/api/v1/events/stream");
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    if status == StatusCode::OK {
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "the media type"
        );
    }
    let events = resp
        .into_body()
        .into_data_stream()
        .eventsource()
        .map(|e| e.expect("a well-formed event"))
        .boxed();
    (status, Events(events))
}

/// A requester, an approver (`sam`, role `security`), a one-vote policy and a subject.
async fn setup(app: &TestApp) -> (String, String, String) {
    let (_, requester) = app.principal("rita", &["requester"]).await;
    let (_, approver) = app.principal("sam", &["security"]).await;
    let policy = app
        .policy("one", json!([{"role": "security", "count": 1}]), Some(3600))
        .await;
    let subject = app.subject("db.example.com", &policy).await;
    (requester, approver, subject)
}

/// Request a job on `subject`; its approval's id.
async fn request(app: &TestApp, requester: &str, subject: &str, n: u64) -> String {
    let r = app.request_job(requester, subject, json!({"n": n})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    s(&r.json["approval"]["id"])
}

async fn vote(app: &TestApp, key: &str, approval: &str, how: &str) {
    let r = app
        .post(
            &format!("/api/v1/approvals/{approval}/{how}"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// The outbox's broadcast messages `(id, event, body)` in `seq` order.
async fn outbox(db: &Db) -> Vec<(String, String, String)> {
    let ids: Vec<String> = db
        .column(
            "SELECT id FROM outbox_messages WHERE webhook_id IS NULL ORDER BY seq",
            &[],
        )
        .await;
    let events: Vec<String> = db
        .column(
            "SELECT event FROM outbox_messages WHERE webhook_id IS NULL ORDER BY seq",
            &[],
        )
        .await;
    let bodies: Vec<String> = db
        .column(
            "SELECT body FROM outbox_messages WHERE webhook_id IS NULL ORDER BY seq",
            &[],
        )
        .await;
    ids.into_iter()
        .zip(events)
        .zip(bodies)
        .map(|((i, e), b)| (i, e, b))
        .collect()
}

fn data(e: &Event) -> Value {
    serde_json::from_str(&e.data).unwrap()
}

both_backends!(the_stream_sends_each_event_in_order_with_its_message_id);
async fn the_stream_sends_each_event_in_order_with_its_message_id(db: Db) {
    let app = TestApp::new(db).await;
    let (requester, approver, subject) = setup(&app).await;
    // Committed before the stream opens.
    let before = request(&app, &requester, &subject, 0).await;
    let (status, mut events) = open(&app, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::OK);

    // A test send goes to its one webhook only, never to the stream.
    let r = app
        .post(
            "/api/v1/webhooks",
            &app.admin,
            json!({"url": "https://hooks.example.com/x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/webhooks/{}/test", s(&r.json["id"])),
            &app.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);

    let approval = request(&app, &requester, &subject, 1).await;
    vote(&app, &approver, &approval, "approve").await;
    // A new stream starts after every settled message: one committed just before it opened
    // can still come first while another transaction (in any database of the server) is
    // running, never later.
    let mut first = events.next().await;
    if data(&first)["data"]["id"] == before.as_str() {
        first = events.next().await;
    }
    let mut got = vec![first];
    got.extend(events.take(2).await);
    let kinds: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        ["approval.requested", "approval.voted", "approval.approved"]
    );

    // Each event is its outbox message: the id (the webhook-id), the type, the very body.
    let messages = outbox(&app.db).await;
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[0].1, "approval.requested");
    assert!(messages[0].2.contains(&before));
    for (e, (id, event, body)) in got.iter().zip(&messages[1..]) {
        assert_eq!(&e.id, id);
        assert!(e.id.starts_with("msg_"));
        assert_eq!(&e.event, event);
        assert_eq!(&e.data, body, "the data is the webhook body, byte for byte");
        let d = data(e);
        assert_eq!(d["type"], e.event.as_str());
        assert_eq!(d["data"]["id"], approval.as_str());
        assert_ne!(d["data"]["id"], before.as_str());
    }
    assert_eq!(data(&got[2])["data"]["state"], "approved");
}

both_backends!(resuming_with_last_event_id_sends_exactly_the_missed_events);
async fn resuming_with_last_event_id_sends_exactly_the_missed_events(db: Db) {
    let app = TestApp::new(db).await;
    let (requester, approver, subject) = setup(&app).await;
    let (_, mut events) = open(&app, Some(&app.admin), None).await;
    let first = request(&app, &requester, &subject, 0).await;
    let seen = events.next().await;
    assert_eq!(seen.event, "approval.requested");
    drop(events);

    // While disconnected: a decision (two events) and more requests than one read takes.
    vote(&app, &approver, &first, "approve").await;
    let mut missed = Vec::new();
    for n in 1..=105 {
        missed.push(request(&app, &requester, &subject, n).await);
    }

    let (status, mut events) = open(&app, Some(&app.admin), Some(&seen.id)).await;
    assert_eq!(status, StatusCode::OK);
    let got = events.take(107).await;
    let expected: Vec<String> = outbox(&app.db)
        .await
        .into_iter()
        .skip(1)
        .map(|(id, _, _)| id)
        .collect();
    let ids: Vec<String> = got.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, expected, "every missed event once, in order");
    assert_eq!(got[0].event, "approval.voted");
    assert_eq!(got[1].event, "approval.approved");
    let requested: Vec<String> = got[2..].iter().map(|e| s(&data(e)["data"]["id"])).collect();
    assert_eq!(requested, missed);

    // Nothing else was queued: the next event is the next change.
    vote(&app, &approver, &missed[0], "reject").await;
    let next = events.take(2).await;
    assert_eq!(next[0].event, "approval.voted");
    assert_eq!(next[1].event, "approval.rejected");
    assert_eq!(data(&next[1])["data"]["id"], missed[0].as_str());

    // A malformed or unknown Last-Event-ID is refused, naming the header.
    for bad in ["garbage", "msg_00000000000000000000000000"] {
        let (status, _) = open(&app, Some(&app.admin), Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app
        .send(
            axum::http::Method::GET,
            "/api/v1/events/stream",
            Some(&app.admin),
            None,
            &[("last-event-id", "garbage")],
        )
        .await;
    assert_eq!(r.code(), "invalid_request");
    assert!(r.text.contains("Last-Event-ID"), "{}", r.text);
}

both_backends!(the_stream_needs_a_key_and_approval_read);
async fn the_stream_needs_a_key_and_approval_read(db: Db) {
    let app = TestApp::new(db).await;
    let (_, worker) = app.principal("wendy", &["worker"]).await;
    let (_, approver) = app.principal("sam", &["approver"]).await;
    let (status, _) = open(&app, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = open(&app, Some(&worker), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let denied = app.events("auth.denied").await;
    assert_eq!(denied.len(), 2, "both refusals are audited: {denied:?}");
    let (status, _) = open(&app, Some(&approver), None).await;
    assert_eq!(status, StatusCode::OK);
}

/// A webhook endpoint on loopback that reports each body it receives on a channel.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(tx): State<tokio::sync::mpsc::UnboundedSender<Value>>, body: String| async move {
                    let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

/// Polls far beyond the test's patience: only a notification can deliver within it.
fn slow_polls() -> ServiceConfig {
    ServiceConfig {
        event_poll: Duration::from_secs(300),
        delivery_poll: Duration::from_secs(300),
        ..ServiceConfig::default()
    }
}

// PostgreSQL only: SQLite has no NOTIFY, its readers poll (this test would time out there).
postgres_only!(on_postgres_a_commit_wakes_the_stream_through_notify);
async fn on_postgres_a_commit_wakes_the_stream_through_notify(db: Db) {
    let app = TestApp::with_config(db, slow_polls(), Default::default()).await;
    let (requester, approver, subject) = setup(&app).await;
    let (_, mut events) = open(&app, Some(&app.admin), None).await;
    let approval = request(&app, &requester, &subject, 1).await;
    assert_eq!(events.next().await.event, "approval.requested");
    // The stream has read and now waits: only a wake-up can bring the vote in time.
    vote(&app, &approver, &approval, "approve").await;
    let got = events.take(2).await;
    assert_eq!(got[0].event, "approval.voted");
    assert_eq!(got[1].event, "approval.approved");
}

// PostgreSQL only, as above: the delivery loop is woken by NOTIFY.
postgres_only!(on_postgres_a_commit_wakes_the_delivery_loop);
async fn on_postgres_a_commit_wakes_the_delivery_loop(db: Db) {
    let service = Service::new(db.store(), slow_polls())
        .with_webhook_transport(countersign_http::webhook_transport().unwrap());
    let app = TestApp::over(db, service.clone()).await;
    let (url, mut received) = receiver().await;
    let r = app
        .post("/api/v1/webhooks", &app.admin, json!({"url": url}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (requester, _, subject) = setup(&app).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(async move {
        service
            .run_scheduler(Duration::from_secs(300), async {
                let _ = stopped.await;
            })
            .await
    });
    // However the first request races the loop's first pass, it is delivered; the second
    // comes after that pass, when only a wake-up (or a tick 300 s away) can deliver it.
    for n in 1..=2 {
        let approval = request(&app, &requester, &subject, n).await;
        let got = tokio::time::timeout(PATIENCE, received.recv())
            .await
            .expect("delivered within the patience")
            .unwrap();
        assert_eq!(got["type"], "approval.requested");
        assert_eq!(got["data"]["id"], approval.as_str());
    }
    let _ = stop.send(());
    scheduler.await.unwrap();
}

// PostgreSQL only: transactions there take `seq` values in one order and may commit in
// another; SQLite's writers take turns, so its `seq` order is commit order.
postgres_only!(a_message_committed_late_with_an_earlier_seq_is_not_skipped);
async fn a_message_committed_late_with_an_earlier_seq_is_not_skipped(db: Db) {
    let Db::Postgres(pool) = db.clone() else {
        unreachable!()
    };
    let app = TestApp::new(db).await;
    let (requester, _, subject) = setup(&app).await;
    let (_, mut events) = open(&app, Some(&app.admin), None).await;

    // A slow writer takes the next `seq` and holds its transaction open…
    let mut slow = pool.begin().await.unwrap();
    let late_id = "msg_01jz0000000000000000000000";
    sqlx::query(
        "INSERT INTO outbox_messages (id, event, ordering_key, body, created_at) \
         VALUES ($1, 'approval.requested', 'apr_late', \
         '{\"type\":\"approval.requested\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{}}', now())",
    )
    .bind(late_id)
    .execute(&mut *slow)
    .await
    .unwrap();
    // …while another change commits a later `seq`.
    let approval = request(&app, &requester, &subject, 1).await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM outbox_messages ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(seqs.len(), 1, "the slow message is not visible yet");

    // The committed message waits for the open transaction: sending it now would put the
    // stream's position past the slow message's `seq`.
    assert!(
        events.within(Duration::from_secs(1)).await.is_none(),
        "nothing is sent while an earlier transaction may still commit"
    );
    slow.commit().await.unwrap();
    let got = events.take(2).await;
    assert_eq!(got[0].id, late_id, "the late message first");
    assert_eq!(data(&got[1])["data"]["id"], approval.as_str());
}

both_backends!(graceful_shutdown_ends_open_streams);
async fn graceful_shutdown_ends_open_streams(db: Db) {
    let service = Service::new(db.store(), ServiceConfig::default());
    let admin = crate::support::bootstrap_admin(&service).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(countersign_http::serve(
        listener,
        service,
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/events/stream"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let mut body = resp.bytes_stream();
    let _ = stop.send(());
    let served = tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the server stops with a stream open");
    served.unwrap().unwrap();
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = body.next().await {
            chunk.expect("the body ends cleanly");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
}
