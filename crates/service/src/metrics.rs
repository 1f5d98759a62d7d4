//! Metric names and the helpers that record them from the real code paths.
//!
//! The HTTP crate installs the Prometheus exporter (with the histogram buckets below); this
//! crate only emits through the `metrics` facade, so tests and embedders can install any
//! recorder.

use countersign_domain::DecisionOutcome;
use time::OffsetDateTime;

/// `countersign_approval_decisions_total{outcome,policy}`.
pub const APPROVAL_DECISIONS_TOTAL: &str = "countersign_approval_decisions_total";
/// `countersign_approval_pending_age_seconds`: how long a request waited when decided.
pub const APPROVAL_PENDING_AGE_SECONDS: &str = "countersign_approval_pending_age_seconds";
/// The buckets of [`APPROVAL_PENDING_AGE_SECONDS`].
pub const PENDING_AGE_BUCKETS: &[f64] = &[60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0];
/// `countersign_audit_writes_total{sink,status}`.
pub const AUDIT_WRITES_TOTAL: &str = "countersign_audit_writes_total";
/// `countersign_jobs_total{event}`: claims, completions, cancellations, lease expiries.
pub const JOBS_TOTAL: &str = "countersign_jobs_total";
/// `countersign_scheduler_runs_total{loop,status}`.
pub const SCHEDULER_RUNS_TOTAL: &str = "countersign_scheduler_runs_total";

/// Record one approval decision and the age of the request it decided.
pub fn approval_decided(
    outcome: DecisionOutcome,
    policy: &str,
    created_at: OffsetDateTime,
    decided_at: OffsetDateTime,
) {
    metrics::counter!(
        APPROVAL_DECISIONS_TOTAL,
        "outcome" => outcome.as_str(),
        "policy" => policy.to_owned()
    )
    .increment(1);
    let age = (decided_at - created_at).as_seconds_f64().max(0.0);
    metrics::histogram!(APPROVAL_PENDING_AGE_SECONDS).record(age);
}

/// Record `n` audit events written (or not) by the service's database sink.
pub fn audit_writes(n: usize, ok: bool) {
    if n == 0 {
        return;
    }
    metrics::counter!(
        AUDIT_WRITES_TOTAL,
        "sink" => "database",
        "status" => if ok { "ok" } else { "error" }
    )
    .increment(n as u64);
}

/// Record a job event (`claimed`, `completed`, `cancelled`, `lease_expired`, `requested`).
pub fn job_event(event: &'static str) {
    metrics::counter!(JOBS_TOTAL, "event" => event).increment(1);
}

/// Record one run of a scheduler loop.
pub fn scheduler_run(name: &'static str, ok: bool) {
    metrics::counter!(
        SCHEDULER_RUNS_TOTAL,
        "loop" => name,
        "status" => if ok { "ok" } else { "error" }
    )
    .increment(1);
}
