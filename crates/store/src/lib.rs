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
//!   notification outbox and deliveries), [`sessions`] (console sessions).
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
pub mod jobs;
pub mod keys;
pub mod page;
pub mod policies;
pub mod principals;
pub mod roles;
pub mod sessions;
pub mod subjects;
pub mod uow;
pub mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use approvals::{ApprovalFilter, ApprovalRepo};
pub use audit::{AppendOutcome, AuditFilter, AuditRepo, ExportFilter, ExportRow};
pub use error::{StoreError, StoreResult};
pub use jobs::{JobFilter, JobRepo};
pub use keys::{KeyAuthRecord, KeyRepo};
pub use page::{Cursor, CursorError, Page, PageRequest};
pub use policies::PolicyRepo;
pub use principals::PrincipalRepo;
pub use roles::RoleRepo;
pub use sessions::SessionRepo;
pub use subjects::{SubjectFilter, SubjectRepo};
pub use uow::{RolePosture, Store, Transaction};
pub use webhooks::{
    AttemptRecord, ClaimedDelivery, DeliveryStats, NewMessage, PendingMessage, WebhookRepo,
};
