//! Principals: the people and services that act.
//!
//! Two-person integrity compares principals, never keys: two keys of one principal are one
//! person.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::id::PrincipalId;
use crate::validation::ValidationError;

/// A unique principal name: `[a-z0-9][a-z0-9._-]{0,63}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalName(String);

impl PrincipalName {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 64
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "name",
                format!("`{s}` is not a principal name ([a-z0-9][a-z0-9._-]{{0,63}})"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrincipalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PrincipalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrincipalName({})", self.0)
    }
}

impl FromStr for PrincipalName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PrincipalName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PrincipalName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A person or a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Service,
}

impl PrincipalKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Service => "service",
        }
    }
}

impl FromStr for PrincipalKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "service" => Ok(Self::Service),
            other => Err(ValidationError::new(
                "kind",
                format!("unknown principal kind `{other}` (user, service)"),
            )),
        }
    }
}

/// A principal: `{id, name, kind, disabled, created_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    pub id: PrincipalId,
    pub name: PrincipalName,
    pub kind: PrincipalKind,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["alice", "svc.deployer", "a", "0day", "ci_bot-2"] {
            assert!(PrincipalName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", ".x", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(PrincipalName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PrincipalName::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn kinds() {
        assert_eq!(
            "service".parse::<PrincipalKind>().unwrap(),
            PrincipalKind::Service
        );
        assert!("robot".parse::<PrincipalKind>().is_err());
        assert!(serde_json::from_str::<PrincipalKind>("\"robot\"").is_err());
    }
}
