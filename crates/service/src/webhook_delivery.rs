//! Webhook delivery, run by the scheduler: fan out outbox messages, then claim, send and
//! record due deliveries.
//!
//! - **Fan-out**: lock a batch of messages not yet fanned out (`SKIP LOCKED`), create one
//!   delivery per matching enabled webhook (a test message: its one webhook), mark them
//!   fanned out — one transaction.
//! - **Claim**: lock due deliveries (`SKIP LOCKED`; on SQLite the write lock makes schedulers
//!   take turns), skipping any whose webhook still has an earlier pending message with the
//!   same ordering key (the same approval), count the attempt and push the due time to the
//!   end of a lease — one transaction, committed before anything is sent. A second scheduler
//!   therefore never sends the same attempt, and a scheduler killed mid-send leaves the
//!   delivery due again when the lease ends: at least once, with the same `webhook-id`.
//! - **Send** outside any transaction: a Standard Webhooks POST (`webhook-id` is the message
//!   id, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` by the
//!   `standardwebhooks` crate) with a timeout (15 s); attempts of one batch run concurrently.
//!   In the running loop each attempt is a task of its own, at most a batch in flight; when
//!   a claim fills every free place, each attempt that ends wakes the loop to claim again,
//!   so a backlog is not held to one batch per poll.
//!   The body is the message's standard body, or for a `slack` webhook the Slack body
//!   rendered from it ([`crate::slack`]); the signature covers the body sent.
//! - **Record** each outcome as a compare-and-set on the attempt number: 2xx `delivered`;
//!   410 `failed` and the webhook disabled (audited `webhook.disabled`); anything else is
//!   retried after the schedule's next delay with ±10 % jitter, or `failed` when the schedule
//!   has run out.
//!
//! The POST itself goes through a [`WebhookTransport`] the process provides
//! ([`Service::with_webhook_transport`]; the scheduler binary gives the HTTP crate's client),
//! so this crate names no HTTP client. A service without one fans messages out but sends
//! nothing (the API server: deliveries are the scheduler's).
//!
//! Logs name the webhook, delivery and message ids, never the URL (a Slack URL is itself a
//! secret) nor the signing secret.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use countersign_domain::audit::actions;
use countersign_domain::webhook::retry_delay;
use countersign_domain::{
    clock, Actor, AuditEvent, Category, DeliveryId, DeliveryStatus, Resource, SystemActor,
    WebhookFormat,
};
use countersign_store::{AttemptRecord, ClaimedDelivery};
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::error::ServiceResult;
use crate::metrics;
use crate::service::Service;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Outbox messages fanned out.
    pub messages_dispatched: usize,
    /// Attempts made (each counted once, whatever its outcome).
    pub attempts: usize,
    pub delivered: usize,
}

/// How one attempt ended, before it is recorded.
#[derive(Debug)]
enum Outcome {
    Status(u16),
    Error(String),
}

/// One signed delivery request, as the transport sends it: a POST of `body` to `url` with
/// `headers` (the Standard Webhooks headers and `content-type`), within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub timeout: Duration,
}

/// Sends webhook requests. `Ok(status)` for any HTTP answer; `Err(reason)` when none came
/// (refused, reset, timed out). The reason must not contain the URL.
pub trait WebhookTransport: Debug + Send + Sync + 'static {
    fn post<'a>(&'a self, request: &'a WebhookRequest) -> BoxFuture<'a, Result<u16, String>>;
}

/// `delay` stretched or shrunk by up to 10 %, so retries of many deliveries spread out.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::thread_rng().gen_range(0.9..=1.1))
}

impl Service {
    /// Fan out every outbox message not yet fanned out; the number fanned out.
    pub async fn fan_out_messages(&self) -> ServiceResult<usize> {
        let batch = self.config.scheduler_batch;
        let mut total = 0;
        loop {
            let now = clock::now();
            let mut tx = self.begin().await?;
            let messages = tx.lock_undispatched_messages(batch).await?;
            if messages.is_empty() {
                tx.commit().await?;
                return Ok(total);
            }
            let webhooks = tx.enabled_webhooks().await?;
            for m in &messages {
                match m.webhook_id {
                    Some(only) => {
                        tx.insert_delivery(DeliveryId::new(), m.seq, only, &m.ordering_key, now)
                            .await?
                    }
                    None => {
                        for w in webhooks.iter().filter(|w| w.wants(&m.event)) {
                            tx.insert_delivery(
                                DeliveryId::new(),
                                m.seq,
                                w.id,
                                &m.ordering_key,
                                now,
                            )
                            .await?;
                        }
                    }
                }
                tx.mark_dispatched(m.seq, now).await?;
            }
            tx.commit().await?;
            total += messages.len();
            if (messages.len() as u32) < batch {
                return Ok(total);
            }
        }
    }

