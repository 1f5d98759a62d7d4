//! Webhooks: create (the secret is shown once), list, show, delete, rotate the secret, send a
//! test, list deliveries, redeliver. Every change is audited as a `config` event; no event,
//! view or log line carries a secret.
//!
//! A secret is `whsec_` followed by the base64 of 32 random bytes (Standard Webhooks). It is
//! stored as it is, because the scheduler must read it to sign each delivery (a hash could
//! not sign); it leaves the database only to sign, and the API shows it only in the answers
//! of create and rotate-secret.

use base64::Engine;
use countersign_api::{
    CreateWebhookBody, DeliveryView, WebhookTestQueued, WebhookView, WebhookWithSecret,
};
use countersign_domain::audit::actions;
use countersign_domain::text::reject_nul;
use countersign_domain::webhook::{validate_url, TEST_EVENT};
use countersign_domain::{
    clock, AuditEvent, Category, DeliveryId, MessageId, Permission, Resource, Webhook, WebhookId,
};
use countersign_store::NewMessage;
use rand::RngCore;
use serde_json::json;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::outbox::standard_body;
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// The longest webhook description.
pub const MAX_DESCRIPTION_LEN: usize = 512;

fn resource(id: WebhookId) -> Resource {
    Resource::new("webhook", id)
}

