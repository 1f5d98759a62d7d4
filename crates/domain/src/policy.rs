//! Policies: whether a subject's jobs need approval, and by whom.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::PolicyId;
use crate::role::RoleId;
use crate::validation::ValidationError;

/// The most approvals one rule may ask for.
pub const MAX_RULE_COUNT: u32 = 100;
/// The most rules one policy may hold.
pub const MAX_RULES: usize = 32;
/// The longest approval timeout a policy may set (one year).
pub const MAX_TIMEOUT_SECS: i64 = 366 * 24 * 3600;

/// One approval rule: `count` distinct principals holding `role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    pub role: RoleId,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub count: u32,
}

/// A policy: `{id, name, requires_approval, rules, approval_timeout_secs, remind_after_secs,
/// escalate_after_secs, escalate_to_role, generation, …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub id: PolicyId,
    pub name: String,
    pub requires_approval: bool,
    pub rules: Vec<ApprovalRule>,
    pub approval_timeout_secs: i64,
    /// Remind the approvers while a request is still pending this long after it was made,
    /// and again every as long after that (`approval.reminder`); `null`: no reminders.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub remind_after_secs: Option<i64>,
    /// Escalate a request still pending this long after it was made (`approval.escalated`,
    /// once, naming the holders of `escalate_to_role`); `null`: no escalation.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31622400))]
    pub escalate_after_secs: Option<i64>,
    /// The role whose holders an escalation names; set exactly when `escalate_after_secs` is.
    #[serde(default)]
    pub escalate_to_role: Option<RoleId>,
    pub generation: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Validate a policy name: 1 to 128 characters, no control characters, no surrounding blanks.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ValidationError::new("name", "must be 1 to 128 characters"));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters or surrounding blanks",
        ));
    }
    Ok(())
}

