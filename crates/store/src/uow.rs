//! The unit of work: a [`Store`] begins [`Transaction`]s that span every repository.
//!
//! A use case begins one transaction, reads and writes through any repositories, appends its
//! audit events through the same transaction, and commits. Dropping a transaction without
//! committing rolls it back, so an early `?` return keeps nothing.

use async_trait::async_trait;
use countersign_domain::{KeyId, MessageId};
use futures::stream::BoxStream;

use crate::approvals::ApprovalRepo;
use crate::audit::{AuditRepo, ExportFilter, ExportRow};
use crate::error::StoreResult;
use crate::events::{StreamBatch, StreamPosition};
use crate::jobs::JobRepo;
use crate::keys::{KeyAuthRecord, KeyRepo};
use crate::log::LogRepo;
use crate::policies::PolicyRepo;
use crate::principals::PrincipalRepo;
use crate::reminders::ReminderRepo;
use crate::roles::RoleRepo;
use crate::sessions::SessionRepo;
use crate::subjects::SubjectRepo;
use crate::webhooks::WebhookRepo;

/// A database transaction exposing every repository.
#[async_trait]
pub trait Transaction:
    PrincipalRepo
    + KeyRepo
    + RoleRepo
    + PolicyRepo
    + SubjectRepo
    + JobRepo
    + ApprovalRepo
    + AuditRepo
    + WebhookRepo
    + ReminderRepo
    + LogRepo
    + SessionRepo
    + Send
{
    /// Make every write of this transaction durable, or none of them.
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Discard every write (dropping the transaction does the same).
    async fn rollback(self: Box<Self>) -> StoreResult<()>;
}

/// A backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics labels (`postgres`).
    fn backend(&self) -> &'static str;

    /// Begin a read-write transaction.
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>>;

    /// Everything authentication needs about a key, in one read outside any transaction.
    async fn key_auth_record(&self, id: KeyId) -> StoreResult<Option<KeyAuthRecord>>;

    /// `Ok` when the database answers and its schema is current; `Unavailable` otherwise.
    async fn readiness(&self) -> StoreResult<()>;

    /// How the connecting database role stands, where the backend has roles (PostgreSQL);
    /// `None` where it has none (SQLite: file permissions are the boundary).
    async fn role_posture(&self) -> StoreResult<Option<RolePosture>> {
        Ok(None)
    }

    /// Approvals pending now, counted per policy id (one `GROUP BY`), for the
    /// `countersign_approvals_pending{policy}` gauge. A store that cannot count answers
    /// nothing.
    async fn pending_approvals_by_policy(&self) -> StoreResult<Vec<(String, u64)>> {
        Ok(Vec::new())
    }

    /// Stream the export's rows in the order of its [`ExportRange`](crate::ExportRange)
    /// (`(ts, event_id)`, or leaf order), in chunks of at most `chunk_size`, from one
    /// consistent snapshot, holding at most one chunk in memory.
    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>>;

    /// Up to `limit` settled broadcast outbox messages (never a test send to one webhook)
    /// after `after`, in stream order, read outside any transaction (see [`crate::events`]).
    async fn stream_messages(&self, after: StreamPosition, limit: u32) -> StoreResult<StreamBatch>;

    /// The position of message `id`, to resume just after it; `None` if there is none.
    async fn stream_position(&self, id: MessageId) -> StoreResult<Option<StreamPosition>>;

    /// The position after every message settled now: where a new reader starts, so that it
    /// gets every message committed from now on. (A message committed just before, while an
    /// older transaction still runs, is not settled yet and comes too: a new reader may get a
    /// few events from just before it started, never miss one from after.)
    async fn stream_head(&self) -> StoreResult<StreamPosition>;

    /// A wake-up each time outbox messages commit, where the backend can push them
    /// (PostgreSQL: LISTEN/NOTIFY); `None` where readers must poll (SQLite). A wake-up says
    /// only "read again": it carries nothing a reader needs, so one lost (or an `Err`, after
    /// which the caller opens a new stream) delays a reader, never loses a message.
    fn outbox_wakeups(&self) -> Option<BoxStream<'static, StoreResult<()>>> {
        None
    }
}

/// The connecting database role, as far as the append-only audit trail is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePosture {
    /// The role's name (`current_user`).
    pub role: String,
    /// A superuser can disable any trigger or skip them all (`session_replication_role`).
    pub superuser: bool,
    /// The owner of `audit_events` (directly or through membership) can disable or drop its
    /// append-only triggers.
    pub owns_audit_table: bool,
}

impl RolePosture {
    /// Whether this role could switch off the audit trail's append-only protection.
    pub fn is_unsafe(&self) -> bool {
        self.superuser || self.owns_audit_table
    }
}
