//! The `approvals` suite: approve-decision throughput and latency with 8 concurrent clients,
//! on PostgreSQL and on SQLite.
//!
//! Countersign is measured end to end over its real HTTP path: the router served in-process
//! on a loopback port, each client a keep-alive HTTP/1 connection posting
//! `POST /api/v1/approvals/{id}/approve` with its own key. One request is one decision: the
//! policy asks for one approval of a custom role, so every approve authenticates the key,
//! passes the gate, locks the approval, reads its votes and the voter's roles, inserts the
//! vote, decides the approval and moves the job to `pending` (both compare-and-set), appends
//! two audit events and commits.
//!
//! In the same run and on the same database, 8 plain connections of a second pool execute, per
//! decision, the same statements the store issues for one approve, against a second set of
//! approvals made the same way. The statements are the SQL core's (`crates/sql/src`) with the
//! backend's own fragments filled in (`FOR UPDATE` or nothing, `= ANY($1)` or `json_each`,
//! `ARRAY(…)` or `json_group_array`), the transaction begins with the dialect's `BEGIN`
//! (`BEGIN IMMEDIATE` on SQLite) and values are bound in the dialect's column encodings; each
//! runs as one `sqlx::query_with`. What the raw path skips is everything above the SQL: HTTP,
//! authentication, the service's rules, the domain types. The ratio of the two is the figure;
//! the machine's speed cancels out of it.
//!
//! To spread the cost of table growth and cache warmth evenly, both paths first decide a
//! small unmeasured warm-up set, then the measured sets run in two rounds in opposite order
//! (raw then Countersign, Countersign then raw). At the end every approval is checked to be
//! `approved` with its job `pending`, so a run that skipped work cannot report a figure.
//!
//! - `BENCH_APPROVALS` sets the measured decisions per path (default 4,000).
//! - `BENCH_BACKEND` picks the backends: `postgres`, `sqlite`, or `both` (the default). On
//!   PostgreSQL the suite creates its own database on `DATABASE_URL`'s server; on SQLite it
//!   uses a fresh file in a temporary directory, opened with the store's own pragmas (WAL,
//!   `synchronous=FULL`, busy timeout) by both paths. With both, the figures are printed side
//!   by side at the end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use countersign_bench::{
    fresh_database, ms, report, report_machine_context, report_sqlite_context, Latency,
};
use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, ApiKeyToken, ApprovalRule, AuditEvent, Category, Permission, Principal,
    PrincipalKind, Resource, RoleId, SubjectId,
};
use countersign_http::HttpConfig;
use countersign_postgres::{PgDialect, PgOptions, PgStore};
use countersign_service::jobs::JobRequest;
use countersign_service::policies::PolicyInput;
use countersign_service::roles::NewRole;
use countersign_service::subjects::SubjectInput;
use countersign_service::{Caller, Service, ServiceConfig};
use countersign_sql::sql::fill;
use countersign_sql::{Conn, Dialect, ExportAudit, Sql, SqlStore};
use countersign_sqlite::{SqliteDialect, SqliteOptions, SqliteStore};
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Pool};

const SUITE: &str = "approvals";
/// Concurrent clients on each path.
const CLIENTS: usize = 8;
/// The custom role the benchmark policy asks one approval of.
const ROLE: &str = "bench-approver";
/// How many `request_job` calls run at once while building the fixtures.
const SETUP_CONCURRENCY: usize = 16;

// The statements one approve issues, as `crates/sql/src` writes them (keys.rs, approvals.rs,
// principals.rs, jobs.rs, audit.rs). Those with a dialect fragment are built by
// [`Statements::of`]; these are the same text on every backend.

/// `principals::roles_of`.
const ROLES_OF_SQL: &str =
    "SELECT role_id FROM principal_roles WHERE principal_id = $1 ORDER BY role_id";
/// `approvals::insert_vote`.
const INSERT_VOTE_SQL: &str =
    "INSERT INTO votes (approval_id, principal_id, decision, note, roles, at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
/// `jobs::get_job`.
const GET_JOB_SQL: &str = "SELECT id, subject_id, action, payload, payload_sha256, status, \
     requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, result_message, \
     created_at, updated_at FROM jobs WHERE id = $1";
/// `approvals::decide_approval`: compare-and-set on `state = 'pending'`.
const DECIDE_SQL: &str = "UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4 \
     WHERE id = $1 AND state = 'pending'";
