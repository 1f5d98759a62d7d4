//! The backend-agnostic conformance suite on SQLite: every function of
//! `countersign_store::conformance` is its own test, on its own freshly migrated database
//! file (`#[sqlx::test]` makes one per test; the store reopens it in WAL mode with a pool).

countersign_store::conformance_tests! {
    #[sqlx::test(migrations = false)]
    |pool: sqlx::SqlitePool| crate::support::conformance_store(pool).await
}

/// The list the macro expands is the suite's own list.
#[test]
fn every_conformance_function_is_a_test() {
    let all = countersign_store::conformance::ALL;
    assert!(all.len() >= 50, "{}", all.len());
    let names: std::collections::HashSet<_> = all.iter().map(|(_, n)| n).collect();
    assert_eq!(names.len(), all.len(), "test names are unique");
}
