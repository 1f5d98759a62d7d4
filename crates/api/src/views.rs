//! What reads answer: approvals and their eligibility, a requested job, principals, keys,
//! whoami, a freshly created key and an ingest result.

use countersign_domain::{
    ApiKey, ApprovalId, ApprovalRequest, ApprovalRule, ApprovalState, Job, KeyId, KeyStatus,
    Principal, PrincipalId, RoleId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An approval as the API shows it: the request, what remains per rule, and what is being
/// approved (the job's action and payload with its digest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    #[serde(flatten)]
    pub approval: ApprovalRequest,
    pub remaining: Vec<ApprovalRule>,
    pub action: String,
    pub payload: serde_json::Value,
    pub payload_sha256: String,
}

impl ApprovalView {
    /// The view of `approval` as it reads at `now`: a pending request past its deadline shows
    /// as `expired` (list, show, a job's approval) before the scheduler writes it down.
    pub fn new(approval: ApprovalRequest, job: &Job, now: OffsetDateTime) -> Self {
        let approval = approval.as_of(now);
        // An approved request needs nothing more, even when bypass decided it without votes.
        let remaining = if approval.state == ApprovalState::Approved {
            Vec::new()
        } else {
            approval.quorum().remaining
        };
        Self {
            remaining,
            action: job.action.clone(),
            payload: job.payload.clone(),
            payload_sha256: job.payload_sha256.clone(),
            approval,
        }
    }
}

/// The answer of `GET /api/v1/approvals/{id}/eligible`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Eligibility {
    pub approval_id: ApprovalId,
    pub state: ApprovalState,
    pub rules: Vec<RuleEligibility>,
    pub caller: CallerEligibility,
}

/// One rule: its places, how many are open, and who could fill one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleEligibility {
    pub role: RoleId,
    pub count: u32,
    pub remaining: u32,
    pub candidates: Vec<Candidate>,
}

/// A principal whose approve vote would fill a place of the rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub principal_id: PrincipalId,
    pub name: String,
    /// The roles it holds that any of the request's rules name (why it is here).
    pub roles_matching: Vec<RoleId>,
}

/// Whether the caller's approve vote would count, and why (not).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallerEligibility {
    pub principal_id: PrincipalId,
    pub would_count: bool,
    pub reason: String,
}

/// `{"job": …, "approval": … | null}`, and whether this answers a repeated request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRequested {
    pub job: Job,
    pub approval: Option<ApprovalView>,
    #[serde(skip)]
    pub replayed: bool,
}

/// A principal with the roles it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrincipalView {
    #[serde(flatten)]
    pub principal: Principal,
    pub roles: Vec<RoleId>,
}

/// A key as lists show it: `{id, principal_id, created_at, expires_at, revoked_at, status}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyView {
    #[serde(flatten)]
    pub key: ApiKey,
    pub status: KeyStatus,
}

impl KeyView {
    /// The key with its status at `now`.
    pub fn at(key: ApiKey, now: OffsetDateTime) -> Self {
        Self {
            status: key.status_at(now),
            key,
        }
    }
}

/// `{key_id, key, principal_id, expires_at}`: the only time a key's secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCreated {
    pub key_id: KeyId,
    pub key: String,
    pub principal_id: PrincipalId,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The answer to `GET /api/v1/auth/whoami`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    pub principal: WhoAmIPrincipal,
    pub key_id: Option<KeyId>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// The principal part of [`WhoAmI`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmIPrincipal {
    pub id: String,
    pub name: String,
    pub kind: String,
}

/// The answer to `POST /api/v1/audit/events`: `{"accepted": n, "duplicates": m}`;
/// `accepted` counts newly stored events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestOutcome {
    pub accepted: u64,
    pub duplicates: u64,
}
