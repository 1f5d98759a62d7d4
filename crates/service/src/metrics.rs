//! Metric names and the helpers that record them from the real code paths.
//!
//! The HTTP crate installs the Prometheus exporter (with the histogram buckets below) and
//! then calls [`describe`], which gives every series its HELP text and registers the decision
//! counters at 0; this crate only emits through the `metrics` facade, so tests and embedders
//! can install any recorder. Gauges of the current state ([`APPROVALS_PENDING`],
//! [`DATABASE_ROLE_UNSAFE`]) are refreshed by [`Service::refresh_gauges`], one cheap query
//! each, on every scrape.

use std::collections::BTreeSet;
use std::sync::Mutex;

use countersign_domain::{clock, DecisionOutcome, DeliveryStatus};
use countersign_store::DeliveryStats;
use time::OffsetDateTime;

use crate::{Service, ServiceResult};

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
/// `countersign_approvals_pending{policy}`: approvals pending now.
pub const APPROVALS_PENDING: &str = "countersign_approvals_pending";
/// `countersign_database_role_unsafe`: 1 when the connecting role could switch off the audit
/// trail's protection (a superuser, or the owner of `audit_events`).
pub const DATABASE_ROLE_UNSAFE: &str = "countersign_database_role_unsafe";

/// `countersign_webhook_attempts_total{outcome}`: delivery attempts by how they ended
/// (`delivered`, `retry`, `failed`, `gone`).
pub const WEBHOOK_ATTEMPTS_TOTAL: &str = "countersign_webhook_attempts_total";
/// `countersign_webhook_deliveries{status}`: deliveries now, by status.
pub const WEBHOOK_DELIVERIES: &str = "countersign_webhook_deliveries";
/// `countersign_webhook_delivery_latency_seconds`: from the commit that wrote the message to
/// the 2xx answer.
pub const WEBHOOK_DELIVERY_LATENCY_SECONDS: &str = "countersign_webhook_delivery_latency_seconds";
/// The buckets of [`WEBHOOK_DELIVERY_LATENCY_SECONDS`].
pub const DELIVERY_LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];
/// `countersign_outbox_depth`: outbox messages not yet fanned out to webhooks.
pub const OUTBOX_DEPTH: &str = "countersign_outbox_depth";
/// `countersign_outbox_oldest_undelivered_age_seconds`: age of the oldest message with a
/// delivery still pending (0 when none).
pub const OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS: &str =
    "countersign_outbox_oldest_undelivered_age_seconds";

/// `countersign_approval_notices_total{kind}`: reminders (`kind="reminder"`) and escalations
/// (`kind="escalation"`) the scheduler sent, counted once each when their transaction commits.
pub const APPROVAL_NOTICES_TOTAL: &str = "countersign_approval_notices_total";
/// Every kind [`APPROVAL_NOTICES_TOTAL`] reports, each exported at 0 from start.
pub const NOTICE_KINDS: &[&str] = &["reminder", "escalation"];

/// `countersign_log_leaves_sequenced_total`: audit events the sequencer turned into leaves.
pub const LOG_LEAVES_SEQUENCED_TOTAL: &str = "countersign_log_leaves_sequenced_total";
/// `countersign_log_checkpoints_total`: checkpoints signed.
pub const LOG_CHECKPOINTS_TOTAL: &str = "countersign_log_checkpoints_total";
/// `countersign_log_tree_size`: leaves in the log after the last batch.
pub const LOG_TREE_SIZE: &str = "countersign_log_tree_size";
/// `countersign_log_pending`: audit events waiting to be sequenced.
pub const LOG_PENDING: &str = "countersign_log_pending";
/// `countersign_log_tamper_detected_total`: stored events (or tiles) the self-check found no
/// longer matching the log.
pub const LOG_TAMPER_DETECTED_TOTAL: &str = "countersign_log_tamper_detected_total";
/// `countersign_log_self_check_leaves_total`: leaves the self-check re-read and compared.
pub const LOG_SELF_CHECK_LEAVES_TOTAL: &str = "countersign_log_self_check_leaves_total";

