//! Actors: who did something — a principal, or one of the system actors.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{KeyId, PrincipalId};
use crate::principal::{Principal, PrincipalKind};

/// The kind of actor in an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Service,
    System,
}

impl From<PrincipalKind> for ActorKind {
    fn from(k: PrincipalKind) -> Self {
        match k {
            PrincipalKind::User => ActorKind::User,
            PrincipalKind::Service => ActorKind::Service,
        }
    }
}

/// The system actors: work done by Countersign itself, never by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemActor {
    /// Decides approvals at once when bypass mode is on.
    Bypass,
    /// Expires stale approvals.
    Reaper,
    /// Reclaims expired job leases and runs other background loops.
    Scheduler,
    /// An operator at the server's command line (`countersign-server keys create`).
    Bootstrap,
}

impl SystemActor {
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemActor::Bypass => "system:bypass",
            SystemActor::Reaper => "system:reaper",
            SystemActor::Scheduler => "system:scheduler",
            SystemActor::Bootstrap => "system:bootstrap",
        }
    }
}

impl fmt::Display for SystemActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actor of an audit event: `{kind, id, name?, key_id?}`.
///
/// `id` is a free string so that embedding services can name their own actors; events the
/// server writes use a principal id (`prn_…`) or a system actor (`system:reaper`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub kind: ActorKind,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub key_id: Option<String>,
}

impl Actor {
    /// A principal acting through one of its keys.
    pub fn principal(p: &Principal, key_id: Option<KeyId>) -> Self {
        Self {
            kind: p.kind.into(),
            id: p.id.to_string(),
            name: Some(p.name.to_string()),
            key_id: key_id.map(|k| k.to_string()),
        }
    }

    /// A principal known only by id (e.g. from a stored vote).
    pub fn principal_id(kind: PrincipalKind, id: PrincipalId) -> Self {
        Self {
            kind: kind.into(),
            id: id.to_string(),
            name: None,
            key_id: None,
        }
    }

    /// One of the system actors.
    pub fn system(s: SystemActor) -> Self {
        Self {
            kind: ActorKind::System,
            id: s.as_str().to_owned(),
            name: None,
            key_id: None,
        }
    }

    /// An unauthenticated caller (for `auth.denied` events on 401).
    pub fn anonymous() -> Self {
        Self {
            kind: ActorKind::User,
            id: "anonymous".to_owned(),
            name: None,
            key_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_actor_shape() {
        let a = Actor::system(SystemActor::Reaper);
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"kind": "system", "id": "system:reaper"})
        );
        assert_eq!(SystemActor::Bypass.as_str(), "system:bypass");
        assert_eq!(SystemActor::Scheduler.as_str(), "system:scheduler");
    }
}
