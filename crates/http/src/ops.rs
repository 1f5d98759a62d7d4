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
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and its schema is current; else 503 `unavailable`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.service.readiness().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => ApiError::Service(e).into_response(),
    }
}

/// Prometheus text.
pub async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        telemetry::prometheus().render(),
    )
        .into_response()
}
