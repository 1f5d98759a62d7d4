//! `GET /api/v1/audit/export`: NDJSON in `(ts, event_id)` order, the headers, resuming with
//! `after`, every validation error, the `audit.exported` self-audit — complete, after a store
//! failure mid-stream, and after a client that hangs up mid-stream on a real server.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use countersign_domain::{Actor, ActorKind, AuditEvent, Category, KeyId, Resource};
use countersign_http::HttpConfig;
use countersign_service::{Service, ServiceConfig};
use countersign_store::{
    ExportFilter, ExportRow, KeyAuthRecord, Store, StoreError, StoreResult, Transaction,
};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use crate::support::{Db, TestApp};

const T0: OffsetDateTime = datetime!(2020-03-01 00:00:00 UTC);
const WINDOW: &str = "from=2020-03-01T00:00:00Z&to=2020-03-02T00:00:00Z";
const FILENAME: &str = "countersign-audit-2020-03-01T00-00-00Z_to_2020-03-02T00-00-00Z.ndjson";

/// `n` events from T0 on, `per_ts` to a timestamp (so the event id must break ties), the
/// categories alternating access / lifecycle, each `pad` bytes of details.
fn events(n: usize, per_ts: usize, pad: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let category = if i % 2 == 0 {
                Category::Access
            } else {
                Category::Lifecycle
            };
            let mut e = AuditEvent::new(
                category,
                "doc.read",
                Actor {
                    kind: ActorKind::Service,
                    id: "svc-1".into(),
                    name: None,
                    key_id: None,
                },
                Resource::new("doc", i),
            )
            .at(T0 + Duration::milliseconds((i / per_ts) as i64));
            if pad > 0 {
                e = e.details(json!({"pad": "x".repeat(pad)}));
            }
            e
        })
        .collect()
}

