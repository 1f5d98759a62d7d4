//! The browser console under `/ui/`: server-rendered pages for approvers and auditors.
//!
//! Pages are askama templates (`templates/console/`, checked at compile time) and work without
//! JavaScript; the one stylesheet and the one small script are embedded in the binary
//! ([`assets`]). A person signs in with an API key and gets a server-side session
//! ([`session`]): the cookie holds only a random token, the database only its hash, and every
//! page resolves the session to the same `Caller` the key would be, so the pages reach the
//! same use cases, with the same permission checks, two-person integrity and audit events, as
//! the JSON API. No rule is restated here.
//!
//! Every form carries a CSRF token, checked in constant time before anything else; every answer
//! carries a strict Content-Security-Policy, `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: same-origin`, and pages `Cache-Control: no-store` ([`headers`]).
//!
//! - [`sign_in`] — sign-in with an API key, sign-out.
//! - [`approvals`] — waiting on me, one approval, the vote with its confirmation step, my
//!   requests.
//! - [`jobs`] — the jobs list.
//! - [`audit`] — the audit trail with filters and paging, and its NDJSON export.
//! - [`page`] — the error page and what every page shares; [`view`] — how values are shown (instants, time left, JSON, query strings).
//!
//! The console's routes are not part of the JSON API (nor of its OpenAPI document): they are
//! mounted beside it by [`router`].

use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub mod approvals;
pub mod assets;
pub mod audit;
pub mod headers;
pub mod jobs;
pub mod page;
pub mod session;
pub mod sign_in;
pub mod view;

/// Every console route, under `/ui`, with the console's security headers.
pub fn router<S>(state: &AppState) -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(approvals::waiting))
        .route("/ui/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/requests", get(approvals::my_requests))
        .route("/ui/approvals/{id}", get(approvals::show))
        .route("/ui/approvals/{id}/confirm", post(approvals::confirm))
        .route("/ui/approvals/{id}/vote", post(approvals::vote))
        .route("/ui/jobs", get(jobs::list))
        .route("/ui/audit", get(audit::list))
        .route("/ui/audit/export", get(audit::export))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(headers::middleware))
        .with_state(state.clone())
}

async fn not_found() -> Response {
    page::ErrorPage::new(
        StatusCode::NOT_FOUND,
        "There is no such page in the console.",
    )
    .into_response()
}
