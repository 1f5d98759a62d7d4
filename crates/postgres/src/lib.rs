//! Countersign's PostgreSQL backend.
//!
//! [`PgStore`] implements [`countersign_store::Store`] over a [`sqlx::PgPool`]; the
//! transactions it begins ([`PgTransaction`]) implement every repository trait. Queries are
//! runtime queries (`sqlx::query_as` with `FromRow` row structs, `QueryBuilder` for dynamic
//! filters and multi-row inserts), so building this crate never needs a database.
//!
//! Map:
//! - [`store`] — [`PgStore`], pool options, migrations, readiness, streaming audit export.
//! - [`tx`] — [`PgTransaction`], the unit of work.
//! - one module per aggregate: [`principals`], [`keys`], [`roles`], [`policies`],
//!   [`subjects`], [`jobs`], [`approvals`], [`audit`].
//! - [`error`] — sqlx errors → [`countersign_store::StoreError`].
//! - `rows` and `sql` (private): row structs → domain values, and shared SQL building.
//!
//! The schema lives in `migrations/postgres` at the workspace root and is embedded in
//! [`MIGRATOR`].

pub mod approvals;
pub mod audit;
pub mod error;
pub mod gauges;
pub mod jobs;
pub mod keys;
pub mod policies;
pub mod principals;
pub mod privileges;
pub mod roles;
mod rows;
mod sql;
pub mod store;
pub mod subjects;
pub mod tx;

pub use privileges::{grant_runtime, role_posture, runtime_grants_sql};
pub use store::{PgOptions, PgStore, MIGRATOR};
pub use tx::PgTransaction;
