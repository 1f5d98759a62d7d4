//! The append-only audit trail.

use async_trait::async_trait;
use countersign_domain::{AuditEvent, Category, EventId};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// Filters for [`AuditRepo::list_audit_events`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub category: Option<Category>,
    pub action: Option<String>,
    /// Matches the actor's id or name.
    pub actor: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// Inclusive lower bound on `ts`.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `ts`.
    pub to: Option<OffsetDateTime>,
}

/// What an export covers: its [`ExportRange`], optionally one category, only rows strictly
/// after `(ts, event_id)` of `after`, at most `limit` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFilter {
    pub range: ExportRange,
    pub category: Option<Category>,
    pub after: Option<(OffsetDateTime, EventId)>,
    pub limit: Option<u64>,
}

/// The rows an export selects, and their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRange {
    /// Every event with `from <= ts < to`, sequenced or not, in `(ts, event_id)` order.
    Window {
        from: OffsetDateTime,
        to: OffsetDateTime,
    },
    /// The transparency log's leaves `first..=last` that exist, in leaf order: only sequenced
    /// events.
    Leaves { first: u64, last: u64 },
}

/// One exported event: its order key, its stored wire form (one NDJSON line, no newline) and
/// its transparency-log leaf index once sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub ts: OffsetDateTime,
    pub event_id: EventId,
    pub line: String,
    pub leaf_index: Option<u64>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub inserted: u64,
    /// Events whose `event_id` was already stored (a no-op, never an error).
    pub duplicates: u64,
}

#[async_trait]
pub trait AuditRepo {
    /// Append events in few round trips; an `event_id` already stored is skipped and counted
    /// as a duplicate. Stored events are never updated or deleted.
    async fn append_audit(&mut self, events: &[AuditEvent]) -> StoreResult<AppendOutcome>;

    async fn get_audit_event(&mut self, id: EventId) -> StoreResult<Option<AuditEvent>>;

    /// Newest first by `(ts, event_id)`.
    async fn list_audit_events(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>>;
}
