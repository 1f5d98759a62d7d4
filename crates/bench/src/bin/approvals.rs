//! The `approvals` suite: approve-decision throughput and latency with 8 concurrent clients.
//!
//! Countersign is measured end to end over its real HTTP path: the router served in-process
//! on a loopback port, each client a keep-alive HTTP/1 connection posting
//! `POST /api/v1/approvals/{id}/approve` with its own key. One request is one decision: the
//! policy asks for one approval of a custom role, so every approve authenticates the key,
//! passes the gate, locks the approval, reads its votes and the voter's roles, inserts the
//! vote, decides the approval and moves the job to `pending` (both compare-and-set), appends
//! two audit events and commits.
//!
//! In the same run, 8 plain sqlx connections execute, per decision, the same statements the
//! service issues for one approve (the SQL text copied from `crates/postgres/src`), against a
//! second set of approvals made the same way. The ratio of the two is the figure; the
//! machine's speed cancels out of it.
//!
//! To spread the cost of table growth and cache warmth evenly, both paths first decide a
//! small unmeasured warm-up set, then the measured sets run in two rounds in opposite order
//! (raw then Countersign, Countersign then raw). At the end every approval is checked to be
//! `approved` with its job `pending`, so a run that skipped work cannot report a figure.
//!
//! `BENCH_APPROVALS` sets the measured decisions per path (default 4,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use countersign_bench::{fresh_database, ms, report, report_machine_context, Latency};
use countersign_domain::audit::actions;
use countersign_domain::{
    clock, Actor, ActorKind, ApiKeyToken, ApprovalRule, AuditEvent, Category, Principal,
    PrincipalKind, Resource, RoleId, SubjectId,
};
use countersign_http::HttpConfig;
use countersign_postgres::{PgOptions, PgStore};
use countersign_service::jobs::JobRequest;
use countersign_service::policies::PolicyInput;
use countersign_service::subjects::SubjectInput;
use countersign_service::{Caller, Service, ServiceConfig};
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row};

const SUITE: &str = "approvals";
/// Concurrent clients on each path.
const CLIENTS: usize = 8;
/// The custom role the benchmark policy asks one approval of.
const ROLE: &str = "bench-approver";
/// How many `request_job` calls run at once while building the fixtures.
const SETUP_CONCURRENCY: usize = 16;

// The statements one approve issues, copied verbatim from `crates/postgres/src` (keys.rs,
// approvals.rs, principals.rs, jobs.rs, audit.rs with the column lists of rows.rs), so the
// raw path runs exactly what the store runs.

/// `keys::KEY_AUTH_SQL`: the key authentication read, on every request.
const KEY_AUTH_SQL: &str = "\
SELECT k.id, k.principal_id, k.secret_hash, k.created_at, k.expires_at, k.revoked_at,
       p.name AS principal_name, p.kind AS principal_kind, p.disabled AS principal_disabled,
       p.created_at AS principal_created_at,
       ARRAY(SELECT pr.role_id FROM principal_roles pr
             WHERE pr.principal_id = k.principal_id ORDER BY pr.role_id) AS roles,
       ARRAY(SELECT DISTINCT rp.permission
             FROM principal_roles pr JOIN role_permissions rp ON rp.role_id = pr.role_id
             WHERE pr.principal_id = k.principal_id ORDER BY rp.permission) AS permissions
FROM api_keys k JOIN principals p ON p.id = k.principal_id
WHERE k.id = $1";
/// `approvals::fetch_approval(.., lock = true)`.
const LOCK_APPROVAL_SQL: &str = "SELECT id, job_id, subject_id, policy_id, requested_by, \
     state, rules, created_at, expires_at, decided_at, decided_by FROM approvals WHERE id = $1 FOR UPDATE";
