//! A fresh, migrated test database on either backend — PostgreSQL (one per `#[sqlx::test]`) or
//! SQLite (a file in a scratch directory) — with the few raw operations tests need: counting
//! rows, running a statement, fetching a scalar or a column.
//!
//! The SQL the tests send is written once for both backends: `$1`-style parameters (SQLite
//! reads them too), `CAST(x AS TEXT)` rather than `x::text`, and [`Db::now`] for the current
//! time in each backend's own encoding.

use std::sync::Arc;
use std::time::Duration;

use countersign_postgres::PgStore;
use countersign_sqlite::SqliteStore;
use countersign_store::Store;
use countersign_testkit::TempDir;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Decode, PgPool, Postgres, Sqlite, SqlitePool, Type};

/// The database a test runs on.
#[derive(Clone)]
pub enum Db {
    /// A database `#[sqlx::test]` made and migrated with `migrations/postgres`.
    Postgres(PgPool),
    /// A file in a scratch directory, migrated with `migrations/sqlite`; the directory goes
    /// when the last clone of this goes.
    Sqlite { pool: SqlitePool, dir: Arc<TempDir> },
}

/// A value a scalar query may answer on both backends.
pub trait Scalar:
    for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + Send
    + Unpin
{
}

impl<T> Scalar for T where
    T: for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + Send
        + Unpin
{
}

impl Db {
    /// A migrated SQLite database in a file of a fresh scratch directory.
    pub async fn sqlite() -> Self {
        let dir = TempDir::new("http-test");
        let url = format!("sqlite://{}?mode=rwc", dir.join("countersign.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect to SQLite");
        store.migrate().await.expect("migrate SQLite");
        Self::Sqlite {
            pool: store.pool().clone(),
            dir: Arc::new(dir),
        }
    }

    /// A store over this database.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Postgres(pool) => Arc::new(PgStore::from_pool(pool.clone())),
            Self::Sqlite { pool, .. } => Arc::new(SqliteStore::from_pool(pool.clone())),
        }
    }

    /// A second pool to the same database that gives up on a connection after two seconds:
    /// for a server whose database goes away ([`Db::close`]) while this one stays.
    pub async fn another_pool(&self) -> Self {
        let wait = Duration::from_secs(2);
        match self {
            Self::Postgres(pool) => Self::Postgres(
                PgPoolOptions::new()
                    .acquire_timeout(wait)
                    .connect_with(pool.connect_options().as_ref().clone())
                    .await
                    .expect("a second PostgreSQL pool"),
            ),
            Self::Sqlite { pool, dir } => Self::Sqlite {
                pool: SqlitePoolOptions::new()
                    .acquire_timeout(wait)
                    .connect_with(pool.connect_options().as_ref().clone())
                    .await
                    .expect("a second SQLite pool"),
                dir: dir.clone(),
            },
        }
    }

    /// Close this pool: every later use of it fails.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite { pool, .. } => pool.close().await,
        }
    }

    /// The SQL expression for the current time, as this backend stores timestamps.
    pub fn now(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "now()",
            Self::Sqlite { .. } => "strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'",
        }
    }

    /// Run one statement with `binds` as `$1`, `$2`, …; the rows it touched.
    pub async fn try_execute(&self, sql: &str, binds: &[&str]) -> Result<u64, sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                Ok(q.execute(pool).await?.rows_affected())
            }
            Self::Sqlite { pool, .. } => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                Ok(q.execute(pool).await?.rows_affected())
            }
        }
    }

    /// [`Db::try_execute`], which must succeed.
    pub async fn execute(&self, sql: &str, binds: &[&str]) -> u64 {
        self.try_execute(sql, binds)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row `sql` answers.
    pub async fn column<T: Scalar>(&self, sql: &str, binds: &[&str]) -> Vec<T> {
        let rows = match self {
            Self::Postgres(pool) => {
                let mut q = sqlx::query_scalar(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(pool).await
            }
            Self::Sqlite { pool, .. } => {
                let mut q = sqlx::query_scalar(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                q.fetch_all(pool).await
            }
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one value `sql` answers (`None` when it answers no row).
    pub async fn optional<T: Scalar>(&self, sql: &str, binds: &[&str]) -> Option<T> {
        let mut rows = self.column(sql, binds).await;
        assert!(rows.len() <= 1, "{sql}: more than one row");
        rows.pop()
    }

    /// The one value `sql` answers.
    pub async fn scalar<T: Scalar>(&self, sql: &str, binds: &[&str]) -> T {
        self.optional(sql, binds)
            .await
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// How many rows `table` holds.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}"), &[])
            .await
    }
}