/// `jobs::transition_job`: compare-and-set on the expected status.
const TRANSITION_JOB_SQL: &str = "UPDATE jobs SET status = $3, updated_at = $4, \
     result_message = COALESCE($5, result_message), \
     lease_expires_at = CASE WHEN $3 = 'running' THEN lease_expires_at END, \
     claimed_by = CASE WHEN $3 = 'pending' THEN NULL ELSE claimed_by END \
     WHERE id = $1 AND status = $2 RETURNING id, subject_id, action, payload, payload_sha256, \
     status, requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, \
     result_message, created_at, updated_at";
/// The statements whose text depends on the dialect, filled in as the store fills them.
#[derive(Debug)]
struct Statements {
    /// `keys::key_auth_record`: the key authentication read, on every request.
    key_auth: String,
    /// `approvals::lock_approval`.
    lock_approval: String,
    /// `approvals::with_votes`, for one approval.
    votes: String,
}

impl Statements {
    fn of<D: Dialect>() -> Self {
        Statements {
            key_auth: countersign_sql::keys::key_auth_sql::<D>(),
            lock_approval: format!(
                "SELECT id, job_id, subject_id, policy_id, requested_by, state, rules, \
                 created_at, expires_at, decided_at, decided_by FROM approvals WHERE id = $1{}",
                D::FOR_UPDATE
            ),
            votes: format!(
                "SELECT approval_id, principal_id, decision, note, roles, at FROM votes \
                 WHERE approval_id {} ORDER BY approval_id, seq",
                fill(D::IN_LIST, &[("list", "$1")])
            ),
        }
    }
}