/// Every outcome the decisions counter reports, each exported at 0 from start so a rate over
/// it exists before the first decision. `cancelled` is the outcome of an approval whose job
/// was cancelled.
pub const DECISION_OUTCOMES: &[&str] =
    &["approved", "rejected", "expired", "bypassed", "cancelled"];

/// Give every series of this crate its HELP text (and unit), and register the decision
/// counters at 0 for each outcome. Call once after installing a recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        APPROVAL_DECISIONS_TOTAL,
        "Approval requests decided, by outcome and policy id."
    );
    describe_histogram!(
        APPROVAL_PENDING_AGE_SECONDS,
        Unit::Seconds,
        "How long an approval request was pending when it was decided."
    );
    describe_counter!(
        AUDIT_WRITES_TOTAL,
        "Audit events written by a sink, by sink and status."
    );
    describe_counter!(
        JOBS_TOTAL,
        "Job events: requested, claimed, completed, cancelled, lease_expired."
    );
    describe_counter!(
        SCHEDULER_RUNS_TOTAL,
        "Runs of a scheduler loop, by loop and status."
    );
    describe_gauge!(
        APPROVALS_PENDING,
        "Approval requests pending now, by policy id."
    );
    describe_gauge!(
        DATABASE_ROLE_UNSAFE,
        "1 when the database role the service connects as is a superuser or owns the audit table (it could disable the append-only triggers); 0 otherwise."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS_TOTAL,
        "Webhook delivery attempts, by outcome: delivered, retry, failed, gone (410)."
    );
    describe_gauge!(WEBHOOK_DELIVERIES, "Webhook deliveries now, by status.");
    describe_histogram!(
        WEBHOOK_DELIVERY_LATENCY_SECONDS,
        Unit::Seconds,
        "From the commit that wrote a notification to its delivery's 2xx answer."
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        "Outbox messages not yet fanned out to webhooks."
    );
    describe_gauge!(
        OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest outbox message not yet delivered everywhere (0 when none)."
    );
    describe_counter!(
        LOG_LEAVES_SEQUENCED_TOTAL,
        "Audit events sequenced into the transparency log."
    );
    describe_counter!(
        LOG_CHECKPOINTS_TOTAL,
        "Transparency log checkpoints signed."
    );
    describe_gauge!(
        LOG_TREE_SIZE,
        "Leaves in the transparency log after the last sequenced batch."
    );
    describe_gauge!(
        LOG_PENDING,
        "Audit events waiting to be sequenced into the transparency log."
    );
    describe_counter!(
        LOG_TAMPER_DETECTED_TOTAL,
        "Stored audit events or log tiles the self-check found no longer matching the log."
    );
    describe_counter!(
        LOG_SELF_CHECK_LEAVES_TOTAL,
        "Transparency log leaves the self-check re-read and compared with the stored tiles."
    );
    describe_counter!(
        APPROVAL_NOTICES_TOTAL,
        "Approval reminders and escalations sent by the scheduler, by kind."
    );
    for kind in NOTICE_KINDS {
        metrics::counter!(APPROVAL_NOTICES_TOTAL, "kind" => *kind).absolute(0);
    }
    metrics::counter!(LOG_TAMPER_DETECTED_TOTAL).absolute(0);
    for outcome in DECISION_OUTCOMES {
        metrics::counter!(APPROVAL_DECISIONS_TOTAL, "outcome" => *outcome).absolute(0);
    }
}