/// `approvals::with_votes`.
const VOTES_SQL: &str = "SELECT approval_id, principal_id, decision, note, roles, at FROM votes \
     WHERE approval_id = ANY($1) ORDER BY approval_id, seq";
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
/// `audit::append_audit`: the head of the multi-row insert.
const APPEND_AUDIT_SQL: &str = "INSERT INTO audit_events (event_id, ts, category, action, \
     actor_kind, actor_id, actor_name, resource_type, resource_id, decision, outcome, \
     request_id, ingested_by, body) ";

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
    let warmup = (measured / 20).clamp(CLIENTS, 200);

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
    let pool = store.pool().clone();
    report_machine_context(SUITE, &pool).await?;
    let service = Service::new(Arc::new(store), ServiceConfig::default());

    // Fixtures, through the service API (not measured).
    let started = Instant::now();
    let fixture = setup(&service, &pool).await?;
    let total = 2 * (warmup + measured);
    let ids = request_approvals(&service, &fixture, total).await?;
    report(
        SUITE,
        "setup: pending approvals created through the service",
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
        conns.push(PgConnection::connect(&url).await?);
    }
    let approvers = Arc::new(fixture.approvers);

    // Warm-up: connections, statement caches, buffers (not reported).
    http_phase(&base, &clients, &approvers, cs_warm).await?;
    let (c, _) = raw_phase(conns, &approvers, raw_warm).await?;
    conns = c;

    // Measured: two rounds in opposite order.
    let mut cs = Phase::default();
    let mut raw = Phase::default();
    let (c, phase) = raw_phase(conns, &approvers, raw_a).await?;
    raw.absorb(phase);
    cs.absorb(http_phase(&base, &clients, &approvers, cs_a).await?);
    cs.absorb(http_phase(&base, &clients, &approvers, cs_b).await?);
    let (c, phase) = raw_phase(c, &approvers, raw_b).await?;
    raw.absorb(phase);
    drop(c);

    let _ = stop.send(());
    server.await.context("the server task")??;

    verify(&pool, &ids).await?;

    let cs_rate = cs.throughput();
    let raw_rate = raw.throughput();
    let cs_lat = Latency::of(&mut cs.samples);
    let raw_lat = Latency::of(&mut raw.samples);
    print_path("countersign (HTTP, 8 clients)", cs_rate, &cs_lat);
    print_path("raw SQL (8 sqlx connections)", raw_rate, &raw_lat);
    report(
        SUITE,
        "ratio: countersign / raw throughput",
        format!("{:.2}", cs_rate / raw_rate),
    );
    report(
        SUITE,
        "ratio: countersign / raw p50 latency",
        format!("{:.2}", ratio(cs_lat.p50, raw_lat.p50)),
    );
    report(
        SUITE,
        "ratio: countersign / raw p99 latency",
        format!("{:.2}", ratio(cs_lat.p99, raw_lat.p99)),
    );
    Ok(())
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

/// The admin, requester and approvers, the custom role, a one-approval policy and a subject.
async fn setup(service: &Service, pool: &PgPool) -> anyhow::Result<Fixture> {
    // There is no role API in the service yet: the custom role goes in through SQL.
    sqlx::query(
        "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
         VALUES ($1, 'Benchmark approvers.', false, 1, now(), now())",
    )
    .bind(ROLE)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO role_permissions (role_id, permission) \
         SELECT $1, unnest(ARRAY['approval.read', 'approval.approve', 'approval.reject'])",
    )
    .bind(ROLE)
    .execute(pool)
    .await?;
    let role = RoleId::parse(ROLE)?;

    let admin = caller(service, "bench-admin", "admin").await?;
    let requester = caller(service, "bench-requester", "requester").await?;
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

