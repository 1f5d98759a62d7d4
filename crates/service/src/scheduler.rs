//! The scheduler's steps and its loop: approval expiry, lease reclaim, reminders and
//! escalation (`reminders`), webhook delivery (`webhook_delivery`), and the transparency
//! log's sequencer and self-check (`log_sequencer`, `log_self_check`).
//!
//! Each step locks a batch of due rows (`COUNTERSIGN_SCHEDULER_BATCH`, `SKIP LOCKED` where the
//! backend has it), handles them in one transaction with their audit events, commits, and
//! repeats until a batch comes back short. Any number of scheduler replicas (and servers) can
//! share one database: on PostgreSQL a row one replica holds is skipped by the others, on
//! SQLite the replicas take turns on the write lock, and every change is a compare-and-set, so
//! no piece of work is done twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use countersign_domain::audit::actions;
use countersign_domain::job::{MESSAGE_APPROVAL_EXPIRED, MESSAGE_LEASE_EXHAUSTED};
use countersign_domain::{
    clock, Actor, ApprovalState, AuditEvent, Category, DecisionOutcome, JobStatus, Resource,
    SystemActor,
};
use serde_json::json;
use tokio::sync::Notify;

use crate::error::ServiceResult;
use crate::metrics;
use crate::service::Service;
use crate::webhook_delivery::DeliveryReport;

/// What one pass of every loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerReport {
    pub approvals_expired: usize,
    pub leases_reclaimed: usize,
    pub jobs_failed: usize,
}

impl Service {
    /// Expire every pending approval past `expires_at`: state `expired`, job `cancelled` with
    /// "approval expired", audited by `system:reaper`.
    pub async fn expire_due_approvals(&self) -> ServiceResult<usize> {
        let batch = self.config.scheduler_batch;
        let reaper = Actor::system(SystemActor::Reaper);
        let mut total = 0;
        loop {
            let now = clock::now();
            let mut tx = self.begin().await?;
            let due = tx.lock_due_approvals(now, batch).await?;
            let mut events = Vec::new();
            let mut decided = Vec::new();
            for a in &due {
                if !tx
                    .decide_approval(a.id, ApprovalState::Expired, &reaper.id, now)
                    .await?
                {
                    continue;
                }
                let moved = tx
                    .transition_job(
                        a.job_id,
                        JobStatus::AwaitingApproval,
                        JobStatus::Cancelled,
                        Some(MESSAGE_APPROVAL_EXPIRED),
                        now,
                    )
                    .await?;
                events.push(
                    AuditEvent::new(
                        Category::Lifecycle,
                        actions::APPROVAL_EXPIRED,
                        reaper.clone(),
                        Resource::new("approval", a.id),
                    )
                    .details(json!({
                        "job_id": a.job_id,
                        "policy_id": a.policy_id,
                        "expires_at": a.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    })),
                );
                if moved.is_some() {
                    events.push(
                        AuditEvent::new(
                            Category::Lifecycle,
                            actions::JOB_CANCELLED,
                            reaper.clone(),
                            Resource::new("job", a.job_id),
                        )
                        .details(json!({"from": JobStatus::AwaitingApproval.as_str(), "reason": MESSAGE_APPROVAL_EXPIRED})),
                    );
                }
                decided.push(a);
            }
            self.commit_with(tx, &events).await?;
            for a in &decided {
                tracing::info!(approval.id = %a.id, job.id = %a.job_id, "approval expired");
                metrics::approval_decided(
                    DecisionOutcome::Expired,
                    &a.policy_id.to_string(),
                    a.created_at,
                    now,
                );
            }
            total += decided.len();
            if (due.len() as u32) < batch {
                return Ok(total);
            }
        }
    }

