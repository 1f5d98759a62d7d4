//! Jobs: the policy gate, claims, completion and cancellation.
//!
//! [`Service::request_job`] is the only way to create a job, and it always goes through the
//! subject's policy: approval needed → the job waits in `awaiting_approval` behind a pending
//! approval; not needed → `pending`. A gate that cannot read its policy refuses; it never
//! falls open.

use std::time::Duration;

use countersign_domain::audit::actions;
use countersign_domain::job::{validate_action, validate_idempotency_key, CompletionOutcome};
use countersign_domain::{
    canonical, clock, Actor, ApprovalId, ApprovalRequest, ApprovalState, AuditEvent, Category,
    DecisionOutcome, Job, JobId, JobStatus, Permission, Resource, SubjectId, SystemActor,
};
use countersign_store::error::constraints;
use countersign_store::{JobFilter, StoreError, Transaction};
use serde_json::json;

use crate::approvals::ApprovalView;
use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::metrics;
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// The largest job payload, as canonical JSON.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The longest result or cancellation message.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// The body of `POST /api/v1/subjects/{id}/jobs` plus its `Idempotency-Key` header.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub subject_id: SubjectId,
    pub action: String,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
}

pub use countersign_api::JobRequested;

/// The body of `POST /api/v1/jobs/claim`.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    pub actions: Option<Vec<String>>,
    pub lease_secs: Option<u64>,
}

fn resource(id: JobId) -> Resource {
    Resource::new("job", id)
}

fn validate_message(field: &str, m: Option<&str>) -> ServiceResult<()> {
    if let Some(m) = m {
        countersign_domain::text::validate_free_text(field, m, MAX_MESSAGE_CHARS)?;
    }
    Ok(())
}

impl Service {
    /// `POST /api/v1/subjects/{id}/jobs`: the policy gate.
    pub async fn request_job(
        &self,
        caller: &Caller,
        req: JobRequest,
    ) -> ServiceResult<JobRequested> {
        self.require(
            caller,
            Permission::JobRequest,
            Resource::new("subject", req.subject_id),
        )
        .await?;
        validate_action(&req.action)?;
        if !req.payload.is_object() {
            return Err(ServiceError::invalid("payload: must be a JSON object"));
        }
        if let Some(k) = &req.idempotency_key {
            validate_idempotency_key(k)?;
        }
        let canonical_payload = canonical::to_canonical_string(&req.payload);
        if canonical_payload.len() > MAX_PAYLOAD_BYTES {
            return Err(ServiceError::invalid(format!(
                "payload: must be at most {MAX_PAYLOAD_BYTES} bytes"
            )));
        }
        let payload_sha256 = canonical::payload_sha256(&req.payload);

        match self.try_request_job(caller, &req, &payload_sha256).await {
            // A concurrent request with the same idempotency key won the insert: answer its job.
            Err(ServiceError::Conflict(ref m)) if m == IDEMPOTENCY_RACE => self
                .replay(caller, &req, &payload_sha256)
                .await?
                .ok_or_else(|| {
                    ServiceError::Conflict(
                        "a request with this Idempotency-Key is in flight".into(),
                    )
                }),
            other => other,
        }
    }

    async fn replay(
        &self,
        caller: &Caller,
        req: &JobRequest,
        payload_sha256: &str,
    ) -> ServiceResult<Option<JobRequested>> {
        let Some(key) = &req.idempotency_key else {
            return Ok(None);
        };
        let mut tx = self.begin().await?;
        let Some(job) = tx.find_job_by_idempotency_key(caller.id(), key).await? else {
            return Ok(None);
        };
        if job.subject_id != req.subject_id
            || job.action != req.action
            || job.payload_sha256 != payload_sha256
        {
            return Err(ServiceError::Conflict(
                "Idempotency-Key was already used with a different request".into(),
            ));
        }
        let approval = tx.approval_for_job(job.id).await?;
        tx.commit().await?;
        Ok(Some(JobRequested {
            approval: approval.map(|a| ApprovalView::new(a, &job, clock::now())),
            job,
            replayed: true,
        }))
    }

