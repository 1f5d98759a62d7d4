//! [`SqlTransaction`]: one database transaction exposing every repository.
//!
//! It owns a pooled connection for its whole life, begun with the dialect's BEGIN statement.
//! [`Transaction::commit`] makes its writes durable; dropping it without committing rolls back
//! (sqlx queues the `ROLLBACK` before the connection returns to the pool), so an early `?`
//! keeps nothing. Deferred constraints are checked at commit, so `commit` can fail with
//! `StoreError::Check`.

use std::fmt;

use async_trait::async_trait;
use countersign_store::{StoreResult, Transaction};

use crate::dialect::Dialect;
use crate::sql::{Conn, Sql};

/// A read-write transaction; see [`crate::SqlStore`].
pub struct SqlTransaction<D: Dialect> {
    tx: sqlx::Transaction<'static, D::DB>,
}

impl<D: Dialect> SqlTransaction<D> {
    pub(crate) fn new(tx: sqlx::Transaction<'static, D::DB>) -> Self {
        Self { tx }
    }

    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut Conn<D> {
        &mut self.tx
    }
}

impl<D: Dialect> fmt::Debug for SqlTransaction<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTransaction")
            .field("backend", &D::NAME)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<D: Dialect> Transaction for SqlTransaction<D> {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        // On failure `tx` is dropped still open, which rolls it back.
        self.tx.commit().await.map_err(D::map_commit_error)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.tx.rollback().await.map_err(D::map_error)
    }
}

/// Open a savepoint before a multi-statement write, where the dialect needs one.
pub(crate) async fn savepoint<D: Dialect>(conn: &mut Conn<D>) -> StoreResult<()> {
    if D::SAVEPOINTS {
        Sql::<D>::new("SAVEPOINT store_op").execute(conn).await?;
    }
    Ok(())
}

/// Close the savepoint: keep the operation's writes on `Ok`, undo them on `Err`; answer
/// `result` either way.
pub(crate) async fn release<D: Dialect, T>(
    conn: &mut Conn<D>,
    result: StoreResult<T>,
) -> StoreResult<T> {
    if D::SAVEPOINTS {
        if result.is_err() {
            Sql::<D>::new("ROLLBACK TO store_op").execute(conn).await?;
        }
        Sql::<D>::new("RELEASE store_op").execute(conn).await?;
    }
    result
}