/// A backend the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `BENCH_BACKEND`: `postgres`, `sqlite`, or `both` (the default).
    fn chosen() -> anyhow::Result<Vec<Backend>> {
        let value = std::env::var("BENCH_BACKEND").unwrap_or_default();
        Ok(match value.trim() {
            "" | "both" => vec![Backend::Postgres, Backend::Sqlite],
            "postgres" => vec![Backend::Postgres],
            "sqlite" => vec![Backend::Sqlite],
            other => bail!("BENCH_BACKEND must be postgres, sqlite or both, not `{other}`"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// One approver: a principal holding [`ROLE`] and its key.
#[derive(Debug, Clone)]
struct Approver {
    principal: Principal,
    token: ApiKeyToken,
    /// `Bearer cs_…`, as the HTTP clients send it.
    bearer: String,
}

/// What the setup built.
#[derive(Debug)]
struct Fixture {
    requester: Caller,
    subject: SubjectId,
    approvers: Vec<Approver>,
}

/// One phase of one path: its wall time and a latency sample per decision.
#[derive(Debug, Default)]
struct Phase {
    elapsed: Duration,
    samples: Vec<Duration>,
}

impl Phase {
    fn absorb(&mut self, other: Phase) {
        self.elapsed += other.elapsed;
        self.samples.extend(other.samples);
    }

    fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// One backend's result: throughput and latency of each path.
#[derive(Debug)]
struct Figures {
    backend: Backend,
    cs_rate: f64,
    raw_rate: f64,
    cs_lat: Latency,
    raw_lat: Latency,
}

type HttpClient = reqwest::Client;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let measured: usize = match std::env::var("BENCH_APPROVALS") {
        Ok(v) => v.parse().context("BENCH_APPROVALS must be a count")?,
        Err(_) => 4_000,
    };
    ensure!(
        measured >= CLIENTS,
        "BENCH_APPROVALS must be at least {CLIENTS}"
    );
    let mut results = Vec::new();
    for backend in Backend::chosen()? {
        let figures = match backend {
            Backend::Postgres => {
                let url = fresh_database("countersign_bench_approvals").await?;
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
                let raw = PgDialect::connect(
                    &url,
                    PgOptions {
                        max_connections: CLIENTS as u32,
                        ..PgOptions::default()
                    },
                )
                .await?;
                run(backend, store, raw, measured).await?
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("a temporary directory")?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("approvals.db").display()
                );
                let store = SqliteStore::connect(&url).await?;
                store.migrate().await?;
                report_sqlite_context(SUITE, store.pool()).await?;
                let raw = SqliteDialect::connect(
                    &url,
                    SqliteOptions {
                        max_connections: CLIENTS as u32,
                        ..SqliteOptions::default()
                    },
                )
                .await?;
                let figures = run(backend, store, raw, measured).await?;
                drop(dir);
                figures
            }
        };
        results.push(figures);
    }
    if results.len() > 1 {
        side_by_side(&results);
    }
    Ok(())
}

/// Build the fixtures on `store`, then measure both paths: Countersign over HTTP, and the raw
/// statements on `raw`, a second pool on the same database.
async fn run<D: ExportAudit>(
    backend: Backend,
    store: SqlStore<D>,
    raw: Pool<D::DB>,
    measured: usize,
) -> anyhow::Result<Figures> {
    let name = backend.name();
    let warmup = (measured / 20).clamp(CLIENTS, 200);
    let service = Service::new(Arc::new(store.clone()), ServiceConfig::default());

    // Fixtures, through the service API (not measured).
    let started = Instant::now();
    let fixture = setup(&service).await?;
    let total = 2 * (warmup + measured);
    let ids = request_approvals(&service, &fixture, total).await?;
    report(
        SUITE,
        &format!("{name}: setup: pending approvals created through the service"),
        format!("{total} in {:.1} s", started.elapsed().as_secs_f64()),
    );
    let (warm, rest) = ids.split_at(2 * warmup);
    let (cs_warm, raw_warm) = warm.split_at(warmup);
    let (cs_ids, raw_ids) = rest.split_at(measured);
    let (cs_a, cs_b) = cs_ids.split_at(measured / 2);
    let (raw_a, raw_b) = raw_ids.split_at(measured / 2);

    // The real server, in-process.
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

    let clients: Vec<HttpClient> = (0..CLIENTS).map(|_| reqwest::Client::new()).collect();
    let mut conns = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        conns.push(raw.acquire().await?);
    }
    let approvers = Arc::new(fixture.approvers);
    let statements = Arc::new(Statements::of::<D>());

    // Warm-up: connections, statement caches, buffers (not reported).
    http_phase(&base, &clients, &approvers, cs_warm).await?;
    let (c, _) = raw_phase::<D>(conns, &statements, &approvers, raw_warm).await?;
    conns = c;

    // Measured: two rounds in opposite order.
    let mut cs = Phase::default();
    let mut raw_figures = Phase::default();
    let (c, phase) = raw_phase::<D>(conns, &statements, &approvers, raw_a).await?;
    raw_figures.absorb(phase);
    cs.absorb(http_phase(&base, &clients, &approvers, cs_a).await?);
    cs.absorb(http_phase(&base, &clients, &approvers, cs_b).await?);
    let (c, phase) = raw_phase::<D>(c, &statements, &approvers, raw_b).await?;
    raw_figures.absorb(phase);
    drop(c);
    raw.close().await;

    let _ = stop.send(());
    server.await.context("the server task")??;

    verify::<D>(name, store.pool(), &ids).await?;

    let figures = Figures {
        backend,
        cs_rate: cs.throughput(),
        raw_rate: raw_figures.throughput(),
        cs_lat: Latency::of(&mut cs.samples),
        raw_lat: Latency::of(&mut raw_figures.samples),
    };
    print_path(
        &format!("{name}: countersign (HTTP, {CLIENTS} clients)"),
        figures.cs_rate,
        &figures.cs_lat,
    );
    print_path(
        &format!("{name}: raw SQL ({CLIENTS} connections)"),
        figures.raw_rate,
        &figures.raw_lat,
    );
    report(
        SUITE,
        &format!("{name}: ratio: countersign / raw throughput"),
        format!("{:.2}", figures.cs_rate / figures.raw_rate),
    );
    report(
        SUITE,
        &format!("{name}: ratio: countersign / raw p50 latency"),
        format!("{:.2}", ratio(figures.cs_lat.p50, figures.raw_lat.p50)),
    );
    report(
        SUITE,
        &format!("{name}: ratio: countersign / raw p99 latency"),
        format!("{:.2}", ratio(figures.cs_lat.p99, figures.raw_lat.p99)),
    );
    store.pool().close().await;
    Ok(figures)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn print_path(path: &str, rate: f64, lat: &Latency) {
    report(
        SUITE,
        &format!("{path}: decisions/s"),
        format!("{rate:.0} ({} decisions)", lat.count),
    );
    report(
        SUITE,
        &format!("{path}: latency p50 / p99 / max"),
        format!("{} / {} / {}", ms(lat.p50), ms(lat.p99), ms(lat.max)),
    );
}

/// How one row of the side-by-side table reads a backend's figures.
type Cell = fn(&Figures) -> String;

/// Every backend's figures in one table, a column per backend.
fn side_by_side(results: &[Figures]) {
    let rows: [(&str, Cell); 6] = [
        ("countersign decisions/s", |f| format!("{:.0}", f.cs_rate)),
        ("raw SQL decisions/s", |f| format!("{:.0}", f.raw_rate)),
        ("countersign p50 / p99", |f| {
            format!("{} / {}", ms(f.cs_lat.p50), ms(f.cs_lat.p99))
        }),
        ("raw SQL p50 / p99", |f| {
            format!("{} / {}", ms(f.raw_lat.p50), ms(f.raw_lat.p99))
        }),
        ("ratio: throughput", |f| {
            format!("{:.2}", f.cs_rate / f.raw_rate)
        }),
        ("ratio: p99 latency", |f| {
            format!("{:.2}", ratio(f.cs_lat.p99, f.raw_lat.p99))
        }),
    ];
    let header: Vec<String> = results
        .iter()
        .map(|f| format!("{:<21}", f.backend.name()))
        .collect();
    println!();
    let line = format!(
        "{SUITE:<10} | {:<23} | {}",
        "side by side",
        header.join(" | ")
    );
    println!("{}", line.trim_end());
    for (what, figure) in rows {
        let cells: Vec<String> = results
            .iter()
            .map(|f| format!("{:<21}", figure(f)))
            .collect();
        let line = format!("{SUITE:<10} | {what:<23} | {}", cells.join(" | "));
        println!("{}", line.trim_end());
    }
}

/// The admin, requester and approvers, the custom role, a one-approval policy and a subject,
/// all made through the service.
async fn setup(service: &Service) -> anyhow::Result<Fixture> {
    let admin = caller(service, "bench-admin", "admin").await?;
    let requester = caller(service, "bench-requester", "requester").await?;
    let role = RoleId::parse(ROLE)?;
    service
        .create_role(
            &admin,
            NewRole {
                id: role.clone(),
                description: "Benchmark approvers.".into(),
                permissions: BTreeSet::from([
                    Permission::ApprovalRead,
                    Permission::ApprovalApprove,
                    Permission::ApprovalReject,
                ]),
            },
        )
        .await?;
    let mut approvers = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let done = service
            .bootstrap_key(
                &format!("bench-approver-{i}"),
                PrincipalKind::User,
                Some(&role),
                None,
            )
            .await?;
        let token = done.minted.token;
        approvers.push(Approver {
            principal: done.principal,
            bearer: format!("Bearer {}", token.expose()),
            token,
        });
    }

    let policy = service
        .create_policy(
            &admin,
            PolicyInput {
                name: "bench-one-approval".into(),
                requires_approval: true,
                rules: vec![ApprovalRule { role, count: 1 }],
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
                name: "bench-orders-primary".into(),
                policy_id: policy.id,
                labels: [("env".to_owned(), "bench".to_owned())].into(),
            },
        )
        .await?;
    Ok(Fixture {
        requester,
        subject: subject.id,
        approvers,
    })
}

/// Bootstrap principal `name` with built-in `role` and authenticate as it.
async fn caller(service: &Service, name: &str, role: &str) -> anyhow::Result<Caller> {
    let done = service
        .bootstrap_key(name, PrincipalKind::User, Some(&RoleId::parse(role)?), None)
        .await?;
    Ok(service.authenticate(&done.minted.token.expose()).await?)
}

/// Request `count` jobs on the subject; return their pending approvals' ids in order.
async fn request_approvals(
    service: &Service,
    fixture: &Fixture,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|i| async move {
            let done = service
                .request_job(
                    &fixture.requester,
                    JobRequest {
                        subject_id: fixture.subject,
                        action: "db.migrate".into(),
                        payload: json!({
                            "migration": format!("2026_{i:06}_add_index"),
                            "ticket": format!("OPS-{}", 10_000 + i),
                            "reason": "benchmark: one approval per job",
                            "dry_run": false,
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

/// Client `i` of [`CLIENTS`] takes every `CLIENTS`-th id, starting at `i`.
fn share(ids: &[String], i: usize) -> Vec<String> {
    ids.iter().skip(i).step_by(CLIENTS).cloned().collect()
}

/// Approve every id over HTTP: client `i` approves its share as approver `i`.
async fn http_phase(
    base: &str,
    clients: &[HttpClient],
    approvers: &Arc<Vec<Approver>>,
    ids: &[String],
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let client = client.clone();
            let approvers = Arc::clone(approvers);
            let ids = share(ids, i);
            let base = base.to_owned();
            tokio::spawn(async move {
                let bearer = &approvers[i].bearer;
                let mut samples = Vec::with_capacity(ids.len());
                for id in ids {
                    let req = client
                        .post(format!("{base}/api/v1/approvals/{id}/approve"))
                        .header(AUTHORIZATION, bearer);
                    let t = Instant::now();
                    let resp = req.send().await?;
                    let status = resp.status();
                    let body = resp.bytes().await?;
                    samples.push(t.elapsed());
                    if status != StatusCode::OK {
                        bail!("approve {id}: {status}: {}", String::from_utf8_lossy(&body));
                    }
                    let view: serde_json::Value = serde_json::from_slice(&body)?;
                    ensure!(
                        view["state"] == "approved",
                        "approve {id} did not decide: {view}"
                    );
                }
                Ok::<_, anyhow::Error>(samples)
            })
        })
        .collect();
    let mut phase = Phase::default();
    for task in tasks {
        phase.samples.extend(task.await??);
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}

/// Decide every id with the raw statements: connection `i` decides its share as approver
/// `i`. The connections come back for the next phase.
async fn raw_phase<D: Dialect>(
    conns: Vec<PoolConnection<D::DB>>,
    statements: &Arc<Statements>,
    approvers: &Arc<Vec<Approver>>,
    ids: &[String],
) -> anyhow::Result<(Vec<PoolConnection<D::DB>>, Phase)> {
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let approvers = Arc::clone(approvers);
            let statements = Arc::clone(statements);
            let ids = share(ids, i);
            tokio::spawn(async move {
                let who = &approvers[i];
                let mut samples = Vec::with_capacity(ids.len());
                for id in ids {
                    let t = Instant::now();
                    raw_approve::<D>(&mut conn, &statements, who, &id)
                        .await
                        .with_context(|| format!("raw approve {id}"))?;
                    samples.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>((conn, samples))
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(CLIENTS);
    let mut phase = Phase::default();
    for task in tasks {
        let (conn, samples) = task.await??;
        conns.push(conn);
        phase.samples.extend(samples);
    }
    phase.elapsed = started.elapsed();
    Ok((conns, phase))
}

/// One approve decided with the statements the store issues, in the same order, on one
/// connection: the key read, then one transaction begun with the dialect's `BEGIN`.
async fn raw_approve<D: Dialect>(
    conn: &mut Conn<D>,
    statements: &Statements,
    who: &Approver,
    id: &str,
) -> anyhow::Result<()> {
    let now = clock::now();
    let request_id = countersign_http::request_id::mint();
    let principal_id = who.principal.id.to_string();

    let permissions: Vec<String> = Sql::<D>::new(statements.key_auth.as_str())
        .arg(who.token.key_id.to_string())
        .fetch_optional(&mut *conn, |r| r.list("role_permissions.permissions"))
        .await?
        .context("unknown key")?;
    ensure!(permissions.iter().any(|p| p == "approval.approve"));

    let mut tx = conn.begin_with(D::BEGIN).await?;
    let (state, job_id, policy_id) = Sql::<D>::new(statements.lock_approval.as_str())
        .arg(id.to_owned())
        .fetch_optional(&mut *tx, |r| {
            Ok((
                r.text("approvals.state")?,
                r.text("approvals.job_id")?,
                r.text("approvals.policy_id")?,
            ))
        })
        .await?
        .context("no such approval")?;
    ensure!(state == "pending", "approval is {state}");
    Sql::<D>::new(statements.votes.as_str())
        .arg(D::encode_list(vec![id.to_owned()]))
        .fetch_all(&mut *tx, |r| r.text("votes.principal_id"))
        .await?;
    let roles: Vec<String> = Sql::<D>::new(ROLES_OF_SQL)
        .arg(principal_id.clone())
        .fetch_all(&mut *tx, |r| r.text("principal_roles.role_id"))
        .await?;
    Sql::<D>::new(INSERT_VOTE_SQL)
        .arg(id.to_owned())
        .arg(principal_id.clone())
        .arg("approve".to_owned())
        .arg(None::<String>)
        .arg(D::encode_list(roles.clone()))
        .arg(D::encode_time(now))
        .execute(&mut *tx)
        .await?;
    Sql::<D>::new(GET_JOB_SQL)
        .arg(job_id.clone())
        .fetch_optional(&mut *tx, |r| r.text("jobs.id"))
        .await?
        .context("an approval's job is missing")?;
    let decided = Sql::<D>::new(DECIDE_SQL)
        .arg(id.to_owned())
        .arg("approved".to_owned())
        .arg(principal_id.clone())
        .arg(D::encode_time(now))
        .execute(&mut *tx)
        .await?;
    ensure!(decided == 1, "already decided");
    Sql::<D>::new(TRANSITION_JOB_SQL)
        .arg(job_id.clone())
        .arg("awaiting_approval".to_owned())
        .arg("pending".to_owned())
        .arg(D::encode_time(now))
        .arg(None::<String>)
        .fetch_optional(&mut *tx, |r| r.text("jobs.id"))
        .await?
        .context("the job is no longer awaiting approval")?;

    // The two events the service appends for an approve that decides, with the same bodies.
    let actor = Actor::principal(&who.principal, Some(who.token.key_id));
    let resource = Resource::new("approval", id);
    let events = [
        AuditEvent::new(
            Category::Lifecycle,
            actions::APPROVAL_VOTED,
            actor.clone(),
            resource.clone(),
        )
        .allowed_by("approval.approve")
        .request_id(Some(&request_id))
        .details(json!({"decision": "approve", "note": null, "roles": roles, "job_id": job_id})),
        AuditEvent::new(
            Category::Lifecycle,
            actions::APPROVAL_APPROVED,
            actor,
            resource,
        )
        .allowed_by("approval.approve")
        .request_id(Some(&request_id))
        .details(json!({
            "job_id": job_id,
            "policy_id": policy_id,
            "approvers": [{"principal_id": principal_id, "role": ROLE}],
        })),
    ];
    let appended = countersign_sql::audit::append::<D>(&events)?
        .execute(&mut *tx)
        .await?;
    ensure!(appended == 2, "audit events not appended");
    tx.commit().await?;
    Ok(())
}

/// Every approval of the run is `approved` with its job `pending`, with one vote and the two
/// audit events each: the figures count work that was really done.
async fn verify<D: Dialect>(name: &str, pool: &Pool<D::DB>, ids: &[String]) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut q = Sql::<D>::new("");
    let list = q.param(D::encode_list(ids.to_vec()));
    let member = fill(D::IN_LIST, &[("list", &list)]);
    q.push(&format!(
        "SELECT count(CASE WHEN a.state = 'approved' THEN 1 END) AS approved, \
                count(CASE WHEN j.status = 'pending' THEN 1 END) AS pending, \
                (SELECT count(*) FROM votes v WHERE v.approval_id {member}) AS votes, \
                (SELECT count(*) FROM audit_events e \
                 WHERE e.resource_type = 'approval' AND e.resource_id {member} \
                   AND e.action IN ('approval.voted', 'approval.approved')) AS events \
         FROM approvals a JOIN jobs j ON j.id = a.job_id WHERE a.id {member}"
    ));
    let (approved, pending, votes, events) = q
        .fetch_optional(&mut *conn, |r| {
            Ok((
                r.get::<i64>("approvals.approved")?,
                r.get::<i64>("jobs.pending")?,
                r.get::<i64>("votes.votes")?,
                r.get::<i64>("audit_events.events")?,
            ))
        })
        .await?
        .context("the verification query answered no row")?;
    let n = ids.len() as i64;
    ensure!(
        approved == n && pending == n && votes == n && events == 2 * n,
        "verification failed: of {n} approvals, {approved} approved, {pending} jobs pending, \
         {votes} votes, {events} audit events (want {})",
        2 * n
    );
    report(
        SUITE,
        &format!("{name}: verified: approvals approved, jobs pending, votes, events"),
        format!("{approved}, {pending}, {votes}, {events}"),
    );
    Ok(())
}
