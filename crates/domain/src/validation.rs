//! The error for a value that breaks a domain rule.
//!
//! Every constructor that validates (`PrincipalName::parse`, `Policy::validate`, id parsing, …)
//! answers a [`ValidationError`] naming the field and the rule, so the HTTP edge can turn it
//! into a 400 `invalid_request` whose message a user can act on.

/// A value that breaks a domain rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field (or path) at fault, e.g. `rules[1].count`.
    pub field: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
