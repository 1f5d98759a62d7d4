//! Shared pieces of the benchmark suites: a fresh database per run, latency statistics, a
//! uniform report line, and the machine and database context a run's figures belong to.
//!
//! Suites live in `src/bin/` and are run in release mode by `cargo xtask bench [suite]`.
//! Every suite measures Countersign and, in the same run, the raw database doing the same
//! statements, and prints both with their ratio: the machine's speed cancels out of the ratio.
//! The `approvals` suite runs on PostgreSQL and on SQLite (`BENCH_BACKEND`); `audit` on
//! PostgreSQL. `console` (PostgreSQL) measures the browser console's page latency and weight
//! against absolute goals, with no raw baseline.

use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection, SqlitePool};

/// The server the benchmarks use: `DATABASE_URL`, else the local PostgreSQL.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Create (or recreate) database `name` on the benchmark server and return its URL.
pub async fn fresh_database(name: &str) -> anyhow::Result<String> {
    let base = server_url();
    let mut admin = PgConnection::connect(&base)
        .await
        .context("connecting to PostgreSQL")?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .context("DATABASE_URL has no database part")?;
    Ok(format!("{prefix}/{name}"))
}

/// Latency statistics over a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub count: usize,
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(samples: &mut [Duration]) -> Latency {
        samples.sort_unstable();
        let count = samples.len();
        let pick = |q: f64| {
            if count == 0 {
                Duration::ZERO
            } else {
                samples[((count as f64 * q).ceil() as usize).clamp(1, count) - 1]
            }
        };
        let total: Duration = samples.iter().sum();
        Latency {
            count,
            mean: if count == 0 {
                Duration::ZERO
            } else {
                total / count as u32
            },
            p50: pick(0.50),
            p99: pick(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// Print one result line: `suite | what | figure`.
pub fn report(suite: &str, what: &str, figure: impl std::fmt::Display) {
    println!("{suite:<10} | {what:<68} | {figure}");
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Print the context a run's figures belong to: the cores this process may use, the
/// PostgreSQL version, and the server settings that bound commit latency (left at the
/// server's values; the suites never change them).
pub async fn report_machine_context<'e>(
    suite: &str,
    db: impl sqlx::PgExecutor<'e> + Copy,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    report(suite, "machine: cores available", cores);
    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(db).await?;
    report(suite, "postgres: version", version);
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings \
         WHERE name IN ('synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers', \
                        'max_connections') ORDER BY name",
    )
    .fetch_all(db)
    .await?;
    let settings: Vec<String> = settings
        .into_iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    report(suite, "postgres: settings", settings.join(", "));
    Ok(())
}

/// Print the context of a SQLite run: the cores, the SQLite version, and the pragmas that
/// bound commit latency on the store's connections (journal mode, `synchronous`, busy timeout).
pub async fn report_sqlite_context(suite: &str, pool: &SqlitePool) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    report(suite, "machine: cores available", cores);
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(pool)
        .await?;
    report(suite, "sqlite: version", version);
    let mut conn = pool.acquire().await?;
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous = match synchronous {
        0 => "OFF".to_owned(),
        1 => "NORMAL".to_owned(),
        2 => "FULL".to_owned(),
        3 => "EXTRA".to_owned(),
        n => n.to_string(),
    };
    report(
        suite,
        "sqlite: settings",
        format!("journal_mode={journal}, synchronous={synchronous}, busy_timeout={busy}ms"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&mut s);
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(l.count, 100);
    }
}
