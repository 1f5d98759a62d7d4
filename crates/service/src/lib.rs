//! Countersign's use cases.
//!
//! Every public method of [`Service`] is one use case: it checks the caller's permission
//! (again — the router checked it first), runs in **one** store transaction, appends its audit
//! event(s) through that same transaction, and commits. If any write fails, nothing is kept:
//! no state change ever lands without its audit event. A refusal (401, 403) is the exception
//! by design: the refused transaction is rolled back first, and the `auth.denied` event is
//! written in a transaction of its own (`Service::audit_denied`, in [`auth`]), since the
//! refused one must change nothing.
//!
//! This crate sees only `countersign-store`, `countersign-domain` and the wire types of
//! `countersign-api`; it never names a backend nor HTTP.
//!
//! # Error policy
//!
//! Library errors are `thiserror` enums. Use cases answer [`ServiceError`], whose variants are
//! the contract's error codes (`two_person_integrity`, `already_voted`, …) plus `Internal` for
//! anything unexpected; the HTTP edge maps each to a status in one `IntoResponse`, logs
//! internal errors once and answers an opaque 500. Store errors that are facts about the data
//! (a unique violation) are turned into domain answers here; the rest become `Unavailable` or
//! `Internal`.
//!
//! Map:
//! - [`config`] — [`ServiceConfig`].
//! - [`caller`] — the authenticated [`Caller`] and permission checks.
//! - [`auth`] — API-key authentication, key minting and deny auditing.
//! - [`principals`], [`keys`], [`roles`], [`policies`], [`subjects`], [`jobs`], [`approvals`],
//!   [`audit_trail`] — the use cases per resource.
//! - `escalation` — the one escalation guard (roles, role grants, keys for others).
//! - [`eligibility`] — "who can approve this?" for one approval request.
//! - [`audit_export`] — the streaming NDJSON export and its `audit.exported` self-audit;
//!   [`audit_ingest`] — batch ingestion from embedding services.
//! - [`scheduler`] — the background steps (approval expiry, lease reclaim, webhook delivery)
//!   and their loop; [`reminders`] — the reminder and escalation step.
//! - [`webhooks`] — the webhook use cases; `outbox` — the notification messages
//!   `commit_with` writes with each change; [`webhook_delivery`] — fan-out, claim, signed send
//!   and retries; [`slack`] — the Slack body rendered from a standard body at send time.
//! - [`event_stream`] — the live event stream (`GET /api/v1/events/stream`); `outbox_signal`
//!   — the process's wake-up for the outbox's readers (PostgreSQL NOTIFY, else polling).
//! - [`log`] — the transparency log's reads (checkpoint, key, tiles, proofs);
//!   [`log_sequencer`] — the scheduler step that sequences queued events into leaves, tiles
//!   and signed checkpoints; [`log_self_check`] — the step that re-reads stored events
//!   against the log; `log_tiles` — stored tiles for the tlog computations.
//! - [`sessions`] — console sign-in, session lookup (the same [`Caller`] a key gives), sign-out
//!   and CSRF tokens; [`console_views`] — approvals with names, and those waiting on the caller.
//! - [`metrics`] — metric names and the helpers that record them.
//! - [`paging`] — turning `limit`/`cursor` query values into a page request.

pub mod approvals;
pub mod audit_export;
pub mod audit_ingest;
pub mod audit_trail;
pub mod auth;
pub mod caller;
pub mod config;
pub mod console_views;
pub mod eligibility;
pub mod error;
mod escalation;
pub mod event_stream;
pub mod jobs;
pub mod keys;
pub mod log;
pub mod log_self_check;
pub mod log_sequencer;
mod log_tiles;
pub mod metrics;
mod outbox;
mod outbox_signal;
pub mod paging;
pub mod policies;
pub mod principals;
pub mod reminders;
pub mod roles;
pub mod scheduler;
pub mod sessions;
pub mod slack;
pub mod subjects;
pub mod webhook_delivery;
pub mod webhooks;

mod service;

pub use caller::Caller;
pub use config::ServiceConfig;
pub use error::{ServiceError, ServiceResult};
pub use service::Service;

/// Re-exported so that the HTTP crate and the binaries need not name the store crate.
pub use countersign_store as store;
/// Re-exported so that the binaries can load and generate the log's keys without naming it.
pub use countersign_tlog as tlog;
