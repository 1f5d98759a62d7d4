//! Readiness: the database answers and every migration of this build is applied.

use countersign_store::{StoreError, StoreResult};
use sqlx::SqlitePool;

use crate::error::map_sqlx;
use crate::MIGRATOR;

/// `Ok` when the database answers and its schema is current; `Unavailable` otherwise.
pub(crate) async fn check(pool: &SqlitePool) -> StoreResult<()> {
    let mut conn = pool.acquire().await.map_err(map_sqlx)?;
    sqlx::query("SELECT 1")
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| match map_sqlx(e) {
            unavailable @ StoreError::Unavailable(_) => unavailable,
            // No migrations table at all.
            _ => StoreError::Unavailable("schema not current".into()),
        })?;
    // Every migration of this build must be applied. Migrations are append-only and
    // backward-compatible, so a database a newer build migrated further is current too.
    let current = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| applied.contains(&m.version));
    if current {
        Ok(())
    } else {
        Err(StoreError::Unavailable("schema not current".into()))
    }
}
