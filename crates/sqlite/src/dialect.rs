//! [`SqliteDialect`]: SQLite's side of [`Dialect`].
//!
//! Instants are fixed-width UTC text (see `crate::timestamp`), JSON columns text, and string
//! lists travel as one JSON array bound once and unpacked with `json_each`. Every read-write
//! transaction begins with `BEGIN IMMEDIATE` and so holds the single write lock: row locks
//! and `SKIP LOCKED` have nothing left to add and are empty here (see the crate docs). A failing
//! statement undoes only itself, so multi-statement writes run inside a savepoint.

use countersign_sql::Dialect;
use countersign_store::decode::CorruptRow;
use countersign_store::{ExportFilter, ExportRow, StoreError, StoreResult};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Sqlite, SqlitePool};
use time::OffsetDateTime;

use crate::error::{map_commit, map_database};
use crate::options::{connect, SqliteOptions};
use crate::{export, timestamp, MIGRATOR};

/// The SQLite dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type DB = Sqlite;
    type Time = String;
    type Json = String;
    type List = String;
    type Options = SqliteOptions;

    const NAME: &'static str = "sqlite";
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const JSON_TEXT_CAST: &'static str = "";
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    const SAVEPOINTS: bool = true;

    fn encode_time(t: OffsetDateTime) -> String {
        timestamp::encode(t)
    }

    fn decode_time(column: &'static str, value: String) -> StoreResult<OffsetDateTime> {
        timestamp::decode(column, &value)
    }

    fn encode_json<T: Serialize>(value: &T) -> StoreResult<String> {
        serde_json::to_string(value).map_err(StoreError::other)
    }

    fn decode_json<T: DeserializeOwned>(column: &'static str, value: String) -> StoreResult<T> {
        serde_json::from_str(&value)
            .map_err(|e| StoreError::other(CorruptRow::new(column, &value, e)))
    }

    fn encode_list(items: Vec<String>) -> String {
        serde_json::Value::from(items).to_string()
    }

    fn decode_list(column: &'static str, value: String) -> StoreResult<Vec<String>> {
        Self::decode_json(column, value)
    }

    fn in_list(param: &str) -> String {
        format!("IN (SELECT value FROM json_each({param}))")
    }

    fn list_table(param: &str) -> String {
        format!("(SELECT value, key AS ord FROM json_each({param})) AS x")
    }

    fn array(expr: &str, from: &str, order: &str) -> String {
        format!("(SELECT json_group_array({expr} ORDER BY {order}) FROM {from})")
    }

    fn json_objects(fields: &str, from: &str, order: &str) -> String {
        format!("(SELECT json_group_array(json_object({fields}) ORDER BY {order}) FROM {from})")
    }

    fn map_database(e: Box<dyn DatabaseError>) -> StoreError {
        map_database(e)
    }

    fn map_commit_error(e: sqlx::Error) -> StoreError {
        map_commit(e)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn connect(url: &str, options: SqliteOptions) -> BoxFuture<'_, StoreResult<SqlitePool>> {
        connect(url, options).boxed()
    }

    fn export_audit(
        pool: SqlitePool,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        export::stream(pool, filter, chunk_size)
    }
}
