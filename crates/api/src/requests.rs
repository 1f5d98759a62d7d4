//! The bodies of `POST`/`PUT` requests. The server refuses unknown fields in each.

use std::collections::{BTreeMap, BTreeSet};

use countersign_domain::job::CompletionOutcome;
use countersign_domain::{ApprovalRule, Permission, PolicyId, PrincipalKind, RoleId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `POST /api/v1/approvals/{id}/approve|reject`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2000,
            pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub note: Option<String>,
}

/// `POST /api/v1/jobs/claim`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100, inline, value_type = Option<Vec<crate::schema::ActionName>>))]
    pub actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub lease_secs: Option<u64>,
}

/// `POST /api/v1/jobs/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    pub outcome: CompletionOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 4096,
            pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub message: Option<String>,
}

/// `POST /api/v1/jobs/{id}/cancel`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 4096,
            pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub reason: Option<String>,
}

/// `POST /api/v1/auth/principals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipalBody {
    #[cfg_attr(feature = "openapi", schema(value_type = countersign_domain::PrincipalName))]
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: PrincipalKind,
}

fn default_kind() -> PrincipalKind {
    PrincipalKind::User
}

/// `POST /api/v1/auth/principals/{id}/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// `POST /api/v1/auth/principals/{id}/roles`: the role to assign.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignRoleBody {
    pub role: RoleId,
}

/// `POST /api/v1/auth/roles`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRoleBody {
    pub id: RoleId,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 1024,
            pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub description: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Permission>))]
    pub permissions: BTreeSet<Permission>,
}

/// `PUT /api/v1/auth/roles/{id}`: the whole role, with the generation it was read at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleBody {
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 1024,
            pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Permission>))]
    pub permissions: BTreeSet<Permission>,
    pub generation: i64,
}

/// `POST /api/v1/auth/roles/{id}/permissions`: the permission to grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantPermissionBody {
    pub permission: Permission,
}

/// `POST /api/v1/policies`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyBody {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f](?:[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
        )
    )]
    pub name: String,
    pub requires_approval: bool,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub rules: Vec<ApprovalRule>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub approval_timeout_secs: Option<i64>,
    /// Remind the approvers of a request still pending this long after it was made, and again
    /// every as long after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub remind_after_secs: Option<i64>,
    /// Escalate a request still pending this long after it was made, once, to the holders of
    /// `escalate_to_role` (given together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub escalate_after_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to_role: Option<RoleId>,
}

/// `PUT /api/v1/policies/{id}`: the whole policy, with the generation it was read at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicyBody {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f](?:[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
        )
    )]
    pub name: String,
    pub requires_approval: bool,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub rules: Vec<ApprovalRule>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub approval_timeout_secs: Option<i64>,
    /// Remind the approvers of a request still pending this long after it was made, and again
    /// every as long after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub remind_after_secs: Option<i64>,
    /// Escalate a request still pending this long after it was made, once, to the holders of
    /// `escalate_to_role` (given together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub escalate_after_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to_role: Option<RoleId>,
    pub generation: i64,
}

/// `POST /api/v1/subjects`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSubjectBody {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z][a-z0-9_.-]{0,63}$"))]
    pub kind: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub name: String,
    pub policy_id: PolicyId,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Labels))]
    pub labels: BTreeMap<String, String>,
}

/// `POST /api/v1/subjects/{id}/jobs` (the `Idempotency-Key` header rides beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestJobBody {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ActionName))]
    pub action: String,
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
