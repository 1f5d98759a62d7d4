//! `/api/v1/webhooks`: webhooks, their secrets (shown on create and rotate only), test sends,
//! deliveries and redelivery.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use countersign_api::{
    CreateWebhookBody, DeliveryView, ListPage as Listing, WebhookTestQueued, WebhookView,
    WebhookWithSecret,
};
use countersign_domain::{DeliveryId, Permission, WebhookId};
use countersign_service::paging::ListParams;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    let read = Gate::Permission(Permission::WebhookRead);
    let write = Gate::Permission(Permission::WebhookWrite);
    Routes::new(state.clone())
        .add(Method::POST, "/api/v1/webhooks", write, create)
        .add(Method::GET, "/api/v1/webhooks", read, list)
        .add(Method::GET, "/api/v1/webhooks/{id}", read, get)
        .add(Method::DELETE, "/api/v1/webhooks/{id}", write, delete)
        .add(
            Method::POST,
            "/api/v1/webhooks/{id}/rotate-secret",
            write,
            rotate_secret,
        )
        .add(Method::POST, "/api/v1/webhooks/{id}/test", write, test)
        .add(
            Method::GET,
            "/api/v1/webhooks/{id}/deliveries",
            read,
            deliveries,
        )
        .add(
            Method::POST,
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            write,
            redeliver,
        )
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

impl PageQuery {
    fn params(self) -> ListParams {
        ListParams {
            limit: self.limit,
            cursor: self.cursor,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhookBody, responses((status = 201, body = WebhookWithSecret, description = "The webhook and its secret, shown only here and on rotation.")))]
async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<CreateWebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecret>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.service.create_webhook(&caller, b).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(PageQuery), responses((status = 200, body = Listing<WebhookView>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<WebhookView>>> {
    Ok(Json(s.service.list_webhooks(&caller, &q.params()).await?))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook.")), responses((status = 200, body = WebhookView)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<WebhookId>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(s.service.get_webhook(&caller, id).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook.")), responses((status = 204, description = "Deleted, with its deliveries.")))]
async fn delete(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<WebhookId>,
) -> ApiResult<StatusCode> {
    s.service.delete_webhook(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook.")), responses((status = 200, body = WebhookWithSecret, description = "The new secret, shown only here.")))]
async fn rotate_secret(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<WebhookId>,
) -> ApiResult<Json<WebhookWithSecret>> {
    Ok(Json(s.service.rotate_webhook_secret(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook.")), responses((status = 202, body = WebhookTestQueued, description = "A `webhook.test` message is queued for this webhook.")))]
async fn test(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<WebhookId>,
) -> ApiResult<(StatusCode, Json<WebhookTestQueued>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(s.service.test_webhook(&caller, id).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook."), PageQuery), responses((status = 200, body = Listing<DeliveryView>)))]
async fn deliveries(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<WebhookId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<DeliveryView>>> {
    Ok(Json(
        s.service
            .list_webhook_deliveries(&caller, id, &q.params())
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks", params(("id" = WebhookId, Path, description = "The webhook."), ("delivery_id" = DeliveryId, Path, description = "The delivery.")), responses((status = 200, body = DeliveryView, description = "The delivery, pending and due now.")))]
async fn redeliver(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<DeliveryView>> {
    // A malformed id names nothing: 404, like every other path id.
    let Ok(Path((id, delivery))) = path else {
        return Err(ApiError::not_found("resource"));
    };
    let id: WebhookId = id.parse().map_err(|_| ApiError::not_found("webhook"))?;
    let delivery: DeliveryId = delivery
        .parse()
        .map_err(|_| ApiError::not_found("delivery"))?;
    Ok(Json(s.service.redeliver(&caller, id, delivery).await?))
}
