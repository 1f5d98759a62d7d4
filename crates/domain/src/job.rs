//! Jobs: the gated operations, their statuses and the allowed transitions.
//!
//! ```text
//! awaiting_approval -> pending -> running -> succeeded | failed
//! awaiting_approval -> cancelled          (rejected, expired, cancelled)
//! pending | running -> cancelled           (cancelled)
//! running -> pending                       (lease expired, attempts left)
//! ```
//!
//! The table is data ([`TRANSITIONS`]); the database enforces the same table with a trigger.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{JobId, PrincipalId, SubjectId};
use crate::validation::ValidationError;

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    AwaitingApproval,
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

use JobStatus::*;

/// Every allowed `(from, to)` status change.
pub const TRANSITIONS: &[(JobStatus, JobStatus)] = &[
    (AwaitingApproval, Pending),
    (AwaitingApproval, Cancelled),
    (Pending, Running),
    (Pending, Cancelled),
    (Running, Succeeded),
    (Running, Failed),
    (Running, Cancelled),
    (Running, Pending),
];

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        AwaitingApproval,
        Pending,
        Running,
        Succeeded,
        Failed,
        Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AwaitingApproval => "awaiting_approval",
            Pending => "pending",
            Running => "running",
            Succeeded => "succeeded",
            Failed => "failed",
            Cancelled => "cancelled",
        }
    }

    /// No transition leaves a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Succeeded | Failed | Cancelled)
    }

    /// Whether `self -> to` is in [`TRANSITIONS`].
    pub fn can_transition_to(self, to: JobStatus) -> bool {
        TRANSITIONS.contains(&(self, to))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", format!("unknown job status `{s}`")))
    }
}

/// The outcome a worker reports when completing a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CompletionOutcome {
    Succeeded,
    Failed,
}

impl CompletionOutcome {
    pub fn status(self) -> JobStatus {
        match self {
            CompletionOutcome::Succeeded => Succeeded,
            CompletionOutcome::Failed => Failed,
        }
    }
}

/// A job: `{id, subject_id, action, payload, payload_sha256, status, …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: JobId,
    pub subject_id: SubjectId,
    pub action: String,
    /// Immutable once created; always a JSON object.
    pub payload: serde_json::Value,
    pub payload_sha256: String,
    pub status: JobStatus,
    pub requested_by: PrincipalId,
    pub attempts: i32,
    pub claimed_by: Option<PrincipalId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    pub result_message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The requester's `Idempotency-Key`, if it sent one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
}

/// The message a job carries when its approval expired.
pub const MESSAGE_APPROVAL_EXPIRED: &str = "approval expired";
/// The message a job carries when its approval was rejected.
pub const MESSAGE_APPROVAL_REJECTED: &str = "approval rejected";
/// The message a job carries when its lease ran out too often.
pub const MESSAGE_LEASE_EXHAUSTED: &str = "lease expired too many times";

/// An action name: `^[a-z][a-z0-9_.-]{0,127}$`.
pub fn validate_action(action: &str) -> Result<(), ValidationError> {
    let b = action.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "action",
            "must match ^[a-z][a-z0-9_.-]{0,127}$",
        ))
    }
}

/// An idempotency key: 1 to 255 visible ASCII characters.
pub fn validate_idempotency_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table_is_the_contract() {
        let allowed: Vec<_> = JobStatus::ALL
            .iter()
            .flat_map(|a| JobStatus::ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_transition_to(*b))
            .collect();
        assert_eq!(allowed.len(), 8);
        assert!(AwaitingApproval.can_transition_to(Pending));
        assert!(Running.can_transition_to(Pending));
        assert!(!AwaitingApproval.can_transition_to(Running));
        assert!(!Pending.can_transition_to(Succeeded));
        assert!(!Cancelled.can_transition_to(Pending));
        for t in [Succeeded, Failed, Cancelled] {
            assert!(t.is_terminal());
            assert!(JobStatus::ALL.iter().all(|to| !t.can_transition_to(*to)));
        }
        for s in [AwaitingApproval, Pending, Running] {
            assert!(!s.is_terminal());
            assert!(s.can_transition_to(Cancelled));
        }
    }

    #[test]
    fn status_strings() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn actions() {
        assert!(validate_action("certificate.renew").is_ok());
        assert!(validate_action("a").is_ok());
        assert!(validate_action(&format!("a{}", "b".repeat(127))).is_ok());
        for bad in ["", "Renew", "1x", "a b", &format!("a{}", "b".repeat(128))] {
            assert!(validate_action(bad).is_err(), "{bad:?}");
        }
    }
}
