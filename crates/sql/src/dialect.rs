//! [`Dialect`]: everything that differs between the SQL backends, and nothing else.
//!
//! The repositories in this crate are written once against this trait. A backend supplies its
//! driver ([`Dialect::DB`]), how instants, JSON and string lists travel as column values, the
//! SQL fragments its engine spells differently (row locks, list membership, array
//! aggregation), the statement that begins a read-write transaction, pool setup and the
//! migrations; through [`DriverResults`] the error mapping and rows-affected count, and
//! through [`ExportAudit`] the export stream, which has no shared form.

use std::fmt::Debug;

use countersign_store::{ExportFilter, ExportRow, RolePosture, StoreResult};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{Database, Pool};
use time::OffsetDateTime;

use crate::db::{Bind, Get, SqlDb};
use crate::error::DriverResults;

/// One SQL backend's dialect.
pub trait Dialect: DriverResults + Debug + Clone + Send + Sync + Sized + 'static {
    /// The sqlx driver, able to bind and read this dialect's instants, JSON and lists.
    type DB: SqlDb
        + Database<QueryResult = <Self as DriverResults>::QueryResult>
        + Bind<Self::Time>
        + Bind<Option<Self::Time>>
        + Get<Self::Time>
        + Get<Option<Self::Time>>
        + Bind<Self::Json>
        + Get<Self::Json>
        + Bind<Self::List>
        + Get<Self::List>;
    /// How an instant is stored (`timestamptz`, or fixed-width UTC text).
    type Time: Send + 'static;
    /// How a JSON column value travels (`jsonb`, or text).
    type Json: Send + 'static;
    /// How a list of strings travels (`text[]`, or a JSON array as text).
    type List: Send + 'static;
    /// Pool settings for [`Dialect::connect`].
    type Options: Default + Send;

    /// The backend's short name for logs and metrics labels.
    const NAME: &'static str;
    /// The statement that begins a read-write transaction.
    const BEGIN: &'static str;
    /// Appended to a single-row read that must lock the row (empty where the transaction
    /// already holds the database's write lock).
    const FOR_UPDATE: &'static str;
    /// Appended to a batch read that locks rows other transactions do not hold.
    const SKIP_LOCKED: &'static str;
    /// Appended to the parameter holding an audit event's JSON text.
    const JSON_TEXT_CAST: &'static str;
    /// Whether a multi-statement write runs inside a savepoint, so a failing statement cannot
    /// leave half the operation behind (needed where an error does not abort the transaction).
    const SAVEPOINTS: bool;
    /// A query answering one boolean column, `lead`: whether this transaction now holds the
    /// transparency log's sequencer turn (until it ends), taken without waiting.
    const LOG_LEAD: &'static str;
    /// The embedded migrations.
    const MIGRATOR: &'static sqlx::migrate::Migrator;

    /// The stored form of an instant.
    fn encode_time(t: OffsetDateTime) -> Self::Time;
    /// An instant from its stored form; `column` names it in a corrupt-row error.
    fn decode_time(column: &'static str, value: Self::Time) -> StoreResult<OffsetDateTime>;
    /// The stored form of a JSON value.
    fn encode_json<T: Serialize>(value: &T) -> StoreResult<Self::Json>;
    /// A JSON value from its stored form.
    fn decode_json<T: DeserializeOwned>(column: &'static str, value: Self::Json) -> StoreResult<T>;
    /// The bind form of a list of strings.
    fn encode_list(items: Vec<String>) -> Self::List;
    /// A list of strings from its stored form.
    fn decode_list(column: &'static str, value: Self::List) -> StoreResult<Vec<String>>;

    /// SQL fragment templates; [`crate::sql::fill`] replaces their `{names}`.
    ///
    /// `IN_LIST`: membership in the list bound at `{list}`, without the left-hand side.
    const IN_LIST: &'static str;
    /// `INT_IN_LIST`: membership in the list of integers (decimal text) bound at `{list}`,
    /// without the left-hand side; an index on the left-hand column serves it.
    const INT_IN_LIST: &'static str;
    /// `LIST_TABLE`: a table `x (value, ord)` of the list bound at `{list}`, in list order.
    const LIST_TABLE: &'static str;
    /// `ARRAY`: a list-valued subquery of `{expr}` per row `FROM {from}`, ordered by `{order}`.
    const ARRAY: &'static str;
    /// `JSON_OBJECTS`: a JSON-array-valued subquery of one object (`{fields}`: `'key', value,
    /// …`) per row `FROM {from}`, ordered by `{order}`; `[]` for none.
    const JSON_OBJECTS: &'static str;
    /// `JSON_FIELDS`: a table `j (value)` of the text field `{field}` of each object in the
    /// JSON array column `{column}`.
    const JSON_FIELDS: &'static str;

    /// `XACT_HORIZON`: an SQL expression, the transaction position below which every
    /// transaction has ended (PostgreSQL: the oldest running transaction id). An outbox
    /// message whose `xact_id` is below it is settled: nothing can still commit before it in
    /// stream order (see [`crate::event_stream`]).
    const XACT_HORIZON: &'static str;

    /// Open a pool on `url`.
    fn connect(url: &str, options: Self::Options) -> BoxFuture<'_, StoreResult<Pool<Self::DB>>>;

    /// How the connecting database role stands (see `Store::role_posture`); `None` for a
    /// backend without roles.
    fn role_posture(_pool: &Pool<Self::DB>) -> BoxFuture<'_, StoreResult<Option<RolePosture>>> {
        Box::pin(async { Ok(None) })
    }

    /// A wake-up each time outbox messages commit, where the backend pushes notifications
    /// (see `countersign_store::Store::outbox_wakeups`); `None`: readers poll.
    fn outbox_wakeups(_pool: &Pool<Self::DB>) -> Option<BoxStream<'static, StoreResult<()>>> {
        None
    }
}

/// The streaming audit export, which has no shared form: a server-side cursor on PostgreSQL,
/// keyset chunks on SQLite.
pub trait ExportAudit: Dialect {
    /// The export stream (see `countersign_store::Store::export_audit`).
    fn export_audit(
        pool: Pool<Self::DB>,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>>;
}
