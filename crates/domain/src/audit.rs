//! The audit event, `countersign.audit.v1`, exactly as the contract gives it.
//!
//! ```json
//! {"schema": "countersign.audit.v1", "event_id": "evt_…", "ts": "…",
//!  "category": "lifecycle", "action": "approval.approved",
//!  "actor": {"kind": "user", "id": "prn_…", "name": "alice", "key_id": "key_…"},
//!  "resource": {"type": "approval", "id": "apr_…"},
//!  "authorization": {"decision": "allow", "permission": "approval.approve", "policy": "rbac"},
//!  "result": {"outcome": "ok"},
//!  "request_id": "…", "idempotency_key": "…",
//!  "previous_generation": 3, "new_generation": 4, "details": {…}}
//! ```
//!
//! Optional fields are omitted when empty. Field order on the wire is the struct order below.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::clock;
use crate::id::EventId;
use crate::validation::ValidationError;

/// The schema tag every v1 event carries.
pub const SCHEMA_V1: &str = "countersign.audit.v1";

/// The `schema` field: serializes as [`SCHEMA_V1`] and accepts nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaV1;

impl Serialize for SchemaV1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SCHEMA_V1)
    }
}

impl<'de> Deserialize<'de> for SchemaV1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == SCHEMA_V1 {
            Ok(SchemaV1)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported schema `{s}` (expected `{SCHEMA_V1}`)"
            )))
        }
    }
}

/// The event's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Lifecycle,
    Auth,
    Config,
    Access,
    Audit,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Lifecycle,
        Category::Auth,
        Category::Config,
        Category::Access,
        Category::Audit,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Lifecycle => "lifecycle",
            Category::Auth => "auth",
            Category::Config => "config",
            Category::Access => "access",
            Category::Audit => "audit",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "category",
                    format!("unknown category `{s}` (lifecycle, auth, config, access, audit)"),
                )
            })
    }
}

/// The action names the service writes.
pub mod actions {
    pub const PRINCIPAL_CREATED: &str = "principal.created";
    pub const PRINCIPAL_DISABLED: &str = "principal.disabled";
    pub const KEY_CREATED: &str = "key.created";
    pub const KEY_REVOKED: &str = "key.revoked";
    pub const ROLE_CREATED: &str = "role.created";
    pub const ROLE_UPDATED: &str = "role.updated";
    pub const ROLE_DELETED: &str = "role.deleted";
    pub const ROLE_ASSIGNED: &str = "role.assigned";
    pub const ROLE_UNASSIGNED: &str = "role.unassigned";
    pub const POLICY_CREATED: &str = "policy.created";
    pub const POLICY_UPDATED: &str = "policy.updated";
    pub const SUBJECT_CREATED: &str = "subject.created";
    pub const JOB_REQUESTED: &str = "job.requested";
    pub const JOB_CLAIMED: &str = "job.claimed";
    pub const JOB_COMPLETED: &str = "job.completed";
    pub const JOB_CANCELLED: &str = "job.cancelled";
    pub const JOB_LEASE_EXPIRED: &str = "job.lease_expired";
    pub const APPROVAL_REQUESTED: &str = "approval.requested";
    pub const APPROVAL_VOTED: &str = "approval.voted";
    pub const APPROVAL_APPROVED: &str = "approval.approved";
    pub const APPROVAL_REJECTED: &str = "approval.rejected";
    pub const APPROVAL_EXPIRED: &str = "approval.expired";
    pub const APPROVAL_CANCELLED: &str = "approval.cancelled";
    pub const APPROVAL_BYPASSED: &str = "approval.bypassed";
    pub const APPROVAL_REMINDER: &str = "approval.reminder";
    pub const APPROVAL_ESCALATED: &str = "approval.escalated";
    pub const AUDIT_EXPORTED: &str = "audit.exported";
    pub const AUDIT_LOSS: &str = "audit.loss";
    pub const AUTH_DENIED: &str = "auth.denied";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_DELETED: &str = "webhook.deleted";
    pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";
    pub const WEBHOOK_TESTED: &str = "webhook.tested";
    pub const WEBHOOK_REDELIVERED: &str = "webhook.redelivered";
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
    /// The log self-check found a stored event that no longer matches its leaf.
    pub const LOG_TAMPER_DETECTED: &str = "log.tamper_detected";
    pub const SESSION_CREATED: &str = "session.created";
    pub const SESSION_ENDED: &str = "session.ended";

