//! Countersign's PostgreSQL backend.
//!
//! The repositories are implemented once, in `countersign-sql`, generic over a dialect; this
//! crate supplies PostgreSQL's ([`PgDialect`]) and names the result: [`PgStore`] implements
//! [`countersign_store::Store`] over a [`sqlx::PgPool`], and the transactions it begins
//! ([`PgTransaction`]) implement every repository trait.
//!
//! Map:
//! - [`dialect`] — [`PgDialect`]: `timestamptz`, `jsonb`, `text[]`, `FOR UPDATE [SKIP LOCKED]`,
//!   `= ANY($1)`, `ARRAY(…)` and `jsonb_agg` aggregation.
//! - [`options`] — [`PgOptions`] and opening the pool.
//! - [`error`] — sqlx errors → [`countersign_store::StoreError`].
//! - [`export`] — the streaming audit export, which has no shared form.
//! - [`listener`] — LISTEN on the outbox's notifications: the event stream's and the
//!   scheduler's wake-up.
//!
//! The schema lives in `migrations/postgres` at the workspace root and is embedded in
//! [`MIGRATOR`].

pub mod dialect;
pub mod error;
pub mod export;
pub mod listener;
pub mod options;
pub mod privileges;

pub use options::PgOptions;
pub use privileges::{grant_runtime, role_posture, runtime_grants_sql};

/// The PostgreSQL dialect of the shared SQL repositories (see [`dialect`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PgDialect;

/// The PostgreSQL backend: a cheap-to-clone handle on a connection pool.
pub type PgStore = countersign_sql::SqlStore<PgDialect>;

/// A read-write transaction on PostgreSQL (READ COMMITTED).
pub type PgTransaction = countersign_sql::SqlTransaction<PgDialect>;

/// The embedded migrations (`migrations/postgres` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
