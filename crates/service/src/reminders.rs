//! Reminders and escalation, a scheduler step: tell the approvers again about a request that
//! is still pending, and tell a further role once it has waited too long.
//!
//! A request made under a policy with `remind_after_secs` or `escalate_after_secs` gets a
//! schedule in the transaction that makes it ([`countersign_domain::ReminderSchedule`], the
//! settings frozen like the rules). Each pass locks a batch of schedules with something due
//! (`SKIP LOCKED` on PostgreSQL; on SQLite the write lock makes schedulers take turns) and, in
//! one transaction per batch:
//!
//! - a request no longer pending (decided, cancelled, or past its expiry) gets nothing; its
//!   schedule is retired;
//! - a due reminder is recorded by a compare-and-set of its due time to the next one and
//!   audited as `approval.reminder` by `system:scheduler`;
//! - a due escalation is recorded by a compare-and-set of `escalated_at` and audited as
//!   `approval.escalated`, naming the escalation role's holders who could act (enabled, not
//!   the requester, not yet voted); it notifies and changes no quorum.
//!
//! The notifications follow from the audit events through `commit_with` (the outbox); an
//! escalation's message names those holders as `waiting_on` ([`escalated_data`]). A due time
//! is therefore sent once, whatever the number of schedulers: a second one either skips the
//! locked row, or finds it no longer due, or loses the compare-and-set.

use std::collections::BTreeSet;

use countersign_domain::audit::actions;
use countersign_domain::reminder::next_reminder;
use countersign_domain::{
    clock, Actor, ApprovalRequest, ApprovalState, AuditEvent, Category, Policy, ReminderSchedule,
    Resource, RoleId, SystemActor,
};
use countersign_store::Transaction;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::error::ServiceResult;
use crate::metrics;
use crate::outbox::rfc3339;
use crate::service::Service;

/// What one reminder pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderReport {
    /// `approval.reminder` events written.
    pub reminders: usize,
    /// `approval.escalated` events written.
    pub escalations: usize,
    /// Schedules ended because their request is no longer pending.
    pub retired: usize,
}

impl Service {
    /// Write the reminder schedule of a new pending request when its policy reminds or
    /// escalates (nothing otherwise). Called in the transaction that inserts the request.
    pub(crate) async fn schedule_reminders(
        &self,
        tx: &mut dyn Transaction,
        approval: &ApprovalRequest,
        policy: &Policy,
    ) -> ServiceResult<()> {
        if let Some(schedule) = ReminderSchedule::for_request(
            approval.id,
            approval.created_at,
            approval.expires_at,
            &policy.notices(),
        ) {
            tx.insert_reminder_schedule(&schedule).await?;
        }
        Ok(())
    }

    /// Send every due reminder and escalation, batch by batch, until none is due.
    pub async fn send_due_reminders(&self) -> ServiceResult<ReminderReport> {
        let batch = self.config.scheduler_batch;
        let mut report = ReminderReport::default();
        loop {
            let now = clock::now();
            let mut tx = self.begin().await?;
            let due = tx.lock_due_reminders(now, batch).await?;
            let mut events = Vec::new();
            let mut pass = ReminderReport::default();
            for schedule in &due {
                self.send_due(tx.as_mut(), schedule, now, &mut events, &mut pass)
                    .await?;
            }
            self.commit_with(tx, &events).await?;
            metrics::approval_notices(pass.reminders, pass.escalations);
            for e in &events {
                tracing::info!(
                    approval.id = %e.resource.id, audit.action = %e.action,
                    "approval notice sent"
                );
            }
            report.reminders += pass.reminders;
            report.escalations += pass.escalations;
            report.retired += pass.retired;
            let progress = pass.reminders + pass.escalations + pass.retired;
            if (due.len() as u32) < batch || progress == 0 {
                return Ok(report);
            }
        }
    }

    /// One reminder pass of the scheduler, logged and counted (`loop="reminders"`); a failure
    /// is retried on the next tick.
    pub(crate) async fn run_reminders_once(&self) {
        match self.send_due_reminders().await {
            Ok(report) => {
                metrics::scheduler_run("reminders", true);
                if report != ReminderReport::default() {
                    tracing::info!(
                        scheduler.reminders = report.reminders,
                        scheduler.escalations = report.escalations,
                        scheduler.reminders_retired = report.retired,
                        "reminder pass"
                    );
                }
            }
            Err(e) => {
                metrics::scheduler_run("reminders", false);
                tracing::warn!(error = %e, "reminder pass failed; retrying next tick");
            }
        }
    }

