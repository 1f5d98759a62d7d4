//! [`PgOptions`]: the connection pool's settings, and opening it.

use std::time::Duration;

use countersign_store::StoreError;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::error::map_sqlx;

/// Connection pool settings for [`crate::PgStore::connect_with`].
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

/// Open a pool on `url`. The first connection is opened now, so a wrong URL or an unreachable
/// server fails here (`Unavailable`, or `Other` for a bad URL).
pub(crate) async fn connect(url: &str, options: PgOptions) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        // No ping before every checkout: it costs a round trip per transaction. A connection
        // the server dropped fails its first query, which answers 503 and is then discarded;
        // idle and old connections are recycled before that can matter.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .connect(url)
        .await
        .map_err(map_sqlx)
}
