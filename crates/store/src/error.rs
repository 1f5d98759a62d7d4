//! The store's error type.
//!
//! Backends translate database facts here, at the lowest layer: a unique violation becomes
//! [`StoreError::Conflict`] naming the constraint, a foreign-key violation
//! [`StoreError::ForeignKey`], a lost connection [`StoreError::Unavailable`]. The service maps
//! these to domain answers (`already_voted`, 409, 503) without knowing the backend.

/// A repository operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflict on constraint `{constraint}`")]
    Conflict { constraint: String },
    /// A foreign key refused the write (a missing parent, or a child still referencing).
    #[error("foreign key violation on constraint `{constraint}`")]
    ForeignKey { constraint: String },
    /// A CHECK constraint or trigger refused the write: the caller let an invalid value through.
    #[error("constraint `{constraint}` refused the write: {message}")]
    Check { constraint: String, message: String },
    /// The database cannot be reached (or the pool timed out).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or an unexpected database state.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wrap any error as [`StoreError::Other`].
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Other(Box::new(e))
    }
}

/// The result of a repository operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Constraint names the service reacts to; backends must use these names.
pub mod constraints {
    /// One vote per (approval, principal).
    pub const VOTES_ONE_PER_PRINCIPAL: &str = "votes_pkey";
    /// One pending approval per job.
    pub const APPROVALS_ONE_PENDING_PER_JOB: &str = "approvals_one_pending_per_job";
    /// Principal names are unique.
    pub const PRINCIPALS_NAME: &str = "principals_name_key";
    /// Policy names are unique.
    pub const POLICIES_NAME: &str = "policies_name_key";
    /// Subjects are unique by (kind, name).
    pub const SUBJECTS_KIND_NAME: &str = "subjects_kind_name_key";
    /// A requester's idempotency keys are unique.
    pub const JOBS_IDEMPOTENCY: &str = "jobs_idempotency_key";
    /// Role ids are unique.
    pub const ROLES_PKEY: &str = "roles_pkey";
    /// A policy rule references an existing role (and a role in use cannot be deleted).
    pub const POLICY_RULES_ROLE_FK: &str = "policy_rules_role_id_fkey";
    /// A policy's escalation names an existing role (and a role so named cannot be deleted).
    pub const POLICIES_ESCALATE_TO_ROLE_FK: &str = "policies_escalate_to_role_fkey";
}