/// Check a base URL (`COUNTERSIGN_PUBLIC_URL`) by the webhook URL rule.
pub fn validate_base_url(url: &str) -> Result<(), countersign_domain::ValidationError> {
    validate_url(url)
}

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Service {
    fn webhook_event(caller: &Caller, action: &str, id: WebhookId, p: Permission) -> AuditEvent {
        AuditEvent::new(Category::Config, action, caller.actor(), resource(id))
            .allowed_by(p.as_str())
            .request_id(caller.request_id())
    }

    /// `POST /api/v1/webhooks` (`webhook.write`): the answer is the only read of the secret
    /// besides rotation.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        body: CreateWebhookBody,
    ) -> ServiceResult<WebhookWithSecret> {
        let permission = Permission::WebhookWrite;
        self.require(caller, permission, Resource::new("webhook", "*"))
            .await?;
        reject_nul("url", &body.url)?;
        validate_url(&body.url)?;
        if let Some(d) = &body.description {
            reject_nul("description", d)?;
            if d.len() > MAX_DESCRIPTION_LEN {
                return Err(ServiceError::invalid("description: at most 512 bytes"));
            }
        }
        let events = match body.events {
            Some(list) if list.is_empty() => {
                return Err(ServiceError::invalid(
                    "events: name at least one event type, or omit it for all",
                ))
            }
            Some(mut list) => {
                list.sort();
                list.dedup();
                Some(list)
            }
            None => None,
        };
        let format = body.format.unwrap_or_default();
        let webhook = Webhook {
            id: WebhookId::new(),
            url: body.url,
            events,
            format,
            description: body.description,
            disabled: false,
            created_at: clock::now(),
        };
        let secret = new_secret();
        let mut tx = self.begin().await?;
        tx.insert_webhook(&webhook, &secret).await?;
        let event = Self::webhook_event(caller, actions::WEBHOOK_CREATED, webhook.id, permission)
            .details(json!({
                "url": webhook.url,
                "events": webhook.events,
                "format": webhook.format.as_str(),
            }));
        self.commit_with(tx, &[event]).await?;
        tracing::info!(webhook.id = %webhook.id, "webhook created");
        Ok(WebhookWithSecret {
            webhook: webhook.into(),
            secret,
        })
    }

    /// `GET /api/v1/webhooks` (`webhook.read`): newest first, never a secret.
    pub async fn list_webhooks(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> ServiceResult<Listing<WebhookView>> {
        self.require(
            caller,
            Permission::WebhookRead,
            Resource::new("webhook", "*"),
        )
        .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let webhooks = tx.list_webhooks(&page).await?;
        tx.commit().await?;
        Ok(listing(webhooks.map(WebhookView::from)))
    }

    /// `GET /api/v1/webhooks/{id}` (`webhook.read`).
    pub async fn get_webhook(&self, caller: &Caller, id: WebhookId) -> ServiceResult<WebhookView> {
        self.require(caller, Permission::WebhookRead, resource(id))
            .await?;
        let mut tx = self.begin().await?;
        let webhook = tx
            .get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        tx.commit().await?;
        Ok(webhook.into())
    }

    /// `DELETE /api/v1/webhooks/{id}` (`webhook.write`): the webhook and its deliveries.
    pub async fn delete_webhook(&self, caller: &Caller, id: WebhookId) -> ServiceResult<()> {
        let permission = Permission::WebhookWrite;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        let webhook = tx
            .get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        if !tx.delete_webhook(id).await? {
            return Err(ServiceError::NotFound("webhook"));
        }
        let event = Self::webhook_event(caller, actions::WEBHOOK_DELETED, id, permission)
            .details(json!({"url": webhook.url}));
        self.commit_with(tx, &[event]).await
    }

    /// `POST /api/v1/webhooks/{id}/rotate-secret` (`webhook.write`): a new secret, shown once;
    /// deliveries signed from now on use it.
    pub async fn rotate_webhook_secret(
        &self,
        caller: &Caller,
        id: WebhookId,
    ) -> ServiceResult<WebhookWithSecret> {
        let permission = Permission::WebhookWrite;
        self.require(caller, permission, resource(id)).await?;
        let secret = new_secret();
        let mut tx = self.begin().await?;
        let webhook = tx
            .get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        if !tx.set_webhook_secret(id, &secret).await? {
            return Err(ServiceError::NotFound("webhook"));
        }
        let event = Self::webhook_event(caller, actions::WEBHOOK_SECRET_ROTATED, id, permission);
        self.commit_with(tx, &[event]).await?;
        Ok(WebhookWithSecret {
            webhook: webhook.into(),
            secret,
        })
    }

    /// `POST /api/v1/webhooks/{id}/test` (`webhook.write`): queue a `webhook.test` message for
    /// this webhook only; the scheduler delivers it like any other.
    pub async fn test_webhook(
        &self,
        caller: &Caller,
        id: WebhookId,
    ) -> ServiceResult<WebhookTestQueued> {
        let permission = Permission::WebhookWrite;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        tx.get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        let now = clock::now();
        let message = NewMessage {
            id: MessageId::new(),
            event: TEST_EVENT.to_owned(),
            ordering_key: format!("test:{id}"),
            webhook_id: Some(id),
            body: standard_body(
                TEST_EVENT,
                now,
                &json!({"webhook_id": id, "requested_by": caller.id()}),
            )?,
            created_at: now,
        };
        tx.insert_message(&message).await?;
        let event = Self::webhook_event(caller, actions::WEBHOOK_TESTED, id, permission)
            .details(json!({"message_id": message.id}));
        self.commit_with(tx, &[event]).await?;
        Ok(WebhookTestQueued {
            message_id: message.id,
        })
    }

    /// `GET /api/v1/webhooks/{id}/deliveries` (`webhook.read`): newest first.
    pub async fn list_webhook_deliveries(
        &self,
        caller: &Caller,
        id: WebhookId,
        params: &ListParams,
    ) -> ServiceResult<Listing<DeliveryView>> {
        self.require(caller, Permission::WebhookRead, resource(id))
            .await?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        tx.get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        let deliveries = tx.list_deliveries(id, &page).await?;
        tx.commit().await?;
        Ok(listing(deliveries.map(DeliveryView::from)))
    }

    /// `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver` (`webhook.write`): the
    /// delivery becomes pending and due now, whatever its status, and its retry schedule
    /// starts over (its attempt count keeps counting). A disabled webhook (it answered 410
    /// Gone) is refused with 409 `conflict`: nothing would be sent to it.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> ServiceResult<DeliveryView> {
        let permission = Permission::WebhookWrite;
        self.require(caller, permission, resource(id)).await?;
        let mut tx = self.begin().await?;
        let webhook = tx
            .get_webhook(id)
            .await?
            .ok_or(ServiceError::NotFound("webhook"))?;
        if webhook.disabled {
            return Err(ServiceError::Conflict(
                "the webhook is disabled (its endpoint answered 410 Gone), so nothing would be \
                 sent; create a new webhook for the endpoint to resume deliveries"
                    .into(),
            ));
        }
        let d = tx
            .redeliver(id, delivery, clock::now())
            .await?
            .ok_or(ServiceError::NotFound("delivery"))?;
        let event = Self::webhook_event(caller, actions::WEBHOOK_REDELIVERED, id, permission)
            .details(json!({"delivery_id": d.id, "message_id": d.message_id}));
        self.commit_with(tx, &[event]).await?;
        Ok(d.into())
    }
}