/// The stored bodies of the window's events, in export order.
async fn stored_lines(db: &Db, category: Option<&str>) -> Vec<String> {
    // Six fractional digits: SQLite compares its stored timestamps as text.
    let window = "SELECT CAST(body AS TEXT) FROM audit_events \
         WHERE ts >= '2020-03-01T00:00:00.000000Z' AND ts < '2020-03-02T00:00:00.000000Z'";
    match category {
        None => {
            db.column(&format!("{window} ORDER BY ts, event_id"), &[])
                .await
        }
        Some(c) => {
            db.column(
                &format!("{window} AND category = $1 ORDER BY ts, event_id"),
                &[c],
            )
            .await
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every line ends in a newline"
    );
    text.lines().map(str::to_owned).collect()
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Wait (bounded) for an `audit.exported` event matching `pred`.
async fn exported_event(app: &TestApp, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(e) = app.events("audit.exported").await.into_iter().find(&pred) {
            return e;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!(
        "no matching audit.exported event: {:?}",
        app.events("audit.exported").await
    );
}

both_backends!(exports_in_order_with_headers_and_audits_itself);
async fn exports_in_order_with_headers_and_audits_itself(db: Db) {
    let app = TestApp::new(db.clone()).await;
    // 2,500 events span three store chunks; the window's edges are honoured: `from` is in,
    // `to` is out.
    let mut all = events(2500, 3, 0);
    let outside = |ts| {
        AuditEvent::new(
            Category::Access,
            "doc.read",
            Actor::anonymous(),
            Resource::new("doc", "edge"),
        )
        .at(ts)
    };
    all.push(outside(T0 - Duration::microseconds(1)));
    all.push(outside(datetime!(2020-03-02 00:00:00 UTC)));
    all.reverse();
    app.seed_audit(&all).await;

    let r = app
        .send(
            axum::http::Method::GET,
            &format!("/api/v1/audit/export?{WINDOW}"),
            Some(&app.admin),
            None,
            &[("x-request-id", "export-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers["content-disposition"],
        format!("attachment; filename=\"{FILENAME}\"")
    );
    let got = lines(&r.text);
    assert_eq!(got.len(), 2500);
    // Byte for byte the stored bodies, in (ts, event_id) order.
    assert_eq!(got, stored_lines(&db, None).await);
    let parsed: Vec<AuditEvent> = got
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(parsed
        .windows(2)
        .all(|w| (w[0].ts, w[0].event_id) < (w[1].ts, w[1].event_id)));

    // The self-audit is stored by the time the body has ended.
    let exported = app.events("audit.exported").await;
    assert_eq!(exported.len(), 1);
    let e = &exported[0];
    assert_eq!(e["category"], "audit");
    assert_eq!(e["actor"]["name"], "admin");
    assert_eq!(
        e["resource"],
        json!({"type": "audit_export", "id": "export-1"})
    );
    assert_eq!(e["request_id"], "export-1");
    assert_eq!(e["result"], json!({"outcome": "ok"}));
    assert_eq!(e["authorization"]["permission"], "audit.export");
    assert_eq!(
        e["details"],
        json!({"from": "2020-03-01T00:00:00Z", "to": "2020-03-02T00:00:00Z", "category": null, "rows": 2500, "complete": true})
    );

    // An empty window is an empty body, audited with zero rows.
    let r = app
        .get(
            "/api/v1/audit/export?from=2019-01-01T00:00:00Z&to=2019-01-02T00:00:00Z",
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "");
    let e = exported_event(&app, |e| e["details"]["from"] == "2019-01-01T00:00:00Z").await;
    assert_eq!(e["details"]["rows"], 0);
    assert_eq!(e["details"]["complete"], true);
}

both_backends!(category_limit_and_resuming_after);
async fn category_limit_and_resuming_after(db: Db) {
    let app = TestApp::new(db.clone()).await;
    app.seed_audit(&events(1200, 4, 0)).await;
    let full = stored_lines(&db, None).await;
    let access = stored_lines(&db, Some("access")).await;

    let r = app
        .get(
            &format!("/api/v1/audit/export?{WINDOW}&category=access"),
            &app.admin,
        )
        .await;
    assert_eq!(lines(&r.text), access);
    assert_eq!(access.len(), 600);

    // limit, then resume strictly after the last line received: together, the whole export
    // once, even where the cut falls inside a group of equal timestamps.
    for cut in [1, 3, 1001] {
        let r = app
            .get(
                &format!("/api/v1/audit/export?{WINDOW}&limit={cut}"),
                &app.admin,
            )
            .await;
        let first = lines(&r.text);
        assert_eq!(first.len(), cut);
        let last = ids(&first).pop().unwrap();
        let r = app
            .get(
                &format!("/api/v1/audit/export?{WINDOW}&after={last}"),
                &app.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let rest = lines(&r.text);
        assert_eq!([first, rest].concat(), full, "cut at {cut}");
    }
    // `after` combines with `category` and `limit`.
    let after = ids(&access[..10])[9].clone();
    let r = app
        .get(
            &format!("/api/v1/audit/export?{WINDOW}&category=access&after={after}&limit=5"),
            &app.admin,
        )
        .await;
    assert_eq!(lines(&r.text), access[10..15]);
    let e = exported_event(&app, |e| e["details"]["after"] == after.as_str()).await;
    assert_eq!(e["details"]["rows"], 5);
    assert_eq!(e["details"]["limit"], 5);
    assert_eq!(e["details"]["category"], "access");
    assert_eq!(e["details"]["complete"], true);
}

both_backends!(every_validation_error_is_400_and_exports_nothing);
async fn every_validation_error_is_400_and_exports_nothing(db: Db) {
    let config = ServiceConfig {
        export_max_window: StdDuration::from_secs(7 * 86_400),
        ..ServiceConfig::default()
    };
    let app = TestApp::with_config(db, config, HttpConfig::default()).await;
    app.seed_audit(&events(10, 1, 0)).await;
    let unknown = countersign_domain::EventId::new();
    let week = "from=2020-03-01T00:00:00Z&to=2020-03-08T00:00:00Z";
    for (query, names) in [
        ("", "from: required"),
        ("to=2020-03-02T00:00:00Z", "from: required"),
        ("from=2020-03-01T00:00:00Z", "to: required"),
        ("from=yesterday&to=2020-03-02T00:00:00Z", "from:"),
        ("from=2020-03-01&to=2020-03-02T00:00:00Z", "from:"),
        ("from=2020-03-01T00:00:00Z&to=tomorrow", "to:"),
        (
            "from=2020-03-01T00:00:00Z&to=2020-03-01T00:00:00Z",
            "to: must be after from",
        ),
        (
            "from=2020-03-02T00:00:00Z&to=2020-03-01T00:00:00Z",
            "to: must be after from",
        ),
        (
            "from=2020-03-01T00:00:00Z&to=2020-03-08T00:00:01Z",
            "at most 7 days",
        ),
        (&format!("{week}&category=misc"), "category:"),
        (&format!("{week}&category="), "category:"),
        (&format!("{week}&limit=0"), "limit:"),
        (&format!("{week}&limit=10000001"), "limit:"),
        (&format!("{week}&limit=-5"), "limit:"),
        (&format!("{week}&limit=many"), "limit:"),
        (
            &format!("{week}&after=apr_01hx0000000000000000000000"),
            "after:",
        ),
        (&format!("{week}&after=evt_nope"), "after:"),
        (&format!("{week}&after={unknown}"), "after: no audit event"),
        (&format!("{week}&catgory=auth"), "catgory"),
    ] {
        let r = app
            .get(&format!("/api/v1/audit/export?{query}"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.code(), "invalid_request", "{query}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
    // Exactly the maximum window is allowed.
    let r = app
        .get(
            &format!("/api/v1/audit/export?{week}&limit=10000000"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(lines(&r.text).len(), 10);
    // Only that one export was audited.
    let exported = exported_event(&app, |_| true).await;
    assert_eq!(exported["details"]["rows"], 10);
    assert_eq!(app.events("audit.exported").await.len(), 1);

    // The permission: the auditor role has it, the approver role does not.
    let (_, auditor) = app.principal("aude", &["auditor"]).await;
    let (_, approver) = app.principal("appr", &["approver"]).await;
    let r = app
        .get(&format!("/api/v1/audit/export?{week}"), &approver)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get(&format!("/api/v1/audit/export?{week}"), &auditor)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The test database's store, except that an export fails after its first chunk.
struct FailingExport(Arc<dyn Store>);

#[async_trait]
impl Store for FailingExport {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.0.begin().await
    }

    async fn key_auth_record(&self, id: KeyId) -> StoreResult<Option<KeyAuthRecord>> {
        self.0.key_auth_record(id).await
    }

    async fn readiness(&self) -> StoreResult<()> {
        self.0.readiness().await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        self.0
            .export_audit(filter, chunk_size)
            .take(1)
            .chain(stream::once(async {
                Err(StoreError::Unavailable("connection reset".into()))
            }))
            .boxed()
    }
    async fn stream_messages(
        &self,
        after: countersign_store::StreamPosition,
        limit: u32,
    ) -> StoreResult<countersign_store::StreamBatch> {
        self.0.stream_messages(after, limit).await
    }

    async fn stream_position(
        &self,
        id: countersign_domain::MessageId,
    ) -> StoreResult<Option<countersign_store::StreamPosition>> {
        self.0.stream_position(id).await
    }

    async fn stream_head(&self) -> StoreResult<countersign_store::StreamPosition> {
        self.0.stream_head().await
    }
}

both_backends!(a_store_failure_mid_stream_aborts_the_body_and_is_audited);
async fn a_store_failure_mid_stream_aborts_the_body_and_is_audited(db: Db) {
    let service = Service::new(
        Arc::new(FailingExport(db.store())),
        ServiceConfig::default(),
    );
    let app = TestApp::over(db, service).await;
    let (router, admin) = (app.router.clone(), app.admin.clone());
    app.seed_audit(&events(2500, 1, 0)).await;

    let req = Request::get(format!("/api/v1/audit/export?{WINDOW}"))
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    let mut received = 0;
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received += bytes.iter().filter(|b| **b == b'\n').count(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body ends with an error, not a clean end");
    assert_eq!(received, 1000);
    drop(body);
    let e = exported_event(&app, |_| true).await;
    assert_eq!(e["details"]["complete"], false);
    assert_eq!(e["details"]["rows"], 1000);
    assert_eq!(e["result"]["outcome"], "error");
    assert_eq!(e["result"]["kind"], "unavailable");
}

/// Send a raw HTTP/1.1 GET and return the socket after reading the answer's head and at
/// least `body_bytes` of its body.
async fn get_partially(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
    body_bytes: usize,
) -> (tokio::net::TcpStream, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive window keeps the server from pushing the whole export into socket
    // buffers before we hang up.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nhost: countersign\r\nauthorization: Bearer {key}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the server closed early: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.len() >= end + 4 + body_bytes {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                return (stream, head);
            }
        }
    }
}

both_backends!(a_client_hanging_up_mid_export_is_audited_as_partial);
async fn a_client_hanging_up_mid_export_is_audited_as_partial(db: Db) {
    let app = TestApp::new(db).await;
    // ~15 MB of export: far more than socket buffers and hyper's write buffer hold.
    app.seed_audit(&events(20_000, 1, 600)).await;
    let (addr, server) = app.spawn_server().await;

    let (stream, head) = get_partially(
        addr,
        &format!("/api/v1/audit/export?{WINDOW}"),
        &app.admin,
        8 * 1024,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-ndjson"),
        "{head}"
    );
    drop(stream);

    let e = exported_event(&app, |e| e["details"]["complete"] == false).await;
    let rows = e["details"]["rows"].as_u64().unwrap();
    assert!(
        rows > 0 && rows < 20_000,
        "rows handed over before the hang-up: {rows}"
    );
    assert_eq!(e["result"]["kind"], "client_disconnected");
    assert_eq!(app.events("audit.exported").await.len(), 1);

    // The server is still there.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: countersign\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.abort();
}
