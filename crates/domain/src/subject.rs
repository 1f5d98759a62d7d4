//! Subjects: the things operations act on (a certificate, a secret, a deployment target).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{PolicyId, SubjectId};
use crate::validation::ValidationError;

/// The most labels a subject may carry.
pub const MAX_LABELS: usize = 64;

/// A subject: `{id, kind, name, policy_id, labels, created_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subject {
    pub id: SubjectId,
    pub kind: String,
    pub name: String,
    pub policy_id: PolicyId,
    pub labels: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A subject kind: `^[a-z][a-z0-9_.-]{0,63}$`.
pub fn validate_kind(kind: &str) -> Result<(), ValidationError> {
    let b = kind.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "kind",
            "must match ^[a-z][a-z0-9_.-]{0,63}$",
        ))
    }
}

/// A subject name: 1 to 256 characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must be 1 to 256 characters without control characters",
        ));
    }
    Ok(())
}

/// Labels: at most 64, keys 1 to 63 characters, values at most 256.
pub fn validate_labels(labels: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if labels.len() > MAX_LABELS {
        return Err(ValidationError::new(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    for (k, v) in labels {
        if k.is_empty() || k.len() > 63 || k.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "labels",
                format!("label key `{k}` must be 1 to 63 characters"),
            ));
        }
        if v.chars().count() > 256 {
            return Err(ValidationError::new(
                format!("labels.{k}"),
                "must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_names() {
        assert!(validate_kind("certificate").is_ok());
        assert!(validate_kind("Cert").is_err());
        assert!(validate_kind("").is_err());
        assert!(validate_name("api.example.com").is_ok());
        assert!(validate_name("").is_err());
        let mut labels = BTreeMap::new();
        labels.insert("env".to_owned(), "prod".to_owned());
        assert!(validate_labels(&labels).is_ok());
        labels.insert(String::new(), "x".to_owned());
        assert!(validate_labels(&labels).is_err());
    }
}
