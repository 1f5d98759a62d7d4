//! [`PgOptions`]: the connection pool's settings.

use std::time::Duration;

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
