//! [`PgTransaction`]: one PostgreSQL transaction exposing every repository.
//!
//! It owns a pooled connection for its whole life. [`Transaction::commit`] makes its writes
//! durable; dropping it without committing rolls back (sqlx queues the `ROLLBACK` on the
//! connection before it returns to the pool), so an early `?` keeps nothing.
//!
//! Deferred constraints (a policy that requires approval must have rules) are checked at
//! commit, so `commit` can fail with `StoreError::Check`.

use std::fmt;

use async_trait::async_trait;
use countersign_store::{StoreResult, Transaction};
use sqlx::{PgConnection, Postgres};

use crate::error::map_sqlx;

/// A read-write transaction on PostgreSQL (READ COMMITTED); see [`crate::PgStore`].
pub struct PgTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
}

impl PgTransaction {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Postgres>) -> Self {
        Self { tx }
    }

    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTransaction").finish_non_exhaustive()
    }
}

#[async_trait]
impl Transaction for PgTransaction {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(map_sqlx)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.tx.rollback().await.map_err(map_sqlx)
    }
}