    /// Handle one locked schedule at `now`.
    async fn send_due(
        &self,
        tx: &mut dyn Transaction,
        schedule: &ReminderSchedule,
        now: OffsetDateTime,
        events: &mut Vec<AuditEvent>,
        report: &mut ReminderReport,
    ) -> ServiceResult<()> {
        let id = schedule.approval_id;
        // Past its deadline a request reads as expired, even before the reaper writes it.
        let approval = match tx.get_approval(id).await? {
            Some(a) => a.as_of(now),
            None => {
                if tx.retire_reminders(id).await? {
                    report.retired += 1;
                }
                return Ok(());
            }
        };
        if approval.state != ApprovalState::Pending {
            if tx.retire_reminders(id).await? {
                report.retired += 1;
                tracing::debug!(approval.id = %id, approval.state = %approval.state, "reminders retired");
            }
            return Ok(());
        }
        let scheduler = Actor::system(SystemActor::Scheduler);
        if let (Some(due), Some(every)) = (schedule.next_reminder_at, schedule.remind_every_secs) {
            if due <= now {
                let next =
                    Some(next_reminder(due, every, now)).filter(|n| *n < approval.expires_at);
                if tx.advance_reminder(id, due, next).await? {
                    report.reminders += 1;
                    events.push(
                        AuditEvent::new(
                            Category::Lifecycle,
                            actions::APPROVAL_REMINDER,
                            scheduler.clone(),
                            Resource::new("approval", id),
                        )
                        .details(json!({
                            "job_id": approval.job_id,
                            "policy_id": approval.policy_id,
                            "reminder": schedule.reminders_sent + 1,
                            "due_at": rfc3339(due),
                            "next_reminder_at": next.map(rfc3339),
                        })),
                    );
                }
            }
        }
        if schedule.escalation_due(now) {
            if let Some(role) = &schedule.escalate_to_role {
                if tx.mark_escalated(id, now).await? {
                    report.escalations += 1;
                    let holders = escalation_holders(tx, &approval, role).await?;
                    events.push(
                        AuditEvent::new(
                            Category::Lifecycle,
                            actions::APPROVAL_ESCALATED,
                            scheduler,
                            Resource::new("approval", id),
                        )
                        .details(json!({
                            "job_id": approval.job_id,
                            "policy_id": approval.policy_id,
                            "escalate_to_role": role,
                            "waiting_on": holders,
                            "escalate_at": schedule.escalate_at.map(rfc3339),
                        })),
                    );
                }
            }
        }
        Ok(())
    }
}

/// The names (sorted, distinct) of the enabled holders of `role` who could act on `approval`:
/// not its requester (two-person integrity), not anyone who has voted already.
async fn escalation_holders(
    tx: &mut dyn Transaction,
    approval: &ApprovalRequest,
    role: &RoleId,
) -> ServiceResult<Vec<String>> {
    let names: BTreeSet<String> = tx
        .active_principals_with_role(role)
        .await?
        .into_iter()
        .filter(|p| p.id != approval.requested_by && !approval.has_voted(p.id))
        .map(|p| p.name.to_string())
        .collect();
    Ok(names.into_iter().collect())
}

/// The data of an `approval.escalated` message: the approval's standard `data`, with
/// `waiting_on` naming the escalation role's holders and `escalated_to` naming the role (both
/// from the audit event). `None` for any other event.
pub(crate) fn escalated_data(event: &AuditEvent, data: &Value) -> Option<Value> {
    if event.action != actions::APPROVAL_ESCALATED {
        return None;
    }
    let details = event.details.as_ref()?;
    let mut data = data.clone();
    let fields = data.as_object_mut()?;
    let field = |name: &str| details.get(name).cloned().unwrap_or(Value::Null);
    fields.insert("waiting_on".into(), field("waiting_on"));
    fields.insert("escalated_to".into(), field("escalate_to_role"));
    Some(data)
}
