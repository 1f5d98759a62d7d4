//! [`SqlStore`]: a backend over one connection pool — transactions, key authentication, and
//! the dialect's readiness and export.

use async_trait::async_trait;
use countersign_domain::KeyId;
use countersign_store::{
    ExportFilter, ExportRow, KeyAuthRecord, Store, StoreError, StoreResult, Transaction,
};
use futures::stream::BoxStream;
use sqlx::Pool;

use crate::db::Run;
use crate::dialect::Dialect;
use crate::keys::key_auth_record;
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
        <D::DB as Run>::migrate(&self.pool, D::migrator())
            .await
            .map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => D::map_error(e),
            other => StoreError::other(other),
        })
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
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
        D::readiness(&self.pool).await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        D::export_audit(self.pool.clone(), filter, chunk_size)
    }
}
