//! Approval requests: reading them, and voting.
//!
//! A vote locks its approval row first, so concurrent votes on one request serialize: the
//! quorum is reached exactly once and the job moves exactly once. Both moves are
//! compare-and-set in the store as a second line of defence.

use countersign_domain::audit::actions;
use countersign_domain::job::MESSAGE_APPROVAL_REJECTED;
use countersign_domain::{
    approval::validate_note, clock, ApprovalId, ApprovalState, AuditEvent, Category,
    DecisionOutcome, JobStatus, Permission, Resource, Vote, VoteDecision,
};
use countersign_store::error::constraints;
use countersign_store::{ApprovalFilter, StoreError};
use serde_json::json;

use crate::auth::DenyContext;
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::jobs::release;
use crate::metrics;
use crate::paging::{ListParams, Listing};
use crate::service::Service;

pub use countersign_api::ApprovalView;

fn resource(id: ApprovalId) -> Resource {
    Resource::new("approval", id)
}

impl Service {
    /// `GET /api/v1/approvals/{id}`.
    pub async fn get_approval(
        &self,
        caller: &Caller,
        id: ApprovalId,
    ) -> ServiceResult<ApprovalView> {
        self.require(caller, Permission::ApprovalRead, resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let approval = tx
            .get_approval(id)
            .await?
            .ok_or(ServiceError::NotFound("approval"))?;
        let job = tx
            .get_job(approval.job_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("an approval's job is missing".into()))?;
        tx.commit().await?;
        Ok(ApprovalView::new(approval, &job, clock::now()))
    }

    /// `GET /api/v1/approvals[?state=&subject_id=&requested_by=]`.
    pub async fn list_approvals(
        &self,
        caller: &Caller,
        filter: &ApprovalFilter,
        params: &ListParams,
    ) -> ServiceResult<Listing<ApprovalView>> {
        self.require(
            caller,
            Permission::ApprovalRead,
            Resource::new("approval", "*"),
        )
        .await?;
        let page = params.to_page()?;
        // State filters see a pending request past its deadline as expired, like every read.
        let now = clock::now();
        let filter = ApprovalFilter {
            as_of: Some(now),
            ..filter.clone()
        };
        let mut tx = self.begin().await?;
        let approvals = tx.list_approvals(&filter, &page).await?;
        let views = views_with_jobs(tx.as_mut(), approvals.items, now).await?;
        tx.commit().await?;
        Ok(Listing {
            data: views,
            next_cursor: approvals.next.map(|c| c.encode()),
        })
    }

    /// `POST /api/v1/approvals/{id}/approve` and `…/reject`.
    pub async fn vote(
        &self,
        caller: &Caller,
        id: ApprovalId,
        decision: VoteDecision,
        note: Option<String>,
    ) -> ServiceResult<ApprovalView> {
        let permission = match decision {
            VoteDecision::Approve => Permission::ApprovalApprove,
            VoteDecision::Reject => Permission::ApprovalReject,
        };
        if !caller.has(permission) {
            // Two-person integrity ranks first: a requester voting on its own request is
            // refused as such whether or not it holds the permission, so every self-approval
            // attempt is recognisable in the trail.
            let mut tx = self.begin().await?;
            let own = tx
                .get_approval(id)
                .await?
                .is_some_and(|a| a.requested_by == caller.id());
            release(tx).await;
            if own {
                return Err(self
                    .deny_vote(caller, id, permission, ServiceError::TwoPersonIntegrity)
                    .await);
            }
            self.require(caller, permission, resource(id)).await?;
        }
        if let Some(n) = &note {
            validate_note(n)?;
        }
        let now = clock::now();
        let mut tx = self.begin().await?;
        let mut approval = tx
            .lock_approval(id)
            .await?
            .ok_or(ServiceError::NotFound("approval"))?;

        // Refusals, in the contract's order. 403s are audited as deny events.
        if approval.requested_by == caller.id() {
            release(tx).await;
            return Err(self
                .deny_vote(caller, id, permission, ServiceError::TwoPersonIntegrity)
                .await);
        }
        // Past its deadline a request is expired, even before the scheduler has marked it so:
        // a late vote must not decide it (or move its job).
        match approval.state_at(now) {
            ApprovalState::Pending => {}
            ApprovalState::Expired => {
                release(tx).await;
                return Err(ServiceError::ApprovalExpired);
            }
            decided => {
                release(tx).await;
                return Err(ServiceError::AlreadyDecided(decided.as_str()));
            }
        }
        let roles = tx.roles_of(caller.id()).await?;
        if !approval.is_eligible(&roles) {
            release(tx).await;
            let err = ServiceError::Forbidden(
                "not an eligible approver: you hold none of the roles this request's rules need"
                    .into(),
            );
            return Err(self.deny_vote(caller, id, permission, err).await);
        }
        if approval.has_voted(caller.id()) {
            release(tx).await;
            return Err(ServiceError::AlreadyVoted);
        }

        let vote = Vote {
            principal_id: caller.id(),
            decision,
            note,
            at: now,
            roles,
        };
        tx.insert_vote(id, &vote).await.map_err(|e| match e {
            StoreError::Conflict { ref constraint }
                if constraint == constraints::VOTES_ONE_PER_PRINCIPAL =>
            {
                ServiceError::AlreadyVoted
            }
            other => other.into(),
        })?;
        let mut events = vec![AuditEvent::new(
            Category::Lifecycle,
            actions::APPROVAL_VOTED,
            caller.actor(),
            resource(id),
        )
        .allowed_by(permission.as_str())
        .request_id(caller.request_id())
        .details(json!({
            "decision": decision.as_str(),
            "note": vote.note,
            "roles": vote.roles,
            "job_id": approval.job_id,
        }))];
        approval.votes.push(vote);

        let outcome = match decision {
            VoteDecision::Reject => Some(DecisionOutcome::Rejected),
            VoteDecision::Approve if approval.quorum().met => Some(DecisionOutcome::Approved),
            VoteDecision::Approve => None,
        };
        let mut job = tx
            .get_job(approval.job_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("an approval's job is missing".into()))?;
        if let Some(outcome) = outcome {
            let state = outcome.state();
            if !tx
                .decide_approval(id, state, &caller.id().to_string(), now)
                .await?
            {
                return Err(ServiceError::AlreadyDecided("decided"));
            }
            let (to, message, action) = match outcome {
                DecisionOutcome::Approved => (JobStatus::Pending, None, actions::APPROVAL_APPROVED),
                _ => (
                    JobStatus::Cancelled,
                    Some(MESSAGE_APPROVAL_REJECTED),
                    actions::APPROVAL_REJECTED,
                ),
            };
            job = tx
                .transition_job(
                    approval.job_id,
                    JobStatus::AwaitingApproval,
                    to,
                    message,
                    now,
                )
                .await?
                .ok_or_else(|| {
                    ServiceError::InvalidTransition("the job is no longer awaiting approval".into())
                })?;
            approval.state = state;
            approval.decided_at = Some(now);
            approval.decided_by = Some(caller.id().to_string());
            let quorum = approval.quorum();
            events.push(
                AuditEvent::new(Category::Lifecycle, action, caller.actor(), resource(id))
                    .allowed_by(permission.as_str())
                    .request_id(caller.request_id())
                    .details(json!({
                        "job_id": approval.job_id,
                        "policy_id": approval.policy_id,
                        "approvers": quorum.assignment.iter().map(|(p, r)| json!({
                            "principal_id": p,
                            "role": approval.rules[*r].role,
                        })).collect::<Vec<_>>(),
                    })),
            );
            if outcome == DecisionOutcome::Rejected {
                events.push(
                    AuditEvent::new(
                        Category::Lifecycle,
                        actions::JOB_CANCELLED,
                        caller.actor(),
                        Resource::new("job", approval.job_id),
                    )
                    .allowed_by(permission.as_str())
                    .request_id(caller.request_id())
                    .details(json!({"from": JobStatus::AwaitingApproval.as_str(), "reason": MESSAGE_APPROVAL_REJECTED})),
                );
            }
            self.commit_with(tx, &events).await?;
            metrics::approval_decided(
                outcome,
                &approval.policy_id.to_string(),
                approval.created_at,
                now,
            );
        } else {
            self.commit_with(tx, &events).await?;
        }
        Ok(ApprovalView::new(approval, &job, clock::now()))
    }

    async fn deny_vote(
        &self,
        caller: &Caller,
        id: ApprovalId,
        permission: Permission,
        err: ServiceError,
    ) -> ServiceError {
        self.audit_denied(
            DenyContext {
                caller: Some(caller),
                key_id: caller.key_id,
                permission: Some(permission),
                resource: resource(id),
                request_id: caller.request_id(),
            },
            &err,
        )
        .await;
        err
    }
}

/// The views of `approvals` as of `now`, every approval's job read in one query, not one per
/// row.
pub(crate) async fn views_with_jobs(
    tx: &mut dyn countersign_store::Transaction,
    approvals: Vec<countersign_domain::ApprovalRequest>,
    now: time::OffsetDateTime,
) -> ServiceResult<Vec<ApprovalView>> {
    let job_ids: Vec<_> = approvals.iter().map(|a| a.job_id).collect();
    let jobs: std::collections::HashMap<_, _> = tx
        .get_jobs(&job_ids)
        .await?
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let mut views = Vec::with_capacity(approvals.len());
    for a in approvals {
        let job = jobs
            .get(&a.job_id)
            .ok_or_else(|| ServiceError::Internal("an approval's job is missing".into()))?;
        views.push(ApprovalView::new(a, job, now));
    }
    Ok(views)
}
