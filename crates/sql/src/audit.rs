//! [`AuditRepo`]: the append-only `audit_events` table.
//!
//! Each event is stored twice over: `body` holds its exact wire form (the text of
//! `serde_json::to_string`, kept byte for byte, so exports stream it unchanged), and a few
//! extracted columns serve filters and order; `ts` is stored at microsecond precision. Reads
//! parse `body` back. `leaf_hash` is the event's transparency-log leaf hash
//! ([`AuditEvent::leaf_hash`]), computed here from the event being stored; the database's
//! queue trigger hands it to the sequencer.
//!
//! Appends are multi-row `INSERT … ON CONFLICT (event_id) DO NOTHING` statements of at most
//! [`APPEND_CHUNK`] rows (well under either engine's bind-parameter limit); an event id already
//! stored counts as a duplicate. (`INSERT OR IGNORE` would also swallow CHECK failures on
//! SQLite, so it is not used.) Triggers refuse UPDATE and DELETE.
//!
//! The streaming export belongs to the dialect: it runs in its own read-only snapshot, outside
//! any read-write transaction.

use async_trait::async_trait;
use countersign_domain::{ActorKind, AuditEvent, EventId};
use countersign_store::decode::{parse, CorruptRow};
use countersign_store::{
    AppendOutcome, AuditFilter, AuditRepo, ExportRange, ExportRow, Page, PageRequest, StoreError,
    StoreResult,
};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, Sql};
use crate::tx::SqlTransaction;

/// The most events one INSERT carries (15 parameters each).
pub const APPEND_CHUNK: usize = 1000;

/// The columns [`stored`] reads: the order key and the wire form.
pub const AUDIT_COLUMNS: &str = "ts, event_id, CAST(body AS TEXT) AS body";

/// An audit row as stored: `(ts, event_id, body)`.
pub fn stored<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<(OffsetDateTime, String, String)> {
    Ok((
        r.time("audit_events.ts")?,
        r.text("audit_events.event_id")?,
        r.text("audit_events.body")?,
    ))
}

/// The export's rows: each event with its leaf index once sequenced (the dialects' export
/// streams select from this, adding their window, order and limit).
pub const EXPORT_FROM: &str =
    "SELECT a.ts, a.event_id, CAST(a.body AS TEXT) AS body, l.leaf_index \
     FROM audit_events a LEFT JOIN log_leaves l ON l.event_id = a.event_id";

/// The order of an export over [`EXPORT_FROM`]: `(ts, event_id)` for a window, the leaf
/// index for a leaf range.
pub fn export_order(range: &ExportRange) -> &'static str {
    match range {
        ExportRange::Window { .. } => " ORDER BY a.ts, a.event_id",
        ExportRange::Leaves { .. } => " ORDER BY l.leaf_index",
    }
}

/// A leaf index as the `log_leaves.leaf_index` column holds it (a bigint).
pub fn leaf_column(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// One export chunk from its stored `(ts, event_id, body, leaf_index)` rows; `None` when there
/// are none.
pub fn export_chunk<D: Dialect>(
    rows: Vec<(D::Time, String, String, Option<i64>)>,
) -> StoreResult<Option<Vec<ExportRow>>> {
    if rows.is_empty() {
        return Ok(None);
    }
    rows.into_iter()
        .map(|(ts, event_id, line, leaf_index)| {
            Ok(ExportRow {
                ts: D::decode_time("audit_events.ts", ts)?,
                event_id: parse("audit_events.event_id", &event_id)?,
                line,
                leaf_index: leaf_index.and_then(|i| u64::try_from(i).ok()),
            })
        })
        .collect::<StoreResult<Vec<_>>>()
        .map(Some)
}

/// An event from its stored wire form.
pub(crate) fn event(event_id: &str, body: &str) -> StoreResult<AuditEvent> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::other(CorruptRow::new("audit_events.body", event_id, e)))
}

fn actor_kind(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "user",
        ActorKind::Service => "service",
        ActorKind::System => "system",
    }
}

