//! The `audit` suite: ingestion and export throughput, each beside raw PostgreSQL doing the
//! same work in the same run.
//!
//! - **Ingest**: 8 concurrent HTTP clients (reqwest, keep-alive) each POST `BENCH_INGEST_BATCHES`
//!   (default 25) NDJSON batches of 1,000 events to the real router served in-process on
//!   127.0.0.1 → events/s and per-batch latency. Beside it, 8 concurrent sqlx connections run
//!   the very multi-row `INSERT … ON CONFLICT DO NOTHING` the store runs (same columns, same
//!   row shape, 1,000 rows each) into a twin table with the same indexes. Request bodies and
//!   row values are prepared before the clock starts, for both.
//! - **Export**: `BENCH_EXPORT_ROWS` (default 1,000,000) events in a window are streamed by
//!   `GET /api/v1/audit/export`; the client counts lines and bytes as they arrive → rows/s.
//!   This phase runs in a fresh child process (this binary again, told so by
//!   `BENCH_AUDIT_EXPORT_URL`) serving the router in-process, so its memory figures are not
//!   blurred by the heap the ingest phase left behind: RSS once the server is up, peak RSS
//!   during the export (VmHWM, reset through `/proc/self/clear_refs` just before, with a
//!   10 ms VmRSS sampler as a fallback), and the growth — server and client together. Beside
//!   it, `COPY (SELECT body … ORDER BY ts, event_id) TO STDOUT` on one connection → rows/s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use countersign_bench::{fresh_database, ms, report, Latency};
use countersign_domain::{
    Actor, ActorKind, AuditEvent, AuditResult, Authorization, Category, Decision, PrincipalKind,
    Resource,
};
use countersign_http::HttpConfig;
use countersign_postgres::{PgOptions, PgStore};
use countersign_service::{Service, ServiceConfig};
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use sqlx::{Connection, Executor, PgConnection, Postgres, QueryBuilder};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const SUITE: &str = "audit";
const CLIENTS: usize = 8;
const BATCH: usize = 1000;
/// The ingest phase's events live here (Countersign and raw alike) …
const INGEST_T0: OffsetDateTime = datetime!(2022-01-01 00:00:00 UTC);
/// … and the export's here, one millisecond apart.
const EXPORT_T0: OffsetDateTime = datetime!(2021-01-01 00:00:00 UTC);

type HttpClient = reqwest::Client;

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// An event shaped like what an embedding service sends: its own actor, resource and
/// authorization, a request id and a few details.
fn event(n: usize, ts: OffsetDateTime) -> AuditEvent {
    AuditEvent::new(
        if n % 5 == 0 {
            Category::Config
        } else {
            Category::Access
        },
        "document.viewed",
        Actor {
            kind: ActorKind::User,
            id: format!("u-{}", n % 977),
            name: Some(format!("user{}", n % 977)),
            key_id: Some("sso-session".into()),
        },
        Resource::new("document", format!("doc-{n}")),
    )
    .at(ts)
    .authorization(Authorization {
        decision: if n % 17 == 0 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        permission: Some("documents:view".into()),
        policy: "opa".into(),
        reason: None,
    })
    .result(AuditResult::Ok)
    .request_id(Some(&format!("req-{n:08}")))
    .details(serde_json::json!({"client": "bench", "bytes": n % 65_536, "tenant": "acme"}))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("a UTC time formats")
}

/// `(VmRSS, VmHWM)` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn per_sec(n: u64, d: StdDuration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Start the real router on 127.0.0.1:0 in this process; answers its base URL.
async fn start_server(service: Service) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let served = countersign_http::serve(
            listener,
            service,
            HttpConfig::default(),
            std::future::pending(),
        )
        .await;
        if let Err(e) = served {
            eprintln!("the server stopped: {e}");
        }
    });
    Ok(base)
}

