//! [`AuditSink`]: where audit events go, and the sinks this crate ships.
//!
//! A sink takes a batch of events and either stores all of them or reports a
//! [`SinkError`]; see [`crate::error`] for the error policy. Sinks are cheap to share
//! (`Arc<dyn AuditSink>`), may be called concurrently, and must be idempotent in effect on
//! `event_id` (resending a batch must not duplicate events at the destination, or, for a
//! file, must leave duplicates that consumers drop by `event_id`).
//!
//! | sink | feature | destination |
//! |---|---|---|
//! | [`NoopSink`] | — | nowhere (tests, disabled auditing) |
//! | [`MemorySink`] | — | a `Vec` in memory, with a failure switch (tests) |
//! | [`FileSink`] | — | an NDJSON file, append-only, with an fsync policy |
//! | [`FanoutSink`] | — | several sinks at once; succeeds if one does |
//! | `HttpSink` | `http` | a Countersign server's `POST /api/v1/audit/events` |
//! | `StoreSink` | `postgres` | the server's own audit table, through `countersign_store::Store` |

use std::sync::Arc;

use async_trait::async_trait;
use countersign_domain::AuditEvent;

use crate::error::SinkError;

pub mod fanout;
pub mod file;
#[cfg(feature = "http")]
pub mod http;
pub mod memory;
pub mod noop;
#[cfg(feature = "postgres")]
pub mod store;

pub use fanout::FanoutSink;
pub use file::{FileSink, FsyncPolicy};
#[cfg(feature = "http")]
pub use http::{HttpSink, HttpSinkConfig, INGEST_PATH, NDJSON_CONTENT_TYPE};
pub use memory::MemorySink;
pub use noop::NoopSink;
#[cfg(feature = "postgres")]
pub use store::StoreSink;

/// A destination for audit events.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Store every event of `events`, in order, or fail. An empty batch is a no-op.
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError>;

    /// A short, stable name: the `sink` label of `countersign_audit_writes_total` and the
    /// resource id of `audit.loss` events.
    fn name(&self) -> &str;
}

#[async_trait]
impl<S: AuditSink + ?Sized> AuditSink for Arc<S> {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        (**self).write(events).await
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

#[async_trait]
impl<S: AuditSink + ?Sized> AuditSink for Box<S> {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        (**self).write(events).await
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// Events as NDJSON: one `AuditEvent::to_json_line` per event, each followed by `\n`.
pub fn to_ndjson(events: &[AuditEvent]) -> String {
    let mut out = String::with_capacity(events.len() * 512);
    for e in events {
        out.push_str(&e.to_json_line());
        out.push('\n');
    }
    out
}
