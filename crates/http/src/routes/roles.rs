//! `/api/v1/auth/roles`: create, list, get, edit (`PUT` with `generation`), delete, and adding
//! or removing one permission. Built-in roles are read-only (409); see the service's
//! `roles` module for the escalation guard.
//!
//! A malformed role id in the path names nothing (404); an unknown permission in the path is
//! an unknown enum value (400).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use countersign_api::ListPage as Listing;
use countersign_domain::{Permission, Role, RoleId};
use countersign_service::roles::{NewRole, RoleEdit};

use countersign_api::requests::{
    CreateRoleBody as CreateBody, GrantPermissionBody as PermissionBody,
    UpdateRoleBody as UpdateBody,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::gate::{Gate, Routes};
use crate::routes::policies::PageQuery;
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    use Permission::*;
    Routes::new(state.clone())
        .add(
            Method::POST,
            "/api/v1/auth/roles",
            Gate::Permission(AuthRoleCreate),
            create,
        )
        .add(
            Method::GET,
            "/api/v1/auth/roles",
            Gate::Permission(AuthRoleRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/auth/roles/{id}",
            Gate::Permission(AuthRoleRead),
            get,
        )
        .add(
            Method::PUT,
            "/api/v1/auth/roles/{id}",
            Gate::Permission(AuthRoleEdit),
            update,
        )
        .add(
            Method::DELETE,
            "/api/v1/auth/roles/{id}",
            Gate::Permission(AuthRoleDelete),
            delete,
        )
        .add(
            Method::POST,
            "/api/v1/auth/roles/{id}/permissions",
            Gate::Permission(AuthRoleEdit),
            add_permission,
        )
        .add(
            Method::DELETE,
            "/api/v1/auth/roles/{id}/permissions/{perm}",
            Gate::Permission(AuthRoleEdit),
            remove_permission,
        )
}

fn role_id(raw: &str) -> ApiResult<RoleId> {
    RoleId::parse(raw).map_err(|_| ApiError::not_found("role"))
}

fn path_role(path: Result<Path<String>, PathRejection>) -> ApiResult<RoleId> {
    let Ok(Path(raw)) = path else {
        return Err(ApiError::not_found("role"));
    };
    role_id(&raw)
}

#[utoipa::path(post, path = "/api/v1/auth/roles", tag = "roles", request_body = CreateBody, responses((status = 201, body = Role)))]
async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Role>)> {
    let input = NewRole {
        id: b.id,
        description: b.description,
        permissions: b.permissions,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.service.create_role(&caller, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/auth/roles", tag = "roles", params(PageQuery), responses((status = 200, body = Listing<Role>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<Role>>> {
    Ok(Json(s.service.list_roles(&caller, &q.params()).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/roles/{id}", tag = "roles", params(("id" = RoleId, Path, description = "The role.")), responses((status = 200, body = Role)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Role>> {
    let id = path_role(path)?;
    Ok(Json(s.service.get_role(&caller, &id).await?))
}

#[utoipa::path(put, path = "/api/v1/auth/roles/{id}", tag = "roles", params(("id" = RoleId, Path, description = "The role.")), request_body = UpdateBody, responses((status = 200, body = Role)))]
async fn update(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<String>, PathRejection>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> ApiResult<Json<Role>> {
    let id = path_role(path)?;
    let edit = RoleEdit {
        description: b.description,
        permissions: b.permissions,
        generation: b.generation,
    };
    Ok(Json(s.service.update_role(&caller, &id, edit).await?))
}

#[utoipa::path(delete, path = "/api/v1/auth/roles/{id}", tag = "roles", params(("id" = RoleId, Path, description = "The role.")), responses((status = 204, description = "Deleted.")))]
async fn delete(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let id = path_role(path)?;
    s.service.delete_role(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/roles/{id}/permissions", tag = "roles", params(("id" = RoleId, Path, description = "The role.")), request_body = PermissionBody, responses((status = 200, body = Role)))]
async fn add_permission(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<String>, PathRejection>,
    ApiJson(b): ApiJson<PermissionBody>,
) -> ApiResult<Json<Role>> {
    let id = path_role(path)?;
    Ok(Json(
        s.service
            .add_role_permission(&caller, &id, b.permission)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/auth/roles/{id}/permissions/{perm}", tag = "roles", params(("id" = RoleId, Path, description = "The role."), ("perm" = Permission, Path, description = "The permission.")), responses((status = 200, body = Role)))]
async fn remove_permission(
    State(s): State<AppState>,
    Auth(caller): Auth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<Role>> {
    let Ok(Path((id, perm))) = path else {
        return Err(ApiError::not_found("role"));
    };
    let id = role_id(&id)?;
    let perm: Permission = perm
        .parse()
        .map_err(|e: countersign_domain::ValidationError| ApiError::invalid(e.to_string()))?;
    Ok(Json(
        s.service.remove_role_permission(&caller, &id, perm).await?,
    ))
}
