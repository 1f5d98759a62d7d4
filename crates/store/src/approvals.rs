//! Approval requests and their votes.

use async_trait::async_trait;
use countersign_domain::{
    ApprovalId, ApprovalRequest, ApprovalState, JobId, PrincipalId, RoleId, SubjectId, Vote,
};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// Filters for [`ApprovalRepo::list_approvals`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    pub state: Option<ApprovalState>,
    pub subject_id: Option<SubjectId>,
    pub requested_by: Option<PrincipalId>,
    /// When set, the `state` filter reads a pending approval whose `expires_at` is at or
    /// before this instant as `expired` (`ApprovalRequest::state_at`).
    pub as_of: Option<OffsetDateTime>,
}

#[async_trait]
pub trait ApprovalRepo {
    /// Insert a pending approval (its `votes` are ignored). A second pending approval for a
    /// job is `Conflict { constraint: "approvals_one_pending_per_job" }`.
    async fn insert_approval(&mut self, approval: &ApprovalRequest) -> StoreResult<()>;

    /// An approval with its votes (in voting order).
    async fn get_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>>;

    /// The same, locking the approval row for the rest of the transaction: concurrent voters
    /// on one request serialize here.
    async fn lock_approval(&mut self, id: ApprovalId) -> StoreResult<Option<ApprovalRequest>>;

    /// The newest approval of a job, if any.
    async fn approval_for_job(&mut self, job: JobId) -> StoreResult<Option<ApprovalRequest>>;

    /// Newest first, with votes.
    async fn list_approvals(
        &mut self,
        filter: &ApprovalFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ApprovalRequest>>;

    /// Record a vote. A second vote by the same principal is
    /// `Conflict { constraint: "votes_pkey" }`.
    async fn insert_vote(&mut self, approval: ApprovalId, vote: &Vote) -> StoreResult<()>;

    /// Compare-and-set: decide a `pending` approval as `state` (terminal), setting
    /// `decided_by` and `decided_at`. `false` if it is missing or no longer pending.
    async fn decide_approval(
        &mut self,
        id: ApprovalId,
        state: ApprovalState,
        decided_by: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Newest first, with votes: the approvals pending as of `as_of` (not past their deadline)
    /// that `principal` did not request, has not voted on, and whose rules name one of
    /// `roles` — the requests that may be waiting on that person's vote. (Whether the vote
    /// would still fill an open place is the service's eligibility rule.)
    async fn list_awaiting_vote(
        &mut self,
        principal: PrincipalId,
        roles: &[RoleId],
        as_of: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<ApprovalRequest>>;

    /// Lock up to `limit` pending approvals with `expires_at <= now`, oldest first, skipping
    /// rows another transaction holds (so scheduler replicas share the work).
    async fn lock_due_approvals(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>>;
}
