//! `/api/v1/audit`: list with filters, get by event id.

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use countersign_domain::{AuditEvent, Category, EventId, Permission};
use countersign_service::paging::{ListParams, Listing};
use countersign_service::store::AuditFilter;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::ApiResult;
use crate::extract::{ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(Method::GET, "/api/v1/audit", Gate::Permission(Permission::AuditRead), list)
        .add(Method::GET, "/api/v1/audit/{id}", Gate::Permission(Permission::AuditRead), get)
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    category: Option<Category>,
    action: Option<String>,
    actor: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Listing<AuditEvent>>> {
    let filter = AuditFilter {
        category: q.category,
        action: q.action,
        actor: q.actor,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        from: q.from,
        to: q.to,
    };
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(s.service.list_audit(&caller, &filter, &params).await?))
}

async fn get(State(s): State<AppState>, Auth(caller): Auth, PathId(id): PathId<EventId>) -> ApiResult<Json<AuditEvent>> {
    Ok(Json(s.service.get_audit_event(&caller, id).await?))
}
