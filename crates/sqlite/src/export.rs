//! The streaming audit export: keyset chunks in one read transaction (one WAL snapshot).
//!
//! SQLite has no server-side cursor, so each chunk is a query continuing strictly after the
//! stored `(ts, event_id)` of the last row sent (its leaf index, for a leaf range); a deferred read transaction pins the snapshot
//! at its first SELECT, which every later chunk reads too.

use countersign_sql::audit::{export_chunk, export_order, leaf_column, EXPORT_FROM};
use countersign_sql::{DriverResults, ExportAudit};
use countersign_store::{ExportFilter, ExportRange, ExportRow, StoreResult};
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::{timestamp, SqliteDialect};

/// The state of an export stream.
enum Export {
    /// Not started: the pool to take a connection from, and what to export.
    Start {
        pool: SqlitePool,
        filter: ExportFilter,
    },
    /// The snapshot transaction, and where the next chunk starts.
    Open {
        tx: sqlx::Transaction<'static, Sqlite>,
        cursor: ExportCursor,
    },
    /// Every row was sent and the transaction committed.
    Done,
}

/// Where an export stands: what it covers, the rows still allowed, and the order key of the
/// last row sent.
struct ExportCursor {
    filter: ExportFilter,
    remaining: Option<u64>,
    after: Option<Position>,
}

/// The order key of a row sent, as stored.
enum Position {
    /// `(ts, event_id)`, in a window's order.
    Time(String, String),
    /// The leaf index, in a leaf range's order.
    Leaf(i64),
}

impl ExportCursor {
    /// The next chunk: within the range, strictly after the last row sent, in the range's
    /// order.
    fn query(&self, limit: u64) -> QueryBuilder<'static, Sqlite> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("{EXPORT_FROM} WHERE "));
        match self.filter.range {
            ExportRange::Window { from, to } => {
                qb.push("a.ts >= ")
                    .push_bind(timestamp::encode(from))
                    .push(" AND a.ts < ")
                    .push_bind(timestamp::encode(to));
            }
            ExportRange::Leaves { first, last } => {
                qb.push("l.leaf_index >= ")
                    .push_bind(leaf_column(first))
                    .push(" AND l.leaf_index <= ")
                    .push_bind(leaf_column(last));
            }
        }
        if let Some(category) = self.filter.category {
            qb.push(" AND a.category = ").push_bind(category.as_str());
        }
        if let Some((ts, id)) = &self.filter.after {
            qb.push(" AND (a.ts, a.event_id) > (")
                .push_bind(timestamp::encode(*ts))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        match &self.after {
            None => {}
            Some(Position::Time(ts, id)) => {
                qb.push(" AND (a.ts, a.event_id) > (")
                    .push_bind(ts.clone())
                    .push(", ")
                    .push_bind(id.clone())
                    .push(")");
            }
            Some(Position::Leaf(index)) => {
                qb.push(" AND l.leaf_index > ").push_bind(*index);
            }
        }
        qb.push(export_order(&self.filter.range))
            .push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        qb
    }

    /// The position after `row`, the last row of a chunk.
    fn position(&self, row: &(String, String, String, Option<i64>)) -> Option<Position> {
        let (ts, id, _, leaf) = row;
        match self.filter.range {
            ExportRange::Window { .. } => Some(Position::Time(ts.clone(), id.clone())),
            ExportRange::Leaves { .. } => leaf.map(Position::Leaf),
        }
    }
}

impl ExportAudit for SqliteDialect {
    /// Stream the export's rows in chunks of at most `chunk_size`.
    fn export_audit(
        pool: SqlitePool,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        let chunk = u64::from(chunk_size.max(1));
        stream::try_unfold(Export::Start { pool, filter }, move |state| async move {
            let (mut tx, mut cursor) = match state {
                Export::Start { pool, filter } => {
                    let tx = pool.begin().await.map_err(SqliteDialect::map_error)?;
                    let cursor = ExportCursor {
                        remaining: filter.limit,
                        after: None,
                        filter,
                    };
                    (tx, cursor)
                }
                Export::Open { tx, cursor } => (tx, cursor),
                Export::Done => return Ok(None),
            };
            let want = cursor.remaining.map_or(chunk, |r| r.min(chunk));
            if want == 0 {
                tx.commit().await.map_err(SqliteDialect::map_error)?;
                return Ok(None);
            }
            let rows: Vec<(String, String, String, Option<i64>)> = cursor
                .query(want)
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *tx)
                .await
                .map_err(SqliteDialect::map_error)?;
            let fetched = rows.len() as u64;
            let next = if fetched < want {
                // Exhausted: end the snapshot now rather than after one more read that could
                // only find nothing.
                tx.commit().await.map_err(SqliteDialect::map_error)?;
                Export::Done
            } else {
                if let Some(last) = rows.last() {
                    cursor.after = cursor.position(last);
                }
                cursor.remaining = cursor.remaining.map(|r| r - fetched);
                Export::Open { tx, cursor }
            };
            Ok(export_chunk::<SqliteDialect>(rows)?.map(|rows| (rows, next)))
        })
        .boxed()
    }
}
