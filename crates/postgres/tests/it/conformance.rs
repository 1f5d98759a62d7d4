//! The backend-agnostic conformance suite on PostgreSQL: every function of
//! `countersign_store::conformance` is its own test, on its own freshly migrated database
//! (`#[sqlx::test]` creates one per test on `DATABASE_URL`).

use std::sync::Arc;

use countersign_postgres::PgStore;

countersign_store::conformance_tests! {
    #[sqlx::test(migrations = "../../migrations/postgres")]
    |pool: sqlx::PgPool| Arc::new(PgStore::from_pool(pool))
}

/// The list the macro expands is the suite's own list.
#[test]
fn every_conformance_function_is_a_test() {
    let all = countersign_store::conformance::ALL;
    assert!(all.len() >= 50, "{}", all.len());
    let names: std::collections::HashSet<_> = all.iter().map(|(_, n)| n).collect();
    assert_eq!(names.len(), all.len(), "test names are unique");
}
