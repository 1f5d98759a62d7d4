//! Row structs (`FromRow`) and their conversion into domain values.
//!
//! Columns are read as plain SQLite values (TEXT, INTEGER, BLOB) and parsed into the domain's
//! validated types here: timestamps through [`crate::timestamp`], JSON columns with
//! serde_json. A stored value that no longer parses (which the schema's CHECKs should make
//! impossible) is a [`CorruptRow`] inside `StoreError::Other`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use countersign_domain::{
    ApiKey, ApprovalRequest, ApprovalRule, AuditEvent, Job, Permission, Policy, Principal,
    PrincipalName, Role, Subject, Vote,
};
use countersign_store::decode::parse_opt;
pub(crate) use countersign_store::decode::{parse, CorruptRow};
use countersign_store::{KeyAuthRecord, StoreError, StoreResult};
use serde::de::DeserializeOwned;

use crate::timestamp::{decode, decode_opt};

/// Parse a stored JSON text column.
pub(crate) fn json<T: DeserializeOwned>(column: &'static str, value: &str) -> StoreResult<T> {
    serde_json::from_str(value).map_err(|e| StoreError::other(CorruptRow::new(column, value, e)))
}

/// Parse a JSON array of strings, each into a domain type.
fn parse_array<T>(column: &'static str, value: &str) -> StoreResult<Vec<T>>
where
    T: FromStr,
    T::Err: Display,
{
    json::<Vec<String>>(column, value)?
        .iter()
        .map(|v| parse(column, v))
        .collect()
}

/// Column list for [`PrincipalRow`].
pub(crate) const PRINCIPAL_COLUMNS: &str = "id, name, kind, disabled, created_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PrincipalRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub disabled: bool,
    pub created_at: String,
}

impl PrincipalRow {
    pub fn into_domain(self) -> StoreResult<Principal> {
        Ok(Principal {
            id: parse("principals.id", &self.id)?,
            name: PrincipalName::parse(&self.name).map_err(|e| {
                StoreError::other(CorruptRow::new("principals.name", &self.name, e))
            })?,
            kind: parse("principals.kind", &self.kind)?,
            disabled: self.disabled,
            created_at: decode("principals.created_at", &self.created_at)?,
        })
    }
}

/// Column list for [`KeyRow`].
pub(crate) const KEY_COLUMNS: &str = "id, principal_id, created_at, expires_at, revoked_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    pub principal_id: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl KeyRow {
    pub fn into_domain(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: parse("api_keys.id", &self.id)?,
            principal_id: parse("api_keys.principal_id", &self.principal_id)?,
            created_at: decode("api_keys.created_at", &self.created_at)?,
            expires_at: decode_opt("api_keys.expires_at", self.expires_at.as_deref())?,
            revoked_at: decode_opt("api_keys.revoked_at", self.revoked_at.as_deref())?,
        })
    }
}

/// Column list for [`RoleRow`], for a query over `roles r`; the permissions come along as one
/// JSON array.
pub(crate) const ROLE_COLUMNS: &str = "r.id, r.description, r.builtin, r.generation, \
     r.created_at, r.updated_at, \
     (SELECT json_group_array(rp.permission ORDER BY rp.permission) \
      FROM role_permissions rp WHERE rp.role_id = r.id) AS permissions";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RoleRow {
    pub id: String,
    pub description: String,
    pub builtin: bool,
    pub generation: i64,
    pub created_at: String,
    pub updated_at: String,
    pub permissions: String,
}

impl RoleRow {
    pub fn into_domain(self) -> StoreResult<Role> {
        Ok(Role {
            id: parse("roles.id", &self.id)?,
            description: self.description,
            permissions: parse_array::<Permission>(
                "role_permissions.permission",
                &self.permissions,
            )?
            .into_iter()
            .collect(),
            builtin: self.builtin,
            generation: self.generation,
            created_at: decode("roles.created_at", &self.created_at)?,
            updated_at: decode("roles.updated_at", &self.updated_at)?,
        })
    }
}

/// Column list for [`PolicyRow`], for a query over `policies p`; the rules come along as one
/// JSON array in position order.
pub(crate) const POLICY_COLUMNS: &str = "p.id, p.name, p.requires_approval, \
     p.approval_timeout_secs, p.generation, p.created_at, p.updated_at, \
     (SELECT json_group_array(json_object('role', pr.role_id, 'count', pr.count) \
                              ORDER BY pr.position) \
      FROM policy_rules pr WHERE pr.policy_id = p.id) AS rules";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PolicyRow {
    pub id: String,
    pub name: String,
    pub requires_approval: bool,
    pub approval_timeout_secs: i64,
    pub generation: i64,
    pub created_at: String,
    pub updated_at: String,
    pub rules: String,
}

impl PolicyRow {
    pub fn into_domain(self) -> StoreResult<Policy> {
        Ok(Policy {
            id: parse("policies.id", &self.id)?,
            name: self.name,
            requires_approval: self.requires_approval,
            rules: json::<Vec<ApprovalRule>>("policy_rules", &self.rules)?,
            approval_timeout_secs: self.approval_timeout_secs,
            generation: self.generation,
            created_at: decode("policies.created_at", &self.created_at)?,
            updated_at: decode("policies.updated_at", &self.updated_at)?,
        })
    }
}

/// Column list for [`SubjectRow`].
pub(crate) const SUBJECT_COLUMNS: &str = "id, kind, name, policy_id, labels, created_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SubjectRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub policy_id: String,
    pub labels: String,
    pub created_at: String,
}

