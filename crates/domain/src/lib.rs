//! The Countersign domain: plain types and rules, with no I/O.
//!
//! This crate is embeddable. It depends on serde, serde_json, time and a few small pure
//! crates only — no async runtime, no database driver, no HTTP. Everything here is a value
//! or a pure function, so other Rust services can link it to build the very same audit
//! events and apply the very same quorum rule as the Countersign server.
//!
//! Map:
//! - [`id`] — prefixed ULID identifiers (`prn_…`, `apr_…`) that parse and validate.
//! - [`principal`], [`key`], [`role`], [`permission`] — identity and RBAC.
//! - [`policy`], [`subject`], [`job`], [`approval`] — the approval workflow's aggregates.
//! - [`quorum`] — the M-of-N, per-role quorum as a bipartite matching.
//! - [`reminder`] — when a pending request's reminders and escalation are due.
//! - [`actor`], [`audit`] — who did something, and the `countersign.audit.v1` event.
//! - [`canonical`] — RFC 8785 canonical JSON (`write_canonical` into a reusable buffer, also
//!   from a `BorrowedValue` parsed from text without copying its strings) and `payload_sha256`.
//! - [`validation`] — the one error type for values that break a rule; [`text`] — the
//!   no-NUL rule for every string a client sends.
//! - [`session`] — console sessions (a person signed in to the browser console).
//! - [`webhook`] — webhooks, their event types, outbox deliveries and the retry schedule.
//! - [`clock`] — timestamps at the precision the stores keep (microseconds).
//! - `openapi` (feature `openapi`, off by default) — OpenAPI schemas of the validated string
//!   types; the other types derive theirs.

pub mod actor;
pub mod approval;
pub mod audit;
pub mod canonical;
pub mod clock;
pub mod id;
pub mod job;
pub mod key;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod permission;
pub mod policy;
pub mod principal;
pub mod quorum;
pub mod reminder;
pub mod role;
pub mod session;
pub mod subject;
pub mod text;
pub mod validation;
pub mod webhook;

pub use actor::{Actor, ActorKind, SystemActor};
pub use approval::{ApprovalRequest, ApprovalState, DecisionOutcome, Vote, VoteDecision};
pub use audit::{AuditEvent, AuditResult, Authorization, Category, Decision, Resource};
pub use id::{
    ApprovalId, DeliveryId, EventId, IdError, JobId, KeyId, MessageId, PolicyId, PrincipalId,
    SessionId, SubjectId, WebhookId,
};
pub use job::{Job, JobStatus};
pub use key::{ApiKey, ApiKeyToken, KeyStatus};
pub use permission::Permission;
pub use policy::{ApprovalRule, NoticeSettings, Policy};
pub use principal::{Principal, PrincipalKind, PrincipalName};
pub use reminder::ReminderSchedule;
pub use role::{Role, RoleId};
pub use session::{ConsoleSession, SessionEnd};
pub use subject::Subject;
pub use validation::ValidationError;
pub use webhook::{Delivery, DeliveryStatus, Webhook, WebhookEvent, WebhookFormat};
