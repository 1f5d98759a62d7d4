//! [`PgDialect`]: PostgreSQL's side of [`Dialect`].
//!
//! Instants are `timestamptz`, JSON columns `jsonb`, string lists `text[]`. Rows are locked
//! with `FOR UPDATE`; batch reads for workers and the scheduler add `SKIP LOCKED`, so
//! concurrent claimers and reapers each lock different rows and never wait on one another. An
//! error aborts the whole transaction, so multi-statement writes need no savepoint.

use countersign_sql::{Dialect, DriverResults};
use std::time::Duration;

use countersign_store::decode::CorruptRow;
use countersign_store::{RolePosture, StoreError, StoreResult};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use time::OffsetDateTime;

use crate::options::PgOptions;
use crate::{PgDialect, MIGRATOR};

impl Dialect for PgDialect {
    type DB = Postgres;
    type Options = PgOptions;
    type Time = OffsetDateTime;

    /// The first connection is opened now, so a wrong URL or an unreachable server fails
    /// here (`Unavailable`, or `Other` for a bad URL).
    fn role_posture(pool: &PgPool) -> BoxFuture<'_, StoreResult<Option<RolePosture>>> {
        Box::pin(async move { crate::privileges::role_posture(pool).await.map(Some) })
    }

    fn connect(url: &str, options: PgOptions) -> BoxFuture<'_, StoreResult<PgPool>> {
        PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // No ping before every checkout: it costs a round trip per transaction. A
            // connection the server dropped fails its first query, which answers 503 and is
            // then discarded; idle and old connections are recycled before that can matter.
            .test_before_acquire(false)
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(1800))
            .connect(url)
            .map(|pool| pool.map_err(Self::map_error))
            .boxed()
    }

    // The oldest transaction still running: every transaction below it has ended.
    const XACT_HORIZON: &'static str = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)";

    fn outbox_wakeups(pool: &PgPool) -> Option<BoxStream<'static, StoreResult<()>>> {
        Some(crate::listener::outbox_wakeups(pool.clone()))
    }

    const NAME: &'static str = "postgres";
    const MIGRATOR: &'static sqlx::migrate::Migrator = &MIGRATOR;
    // An error aborts the whole transaction: nothing half-done can be committed.
    const SAVEPOINTS: bool = false;

    fn encode_time(t: OffsetDateTime) -> OffsetDateTime {
        t
    }

    // READ COMMITTED; rows are locked as they are read, and batch reads for workers and
    // scheduler replicas skip the rows another transaction holds.
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    // One sequencer at a time: a transaction-level advisory lock, released at commit or
    // rollback (so a sequencer that dies mid-batch frees the turn with its connection).
    const LOG_LEAD: &'static str = "SELECT pg_try_advisory_xact_lock(7240135791) AS lead";

    fn decode_time(_: &'static str, value: OffsetDateTime) -> StoreResult<OffsetDateTime> {
        Ok(value)
    }

    // Lists are `text[]`.
    type List = Vec<String>;
    const IN_LIST: &'static str = "= ANY({list})";
    const INT_IN_LIST: &'static str = "= ANY(CAST({list} AS bigint[]))";
    const LIST_TABLE: &'static str = "unnest({list}::text[]) WITH ORDINALITY AS x (value, ord)";

    fn encode_list(items: Vec<String>) -> Vec<String> {
        items
    }

    const ARRAY: &'static str = "ARRAY(SELECT {expr} FROM {from} ORDER BY {order})";
    type Json = serde_json::Value;
    const JSON_TEXT_CAST: &'static str = "::json";

    fn decode_list(_: &'static str, value: Vec<String>) -> StoreResult<Vec<String>> {
        Ok(value)
    }

    const JSON_OBJECTS: &'static str = "COALESCE((SELECT jsonb_agg(jsonb_build_object({fields}) \
         ORDER BY {order}) FROM {from}), '[]'::jsonb)";

    const JSON_FIELDS: &'static str =
        "(SELECT e ->> '{field}' AS value FROM jsonb_array_elements({column}) AS e) AS j";

    fn decode_json<T: DeserializeOwned>(
        column: &'static str,
        value: serde_json::Value,
    ) -> StoreResult<T> {
        let text = value.to_string();
        serde_json::from_value(value)
            .map_err(|e| StoreError::other(CorruptRow::new(column, &text, e)))
    }

    fn encode_json<T: Serialize>(value: &T) -> StoreResult<serde_json::Value> {
        serde_json::to_value(value).map_err(StoreError::other)
    }
}