/// One multi-row INSERT of `events` (at most [`APPEND_CHUNK`]), each with its leaf hash; an
/// event id already stored is skipped. Public for the benchmarks' raw baseline.
pub fn append<D: Dialect>(events: &[AuditEvent]) -> StoreResult<Sql<D>> {
    let mut q = Sql::<D>::new(
        "INSERT INTO audit_events (event_id, ts, category, action, actor_kind, actor_id, \
         actor_name, resource_type, resource_id, decision, outcome, request_id, \
         ingested_by, body, leaf_hash) VALUES ",
    );
    for (i, e) in events.iter().enumerate() {
        let body = serde_json::to_string(e).map_err(StoreError::other)?;
        q.push(if i == 0 { "(" } else { ", (" });
        q.bind(e.event_id.to_string()).push(", ");
        q.bind(D::encode_time(e.ts)).push(", ");
        q.bind(e.category.as_str().to_owned()).push(", ");
        q.bind(e.action.clone()).push(", ");
        q.bind(actor_kind(e.actor.kind).to_owned()).push(", ");
        q.bind(e.actor.id.clone()).push(", ");
        q.bind(e.actor.name.clone()).push(", ");
        q.bind(e.resource.kind.clone()).push(", ");
        q.bind(e.resource.id.clone()).push(", ");
        q.bind(e.authorization.decision.as_str().to_owned())
            .push(", ");
        q.bind(e.result.as_str().to_owned()).push(", ");
        q.bind(e.request_id.clone()).push(", ");
        q.bind(e.ingested_by.clone()).push(", ");
        q.bind(body).push(D::JSON_TEXT_CAST).push(", ");
        q.bind(e.leaf_hash().to_vec()).push(")");
    }
    q.push(" ON CONFLICT (event_id) DO NOTHING");
    Ok(q.once())
}

#[async_trait]
impl<D: Dialect> AuditRepo for SqlTransaction<D> {
    async fn append_audit(&mut self, events: &[AuditEvent]) -> StoreResult<AppendOutcome> {
        let mut outcome = AppendOutcome::default();
        for chunk in events.chunks(APPEND_CHUNK) {
            let inserted = append::<D>(chunk)?.execute(self.conn()).await?;
            outcome.inserted += inserted;
            outcome.duplicates += chunk.len() as u64 - inserted;
        }
        Ok(outcome)
    }

    async fn get_audit_event(&mut self, id: EventId) -> StoreResult<Option<AuditEvent>> {
        let row = Sql::<D>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE event_id = $1"
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), stored)
        .await?;
        row.map(|(_, id, body)| event(&id, &body)).transpose()
    }

    async fn list_audit_events(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let mut q = Sql::<D>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events"));
        if let Some(category) = filter.category {
            q.and()
                .push("category = ")
                .bind(category.as_str().to_owned());
        }
        if let Some(action) = &filter.action {
            q.and().push("action = ").bind(action.clone());
        }
        if let Some(actor) = &filter.actor {
            q.and().push("(actor_id = ").bind(actor.clone());
            q.push(" OR actor_name = ").bind(actor.clone()).push(")");
        }
        if let Some(kind) = &filter.resource_type {
            q.and().push("resource_type = ").bind(kind.clone());
        }
        if let Some(id) = &filter.resource_id {
            q.and().push("resource_id = ").bind(id.clone());
        }
        if let Some(from) = filter.from {
            q.and().push("ts >= ").bind(D::encode_time(from));
        }
        if let Some(to) = filter.to {
            q.and().push("ts < ").bind(D::encode_time(to));
        }
        q.page("ts", "event_id", page);
        let rows = q.once().fetch_all(self.conn(), stored).await?;
        // The cursor comes from the stored `ts` column (microseconds), which is what the
        // keyset condition compares against.
        let page = Page::from_rows(rows, page.limit, |(ts, id, _)| cursor(*ts, id));
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|(_, id, body)| event(id, body))
                .collect::<StoreResult<Vec<_>>>()?,
            next: page.next,
        })
    }
}
