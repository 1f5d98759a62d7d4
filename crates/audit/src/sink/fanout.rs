//! [`FanoutSink`]: one batch to several sinks at once.
//!
//! The batch goes to every inner sink concurrently. The fan-out succeeds when at least one
//! inner sink stored it (the trail exists somewhere) and logs each failure with `tracing`;
//! it fails with [`SinkError::AllFailed`] when none did. A fan-out with no inner sink fails
//! every non-empty write (it stores nothing).

use std::sync::Arc;

use async_trait::async_trait;
use countersign_domain::AuditEvent;

use super::AuditSink;
use crate::error::SinkError;

/// Writes each batch to all inner sinks concurrently; see the [module docs](self).
#[derive(Clone)]
pub struct FanoutSink {
    name: String,
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for FanoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutSink")
            .field("name", &self.name)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for FanoutSink {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl FanoutSink {
    /// A fan-out over `sinks`, named `fanout`.
    pub fn new(sinks: Vec<Arc<dyn AuditSink>>) -> Self {
        Self {
            name: "fanout".to_owned(),
            sinks,
        }
    }

    /// Add one more inner sink.
    pub fn with(mut self, sink: impl AuditSink + 'static) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Rename the fan-out (its metrics label).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The inner sinks.
    pub fn sinks(&self) -> &[Arc<dyn AuditSink>] {
        &self.sinks
    }
}

#[async_trait]
impl AuditSink for FanoutSink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let results = futures::future::join_all(self.sinks.iter().map(|s| s.write(events))).await;
        let mut failures = Vec::new();
        let mut succeeded = 0usize;
        for (sink, result) in self.sinks.iter().zip(results) {
            match result {
                Ok(()) => succeeded += 1,
                Err(e) => {
                    tracing::warn!(
                        fanout = %self.name,
                        sink = %sink.name(),
                        events = events.len(),
                        error = %e,
                        "audit fan-out: one sink failed"
                    );
                    failures.push((sink.name().to_owned(), e));
                }
            }
        }
        if succeeded > 0 {
            Ok(())
        } else {
            Err(SinkError::AllFailed(failures))
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}
