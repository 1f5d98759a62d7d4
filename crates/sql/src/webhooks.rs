//! [`WebhookRepo`]: `webhooks`, `outbox_messages` and `webhook_deliveries`.
//!
//! Event lists and message bodies are JSON text on both backends. The claim is in
//! [`crate::delivery_claim`]: it locks due rows with the dialect's `SKIP_LOCKED`
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: nothing, the write lock taken at `BEGIN`
//! makes claims take turns) and moves each row's due time to the end of its lease in the same
//! transaction.

use async_trait::async_trait;
use countersign_domain::{Delivery, DeliveryId, DeliveryStatus, Webhook, WebhookEvent, WebhookId};
use countersign_store::decode::parse_all;
use countersign_store::{
    AttemptRecord, ClaimedDelivery, DeliveryStats, NewMessage, Page, PageRequest, PendingMessage,
    StoreError, StoreResult, WebhookRepo,
};
use time::OffsetDateTime;

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, Sql};
use crate::tx::SqlTransaction;

/// The columns [`webhook`] reads (never the secret).
const WEBHOOK_COLUMNS: &str = "id, url, events, format, description, disabled, created_at";

fn webhook<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Webhook> {
    let events = match r.opt_text("webhooks.events")? {
        None => None,
        Some(text) => {
            let names: Vec<String> = serde_json::from_str(&text).map_err(StoreError::other)?;
            Some(parse_all::<WebhookEvent>("webhooks.events", &names)?)
        }
    };
    Ok(Webhook {
        id: r.parse("webhooks.id")?,
        url: r.text("webhooks.url")?,
        events,
        format: r.parse("webhooks.format")?,
        description: r.opt_text("webhooks.description")?,
        disabled: r.get("webhooks.disabled")?,
        created_at: r.time("webhooks.created_at")?,
    })
}

/// The columns [`delivery`] reads, over `webhook_deliveries d JOIN outbox_messages m`.
const DELIVERY_COLUMNS: &str = "d.id, m.id AS message_id, d.webhook_id, m.event, d.status, \
     d.attempts, d.last_status_code, d.last_error, d.next_attempt_at, d.created_at";