/// Validate the approval part of a policy: rules non-empty when approval is required,
/// `count` in `1..=100`, each role at most once, the timeout positive and at most a year.
pub fn validate_rules(
    requires_approval: bool,
    rules: &[ApprovalRule],
    approval_timeout_secs: i64,
) -> Result<(), ValidationError> {
    if requires_approval && rules.is_empty() {
        return Err(ValidationError::new(
            "rules",
            "must be non-empty when requires_approval is true",
        ));
    }
    if rules.len() > MAX_RULES {
        return Err(ValidationError::new(
            "rules",
            format!("at most {MAX_RULES} rules"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        if !(1..=MAX_RULE_COUNT).contains(&rule.count) {
            return Err(ValidationError::new(
                format!("rules[{i}].count"),
                format!("must be between 1 and {MAX_RULE_COUNT}"),
            ));
        }
        if !seen.insert(&rule.role) {
            return Err(ValidationError::new(
                format!("rules[{i}].role"),
                format!("role `{}` appears in more than one rule", rule.role),
            ));
        }
    }
    if !(1..=MAX_TIMEOUT_SECS).contains(&approval_timeout_secs) {
        return Err(ValidationError::new(
            "approval_timeout_secs",
            format!("must be between 1 and {MAX_TIMEOUT_SECS}"),
        ));
    }
    Ok(())
}

/// A policy's optional reminder and escalation settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeSettings {
    pub remind_after_secs: Option<i64>,
    pub escalate_after_secs: Option<i64>,
    pub escalate_to_role: Option<RoleId>,
}

/// Validate reminder and escalation settings: each delay a positive number of seconds of at
/// most a year, `escalate_after_secs` and `escalate_to_role` given together, and none of
/// them on a policy that requires no approval (nothing would ever be pending).
pub fn validate_notices(
    requires_approval: bool,
    notices: &NoticeSettings,
) -> Result<(), ValidationError> {
    for (field, value) in [
        ("remind_after_secs", notices.remind_after_secs),
        ("escalate_after_secs", notices.escalate_after_secs),
    ] {
        if let Some(secs) = value {
            if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                return Err(ValidationError::new(
                    field,
                    format!("must be between 1 and {MAX_TIMEOUT_SECS}"),
                ));
            }
            if !requires_approval {
                return Err(ValidationError::new(
                    field,
                    "only a policy that requires approval has requests to remind or escalate",
                ));
            }
        }
    }
    match (&notices.escalate_after_secs, &notices.escalate_to_role) {
        (Some(_), None) => Err(ValidationError::new(
            "escalate_to_role",
            "is required with escalate_after_secs",
        )),
        (None, Some(_)) => Err(ValidationError::new(
            "escalate_after_secs",
            "is required with escalate_to_role",
        )),
        _ => Ok(()),
    }
}

impl Policy {
    /// Validate every rule of this policy value.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_name(&self.name)?;
        validate_rules(
            self.requires_approval,
            &self.rules,
            self.approval_timeout_secs,
        )?;
        validate_notices(self.requires_approval, &self.notices())
    }

    /// Its reminder and escalation settings.
    pub fn notices(&self) -> NoticeSettings {
        NoticeSettings {
            remind_after_secs: self.remind_after_secs,
            escalate_after_secs: self.escalate_after_secs,
            escalate_to_role: self.escalate_to_role.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: &str, count: u32) -> ApprovalRule {
        ApprovalRule {
            role: RoleId::parse(role).unwrap(),
            count,
        }
    }

    #[test]
    fn rules_validation() {
        assert!(validate_rules(true, &[rule("security", 1)], 60).is_ok());
        assert!(validate_rules(false, &[], 60).is_ok());
        assert_eq!(validate_rules(true, &[], 60).unwrap_err().field, "rules");
        assert_eq!(
            validate_rules(true, &[rule("a", 1), rule("b", 0)], 60)
                .unwrap_err()
                .field,
            "rules[1].count"
        );
        assert_eq!(
            validate_rules(true, &[rule("a", 1), rule("a", 2)], 60)
                .unwrap_err()
                .field,
            "rules[1].role"
        );
        assert!(validate_rules(true, &[rule("a", 1)], 0).is_err());
        assert!(validate_rules(true, &[rule("a", 101)], 10).is_err());
    }

    #[test]
    fn notice_validation() {
        let ok = NoticeSettings {
            remind_after_secs: Some(3600),
            escalate_after_secs: Some(7200),
            escalate_to_role: Some(RoleId::parse("oncall").unwrap()),
        };
        assert!(validate_notices(true, &ok).is_ok());
        assert!(validate_notices(true, &NoticeSettings::default()).is_ok());
        assert!(validate_notices(false, &NoticeSettings::default()).is_ok());
        let field = |requires, n: NoticeSettings| validate_notices(requires, &n).unwrap_err().field;
        assert_eq!(
            field(
                true,
                NoticeSettings {
                    remind_after_secs: Some(0),
                    ..ok.clone()
                }
            ),
            "remind_after_secs"
        );
        assert_eq!(
            field(
                true,
                NoticeSettings {
                    escalate_after_secs: Some(MAX_TIMEOUT_SECS + 1),
                    ..ok.clone()
                }
            ),
            "escalate_after_secs"
        );
        assert_eq!(
            field(
                true,
                NoticeSettings {
                    escalate_to_role: None,
                    ..ok.clone()
                }
            ),
            "escalate_to_role"
        );
        assert_eq!(
            field(
                true,
                NoticeSettings {
                    escalate_after_secs: None,
                    ..ok.clone()
                }
            ),
            "escalate_after_secs"
        );
        assert_eq!(field(false, ok), "remind_after_secs");
    }

    #[test]
    fn names() {
        assert!(validate_name("prod-tls").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(" x").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn rule_rejects_unknown_fields() {
        assert!(serde_json::from_str::<ApprovalRule>(r#"{"role":"a","count":1,"x":1}"#).is_err());
        assert!(serde_json::from_str::<ApprovalRule>(r#"{"role":"a","count":-1}"#).is_err());
    }
}
