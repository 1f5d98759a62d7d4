//! Countersign's repository traits and the unit of work, with no backend named.
//!
//! The service layer talks only to these traits. A backend implements [`Store`] and
//! [`Transaction`] (PostgreSQL and SQLite both do, through the shared `countersign-sql`
//! repositories); nothing here mentions a driver, so no sqlx type leaks into the service.
//!
//! - [`uow`] — [`Store`] (begin a transaction, authenticate a key, readiness, streaming export)
//!   and [`Transaction`], which is every repository at once plus `commit`.
//! - One module per aggregate: [`principals`], [`keys`], [`roles`], [`policies`],
//!   [`subjects`], [`jobs`], [`approvals`], [`audit`], [`webhooks`] (webhooks, the
//!   notification outbox and deliveries), [`reminders`] (pending requests' reminder and
//!   escalation schedules), [`log`] (the transparency log), [`sessions`] (console sessions).
//! - [`events`] — the live event stream's reads (stream order, settled messages, wake-ups).
//! - [`page`] — keyset pagination (`limit` + opaque cursor; no OFFSET anywhere).
//! - [`error`] — [`StoreError`]; database facts become these variants at the backend.
//! - [`decode`] — parsing stored values into domain types, shared by the backends.
//! - `conformance` (feature `conformance`): the backend-agnostic test suite every backend runs.
//!
//! Every state transition is a compare-and-set: the backend changes a row only if it is still
//! in the state the caller expected, and reports `None`/`false` otherwise, so a late writer
//! can never move a terminal row.

pub mod approvals;
pub mod audit;
pub mod decode;
pub mod error;
pub mod events;
pub mod jobs;
pub mod keys;
pub mod log;
pub mod page;
pub mod policies;
pub mod principals;
pub mod reminders;
pub mod roles;
pub mod sessions;
pub mod subjects;
pub mod uow;
pub mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use approvals::{ApprovalFilter, ApprovalRepo};
pub use audit::{AppendOutcome, AuditFilter, AuditRepo, ExportFilter, ExportRange, ExportRow};
pub use error::{StoreError, StoreResult};
pub use events::{StreamBatch, StreamMessage, StreamPosition};
pub use jobs::{JobFilter, JobRepo};
pub use keys::{KeyAuthRecord, KeyRepo};
pub use log::{LeafEvent, LogHead, LogRepo, QueuedEvent, StoredCheckpoint, StoredTile};
pub use page::{Cursor, CursorError, Page, PageRequest};
pub use policies::PolicyRepo;
pub use principals::PrincipalRepo;
pub use reminders::ReminderRepo;
pub use roles::RoleRepo;
pub use sessions::SessionRepo;
pub use subjects::{SubjectFilter, SubjectRepo};
pub use uow::{RolePosture, Store, Transaction};
pub use webhooks::{
    AttemptRecord, ClaimedDelivery, DeliveryStats, NewMessage, PendingMessage, WebhookRepo,
};
