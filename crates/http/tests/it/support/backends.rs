//! Running one test body on every backend.
//!
//! A test is written once, as `async fn name(db: Db)`, and `both_backends!(name);` (next to
//! it) makes the module `name` with two tests: `name::postgres`, on a fresh PostgreSQL
//! database migrated with `migrations/postgres` (`#[sqlx::test]`), and `name::sqlite`, on a
//! fresh SQLite file in a scratch directory migrated with `migrations/sqlite`. A test that
//! holds on one backend only uses `postgres_only!` or `sqlite_only!`, with a comment saying why.
//!
//! Every test of the binary shares one process, and with it the global metrics recorder. A
//! test that reads counters (`both_backends!(name, alone);`) runs while no other test does;
//! every other test runs alongside the rest.

/// Held shared by every test and exclusively by the tests that run alone.
pub static TURN: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// `name::postgres` and `name::sqlite`, each calling `async fn name(db: Db)`; with `alone`,
/// while no other test runs.
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            postgres_test!($name, read);
            sqlite_test!($name, read);
        }
    };
    ($name:ident, alone) => {
        mod $name {
            postgres_test!($name, write);
            sqlite_test!($name, write);
        }
    };
}

/// `name::postgres` only.
#[allow(unused_macros)]
macro_rules! postgres_only {
    ($name:ident) => {
        mod $name {
            postgres_test!($name, read);
        }
    };
}

/// `name::sqlite` only.
#[allow(unused_macros)]
macro_rules! sqlite_only {
    ($name:ident) => {
        mod $name {
            sqlite_test!($name, read);
        }
    };
}

macro_rules! postgres_test {
    ($name:ident, $turn:ident) => {
        #[sqlx::test(migrations = "../../migrations/postgres")]
        async fn postgres(pool: sqlx::PgPool) {
            let _turn = $crate::support::backends::TURN.$turn().await;
            let db = $crate::support::Db::Postgres(pool);
            assert_eq!(db.store().backend(), "postgres");
            super::$name(db).await
        }
    };
}

macro_rules! sqlite_test {
    ($name:ident, $turn:ident) => {
        #[tokio::test]
        async fn sqlite() {
            let _turn = $crate::support::backends::TURN.$turn().await;
            let db = $crate::support::Db::sqlite().await;
            assert_eq!(db.store().backend(), "sqlite");
            super::$name(db).await
        }
    };
}
