//! The API's routes, one module per resource. Each module's `routes` registers its routes
//! with their gates; [`api`] merges them.

use crate::gate::{Gate, Routes};
use crate::state::AppState;
use axum::http::Method;

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod events;
pub mod jobs;
pub mod log;
pub mod policies;
pub mod roles;
pub mod subjects;
pub mod webhooks;

/// Every route of the API, including the public ops endpoints and, ungated, the API's
/// OpenAPI document and its Swagger UI page (built from the gated routes' table), and the
/// browser console under `/ui/`, which authenticates by session rather than by key.
pub fn api(state: &AppState) -> Routes {
    let gated = gated(state);
    let doc = crate::openapi::document(gated.table());
    gated
        .merge(crate::openapi::routes(state, &doc))
        .map_router(|r| r.merge(crate::console::router(state)))
}

/// Every route behind [`Routes::add`]: the ops endpoints and the API itself.
fn gated(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(Method::GET, "/healthz", Gate::Public, crate::ops::healthz)
        .add(Method::GET, "/readyz", Gate::Public, crate::ops::readyz)
        .add(Method::GET, "/metrics", Gate::Public, crate::ops::metrics)
        .merge(auth::routes(state))
        .merge(roles::routes(state))
        .merge(policies::routes(state))
        .merge(subjects::routes(state))
        .merge(jobs::routes(state))
        .merge(approvals::routes(state))
        .merge(audit::routes(state))
        .merge(webhooks::routes(state))
        .merge(events::routes(state))
        .merge(log::routes(state))
}
