//! [`EventBuilder`]: build a `countersign.audit.v1` event without leaking secrets.
//!
//! ```
//! use countersign_audit::{EventBuilder, Redacted};
//! use countersign_domain::{Actor, ActorKind, Category};
//!
//! let event = EventBuilder::new(Category::Config, "webhook.updated")
//!     .actor(Actor { kind: ActorKind::User, id: "u-42".into(), name: Some("alice".into()), key_id: None })
//!     .resource("webhook", "wh-7")
//!     .detail("url", "https://hooks.example.com/x")
//!     .detail("retries", 3)
//!     .secret_detail("signing_secret", Redacted("whsec_…"))
//!     .build()
//!     .unwrap();
//! assert!(!event.to_json_line().contains("whsec_"));
//! ```
//!
//! `detail` takes anything `Serialize`; a value containing a [`Redacted`] field serializes
//! that field as `[redacted]`. `secret_detail` records only that a secret was involved: its
//! value is never even serialized. `build` validates the event against the v1 rules (action
//! shape, field lengths), so what it returns is what the server will accept.

use serde::Serialize;
use time::OffsetDateTime;

use countersign_domain::{
    Actor, ActorKind, AuditEvent, AuditResult, Authorization, Category, Resource,
};

use crate::error::BuildError;
use crate::redact::{Redacted, REDACTED};

/// Builds one [`AuditEvent`]; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use = "an event builder does nothing until `build` is called"]
pub struct EventBuilder {
    category: Category,
    action: String,
    actor: Option<Actor>,
    resource: Option<Resource>,
    authorization: Option<Authorization>,
    result: Option<AuditResult>,
    request_id: Option<String>,
    idempotency_key: Option<String>,
    generations: Option<(Option<i64>, i64)>,
    at: Option<OffsetDateTime>,
    details: serde_json::Map<String, serde_json::Value>,
    detail_error: Option<BuildError>,
}

impl EventBuilder {
    /// Start an event: `category` and `action` (`[a-z0-9._-]`, e.g. `webhook.updated`).
    pub fn new(category: Category, action: impl Into<String>) -> Self {
        Self {
            category,
            action: action.into(),
            actor: None,
            resource: None,
            authorization: None,
            result: None,
            request_id: None,
            idempotency_key: None,
            generations: None,
            at: None,
            details: serde_json::Map::new(),
            detail_error: None,
        }
    }

    /// Who acted.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// A user of the embedding service acted: `{kind: "user", id, name}`.
    pub fn user(self, id: impl Into<String>, name: Option<&str>) -> Self {
        self.actor(Actor {
            kind: ActorKind::User,
            id: id.into(),
            name: name.map(str::to_owned),
            key_id: None,
        })
    }

    /// A service acted: `{kind: "service", id}`.
    pub fn service(self, id: impl Into<String>) -> Self {
        self.actor(Actor {
            kind: ActorKind::Service,
            id: id.into(),
            name: None,
            key_id: None,
        })
    }

    /// What was acted on: `{type, id}`.
    pub fn resource(mut self, kind: impl Into<String>, id: impl std::fmt::Display) -> Self {
        self.resource = Some(Resource::new(kind, id));
        self
    }

