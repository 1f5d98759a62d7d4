//! Metrics the recorder emits through the [`metrics`] facade.
//!
//! `countersign_audit_writes_total{sink, status}` counts **events** (the server's own
//! database sink counts the same way, with `sink="database"`):
//!
//! - `status="ok"`: events the sink accepted (an `audit.loss` event included);
//! - `status="error"`: events in a write that failed after the recorder's retries;
//! - `status="dropped"`: events lost for good in async mode: refused because the queue was
//!   full, or in a batch whose write failed.
//!
//! Install any `metrics` recorder (the Prometheus exporter, for instance) to collect them;
//! without one they cost next to nothing.

/// `countersign_audit_writes_total{sink,status}`.
pub const AUDIT_WRITES_TOTAL: &str = "countersign_audit_writes_total";

/// Status label values.
pub mod status {
    /// Accepted by the sink.
    pub const OK: &str = "ok";
    /// In a failed write.
    pub const ERROR: &str = "error";
    /// Lost (async mode).
    pub const DROPPED: &str = "dropped";
}

/// Add `n` events with `status` for `sink`.
pub(crate) fn count(sink: &str, status: &'static str, n: usize) {
    if n == 0 {
        return;
    }
    metrics::counter!(AUDIT_WRITES_TOTAL, "sink" => sink.to_owned(), "status" => status)
        .increment(n as u64);
}
