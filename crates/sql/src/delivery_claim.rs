//! The webhook delivery claim ([`WebhookRepo::claim_deliveries`](countersign_store::WebhookRepo)):
//! three statements, each bounded by the batch it claims, whatever the backlog.
//!
//! 1. **Pick** the due heads, locking them (the dialect's `SKIP_LOCKED`): walk the pending
//!    deliveries due by now in due order (the partial index `webhook_deliveries_due`), keep
//!    those of enabled webhooks whose message is the first pending one of its
//!    `(webhook_id, ordering_key)`, and stop at `limit`.
//! 2. **Lease** them: count the attempt and move the due time to the end of the lease, by id.
//! 3. **Read** what the sender needs — delivery, message and webhook — in one joined read.
//!
//! Why the head test is a correlated scalar subquery (`d.message_seq = (SELECT e.message_seq
//! … ORDER BY e.message_seq LIMIT 1)`) and not `NOT EXISTS` (an earlier pending message):
//! PostgreSQL turns `NOT EXISTS` into an anti-join and plans it from the table's statistics.
//! Right after a backlog is fanned out those still say "no pending deliveries" (autovacuum
//! analyses a minute or so later), the planner takes both sides for one row, and it may join
//! them with a nested loop whose inner side is a full scan of every pending delivery, with
//! the key comparison left as a join filter: n² rows for n pending — 100,000,000 for a
//! backlog of 10,000, tens of seconds per claim. A scalar subquery is never turned into a
//! join; it is always run per candidate row with the row's key as its index condition
//! (`webhook_deliveries_order`), one short index probe whatever the statistics say. The
//! webhook test is an `EXISTS` on the webhook's primary key for the same reason on SQLite,
//! which otherwise drives the scan from the webhook's whole delivery history.
//!
//! Why three statements and not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP
//! LOCKED)`: PostgreSQL may plan that `IN` as a nested-loop semi-join that runs the limited,
//! locking subquery again for every row of the outer scan, which then leases more than `n`
//! rows (measured: 299 for a limit of 100 on stale statistics). The lease step's only
//! condition is the ids picked, so it is a primary-key lookup on every plan; the rows are
//! still held by this transaction (PostgreSQL: the row locks; SQLite: the write lock), so no
//! other transaction can have changed them in between.

use std::collections::HashMap;

use countersign_store::decode::parse;
use countersign_store::{ClaimedDelivery, StoreResult};
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::sql::{fill, Conn, Sql};

/// Claim up to `limit` due heads for one attempt each, leased until `lease_until`; answers
/// them in the order they were picked (due time, then message order).
pub(crate) async fn claim<D: Dialect>(
    conn: &mut Conn<D>,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let ids = pick::<D>(conn, now, limit).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    lease::<D>(conn, &ids, lease_until).await?;
    let mut claimed = read::<D>(conn, &ids).await?;
    let order: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    claimed.sort_by_key(|(id, _)| order.get(id.as_str()).copied());
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}

/// Step 1: the ids of up to `limit` due heads of enabled webhooks, locked, in due order.
async fn pick<D: Dialect>(
    conn: &mut Conn<D>,
    now: OffsetDateTime,
    limit: u32,
) -> StoreResult<Vec<String>> {
    Sql::<D>::new(format!(
        "SELECT d.id FROM webhook_deliveries d \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
         AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.disabled = false) \
         AND d.message_seq = (SELECT e.message_seq FROM webhook_deliveries e \
             WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key \
             AND e.status = 'pending' ORDER BY e.message_seq LIMIT 1) \
         ORDER BY d.next_attempt_at, d.message_seq LIMIT $2{}",
        D::SKIP_LOCKED
    ))
    .arg(D::encode_time(now))
    .arg(i64::from(limit))
    .fetch_all(conn, |r| r.text("webhook_deliveries.id"))
    .await
}

/// Step 2: count the attempt of each picked delivery and lease it until `lease_until`.
async fn lease<D: Dialect>(
    conn: &mut Conn<D>,
    ids: &[String],
    lease_until: OffsetDateTime,
) -> StoreResult<()> {
    let mut q = Sql::<D>::new(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1 WHERE id ",
    );
    q = q.arg(D::encode_time(lease_until));
    let list = q.param(D::encode_list(ids.to_vec()));
    q.push(&fill(D::IN_LIST, &[("list", &list)]));
    q.execute(conn).await?;
    Ok(())
}

/// Step 3: each leased delivery with its message and webhook, by delivery id.
async fn read<D: Dialect>(
    conn: &mut Conn<D>,
    ids: &[String],
) -> StoreResult<Vec<(String, ClaimedDelivery)>> {
    let mut q = Sql::<D>::new(
        "SELECT d.id, d.webhook_id, d.attempts, d.schedule_base, m.id AS message_id, m.event, \
         m.body, m.created_at, w.url, w.secret, w.format \
         FROM webhook_deliveries d \
         JOIN outbox_messages m ON m.seq = d.message_seq \
         JOIN webhooks w ON w.id = d.webhook_id WHERE d.id ",
    );
    let list = q.param(D::encode_list(ids.to_vec()));
    q.push(&fill(D::IN_LIST, &[("list", &list)]));
    q.fetch_all(conn, |r| {
        let id = r.text("webhook_deliveries.id")?;
        let claimed = ClaimedDelivery {
            id: parse("webhook_deliveries.id", &id)?,
            message_id: r.parse("outbox_messages.message_id")?,
            webhook_id: r.parse("webhook_deliveries.webhook_id")?,
            event: r.text("outbox_messages.event")?,
            attempt: r.get("webhook_deliveries.attempts")?,
            schedule_base: r.get("webhook_deliveries.schedule_base")?,
            url: r.text("webhooks.url")?,
            secret: r.text("webhooks.secret")?,
            format: r.parse("webhooks.format")?,
            body: r.text("outbox_messages.body")?,
            message_created_at: r.time("outbox_messages.created_at")?,
        };
        Ok((id, claimed))
    })
    .await
}
