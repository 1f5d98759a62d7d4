//! [`PgStore`]: the pool, migrations, readiness, key authentication and the audit export.

use std::time::Duration;

use async_trait::async_trait;
use countersign_domain::KeyId;
use countersign_store::{ExportFilter, ExportRow, Store, StoreError, StoreResult, Transaction};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::{map_migrate, map_sqlx};
use crate::rows::{parse, AuditRow};
use crate::tx::PgTransaction;

/// The embedded migrations (`migrations/postgres` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connection pool settings for [`PgStore::connect_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// The most connections the pool opens (default 10).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the store answers
    /// `StoreError::Unavailable` (default 5 s).
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL backend: a cheap-to-clone handle on a connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect with [`PgOptions::default`].
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connect with explicit pool options. The first connection is opened now, so a wrong
    /// URL or an unreachable server fails here (`Unavailable`, or `Other` for a bad URL).
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // No ping before every checkout: it costs a round trip per transaction. A
            // connection the server dropped fails its first query, which answers 503 and is
            // then discarded; idle and old connections are recycled before that can matter.
            .test_before_acquire(false)
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(1800))
            .connect(url)
            .await
            .map_err(map_sqlx)?;
        Ok(Self { pool })
    }

    /// Wrap an existing pool.
    pub fn from_pool(pool: PgPool) -> PgStore {
        Self { pool }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply every pending migration of [`MIGRATOR`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(map_migrate)
    }
}

/// The newest migration version embedded in this build.
fn newest_migration() -> Option<i64> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .max()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let tx = self.pool.begin().await.map_err(map_sqlx)?;
        Ok(Box::new(PgTransaction::new(tx)))
    }

    async fn key_auth_record(
        &self,
        id: KeyId,
    ) -> StoreResult<Option<countersign_store::KeyAuthRecord>> {
        crate::keys::key_auth_record(&self.pool, id).await
    }

    async fn readiness(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| match map_sqlx(e) {
                    unavailable @ StoreError::Unavailable(_) => unavailable,
                    // No migrations table at all.
                    _ => StoreError::Unavailable("schema not current".into()),
                })?;
        // Migrations apply in order and are backward-compatible, so a database a newer build
        // has already migrated further is current for this build too (rolling deploys).
        if applied.is_some() && applied >= newest_migration() {
            Ok(())
        } else {
            Err(StoreError::Unavailable("schema not current".into()))
        }
    }

    async fn role_posture(&self) -> StoreResult<Option<countersign_store::RolePosture>> {
        crate::privileges::role_posture(&self.pool).await.map(Some)
    }

    async fn pending_approvals_by_policy(&self) -> StoreResult<Vec<(String, u64)>> {
        crate::gauges::pending_approvals_by_policy(&self.pool).await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        let chunk = chunk_size.max(1);
        stream::try_unfold(
            Export::Start(self.pool.clone(), filter),
            move |state| async move {
                let mut tx = match state {
                    Export::Start(pool, filter) => open_export(&pool, &filter).await?,
                    Export::Open(tx) => tx,
                    Export::Done => return Ok(None),
                };
                let rows: Vec<AuditRow> = sqlx::query_as(&format!("FETCH {chunk} FROM export"))
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                let next = if rows.len() < chunk as usize {
                    // The cursor is exhausted: end the snapshot now rather than after one more
                    // round trip that would only find no rows.
                    tx.commit().await.map_err(map_sqlx)?;
                    Export::Done
                } else {
                    Export::Open(tx)
                };
                if rows.is_empty() {
                    return Ok(None);
                }
                let rows = rows
                    .into_iter()
                    .map(|r| {
                        Ok(ExportRow {
                            ts: r.ts,
                            event_id: parse("audit_events.event_id", &r.event_id)?,
                            line: r.body,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Some((rows, next)))
            },
        )
        .boxed()
    }
}

/// The state of an export stream.
enum Export {
    /// Not started: the pool to take a connection from, and what to export.
    Start(PgPool, ExportFilter),
    /// The snapshot transaction holding the open cursor `export`.
    Open(sqlx::Transaction<'static, Postgres>),
    /// Every row was sent and the transaction committed.
    Done,
}

/// Begin a read-only snapshot and declare the export cursor in it.
async fn open_export(
    pool: &PgPool,
    filter: &ExportFilter,
) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(map_sqlx)?;
    let mut qb = QueryBuilder::<Postgres>::new(
        "DECLARE export NO SCROLL CURSOR FOR \
         SELECT ts, event_id, body::text AS body FROM audit_events WHERE ts >= ",
    );
    qb.push_bind(filter.from)
        .push(" AND ts < ")
        .push_bind(filter.to);
    if let Some(category) = filter.category {
        qb.push(" AND category = ").push_bind(category.as_str());
    }
    if let Some((ts, id)) = &filter.after {
        qb.push(" AND (ts, event_id) > (")
            .push_bind(*ts)
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    qb.push(" ORDER BY ts, event_id");
    if let Some(limit) = filter.limit {
        qb.push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    qb.build()
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
    Ok(tx)
}
