//! Webhook wire types: the create body, the webhook and delivery views, and the answers that
//! show a secret (create and rotate, the only times it is shown).

use countersign_domain::{
    Delivery, DeliveryId, DeliveryStatus, MessageId, Webhook, WebhookEvent, WebhookFormat,
    WebhookId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// `http://` or `https://`, with a host.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
    /// Event types to receive; omitted means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub events: Option<Vec<WebhookEvent>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WebhookFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A webhook, never with its secret: `{id, url, events, format, description, disabled,
/// created_at}` (`events: null` means all).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookView {
    pub id: WebhookId,
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub events: Option<Vec<WebhookEvent>>,
    pub format: WebhookFormat,
    pub description: Option<String>,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            format: w.format,
            description: w.description,
            disabled: w.disabled,
            created_at: w.created_at,
        }
    }
}

/// The webhook plus its signing secret (`whsec_…`): answered by create and rotate-secret only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    pub secret: String,
}

/// `POST /api/v1/webhooks/{id}/test`: the message queued for the webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookTestQueued {
    pub message_id: MessageId,
}

/// One delivery: `{id, message_id, event, status, attempts, last_status_code, last_error,
/// next_attempt_at, created_at}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub message_id: MessageId,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            message_id: d.message_id,
            event: d.event,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}
