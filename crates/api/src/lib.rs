//! Countersign API v1 wire types: the JSON bodies the server answers and accepts, shared by
//! the http crate (which serves them), the service (which builds the views), the CLI (which
//! reads them) and the audit crate's `HttpSink` (which reads the ingest answer).
//!
//! The JSON shape is the contract (`docs/api-v1.md`); these types only name it. Nothing here
//! knows HTTP, a store or a runtime.
//!
//! Map:
//! - [`list`] — the list envelope [`ListPage`] (`{data, next_cursor}`).
//! - [`error`] — the error body [`ErrorBody`] (`{error: {code, message, request_id}}`).
//! - [`views`] — what reads answer: approvals, eligibility, jobs, principals, keys, whoami.
//! - [`requests`] — the bodies of `POST`/`PUT` requests.
//! - [`webhooks`] — webhook bodies and views, and the answers that show a secret once.
//! - [`log`] — the transparency log's JSON proofs.
//! - `schema` (feature `openapi`, off by default) — OpenAPI schemas of validated request
//!   values; every body derives `ToSchema` under the same feature.

pub mod error;
pub mod list;
pub mod log;
pub mod requests;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod views;
pub mod webhooks;

pub use error::{ErrorBody, ErrorDetail};
pub use list::ListPage;
pub use log::{ConsistencyProof, EventProof};
pub use views::{
    ApprovalView, CallerEligibility, Candidate, Eligibility, IngestOutcome, JobRequested,
    KeyCreated, KeyView, PrincipalView, RuleEligibility, WhoAmI, WhoAmIPrincipal,
};

/// The domain types the bodies are made of (ids, names, states), for clients.
pub use webhooks::{
    CreateWebhookBody, DeliveryView, WebhookTestQueued, WebhookView, WebhookWithSecret,
};

pub use countersign_domain as domain;
