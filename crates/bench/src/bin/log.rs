//! The `log` suite: the transparency log on PostgreSQL, beside raw PostgreSQL doing the same
//! queue-to-leaves statements in the same run.
//!
//! - **Sealing**: `BENCH_LOG_EVENTS` (default 200,000) events are stored first (not timed, and
//!   queued by the database as any append is); then the sequencer (`Service::sequence_log`,
//!   `BENCH_LOG_BATCH` events per transaction, default 10,000) turns them all into leaves,
//!   tiles and checkpoints → leaves/s. Each event's leaf hash is computed when it is stored
//!   (the setup's time includes it) and queued with it, as every append does. Beside it, the
//!   raw baseline moves the same number of queued rows into a twin leaves table with the
//!   sequencer's statements (read the batch's positions, ids and leaf hashes, `INSERT …
//!   SELECT … unnest`, `DELETE … WHERE seq = ANY`) and nothing else: no tree hashing, no
//!   tiles, no head, no signature, and no overlap (one connection, one statement after the
//!   other).
//! - **Lag**: `BENCH_LOG_WRITERS` (default 4) HTTP clients ingest events through the real
//!   router (`POST /api/v1/audit/events`, NDJSON appends of `BENCH_LOG_APPEND` events, default
//!   100, at most 1,000, bodies prepared before the clock starts), together at
//!   `BENCH_LOG_RATE` events/s (default 10,000; each writer paced at its share, offset from
//!   the others) for `BENCH_LOG_SECONDS` (default 10), while the sequencer runs a pass,
//!   pauses `BENCH_LOG_PAUSE_MS` (default 100) and runs again. The
//!   rate achieved is reported (appends sent over the time to the last answer). The lag of an
//!   append is from its answer (after its commit) to the end of the first pass whose tree
//!   holds its last leaf (looked up by event id afterwards) → p50/p99/max.
//! - **Proofs**: `GET /api/v1/audit/{id}/proof` for 2,000 random sequenced events through the
//!   real router on 127.0.0.1 (one client, keep-alive) → p50/p99.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{ensure, Context};
use countersign_bench::{fresh_database, ms, report, report_machine_context, Latency};
use countersign_domain::{Actor, ActorKind, AuditEvent, Category, PrincipalKind, Resource};
use countersign_http::HttpConfig;
use countersign_postgres::{PgOptions, PgStore};
use countersign_service::tlog::LogSigner;
use countersign_service::{Service, ServiceConfig};
use countersign_store::Store;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use sqlx::{Connection, Executor, PgConnection};

const SUITE: &str = "log";

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(
        Category::Access,
        "document.viewed",
        Actor {
            kind: ActorKind::User,
            id: format!("u-{}", n % 977),
            name: Some(format!("user{}", n % 977)),
            key_id: Some("sso-session".into()),
        },
        Resource::new("document", format!("doc-{n}")),
    )
    .request_id(Some(&format!("req-{n:08}")))
    .details(serde_json::json!({"client": "bench", "bytes": n % 65_536, "tenant": "acme"}))
}

async fn store_events(store: &PgStore, n: usize, chunk: usize) -> anyhow::Result<()> {
    let mut done = 0;
    while done < n {
        let events: Vec<AuditEvent> = (done..(done + chunk).min(n)).map(event).collect();
        let mut tx = store.begin().await?;
        tx.append_audit(&events).await?;
        tx.commit().await?;
        done += events.len();
    }
    Ok(())
}

fn service(store: &PgStore, signer: &LogSigner, batch: u32) -> Service {
    Service::new(
        Arc::new(store.clone()),
        ServiceConfig {
            log_batch: batch,
            ..ServiceConfig::default()
        },
    )
    .with_log_signer(signer.clone())
}

