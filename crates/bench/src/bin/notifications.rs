//! The `notifications` suite, on PostgreSQL: how soon an approver is told.
//!
//! 1. **Latency at a steady rate.** Approval requests are made through the service at a steady
//!    `BENCH_RATE` per second (default 100) for `BENCH_SECONDS` (default 30), while the real
//!    scheduler loop (`Service::run_scheduler`, webhook client included) delivers to a loopback
//!    receiver and a client follows the live event stream (`GET /api/v1/events/stream`, the
//!    API served in-process on a loopback port). For each request the suite records when the
//!    use case returned (just after its COMMIT) and when the webhook POST and the stream event
//!    for it arrived; it reports p50/p99 of both delays. The delivery loop's poll stays at its
//!    default (1 s): what beats it is the NOTIFY wake-up.
//! 2. **Outbox throughput.** With the scheduler stopped, `BENCH_BACKLOG` requests (default
//!    5,000) are committed; then the scheduler starts and the suite times until every message
//!    has been fanned out to `BENCH_WEBHOOKS` webhooks (default 2) and every delivery has
//!    reached the receiver.
//!
//! Each phase checks that every message was delivered exactly once per webhook before it
//! reports a figure. There is no raw baseline: the figure is a delay, not a cost per
//! statement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use countersign_api::CreateWebhookBody;
use countersign_bench::{fresh_database, ms, report, report_machine_context, Latency};
use countersign_domain::{ApprovalRule, PrincipalKind, RoleId, SubjectId};
use countersign_http::HttpConfig;
use countersign_postgres::{PgOptions, PgStore};
use countersign_service::jobs::JobRequest;
use countersign_service::policies::PolicyInput;
use countersign_service::subjects::SubjectInput;
use countersign_service::{Caller, Service, ServiceConfig};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const SUITE: &str = "notify";

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name} must be a number")),
        Err(_) => Ok(default),
    }
}

/// When each approval's notifications arrived, by approval id.
#[derive(Debug, Default)]
struct Arrivals {
    /// Webhook POSTs received per approval (one per webhook), the first one's time.
    webhook: HashMap<String, (Instant, usize)>,
    stream: HashMap<String, Instant>,
    deliveries: usize,
}

type Shared = Arc<Mutex<Arrivals>>;

/// The loopback webhook receiver.
async fn receiver(arrivals: Shared) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(arrivals);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

async fn receive(State(arrivals): State<Shared>, body: String) -> StatusCode {
    let now = Instant::now();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(id) = body["data"]["id"].as_str() {
        let mut a = arrivals.lock().unwrap();
        a.deliveries += 1;
        a.webhook.entry(id.to_owned()).or_insert((now, 0)).1 += 1;
    }
    StatusCode::NO_CONTENT
}

/// Follow the event stream as `key`, recording each `approval.requested` event's arrival.
async fn follow_stream(base: &str, key: &str, arrivals: Shared) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/events/stream"))
        .bearer_auth(key)
        .send()
        .await?;
    ensure!(resp.status().is_success(), "stream: {}", resp.status());
    tokio::spawn(async move {
        let mut events = Box::pin(resp.bytes_stream().eventsource());
        while let Some(Ok(e)) = events.next().await {
            let now = Instant::now();
            if e.event != "approval.requested" {
                continue;
            }
            let body: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
            if let Some(id) = body["data"]["id"].as_str() {
                arrivals.lock().unwrap().stream.insert(id.to_owned(), now);
            }
        }
    });
    Ok(())
}

struct Fixture {
    requester: Caller,
    subject: SubjectId,
    admin_key: String,
}

