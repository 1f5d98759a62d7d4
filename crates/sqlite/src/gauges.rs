//! Reads for gauges that show the state right now, cheap enough for every `/metrics` scrape.

use countersign_store::StoreResult;
use sqlx::SqlitePool;

use crate::error::map_sqlx;

/// Approvals pending now, per policy id: one `GROUP BY` over the pending rows (the partial
/// index `approvals_pending_age` covers `state = 'pending'`).
pub async fn pending_approvals_by_policy(pool: &SqlitePool) -> StoreResult<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT policy_id, count(*) FROM approvals WHERE state = 'pending' GROUP BY policy_id",
    )
    .fetch_all(pool)
    .await
    .map_err(map_sqlx)?;
    Ok(rows
        .into_iter()
        .map(|(policy, n)| (policy, u64::try_from(n).unwrap_or(0)))
        .collect())
}
