//! Roles: named sets of permissions, and the built-in roles.
//!
//! Roles are assigned to principals (never to keys). Built-in roles are seeded by the
//! migrations with exactly [`builtin_roles`] and cannot be deleted.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::permission::Permission;
use crate::validation::ValidationError;

/// A role identifier: a slug such as `admin` or `security-approver`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId(String);

impl RoleId {
    /// Parse a slug: `[a-z0-9][a-z0-9-]{0,62}`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "role",
                format!("`{s}` is not a role slug ([a-z0-9][a-z0-9-]{{0,62}})"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleId({})", self.0)
    }
}

impl FromStr for RoleId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for RoleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A role: `{id, description, permissions, builtin, generation}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Role {
    pub id: RoleId,
    pub description: String,
    pub permissions: BTreeSet<Permission>,
    pub builtin: bool,
    /// Bumped by every edit; writers pass the generation they read (optimistic concurrency).
    pub generation: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The built-in role ids.
pub mod builtin {
    pub const ADMIN: &str = "admin";
    pub const REQUESTER: &str = "requester";
    pub const APPROVER: &str = "approver";
    pub const AUDITOR: &str = "auditor";
    pub const WORKER: &str = "worker";
    pub const AUDIT_WRITER: &str = "audit-writer";
}

/// The built-in roles with their descriptions and permissions.
///
/// - `admin`: every permission.
/// - `requester`: asks for jobs and follows them; it cannot create subjects, because a subject
///   picks its policy and a requester choosing its own policy would defeat the gate.
/// - `approver`: reads what it is asked to approve and votes.
/// - `auditor`: read-only everywhere plus `audit.export`.
/// - `worker`: claims and completes jobs.
/// - `audit-writer`: ingests audit events from embedding services.
pub fn builtin_roles() -> Vec<(RoleId, &'static str, BTreeSet<Permission>)> {
    use Permission::*;
    let set = |ps: &[Permission]| ps.iter().copied().collect::<BTreeSet<_>>();
    let reads: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.is_read())
        .collect();
    let mut auditor = set(&reads);
    auditor.insert(AuditExport);
    vec![
        (
            RoleId(builtin::ADMIN.into()),
            "Every permission.",
            set(Permission::ALL),
        ),
        (
            RoleId(builtin::REQUESTER.into()),
            "Requests jobs and follows their approvals.",
            set(&[
                PolicyRead,
                SubjectRead,
                JobRead,
                JobRequest,
                JobCancel,
                ApprovalRead,
            ]),
        ),
        (
            RoleId(builtin::APPROVER.into()),
            "Reads and decides approval requests.",
            set(&[
                PolicyRead,
                SubjectRead,
                JobRead,
                ApprovalRead,
                ApprovalApprove,
                ApprovalReject,
            ]),
        ),
        (
            RoleId(builtin::AUDITOR.into()),
            "Read-only everywhere, plus audit export.",
            auditor,
        ),
        (
            RoleId(builtin::WORKER.into()),
            "Claims and completes approved jobs.",
            set(&[JobClaim, JobComplete, JobRead]),
        ),
        (
            RoleId(builtin::AUDIT_WRITER.into()),
            "Ingests audit events from embedding services.",
            set(&[AuditWrite]),
        ),
    ]
}

/// Whether `id` names a built-in role.
pub fn is_builtin(id: &RoleId) -> bool {
    builtin_roles().iter().any(|(b, _, _)| b == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(RoleId::parse("security-approver").is_ok());
        assert!(RoleId::parse("a").is_ok());
        assert!(RoleId::parse("9x").is_ok());
        for bad in ["", "-x", "Admin", "a_b", "a b", &"x".repeat(64)] {
            assert!(RoleId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn builtins_match_the_contract() {
        let roles = builtin_roles();
        let get = |id: &str| {
            roles
                .iter()
                .find(|(r, _, _)| r.as_str() == id)
                .map(|(_, _, p)| p.clone())
                .unwrap()
        };
        assert_eq!(get("admin").len(), Permission::ALL.len());
        assert_eq!(
            get("worker"),
            [
                Permission::JobClaim,
                Permission::JobComplete,
                Permission::JobRead
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            get("audit-writer"),
            [Permission::AuditWrite].into_iter().collect()
        );
        let auditor = get("auditor");
        assert!(auditor.contains(&Permission::AuditExport));
        assert!(auditor.contains(&Permission::AuditRead));
        assert!(auditor
            .iter()
            .all(|p| p.is_read() || *p == Permission::AuditExport));
        assert!(!get("requester").contains(&Permission::SubjectWrite));
        assert!(is_builtin(&RoleId::parse("approver").unwrap()));
        assert!(!is_builtin(&RoleId::parse("security").unwrap()));
    }
}