async fn setup(service: &Service, hook: &str, webhooks: u64) -> anyhow::Result<Fixture> {
    let admin = service
        .bootstrap_key(
            "bench-admin",
            PrincipalKind::User,
            Some(&RoleId::parse("admin")?),
            None,
        )
        .await?;
    let admin_key = admin.minted.token.expose();
    let admin = service.authenticate(&admin_key).await?;
    let requester = service
        .bootstrap_key(
            "bench-requester",
            PrincipalKind::User,
            Some(&RoleId::parse("requester")?),
            None,
        )
        .await?;
    let requester = service
        .authenticate(&requester.minted.token.expose())
        .await?;
    let policy = service
        .create_policy(
            &admin,
            PolicyInput {
                name: "bench-notify".into(),
                requires_approval: true,
                rules: vec![ApprovalRule {
                    role: RoleId::parse("approver")?,
                    count: 1,
                }],
                approval_timeout_secs: None,
                notices: Default::default(),
            },
        )
        .await?;
    let subject = service
        .create_subject(
            &admin,
            SubjectInput {
                kind: "database".into(),
                name: "bench-notify-db".into(),
                policy_id: policy.id,
                labels: Default::default(),
            },
        )
        .await?;
    for i in 0..webhooks {
        service
            .create_webhook(
                &admin,
                CreateWebhookBody {
                    url: hook.to_owned(),
                    events: None,
                    format: None,
                    description: Some(format!("bench receiver {i}")),
                },
            )
            .await?;
    }
    Ok(Fixture {
        requester,
        subject: subject.id,
        admin_key,
    })
}

/// Request one job; its approval id and when the use case returned.
async fn request(service: &Service, f: &Fixture, n: u64) -> anyhow::Result<(String, Instant)> {
    let done = service
        .request_job(
            &f.requester,
            JobRequest {
                subject_id: f.subject,
                action: "db.migrate".into(),
                payload: json!({"migration": format!("2026_{n:06}"), "ticket": format!("OPS-{n}")}),
                idempotency_key: None,
            },
        )
        .await?;
    let at = Instant::now();
    let approval = done.approval.context("the policy asks for approval")?;
    Ok((approval.approval.id.to_string(), at))
}

/// A running scheduler loop and the means to stop it.
struct Scheduler {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start_scheduler(service: &Service) -> Scheduler {
    let (stop, stopped) = oneshot::channel::<()>();
    let service = service.clone();
    let task = tokio::spawn(async move {
        service
            .run_scheduler(Duration::from_secs(10), async {
                let _ = stopped.await;
            })
            .await
    });
    Scheduler { stop, task }
}

impl Scheduler {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await?;
        Ok(())
    }
}

