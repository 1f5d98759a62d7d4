//! Webhooks, the notification outbox and webhook deliveries.
//!
//! A use case writes an outbox message through its own transaction, so a message exists if and
//! only if its change committed. The scheduler then fans messages out into one delivery per
//! matching webhook and claims due deliveries under a lease: a claimed delivery is not due
//! again until the lease ends, so a crashed sender's attempt is retried (with the same message
//! id) and two live senders never send one attempt.

use async_trait::async_trait;
use countersign_domain::{
    Delivery, DeliveryId, DeliveryStatus, MessageId, Webhook, WebhookFormat, WebhookId,
};
use time::OffsetDateTime;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// An outbox message to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    /// The event type (`approval.requested`, or `webhook.test`).
    pub event: String,
    /// Messages with one key (an approval id) are delivered in the order they were written.
    pub ordering_key: String,
    /// Only this webhook receives it (a test send); `None`: every matching webhook.
    pub webhook_id: Option<WebhookId>,
    /// The body exactly as it will be signed and sent.
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// An outbox message not yet fanned out, as the fan-out step reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub seq: i64,
    pub event: String,
    pub ordering_key: String,
    pub webhook_id: Option<WebhookId>,
}

/// A delivery claimed for one attempt: everything the sender needs, secret included.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub webhook_id: WebhookId,
    pub event: String,
    /// This attempt's number (1 for the first); the compare-and-set key of its record.
    pub attempt: i32,
    /// Attempts made before the retry schedule last started over (a redelivery restarts it):
    /// this attempt is number `attempt - schedule_base` of the schedule.
    pub schedule_base: i32,
    pub url: String,
    /// The webhook's signing secret (`whsec_…`).
    pub secret: String,
    /// The webhook's body format: the standard `body` is sent as it is, or rendered first.
    pub format: WebhookFormat,
    /// The message's standard body.
    pub body: String,
    /// When the message was written (for the latency from commit).
    pub message_created_at: OffsetDateTime,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("webhook_id", &self.webhook_id)
            .field("attempt", &self.attempt)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<OffsetDateTime>,
    pub at: OffsetDateTime,
}

/// Counts for the delivery metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Deliveries per status.
    pub by_status: Vec<(DeliveryStatus, u64)>,
    /// Outbox messages not yet fanned out.
    pub outbox_depth: u64,
    /// When the oldest message with an undelivered (pending) delivery, or not yet fanned
    /// out, was written.
    pub oldest_undelivered: Option<OffsetDateTime>,
}

#[async_trait]
pub trait WebhookRepo {
    /// Insert a webhook with its signing secret.
    async fn insert_webhook(&mut self, webhook: &Webhook, secret: &str) -> StoreResult<()>;

    async fn get_webhook(&mut self, id: WebhookId) -> StoreResult<Option<Webhook>>;

    /// Webhooks (never secrets), newest first.
    async fn list_webhooks(&mut self, page: &PageRequest) -> StoreResult<Page<Webhook>>;

    /// Every webhook that is not disabled, for the fan-out.
    async fn enabled_webhooks(&mut self) -> StoreResult<Vec<Webhook>>;

    /// Delete a webhook and its deliveries; `false` if there was none.
    async fn delete_webhook(&mut self, id: WebhookId) -> StoreResult<bool>;

    /// Replace a webhook's secret; `false` if there is no such webhook.
    async fn set_webhook_secret(&mut self, id: WebhookId, secret: &str) -> StoreResult<bool>;

    /// Mark a webhook disabled (it answered 410); `false` if it was already, or is gone.
    async fn disable_webhook(&mut self, id: WebhookId) -> StoreResult<bool>;

    /// Write an outbox message.
    async fn insert_message(&mut self, message: &NewMessage) -> StoreResult<()>;

    /// Lock up to `limit` messages not yet fanned out, oldest first, skipping those another
    /// transaction holds.
    async fn lock_undispatched_messages(&mut self, limit: u32) -> StoreResult<Vec<PendingMessage>>;

    /// Create the delivery of message `seq` to `webhook`, due at `now`, and mark nothing else.
    async fn insert_delivery(
        &mut self,
        id: DeliveryId,
        seq: i64,
        webhook: WebhookId,
        ordering_key: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Mark message `seq` fanned out.
    async fn mark_dispatched(&mut self, seq: i64, now: OffsetDateTime) -> StoreResult<()>;

    /// Claim up to `limit` due pending deliveries of enabled webhooks for one attempt each: a
    /// delivery is claimable only when no earlier message with its ordering key is still
    /// pending for its webhook. Each claimed row's attempt count goes up by one and it is not
    /// due again until `lease_until`. Rows another transaction holds are skipped. The earliest
    /// due are claimed first, in message order among equally due ones, and answered in that
    /// order.
    async fn claim_deliveries(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Compare-and-set: record how attempt `attempt` of delivery `id` ended, if the delivery is
    /// still pending on that attempt (`false` otherwise: a later claim took it over).
    async fn record_attempt(
        &mut self,
        id: DeliveryId,
        attempt: i32,
        record: &AttemptRecord,
    ) -> StoreResult<bool>;

    /// A webhook's deliveries, newest first.
    async fn list_deliveries(
        &mut self,
        webhook: WebhookId,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;

    /// Make a delivery of `webhook` pending and due at `now` again, its retry schedule
    /// starting over from its next attempt (`schedule_base` becomes its attempt count);
    /// `None` if there is none.
    async fn redeliver(
        &mut self,
        webhook: WebhookId,
        id: DeliveryId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Delivery>>;

    /// Counts for the delivery metrics.
    async fn delivery_stats(&mut self) -> StoreResult<DeliveryStats>;
}