/// Sealing: Countersign's sequencer, then the raw statements on the same number of rows.
async fn sealing(
    url: &str,
    store: &PgStore,
    signer: &LogSigner,
    events: usize,
    batch: u32,
) -> anyhow::Result<()> {
    let t = Instant::now();
    store_events(store, events, 1000).await?;
    report(
        SUITE,
        &format!("sealing setup: store {events} events in"),
        format!("{:.2} s", t.elapsed().as_secs_f64()),
    );
    let svc = service(store, signer, batch);
    let t = Instant::now();
    let done = svc.sequence_log().await?;
    let took = t.elapsed();
    ensure!(
        done.leaves as usize >= events,
        "sequenced {} of {events}",
        done.leaves
    );
    let ours = done.leaves as f64 / took.as_secs_f64();
    report(
        SUITE,
        &format!("sealing: Countersign sequencer, batches of {batch} (leaves/s)"),
        format!(
            "{ours:.0} ({} leaves, {} checkpoints, {:.2} s)",
            done.leaves,
            done.checkpoints,
            took.as_secs_f64()
        ),
    );

    // Raw: the same rows queued again in a twin queue, moved batch by batch.
    let mut conn = PgConnection::connect(url).await?;
    conn.execute(
        "CREATE TABLE raw_pending (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         event_id text NOT NULL UNIQUE, leaf_hash bytea); \
         CREATE TABLE raw_leaves (leaf_index bigint PRIMARY KEY, event_id text NOT NULL UNIQUE); \
         INSERT INTO raw_pending (event_id, leaf_hash) SELECT l.event_id, a.leaf_hash \
         FROM log_leaves l JOIN audit_events a ON a.event_id = l.event_id ORDER BY l.leaf_index",
    )
    .await?;
    let t = Instant::now();
    let mut next: i64 = 0;
    loop {
        let mut tx = conn.begin().await?;
        let rows: Vec<(i64, String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT seq, event_id, leaf_hash FROM raw_pending ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            break;
        }
        let (positions, ids): (Vec<i64>, Vec<String>) =
            rows.into_iter().map(|(seq, id, _)| (seq, id)).unzip();
        sqlx::query(
            "INSERT INTO raw_leaves (leaf_index, event_id) \
             SELECT $1 + ROW_NUMBER() OVER (ORDER BY x.ord) - 1, x.value \
             FROM unnest($2::text[]) WITH ORDINALITY AS x (value, ord)",
        )
        .bind(next)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM raw_pending WHERE seq = ANY($1)")
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        next += ids.len() as i64;
    }
    let took = t.elapsed();
    let raw = next as f64 / took.as_secs_f64();
    report(
        SUITE,
        "sealing: raw PostgreSQL, the same queue-to-leaves statements (rows/s)",
        format!("{raw:.0} ({next} rows, {:.2} s)", took.as_secs_f64()),
    );
    report(
        SUITE,
        "sealing: ratio Countersign / raw",
        format!("{:.2}x", ours / raw),
    );
    Ok(())
}

/// The real router served in-process on 127.0.0.1:0 over `svc`, with an admin key: its base
/// URL and the key.
async fn serve(svc: &Service, name: &str) -> anyhow::Result<(String, String)> {
    let key = svc
        .bootstrap_key(name, PrincipalKind::Service, Some(&"admin".parse()?), None)
        .await?
        .minted
        .token
        .expose()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let served = svc.clone();
    tokio::spawn(async move {
        let _ = countersign_http::serve(
            listener,
            served,
            HttpConfig::default(),
            std::future::pending(),
        )
        .await;
    });
    Ok((base, key))
}

