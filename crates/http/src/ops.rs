//! `/healthz`, `/readyz` and `/metrics`: public, for orchestrators and scrapers.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and its schema is current; else 503 `unavailable`. Where the backend
/// has roles, the body says whether the connecting role is unsafe (a superuser or the owner
/// of the audit table, able to switch off its append-only protection):
/// `{"status": "ready", "database": {"role": "…", "role_unsafe": true, …}}`.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ready\", \"database\"?: {…}}`", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.service.readiness().await {
        return ApiError::Service(e).into_response();
    }
    let mut body = json!({"status": "ready"});
    match state.service.store().role_posture().await {
        Ok(Some(p)) => {
            countersign_service::metrics::database_role_unsafe(p.is_unsafe());
            body["database"] = json!({
                "role": p.role,
                "role_unsafe": p.is_unsafe(),
                "superuser": p.superuser,
                "owns_audit_table": p.owns_audit_table,
            });
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the database role's posture"),
    }
    Json(body).into_response()
}

/// How long a scrape waits for the gauges' queries before serving the last values.
const GAUGE_REFRESH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Prometheus text, with the current-state gauges refreshed first (a database that does not
/// answer within [`GAUGE_REFRESH_TIMEOUT`] leaves them at their last value; the page is
/// served regardless).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition.", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let handle = telemetry::prometheus();
    match tokio::time::timeout(GAUGE_REFRESH_TIMEOUT, state.service.refresh_gauges()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "gauges not refreshed"),
        Err(_) => tracing::debug!("gauges not refreshed: the database did not answer in time"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