    /// Reclaim running jobs whose lease ran out: back to `pending` while attempts remain,
    /// `failed` after the maximum, audited as `job.lease_expired` by `system:scheduler`.
    /// Answers `(reclaimed, failed)`.
    pub async fn reclaim_expired_leases(&self) -> ServiceResult<(usize, usize)> {
        let batch = self.config.scheduler_batch;
        let actor = Actor::system(SystemActor::Scheduler);
        let (mut reclaimed, mut failed) = (0, 0);
        loop {
            let now = clock::now();
            let mut tx = self.begin().await?;
            let expired = tx.lock_expired_leases(now, batch).await?;
            let mut events = Vec::new();
            let (mut r, mut f) = (0, 0);
            for job in &expired {
                let exhausted = job.attempts >= self.config.max_attempts;
                let (to, message) = if exhausted {
                    (JobStatus::Failed, Some(MESSAGE_LEASE_EXHAUSTED))
                } else {
                    (JobStatus::Pending, None)
                };
                if tx
                    .transition_job(job.id, JobStatus::Running, to, message, now)
                    .await?
                    .is_none()
                {
                    continue;
                }
                if exhausted {
                    f += 1;
                } else {
                    r += 1;
                }
                events.push(
                    AuditEvent::new(
                        Category::Lifecycle,
                        actions::JOB_LEASE_EXPIRED,
                        actor.clone(),
                        Resource::new("job", job.id),
                    )
                    .details(json!({
                        "claimed_by": job.claimed_by,
                        "attempts": job.attempts,
                        "max_attempts": self.config.max_attempts,
                        "now": to.as_str(),
                    })),
                );
            }
            self.commit_with(tx, &events).await?;
            for _ in 0..(r + f) {
                metrics::job_event("lease_expired");
            }
            reclaimed += r;
            failed += f;
            if (expired.len() as u32) < batch {
                return Ok((reclaimed, failed));
            }
        }
    }

    /// Run every loop once: approval expiry, lease reclaim, then webhook delivery (last, so
    /// that the notifications of this pass's expiries go out with it).
    pub async fn run_scheduler_once(&self) -> ServiceResult<SchedulerReport> {
        let report = self.run_state_loops_once().await;
        self.run_log_sequencer_once().await;
        self.run_log_self_check_once().await;
        self.run_delivery_once().await;
        report
    }

    /// Approval expiry, lease reclaim, and reminders and escalation, once.
    async fn run_state_loops_once(&self) -> ServiceResult<SchedulerReport> {
        let expired = self.expire_due_approvals().await;
        metrics::scheduler_run("approval_expiry", expired.is_ok());
        let reclaimed = self.reclaim_expired_leases().await;
        metrics::scheduler_run("lease_reclaim", reclaimed.is_ok());
        self.run_reminders_once().await;
        let approvals_expired = expired?;
        let (leases_reclaimed, jobs_failed) = reclaimed?;
        Ok(SchedulerReport {
            approvals_expired,
            leases_reclaimed,
            jobs_failed,
        })
    }

    /// One webhook delivery pass, logged and counted; a failure is retried next tick.
    async fn run_delivery_once(&self) {
        match self.deliver_webhooks().await {
            Ok(report) => {
                metrics::scheduler_run("webhook_delivery", true);
                if report != DeliveryReport::default() {
                    tracing::info!(
                        scheduler.messages_dispatched = report.messages_dispatched,
                        scheduler.delivery_attempts = report.attempts,
                        scheduler.delivered = report.delivered,
                        "webhook delivery pass"
                    );
                }
            }
            Err(e) => {
                metrics::scheduler_run("webhook_delivery", false);
                tracing::warn!(error = %e, "webhook delivery pass failed; retrying next tick");
            }
        }
    }

