//! [`ServiceError`]: the use cases' answers, one variant per contract error code.

use countersign_domain::{IdError, ValidationError};
use countersign_store::StoreError;

/// What a use case answers when it does not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 400 `invalid_request`.
    #[error("{0}")]
    Invalid(String),
    /// 401 `unauthenticated`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `two_person_integrity`.
    #[error("two-person integrity: the requester cannot decide its own request")]
    TwoPersonIntegrity,
    /// 404 `not_found`.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 409 `already_decided`.
    #[error("the approval request is already {0}")]
    AlreadyDecided(&'static str),
    /// 409 `approval_expired`: the request is past its `expires_at`.
    #[error("the approval request has expired")]
    ApprovalExpired,
    /// 409 `already_voted`.
    #[error("this principal has already voted on this request")]
    AlreadyVoted,
    /// 409 `generation_mismatch`.
    #[error("generation mismatch: the resource changed since it was read (now at {current})")]
    GenerationMismatch { current: i64 },
    /// 409 `invalid_transition`.
    #[error("{0}")]
    InvalidTransition(String),
    /// 503 `unavailable`.
    /// The audit event is not in the transparency log yet (or not under a checkpoint yet).
    #[error("{0}")]
    NotSequenced(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// 500, logged once at the edge, answered opaquely.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The result of a use case.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Invalid(_) => "invalid_request",
            ServiceError::Unauthenticated(_) => "unauthenticated",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::TwoPersonIntegrity => "two_person_integrity",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::AlreadyDecided(_) => "already_decided",
            ServiceError::ApprovalExpired => "approval_expired",
            ServiceError::AlreadyVoted => "already_voted",
            ServiceError::GenerationMismatch { .. } => "generation_mismatch",
            ServiceError::InvalidTransition(_) => "invalid_transition",
            ServiceError::NotSequenced(_) => "not_sequenced",
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::Internal(_) => "internal",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ServiceError::Invalid(message.into())
    }
}

impl From<ValidationError> for ServiceError {
    fn from(e: ValidationError) -> Self {
        ServiceError::Invalid(e.to_string())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ServiceError::Unavailable(e),
            StoreError::NotFound => ServiceError::NotFound("resource"),
            StoreError::Conflict { ref constraint } => {
                ServiceError::Conflict(format!("conflict with an existing resource ({constraint})"))
            }
            other => ServiceError::Internal(Box::new(other)),
        }
    }
}

/// Parse an id from a path or body, answering 400 for a malformed one.
pub fn parse_id<T: std::str::FromStr<Err = IdError>>(field: &str, s: &str) -> ServiceResult<T> {
    s.parse()
        .map_err(|e: IdError| ServiceError::Invalid(format!("{field}: {e}")))
}
