//! [`NoopSink`]: accepts every batch and keeps nothing.

use async_trait::async_trait;
use countersign_domain::AuditEvent;

use super::AuditSink;
use crate::error::SinkError;

/// A sink that accepts everything and stores nothing: for tests, or to switch auditing off
/// explicitly (the writes still count as `status="ok"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopSink;

#[async_trait]
impl AuditSink for NoopSink {
    async fn write(&self, _events: &[AuditEvent]) -> Result<(), SinkError> {
        Ok(())
    }

    fn name(&self) -> &str {
        "noop"
    }
}
