//! Approval requests, their states, votes and decision outcomes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{ApprovalId, JobId, PolicyId, PrincipalId, SubjectId};
use crate::policy::ApprovalRule;
use crate::quorum::{self, QuorumStatus};
use crate::role::RoleId;
use crate::validation::ValidationError;

/// An approval request's state. `pending` is the only non-terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
    Expired,
    /// The job awaiting approval was cancelled.
    Cancelled,
}

impl ApprovalState {
    pub const ALL: [ApprovalState; 5] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Rejected,
        ApprovalState::Expired,
        ApprovalState::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != ApprovalState::Pending
    }
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApprovalState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "state",
                    format!(
                        "unknown approval state `{s}` (pending, approved, rejected, expired, cancelled)"
                    ),
                )
            })
    }
}

/// How an approval was decided, the label on `countersign_approval_decisions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    Approved,
    Rejected,
    Expired,
    Bypassed,
    /// The job was cancelled while its approval was pending.
    Cancelled,
}

impl DecisionOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Approved => "approved",
            DecisionOutcome::Rejected => "rejected",
            DecisionOutcome::Expired => "expired",
            DecisionOutcome::Bypassed => "bypassed",
            DecisionOutcome::Cancelled => "cancelled",
        }
    }

    /// The state an approval ends in.
    pub fn state(self) -> ApprovalState {
        match self {
            DecisionOutcome::Approved | DecisionOutcome::Bypassed => ApprovalState::Approved,
            DecisionOutcome::Rejected => ApprovalState::Rejected,
            DecisionOutcome::Expired => ApprovalState::Expired,
            DecisionOutcome::Cancelled => ApprovalState::Cancelled,
        }
    }
}

/// A vote's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VoteDecision {
    Approve,
    Reject,
}

impl VoteDecision {
    pub const fn as_str(self) -> &'static str {
        match self {
            VoteDecision::Approve => "approve",
            VoteDecision::Reject => "reject",
        }
    }
}

impl FromStr for VoteDecision {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "approve" => Ok(VoteDecision::Approve),
            "reject" => Ok(VoteDecision::Reject),
            other => Err(ValidationError::new(
                "decision",
                format!("unknown decision `{other}`"),
            )),
        }
    }
}

/// One principal's vote, with the roles it held when it voted (history is never rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Vote {
    pub principal_id: PrincipalId,
    pub decision: VoteDecision,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub roles: Vec<RoleId>,
}

/// The longest vote note.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// A note: at most 2,000 characters, no control characters but tabs and line breaks.
pub fn validate_note(note: &str) -> Result<(), ValidationError> {
    crate::text::validate_free_text("note", note, MAX_NOTE_CHARS)
}

/// An approval request for one job, with the policy's rules as they were when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalRequest {
    pub id: ApprovalId,
    pub job_id: JobId,
    pub subject_id: SubjectId,
    pub policy_id: PolicyId,
    pub requested_by: PrincipalId,
    pub state: ApprovalState,
    /// The policy's rules, frozen at request time: editing a policy never moves the goalposts
    /// of a request already made.
    pub rules: Vec<ApprovalRule>,
    pub votes: Vec<Vote>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// The deciding principal's id, or a system actor such as `system:reaper`.
    pub decided_by: Option<String>,
}

impl ApprovalRequest {
    /// The state as of `now`: a pending request past its `expires_at` is expired, whether or
    /// not the scheduler has written that down yet.
    pub fn state_at(&self, now: OffsetDateTime) -> ApprovalState {
        if self.state == ApprovalState::Pending && now >= self.expires_at {
            ApprovalState::Expired
        } else {
            self.state
        }
    }

    /// This request as it reads at `now` (see [`ApprovalRequest::state_at`]). Only the state
    /// changes: `decided_at`/`decided_by` stay empty until the expiry is written down.
    pub fn as_of(mut self, now: OffsetDateTime) -> Self {
        self.state = self.state_at(now);
        self
    }

    /// The quorum over this request's approve votes, matching voters to rules by the roles
    /// they held when they voted.
    pub fn quorum(&self) -> QuorumStatus {
        let approvals: Vec<quorum::Approver<'_>> = self
            .votes
            .iter()
            .filter(|v| v.decision == VoteDecision::Approve)
            .map(|v| quorum::Approver {
                principal: v.principal_id,
                roles: &v.roles,
            })
            .collect();
        quorum::evaluate(&self.rules, &approvals)
    }

    /// Whether `principal` already voted.
    pub fn has_voted(&self, principal: PrincipalId) -> bool {
        self.votes.iter().any(|v| v.principal_id == principal)
    }

    /// Whether someone holding `roles` could fill any rule of this request.
    pub fn is_eligible(&self, roles: &[RoleId]) -> bool {
        self.rules.iter().any(|r| roles.contains(&r.role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_strictly() {
        for s in ApprovalState::ALL {
            assert_eq!(s.as_str().parse::<ApprovalState>().unwrap(), s);
        }
        assert!("Pending".parse::<ApprovalState>().is_err());
        assert!("done".parse::<ApprovalState>().is_err());
        assert!(serde_json::from_str::<ApprovalState>("\"canceled\"").is_err());
        assert_eq!(
            serde_json::from_str::<ApprovalState>("\"cancelled\"").unwrap(),
            ApprovalState::Cancelled
        );
        assert!(ApprovalState::Cancelled.is_terminal());
        assert!(!ApprovalState::Pending.is_terminal());
        assert!(ApprovalState::Approved.is_terminal());
        assert!(ApprovalState::Rejected.is_terminal());
        assert!(ApprovalState::Expired.is_terminal());
    }

    #[test]
    fn outcomes_map_to_states() {
        assert_eq!(DecisionOutcome::Bypassed.state(), ApprovalState::Approved);
        assert_eq!(DecisionOutcome::Expired.state(), ApprovalState::Expired);
        assert_eq!(DecisionOutcome::Rejected.as_str(), "rejected");
        assert_eq!(DecisionOutcome::Cancelled.state(), ApprovalState::Cancelled);
        assert_eq!(DecisionOutcome::Cancelled.as_str(), "cancelled");
    }

    #[test]
    fn a_pending_request_past_its_deadline_reads_expired() {
        let created = time::macros::datetime!(2026-05-20 10:00:00 UTC);
        let mut a = ApprovalRequest {
            id: ApprovalId::new(),
            job_id: JobId::new(),
            subject_id: SubjectId::new(),
            policy_id: PolicyId::new(),
            requested_by: PrincipalId::new(),
            state: ApprovalState::Pending,
            rules: Vec::new(),
            votes: Vec::new(),
            created_at: created,
            expires_at: created + time::Duration::hours(1),
            decided_at: None,
            decided_by: None,
        };
        let before = created + time::Duration::minutes(59);
        let at = created + time::Duration::hours(1);
        assert_eq!(a.state_at(before), ApprovalState::Pending);
        assert_eq!(a.state_at(at), ApprovalState::Expired);
        assert_eq!(a.clone().as_of(at).state, ApprovalState::Expired);
        a.state = ApprovalState::Approved;
        assert_eq!(
            a.state_at(at),
            ApprovalState::Approved,
            "decided stays decided"
        );
    }
}
