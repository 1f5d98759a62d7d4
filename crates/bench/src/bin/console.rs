//! The `console` suite: the browser console's page latency and page weight on PostgreSQL with
//! 10,000 pending approvals.
//!
//! The fixtures are made through the service: 10,000 pending approvals an approver may vote on
//! (spread over 20 subjects), and, newest of all, 1,000 pending approvals under a role the
//! approver does not hold, which "waiting on me" must step over. The real server runs
//! in-process on a loopback port; each person signs in through the sign-in form and keeps the
//! session cookie, as a browser does. Each page is then asked for `BENCH_CONSOLE_REQUESTS`
//! times (default 300) by one keep-alive client, one request at a time, and its latency (from
//! sending the request to the last byte of the body) is reported as p50 and p99, with the
//! page's weight: its HTML, and the HTML plus the stylesheet and script every page loads.
//!
//! Pages: waiting on me (the newest 50 of the 10,000 the approver may vote on), one approval
//! (a different one each time, with its eligibility), my requests (the requester's newest 50),
//! jobs (newest 50), and the audit trail (newest 50, and filtered by action).
//!
//! Goals: p99 under 50 ms and every page under 100 KB. Every answer is checked: 200, and the
//! lists hold their 50 rows, so a page that failed or came back empty cannot report a figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use countersign_bench::{fresh_database, ms, report, report_machine_context, Latency};
use countersign_domain::{ApprovalRule, PrincipalKind, RoleId, SubjectId};
use countersign_http::HttpConfig;
use countersign_postgres::{PgOptions, PgStore};
use countersign_service::jobs::JobRequest;
use countersign_service::policies::PolicyInput;
use countersign_service::subjects::SubjectInput;
use countersign_service::{Caller, Service, ServiceConfig};
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::json;

