//! `/api/v1/approvals`: list, get, approve, reject.

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use countersign_api::ApprovalView;
use countersign_api::ListPage as Listing;
use countersign_domain::{
    ApprovalId, ApprovalState, Permission, PrincipalId, SubjectId, VoteDecision,
};
use countersign_service::paging::ListParams;
use countersign_service::store::ApprovalFilter;
use serde::Deserialize;

use countersign_api::requests::VoteBody;

use crate::error::ApiResult;
use crate::extract::{ApiQuery, Auth, OptionalJson, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(
            Method::GET,
            "/api/v1/approvals",
            Gate::Permission(Permission::ApprovalRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/approvals/{id}",
            Gate::Permission(Permission::ApprovalRead),
            get,
        )
        .add(
            Method::POST,
            "/api/v1/approvals/{id}/approve",
            Gate::UseCase(Permission::ApprovalApprove),
            approve,
        )
        .add(
            Method::POST,
            "/api/v1/approvals/{id}/reject",
            Gate::UseCase(Permission::ApprovalReject),
            reject,
        )
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApprovalQuery {
    state: Option<ApprovalState>,
    subject_id: Option<SubjectId>,
    requested_by: Option<PrincipalId>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(ApprovalQuery), responses((status = 200, body = Listing<ApprovalView>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ApprovalQuery>,
) -> ApiResult<Json<Listing<ApprovalView>>> {
    let filter = ApprovalFilter {
        state: q.state,
        subject_id: q.subject_id,
        requested_by: q.requested_by,
        ..ApprovalFilter::default()
    };
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(
        s.service.list_approvals(&caller, &filter, &params).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", params(("id" = ApprovalId, Path, description = "The approval.")), responses((status = 200, body = ApprovalView)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<ApprovalId>,
) -> ApiResult<Json<ApprovalView>> {
    Ok(Json(s.service.get_approval(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", params(("id" = ApprovalId, Path, description = "The approval.")), request_body(content = Option<VoteBody>, description = "Optional."), responses((status = 200, body = ApprovalView)))]
async fn approve(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<ApprovalId>,
    OptionalJson(b): OptionalJson<VoteBody>,
) -> ApiResult<Json<ApprovalView>> {
    Ok(Json(
        s.service
            .vote(&caller, id, VoteDecision::Approve, b.note)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", params(("id" = ApprovalId, Path, description = "The approval.")), request_body(content = Option<VoteBody>, description = "Optional."), responses((status = 200, body = ApprovalView)))]
async fn reject(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<ApprovalId>,
    OptionalJson(b): OptionalJson<VoteBody>,
) -> ApiResult<Json<ApprovalView>> {
    Ok(Json(
        s.service
            .vote(&caller, id, VoteDecision::Reject, b.note)
            .await?,
    ))
}
