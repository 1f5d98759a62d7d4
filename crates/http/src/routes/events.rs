//! `GET /api/v1/events/stream` (`approval.read`): the events webhooks receive, live, as
//! Server-Sent Events.
//!
//! Each event is `id:` the outbox message id (the `webhook-id` webhooks receive), `event:` the
//! type and `data:` the standard body `{"type", "timestamp", "data"}` on one line. A client
//! that reconnects with `Last-Event-ID` resumes just after that event, with nothing lost and
//! nothing twice; a malformed or unknown id is refused 400. A comment line goes out every
//! [`KEEP_ALIVE`] so proxies and clients see the connection alive. The stream ends when the
//! server shuts down (see `countersign_service::event_stream` for everything else it does).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use countersign_domain::Permission;
use countersign_service::event_stream::StreamEvent;
use futures::TryStreamExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::Auth;
use crate::gate::{Gate, Routes};
use crate::state::AppState;

/// How often a keep-alive comment is sent on an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone()).add(
        Method::GET,
        "/api/v1/events/stream",
        Gate::Permission(Permission::ApprovalRead),
        stream,
    )
}

fn sse_event(e: StreamEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.event)
        .data(e.data)
}

#[utoipa::path(
    get,
    path = "/api/v1/events/stream",
    tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume just after this event (an `id:` the stream sent, `msg_…`).", pattern = "^msg_[0-9a-z]{26}$")),
    responses((
        status = 200,
        description = "Server-Sent Events, until the connection or the server ends: per event `id:` (the outbox message id, `msg_…`), `event:` (`approval.requested`, …) and `data:` (the webhook body `{\"type\", \"timestamp\", \"data\"}` as JSON on one line); a comment line every 15 s while idle. Only `approval.*` and `job.*` events.",
        content_type = "text/event-stream",
        body = String
    ))
)]
async fn stream(
    State(s): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID: must be an event id (msg_…)"))?,
        ),
    };
    let events = s.service.event_stream(&caller, last_event_id).await?;
    let events = events
        .inspect_err(|e| tracing::warn!(error = %e, "event stream failed; the client may resume"))
        .map_ok(sse_event);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies (nginx) must pass each event on at once rather than buffer the body.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