    /// Every action the service writes.
    pub const ALL: &[&str] = &[
        PRINCIPAL_CREATED,
        PRINCIPAL_DISABLED,
        KEY_CREATED,
        KEY_REVOKED,
        ROLE_CREATED,
        ROLE_UPDATED,
        ROLE_DELETED,
        ROLE_ASSIGNED,
        ROLE_UNASSIGNED,
        POLICY_CREATED,
        POLICY_UPDATED,
        SUBJECT_CREATED,
        JOB_REQUESTED,
        JOB_CLAIMED,
        JOB_COMPLETED,
        JOB_CANCELLED,
        JOB_LEASE_EXPIRED,
        APPROVAL_REQUESTED,
        APPROVAL_VOTED,
        APPROVAL_APPROVED,
        APPROVAL_REJECTED,
        APPROVAL_EXPIRED,
        APPROVAL_CANCELLED,
        APPROVAL_BYPASSED,
        APPROVAL_REMINDER,
        APPROVAL_ESCALATED,
        AUDIT_EXPORTED,
        AUDIT_LOSS,
        AUTH_DENIED,
        WEBHOOK_CREATED,
        WEBHOOK_DELETED,
        WEBHOOK_SECRET_ROTATED,
        WEBHOOK_TESTED,
        WEBHOOK_REDELIVERED,
        WEBHOOK_DISABLED,
        LOG_TAMPER_DETECTED,
        SESSION_CREATED,
        SESSION_ENDED,
    ];
}

/// The resource an event is about: `{type, id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub id: String,
}

impl Resource {
    pub fn new(kind: impl Into<String>, id: impl fmt::Display) -> Self {
        Self {
            kind: kind.into(),
            id: id.to_string(),
        }
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// The authorization decision behind an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub permission: Option<String>,
    /// The policy engine that decided; `rbac` for the server's own decisions.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// The RBAC policy label.
pub const POLICY_RBAC: &str = "rbac";

impl Authorization {
    pub fn allow(permission: Option<&str>) -> Self {
        Self {
            decision: Decision::Allow,
            permission: permission.map(str::to_owned),
            policy: POLICY_RBAC.to_owned(),
            reason: None,
        }
    }

    pub fn deny(permission: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            decision: Decision::Deny,
            permission: permission.map(str::to_owned),
            policy: POLICY_RBAC.to_owned(),
            reason: Some(reason.into()),
        }
    }
}

/// The result: `{"outcome": "ok"}` or `{"outcome": "error", "kind": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuditResult {
    Ok,
    Error { kind: String, message: String },
}

impl AuditResult {
    pub const fn as_str(&self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Error { .. } => "error",
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub schema: SchemaV1,
    pub event_id: EventId,
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    pub category: Category,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9._-]{1,128}$"))]
    pub action: String,
    pub actor: Actor,
    pub resource: Resource,
    pub authorization: Authorization,
    pub result: AuditResult,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub new_generation: Option<i64>,
    #[serde(skip_serializing_if = "details_is_empty", default)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Set by the server on ingested events: the principal that sent them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ingested_by: Option<String>,
}

fn details_is_empty(d: &Option<serde_json::Map<String, serde_json::Value>>) -> bool {
    d.as_ref().is_none_or(|m| m.is_empty())
}

/// The largest audit event: the length of its RFC 8785 canonical JSON, which is its
/// transparency-log leaf, and an entry bundle (C2SP `tlog-tiles`) stores each leaf behind a
/// 2-byte length. [`AuditEvent::validate`] refuses a longer event;
/// [`AuditEvent::fit_to_log`] shortens one the service builds itself.
pub const MAX_EVENT_BYTES: usize = 65_535;

/// The `details` member [`AuditEvent::fit_to_log`] lists the members it left out in:
/// `[{"member": "waiting_on", "bytes": 70312}]`.
pub const OMITTED_DETAILS: &str = "omitted_details";

/// The longest `result.message` or `authorization.reason` an event shortened by
/// [`AuditEvent::fit_to_log`] keeps, in characters.
const FITTED_TEXT_CHARS: usize = 1024;

/// The longest action name.
pub const MAX_ACTION_LEN: usize = 128;
/// The longest free-string field (actor id, resource id, …).
pub const MAX_FIELD_LEN: usize = 512;