/// Wait until the receiver has `deliveries` POSTs (and the stream `streamed` events), for at
/// most `patience`.
async fn wait_for(
    arrivals: &Shared,
    deliveries: usize,
    streamed: usize,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        {
            let a = arrivals.lock().unwrap();
            if a.deliveries >= deliveries && a.stream.len() >= streamed {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "only {} of {deliveries} deliveries and {} of {streamed} stream events arrived",
                a.deliveries,
                a.stream.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate = env_number("BENCH_RATE", 100)?.max(1);
    let seconds = env_number("BENCH_SECONDS", 30)?.max(1);
    let backlog = env_number("BENCH_BACKLOG", 5000)?.max(1);
    let webhooks = env_number("BENCH_WEBHOOKS", 2)?.max(1);

    let url = fresh_database("countersign_bench_notifications").await?;
    let store = PgStore::connect_with(
        &url,
        PgOptions {
            max_connections: 24,
            ..PgOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    report_machine_context(SUITE, store.pool()).await?;
    let config = ServiceConfig::default();
    report(
        SUITE,
        "scheduler: delivery poll (fallback), batch",
        format!(
            "{} ms, {}",
            config.delivery_poll.as_millis(),
            config.scheduler_batch
        ),
    );
    let service = Service::new(Arc::new(store), config)
        .with_webhook_transport(countersign_http::webhook_transport()?);
    let arrivals: Shared = Arc::default();
    let hook = receiver(arrivals.clone()).await?;
    let fixture = Arc::new(setup(&service, &hook, webhooks).await?);

    // The API in-process, for the stream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (api_stop, api_stopped) = oneshot::channel::<()>();
    let api = tokio::spawn(countersign_http::serve(
        listener,
        service.clone(),
        HttpConfig::default(),
        async {
            let _ = api_stopped.await;
        },
    ));
    follow_stream(&base, &fixture.admin_key, arrivals.clone()).await?;

    // 1. Latency at a steady rate.
    let total = rate * seconds;
    report(
        SUITE,
        "phase 1: approval requests at a steady rate",
        format!("{rate}/s for {seconds} s = {total}, {webhooks} webhook(s)"),
    );
    let scheduler = start_scheduler(&service);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut requests = tokio::task::JoinSet::new();
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let (service, fixture) = (service.clone(), fixture.clone());
        requests.spawn(async move { request(&service, &fixture, n).await });
    }
    let mut committed = HashMap::new();
    while let Some(done) = requests.join_next().await {
        let (id, at) = done??;
        committed.insert(id, at);
    }
    let offered = started.elapsed();
    let expected = committed.len() * webhooks as usize;
    wait_for(
        &arrivals,
        expected,
        committed.len(),
        Duration::from_secs(120),
    )
    .await?;
    scheduler.stop().await?;
    let (mut hook_lat, mut stream_lat) = (Vec::new(), Vec::new());
    {
        let a = arrivals.lock().unwrap();
        ensure!(
            a.deliveries == expected,
            "{} deliveries for {expected} expected",
            a.deliveries
        );
        for (id, at) in &committed {
            let (first, count) = a.webhook.get(id).context("a request was not delivered")?;
            ensure!(*count == webhooks as usize, "{id}: {count} deliveries");
            hook_lat.push(first.saturating_duration_since(*at));
            let streamed = a.stream.get(id).context("a request was not streamed")?;
            stream_lat.push(streamed.saturating_duration_since(*at));
        }
    }
    report(
        SUITE,
        "phase 1: requests committed (offered rate achieved)",
        format!(
            "{} in {:.1} s = {:.0}/s",
            committed.len(),
            offered.as_secs_f64(),
            committed.len() as f64 / offered.as_secs_f64()
        ),
    );
    let hook = Latency::of(&mut hook_lat);
    let stream = Latency::of(&mut stream_lat);
    for (what, l) in [
        ("webhook: commit to receipt (first webhook)", hook),
        ("stream: commit to event received", stream),
    ] {
        report(
            SUITE,
            what,
            format!(
                "p50 {}, p99 {}, max {} (n={})",
                ms(l.p50),
                ms(l.p99),
                ms(l.max),
                l.count
            ),
        );
    }

    // 2. Outbox throughput: a backlog drained by a scheduler that starts after it.
    let before = arrivals.lock().unwrap().deliveries;
    let mut made = 0u64;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..backlog {
        let (service, fixture) = (service.clone(), fixture.clone());
        requests.spawn(async move { request(&service, &fixture, total + n).await });
        if requests.len() >= 16 {
            requests.join_next().await.context("a request task")???;
            made += 1;
        }
    }
    while let Some(done) = requests.join_next().await {
        done??;
        made += 1;
    }
    let expected = before + (made * webhooks) as usize;
    let started = Instant::now();
    let scheduler = start_scheduler(&service);
    wait_for(&arrivals, expected, 0, Duration::from_secs(600)).await?;
    let drained = started.elapsed();
    scheduler.stop().await?;
    ensure!(
        arrivals.lock().unwrap().deliveries == expected,
        "deliveries beyond the backlog"
    );
    report(
        SUITE,
        "phase 2: backlog drained (messages fanned out and delivered)",
        format!(
            "{made} messages × {webhooks} webhooks in {:.2} s = {:.0} messages/s, {:.0} deliveries/s",
            drained.as_secs_f64(),
            made as f64 / drained.as_secs_f64(),
            (made * webhooks) as f64 / drained.as_secs_f64()
        ),
    );

    let _ = api_stop.send(());
    api.await??;
    Ok(())
}