    async fn try_request_job(
        &self,
        caller: &Caller,
        req: &JobRequest,
        payload_sha256: &str,
    ) -> ServiceResult<JobRequested> {
        if let Some(existing) = self.replay(caller, req, payload_sha256).await? {
            return Ok(existing);
        }
        let mut tx = self.begin().await?;
        let subject = tx
            .get_subject(req.subject_id)
            .await?
            .ok_or(ServiceError::NotFound("subject"))?;
        // Fail closed: no policy, no job.
        let policy = tx.get_policy(subject.policy_id).await?.ok_or_else(|| {
            ServiceError::Internal(
                format!("subject {} has no readable policy; refusing", subject.id).into(),
            )
        })?;
        let now = clock::now();
        let mut job = Job {
            id: JobId::new(),
            subject_id: subject.id,
            action: req.action.clone(),
            payload: req.payload.clone(),
            payload_sha256: payload_sha256.to_owned(),
            status: if policy.requires_approval {
                JobStatus::AwaitingApproval
            } else {
                JobStatus::Pending
            },
            requested_by: caller.id(),
            attempts: 0,
            claimed_by: None,
            lease_expires_at: None,
            result_message: None,
            created_at: now,
            updated_at: now,
            idempotency_key: req.idempotency_key.clone(),
        };
        tx.insert_job(&job).await.map_err(|e| match e {
            StoreError::Conflict { ref constraint }
                if constraint == constraints::JOBS_IDEMPOTENCY =>
            {
                ServiceError::Conflict(IDEMPOTENCY_RACE.into())
            }
            other => other.into(),
        })?;
        let mut events = vec![AuditEvent::new(
            Category::Lifecycle,
            actions::JOB_REQUESTED,
            caller.actor(),
            resource(job.id),
        )
        .allowed_by(Permission::JobRequest.as_str())
        .request_id(caller.request_id())
        .idempotency_key(req.idempotency_key.as_deref())
        .details(json!({
            "subject_id": subject.id,
            "policy_id": policy.id,
            "action": job.action,
            "payload_sha256": job.payload_sha256,
            "requires_approval": policy.requires_approval,
        }))];

        let mut approval = None;
        if policy.requires_approval {
            let mut a = ApprovalRequest {
                id: ApprovalId::new(),
                job_id: job.id,
                subject_id: subject.id,
                policy_id: policy.id,
                requested_by: caller.id(),
                state: ApprovalState::Pending,
                rules: policy.rules.clone(),
                votes: Vec::new(),
                created_at: now,
                expires_at: now + Duration::from_secs(policy.approval_timeout_secs as u64),
                decided_at: None,
                decided_by: None,
            };
            tx.insert_approval(&a).await?;
            if !self.config.approval_bypass {
                self.schedule_reminders(tx.as_mut(), &a, &policy).await?;
            }
            events.push(
                AuditEvent::new(
                    Category::Lifecycle,
                    actions::APPROVAL_REQUESTED,
                    caller.actor(),
                    Resource::new("approval", a.id),
                )
                .allowed_by(Permission::JobRequest.as_str())
                .request_id(caller.request_id())
                .details(json!({
                    "job_id": job.id,
                    "policy_id": policy.id,
                    "rules": a.rules,
                    "expires_at": a.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                })),
            );
            if self.config.approval_bypass {
                let bypass = Actor::system(SystemActor::Bypass);
                if !tx
                    .decide_approval(a.id, ApprovalState::Approved, bypass.id.as_str(), now)
                    .await?
                {
                    return Err(ServiceError::Internal(
                        "a fresh approval could not be bypassed".into(),
                    ));
                }
                job = tx
                    .transition_job(
                        job.id,
                        JobStatus::AwaitingApproval,
                        JobStatus::Pending,
                        None,
                        now,
                    )
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Internal(
                            "a fresh job could not leave awaiting_approval".into(),
                        )
                    })?;
                a.state = ApprovalState::Approved;
                a.decided_at = Some(now);
                a.decided_by = Some(bypass.id.clone());
                events.push(
                    AuditEvent::new(
                        Category::Lifecycle,
                        actions::APPROVAL_BYPASSED,
                        bypass,
                        Resource::new("approval", a.id),
                    )
                    .request_id(caller.request_id())
                    .details(
                        json!({"job_id": job.id, "reason": "COUNTERSIGN_APPROVAL_BYPASS is on"}),
                    ),
                );
            }
            approval = Some(a);
        }
        self.commit_with(tx, &events).await?;
        metrics::job_event("requested");
        if let Some(a) = &approval {
            if a.state == ApprovalState::Approved {
                metrics::approval_decided(
                    DecisionOutcome::Bypassed,
                    &a.policy_id.to_string(),
                    a.created_at,
                    now,
                );
            }
        }
        Ok(JobRequested {
            approval: approval.map(|a| ApprovalView::new(a, &job, clock::now())),
            job,
            replayed: false,
        })
    }

    /// `GET /api/v1/jobs/{id}`.
    pub async fn get_job(&self, caller: &Caller, id: JobId) -> ServiceResult<Job> {
        self.require(caller, Permission::JobRead, resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let job = tx.get_job(id).await?.ok_or(ServiceError::NotFound("job"))?;
        tx.commit().await?;
        Ok(job)
    }

    /// `GET /api/v1/jobs[?subject_id=&status=]`.
    pub async fn list_jobs(
        &self,
        caller: &Caller,
        filter: &JobFilter,
        params: &ListParams,
    ) -> ServiceResult<Listing<Job>> {
        self.require(caller, Permission::JobRead, Resource::new("job", "*"))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let jobs = tx.list_jobs(filter, &page).await?;
        tx.commit().await?;
        Ok(listing(jobs))
    }

    /// `POST /api/v1/jobs/claim`: the oldest pending job, now `running` under the caller's
    /// lease, or `None` when nothing is pending.
    pub async fn claim_job(
        &self,
        caller: &Caller,
        req: ClaimRequest,
    ) -> ServiceResult<Option<Job>> {
        self.require(caller, Permission::JobClaim, Resource::new("job", "*"))
            .await?;
        let lease = match req.lease_secs {
            None => self.config.default_lease,
            Some(s) if s >= 1 && s <= self.config.max_lease.as_secs() => Duration::from_secs(s),
            Some(_) => {
                return Err(ServiceError::invalid(format!(
                    "lease_secs: must be between 1 and {}",
                    self.config.max_lease.as_secs()
                )))
            }
        };
        if let Some(actions) = &req.actions {
            if actions.len() > 100 {
                return Err(ServiceError::invalid("actions: at most 100 actions"));
            }
            for a in actions {
                validate_action(a)?;
            }
        }
        let now = clock::now();
        let mut tx = self.begin().await?;
        let Some(job) = tx
            .claim_job(req.actions.as_deref(), caller.id(), now + lease, now)
            .await?
        else {
            tx.commit().await?;
            return Ok(None);
        };
        let event = AuditEvent::new(
            Category::Lifecycle,
            actions::JOB_CLAIMED,
            caller.actor(),
            resource(job.id),
        )
        .allowed_by(Permission::JobClaim.as_str())
        .request_id(caller.request_id())
        .details(json!({"attempt": job.attempts, "lease_secs": lease.as_secs()}));
        self.commit_with(tx, &[event]).await?;
        metrics::job_event("claimed");
        Ok(Some(job))
    }

    /// `POST /api/v1/jobs/{id}/complete`: only by the principal holding the lease.
    pub async fn complete_job(
        &self,
        caller: &Caller,
        id: JobId,
        outcome: CompletionOutcome,
        message: Option<String>,
    ) -> ServiceResult<Job> {
        self.require(caller, Permission::JobComplete, resource(id))
            .await?;
        validate_message("message", message.as_deref())?;
        let now = clock::now();
        let mut tx = self.begin().await?;
        let current = tx
            .lock_job(id)
            .await?
            .ok_or(ServiceError::NotFound("job"))?;
        let Some(job) = tx
            .complete_job(id, caller.id(), outcome.status(), message.as_deref(), now)
            .await?
        else {
            release(tx).await;
            return Err(ServiceError::InvalidTransition(
                if current.status != JobStatus::Running {
                    format!("job is {}, not running", current.status)
                } else {
                    "only the principal holding the lease can complete this job".to_owned()
                },
            ));
        };
        let event = AuditEvent::new(
            Category::Lifecycle,
            actions::JOB_COMPLETED,
            caller.actor(),
            resource(id),
        )
        .allowed_by(Permission::JobComplete.as_str())
        .request_id(caller.request_id())
        .details(json!({"outcome": outcome.status().as_str(), "message": message}));
        self.commit_with(tx, &[event]).await?;
        metrics::job_event("completed");
        Ok(job)
    }

    /// `POST /api/v1/jobs/{id}/cancel`: any non-terminal job. A job still awaiting approval
    /// takes its pending approval with it: the approval ends `cancelled` (decided by the
    /// canceller, audited `approval.cancelled`). An approval already past its deadline is left
    /// for the scheduler to write down as `expired` (it reads so already).
    pub async fn cancel_job(
        &self,
        caller: &Caller,
        id: JobId,
        reason: Option<String>,
    ) -> ServiceResult<Job> {
        self.require(caller, Permission::JobCancel, resource(id))
            .await?;
        validate_message("reason", reason.as_deref())?;
        let now = clock::now();
        let mut tx = self.begin().await?;
        let current = tx
            .lock_job(id)
            .await?
            .ok_or(ServiceError::NotFound("job"))?;
        if current.status.is_terminal() {
            release(tx).await;
            return Err(ServiceError::InvalidTransition(format!(
                "job is already {}",
                current.status
            )));
        }
        let mut events = Vec::new();
        let mut decided = None;
        if current.status == JobStatus::AwaitingApproval {
            if let Some(a) = tx.approval_for_job(id).await? {
                let a = tx.lock_approval(a.id).await?.unwrap_or(a);
                if a.state_at(now) == ApprovalState::Pending
                    && tx
                        .decide_approval(
                            a.id,
                            ApprovalState::Cancelled,
                            &caller.id().to_string(),
                            now,
                        )
                        .await?
                {
                    events.push(
                        AuditEvent::new(
                            Category::Lifecycle,
                            actions::APPROVAL_CANCELLED,
                            caller.actor(),
                            Resource::new("approval", a.id),
                        )
                        .allowed_by(Permission::JobCancel.as_str())
                        .request_id(caller.request_id())
                        .details(json!({"job_id": id, "reason": "job cancelled"})),
                    );
                    decided = Some(a);
                }
            }
        }
        let message = reason.clone().unwrap_or_else(|| "cancelled".to_owned());
        let job = tx
            .transition_job(
                id,
                current.status,
                JobStatus::Cancelled,
                Some(&message),
                now,
            )
            .await?
            .ok_or_else(|| {
                ServiceError::InvalidTransition("job changed while cancelling".into())
            })?;
        events.push(
            AuditEvent::new(
                Category::Lifecycle,
                actions::JOB_CANCELLED,
                caller.actor(),
                resource(id),
            )
            .allowed_by(Permission::JobCancel.as_str())
            .request_id(caller.request_id())
            .details(json!({"from": current.status.as_str(), "reason": reason})),
        );
        self.commit_with(tx, &events).await?;
        metrics::job_event("cancelled");
        if let Some(a) = decided {
            metrics::approval_decided(
                DecisionOutcome::Cancelled,
                &a.policy_id.to_string(),
                a.created_at,
                now,
            );
        }
        Ok(job)
    }
}

/// End a transaction that will not commit, now. Dropping it only queues the `ROLLBACK` (sent
/// when the pooled connection is next used), and until then its row locks stay held: a
/// `SKIP LOCKED` claim would pass over the job and answer "nothing pending", a voter or the
/// reaper would wait on the approval.
pub(crate) async fn release(tx: Box<dyn Transaction>) {
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "rollback of a refused request failed; the connection will be reset");
    }
}

/// Internal marker: the idempotency key's unique index refused a concurrent duplicate.
const IDEMPOTENCY_RACE: &str = "idempotency-key race";
