//! Readiness: the database answers and its schema is current for this build.

use countersign_store::{StoreError, StoreResult};
use sqlx::PgPool;

use crate::error::map_sqlx;
use crate::MIGRATOR;

/// The newest migration version embedded in this build.
fn newest_migration() -> Option<i64> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .max()
}

/// `Ok` when the database answers and its schema is current; `Unavailable` otherwise.
pub(crate) async fn check(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await.map_err(map_sqlx)?;
    sqlx::query("SELECT 1")
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| match map_sqlx(e) {
                unavailable @ StoreError::Unavailable(_) => unavailable,
                // No migrations table at all.
                _ => StoreError::Unavailable("schema not current".into()),
            })?;
    // Migrations apply in order and are backward-compatible, so a database a newer build has
    // already migrated further is current for this build too (rolling deploys).
    if applied.is_some() && applied >= newest_migration() {
        Ok(())
    } else {
        Err(StoreError::Unavailable("schema not current".into()))
    }
}
