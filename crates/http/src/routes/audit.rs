//! `/api/v1/audit`: list with filters, get by event id, the streaming NDJSON export, and batch
//! ingestion.
//!
//! - `GET /api/v1/audit` (`audit.read`): newest first, keyset pages; unknown query
//!   parameters are refused (a mistyped filter must not silently widen the answer).
//! - `GET /api/v1/audit/{event_id}` (`audit.read`).
//! - `GET /api/v1/audit/export` (`audit.export`; a leaf range, `first_leaf`/`last_leaf`,
//!   also `log.read`): `application/x-ndjson` streamed chunk by chunk from the store's cursor
//!   through `Body::from_stream`, with a `Content-Disposition` attachment name; the service writes the `audit.exported` event when the body ends or is
//!   dropped (see `countersign_service::audit_export`).
//! - `POST /api/v1/audit/events` (`audit.write`): an NDJSON (`application/x-ndjson`) or JSON
//!   array (`application/json`) batch of at most 1,000 events. This route alone takes bodies
//!   up to ten times `COUNTERSIGN_MAX_BODY`: its `DefaultBodyLimit` is a route layer, inside
//!   the router-wide one, and the innermost limit is the one the body extractor applies.
//!   Over the byte limit → 413 `payload_too_large`; over the count → 400 `invalid_request`.

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use countersign_api::{IngestOutcome, ListPage as Listing};
use countersign_domain::{AuditEvent, Category, EventId, Permission};
use countersign_service::audit_export::ExportParams;
use countersign_service::audit_ingest::IngestFormat;
use countersign_service::paging::ListParams;
use countersign_service::store::AuditFilter;
use futures::TryStreamExt;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

/// The NDJSON media type.
pub const NDJSON: &str = "application/x-ndjson";
/// How many times `max_body` the ingest route accepts.
pub const INGEST_BODY_FACTOR: usize = 10;

pub fn routes(state: &AppState) -> Routes {
    let ingest_limit = ingest_body_limit(state);
    let ingest = Routes::new(state.clone())
        .add(
            Method::POST,
            "/api/v1/audit/events",
            Gate::Permission(Permission::AuditWrite),
            ingest,
        )
        .map_router(|r| r.route_layer(DefaultBodyLimit::max(ingest_limit)));
    Routes::new(state.clone())
        .add(
            Method::GET,
            "/api/v1/audit",
            Gate::Permission(Permission::AuditRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/audit/export",
            Gate::Permission(Permission::AuditExport),
            export,
        )
        .add(
            Method::GET,
            "/api/v1/audit/{id}",
            Gate::Permission(Permission::AuditRead),
            get,
        )
        .merge(ingest)
}

fn ingest_body_limit(state: &AppState) -> usize {
    state.config.max_body.saturating_mul(INGEST_BODY_FACTOR)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    category: Option<Category>,
    #[param(pattern = "^[a-z0-9._-]{1,128}$")]
    action: Option<String>,
    /// An actor id or name.
    #[param(min_length = 1, max_length = 512)]
    actor: Option<String>,
    #[param(min_length = 1, max_length = 512)]
    resource_type: Option<String>,
    #[param(min_length = 1, max_length = 512)]
    resource_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<OffsetDateTime>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = Listing<AuditEvent>)))]
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

#[utoipa::path(get, path = "/api/v1/audit/{id}", tag = "audit", params(("id" = EventId, Path, description = "The event.")), responses((status = 200, body = AuditEvent)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<EventId>,
) -> ApiResult<Json<AuditEvent>> {
    Ok(Json(s.service.get_audit_event(&caller, id).await?))
}

/// The export's query, as text: the service validates each value and names it when refusing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// The window's start (RFC 3339); required unless `first_leaf` and `last_leaf` are given.
    #[param(format = DateTime)]
    from: Option<String>,
    /// The window's end (RFC 3339), after `from`; required unless `first_leaf` and
    /// `last_leaf` are given.
    #[param(format = DateTime)]
    to: Option<String>,
    #[param(value_type = Option<Category>)]
    category: Option<String>,
    /// The most lines to send.
    #[param(value_type = Option<u64>, minimum = 1)]
    limit: Option<String>,
    /// Resume after this event id.
    #[param(value_type = Option<EventId>)]
    after: Option<String>,
    /// Instead of a time window: the first leaf index of a range of the transparency log
    /// (needs `log.read` too); with `last_leaf`, and none of the window's parameters.
    #[param(value_type = Option<u64>, minimum = 0)]
    first_leaf: Option<String>,
    /// The range's last leaf index (included); at most `COUNTERSIGN_EXPORT_MAX_LEAVES` leaves.
    #[param(value_type = Option<u64>, minimum = 0)]
    last_leaf: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery), responses((status = 200, description = "NDJSON: the events of the array, one per line, in `(ts, event_id)` order; with `first_leaf` and `last_leaf`, the log's leaves of that range that exist, in leaf order, each line with its `leaf_index`.", content_type = "application/x-ndjson", body = Vec<AuditEvent>, headers(("Content-Disposition" = String, description = "`attachment; filename=\"countersign-audit-<from>_to_<to>.ndjson\"` (`countersign-audit-leaves-<first>-<last>.ndjson` for a leaf range)")))))]
async fn export(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let params = ExportParams {
        from: q.from,
        to: q.to,
        category: q.category,
        limit: q.limit,
        after: q.after,
        first_leaf: q.first_leaf,
        last_leaf: q.last_leaf,
    };
    let export = s.service.export_audit(&caller, &params).await?;
    export_response(export)
}

/// An opened export as its streamed NDJSON answer (the API's and the console's).
pub(crate) fn export_response(
    export: countersign_service::audit_export::AuditExport,
) -> ApiResult<Response> {
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.filename())).map_err(
            |e| ApiError::Service(countersign_service::ServiceError::Internal(Box::new(e))),
        )?;
    // Each item is one chunk of whole lines; hyper pulls the next only when it has room, so
    // at most a chunk or two is in memory whatever the export's size.
    let body = Body::from_stream(export.into_stream().map_ok(Bytes::from));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(NDJSON)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// The batch encoding named by `Content-Type` (parameters such as `charset` are ignored).
fn ingest_format(headers: &HeaderMap) -> Result<IngestFormat, ApiError> {
    let refuse = || {
        ApiError::invalid(format!(
            "Content-Type must be {NDJSON} (one event per line) or application/json (an array of events)"
        ))
    };
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refuse)?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        NDJSON | "application/ndjson" => Ok(IngestFormat::Ndjson),
        "application/json" => Ok(IngestFormat::JsonArray),
        _ => Err(refuse()),
    }
}

#[utoipa::path(post, path = "/api/v1/audit/events", tag = "audit", request_body(description = "At most 1,000 events: NDJSON (the events of the array, one per line) or a JSON array.", content((Vec<AuditEvent> = "application/x-ndjson"), (Vec<AuditEvent> = "application/json"))), responses((status = 200, body = IngestOutcome)))]
async fn ingest(
    State(s): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<IngestOutcome>> {
    let format = ingest_format(&headers)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(ingest_body_limit(&s))
        } else {
            ApiError::invalid(format!("could not read the request body: {r}"))
        }
    })?;
    Ok(Json(s.service.ingest_audit(&caller, format, &body).await?))
}
