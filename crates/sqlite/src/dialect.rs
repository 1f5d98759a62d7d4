//! [`SqliteDialect`]: SQLite's side of [`Dialect`].
//!
//! Instants are fixed-width UTC text (see `crate::timestamp`), JSON columns text, and string
//! lists travel as one JSON array bound once and unpacked with `json_each`. Every read-write
//! transaction begins with `BEGIN IMMEDIATE` and so holds the single write lock: row locks
//! and `SKIP LOCKED` have nothing left to add and are empty here (see the crate docs). A failing
//! statement undoes only itself, so multi-statement writes run inside a savepoint.

use countersign_sql::{Dialect, DriverResults};
use std::str::FromStr;

use countersign_store::decode::CorruptRow;
use countersign_store::{StoreError, StoreResult};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use time::OffsetDateTime;

use crate::options::SqliteOptions;
use crate::timestamp;
use crate::{SqliteDialect, MIGRATOR};

impl Dialect for SqliteDialect {
    type DB = Sqlite;
    type Options = SqliteOptions;
    type Time = String;

    /// `url` is `sqlite://path/to/file.db` (add `?mode=rwc` to create the file when missing)
    /// or `sqlite::memory:`. The first connection is opened now, so a missing file (without
    /// `mode=rwc`) or an unwritable directory fails here (`Unavailable`, or `Other` for a
    /// malformed URL). See [`crate::options`] for the pragmas.
    fn connect(url: &str, options: SqliteOptions) -> BoxFuture<'_, StoreResult<SqlitePool>> {
        Box::pin(async move {
            let mut connect = SqliteConnectOptions::from_str(url)
                .map_err(Self::map_error)?
                .foreign_keys(true)
                .busy_timeout(options.busy_timeout)
                .synchronous(SqliteSynchronous::Full);
            let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
            if url.contains(":memory:") || url.contains("mode=memory") {
                // The database lives as long as one connection does: keep exactly one, forever.
                pool = pool
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            } else {
                connect = connect.journal_mode(SqliteJournalMode::Wal);
                pool = pool.max_connections(options.max_connections.max(1));
            }
            pool.connect_with(connect).await.map_err(Self::map_error)
        })
    }

    // One writer at a time: `seq` order is commit order and every visible outbox message is
    // settled (`xact_id` is 0 on every row).
    const XACT_HORIZON: &'static str = "9223372036854775807";

    const NAME: &'static str = "sqlite";
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    // A failing statement undoes only itself: multi-statement writes need a savepoint.
    const SAVEPOINTS: bool = true;

    fn encode_time(t: OffsetDateTime) -> String {
        timestamp::encode(t)
    }

    // The write lock is taken at BEGIN and held to the end: no row lock has anything to
    // add, and no row is ever held by another writer to be skipped.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    // The write lock taken at BEGIN already makes this transaction the only sequencer.
    const LOG_LEAD: &'static str = "SELECT 1 AS lead";

    fn decode_time(column: &'static str, value: String) -> StoreResult<OffsetDateTime> {
        timestamp::decode(column, &value)
    }

    // Lists travel as one JSON array, bound once and unpacked by `json_each`.
    type List = String;
    const IN_LIST: &'static str = "IN (SELECT value FROM json_each({list}))";
    const INT_IN_LIST: &'static str = "IN (SELECT CAST(value AS INTEGER) FROM json_each({list}))";
    const LIST_TABLE: &'static str = "(SELECT value, key AS ord FROM json_each({list})) AS x";

    fn encode_list(items: Vec<String>) -> String {
        serde_json::Value::from(items).to_string()
    }

    const ARRAY: &'static str = "(SELECT json_group_array({expr} ORDER BY {order}) FROM {from})";
    type Json = String;
    const JSON_TEXT_CAST: &'static str = "";

    fn decode_list(column: &'static str, value: String) -> StoreResult<Vec<String>> {
        Self::decode_json(column, value)
    }

    const JSON_OBJECTS: &'static str =
        "(SELECT json_group_array(json_object({fields}) ORDER BY {order}) \
         FROM {from})";
    const JSON_FIELDS: &'static str =
        "(SELECT json_extract(e.value, '$.{field}') AS value FROM json_each({column}) AS e) AS j";

    fn decode_json<T: DeserializeOwned>(column: &'static str, value: String) -> StoreResult<T> {
        serde_json::from_str(&value)
            .map_err(|e| StoreError::other(CorruptRow::new(column, &value, e)))
    }

    fn encode_json<T: Serialize>(value: &T) -> StoreResult<String> {
        serde_json::to_string(value).map_err(StoreError::other)
    }
}
