//! [`SqlStore`]: a backend over one connection pool — transactions, key authentication,
//! readiness (the database answers and every migration of this build is applied), the
//! dialect's export, and the reads done outside any transaction (the event stream's).

use async_trait::async_trait;
use countersign_domain::{KeyId, MessageId};
use countersign_store::{
    ExportFilter, ExportRow, KeyAuthRecord, RolePosture, Store, StoreError, StoreResult,
    StreamBatch, StreamPosition, Transaction,
};
use futures::stream::BoxStream;
use sqlx::Pool;

use crate::db::Run;
use crate::dialect::{Dialect, ExportAudit};
use crate::event_stream;
use crate::keys::key_auth_record;
use crate::sql::Sql;
use crate::tx::SqlTransaction;

/// A SQL backend: a cheap-to-clone handle on a connection pool.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::DB>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &D::NAME)
            .field("pool", &self.pool)
            .finish()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Connect with the dialect's default pool options.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, D::Options::default()).await
    }

    /// Connect with explicit pool options. The first connection is opened now, so a wrong
    /// URL or an unreachable database fails here (`Unavailable`, or `Other` for a bad URL).
    pub async fn connect_with(url: &str, options: D::Options) -> Result<Self, StoreError> {
        Ok(Self::from_pool(D::connect(url, options).await?))
    }

    /// Wrap an existing pool.
    pub fn from_pool(pool: Pool<D::DB>) -> Self {
        Self { pool }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &Pool<D::DB> {
        &self.pool
    }

    /// Apply every pending embedded migration. Run it from one process (the server) before
    /// others use the database.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        <D::DB as Run>::migrate(&self.pool, D::MIGRATOR)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => D::map_error(e),
                other => StoreError::other(other),
            })
    }
}

#[async_trait]
impl<D: ExportAudit> Store for SqlStore<D> {
    fn backend(&self) -> &'static str {
        D::NAME
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let tx = self.pool.begin_with(D::BEGIN).await.map_err(D::map_error)?;
        Ok(Box::new(SqlTransaction::<D>::new(tx)))
    }

    async fn key_auth_record(&self, id: KeyId) -> StoreResult<Option<KeyAuthRecord>> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        key_auth_record::<D>(&mut conn, id).await
    }

    async fn readiness(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        Sql::<D>::new("SELECT 1").execute(&mut conn).await?;
        let applied: Vec<i64> = Sql::<D>::new("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut conn, |r| r.get("_sqlx_migrations.version"))
            .await
            .map_err(|e| match e {
                unavailable @ StoreError::Unavailable(_) => unavailable,
                // No migrations table at all.
                _ => StoreError::Unavailable("schema not current".into()),
            })?;
        // Every migration of this build must be applied. Migrations are append-only and
        // backward-compatible, so a database a newer build migrated further is current for
        // this build too (rolling deploys).
        let current = D::MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .all(|m| applied.contains(&m.version));
        if current {
            Ok(())
        } else {
            Err(StoreError::Unavailable("schema not current".into()))
        }
    }

    async fn role_posture(&self) -> StoreResult<Option<RolePosture>> {
        D::role_posture(&self.pool).await
    }

    async fn pending_approvals_by_policy(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        // One `GROUP BY` over the pending rows (the partial index `approvals_pending_age`
        // covers `state = 'pending'`), cheap enough for every `/metrics` scrape.
        Sql::<D>::new(
            "SELECT policy_id, count(*) AS n FROM approvals WHERE state = 'pending' \
             GROUP BY policy_id",
        )
        .fetch_all(&mut conn, |r| {
            let n: i64 = r.get("n")?;
            Ok((r.get("policy_id")?, u64::try_from(n).unwrap_or(0)))
        })
        .await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        D::export_audit(self.pool.clone(), filter, chunk_size)
    }

    async fn stream_messages(&self, after: StreamPosition, limit: u32) -> StoreResult<StreamBatch> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        event_stream::stream_messages::<D>(&mut conn, after, limit).await
    }

    async fn stream_position(&self, id: MessageId) -> StoreResult<Option<StreamPosition>> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        event_stream::stream_position::<D>(&mut conn, id).await
    }

    async fn stream_head(&self) -> StoreResult<StreamPosition> {
        let mut conn = self.pool.acquire().await.map_err(D::map_error)?;
        event_stream::stream_head::<D>(&mut conn).await
    }

    fn outbox_wakeups(&self) -> Option<BoxStream<'static, StoreResult<()>>> {
        D::outbox_wakeups(&self.pool)
    }
}