/// Decide every id with raw SQL: connection `i` decides its share as approver `i`. The
/// connections come back for the next phase.
async fn raw_phase(
    conns: Vec<PgConnection>,
    approvers: &Arc<Vec<Approver>>,
    ids: &[String],
) -> anyhow::Result<(Vec<PgConnection>, Phase)> {
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let approvers = Arc::clone(approvers);
            let ids = share(ids, i);
            tokio::spawn(async move {
                let who = &approvers[i];
                let mut samples = Vec::with_capacity(ids.len());
                for id in ids {
                    let t = Instant::now();
                    raw_approve(&mut conn, who, &id)
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

/// One approve decided with the statements the service issues, in the same order, on one
/// connection: the key read, then one transaction.
async fn raw_approve(conn: &mut PgConnection, who: &Approver, id: &str) -> anyhow::Result<()> {
    let now = clock::now();
    let request_id = countersign_http::request_id::mint();
    let principal_id = who.principal.id.to_string();

    let key = sqlx::query(KEY_AUTH_SQL)
        .bind(who.token.key_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .context("unknown key")?;
    let permissions: Vec<String> = key.try_get("permissions")?;
    ensure!(permissions.iter().any(|p| p == "approval.approve"));

    let mut tx = conn.begin().await?;
    let approval = sqlx::query(LOCK_APPROVAL_SQL)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .context("no such approval")?;
    let state: String = approval.try_get("state")?;
    ensure!(state == "pending", "approval is {state}");
    let job_id: String = approval.try_get("job_id")?;
    let policy_id: String = approval.try_get("policy_id")?;
    let _votes: Vec<PgRow> = sqlx::query(VOTES_SQL)
        .bind(vec![id])
        .fetch_all(&mut *tx)
        .await?;
    let roles: Vec<String> = sqlx::query_scalar(ROLES_OF_SQL)
        .bind(&principal_id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query(INSERT_VOTE_SQL)
        .bind(id)
        .bind(&principal_id)
        .bind("approve")
        .bind(None::<&str>)
        .bind(&roles)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(GET_JOB_SQL)
        .bind(&job_id)
        .fetch_optional(&mut *tx)
        .await?
        .context("an approval's job is missing")?;
    let decided = sqlx::query(DECIDE_SQL)
        .bind(id)
        .bind("approved")
        .bind(&principal_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    ensure!(decided.rows_affected() == 1, "already decided");
    sqlx::query(TRANSITION_JOB_SQL)
        .bind(&job_id)
        .bind("awaiting_approval")
        .bind("pending")
        .bind(now)
        .bind(None::<&str>)
        .fetch_optional(&mut *tx)
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
    let bodies = events
        .iter()
        .map(|e| Ok((e, serde_json::to_string(e)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut qb = QueryBuilder::<Postgres>::new(APPEND_AUDIT_SQL);
    qb.push_values(bodies, |mut row, (e, body)| {
        row.push_bind(e.event_id.to_string())
            .push_bind(e.ts)
            .push_bind(e.category.as_str())
            .push_bind(e.action.clone())
            .push_bind(actor_kind(e.actor.kind))
            .push_bind(e.actor.id.clone())
            .push_bind(e.actor.name.clone())
            .push_bind(e.resource.kind.clone())
            .push_bind(e.resource.id.clone())
            .push_bind(e.authorization.decision.as_str())
            .push_bind(e.result.as_str())
            .push_bind(e.request_id.clone())
            .push_bind(e.ingested_by.clone())
            .push_bind(body)
            .push_unseparated("::json");
    });
    qb.push(" ON CONFLICT (event_id) DO NOTHING");
    let appended = qb.build().persistent(false).execute(&mut *tx).await?;
    ensure!(appended.rows_affected() == 2, "audit events not appended");
    tx.commit().await?;
    Ok(())
}

fn actor_kind(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "user",
        ActorKind::Service => "service",
        ActorKind::System => "system",
    }
}

/// Every approval of the run is `approved` with its job `pending`, with one vote and the two
/// audit events each: the figures count work that was really done.
async fn verify(pool: &PgPool, ids: &[String]) -> anyhow::Result<()> {
    let (approved, pending, votes): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE a.state = 'approved'), \
                count(*) FILTER (WHERE j.status = 'pending'), \
                (SELECT count(*) FROM votes v WHERE v.approval_id = ANY($1)) \
         FROM approvals a JOIN jobs j ON j.id = a.job_id WHERE a.id = ANY($1)",
    )
    .bind(ids)
    .fetch_one(pool)
    .await?;
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events \
         WHERE resource_type = 'approval' AND resource_id = ANY($1) \
           AND action IN ('approval.voted', 'approval.approved')",
    )
    .bind(ids)
    .fetch_one(pool)
    .await?;
    let n = ids.len() as i64;
    ensure!(
        approved == n && pending == n && votes == n && events == 2 * n,
        "verification failed: of {n} approvals, {approved} approved, {pending} jobs pending, \
         {votes} votes, {events} audit events (want {})",
        2 * n
    );
    report(
        SUITE,
        "verified: approvals approved, jobs pending, votes, events",
        format!("{approved}, {pending}, {votes}, {events}"),
    );
    Ok(())
}