async fn connect(url: &str) -> anyhow::Result<PgStore> {
    let options = PgOptions {
        max_connections: 24,
        ..PgOptions::default()
    };
    Ok(PgStore::connect_with(url, options).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let batches = env_usize("BENCH_INGEST_BATCHES", 25)?;
    let export_rows = env_usize("BENCH_EXPORT_ROWS", 1_000_000)?;
    ensure!(batches > 0 && export_rows > 0, "sizes must be positive");
    let client: HttpClient = reqwest::Client::new();

    if let Ok(url) = std::env::var("BENCH_AUDIT_EXPORT_URL") {
        // The export phase's child process.
        let key = std::env::var("BENCH_AUDIT_KEY").context("BENCH_AUDIT_KEY")?;
        let service = Service::new(Arc::new(connect(&url).await?), ServiceConfig::default());
        let base = start_server(service).await?;
        return export(&client, &base, &key, &url, export_rows).await;
    }

    let url = fresh_database("countersign_bench_audit").await?;
    let store = connect(&url).await?;
    store.migrate().await?;
    let service = Service::new(Arc::new(store.clone()), ServiceConfig::default());
    let key = service
        .bootstrap_key(
            "bench",
            PrincipalKind::Service,
            Some(&"admin".parse()?),
            None,
        )
        .await?
        .minted
        .token
        .expose();
    let base = start_server(service).await?;

    report(
        SUITE,
        "setup",
        format!(
            "{CLIENTS} clients, {batches} batches of {BATCH} each; export of {export_rows} rows"
        ),
    );
    ingest(&client, &base, &key, &url, batches).await?;

    let t = Instant::now();
    fill(&url, export_rows).await?;
    report(
        SUITE,
        &format!("export setup: COPY {export_rows} events in"),
        format!("{:.2} s", t.elapsed().as_secs_f64()),
    );
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .env("BENCH_AUDIT_EXPORT_URL", &url)
        .env("BENCH_AUDIT_KEY", &key)
        .env("BENCH_EXPORT_ROWS", export_rows.to_string())
        .status()
        .await
        .context("running the export phase")?;
    ensure!(status.success(), "the export phase failed ({status})");
    Ok(())
}

/// Countersign's ingest over HTTP, then the same inserts through raw sqlx.
async fn ingest(
    client: &HttpClient,
    base: &str,
    key: &str,
    url: &str,
    batches: usize,
) -> anyhow::Result<()> {
    let total = (CLIENTS * batches * BATCH) as u64;
    let events_for = |client_no: usize, offset: usize| -> Vec<Vec<AuditEvent>> {
        (0..batches)
            .map(|b| {
                (0..BATCH)
                    .map(|i| {
                        let n = offset + (client_no * batches + b) * BATCH + i;
                        event(n, INGEST_T0 + Duration::milliseconds(n as i64))
                    })
                    .collect()
            })
            .collect()
    };

    // Countersign: NDJSON bodies prepared up front.
    let bodies: Vec<Vec<Bytes>> = (0..CLIENTS)
        .map(|c| {
            events_for(c, 0)
                .into_iter()
                .map(|batch| {
                    Bytes::from(
                        batch
                            .iter()
                            .map(|e| e.to_json_line() + "\n")
                            .collect::<String>(),
                    )
                })
                .collect()
        })
        .collect();
    let endpoint = format!("{base}/api/v1/audit/events");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_bodies in bodies {
        let client = client.clone();
        let endpoint = endpoint.clone();
        let auth = format!("Bearer {key}");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(client_bodies.len());
            for body in client_bodies {
                let req = client
                    .post(&endpoint)
                    .header(CONTENT_TYPE, "application/x-ndjson")
                    .header(AUTHORIZATION, &auth)
                    .body(body);
                let t = Instant::now();
                let resp = req.send().await?;
                let status = resp.status();
                let answer = resp.bytes().await?;
                latencies.push(t.elapsed());
                if status != StatusCode::OK {
                    bail!(
                        "ingest answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    );
                }
                let answer: serde_json::Value = serde_json::from_slice(&answer)?;
                ensure!(answer["accepted"] == BATCH, "unexpected answer {answer}");
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let cs_time = started.elapsed();
    let cs_rate = per_sec(total, cs_time);
    let lat = Latency::of(&mut latencies);

    // Raw: the store's INSERT statement, into a twin table with the same indexes.
    let mut admin = PgConnection::connect(url).await?;
    admin
        .execute("CREATE TABLE bench_raw_events (LIKE audit_events INCLUDING ALL)")
        .await?;
    let rows: Vec<Vec<Vec<(AuditEvent, String)>>> = (0..CLIENTS)
        .map(|c| {
            events_for(c, total as usize)
                .into_iter()
                .map(|batch| {
                    batch
                        .into_iter()
                        .map(|e| {
                            let body = e.to_json_line();
                            (e, body)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        conns.push(PgConnection::connect(url).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut conn, client_rows) in conns.into_iter().zip(rows) {
        tasks.push(tokio::spawn(async move {
            for batch in client_rows {
                let mut qb = QueryBuilder::<Postgres>::new(
                    "INSERT INTO bench_raw_events (event_id, ts, category, action, actor_kind, actor_id, \
                     actor_name, resource_type, resource_id, decision, outcome, request_id, \
                     ingested_by, body) ",
                );
                qb.push_values(batch, |mut row, (e, body)| {
                    row.push_bind(e.event_id.to_string())
                        .push_bind(e.ts)
                        .push_bind(e.category.as_str())
                        .push_bind(e.action)
                        .push_bind("user")
                        .push_bind(e.actor.id)
                        .push_bind(e.actor.name)
                        .push_bind(e.resource.kind)
                        .push_bind(e.resource.id)
                        .push_bind(e.authorization.decision.as_str())
                        .push_bind(e.result.as_str())
                        .push_bind(e.request_id)
                        .push_bind(Some("prn_bench"))
                        .push_bind(body)
                        .push_unseparated("::json");
                });
                qb.push(" ON CONFLICT (event_id) DO NOTHING");
                let done = qb.build().persistent(false).execute(&mut conn).await?;
                ensure!(done.rows_affected() == BATCH as u64, "raw insert stored {}", done.rows_affected());
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let raw_time = started.elapsed();
    let raw_rate = per_sec(total, raw_time);

    report(
        SUITE,
        &format!("ingest {total} events, Countersign HTTP (8 clients)"),
        format!("{cs_rate:.0} events/s ({:.2} s)", cs_time.as_secs_f64()),
    );
    report(
        SUITE,
        "ingest batch latency, Countersign",
        format!(
            "p50 {} | p99 {} | max {}",
            ms(lat.p50),
            ms(lat.p99),
            ms(lat.max)
        ),
    );
    report(
        SUITE,
        &format!("ingest {total} events, raw INSERT (8 connections)"),
        format!("{raw_rate:.0} events/s ({:.2} s)", raw_time.as_secs_f64()),
    );
    report(
        SUITE,
        "ingest ratio Countersign / raw",
        format!("{:.2}", cs_rate / raw_rate),
    );
    Ok(())
}

/// CSV-quote one field (`None` is an unquoted empty field: NULL).
fn csv(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

/// Load `rows` export events one millisecond apart with `COPY … FROM STDIN`, 10,000 at a
/// time (nothing large is held in memory).
async fn fill(url: &str, rows: usize) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY audit_events (event_id, ts, category, action, actor_kind, actor_id, actor_name, \
             resource_type, resource_id, decision, outcome, request_id, ingested_by, body) \
             FROM STDIN WITH (FORMAT csv)",
        )
        .await?;
    let mut n = 0;
    while n < rows {
        let mut chunk = String::new();
        for i in n..(n + 10_000).min(rows) {
            let e = event(i, EXPORT_T0 + Duration::milliseconds(i as i64));
            let fields = [
                Some(e.event_id.to_string()),
                Some(rfc3339(e.ts)),
                Some(e.category.as_str().to_owned()),
                Some(e.action.clone()),
                Some("user".to_owned()),
                Some(e.actor.id.clone()),
                e.actor.name.clone(),
                Some(e.resource.kind.clone()),
                Some(e.resource.id.clone()),
                Some(e.authorization.decision.as_str().to_owned()),
                Some(e.result.as_str().to_owned()),
                e.request_id.clone(),
                Some("prn_bench".to_owned()),
                Some(e.to_json_line()),
            ];
            for (k, f) in fields.iter().enumerate() {
                if k > 0 {
                    chunk.push(',');
                }
                csv(&mut chunk, f.as_deref());
            }
            chunk.push('\n');
        }
        copy.send(chunk.into_bytes()).await?;
        n = (n + 10_000).min(rows);
    }
    let stored = copy.finish().await?;
    ensure!(stored == rows as u64, "COPY stored {stored} rows");
    conn.execute("VACUUM ANALYZE audit_events").await?;
    Ok(())
}

/// Countersign's streaming export over HTTP with the process's memory, then raw COPY.
async fn export(
    client: &HttpClient,
    base: &str,
    key: &str,
    url: &str,
    rows: usize,
) -> anyhow::Result<()> {
    let from = EXPORT_T0;
    let to = EXPORT_T0 + Duration::milliseconds(rows as i64);

    // Countersign.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (rss_before, _) = memory();
    let sampled_peak = Arc::new(AtomicU64::new(rss_before));
    let sampling = Arc::new(AtomicU64::new(1));
    let sampler = {
        let peak = sampled_peak.clone();
        let on = sampling.clone();
        tokio::spawn(async move {
            while on.load(Ordering::Relaxed) == 1 {
                peak.fetch_max(memory().0, Ordering::Relaxed);
                tokio::time::sleep(StdDuration::from_millis(10)).await;
            }
        })
    };
    let uri = format!(
        "{base}/api/v1/audit/export?from={}&to={}",
        rfc3339(from),
        rfc3339(to)
    );
    let started = Instant::now();
    let req = client
        .get(uri)
        .header(AUTHORIZATION, format!("Bearer {key}"));
    let resp = req.send().await?;
    ensure!(
        resp.status() == StatusCode::OK,
        "export answered {}",
        resp.status()
    );
    let mut resp = resp;
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(data) = resp.chunk().await? {
        bytes += data.len() as u64;
        lines += data.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let cs_time = started.elapsed();
    sampling.store(0, Ordering::Relaxed);
    sampler.await?;
    let (rss_after, hwm) = memory();
    ensure!(
        lines == rows as u64,
        "the export sent {lines} lines, expected {rows}"
    );
    let peak = if reset {
        hwm.max(sampled_peak.load(Ordering::Relaxed))
    } else {
        sampled_peak.load(Ordering::Relaxed)
    };
    let cs_rate = per_sec(lines, cs_time);

    // Raw COPY of the same rows in the same order.
    let mut conn = PgConnection::connect(url).await?;
    let statement = format!(
        "COPY (SELECT body FROM audit_events WHERE ts >= '{}' AND ts < '{}' ORDER BY ts, event_id) TO STDOUT",
        rfc3339(from),
        rfc3339(to)
    );
    let started = Instant::now();
    let mut out = conn.copy_out_raw(&statement).await?;
    let (mut raw_lines, mut raw_bytes) = (0u64, 0u64);
    while let Some(chunk) = out.next().await {
        let chunk = chunk?;
        raw_bytes += chunk.len() as u64;
        raw_lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let raw_time = started.elapsed();
    drop(out);
    ensure!(
        raw_lines == rows as u64,
        "COPY sent {raw_lines} lines, expected {rows}"
    );
    let raw_rate = per_sec(raw_lines, raw_time);

    report(
        SUITE,
        &format!("export {lines} rows, Countersign HTTP NDJSON"),
        format!(
            "{cs_rate:.0} rows/s ({:.2} s, {})",
            cs_time.as_secs_f64(),
            mib(bytes / 1024)
        ),
    );
    report(
        SUITE,
        "export memory, fresh process (RSS before → peak, growth)",
        format!(
            "{} → {} (+{}){}; after {}",
            mib(rss_before),
            mib(peak),
            mib(peak.saturating_sub(rss_before)),
            if reset {
                ""
            } else {
                " [sampled: VmHWM reset unavailable]"
            },
            mib(rss_after)
        ),
    );
    report(
        SUITE,
        &format!("export {raw_lines} rows, raw COPY … TO STDOUT"),
        format!(
            "{raw_rate:.0} rows/s ({:.2} s, {})",
            raw_time.as_secs_f64(),
            mib(raw_bytes / 1024)
        ),
    );
    report(
        SUITE,
        "export ratio Countersign / raw",
        format!("{:.2}", cs_rate / raw_rate),
    );
    Ok(())
}
