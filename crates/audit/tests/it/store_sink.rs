//! The store sink against a real PostgreSQL: a fresh, migrated database per test
//! (`#[sqlx::test]`, on the server `DATABASE_URL` names). Needs `--features postgres`.

use std::sync::Arc;

use crate::support::events;
use countersign_audit::{AuditSink, Recorder, RecorderConfig, StoreSink};
use countersign_store::Store;
use sqlx::PgPool;

/// A URL for the test's own database, for [`StoreSink::connect_postgres`].
fn url_of(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        o.get_username(),
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("postgres")
    )
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn writes_through_the_store_idempotently(pool: PgPool) {
    let store: Arc<dyn Store> = Arc::new(countersign_postgres::PgStore::from_pool(pool.clone()));
    let sink = StoreSink::new(store.clone());
    assert_eq!(sink.name(), "database");

    let batch = events(0..3);
    sink.write(&batch).await.unwrap();
    // Resending is a no-op, never an error.
    sink.write(&batch).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 3);

    let mut tx = store.begin().await.unwrap();
    for e in &batch {
        let stored = tx.get_audit_event(e.event_id).await.unwrap().unwrap();
        assert_eq!(&stored, e);
    }
    tx.rollback().await.unwrap();

    // Through a strict recorder too, connecting by URL.
    let recorder = Recorder::new(
        RecorderConfig::builder().strict(true).build(),
        StoreSink::connect_postgres(&url_of(&pool)).await.unwrap(),
    );
    let e = crate::support::event(9);
    recorder.record(e.clone()).await.unwrap();
    recorder.shutdown().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_audit_event(e.event_id).await.unwrap(), Some(e));
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // Nothing listens on port 1.
    let err = StoreSink::connect_postgres("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