/// Lag: writers ingesting at a steady rate through `POST /api/v1/audit/events`, and a polling
/// sequencer.
#[allow(clippy::too_many_arguments)]
async fn lag(
    url: &str,
    store: &PgStore,
    signer: &LogSigner,
    batch: u32,
    rate: usize,
    seconds: usize,
    pause: StdDuration,
    writers: usize,
    append: usize,
) -> anyhow::Result<()> {
    let svc = service(store, signer, batch);
    let (base, key) = serve(&svc, "bench-lag").await?;
    // Start from an empty queue.
    let start_size = svc.sequence_log().await?.tree_size;
    // Every request body prepared up front, with its event ids: each writer sends every
    // `writers`-th append.
    let appends = rate * seconds / append;
    let mut n = 10_000_000usize;
    let mut bodies: Vec<Vec<(Vec<String>, bytes::Bytes)>> = vec![Vec::new(); writers];
    for a in 0..appends {
        let events: Vec<AuditEvent> = (n..n + append).map(event).collect();
        n += append;
        let ids = events.iter().map(|e| e.event_id.to_string()).collect();
        let body: String = events.iter().map(|e| e.to_json_line() + "\n").collect();
        bodies[a % writers].push((ids, bytes::Bytes::from(body)));
    }
    let client = reqwest::Client::new();
    let endpoint = format!("{base}/api/v1/audit/events");
    let stop = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (w, mine) in bodies.into_iter().enumerate() {
        let client = client.clone();
        let endpoint = endpoint.clone();
        let auth = format!("Bearer {key}");
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            // Writer `w` sends its appends at `rate / writers` events/s, offset from the
            // others so the appends are spread evenly.
            let every = StdDuration::from_secs_f64((append * writers) as f64 / rate as f64);
            let start = tokio::time::Instant::now() + every.mul_f64(w as f64 / writers as f64);
            let mut tick = tokio::time::interval_at(start, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut commits = Vec::with_capacity(mine.len());
            for (ids, body) in mine {
                tick.tick().await;
                let r = client
                    .post(&endpoint)
                    .header(CONTENT_TYPE, "application/x-ndjson")
                    .header(AUTHORIZATION, &auth)
                    .body(body)
                    .send()
                    .await?;
                let status = r.status();
                let answer = r.bytes().await?;
                let at = Instant::now();
                ensure!(
                    status.is_success(),
                    "ingest answered {status}: {}",
                    String::from_utf8_lossy(&answer)
                );
                commits.push((at, ids));
            }
            stop.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            anyhow::Ok(commits)
        }));
    }
    let mut passes: Vec<(Instant, u64)> = Vec::new();
    loop {
        let finished = stop.load(std::sync::atomic::Ordering::SeqCst) == writers;
        let report = svc.sequence_log().await?;
        passes.push((Instant::now(), report.tree_size));
        if finished && report.leaves == 0 {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let mut commits = Vec::new();
    for t in tasks {
        commits.extend(t.await??);
    }
    let last_commit = commits
        .iter()
        .map(|(at, _)| *at)
        .max()
        .context("no appends")?;
    let written = commits.len() * append;
    let achieved = written as f64 / last_commit.duration_since(t0).as_secs_f64();
    // Each append is sequenced by the first pass whose tree holds its last leaf.
    let mut conn = PgConnection::connect(url).await?;
    let leaves: std::collections::HashMap<String, i64> =
        sqlx::query_as("SELECT event_id, leaf_index FROM log_leaves WHERE leaf_index >= $1")
            .bind(i64::try_from(start_size)?)
            .fetch_all(&mut conn)
            .await?
            .into_iter()
            .collect();
    let mut lags = Vec::with_capacity(commits.len());
    for (at, ids) in &commits {
        let mut last = 0u64;
        for id in ids {
            let leaf = leaves
                .get(id)
                .with_context(|| format!("{id} was never sequenced"))?;
            last = last.max(u64::try_from(*leaf)?);
        }
        let covered = passes
            .iter()
            .find(|(_, size)| *size > last)
            .context("an append was never sequenced")?;
        lags.push(covered.0.saturating_duration_since(*at));
    }
    let l = Latency::of(&mut lags);
    report(
        SUITE,
        &format!(
            "lag: ingest {written} events, {writers} writers × appends of {append}, aimed {rate}/s"
        ),
        format!("{achieved:.0} events/s achieved"),
    );
    report(
        SUITE,
        &format!(
            "lag: commit to sequenced, pass every {} (p50/p99/max)",
            ms(pause)
        ),
        format!("{} / {} / {}", ms(l.p50), ms(l.p99), ms(l.max)),
    );
    Ok(())
}

/// Proof latency through the real router.
async fn proofs(
    url: &str,
    store: &PgStore,
    signer: &LogSigner,
    samples: usize,
) -> anyhow::Result<()> {
    let svc = service(store, signer, 10_000);
    svc.sequence_log().await?;
    let (base, key) = serve(&svc, "bench").await?;
    // Checkpoint the bootstrap's events too, so every sampled event has a proof.
    svc.sequence_log().await?;
    let mut conn = PgConnection::connect(url).await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT event_id FROM log_leaves WHERE leaf_index < (SELECT max(tree_size) FROM log_checkpoints) \
         ORDER BY md5(event_id) LIMIT $1",
    )
    .bind(samples as i64)
    .fetch_all(&mut conn)
    .await?;
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(ids.len());
    for id in &ids {
        let t = Instant::now();
        let r = client
            .get(format!("{base}/api/v1/audit/{id}/proof"))
            .header(AUTHORIZATION, format!("Bearer {key}"))
            .send()
            .await?;
        ensure!(r.status().is_success(), "proof of {id}: {}", r.status());
        r.bytes().await?;
        times.push(t.elapsed());
    }
    let size: i64 = sqlx::query_scalar("SELECT max(tree_size) FROM log_checkpoints")
        .fetch_one(&mut conn)
        .await?;
    let l = Latency::of(&mut times);
    report(
        SUITE,
        &format!(
            "proofs: GET /audit/{{id}}/proof, {} events of a {size}-leaf log (p50/p99)",
            l.count
        ),
        format!("{} / {}", ms(l.p50), ms(l.p99)),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env_usize("BENCH_LOG_EVENTS", 200_000)?;
    let batch = u32::try_from(env_usize("BENCH_LOG_BATCH", 10_000)?)?;
    let rate = env_usize("BENCH_LOG_RATE", 10_000)?;
    let seconds = env_usize("BENCH_LOG_SECONDS", 10)?;
    let pause = StdDuration::from_millis(env_usize("BENCH_LOG_PAUSE_MS", 100)? as u64);
    let writers = env_usize("BENCH_LOG_WRITERS", 4)?;
    let append = env_usize("BENCH_LOG_APPEND", 100)?;
    ensure!(
        events > 0 && batch > 0 && rate > 0 && seconds > 0 && writers > 0,
        "sizes must be positive"
    );
    ensure!(
        (1..=1000).contains(&append),
        "BENCH_LOG_APPEND is 1 to 1000 (the ingest limit)"
    );

    let url = fresh_database("countersign_bench_log").await?;
    let store = PgStore::connect_with(
        &url,
        PgOptions {
            max_connections: 8,
            ..PgOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    report_machine_context(SUITE, store.pool()).await?;
    let (signer, _) = LogSigner::generate("bench.countersign.example/log")?;
    report(
        SUITE,
        "setup",
        format!(
            "{events} events sealed in batches of {batch}; lag at ~{rate}/s for {seconds} s \
             from {writers} writers"
        ),
    );
    sealing(&url, &store, &signer, events, batch).await?;
    lag(
        &url, &store, &signer, batch, rate, seconds, pause, writers, append,
    )
    .await?;
    proofs(&url, &store, &signer, 2000).await?;
    Ok(())
}
