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
