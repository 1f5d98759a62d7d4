//! The HTTP sink against a real local server on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{events, numbers};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use countersign_audit::{
    AuditSink, HttpSink, HttpSinkConfig, MemorySink, Recorder, RecorderConfig, RetryPolicy,
    SinkError,
};
use countersign_domain::AuditEvent;

const KEY: &str = "cs_key_01hx0000000000000000000000_s3cr3t";

#[derive(Debug, Clone)]
struct Captured {
    content_type: Option<String>,
    authorization: Option<String>,
    body: String,
}

/// Answers each request with the next scripted status (the last one repeats).
#[derive(Clone)]
struct Server {
    script: Arc<Vec<u16>>,
    seen: Arc<Mutex<Vec<Captured>>>,
}

async fn ingest(
    State(server): State<Server>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, [(header::HeaderName, &'static str); 2], String) {
    let get = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let n = {
        let mut seen = server.seen.lock().unwrap();
        seen.push(Captured {
            content_type: get(header::CONTENT_TYPE),
            authorization: get(header::AUTHORIZATION),
            body: body.clone(),
        });
        seen.len() - 1
    };
    let status = server.script[n.min(server.script.len() - 1)];
    let status = StatusCode::from_u16(status).unwrap();
    let answer = if status.is_success() {
        format!(
            r#"{{"accepted": {}, "duplicates": 0}}"#,
            body.lines().count()
        )
    } else {
        r#"{"error": {"code": "invalid_request", "message": "line 1: bad event", "request_id": "r"}}"#
            .to_owned()
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "0"),
        ],
        answer,
    )
}

/// Start a server with `script`; returns its base URL and what it saw.
async fn serve(script: Vec<u16>) -> (String, Arc<Mutex<Vec<Captured>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Server {
        script: Arc::new(script),
        seen: seen.clone(),
    };
    let app = Router::new()
        .route("/api/v1/audit/events", post(ingest))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), seen)
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts, Duration::from_millis(1), Duration::from_millis(5))
}

fn sink(base: &str, attempts: u32) -> HttpSink {
    HttpSink::from_config(HttpSinkConfig::new(base, KEY).retry(fast_retry(attempts))).unwrap()
}

fn parse_body(body: &str) -> Vec<AuditEvent> {
    assert!(body.ends_with('\n'), "NDJSON ends with a newline");
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn retries_503_then_succeeds_with_an_ndjson_body() {
    let (base, seen) = serve(vec![503, 503, 200]).await;
    let sink = sink(&base, 5);
    assert_eq!(sink.name(), "http");
    let batch = events(0..3);
    sink.write(&batch).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two 503s, then the accepted retry");
    for request in &seen {
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-ndjson")
        );
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(parse_body(&request.body), batch);
        let lines: Vec<&str> = request.body.lines().collect();
        assert_eq!(lines[0], batch[0].to_json_line());
    }
}

#[tokio::test]
async fn a_400_is_final_and_not_retried() {
    let (base, seen) = serve(vec![400]).await;
    let sink = sink(&base, 5);
    let err = sink.write(&events(0..2)).await.unwrap_err();
    match &err {
        SinkError::Rejected { status, message } => {
            assert_eq!(*status, Some(400));
            assert!(message.contains("line 1: bad event"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("s3cr3t"));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_429_is_retried() {
    let (base, seen) = serve(vec![429, 201]).await;
    sink(&base, 3).write(&events(0..1)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let (base, seen) = serve(vec![500]).await;
    let err = sink(&base, 3).write(&events(0..1)).await.unwrap_err();
    assert!(
        matches!(&err, SinkError::RetriesExhausted { attempts: 3, last } if matches!(**last, SinkError::Unavailable(_))),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = sink(&format!("http://{addr}"), 2)
        .write(&events(0..1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SinkError::RetriesExhausted { attempts: 2, last } if matches!(**last, SinkError::Unavailable(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn large_batches_are_split_in_order() {
    let (base, seen) = serve(vec![200]).await;
    let batch = events(0..10);
    let one_line = batch[0].to_json_line().len() + 1;
    let sink = HttpSink::from_config(
        HttpSinkConfig::new(&base, KEY)
            .retry(fast_retry(1))
            .max_body_bytes(one_line * 3 + 5),
    )
    .unwrap();
    sink.write(&batch).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    let all: Vec<AuditEvent> = seen.iter().flat_map(|r| parse_body(&r.body)).collect();
    assert_eq!(all, batch);
    // Nothing is sent for an empty batch.
    sink.write(&[]).await.unwrap();
}

#[tokio::test]
async fn a_recorder_over_http_reports_its_loss_to_the_server() {
    // Down for the first two requests (the recorder does not retry here), then up.
    let (base, seen) = serve(vec![503, 503, 200]).await;
    let sink = HttpSink::from_config(
        HttpSinkConfig::new(&base, KEY)
            .retry(fast_retry(1))
            .named("ingest"),
    )
    .unwrap();
    let config = RecorderConfig::builder()
        .batch_size(100)
        .flush_interval(Duration::from_secs(3600))
        .retry(RetryPolicy::none())
        .service("embedded")
        .build();
    let recorder = Recorder::new(config, sink);
    for e in events(0..2) {
        recorder.record(e).await.unwrap();
    }
    assert!(recorder.flush().await.is_err());
    recorder.record(crate::support::event(2)).await.unwrap();
    assert!(recorder.flush().await.is_err());
    recorder.record(crate::support::event(3)).await.unwrap();
    recorder.shutdown().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let delivered = parse_body(&seen[2].body);
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0].action, "audit.loss");
    assert_eq!(delivered[0].details.as_ref().unwrap()["dropped"], 3);
    assert_eq!(delivered[0].resource.id, "ingest");
    assert_eq!(delivered[0].actor.id, "embedded");
    assert_eq!(numbers(&delivered), vec![3]);
}

#[tokio::test]
async fn the_key_never_appears_in_debug_output() {
    let sink = sink("http://127.0.0.1:9", 1);
    assert!(!format!("{sink:?}").contains("s3cr3t"));
    // A memory sink compiles alongside, for the fan-out use case.
    let _ = countersign_audit::FanoutSink::default()
        .with(sink)
        .with(MemorySink::new());
}
