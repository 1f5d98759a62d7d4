//! [`SqliteOptions`], and the pragmas every connection runs with (set by
//! [`crate::SqliteDialect`]'s `connect`).
//!
//! Every connection the store opens runs with:
//! - `journal_mode = WAL`: readers (key authentication, exports, readiness) never block the
//!   writer and the writer never blocks them; each read sees one committed snapshot.
//! - `synchronous = FULL`: every COMMIT is fsynced to the WAL before it returns, so a
//!   committed approval, vote or audit event survives a power loss or OS crash — the same
//!   promise PostgreSQL's default (`synchronous_commit = on`) makes. (`NORMAL` would be faster
//!   but may lose the last commits on power loss; an audit trail should not.)
//! - `foreign_keys = ON`, and a busy timeout (default 5 s): a writer waits that long for the
//!   write lock held by another connection — of this pool, or of another process (a server
//!   and a scheduler sharing one file) — before the store answers `Unavailable`.
//!
//! An in-memory database (`sqlite::memory:`) lives only as long as its pool and is shared
//! through SQLite's shared cache, which locks whole tables; the store therefore keeps it on
//! one connection, which every call takes in turn: fine for a demo or a quick test, but a
//! caller holding a transaction (or an unfinished export) makes every other call wait.

use std::time::Duration;

/// Connection pool settings for [`crate::SqliteStore::connect_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The most connections the pool opens (default 8). Writers take turns on SQLite's one
    /// write lock whatever this is; more connections let reads (authentication, exports) run
    /// beside a writer. An in-memory database always uses one.
    pub max_connections: u32,
    /// How long a statement waits for a lock another connection holds (SQLite's busy
    /// timeout, default 5 s) before the store answers `StoreError::Unavailable`.
    pub busy_timeout: Duration,
    /// How long a caller waits for a free pooled connection (default 5 s) before the store
    /// answers `StoreError::Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}
