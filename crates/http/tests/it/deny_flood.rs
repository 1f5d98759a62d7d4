//! Flood control of anonymous refusals: a burst of bad requests from one address writes far
//! fewer audit rows than requests, the rows and the summary's `details.count` add up to
//! exactly the requests refused, and past the configured rate the answer is 429
//! `rate_limited` with `Retry-After` and a JSON error body.
//!
//! The router is driven without `ConnectInfo`, so every request counts as one unknown address.

use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;

use crate::support::{Db, TestApp};

const AUDIT: u32 = 5;
const LIMIT: u32 = 15;
const WINDOW: Duration = Duration::from_secs(3);

both_backends!(anonymous_refusals_are_summarised_and_rate_limited);
async fn anonymous_refusals_are_summarised_and_rate_limited(db: Db) {
    let http = HttpConfig {
        anon_deny_audit_per_min: AUDIT,
        anon_rate_limit_per_min: LIMIT,
        anon_deny_window: WINDOW,
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(db, ServiceConfig::default(), http).await;
    let before = app.events("auth.denied").await.len();
    assert_eq!(before, 0);

    let n = 40;
    let (mut unauthorized, mut limited) = (0u64, 0u64);
    for i in 0..n {
        let key = format!("cs_key_{i:026}_nope");
        let r = app
            .send(Method::GET, "/api/v1/jobs", Some(&key), None, &[])
            .await;
        match r.status {
            StatusCode::UNAUTHORIZED => {
                assert_eq!(r.code(), "unauthenticated");
                unauthorized += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.code(), "rate_limited", "{}", r.text);
                let retry: u64 = r.headers[header::RETRY_AFTER]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=WINDOW.as_secs()).contains(&retry), "{retry}");
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(unauthorized + limited, n);
    assert!(limited > 0, "429 past {LIMIT} refusals");

    // Let the window roll; the next refusal writes the summary of the last one.
    tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
    let r = app.send(Method::GET, "/api/v1/jobs", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let denied = app.events("auth.denied").await;
    let (summaries, single): (Vec<_>, Vec<_>) =
        denied.iter().partition(|e| e["details"]["summary"] == true);
    assert!(!summaries.is_empty());
    let counted: u64 = summaries
        .iter()
        .map(|e| e["details"]["count"].as_u64().unwrap())
        .sum();
    let summarised_limits: u64 = summaries
        .iter()
        .map(|e| e["details"]["rate_limited"].as_u64().unwrap())
        .sum();
    assert_eq!(
        single.len() as u64 + counted,
        n + 1,
        "every refusal is accounted for exactly once"
    );
    assert_eq!(summarised_limits, limited);
    assert!(
        (denied.len() as u64) * 2 < n,
        "{} rows for {} refusals",
        denied.len(),
        n + 1
    );
    for e in &summaries {
        assert_eq!(e["action"], "auth.denied");
        assert_eq!(e["actor"]["id"], "anonymous", "{e}");
        assert_eq!(
            e["resource"],
            serde_json::json!({"type": "client", "id": "unknown"})
        );
        assert_eq!(e["result"]["kind"], "unauthenticated", "{e}");
    }
}

both_backends!(the_server_counts_per_peer_address_and_flushes_on_its_own);
/// Through the real server (`countersign_http::serve`): refusals are counted per peer address
/// from `ConnectInfo`, and a rolled window's summary is written even when no further refusal
/// arrives.
async fn the_server_counts_per_peer_address_and_flushes_on_its_own(db: Db) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let http = HttpConfig {
        anon_deny_audit_per_min: 2,
        anon_rate_limit_per_min: 1000,
        anon_deny_window: Duration::from_secs(1),
        ..HttpConfig::default()
    };
    let app = TestApp::new(db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(countersign_http::serve(
        listener,
        app.service.clone(),
        http,
        async move {
            let _ = stopped.await;
        },
    ));

    let n = 6;
    for _ in 0..n {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream
            .write_all(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        assert!(
            raw.starts_with(b"HTTP/1.1 401"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }

    // No further request: the server's own flush writes the summary once the window rolls,
    // and then every refusal is accounted for exactly once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let denied = app.events("auth.denied").await;
        let (summaries, single): (Vec<_>, Vec<_>) =
            denied.iter().partition(|e| e["details"]["summary"] == true);
        let counted: u64 = summaries
            .iter()
            .map(|e| e["details"]["count"].as_u64().unwrap())
            .sum();
        if !summaries.is_empty() && single.len() as u64 + counted == n {
            for e in &summaries {
                assert_eq!(
                    e["resource"],
                    serde_json::json!({"type": "client", "id": "127.0.0.1"}),
                    "{e}"
                );
            }
            break;
        }
        assert!(
            single.len() as u64 + counted < n,
            "over-counted: {denied:?}"
        );
        assert!(tokio::time::Instant::now() < deadline, "no summary written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
