//! Shared SQL building: `WHERE … AND …` chains and keyset pagination.
//!
//! Every list reads `limit + 1` rows newest first and continues strictly after the cursor:
//! `(created_at, id) < ($ts, $id) ORDER BY created_at DESC, id DESC LIMIT $n` — no OFFSET,
//! so each page is one index range scan whatever its depth.

use countersign_store::{Cursor, PageRequest};
use sqlx::{Postgres, QueryBuilder};

/// Appends conditions to a query, writing `WHERE` before the first and `AND` before the rest.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    any: bool,
}

impl Conditions {
    /// Start a condition: push ` WHERE ` or ` AND `; the caller pushes the condition itself.
    pub fn next<'q>(&mut self, qb: &mut QueryBuilder<'q, Postgres>) {
        qb.push(if self.any { " AND " } else { " WHERE " });
        self.any = true;
    }
}

/// Push the keyset condition (when the page continues a cursor), the newest-first order and
/// the `LIMIT limit + 1` of a page over columns `ts_col` and `id_col`.
pub(crate) fn push_page<'q>(
    qb: &mut QueryBuilder<'q, Postgres>,
    conditions: &mut Conditions,
    ts_col: &str,
    id_col: &str,
    page: &PageRequest,
) {
    if let Some(after) = &page.after {
        conditions.next(qb);
        qb.push(format_args!("({ts_col}, {id_col}) < ("))
            .push_bind(after.ts)
            .push(", ")
            .push_bind(after.id.clone())
            .push(")");
    }
    qb.push(format_args!(
        " ORDER BY {ts_col} DESC, {id_col} DESC LIMIT "
    ))
    .push_bind(i64::from(page.limit) + 1);
}

/// The cursor of a row in a `(created_at, id)`-ordered list.
pub(crate) fn cursor(ts: time::OffsetDateTime, id: impl ToString) -> Cursor {
    Cursor::new(ts, id.to_string())
}
