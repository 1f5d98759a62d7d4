//! Countersign's HTTP API: the only crate that serves HTTP, and the one that holds the
//! scheduler's webhook client. (The CLI and the audit crate's `HttpSink` are HTTP clients,
//! on reqwest; neither depends on this crate.)
//!
//! - [`app`] — [`router`] builds the whole API; [`serve`] runs it on an injected listener
//!   until an injected shutdown future resolves.
//! - [`gate`] — the route registry: every route is declared with its [`gate::Gate`]
//!   (a permission, or public for the three ops endpoints), and the gate authenticates the
//!   caller and checks the permission before the handler runs; refusals are audited.
//! - [`deny_flood`] — per-client-address flood control of anonymous refusals (summary
//!   audit events, 429 past a rate).
//! - [`error`] — [`ApiError`], the one `IntoResponse` for every failure: the contract's JSON
//!   error body with the request id. Internal errors are logged once and answered opaquely.
//! - [`extract`] — JSON body, query and path extractors whose rejections are contract errors.
//! - [`request_id`] — `X-Request-Id` echoing or minting, available to every response.
//! - [`telemetry`] — the Prometheus exporter and `countersign_http_requests_total`.
//! - [`openapi`] — the OpenAPI 3.1 document (`/api/v1/openapi.json`) and Swagger UI (`/docs`),
//!   ungated.
//! - [`ops`] — `/healthz`, `/readyz`, `/metrics`, also served by the scheduler.
//! - [`routes`] — one module per resource.
//! - [`console`] — the browser console under `/ui/` (session-authenticated pages beside the API).
//! - [`webhook_client`] — the reqwest transport the scheduler delivers webhooks through.
//!
//! # Error policy
//!
//! Handlers return `Result<_, ApiError>`. `ApiError` wraps the service's `ServiceError` (whose
//! variants are the contract's codes) plus the few errors only HTTP has (unknown route, wrong
//! method, body too large, timeout). Its `IntoResponse` is the single place that picks a
//! status and writes `{"error": {"code", "message", "request_id"}}`.

pub mod app;
pub mod console;
pub mod deny_flood;
pub mod error;
pub mod extract;
pub mod gate;
pub mod openapi;
pub mod ops;
pub mod request_id;
pub mod routes;
pub mod telemetry;
pub mod webhook_client;

mod state;

pub use app::{router, serve, serve_ops, HttpConfig};
pub use error::ApiError;
pub use state::AppState;
pub use webhook_client::webhook_transport;
