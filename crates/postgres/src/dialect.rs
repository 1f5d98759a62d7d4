//! [`PgDialect`]: PostgreSQL's side of [`Dialect`].
//!
//! Instants are `timestamptz`, JSON columns `jsonb`, string lists `text[]`. Rows are locked
//! with `FOR UPDATE`; batch reads for workers and the scheduler add `SKIP LOCKED`, so
//! concurrent claimers and reapers each lock different rows and never wait on one another. An
//! error aborts the whole transaction, so multi-statement writes need no savepoint.

use countersign_sql::Dialect;
use countersign_store::decode::CorruptRow;
use countersign_store::{ExportFilter, ExportRow, StoreError, StoreResult};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::error::DatabaseError;
use sqlx::postgres::PgQueryResult;
use sqlx::{PgPool, Postgres};
use time::OffsetDateTime;

use crate::error::map_database;
use crate::options::{connect, PgOptions};
use crate::{export, MIGRATOR};

/// The PostgreSQL dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgDialect;

impl Dialect for PgDialect {
    type DB = Postgres;
    type Time = OffsetDateTime;
    type Json = serde_json::Value;
    type List = Vec<String>;
    type Options = PgOptions;

    const NAME: &'static str = "postgres";
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const JSON_TEXT_CAST: &'static str = "::json";
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    const SAVEPOINTS: bool = false;

    fn encode_time(t: OffsetDateTime) -> OffsetDateTime {
        t
    }

    fn decode_time(_: &'static str, value: OffsetDateTime) -> StoreResult<OffsetDateTime> {
        Ok(value)
    }

    fn encode_json<T: Serialize>(value: &T) -> StoreResult<serde_json::Value> {
        serde_json::to_value(value).map_err(StoreError::other)
    }

    fn decode_json<T: DeserializeOwned>(
        column: &'static str,
        value: serde_json::Value,
    ) -> StoreResult<T> {
        let text = value.to_string();
        serde_json::from_value(value)
            .map_err(|e| StoreError::other(CorruptRow::new(column, &text, e)))
    }

    fn encode_list(items: Vec<String>) -> Vec<String> {
        items
    }

    fn decode_list(_: &'static str, value: Vec<String>) -> StoreResult<Vec<String>> {
        Ok(value)
    }

    fn in_list(param: &str) -> String {
        format!("= ANY({param})")
    }

    fn list_table(param: &str) -> String {
        format!("unnest({param}::text[]) WITH ORDINALITY AS x (value, ord)")
    }

    fn array(expr: &str, from: &str, order: &str) -> String {
        format!("ARRAY(SELECT {expr} FROM {from} ORDER BY {order})")
    }

    fn json_objects(fields: &str, from: &str, order: &str) -> String {
        format!(
            "COALESCE((SELECT jsonb_agg(jsonb_build_object({fields}) ORDER BY {order}) \
             FROM {from}), '[]'::jsonb)"
        )
    }

    fn map_database(e: Box<dyn DatabaseError>) -> StoreError {
        map_database(e)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn connect(url: &str, options: PgOptions) -> BoxFuture<'_, StoreResult<PgPool>> {
        connect(url, options).boxed()
    }

    fn export_audit(
        pool: PgPool,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        export::stream(pool, filter, chunk_size)
    }
}
