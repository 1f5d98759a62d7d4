//! The authenticated caller and the permission checks every use case starts with.

use std::collections::BTreeSet;

use countersign_domain::{Actor, KeyId, Permission, Principal, PrincipalId, RoleId};

/// Who is calling: a principal, through one of its keys, with the roles and permissions it
/// holds right now, plus the request's correlation ids for the audit trail.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub key_id: Option<KeyId>,
    pub roles: Vec<RoleId>,
    pub permissions: BTreeSet<Permission>,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn id(&self) -> PrincipalId {
        self.principal.id
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The audit actor for this caller.
    pub fn actor(&self) -> Actor {
        Actor::principal(&self.principal, self.key_id)
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Attach the request id the edge assigned.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}
