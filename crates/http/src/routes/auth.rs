//! `/api/v1/auth`: whoami, principals, their keys and role assignments.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use countersign_domain::{KeyId, Permission, PrincipalId, PrincipalKind, RoleId};
use countersign_service::auth::WhoAmI;
use countersign_service::paging::Listing;
use countersign_service::principals::PrincipalView;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth, OptionalJson, PathId};
use crate::gate::{Gate, Routes};
use crate::routes::policies::PageQuery;
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    use Permission::*;
    Routes::new(state.clone())
        .add(Method::GET, "/api/v1/auth/whoami", Gate::Authenticated, whoami)
        .add(Method::POST, "/api/v1/auth/principals", Gate::Permission(AuthPrincipalWrite), create_principal)
        .add(Method::GET, "/api/v1/auth/principals", Gate::Permission(AuthPrincipalRead), list_principals)
        .add(Method::GET, "/api/v1/auth/principals/{id}", Gate::Permission(AuthPrincipalRead), get_principal)
        .add(Method::POST, "/api/v1/auth/principals/{id}/keys", Gate::Permission(AuthKeyCreate), create_key)
        .add(Method::POST, "/api/v1/auth/principals/{id}/roles", Gate::Permission(AuthRoleAssign), assign_role)
}

async fn whoami(State(s): State<AppState>, Auth(caller): Auth) -> Json<WhoAmI> {
    Json(s.service.whoami(&caller))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalBody {
    name: String,
    #[serde(default = "default_kind")]
    kind: PrincipalKind,
}

fn default_kind() -> PrincipalKind {
    PrincipalKind::User
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// `{key_id, key, expires_at}`: the only time a key is shown.
#[derive(Debug, Serialize)]
struct CreatedKey {
    key_id: KeyId,
    key: String,
    principal_id: PrincipalId,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: RoleId,
}

async fn create_principal(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<PrincipalBody>,
) -> ApiResult<(StatusCode, Json<PrincipalView>)> {
    Ok((StatusCode::CREATED, Json(s.service.create_principal(&caller, &b.name, b.kind).await?)))
}

async fn list_principals(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Listing<PrincipalView>>> {
    Ok(Json(s.service.list_principals(&caller, &q.params()).await?))
}

async fn get_principal(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
) -> ApiResult<Json<PrincipalView>> {
    Ok(Json(s.service.get_principal(&caller, id).await?))
}

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

async fn assign_role(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<PrincipalId>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<PrincipalView>> {
    Ok(Json(s.service.assign_role(&caller, id, &b.role).await?))
}
