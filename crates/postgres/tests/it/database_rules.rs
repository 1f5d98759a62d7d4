//! Rules the PostgreSQL schema enforces by itself: the shared suite
//! (`countersign_testkit::database_rules`) with raw SQL on PostgreSQL. Plus the
//! PostgreSQL-only parts of `PgStore`: migrations, readiness and connection errors.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use countersign_postgres::{PgOptions, PgStore, MIGRATOR};
use countersign_store::conformance::TestStore;
use countersign_store::{Store, StoreError};
use countersign_testkit::database_rules::{self, Refusal, RuleDb};
use sqlx::PgPool;

/// A migrated PostgreSQL database for the shared rules.
struct PgRules(PgPool);

/// The SQLSTATE and constraint name of a database error.
fn refusal(e: sqlx::Error) -> Refusal {
    match e {
        sqlx::Error::Database(db) => (
            db.code().map(|c| c.into_owned()).unwrap_or_default(),
            db.constraint().unwrap_or_default().to_owned(),
        ),
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[async_trait]
impl RuleDb for PgRules {
    fn store(&self) -> TestStore {
        Arc::new(PgStore::from_pool(self.0.clone()))
    }

    async fn exec(&self, sql: &str, binds: &[&str], commit: bool) -> Result<u64, Refusal> {
        let tx = self.0.begin().await.map_err(refusal)?;
        let done = database_rules::exec_in(tx, sql, binds, commit).await;
        done.map(|d| d.rows_affected()).map_err(refusal)
    }

    fn refusal_for(&self, name: &str) -> Refusal {
        // The audit trail refuses as a missing privilege; every other rule as a check.
        let code = match name {
            "audit_events_append_only" => "42501",
            _ => "23514",
        };
        (code.to_owned(), name.to_owned())
    }

    fn now(&self) -> &'static str {
        "now()"
    }

    fn in_an_hour(&self) -> &'static str {
        "now() + interval '1 hour'"
    }

    fn roles_literal(&self, roles: &[&str]) -> String {
        format!("'{{{}}}'", roles.join(","))
    }

    fn truncate(&self, table: &str) -> Option<String> {
        Some(format!("TRUNCATE {table}"))
    }

    fn bytes_literal(&self, hex: &str) -> String {
        format!("'\\x{hex}'")
    }

    async fn migrate(&self) {
        PgStore::from_pool(self.0.clone())
            .migrate()
            .await
            .expect("migrate");
    }

    fn known_migrations(&self) -> usize {
        MIGRATOR.iter().count()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.0).await.unwrap()
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

countersign_testkit::database_rules_tests! {
    #[sqlx::test(migrations = "../../migrations/postgres")]
    |pool: PgPool| PgRules(pool)
}

#[sqlx::test(migrations = false)]
async fn migrate_is_idempotent_and_makes_the_store_ready(pool: PgPool) {
    database_rules::migrate_is_idempotent_and_makes_the_store_ready(&PgRules(pool)).await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let options = PgOptions {
        max_connections: 1,
        acquire_timeout: StdDuration::from_secs(2),
    };
    // Port 1 on loopback: nothing listens there.
    match PgStore::connect_with("postgres://postgres@127.0.0.1:1/postgres", options).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_with_applies_the_pool_options() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let options = PgOptions {
        max_connections: 3,
        acquire_timeout: StdDuration::from_secs(3),
    };
    let store = PgStore::connect_with(&url, options).await.unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 3);
    assert_eq!(
        store.pool().options().get_acquire_timeout(),
        StdDuration::from_secs(3)
    );
    assert_eq!(store.backend(), "postgres");
    let _ = PgOptions::default();
}