const SUITE: &str = "console";
/// Pending approvals the approver may vote on.
const ELIGIBLE: usize = 10_000;
/// Newer pending approvals under a role the approver does not hold.
const OTHERS: usize = 1_000;
const SUBJECTS: usize = 20;
/// How many `request_job` calls run at once while building the fixtures.
const SETUP_CONCURRENCY: usize = 16;
/// Rows on a list page (the API's default limit).
const PAGE_ROWS: usize = 50;
const GOAL_P99: Duration = Duration::from_millis(50);
const GOAL_BYTES: usize = 100 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = match std::env::var("BENCH_CONSOLE_REQUESTS") {
        Ok(v) => v
            .parse()
            .context("BENCH_CONSOLE_REQUESTS must be a count")?,
        Err(_) => 300,
    };
    ensure!(requests >= 10, "BENCH_CONSOLE_REQUESTS must be at least 10");
    let url = fresh_database("countersign_bench_console").await?;
    let store = PgStore::connect_with(
        &url,
        PgOptions {
            max_connections: 16,
            ..PgOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    report_machine_context(SUITE, store.pool()).await?;
    let service = Service::new(Arc::new(store.clone()), ServiceConfig::default());

    let started = Instant::now();
    let f = setup(&service).await?;
    report(
        SUITE,
        "setup: pending approvals created through the service",
        format!(
            "{} in {:.1} s",
            ELIGIBLE + OTHERS,
            started.elapsed().as_secs_f64()
        ),
    );
    // Fresh statistics for the planner, as autovacuum would have them on a live database.
    sqlx::query("ANALYZE").execute(store.pool()).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(countersign_http::serve(
        listener,
        service.clone(),
        HttpConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let approver = sign_in(&client, &base, &f.approver_key).await?;
    let requester = sign_in(&client, &base, &f.requester_key).await?;
    let admin = sign_in(&client, &base, &f.admin_key).await?;

    let assets = {
        let css = get(&client, &base, "/ui/assets/console.css", &approver).await?;
        let js = get(&client, &base, "/ui/assets/console.js", &approver).await?;
        css.len() + js.len()
    };
    report(SUITE, "assets: stylesheet + script bytes", assets);

    let pages: Vec<(&str, &str, &String, Check)> = vec![
        (
            "waiting on me (newest 50 of 10,000)",
            "/ui/",
            &approver,
            Check::Rows,
        ),
        (
            "one approval (each time another)",
            "",
            &approver,
            Check::Approval,
        ),
        (
            "my requests (newest 50)",
            "/ui/requests",
            &requester,
            Check::Rows,
        ),
        ("jobs (newest 50)", "/ui/jobs", &admin, Check::Jobs),
        (
            "audit trail (newest 50)",
            "/ui/audit",
            &admin,
            Check::Events,
        ),
        (
            "audit trail filtered by action",
            "/ui/audit?action=approval.requested",
            &admin,
            Check::Events,
        ),
    ];
    let mut worst_p99 = Duration::ZERO;
    let mut heaviest = 0;
    for (name, path, session, check) in pages {
        // Warm-up, not measured.
        for i in 0..5 {
            let p = page_path(path, &f.eligible, i);
            get(&client, &base, &p, session).await?;
        }
        let mut samples = Vec::with_capacity(requests);
        let mut bytes = 0;
        for i in 0..requests {
            let p = page_path(path, &f.eligible, i + 5);
            let t = Instant::now();
            let body = get(&client, &base, &p, session).await?;
            samples.push(t.elapsed());
            check.verify(&p, &body)?;
            bytes = bytes.max(body.len());
        }
        let l = Latency::of(&mut samples);
        worst_p99 = worst_p99.max(l.p99);
        heaviest = heaviest.max(bytes + assets);
        report(
            SUITE,
            &format!("{name}: p50 / p99"),
            format!("{} / {}", ms(l.p50), ms(l.p99)),
        );
        report(
            SUITE,
            &format!("{name}: weight (HTML; with stylesheet and script)"),
            format!("{bytes} B; {} B", bytes + assets),
        );
    }
    report(
        SUITE,
        "goals: every page p99 < 50 ms, weight < 100 KB",
        format!(
            "worst p99 {} ({}), heaviest {} B ({})",
            ms(worst_p99),
            if worst_p99 < GOAL_P99 {
                "met"
            } else {
                "MISSED"
            },
            heaviest,
            if heaviest < GOAL_BYTES {
                "met"
            } else {
                "MISSED"
            }
        ),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// What a page must hold for its figure to count.
#[derive(Debug, Clone, Copy)]
enum Check {
    Rows,
    Approval,
    Jobs,
    Events,
}

impl Check {
    fn verify(self, path: &str, body: &str) -> anyhow::Result<()> {
        let (needle, want) = match self {
            Check::Rows => ("<tr class=\"approval\">", PAGE_ROWS),
            Check::Jobs => ("<span class=\"state awaiting_approval\">", PAGE_ROWS),
            Check::Events => ("<tr class=\"event", PAGE_ROWS),
            Check::Approval => ("You may approve this request", 1),
        };
        let found = body.matches(needle).count();
        if found != want {
            bail!("{path}: {found} × `{needle}`, expected {want}");
        }
        Ok(())
    }
}

/// The path of request `i`: `path`, or another eligible approval's page when empty.
fn page_path(path: &str, eligible: &[String], i: usize) -> String {
    if path.is_empty() {
        format!("/ui/approvals/{}", eligible[(i * 37) % eligible.len()])
    } else {
        path.to_owned()
    }
}

/// GET `path` with `session`'s cookie; the body of a 200.
async fn get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    session: &str,
) -> anyhow::Result<String> {
    let r = client
        .get(format!("{base}{path}"))
        .header(COOKIE, format!("countersign_session={session}"))
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    ensure!(status.is_success(), "{path}: {status}");
    Ok(body)
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (n, value) = pair.split_once('=')?;
        (n == name && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Sign in through the form with `key`; the session cookie's value.
async fn sign_in(client: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/ui/sign-in")).send().await?;
    let nonce = cookie(&form, "countersign_sign_in").context("no sign-in cookie")?;
    let html = form.text().await?;
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = html.find(FIELD).context("no CSRF field")? + FIELD.len();
    let csrf = &html[at..at + 64];
    let r = client
        .post(format!("{base}/ui/sign-in"))
        .header(COOKIE, format!("countersign_sign_in={nonce}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&api_key={key}"))
        .send()
        .await?;
    cookie(&r, "countersign_session").with_context(|| format!("sign-in refused: {}", r.status()))
}

struct Fixture {
    admin_key: String,
    requester_key: String,
    approver_key: String,
    /// The approvals the approver may vote on.
    eligible: Vec<String>,
}

async fn setup(service: &Service) -> anyhow::Result<Fixture> {
    let (admin, admin_key) = person(service, "bench-admin", "admin").await?;
    let (requester, requester_key) = person(service, "bench-requester", "requester").await?;
    let (_, approver_key) = person(service, "bench-approver", "approver").await?;
    // A role the approver does not hold, for the approvals it must step over.
    let (_, _) = person(service, "bench-auditor", "auditor").await?;

    let mut subjects = Vec::new();
    for (name, role) in [
        ("bench-approver-policy", "approver"),
        ("bench-admin-policy", "admin"),
    ] {
        let policy = service
            .create_policy(
                &admin,
                PolicyInput {
                    name: name.into(),
                    requires_approval: true,
                    rules: vec![ApprovalRule {
                        role: RoleId::parse(role)?,
                        count: 1,
                    }],
                    approval_timeout_secs: None,
                    notices: Default::default(),
                },
            )
            .await?;
        let mut ids = Vec::new();
        for i in 0..SUBJECTS {
            let s = service
                .create_subject(
                    &admin,
                    SubjectInput {
                        kind: "certificate".into(),
                        name: format!("{role}-{i:02}.bench.example.com"),
                        policy_id: policy.id,
                        labels: [("env".to_owned(), "bench".to_owned())].into(),
                    },
                )
                .await?;
            ids.push(s.id);
        }
        subjects.push(ids);
    }
    let eligible = request(service, &requester, &subjects[0], ELIGIBLE).await?;
    request(service, &requester, &subjects[1], OTHERS).await?;
    Ok(Fixture {
        admin_key,
        requester_key,
        approver_key,
        eligible,
    })
}

/// Bootstrap principal `name` with built-in `role`: its caller and key.
async fn person(service: &Service, name: &str, role: &str) -> anyhow::Result<(Caller, String)> {
    let done = service
        .bootstrap_key(name, PrincipalKind::User, Some(&RoleId::parse(role)?), None)
        .await?;
    let key = done.minted.token.expose();
    Ok((service.authenticate(&key).await?, key))
}

/// Request `count` jobs spread over `subjects`; their approvals' ids.
async fn request(
    service: &Service,
    requester: &Caller,
    subjects: &[SubjectId],
    count: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|i| async move {
            let done = service
                .request_job(
                    requester,
                    JobRequest {
                        subject_id: subjects[i % subjects.len()],
                        action: "certificate.renew".into(),
                        payload: json!({
                            "ttl": "90d",
                            "san": [format!("www{i}.bench.example.com"), "bench.example.com"],
                            "ticket": format!("OPS-{}", 10_000 + i),
                        }),
                        idempotency_key: None,
                    },
                )
                .await?;
            let approval = done.approval.context("the policy asks for approval")?;
            Ok::<_, anyhow::Error>(approval.approval.id.to_string())
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}