impl AuditEvent {
    /// A new allowed, successful event at the current time.
    pub fn new(category: Category, action: &str, actor: Actor, resource: Resource) -> Self {
        Self {
            schema: SchemaV1,
            event_id: EventId::new(),
            ts: clock::now(),
            category,
            action: action.to_owned(),
            actor,
            resource,
            authorization: Authorization::allow(None),
            result: AuditResult::Ok,
            request_id: None,
            idempotency_key: None,
            previous_generation: None,
            new_generation: None,
            details: None,
            ingested_by: None,
        }
    }

    pub fn at(mut self, ts: OffsetDateTime) -> Self {
        self.ts = clock::truncate_to_micros(ts);
        self
    }

    pub fn allowed_by(mut self, permission: &str) -> Self {
        self.authorization = Authorization::allow(Some(permission));
        self
    }

    pub fn authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = authorization;
        self
    }

    pub fn result(mut self, result: AuditResult) -> Self {
        self.result = result;
        self
    }

    pub fn request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(str::to_owned);
        self
    }

    pub fn idempotency_key(mut self, key: Option<&str>) -> Self {
        self.idempotency_key = key.map(str::to_owned);
        self
    }

    pub fn generations(mut self, previous: Option<i64>, new: i64) -> Self {
        self.previous_generation = previous;
        self.new_generation = Some(new);
        self
    }

    /// Attach `details`; a non-object value is wrapped as `{"value": …}`.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = match details {
            serde_json::Value::Object(m) => Some(m),
            serde_json::Value::Null => None,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                Some(m)
            }
        };
        self
    }

    /// The wire form, one line of NDJSON without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("an audit event always serializes")
    }

    /// Check the rules serde cannot: lengths, and action shape.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let action_ok = !self.action.is_empty()
            && self.action.len() <= MAX_ACTION_LEN
            && self.action.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !action_ok {
            return Err(ValidationError::new(
                "action",
                "must be 1 to 128 characters of [a-z0-9._-]",
            ));
        }
        for (field, value) in [
            ("actor.id", Some(self.actor.id.as_str())),
            ("actor.name", self.actor.name.as_deref()),
            ("actor.key_id", self.actor.key_id.as_deref()),
            ("resource.type", Some(self.resource.kind.as_str())),
            ("resource.id", Some(self.resource.id.as_str())),
            (
                "authorization.policy",
                Some(self.authorization.policy.as_str()),
            ),
            (
                "authorization.permission",
                self.authorization.permission.as_deref(),
            ),
            ("request_id", self.request_id.as_deref()),
            ("idempotency_key", self.idempotency_key.as_deref()),
        ] {
            if let Some(v) = value {
                if v.is_empty() || v.len() > MAX_FIELD_LEN {
                    return Err(ValidationError::new(
                        field,
                        format!("must be 1 to {MAX_FIELD_LEN} bytes"),
                    ));
                }
            }
        }
        // No string anywhere in the event (details included) may hold a NUL; the error names
        // its JSON path (`actor.id`, `details.note`).
        if let Ok(value) = serde_json::to_value(self) {
            crate::text::reject_nul_in_json("", &value)?;
            let len = canonical_len(&value);
            if len > MAX_EVENT_BYTES {
                return Err(ValidationError::new(
                    "event",
                    format!(
                        "its canonical JSON is {len} bytes, at most {MAX_EVENT_BYTES} (the \
                         largest transparency-log leaf); shorten `details`"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The length of the event's RFC 8785 canonical JSON: its transparency-log leaf
    /// (`countersign_tlog::leaf::event_leaf`).
    pub fn canonical_len(&self) -> usize {
        self.canonical().len()
    }

    /// The event's RFC 8785 canonical JSON, as the API serves it: its transparency-log leaf.
    pub fn canonical(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("an audit event always serializes");
        let mut out = Vec::with_capacity(512);
        crate::canonical::write_canonical(&value, &mut out);
        out
    }

    /// The RFC 6962 leaf hash of the event's leaf: `SHA-256(0x00 || canonical JSON)`. Stores
    /// keep it beside the event when they write it, so the log's sequencer integrates hashes
    /// without reading bodies back (the self-check still re-hashes the stored bodies).
    pub fn leaf_hash(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update([0u8]);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }

    /// Whether the event is at most [`MAX_EVENT_BYTES`]. Cheap for the usual event: its
    /// compact JSON is more than a sixth of its canonical JSON (the same escapes; only numbers
    /// are spelled differently, at worst `1e+20` becoming `100000000000000000000`), so one well
    /// under the limit needs no canonical form.
    pub fn fits_log(&self) -> bool {
        let compact = serde_json::to_vec(self).map_or(usize::MAX, |v| v.len());
        compact <= MAX_EVENT_BYTES / 6 || self.canonical_len() <= MAX_EVENT_BYTES
    }

    /// This event at most [`MAX_EVENT_BYTES`], for events the service builds from stored
    /// lists that have no bound of their own (a role's holders, a quorum's approvers): while
    /// it is too long, the largest `details` member is left out and named, with its size, in
    /// `details.omitted_details`; then `result.message` and `authorization.reason` are cut to
    /// 1,024 characters. An event that fits is returned as it is.
    pub fn fit_to_log(mut self) -> Self {
        let mut len = self.canonical_len();
        let mut omitted = Vec::new();
        while len > MAX_EVENT_BYTES {
            let Some(details) = self.details.as_mut() else {
                break;
            };
            let largest = details
                .iter()
                .filter(|(name, _)| name.as_str() != OMITTED_DETAILS)
                .map(|(name, v)| (name.clone(), canonical_len(v)))
                .max_by_key(|(_, bytes)| *bytes);
            let Some((member, bytes)) = largest else {
                break;
            };
            details.remove(&member);
            omitted.push(serde_json::json!({"member": member, "bytes": bytes}));
            details.insert(
                OMITTED_DETAILS.to_owned(),
                serde_json::Value::Array(omitted.clone()),
            );
            len = self.canonical_len();
        }
        if len > MAX_EVENT_BYTES {
            let cut = |text: &mut String| {
                if let Some((at, _)) = text.char_indices().nth(FITTED_TEXT_CHARS) {
                    text.truncate(at);
                    text.push('…');
                }
            };
            if let AuditResult::Error { message, .. } = &mut self.result {
                cut(message);
            }
            if let Some(reason) = self.authorization.reason.as_mut() {
                cut(reason);
            }
        }
        self
    }
}

/// The length of `value`'s RFC 8785 canonical JSON.
fn canonical_len(value: &serde_json::Value) -> usize {
    crate::canonical::to_canonical_string(value).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::SystemActor;
    use serde_json::json;

    fn sample() -> AuditEvent {
        AuditEvent::new(
            Category::Lifecycle,
            actions::APPROVAL_EXPIRED,
            Actor::system(SystemActor::Reaper),
            Resource::new("approval", "apr_01hx0000000000000000000000"),
        )
        .at(time::macros::datetime!(2026-05-20 00:00:00 UTC))
    }

    #[test]
    fn minimal_event_omits_every_optional_field() {
        let e = sample();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({
                "schema": "countersign.audit.v1",
                "event_id": e.event_id.to_string(),
                "ts": "2026-05-20T00:00:00Z",
                "category": "lifecycle",
                "action": "approval.expired",
                "actor": {"kind": "system", "id": "system:reaper"},
                "resource": {"type": "approval", "id": "apr_01hx0000000000000000000000"},
                "authorization": {"decision": "allow", "policy": "rbac"},
                "result": {"outcome": "ok"}
            })
        );
        // Field order on the wire starts with the schema tag.
        assert!(e
            .to_json_line()
            .starts_with(r#"{"schema":"countersign.audit.v1","event_id":"evt_"#));
    }

    #[test]
    fn full_event_shape() {
        let e = sample()
            .authorization(Authorization::deny(
                Some("approval.approve"),
                "not eligible",
            ))
            .result(AuditResult::Error {
                kind: "forbidden".into(),
                message: "no".into(),
            })
            .request_id(Some("req-1"))
            .idempotency_key(Some("idem-1"))
            .generations(Some(3), 4)
            .details(json!({"rows": 2}));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["authorization"],
            json!({"decision": "deny", "permission": "approval.approve", "policy": "rbac", "reason": "not eligible"})
        );
        assert_eq!(
            v["result"],
            json!({"outcome": "error", "kind": "forbidden", "message": "no"})
        );
        assert_eq!(v["previous_generation"], 3);
        assert_eq!(v["new_generation"], 4);
        assert_eq!(v["details"], json!({"rows": 2}));
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn empty_details_are_omitted() {
        let e = sample().details(json!({}));
        assert!(serde_json::to_value(&e).unwrap().get("details").is_none());
    }

    #[test]
    fn parsing_rejects_off_contract_events() {
        let good = serde_json::to_value(sample()).unwrap();
        let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::from_value::<AuditEvent>(v)
        };
        assert!(mutate(&|_| {}).is_ok());
        assert!(mutate(&|v| v["schema"] = json!("countersign.audit.v2")).is_err());
        assert!(mutate(&|v| v["category"] = json!("misc")).is_err());
        assert!(mutate(&|v| v["result"] = json!({"outcome": "maybe"})).is_err());
        assert!(mutate(&|v| v["authorization"]["decision"] = json!("perhaps")).is_err());
        assert!(mutate(&|v| v["actor"]["kind"] = json!("robot")).is_err());
        assert!(mutate(&|v| v["event_id"] = json!("apr_01hx0000000000000000000000")).is_err());
        assert!(mutate(&|v| v["ts"] = json!("yesterday")).is_err());
        assert!(mutate(&|v| v["surprise"] = json!(1)).is_err());
        assert!(mutate(&|v| {
            v.as_object_mut().unwrap().remove("actor");
        })
        .is_err());
    }

    #[test]
    fn validate_checks_action_and_lengths() {
        assert!(sample().validate().is_ok());
        let mut e = sample();
        e.action = "Bad Action".into();
        assert_eq!(e.validate().unwrap_err().field, "action");
        let mut e = sample();
        e.resource.id = "x".repeat(MAX_FIELD_LEN + 1);
        assert_eq!(e.validate().unwrap_err().field, "resource.id");
        let mut e = sample();
        e.actor.id = "a\u{0}b".into();
        assert_eq!(e.validate().unwrap_err().field, "actor.id");
        let e = sample().details(json!({"deep": ["ok", "n\u{0}"]}));
        assert_eq!(e.validate().unwrap_err().field, "details.deep[1]");
    }

    #[test]
    fn categories_and_actions() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        assert!("misc".parse::<Category>().is_err());
        assert_eq!(actions::ALL.len(), 38);
        let sample = sample();
        for a in actions::ALL {
            let mut e = sample.clone();
            e.action = (*a).to_owned();
            assert!(e.validate().is_ok(), "{a}");
        }
    }

    #[test]
    fn the_leaf_limit_is_refused_on_validation_and_fitted_for_own_events() {
        let holders: Vec<String> = (0..4000).map(|i| format!("holder-number-{i:05}")).collect();
        let big = sample().details(json!({"job_id": "job_1", "waiting_on": holders}));
        assert!(big.canonical_len() > MAX_EVENT_BYTES);
        assert!(!big.fits_log());
        let refused = big.validate().unwrap_err();
        assert_eq!(refused.field, "event");
        assert!(refused.message.contains("at most 65535"), "{refused}");

        let fitted = big.clone().fit_to_log();
        assert!(fitted.fits_log() && fitted.validate().is_ok());
        let details = fitted.details.as_ref().unwrap();
        assert_eq!(details["job_id"], "job_1", "the small members stay");
        assert!(details.get("waiting_on").is_none());
        let omitted = &details[OMITTED_DETAILS][0];
        assert_eq!(omitted["member"], "waiting_on");
        assert_eq!(
            omitted["bytes"],
            crate::canonical::to_canonical_string(&big.details.as_ref().unwrap()["waiting_on"])
                .len()
        );
        assert_eq!(fitted.event_id, big.event_id);

        // Free text past the limit is cut once details are gone.
        let long = sample().result(AuditResult::Error {
            kind: "internal".into(),
            message: "é".repeat(40_000),
        });
        let fitted = long.fit_to_log();
        assert!(fitted.fits_log());
        match &fitted.result {
            AuditResult::Error { message, .. } => {
                assert_eq!(message.chars().count(), FITTED_TEXT_CHARS + 1)
            }
            AuditResult::Ok => unreachable!(),
        }

        // Numbers grow in canonical form: 18 KB of `1e+20` is 66 KB of leaf.
        let numbers = sample().details(json!({"n": vec![1e20_f64; 3000]}));
        let compact = serde_json::to_string(&numbers).unwrap();
        assert!(compact.len() < 20_000, "{}", &compact[compact.len() - 60..]);
        assert!(!numbers.fits_log());
        assert!(numbers.fit_to_log().fits_log());

        // An event that fits is untouched.
        let small = sample().details(json!({"rows": 2}));
        assert!(small.fits_log());
        assert_eq!(small.clone().fit_to_log(), small);
    }
}
