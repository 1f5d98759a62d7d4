//! Jobs: insertion through the gate, compare-and-set transitions, claims and lease reclaim.

use async_trait::async_trait;
use countersign_domain::{Job, JobId, JobStatus, PrincipalId, SubjectId};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// Filters for [`JobRepo::list_jobs`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub subject_id: Option<SubjectId>,
    pub status: Option<JobStatus>,
}

#[async_trait]
pub trait JobRepo {
    /// Insert a job. A repeated `(requested_by, idempotency_key)` is
    /// `Conflict { constraint: "jobs_idempotency_key" }`; a missing subject is `ForeignKey`.
    async fn insert_job(&mut self, job: &Job) -> StoreResult<()>;

    async fn get_job(&mut self, id: JobId) -> StoreResult<Option<Job>>;

    /// The jobs among `ids` that exist, in one round trip, in no particular order (callers
    /// index them by id). Unknown ids are skipped.
    async fn get_jobs(&mut self, ids: &[JobId]) -> StoreResult<Vec<Job>>;

    /// Lock a job's row for the rest of the transaction.
    async fn lock_job(&mut self, id: JobId) -> StoreResult<Option<Job>>;

    /// The job a requester created with this idempotency key, if any.
    async fn find_job_by_idempotency_key(
        &mut self,
        requested_by: PrincipalId,
        key: &str,
    ) -> StoreResult<Option<Job>>;

    /// Newest first.
    async fn list_jobs(&mut self, filter: &JobFilter, page: &PageRequest)
        -> StoreResult<Page<Job>>;

    /// Compare-and-set: move job `id` from `from` to `to` (which must be an allowed
    /// transition) and set `updated_at = at`. `message`, when given, becomes
    /// `result_message`. Leaving `running` clears the lease; entering `pending` also clears
    /// `claimed_by`. `None` if the job is missing or no longer in `from`.
    async fn transition_job(
        &mut self,
        id: JobId,
        from: JobStatus,
        to: JobStatus,
        message: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>>;

    /// Claim the oldest pending job (restricted to `actions` when given): it becomes
    /// `running`, `claimed_by = worker`, `lease_expires_at = lease_until`, `attempts + 1`.
    /// Concurrent claimers never get the same job (`FOR UPDATE SKIP LOCKED` or equivalent).
    async fn claim_job(
        &mut self,
        actions: Option<&[String]>,
        worker: PrincipalId,
        lease_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>>;

    /// Compare-and-set: complete a `running` job held by `worker` with a terminal `outcome`
    /// (`succeeded` or `failed`). `None` if the job is missing, not running, or held by
    /// someone else.
    async fn complete_job(
        &mut self,
        id: JobId,
        worker: PrincipalId,
        outcome: JobStatus,
        message: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Job>>;

    /// Lock up to `limit` running jobs whose lease ended before `now`, oldest lease first,
    /// skipping rows another transaction holds (so replicas share the work).
    async fn lock_expired_leases(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Job>>;
}
