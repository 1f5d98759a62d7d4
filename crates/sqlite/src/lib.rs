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
//! Map:
//! - [`store`] — [`SqliteStore`], [`SqliteOptions`], migrations, readiness, the streaming
//!   audit export.
//! - [`tx`] — [`SqliteTransaction`], the unit of work.
//! - one module per aggregate: [`principals`], [`keys`], [`roles`], [`policies`],
//!   [`subjects`], [`jobs`], [`approvals`], [`audit`].
//! - [`error`] — SQLite errors → [`countersign_store::StoreError`], with PostgreSQL's
//!   constraint names.
//! - `timestamp`, `rows` and `sql` (private): the fixed-width text timestamps, row structs →
//!   domain values, and shared SQL building.
//!
//! The schema lives in `migrations/sqlite` at the workspace root and is embedded in
//! [`MIGRATOR`].

pub mod approvals;
pub mod audit;
pub mod error;
pub mod gauges;
pub mod jobs;
pub mod keys;
pub mod policies;
pub mod principals;
pub mod roles;
mod rows;
mod sql;
pub mod store;
pub mod subjects;
mod timestamp;
pub mod tx;

pub use store::{SqliteOptions, SqliteStore, MIGRATOR};
pub use tx::SqliteTransaction;