impl SubjectRow {
    pub fn into_domain(self) -> StoreResult<Subject> {
        Ok(Subject {
            id: parse("subjects.id", &self.id)?,
            kind: self.kind,
            name: self.name,
            policy_id: parse("subjects.policy_id", &self.policy_id)?,
            labels: json::<BTreeMap<String, String>>("subjects.labels", &self.labels)?,
            created_at: decode("subjects.created_at", &self.created_at)?,
        })
    }
}

/// Column list for [`JobRow`].
pub(crate) const JOB_COLUMNS: &str = "id, subject_id, action, payload, payload_sha256, status, \
     requested_by, idempotency_key, attempts, claimed_by, lease_expires_at, result_message, \
     created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    pub id: String,
    pub subject_id: String,
    pub action: String,
    pub payload: String,
    pub payload_sha256: String,
    pub status: String,
    pub requested_by: String,
    pub idempotency_key: Option<String>,
    pub attempts: i32,
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<String>,
    pub result_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl JobRow {
    pub fn into_domain(self) -> StoreResult<Job> {
        Ok(Job {
            id: parse("jobs.id", &self.id)?,
            subject_id: parse("jobs.subject_id", &self.subject_id)?,
            action: self.action,
            payload: json("jobs.payload", &self.payload)?,
            payload_sha256: self.payload_sha256,
            status: parse("jobs.status", &self.status)?,
            requested_by: parse("jobs.requested_by", &self.requested_by)?,
            attempts: self.attempts,
            claimed_by: parse_opt("jobs.claimed_by", self.claimed_by.as_deref())?,
            lease_expires_at: decode_opt(
                "jobs.lease_expires_at",
                self.lease_expires_at.as_deref(),
            )?,
            result_message: self.result_message,
            created_at: decode("jobs.created_at", &self.created_at)?,
            updated_at: decode("jobs.updated_at", &self.updated_at)?,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// Column list for [`ApprovalRow`].
pub(crate) const APPROVAL_COLUMNS: &str = "id, job_id, subject_id, policy_id, requested_by, \
     state, rules, created_at, expires_at, decided_at, decided_by";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApprovalRow {
    pub id: String,
    pub job_id: String,
    pub subject_id: String,
    pub policy_id: String,
    pub requested_by: String,
    pub state: String,
    pub rules: String,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
}

impl ApprovalRow {
    /// The approval, with `votes` (already in voting order) attached.
    pub fn into_domain(self, votes: Vec<Vote>) -> StoreResult<ApprovalRequest> {
        Ok(ApprovalRequest {
            id: parse("approvals.id", &self.id)?,
            job_id: parse("approvals.job_id", &self.job_id)?,
            subject_id: parse("approvals.subject_id", &self.subject_id)?,
            policy_id: parse("approvals.policy_id", &self.policy_id)?,
            requested_by: parse("approvals.requested_by", &self.requested_by)?,
            state: parse("approvals.state", &self.state)?,
            rules: json("approvals.rules", &self.rules)?,
            votes,
            created_at: decode("approvals.created_at", &self.created_at)?,
            expires_at: decode("approvals.expires_at", &self.expires_at)?,
            decided_at: decode_opt("approvals.decided_at", self.decided_at.as_deref())?,
            decided_by: self.decided_by,
        })
    }
}

/// Column list for [`VoteRow`].
pub(crate) const VOTE_COLUMNS: &str = "approval_id, principal_id, decision, note, roles, at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VoteRow {
    pub approval_id: String,
    pub principal_id: String,
    pub decision: String,
    pub note: Option<String>,
    pub roles: String,
    pub at: String,
}

impl VoteRow {
    pub fn into_domain(self) -> StoreResult<Vote> {
        Ok(Vote {
            principal_id: parse("votes.principal_id", &self.principal_id)?,
            decision: parse("votes.decision", &self.decision)?,
            note: self.note,
            at: decode("votes.at", &self.at)?,
            roles: parse_array("votes.roles", &self.roles)?,
        })
    }
}

/// An audit row: its order key (as stored) and its wire form.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub ts: String,
    pub event_id: String,
    pub body: String,
}

impl AuditRow {
    pub fn into_domain(self) -> StoreResult<AuditEvent> {
        json("audit_events.body", &self.body)
    }
}

/// Everything [`KeyAuthRecord`] needs, from one query.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyAuthRow {
    pub id: String,
    pub principal_id: String,
    pub secret_hash: Vec<u8>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub principal_name: String,
    pub principal_kind: String,
    pub principal_disabled: bool,
    pub principal_created_at: String,
    pub roles: String,
    pub permissions: String,
}

impl KeyAuthRow {
    pub fn into_domain(self) -> StoreResult<KeyAuthRecord> {
        let principal = PrincipalRow {
            id: self.principal_id.clone(),
            name: self.principal_name,
            kind: self.principal_kind,
            disabled: self.principal_disabled,
            created_at: self.principal_created_at,
        }
        .into_domain()?;
        let key = KeyRow {
            id: self.id,
            principal_id: self.principal_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
        .into_domain()?;
        let permissions: BTreeSet<Permission> =
            parse_array::<Permission>("role_permissions.permission", &self.permissions)?
                .into_iter()
                .collect();
        Ok(KeyAuthRecord {
            key,
            secret_hash: self.secret_hash,
            principal,
            roles: parse_array("principal_roles.role_id", &self.roles)?,
            permissions,
        })
    }
}
