//! [`AuditRepo`] on SQLite: the append-only `audit_events` table.
//!
//! Each event is stored twice over: `body` holds its exact wire form (the text of
//! `serde_json::to_string`, kept byte for byte in a TEXT column, so exports stream it
//! unchanged), and a few extracted columns serve filters and order; `ts` is the event's time
//! truncated to microseconds in the fixed-width text form. Reads parse `body` back.
//!
//! Appends are multi-row `INSERT … ON CONFLICT (event_id) DO NOTHING` statements of at most
//! [`APPEND_CHUNK`] rows (well under SQLite's 32,766 bind parameters); an event id already
//! stored counts as a duplicate. (`INSERT OR IGNORE` would also swallow CHECK failures, so
//! it is not used.) Triggers refuse UPDATE and DELETE.
//!
//! The streaming export lives on the store ([`crate::SqliteStore`]), not here: it runs in its
//! own read transaction (one WAL snapshot), outside any read-write transaction.

use async_trait::async_trait;
use countersign_domain::{ActorKind, AuditEvent, EventId};
use countersign_store::{
    AppendOutcome, AuditFilter, AuditRepo, Page, PageRequest, StoreError, StoreResult,
};
use sqlx::{QueryBuilder, Sqlite};

use crate::error::map_sqlx;
use crate::rows::AuditRow;
use crate::sql::{cursor, push_page, Conditions};
use crate::timestamp::{decode, encode};
use crate::tx::SqliteTransaction;

/// The most events one INSERT carries (14 parameters each).
pub const APPEND_CHUNK: usize = 1000;

fn actor_kind(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "user",
        ActorKind::Service => "service",
        ActorKind::System => "system",
    }
}

/// An event's stored columns, serialized once before the insert is built.
struct Prepared<'a> {
    event: &'a AuditEvent,
    body: String,
}

#[async_trait]
impl AuditRepo for SqliteTransaction {
    async fn append_audit(&mut self, events: &[AuditEvent]) -> StoreResult<AppendOutcome> {
        let mut outcome = AppendOutcome::default();
        for chunk in events.chunks(APPEND_CHUNK) {
            let prepared = chunk
                .iter()
                .map(|event| {
                    serde_json::to_string(event)
                        .map(|body| Prepared { event, body })
                        .map_err(StoreError::other)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO audit_events (event_id, ts, category, action, actor_kind, actor_id, \
                 actor_name, resource_type, resource_id, decision, outcome, request_id, \
                 ingested_by, body) ",
            );
            qb.push_values(prepared, |mut row, Prepared { event: e, body }| {
                row.push_bind(e.event_id.to_string())
                    .push_bind(encode(e.ts))
                    .push_bind(e.category.as_str())
                    .push_bind(e.action.clone())
                    .push_bind(actor_kind(e.actor.kind))
                    .push_bind(e.actor.id.clone())
                    .push_bind(e.actor.name.clone())
                    .push_bind(e.resource.kind.clone())
                    .push_bind(e.resource.id.clone())
                    .push_bind(e.authorization.decision.as_str())
                    .push_bind(e.result.as_str())
                    .push_bind(e.request_id.clone())
                    .push_bind(e.ingested_by.clone())
                    .push_bind(body);
            });
            qb.push(" ON CONFLICT (event_id) DO NOTHING");
            let done = qb
                .build()
                .persistent(false)
                .execute(self.conn())
                .await
                .map_err(map_sqlx)?;
            outcome.inserted += done.rows_affected();
            outcome.duplicates += chunk.len() as u64 - done.rows_affected();
        }
        Ok(outcome)
    }

    async fn get_audit_event(&mut self, id: EventId) -> StoreResult<Option<AuditEvent>> {
        sqlx::query_as::<_, AuditRow>(
            "SELECT ts, event_id, body FROM audit_events WHERE event_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(AuditRow::into_domain)
        .transpose()
    }

    async fn list_audit_events(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT ts, event_id, body FROM audit_events");
        let mut conditions = Conditions::default();
        if let Some(category) = filter.category {
            conditions.next(&mut qb);
            qb.push("category = ").push_bind(category.as_str());
        }
        if let Some(action) = &filter.action {
            conditions.next(&mut qb);
            qb.push("action = ").push_bind(action.clone());
        }
        if let Some(actor) = &filter.actor {
            conditions.next(&mut qb);
            qb.push("(actor_id = ")
                .push_bind(actor.clone())
                .push(" OR actor_name = ")
                .push_bind(actor.clone())
                .push(")");
        }
        if let Some(kind) = &filter.resource_type {
            conditions.next(&mut qb);
            qb.push("resource_type = ").push_bind(kind.clone());
        }
        if let Some(id) = &filter.resource_id {
            conditions.next(&mut qb);
            qb.push("resource_id = ").push_bind(id.clone());
        }
        if let Some(from) = filter.from {
            conditions.next(&mut qb);
            qb.push("ts >= ").push_bind(encode(from));
        }
        if let Some(to) = filter.to {
            conditions.next(&mut qb);
            qb.push("ts < ").push_bind(encode(to));
        }
        push_page(&mut qb, &mut conditions, "ts", "event_id", page);
        let rows = qb
            .build_query_as::<AuditRow>()
            .persistent(false)
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?;
        // The cursor comes from the stored `ts` column (microseconds), which is what the
        // keyset condition compares against.
        let keyed = rows
            .into_iter()
            .map(|r| Ok((decode("audit_events.ts", &r.ts)?, r)))
            .collect::<StoreResult<Vec<_>>>()?;
        let page = Page::from_rows(keyed, page.limit, |(ts, r)| cursor(*ts, &r.event_id));
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(_, r)| r.into_domain())
                .collect::<StoreResult<Vec<_>>>()?,
            next: page.next,
        })
    }
}
