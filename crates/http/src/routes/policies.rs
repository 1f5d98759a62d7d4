//! `/api/v1/policies`.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use countersign_api::ListPage as Listing;
use countersign_domain::{NoticeSettings, Permission, Policy, PolicyId};
use countersign_service::paging::ListParams;
use countersign_service::policies::PolicyInput;
use serde::Deserialize;

use countersign_api::requests::{
    CreatePolicyBody as PolicyBody, UpdatePolicyBody as PolicyUpdateBody,
};

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(
            Method::POST,
            "/api/v1/policies",
            Gate::Permission(Permission::PolicyWrite),
            create,
        )
        .add(
            Method::GET,
            "/api/v1/policies",
            Gate::Permission(Permission::PolicyRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/policies/{id}",
            Gate::Permission(Permission::PolicyRead),
            get,
        )
        .add(
            Method::PUT,
            "/api/v1/policies/{id}",
            Gate::Permission(Permission::PolicyWrite),
            update,
        )
}

/// The service's input for a policy body.
fn policy_input(b: PolicyBody) -> PolicyInput {
    PolicyInput {
        name: b.name,
        requires_approval: b.requires_approval,
        rules: b.rules,
        approval_timeout_secs: b.approval_timeout_secs,
        notices: NoticeSettings {
            remind_after_secs: b.remind_after_secs,
            escalate_after_secs: b.escalate_after_secs,
            escalate_to_role: b.escalate_to_role,
        },
    }
}

/// The list query: paging only.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn params(&self) -> ListParams {
        ListParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", request_body = PolicyBody, responses((status = 201, body = Policy)))]
async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<PolicyBody>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    let policy = s.service.create_policy(&caller, policy_input(body)).await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", params(PageQuery), responses((status = 200, body = Listing<Policy>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<Policy>>> {
    Ok(Json(s.service.list_policies(&caller, &q.params()).await?))
}

#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "policies", params(("id" = PolicyId, Path, description = "The policy.")), responses((status = 200, body = Policy)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PolicyId>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(s.service.get_policy(&caller, id).await?))
}

#[utoipa::path(put, path = "/api/v1/policies/{id}", tag = "policies", params(("id" = PolicyId, Path, description = "The policy.")), request_body = PolicyUpdateBody, responses((status = 200, body = Policy)))]
async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PolicyId>,
    ApiJson(body): ApiJson<PolicyUpdateBody>,
) -> ApiResult<Json<Policy>> {
    let input = PolicyInput {
        name: body.name,
        requires_approval: body.requires_approval,
        rules: body.rules,
        approval_timeout_secs: body.approval_timeout_secs,
        notices: NoticeSettings {
            remind_after_secs: body.remind_after_secs,
            escalate_after_secs: body.escalate_after_secs,
            escalate_to_role: body.escalate_to_role,
        },
    };
    Ok(Json(
        s.service
            .update_policy(&caller, id, input, body.generation)
            .await?,
    ))
}
