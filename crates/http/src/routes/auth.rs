//! `/api/v1/auth`: whoami, principals (create, list, get, disable), their keys (mint, list,
//! revoke) and role assignments (assign, unassign); and "who can approve this?"
//! (`GET /api/v1/approvals/{id}/eligible`), which reads roles. Roles themselves are in
//! [`super::roles`].

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use countersign_api::{Eligibility, KeyView, ListPage as Listing, PrincipalView, WhoAmI};
use countersign_domain::{ApprovalId, KeyId, Permission, PrincipalId, RoleId};
use countersign_service::paging::ListParams;
use serde::Deserialize;

use countersign_api::requests::{
    AssignRoleBody as RoleBody, CreateKeyBody as KeyBody, CreatePrincipalBody as PrincipalBody,
};
use countersign_api::KeyCreated as CreatedKey;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, OptionalJson, PathId};
use crate::gate::{Gate, Routes};
use crate::routes::policies::PageQuery;
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    use Permission::*;
    Routes::new(state.clone())
        .add(
            Method::GET,
            "/api/v1/auth/whoami",
            Gate::Authenticated,
            whoami,
        )
        .add(
            Method::POST,
            "/api/v1/auth/principals",
            Gate::Permission(AuthPrincipalWrite),
            create_principal,
        )
        .add(
            Method::GET,
            "/api/v1/auth/principals",
            Gate::Permission(AuthPrincipalRead),
            list_principals,
        )
        .add(
            Method::GET,
            "/api/v1/auth/principals/{id}",
            Gate::Permission(AuthPrincipalRead),
            get_principal,
        )
        .add(
            Method::POST,
            "/api/v1/auth/principals/{id}/disable",
            Gate::Permission(AuthPrincipalWrite),
            disable_principal,
        )
        .add(
            Method::POST,
            "/api/v1/auth/principals/{id}/keys",
            Gate::Permission(AuthKeyCreate),
            create_key,
        )
        .add(
            Method::GET,
            "/api/v1/auth/keys",
            Gate::Permission(AuthKeyRead),
            list_keys,
        )
        .add(
            Method::DELETE,
            "/api/v1/auth/keys/{id}",
            Gate::Permission(AuthKeyRevoke),
            revoke_key,
        )
        .add(
            Method::POST,
            "/api/v1/auth/principals/{id}/roles",
            Gate::Permission(AuthRoleAssign),
            assign_role,
        )
        .add(
            Method::DELETE,
            "/api/v1/auth/principals/{id}/roles/{role}",
            Gate::Permission(AuthRoleRevoke),
            unassign_role,
        )
        .add(
            Method::GET,
            "/api/v1/approvals/{id}/eligible",
            Gate::Permission(ApprovalRead),
            eligible,
        )
}

#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", responses((status = 200, body = WhoAmI)))]
async fn whoami(State(s): State<AppState>, Auth(caller): Auth) -> Json<WhoAmI> {
    Json(s.service.whoami(&caller))
}

/// `GET /api/v1/auth/keys[?principal_id=&limit=&cursor=]`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct KeyQuery {
    principal_id: Option<PrincipalId>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/principals", tag = "auth", request_body = PrincipalBody, responses((status = 201, body = PrincipalView)))]
async fn create_principal(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<PrincipalBody>,
) -> ApiResult<(StatusCode, Json<PrincipalView>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.service.create_principal(&caller, &b.name, b.kind).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/auth/principals", tag = "auth", params(PageQuery), responses((status = 200, body = Listing<PrincipalView>)))]
async fn list_principals(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<PrincipalView>>> {
    Ok(Json(s.service.list_principals(&caller, &q.params()).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/principals/{id}", tag = "auth", params(("id" = PrincipalId, Path, description = "The principal.")), responses((status = 200, body = PrincipalView)))]
async fn get_principal(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
) -> ApiResult<Json<PrincipalView>> {
    Ok(Json(s.service.get_principal(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/principals/{id}/disable", tag = "auth", params(("id" = PrincipalId, Path, description = "The principal.")), responses((status = 200, body = PrincipalView)))]
async fn disable_principal(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
) -> ApiResult<Json<PrincipalView>> {
    Ok(Json(s.service.disable_principal(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/principals/{id}/keys", tag = "auth", params(("id" = PrincipalId, Path, description = "The principal.")), request_body(content = Option<KeyBody>, description = "Optional."), responses((status = 201, body = CreatedKey)))]
async fn create_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
    OptionalJson(b): OptionalJson<KeyBody>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let minted = s.service.create_key(&caller, id, b.expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key_id: minted.key.id,
            key: minted.token.expose(),
            principal_id: minted.key.principal_id,
            expires_at: minted.key.expires_at,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/auth/keys", tag = "auth", params(KeyQuery), responses((status = 200, body = Listing<KeyView>)))]
async fn list_keys(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<KeyQuery>,
) -> ApiResult<Json<Listing<KeyView>>> {
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(
        s.service
            .list_keys(&caller, q.principal_id, &params)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/auth/keys/{id}", tag = "auth", params(("id" = KeyId, Path, description = "The key.")), responses((status = 204, description = "Revoked.")))]
async fn revoke_key(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<KeyId>,
) -> ApiResult<StatusCode> {
    s.service.revoke_key(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/principals/{id}/roles", tag = "auth", params(("id" = PrincipalId, Path, description = "The principal.")), request_body = RoleBody, responses((status = 200, body = PrincipalView)))]
async fn assign_role(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<PrincipalView>> {
    Ok(Json(s.service.assign_role(&caller, id, &b.role).await?))
}

#[utoipa::path(delete, path = "/api/v1/auth/principals/{id}/roles/{role}", tag = "auth", params(("id" = PrincipalId, Path, description = "The principal."), ("role" = RoleId, Path, description = "The role.")), responses((status = 200, body = PrincipalView)))]
async fn unassign_role(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<PrincipalView>> {
    // A malformed id or role names nothing: 404, like every other path id.
    let Ok(Path((id, role))) = path else {
        return Err(ApiError::not_found("resource"));
    };
    let id: PrincipalId = id.parse().map_err(|_| ApiError::not_found("principal"))?;
    let role = RoleId::parse(&role).map_err(|_| ApiError::not_found("role"))?;
    Ok(Json(s.service.unassign_role(&caller, id, &role).await?))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}/eligible", tag = "approvals", params(("id" = ApprovalId, Path, description = "The approval.")), responses((status = 200, body = Eligibility)))]
async fn eligible(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<ApprovalId>,
) -> ApiResult<Json<Eligibility>> {
    Ok(Json(s.service.approval_eligibility(&caller, id).await?))
}
