//! The backend-agnostic conformance suite on PostgreSQL: every function of
//! `countersign_store::conformance` is its own test, on its own freshly migrated database
//! (`#[sqlx::test]` creates one per test on `DATABASE_URL`).

use std::sync::Arc;

use countersign_postgres::PgStore;

countersign_store::conformance_tests! {
    #[sqlx::test(migrations = "../../migrations/postgres")]
    |pool: sqlx::PgPool| Arc::new(PgStore::from_pool(pool))
}
