//! The store sink against a real PostgreSQL. Needs `--features postgres` and
//! `COUNTERSIGN_TEST_DATABASE_URL` pointing at a database it may migrate; skipped otherwise.
#![cfg(feature = "postgres")]

mod support;

use std::sync::Arc;

use countersign_audit::{AuditSink, Recorder, RecorderConfig, StoreSink};
use countersign_store::Store;
use support::events;

fn database_url() -> Option<String> {
    let url = std::env::var("COUNTERSIGN_TEST_DATABASE_URL").ok();
    if url.is_none() {
        eprintln!("skipped: COUNTERSIGN_TEST_DATABASE_URL is not set");
    }
    url
}

#[tokio::test]
async fn writes_through_the_store_idempotently() {
    let Some(url) = database_url() else { return };
    let store = countersign_postgres::PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let sink = StoreSink::new(store.clone());
    assert_eq!(sink.name(), "database");

    let batch = events(0..3);
    sink.write(&batch).await.unwrap();
    // Resending is a no-op, never an error.
    sink.write(&batch).await.unwrap();

    let mut tx = store.begin().await.unwrap();
    for e in &batch {
        let stored = tx.get_audit_event(e.event_id).await.unwrap().unwrap();
        assert_eq!(&stored, e);
    }
    tx.rollback().await.unwrap();

    // Through a strict recorder too.
    let recorder = Recorder::new(
        RecorderConfig::builder().strict(true).build(),
        StoreSink::connect_postgres(&url).await.unwrap(),
    );
    let e = support::event(9);
    recorder.record(e.clone()).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.get_audit_event(e.event_id).await.unwrap().is_some());
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    if database_url().is_none() {
        return;
    }
    // Nothing listens on port 1.
    let err = StoreSink::connect_postgres("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
