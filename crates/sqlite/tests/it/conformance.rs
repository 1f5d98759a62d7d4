//! The backend-agnostic conformance suite on SQLite: every function of
//! `countersign_store::conformance` is its own test, on its own freshly migrated database
//! file (`#[sqlx::test]` makes one per test; the store reopens it in WAL mode with a pool).

countersign_store::conformance_tests! {
    #[sqlx::test(migrations = false)]
    |pool: sqlx::SqlitePool| crate::support::conformance_store(pool).await
}
