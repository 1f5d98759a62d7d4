//! The streaming audit export: a server-side cursor in one read-only snapshot.
//!
//! The stream begins a `REPEATABLE READ, READ ONLY` transaction, declares a `NO SCROLL`
//! cursor over the window in `(ts, event_id)` order (or over a leaf range in leaf order), and `FETCH`es one chunk per poll, so it
//! holds at most one chunk in memory and every chunk reads the same snapshot.

use countersign_sql::audit::{export_chunk, export_order, leaf_column, EXPORT_FROM};
use countersign_sql::{DriverResults, ExportAudit};
use countersign_store::{ExportFilter, ExportRange, ExportRow, StoreResult};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::PgDialect;

/// The state of an export stream.
enum Export {
    /// Not started: the pool to take a connection from, and what to export.
    Start(PgPool, ExportFilter),
    /// The snapshot transaction holding the open cursor `export`.
    Open(sqlx::Transaction<'static, Postgres>),
    /// Every row was sent and the transaction committed.
    Done,
}

impl ExportAudit for PgDialect {
    /// Stream the export's rows in chunks of at most `chunk_size`.
    fn export_audit(
        pool: PgPool,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        let chunk = chunk_size.max(1);
        stream::try_unfold(Export::Start(pool, filter), move |state| async move {
            let mut tx = match state {
                Export::Start(pool, filter) => open(&pool, &filter).await?,
                Export::Open(tx) => tx,
                Export::Done => return Ok(None),
            };
            let rows: Vec<(OffsetDateTime, String, String, Option<i64>)> =
                sqlx::query_as(&format!("FETCH {chunk} FROM export"))
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(PgDialect::map_error)?;
            let next = if rows.len() < chunk as usize {
                // The cursor is exhausted: end the snapshot now rather than after one more round
                // trip that would only find no rows.
                tx.commit().await.map_err(PgDialect::map_error)?;
                Export::Done
            } else {
                Export::Open(tx)
            };
            Ok(export_chunk::<PgDialect>(rows)?.map(|rows| (rows, next)))
        })
        .boxed()
    }
}

/// Begin a read-only snapshot and declare the export cursor in it.
async fn open(
    pool: &PgPool,
    filter: &ExportFilter,
) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(PgDialect::map_error)?;
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "DECLARE export NO SCROLL CURSOR FOR {EXPORT_FROM} WHERE "
    ));
    match filter.range {
        ExportRange::Window { from, to } => {
            qb.push("a.ts >= ")
                .push_bind(from)
                .push(" AND a.ts < ")
                .push_bind(to);
        }
        ExportRange::Leaves { first, last } => {
            qb.push("l.leaf_index >= ")
                .push_bind(leaf_column(first))
                .push(" AND l.leaf_index <= ")
                .push_bind(leaf_column(last));
        }
    }
    if let Some(category) = filter.category {
        qb.push(" AND a.category = ").push_bind(category.as_str());
    }
    if let Some((ts, id)) = &filter.after {
        qb.push(" AND (a.ts, a.event_id) > (")
            .push_bind(*ts)
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    qb.push(export_order(&filter.range));
    if let Some(limit) = filter.limit {
        qb.push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    qb.build()
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map_err(PgDialect::map_error)?;
    Ok(tx)
}