/// The policies the pending gauge has reported, so a policy with nothing pending any more
/// drops to 0 instead of keeping its last count.
static PENDING_POLICIES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Set the pending gauge from `counts` (policy id, pending now).
pub fn approvals_pending(counts: &[(String, u64)]) {
    let mut seen = PENDING_POLICIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for policy in seen.iter() {
        if !counts.iter().any(|(p, _)| p == policy) {
            metrics::gauge!(APPROVALS_PENDING, "policy" => policy.clone()).set(0.0);
        }
    }
    for (policy, n) in counts {
        metrics::gauge!(APPROVALS_PENDING, "policy" => policy.clone()).set(*n as f64);
        seen.insert(policy.clone());
    }
}

/// Set [`DATABASE_ROLE_UNSAFE`].
pub fn database_role_unsafe(is_unsafe: bool) {
    metrics::gauge!(DATABASE_ROLE_UNSAFE).set(if is_unsafe { 1.0 } else { 0.0 });
}

impl Service {
    /// Refresh the gauges of the current state: approvals pending by policy (one `GROUP BY`),
    /// where the backend has roles whether the database role is unsafe, and the webhook
    /// deliveries by status, outbox depth and oldest undelivered message.
    pub async fn refresh_gauges(&self) -> ServiceResult<()> {
        let pending = self.store().pending_approvals_by_policy().await?;
        approvals_pending(&pending);
        if let Some(posture) = self.store().role_posture().await? {
            database_role_unsafe(posture.is_unsafe());
        }
        let mut tx = self.begin().await?;
        let stats = tx.delivery_stats().await?;
        tx.commit().await?;
        delivery_stats(&stats, clock::now());
        Ok(())
    }
}

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

/// Set the delivery gauges from `stats`, as of `now`.
pub fn delivery_stats(stats: &DeliveryStats, now: OffsetDateTime) {
    for status in DeliveryStatus::ALL {
        let n = stats
            .by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(WEBHOOK_DELIVERIES, "status" => status.as_str()).set(n as f64);
    }
    metrics::gauge!(OUTBOX_DEPTH).set(stats.outbox_depth as f64);
    let age = stats
        .oldest_undelivered
        .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
    metrics::gauge!(OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS).set(age);
}

/// Record how one delivery attempt ended (`delivered`, `retry`, `failed`, `gone`).
pub fn webhook_attempt(outcome: &'static str) {
    metrics::counter!(WEBHOOK_ATTEMPTS_TOTAL, "outcome" => outcome).increment(1);
}

/// Record a delivered message's latency from the commit that wrote it.
pub fn webhook_delivered(written_at: OffsetDateTime, delivered_at: OffsetDateTime) {
    let s = (delivered_at - written_at).as_seconds_f64().max(0.0);
    metrics::histogram!(WEBHOOK_DELIVERY_LATENCY_SECONDS).record(s);
}

/// Record the reminders and escalations one committed reminder transaction sent.
pub fn approval_notices(reminders: usize, escalations: usize) {
    metrics::counter!(APPROVAL_NOTICES_TOTAL, "kind" => "reminder").increment(reminders as u64);
    metrics::counter!(APPROVAL_NOTICES_TOTAL, "kind" => "escalation").increment(escalations as u64);
}

/// Record one sequenced batch: `leaves` added, the tree now `size`, a checkpoint signed or not.
pub fn log_sequenced(leaves: u64, size: u64, checkpoint: bool) {
    metrics::counter!(LOG_LEAVES_SEQUENCED_TOTAL).increment(leaves);
    if checkpoint {
        metrics::counter!(LOG_CHECKPOINTS_TOTAL).increment(1);
    }
    metrics::gauge!(LOG_TREE_SIZE).set(size as f64);
}

/// Set [`LOG_PENDING`].
pub fn log_pending(n: u64) {
    metrics::gauge!(LOG_PENDING).set(n as f64);
}

/// Record one self-check window: `leaves` compared, `tampered` found not matching.
pub fn log_self_checked(leaves: u64, tampered: u64) {
    metrics::counter!(LOG_SELF_CHECK_LEAVES_TOTAL).increment(leaves);
    metrics::counter!(LOG_TAMPER_DETECTED_TOTAL).increment(tampered);
}
