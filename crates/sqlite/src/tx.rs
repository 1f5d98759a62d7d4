//! [`SqliteTransaction`]: one SQLite transaction exposing every repository.
//!
//! It owns a pooled connection for its whole life and starts with `BEGIN IMMEDIATE`: it holds
//! SQLite's single write lock from the first moment, so no other transaction — in this
//! process or another one on the same file — writes until it ends, and it never has to
//! upgrade a read lock later (the upgrade that can fail with `SQLITE_BUSY` when two deferred
//! writers meet). [`Transaction::commit`] makes its writes durable; dropping it without
//! committing rolls back (sqlx sends the `ROLLBACK` to the connection's worker at once), so
//! an early `?` keeps nothing and the write lock is released promptly.
//!
//! The one deferred constraint (a policy that requires approval must have rules) is checked
//! at COMMIT, so `commit` can fail with `StoreError::Check { constraint:
//! "policies_rules_when_required" }`; the transaction is then rolled back.

use std::fmt;

use async_trait::async_trait;
use countersign_store::{StoreResult, Transaction};
use sqlx::{Sqlite, SqliteConnection};

use crate::error::{map_commit, map_sqlx};

/// A read-write transaction on SQLite (`BEGIN IMMEDIATE`); see [`crate::SqliteStore`].
pub struct SqliteTransaction {
    tx: sqlx::Transaction<'static, Sqlite>,
}

impl SqliteTransaction {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Sqlite>) -> Self {
        Self { tx }
    }

    /// The connection the transaction runs on.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl fmt::Debug for SqliteTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTransaction").finish_non_exhaustive()
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        // On failure `tx` is dropped still open, which rolls it back.
        self.tx.commit().await.map_err(map_commit)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.tx.rollback().await.map_err(map_sqlx)
    }
}
