//! The repository implementations shared by Countersign's SQL backends.
//!
//! Every store trait is implemented here once, generic over a [`Dialect`]: PostgreSQL and
//! SQLite each supply only what truly differs (instants, JSON and list encodings, row locks,
//! list membership, array aggregation, error mapping, pool setup, migrations, readiness and
//! the export cursor). Queries are runtime queries, so building needs no database.
//!
//! Map:
//! - [`dialect`] — the [`Dialect`] trait a backend implements.
//! - [`db`] — [`SqlDb`](db::SqlDb), the sqlx capabilities the repositories need, in one trait.
//! - [`sql`] — [`Sql`], statements with numbered binds, condition chains, keyset pages.
//! - [`error`] — the driver errors every backend maps alike.
//! - [`cols`] — [`Cols`], reading a result row as domain values.
//! - [`store`] — [`SqlStore`]: the pool, transactions, key authentication.
//! - [`tx`] — [`SqlTransaction`], the unit of work.
//! - [`event_stream`] — the live event stream's reads over the outbox, outside transactions.
//! - one module per aggregate: [`principals`], [`keys`], [`roles`], [`policies`],
//!   [`subjects`], [`jobs`], [`approvals`], [`audit`], [`webhooks`], [`reminders`], [`log`],
//!   [`sessions`]; [`delivery_claim`], the webhook delivery claim.

pub mod approvals;
pub mod audit;
pub mod cols;
pub mod db;
pub mod delivery_claim;
pub mod dialect;
pub mod error;
pub mod event_stream;
pub mod jobs;
pub mod keys;
pub mod log;
pub mod policies;
pub mod principals;
pub mod reminders;
pub mod roles;
pub mod sessions;
pub mod sql;
pub mod store;
pub mod subjects;
pub mod tx;
pub mod webhooks;

pub use cols::Cols;
pub use dialect::{Dialect, ExportAudit};
pub use error::DriverResults;
pub use sql::{Conn, Sql};
pub use store::SqlStore;
pub use tx::SqlTransaction;