    /// Run the loops until `shutdown` resolves: approval expiry and lease reclaim each `tick`,
    /// and, beside them (so that a slow webhook endpoint never delays an expiry), webhook
    /// delivery each `tick` or each `delivery_poll` (a second), whichever is shorter, and at
    /// once when an outbox message commits on a store that announces commits, each attempt
    /// in a task of its own; while a backlog fills every free place, also as soon as an
    /// attempt ends. A failed pass is logged
    /// and retried on the next tick; an in-flight pass finishes before its loop returns.
    pub async fn run_scheduler(&self, tick: Duration, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let state_loop = every(tick, stopped.clone(), || async {
            match self.run_state_loops_once().await {
                Ok(report) if report != SchedulerReport::default() => {
                    tracing::info!(
                        scheduler.approvals_expired = report.approvals_expired,
                        scheduler.leases_reclaimed = report.leases_reclaimed,
                        scheduler.jobs_failed = report.jobs_failed,
                        "scheduler pass"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scheduler pass failed; retrying next tick"),
            }
        });
        // Attempts run as tasks of their own (see `start_due_deliveries`); on shutdown the
        // ones in flight finish (within the webhook timeout) before this returns.
        let in_flight = tokio::sync::Mutex::new(tokio::task::JoinSet::new());
        // Woken at once when a message commits where the store announces commits
        // (PostgreSQL NOTIFY); the poll stays as the fallback.
        let wake = self.signal.subscribe(&self.store);
        let poll = tick.min(self.config.delivery_poll);
        // Each attempt calls this when it ends; after a pass whose room ran out (a backlog), the
        // loop answers it with the next pass at once, so a backlog drains at the rate the
        // attempts end rather than one batch per poll.
        let ended = Arc::new(Notify::new());
        let delivery_loop = every_or_woken(poll, stopped.clone(), wake, &ended, || {
            let (in_flight, ended) = (&in_flight, &ended);
            async move {
                let mut set = in_flight.lock().await;
                match self.start_due_deliveries(&mut set, ended).await {
                    Ok(room_ran_out) => {
                        metrics::scheduler_run("webhook_delivery", true);
                        room_ran_out
                    }
                    Err(e) => {
                        metrics::scheduler_run("webhook_delivery", false);
                        tracing::warn!(error = %e, "webhook delivery pass failed; retrying next tick");
                        false
                    }
                }
            }
        });
        // The transparency log: sequencing each second at most (see `log_sequencer`), and
        // the self-check's next window each tick.
        let log_loop = every(tick.min(Duration::from_secs(1)), stopped.clone(), || {
            self.run_log_sequencer_once()
        });
        let log_check_loop = every(tick, stopped.clone(), || self.run_log_self_check_once());
        let signal = async {
            shutdown.await;
            tracing::info!("scheduler stopping");
            let _ = stop.send(true);
        };
        tokio::join!(signal, state_loop, delivery_loop, log_loop, log_check_loop);
        let mut set = in_flight.into_inner();
        while set.join_next().await.is_some() {}
    }
}

/// Run `pass` each `tick` until `stopped` turns true; a pass in flight finishes first.
async fn every<F, Fut>(tick: Duration, stopped: tokio::sync::watch::Receiver<bool>, pass: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    // Nothing ever wakes it: the sender lives as long as the loop and never sends.
    let (_never, wake) = tokio::sync::watch::channel(0);
    let again = Notify::new();
    every_or_woken(tick, stopped, wake, &again, || {
        let pass = pass();
        async move {
            pass.await;
            false
        }
    })
    .await
}

/// Like [`every`], and also as soon as `wake` changes, or as soon as `again` is notified
/// after a pass that answered `true` (it left work for later); passes never overlap, and
/// wake-ups that come during a pass are answered by one more pass.
async fn every_or_woken<F, Fut>(
    tick: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    mut wake: tokio::sync::watch::Receiver<u64>,
    again: &Notify,
    pass: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listen_again = false;
    loop {
        tokio::select! {
            _ = async { drop(stopped.wait_for(|s| *s).await) } => return,
            _ = interval.tick() => {}
            Ok(()) = wake.changed() => {}
            () = again.notified(), if listen_again => {}
        }
        wake.borrow_and_update();
        listen_again = pass().await;
    }
}