fn delivery<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Delivery> {
    let code: Option<i32> = r.get("webhook_deliveries.last_status_code")?;
    Ok(Delivery {
        id: r.parse("webhook_deliveries.id")?,
        message_id: r.parse("outbox_messages.message_id")?,
        webhook_id: r.parse("webhook_deliveries.webhook_id")?,
        event: r.text("outbox_messages.event")?,
        status: r.parse("webhook_deliveries.status")?,
        attempts: r.get("webhook_deliveries.attempts")?,
        last_status_code: code.and_then(|c| u16::try_from(c).ok()),
        last_error: r.opt_text("webhook_deliveries.last_error")?,
        next_attempt_at: r.opt_time("webhook_deliveries.next_attempt_at")?,
        created_at: r.time("webhook_deliveries.created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> WebhookRepo for SqlTransaction<D> {
    async fn insert_webhook(&mut self, w: &Webhook, secret: &str) -> StoreResult<()> {
        let events = w
            .events
            .as_ref()
            .map(|list| serde_json::to_string(&list.iter().map(|e| e.as_str()).collect::<Vec<_>>()))
            .transpose()
            .map_err(StoreError::other)?;
        Sql::<D>::new(
            "INSERT INTO webhooks (id, url, events, format, description, secret, disabled, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .arg(w.id.to_string())
        .arg(w.url.clone())
        .arg(events)
        .arg(w.format.as_str().to_owned())
        .arg(w.description.clone())
        .arg(secret.to_owned())
        .arg(w.disabled)
        .arg(D::encode_time(w.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_webhook(&mut self, id: WebhookId) -> StoreResult<Option<Webhook>> {
        Sql::<D>::new(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), webhook)
        .await
    }

    async fn list_webhooks(&mut self, page: &PageRequest) -> StoreResult<Page<Webhook>> {
        let mut q = Sql::<D>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks"));
        q.page("created_at", "id", page);
        let rows = q.fetch_all(self.conn(), webhook).await?;
        Ok(Page::from_rows(rows, page.limit, |w| {
            cursor(w.created_at, w.id)
        }))
    }

    async fn enabled_webhooks(&mut self) -> StoreResult<Vec<Webhook>> {
        Sql::<D>::new(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE disabled = false ORDER BY created_at, id"
        ))
        .fetch_all(self.conn(), webhook)
        .await
    }

    async fn delete_webhook(&mut self, id: WebhookId) -> StoreResult<bool> {
        let n = Sql::<D>::new("DELETE FROM webhooks WHERE id = $1")
            .arg(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(n == 1)
    }

    async fn set_webhook_secret(&mut self, id: WebhookId, secret: &str) -> StoreResult<bool> {
        let n = Sql::<D>::new("UPDATE webhooks SET secret = $2 WHERE id = $1")
            .arg(id.to_string())
            .arg(secret.to_owned())
            .execute(self.conn())
            .await?;
        Ok(n == 1)
    }

    async fn disable_webhook(&mut self, id: WebhookId) -> StoreResult<bool> {
        let n =
            Sql::<D>::new("UPDATE webhooks SET disabled = true WHERE id = $1 AND disabled = false")
                .arg(id.to_string())
                .execute(self.conn())
                .await?;
        Ok(n == 1)
    }

    async fn insert_message(&mut self, m: &NewMessage) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO outbox_messages (id, event, ordering_key, webhook_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(m.id.to_string())
        .arg(m.event.clone())
        .arg(m.ordering_key.clone())
        .arg(m.webhook_id.map(|w| w.to_string()))
        .arg(m.body.clone())
        .arg(D::encode_time(m.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lock_undispatched_messages(&mut self, limit: u32) -> StoreResult<Vec<PendingMessage>> {
        Sql::<D>::new(format!(
            "SELECT seq, event, ordering_key, webhook_id FROM outbox_messages \
             WHERE dispatched_at IS NULL ORDER BY seq LIMIT $1{}",
            D::SKIP_LOCKED
        ))
        .arg(i64::from(limit))
        .fetch_all(self.conn(), |r| {
            Ok(PendingMessage {
                seq: r.get("outbox_messages.seq")?,
                event: r.text("outbox_messages.event")?,
                ordering_key: r.text("outbox_messages.ordering_key")?,
                webhook_id: r.parse_opt("outbox_messages.webhook_id")?,
            })
        })
        .await
    }

    async fn insert_delivery(
        &mut self,
        id: DeliveryId,
        seq: i64,
        webhook: WebhookId,
        ordering_key: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO webhook_deliveries (id, message_seq, webhook_id, ordering_key, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .arg(id.to_string())
        .arg(seq)
        .arg(webhook.to_string())
        .arg(ordering_key.to_owned())
        .arg(D::encode_time(now))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn mark_dispatched(&mut self, seq: i64, now: OffsetDateTime) -> StoreResult<()> {
        Sql::<D>::new("UPDATE outbox_messages SET dispatched_at = $2 WHERE seq = $1")
            .arg(seq)
            .arg(D::encode_time(now))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn claim_deliveries(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        crate::delivery_claim::claim::<D>(self.conn(), now, lease_until, limit).await
    }

    async fn record_attempt(
        &mut self,
        id: DeliveryId,
        attempt: i32,
        rec: &AttemptRecord,
    ) -> StoreResult<bool> {
        let delivered_at =
            (rec.status == DeliveryStatus::Delivered).then(|| D::encode_time(rec.at));
        let n = Sql::<D>::new(
            "UPDATE webhook_deliveries SET status = $3, last_status_code = $4, last_error = $5, \
             next_attempt_at = $6, delivered_at = $7 \
             WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        )
        .arg(id.to_string())
        .arg(attempt)
        .arg(rec.status.as_str().to_owned())
        .arg(rec.status_code.map(i32::from))
        .arg(rec.error.clone())
        .arg(rec.next_attempt_at.map(D::encode_time))
        .arg(delivered_at)
        .execute(self.conn())
        .await?;
        Ok(n == 1)
    }

    async fn list_deliveries(
        &mut self,
        webhook_id: WebhookId,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        let mut q = Sql::<D>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN outbox_messages m ON m.seq = d.message_seq"
        ));
        q.and().push("d.webhook_id = ").bind(webhook_id.to_string());
        q.page("d.created_at", "d.id", page);
        let rows = q.fetch_all(self.conn(), delivery).await?;
        Ok(Page::from_rows(rows, page.limit, |d| {
            cursor(d.created_at, d.id)
        }))
    }

    async fn redeliver(
        &mut self,
        webhook_id: WebhookId,
        id: DeliveryId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Delivery>> {
        let n = Sql::<D>::new(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, \
             delivered_at = NULL, schedule_base = attempts WHERE id = $1 AND webhook_id = $2",
        )
        .arg(id.to_string())
        .arg(webhook_id.to_string())
        .arg(D::encode_time(now))
        .execute(self.conn())
        .await?;
        if n == 0 {
            return Ok(None);
        }
        Sql::<D>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN outbox_messages m ON m.seq = d.message_seq WHERE d.id = $1"
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), delivery)
        .await
    }

    async fn delivery_stats(&mut self) -> StoreResult<DeliveryStats> {
        let by_status = Sql::<D>::new(
            "SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(self.conn(), |r| {
            let n: i64 = r.get("webhook_deliveries.n")?;
            Ok((
                r.parse::<DeliveryStatus>("webhook_deliveries.status")?,
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .await?;
        let depth: i64 =
            Sql::<D>::new("SELECT COUNT(*) AS n FROM outbox_messages WHERE dispatched_at IS NULL")
                .fetch_optional(self.conn(), |r| r.get("outbox_messages.n"))
                .await?
                .unwrap_or(0);
        let oldest = Sql::<D>::new(
            "SELECT MIN(m.created_at) AS oldest FROM outbox_messages m \
             WHERE m.dispatched_at IS NULL OR EXISTS (SELECT 1 FROM webhook_deliveries d \
             WHERE d.message_seq = m.seq AND d.status = 'pending')",
        )
        .fetch_optional(self.conn(), |r| r.opt_time("outbox_messages.oldest"))
        .await?
        .flatten();
        Ok(DeliveryStats {
            by_status,
            outbox_depth: u64::try_from(depth).unwrap_or(0),
            oldest_undelivered: oldest,
        })
    }
}
