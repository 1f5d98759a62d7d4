//! Countersign's SQLite backend: run Countersign on one database file, no server to install.
//!
//! [`SqliteStore`] implements [`countersign_store::Store`] over a [`sqlx::SqlitePool`]; the
//! transactions it begins ([`SqliteTransaction`]) implement every repository trait and pass
//! the same conformance suite as PostgreSQL. Production keeps PostgreSQL; this backend is for
//! trying Countersign out, development, and small single-host installs.
//!
//! The concurrency model in one paragraph: the database runs in WAL mode, so readers never
//! block the writer nor each other; every read-write transaction starts with
//! `BEGIN IMMEDIATE`, taking SQLite's single write lock up front (waiting up to the busy
//! timeout for it), so two writers never deadlock on a lock upgrade. Holding the write lock
//! is stronger than any row lock: `lock_job`, `lock_approval`, `lock_role`, and the
//! `FOR UPDATE SKIP LOCKED` reads (`claim_job`, `lock_expired_leases`,
//! `lock_due_approvals`) are plain reads inside that transaction, and no other transaction —
//! in this process or another one sharing the file — can write until it ends. So a row is
//! never handed to two transactions at once; a second claimer or reaper waits its turn and
//! then sees the first one's committed result instead of skipping past a held row.
//!
//! The repositories are implemented once, in `countersign-sql`; this crate supplies SQLite's
//! dialect ([`SqliteDialect`]) and names the result.
//!
//! Map:
//! - [`dialect`] — [`SqliteDialect`]: text timestamps, JSON text, `json_each` lists,
//!   `json_group_array` aggregation, `BEGIN IMMEDIATE`, savepoints.
//! - [`options`] — [`SqliteOptions`], the pragmas, and opening the pool.
//! - [`error`] — SQLite errors → [`countersign_store::StoreError`], with PostgreSQL's
//!   constraint names.
//! - [`export`] — the streaming audit export, which has no shared form.
//! - `timestamp` (private): the fixed-width text timestamps.
//!
//! The schema lives in `migrations/sqlite` at the workspace root and is embedded in
//! [`MIGRATOR`].

pub mod dialect;
pub mod error;
pub mod export;
pub mod options;
mod timestamp;

pub use options::SqliteOptions;

/// The SQLite dialect of the shared SQL repositories (see [`dialect`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// The SQLite backend: a cheap-to-clone handle on a connection pool over one database.
pub type SqliteStore = countersign_sql::SqlStore<SqliteDialect>;

/// A read-write transaction on SQLite (`BEGIN IMMEDIATE`).
pub type SqliteTransaction = countersign_sql::SqlTransaction<SqliteDialect>;

/// The embedded migrations (`migrations/sqlite` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
