//! Opening the database the URL names: `postgres://…` → PostgreSQL, `sqlite:…` → SQLite.

use std::sync::Arc;

use countersign_postgres::{PgOptions, PgStore};
use countersign_sqlite::{SqliteOptions, SqliteStore};
use countersign_store::{Store, StoreError};

use crate::database::DatabaseUrl;

/// An opened backend.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Database {
    /// Connect to the database `url` names, with at most `max_connections` pooled.
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<Database, StoreError> {
        match url.backend() {
            Some(Backend::Postgres) => PgStore::connect_with(
                url.expose(),
                PgOptions {
                    max_connections,
                    ..PgOptions::default()
                },
            )
            .await
            .map(Database::Postgres),
            Some(Backend::Sqlite) => SqliteStore::connect_with(
                url.expose(),
                SqliteOptions {
                    max_connections,
                    ..SqliteOptions::default()
                },
            )
            .await
            .map(Database::Sqlite),
            None => Err(StoreError::Unavailable(format!(
                "unsupported database URL scheme `{}`",
                url.scheme()
            ))),
        }
    }

    /// Like [`open`](Self::open), but a PostgreSQL pool connects on first use instead of now,
    /// so a process can start (and answer `/healthz`) while the server is still down; its
    /// `/readyz` answers 503 until the database answers. SQLite opens at once.
    pub async fn open_lazy(
        url: &DatabaseUrl,
        max_connections: u32,
    ) -> Result<Database, StoreError> {
        match url.backend() {
            Some(Backend::Postgres) => {
                let defaults = PgOptions::default();
                // The same pool settings as `PgStore::connect_with`, without the first
                // connection.
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(defaults.acquire_timeout)
                    .test_before_acquire(false)
                    .idle_timeout(std::time::Duration::from_secs(300))
                    .max_lifetime(std::time::Duration::from_secs(1800))
                    .connect_lazy(url.expose())
                    .map_err(|e| StoreError::Other(format!("database URL: {e}").into()))?;
                Ok(Database::Postgres(PgStore::from_pool(pool)))
            }
            _ => Self::open(url, max_connections).await,
        }
    }

    /// Apply this build's pending migrations (idempotent; safe with several processes).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Database::Postgres(s) => s.migrate().await,
            Database::Sqlite(s) => s.migrate().await,
        }
    }

    /// The store the service runs on.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Database::Postgres(s) => Arc::new(s.clone()),
            Database::Sqlite(s) => Arc::new(s.clone()),
        }
    }
}

/// The backends a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}