    /// Claim due deliveries for one attempt each and commit the claim; nothing is sent here.
    pub async fn claim_due_deliveries(&self) -> ServiceResult<Vec<ClaimedDelivery>> {
        self.claim_up_to(self.config.scheduler_batch).await
    }

    async fn claim_up_to(&self, limit: u32) -> ServiceResult<Vec<ClaimedDelivery>> {
        let now = clock::now();
        let mut tx = self.begin().await?;
        let claimed = tx
            .claim_deliveries(now, now + self.config.webhook_lease, limit)
            .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Send one claimed attempt and record its outcome; whether it was delivered.
    pub async fn send_claimed(&self, d: &ClaimedDelivery) -> ServiceResult<bool> {
        let outcome = self.post(d).await;
        self.record(d, outcome).await
    }

    /// One tick of the running scheduler's delivery loop: fan out, reap finished attempts,
    /// claim up to the free room (`COUNTERSIGN_SCHEDULER_BATCH` attempts in flight at most) and
    /// start each claimed attempt as a task of its own, without waiting for it — so one slow
    /// endpoint holds only its own attempts, never the others'. Every attempt calls `ended`
    /// when it ends. Answers whether the room ran out (none left, or the claim filled it):
    /// then more may be due, and the loop should claim again as soon as an attempt ends
    /// instead of waiting for its next poll.
    pub(crate) async fn start_due_deliveries(
        &self,
        in_flight: &mut tokio::task::JoinSet<()>,
        ended: &Arc<Notify>,
    ) -> ServiceResult<bool> {
        self.fan_out_messages().await?;
        while let Some(done) = in_flight.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a webhook delivery task failed");
            }
        }
        if self.webhook_transport.is_none() {
            return Ok(false);
        }
        let room = self
            .config
            .scheduler_batch
            .saturating_sub(u32::try_from(in_flight.len()).unwrap_or(u32::MAX));
        if room == 0 {
            return Ok(true);
        }
        let claimed = self.claim_up_to(room).await?;
        let full = claimed.len() >= room as usize;
        if !claimed.is_empty() {
            tracing::debug!(
                scheduler.delivery_attempts = claimed.len(),
                "webhook attempts started"
            );
        }
        for d in claimed {
            let service = self.clone();
            let ended = ended.clone();
            in_flight.spawn(async move {
                if let Err(e) = service.send_claimed(&d).await {
                    tracing::warn!(
                        webhook.id = %d.webhook_id, delivery.id = %d.id, error = %e,
                        "recording a webhook delivery attempt failed; its lease will run out"
                    );
                }
                ended.notify_one();
            });
        }
        Ok(full)
    }

    /// Fan out, then claim, send and record due deliveries until none is due (without a
    /// transport: fan out only). Waits for every attempt it starts.
    pub async fn deliver_webhooks(&self) -> ServiceResult<DeliveryReport> {
        let mut report = DeliveryReport {
            messages_dispatched: self.fan_out_messages().await?,
            ..DeliveryReport::default()
        };
        if self.webhook_transport.is_none() {
            return Ok(report);
        }
        loop {
            let claimed = self.claim_due_deliveries().await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            let results =
                futures::future::join_all(claimed.iter().map(|d| self.send_claimed(d))).await;
            report.attempts += claimed.len();
            for r in results {
                if r? {
                    report.delivered += 1;
                }
            }
            if (claimed.len() as u32) < self.config.scheduler_batch {
                return Ok(report);
            }
        }
    }

    async fn post(&self, d: &ClaimedDelivery) -> Outcome {
        let signer = match standardwebhooks::Webhook::new(&d.secret) {
            Ok(s) => s,
            Err(_) => return Outcome::Error("the webhook's secret cannot sign".into()),
        };
        // The body in the webhook's format, signed exactly as sent.
        let body = match d.format {
            WebhookFormat::Standard => d.body.clone(),
            WebhookFormat::Slack => match crate::slack::render(&d.body) {
                Ok(b) => b,
                Err(_) => return Outcome::Error("the message cannot be rendered for Slack".into()),
            },
        };
        let ts = OffsetDateTime::now_utc().unix_timestamp();
        let msg_id = d.message_id.to_string();
        let signature = match signer.sign(&msg_id, ts, body.as_bytes()) {
            Ok(s) => s,
            Err(e) => return Outcome::Error(format!("signing failed: {e}")),
        };
        let Some(transport) = self.webhook_transport.as_deref() else {
            return Outcome::Error("no webhook transport is configured".into());
        };
        let request = WebhookRequest {
            url: d.url.clone(),
            headers: vec![
                (standardwebhooks::HEADER_WEBHOOK_ID, msg_id),
                (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, ts.to_string()),
                (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
                ("content-type", "application/json".to_owned()),
            ],
            body,
            timeout: self.config.webhook_timeout,
        };
        match transport.post(&request).await {
            Ok(status) => Outcome::Status(status),
            Err(e) => Outcome::Error(e),
        }
    }

    async fn record(&self, d: &ClaimedDelivery, outcome: Outcome) -> ServiceResult<bool> {
        let now = clock::now();
        let (code, error) = match &outcome {
            Outcome::Status(c) => (Some(*c), None),
            Outcome::Error(e) => (None, Some(e.clone())),
        };
        let delivered = matches!(code, Some(200..=299));
        let gone = code == Some(410);
        let (status, next, label) = if delivered {
            (DeliveryStatus::Delivered, None, "delivered")
        } else if gone {
            (DeliveryStatus::Failed, None, "gone")
        } else {
            // Counted from the last redelivery, which starts the schedule over.
            match retry_delay(
                &self.config.webhook_retry_schedule,
                d.attempt - d.schedule_base,
            ) {
                Some(delay) => (
                    DeliveryStatus::Pending,
                    Some(now + jittered(delay)),
                    "retry",
                ),
                None => (DeliveryStatus::Failed, None, "failed"),
            }
        };
        let error = error
            .or_else(|| (!delivered).then(|| format!("answered {}", code.unwrap_or_default())));
        let mut tx = self.begin().await?;
        let recorded = tx
            .record_attempt(
                d.id,
                d.attempt,
                &AttemptRecord {
                    status,
                    status_code: code,
                    error,
                    next_attempt_at: next,
                    at: now,
                },
            )
            .await?;
        let mut events = Vec::new();
        if recorded && gone && tx.disable_webhook(d.webhook_id).await? {
            events.push(
                AuditEvent::new(
                    Category::Config,
                    actions::WEBHOOK_DISABLED,
                    Actor::system(SystemActor::Scheduler),
                    Resource::new("webhook", d.webhook_id),
                )
                .details(json!({"reason": "the endpoint answered 410 Gone", "delivery_id": d.id})),
            );
        }
        self.commit_with(tx, &events).await?;
        if !recorded {
            tracing::warn!(
                webhook.id = %d.webhook_id, delivery.id = %d.id, message.id = %d.message_id,
                delivery.attempt = d.attempt,
                "a delivery attempt finished after its lease was taken over; not recorded"
            );
            return Ok(false);
        }
        metrics::webhook_attempt(label);
        if delivered {
            metrics::webhook_delivered(d.message_created_at, now);
        }
        match &outcome {
            Outcome::Status(c) => tracing::info!(
                webhook.id = %d.webhook_id, delivery.id = %d.id, message.id = %d.message_id,
                delivery.attempt = d.attempt, http.status = c, delivery.outcome = label,
                "webhook delivery attempt"
            ),
            Outcome::Error(e) => tracing::warn!(
                webhook.id = %d.webhook_id, delivery.id = %d.id, message.id = %d.message_id,
                delivery.attempt = d.attempt, error = %e, delivery.outcome = label,
                "webhook delivery attempt failed"
            ),
        }
        Ok(delivered)
    }
}
