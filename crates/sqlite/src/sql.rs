//! Shared SQL building: `WHERE … AND …` chains, keyset pagination, JSON-array binds and
//! per-operation savepoints.
//!
//! Every list reads `limit + 1` rows newest first and continues strictly after the cursor:
//! `(created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?` — no OFFSET, so each
//! page is one index range scan whatever its depth. Timestamps compare as their fixed-width
//! text (see `crate::timestamp`), ids by byte order (SQLite's BINARY collation).

use countersign_store::{Cursor, PageRequest, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::map_sqlx;
use crate::timestamp;

/// Appends conditions to a query, writing `WHERE` before the first and `AND` before the rest.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    any: bool,
}

impl Conditions {
    /// Start a condition: push ` WHERE ` or ` AND `; the caller pushes the condition itself.
    pub fn next(&mut self, qb: &mut QueryBuilder<'_, Sqlite>) {
        qb.push(if self.any { " AND " } else { " WHERE " });
        self.any = true;
    }
}

/// Push the keyset condition (when the page continues a cursor), the newest-first order and
/// the `LIMIT limit + 1` of a page over columns `ts_col` and `id_col`.
pub(crate) fn push_page(
    qb: &mut QueryBuilder<'_, Sqlite>,
    conditions: &mut Conditions,
    ts_col: &str,
    id_col: &str,
    page: &PageRequest,
) {
    if let Some(after) = &page.after {
        conditions.next(qb);
        qb.push(format_args!("({ts_col}, {id_col}) < ("))
            .push_bind(timestamp::encode(after.ts))
            .push(", ")
            .push_bind(after.id.clone())
            .push(")");
    }
    qb.push(format_args!(
        " ORDER BY {ts_col} DESC, {id_col} DESC LIMIT "
    ))
    .push_bind(i64::from(page.limit) + 1);
}

/// The cursor of a row in a `(created_at, id)`-ordered list, from the stored timestamp.
pub(crate) fn cursor(ts: time::OffsetDateTime, id: impl ToString) -> Cursor {
    Cursor::new(ts, id.to_string())
}

/// A list of strings as one JSON array bind, for `IN (SELECT value FROM json_each(?))`.
pub(crate) fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::Value::Array(
        items
            .into_iter()
            .map(|s| serde_json::Value::String(s.to_owned()))
            .collect(),
    )
    .to_string()
}

/// Run a multi-statement repository operation atomically inside the transaction: its writes
/// all stay or all go, whatever the caller does after an error. (PostgreSQL aborts the whole
/// transaction on an error; SQLite only undoes the failing statement, so a savepoint keeps an
/// operation such as "insert a policy and its rules" from leaving half of itself behind.)
pub(crate) struct Savepoint;

impl Savepoint {
    pub async fn start(conn: &mut SqliteConnection) -> StoreResult<Savepoint> {
        sqlx::query("SAVEPOINT store_op")
            .execute(conn)
            .await
            .map_err(map_sqlx)?;
        Ok(Savepoint)
    }

    /// Keep the operation's writes on `Ok`, undo them on `Err`; answer `result` either way.
    pub async fn finish<T>(
        self,
        conn: &mut SqliteConnection,
        result: StoreResult<T>,
    ) -> StoreResult<T> {
        let sql = if result.is_ok() {
            "RELEASE store_op"
        } else {
            "ROLLBACK TO store_op; RELEASE store_op"
        };
        sqlx::query(sql).execute(conn).await.map_err(map_sqlx)?;
        result
    }
}
