//! `StoreSink` (feature `postgres`): the server's own audit table, through the store traits.
//!
//! Each batch is one transaction: `begin`, `append_audit`, `commit`. The table and the code
//! path are the server's, so events land exactly as if the server had written them (an
//! `event_id` already stored is skipped as a duplicate, never an error). Use this when the
//! embedding service may reach Countersign's database directly; otherwise prefer `HttpSink`.

use std::sync::Arc;

use async_trait::async_trait;
use countersign_domain::AuditEvent;
use countersign_store::{Store, StoreError};

use super::AuditSink;
use crate::error::SinkError;

/// Writes batches through a [`Store`]; see the [module docs](self).
#[derive(Clone)]
pub struct StoreSink {
    name: String,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("name", &self.name)
            .field("backend", &self.store.backend())
            .finish()
    }
}

impl StoreSink {
    /// A sink over any store, named `database` (the label the server's own writes use).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            name: "database".to_owned(),
            store,
        }
    }

    /// Connect to PostgreSQL at `url` (`postgres://…`) with `countersign_postgres`.
    pub async fn connect_postgres(url: &str) -> Result<Self, SinkError> {
        let store = countersign_postgres::PgStore::connect(url)
            .await
            .map_err(map_store_error)?;
        Ok(Self::new(Arc::new(store)))
    }

    /// Rename the sink (its metrics label).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Store failures as sink failures: unreachable is retryable, a refused write is final.
fn map_store_error(e: StoreError) -> SinkError {
    match e {
        StoreError::Unavailable(m) => SinkError::Unavailable(m),
        e @ (StoreError::Conflict { .. }
        | StoreError::ForeignKey { .. }
        | StoreError::Check { .. }
        | StoreError::NotFound) => SinkError::Rejected {
            status: None,
            message: e.to_string(),
        },
        other => SinkError::other(other),
    }
}

#[async_trait]
impl AuditSink for StoreSink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await.map_err(map_store_error)?;
        let outcome = tx.append_audit(events).await.map_err(map_store_error)?;
        tx.commit().await.map_err(map_store_error)?;
        tracing::debug!(
            sink = %self.name,
            inserted = outcome.inserted,
            duplicates = outcome.duplicates,
            "audit batch stored"
        );
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
