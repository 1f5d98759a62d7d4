//! Building the router and running it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use countersign_service::Service;
use tower_http::trace::TraceLayer;

use crate::deny_flood;
use crate::error::ApiError;
use crate::gate::{Gate, RouteEntry, Routes};
use crate::state::AppState;
use crate::{request_id, routes, telemetry};

/// HTTP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `COUNTERSIGN_MAX_BODY`: the largest request body (the ingest endpoint allows ten times).
    pub max_body: usize,
    /// How long a handler may take to start answering.
    pub request_timeout: Duration,
    /// `COUNTERSIGN_ANON_DENY_AUDIT_PER_MIN`: anonymous refusals per client address and window
    /// audited one by one; the rest are counted into one summary event (see [`crate::deny_flood`]).
    pub anon_deny_audit_per_min: u32,
    /// `COUNTERSIGN_ANON_RATE_LIMIT_PER_MIN`: past this many anonymous refusals per client
    /// address and window the answer is 429 `rate_limited` with `Retry-After`.
    pub anon_rate_limit_per_min: u32,
    /// The flood-control window (a minute; shorter only in tests).
    pub anon_deny_window: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            anon_deny_audit_per_min: 100,
            anon_rate_limit_per_min: 1000,
            anon_deny_window: Duration::from_secs(60),
        }
    }
}

/// The whole API as a router, and its route table.
pub fn router_with_table(service: Service, config: HttpConfig) -> (Router, Vec<RouteEntry>) {
    let state = AppState::new(service, config);
    let (router, table) = routes::api(&state).into_parts();
    (finish(router, state), table)
}

/// The whole API.
pub fn router(service: Service, config: HttpConfig) -> Router {
    router_with_table(service, config).0
}

/// Fallbacks and the layers every route shares, outermost last.
fn finish(router: Router<AppState>, state: AppState) -> Router {
    let max_body = state.config.max_body;
    let timeout = state.config.request_timeout;
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(timeout, timeout_middleware))
        .layer(middleware::from_fn(telemetry::middleware))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let request_id = req
                .headers()
                .get(&request_id::X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            tracing::info_span!(
                "http.request",
                http.method = %req.method(),
                http.route = %route,
                request.id = %request_id,
                principal.id = tracing::field::Empty,
            )
        }))
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::RouteNotFound(req.uri().path().to_owned())
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

async fn timeout_middleware(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Serve the API on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Service,
    config: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if service.config().approval_bypass {
        tracing::warn!(
            "COUNTERSIGN_APPROVAL_BYPASS is ON: every approval is decided at once by system:bypass; \
             two-person integrity is NOT enforced"
        );
    }
    telemetry::prometheus();
    tracing::info!(listen = %listener.local_addr()?, "countersign server listening");
    // Open event streams never end by themselves: end them when the shutdown begins, so the
    // graceful shutdown (which waits for every response to finish) can complete.
    let shutdown = {
        let streams = service.clone();
        async move {
            shutdown.await;
            streams.close_event_streams();
        }
    };
    let state = AppState::new(service, config);
    let (router, _) = routes::api(&state).into_parts();
    // Write the summaries of rolled flood-control windows even when no new refusal comes.
    let flusher = {
        let (service, flood) = (state.service.clone(), state.deny_flood.clone());
        let every = state.config.anon_deny_window;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                deny_flood::write(&service, flood.flush_due()).await;
            }
        })
    };
    let app = finish(router, state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    flusher.abort();
    served
}

/// Serve only the ops endpoints (`/healthz`, `/readyz`, `/metrics`), for the scheduler.
pub async fn serve_ops(
    listener: tokio::net::TcpListener,
    service: Service,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    telemetry::prometheus();
    let state = AppState::new(service, HttpConfig::default());
    let (router, _) = Routes::new(state.clone())
        .add(Method::GET, "/healthz", Gate::Public, crate::ops::healthz)
        .add(Method::GET, "/readyz", Gate::Public, crate::ops::readyz)
        .add(Method::GET, "/metrics", Gate::Public, crate::ops::metrics)
        .into_parts();
    let app = finish(router, state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
