//! Permissions: a closed enum with a stable string form.
//!
//! The string forms are part of the v1 contract (`approval.approve`, `auth.role.assign`, …) and
//! are also listed in a CHECK constraint in the database; a test keeps the two in step.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

macro_rules! permissions {
    ($($variant:ident => $s:literal),* $(,)?) => {
        /// One thing a role may allow.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($variant),*
        }

        impl Permission {
            /// Every permission, in contract order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            /// The contract string, e.g. `approval.approve`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $s),*
                }
            }
        }

        impl FromStr for Permission {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Permission::$variant),)*
                    other => Err(ValidationError::new(
                        "permission",
                        format!("unknown permission `{other}`"),
                    )),
                }
            }
        }
    };
}

permissions! {
    PolicyRead => "policy.read",
    PolicyWrite => "policy.write",
    SubjectRead => "subject.read",
    SubjectWrite => "subject.write",
    JobRead => "job.read",
    JobRequest => "job.request",
    JobCancel => "job.cancel",
    JobClaim => "job.claim",
    JobComplete => "job.complete",
    ApprovalRead => "approval.read",
    ApprovalApprove => "approval.approve",
    ApprovalReject => "approval.reject",
    AuditRead => "audit.read",
    AuditExport => "audit.export",
    AuditWrite => "audit.write",
    AuthPrincipalRead => "auth.principal.read",
    AuthPrincipalWrite => "auth.principal.write",
    AuthKeyRead => "auth.key.read",
    AuthKeyCreate => "auth.key.create",
    AuthKeyRevoke => "auth.key.revoke",
    AuthRoleRead => "auth.role.read",
    AuthRoleCreate => "auth.role.create",
    AuthRoleEdit => "auth.role.edit",
    AuthRoleDelete => "auth.role.delete",
    AuthRoleAssign => "auth.role.assign",
    AuthRoleRevoke => "auth.role.revoke",
    WebhookRead => "webhook.read",
    WebhookWrite => "webhook.write",
    LogRead => "log.read",
}

impl Permission {
    /// Whether this permission only reads (the auditor role holds every one of these).
    pub fn is_read(self) -> bool {
        self.as_str().ends_with(".read")
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips() {
        assert_eq!(Permission::ALL.len(), 29);
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), *p);
        }
    }

    #[test]
    fn unknown_permissions_are_rejected() {
        assert!("approval.approve ".parse::<Permission>().is_err());
        assert!("APPROVAL.APPROVE".parse::<Permission>().is_err());
        assert!(serde_json::from_str::<Permission>("\"root\"").is_err());
    }
}