    /// The authorization decision (default: allow, no permission, policy `rbac`).
    pub fn authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = Some(authorization);
        self
    }

    /// Allowed by `permission` under the `rbac` policy.
    pub fn allowed_by(self, permission: &str) -> Self {
        self.authorization(Authorization::allow(Some(permission)))
    }

    /// Denied: `permission` (if any) and why.
    pub fn denied(self, permission: Option<&str>, reason: impl Into<String>) -> Self {
        self.authorization(Authorization::deny(permission, reason))
    }

    /// The result (default `{"outcome": "ok"}`).
    pub fn result(mut self, result: AuditResult) -> Self {
        self.result = Some(result);
        self
    }

    /// The action failed: `{"outcome": "error", kind, message}`. Keep secrets out of `message`.
    pub fn error(self, kind: impl Into<String>, message: impl Into<String>) -> Self {
        self.result(AuditResult::Error {
            kind: kind.into(),
            message: message.into(),
        })
    }

    /// The request that caused the event.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The idempotency key of that request.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The resource's generation before and after.
    pub fn generations(mut self, previous: Option<i64>, new: i64) -> Self {
        self.generations = Some((previous, new));
        self
    }

    /// The event's time (default: now); truncated to microseconds, as stored.
    pub fn at(mut self, ts: OffsetDateTime) -> Self {
        self.at = Some(ts);
        self
    }

    /// Add `details[key] = value`. A value that fails to serialize makes `build` fail.
    pub fn detail(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        match serde_json::to_value(value) {
            Ok(v) => {
                self.details.insert(key, v);
            }
            Err(e) => {
                if self.detail_error.is_none() {
                    self.detail_error = Some(BuildError::Detail {
                        key,
                        message: e.to_string(),
                    });
                }
            }
        }
        self
    }

    /// Add `details[key] = "[redacted]"`: records that a secret was involved, never its value.
    pub fn secret_detail<T>(mut self, key: impl Into<String>, _secret: Redacted<T>) -> Self {
        self.details
            .insert(key.into(), serde_json::Value::String(REDACTED.to_owned()));
        self
    }

    /// The event, checked against the v1 rules.
    pub fn build(self) -> Result<AuditEvent, BuildError> {
        if let Some(e) = self.detail_error {
            return Err(e);
        }
        let actor = self.actor.ok_or(BuildError::MissingActor)?;
        let resource = self.resource.ok_or(BuildError::MissingResource)?;
        let mut event = AuditEvent::new(self.category, &self.action, actor, resource);
        if let Some(ts) = self.at {
            event = event.at(ts);
        }
        if let Some(a) = self.authorization {
            event = event.authorization(a);
        }
        if let Some(r) = self.result {
            event = event.result(r);
        }
        event = event
            .request_id(self.request_id.as_deref())
            .idempotency_key(self.idempotency_key.as_deref());
        if let Some((previous, new)) = self.generations {
            event = event.generations(previous, new);
        }
        if !self.details.is_empty() {
            event = event.details(serde_json::Value::Object(self.details));
        }
        event.validate()?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_domain::Decision;
    use serde_json::json;

    fn base() -> EventBuilder {
        EventBuilder::new(Category::Lifecycle, "deploy.started")
            .service("deployer")
            .resource("deployment", "d-1")
    }

    #[test]
    fn builds_a_full_event() {
        let ts = time::macros::datetime!(2026-05-20 00:00:00.123_456_789 UTC);
        let e = base()
            .user("u-1", Some("alice"))
            .allowed_by("deploy.start")
            .request_id("req-1")
            .idempotency_key("idem-1")
            .generations(Some(1), 2)
            .at(ts)
            .detail("env", "prod")
            .detail("count", 3)
            .detail("nested", json!({"a": [1, 2]}))
            .build()
            .unwrap();
        assert_eq!(e.actor.kind, ActorKind::User);
        assert_eq!(e.actor.name.as_deref(), Some("alice"));
        assert_eq!(e.resource, Resource::new("deployment", "d-1"));
        assert_eq!(e.authorization.permission.as_deref(), Some("deploy.start"));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.idempotency_key.as_deref(), Some("idem-1"));
        assert_eq!(
            (e.previous_generation, e.new_generation),
            (Some(1), Some(2))
        );
        assert_eq!(e.ts.nanosecond(), 123_456_000);
        assert_eq!(
            serde_json::Value::Object(e.details.clone().unwrap()),
            json!({"env": "prod", "count": 3, "nested": {"a": [1, 2]}})
        );
        // It round-trips as a v1 event.
        let back: AuditEvent = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn denied_and_error() {
        let e = base()
            .denied(Some("deploy.start"), "not on call")
            .error("forbidden", "not on call")
            .build()
            .unwrap();
        assert_eq!(e.authorization.decision, Decision::Deny);
        assert_eq!(e.result.as_str(), "error");
    }

    #[test]
    fn secrets_never_reach_the_wire() {
        #[derive(Serialize)]
        struct Creds {
            user: &'static str,
            password: Redacted<&'static str>,
        }
        let e = base()
            .secret_detail("token", Redacted("tok_supersecret".to_owned()))
            .detail(
                "creds",
                Creds {
                    user: "bob",
                    password: Redacted("pw_supersecret"),
                },
            )
            .detail("api_key", Redacted("cs_key_supersecret"))
            .build()
            .unwrap();
        let line = e.to_json_line();
        assert!(!line.contains("supersecret"), "{line}");
        let details = e.details.unwrap();
        assert_eq!(details["token"], "[redacted]");
        assert_eq!(
            details["creds"],
            json!({"user": "bob", "password": "[redacted]"})
        );
        assert_eq!(details["api_key"], "[redacted]");
    }

    #[test]
    fn refuses_incomplete_or_invalid_events() {
        assert!(matches!(
            EventBuilder::new(Category::Audit, "x.y")
                .resource("a", "b")
                .build(),
            Err(BuildError::MissingActor)
        ));
        assert!(matches!(
            EventBuilder::new(Category::Audit, "x.y")
                .service("s")
                .build(),
            Err(BuildError::MissingResource)
        ));
        assert!(matches!(
            EventBuilder::new(Category::Audit, "Not Valid")
                .service("s")
                .resource("a", "b")
                .build(),
            Err(BuildError::Invalid(_))
        ));
        let mut bad_map = std::collections::HashMap::new();
        bad_map.insert((1, 2), "non-string key");
        assert!(matches!(
            base().detail("m", bad_map).build(),
            Err(BuildError::Detail { key, .. }) if key == "m"
        ));
    }
}
