//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the wire types' `ToSchema` derives, and served with the Swagger UI page.
//!
//! - `GET /api/v1/openapi.json`: the document, no key needed.
//! - `GET /docs` and `GET /docs/{file}`: Swagger UI, its assets compiled into the binary.
//!
//! What the annotations do not say is added here from the route table itself, so it cannot
//! drift from the gates: every operation lists the error answers 400, 404, 413 and 503, and
//! every gated one also requires the bearer scheme and lists 401, 403, 409 and 429, all with
//! the one error body ([`ErrorBody`]). A unit test proves every registered route has an
//! operation and every operation a route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_api::ErrorBody;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref};
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::gate::{Gate, RouteEntry, Routes};
use crate::routes::{
    approvals, audit, auth, events, jobs, log, policies, roles, subjects, webhooks,
};
use crate::state::AppState;

/// The document's path.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// The name of the bearer security scheme.
pub const BEARER: &str = "bearer";

/// The annotated operations and the schemas they name.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Countersign",
        description = "Two-person approval and audit service, API v1. Errors are always \
                       `{\"error\": {\"code\", \"message\", \"request_id\"}}`.",
    ),
    paths(
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        document_operation,
        docs_index_operation,
        docs_asset_operation,
        auth::whoami,
        auth::create_principal,
        auth::list_principals,
        auth::get_principal,
        auth::disable_principal,
        auth::create_key,
        auth::list_keys,
        auth::revoke_key,
        auth::assign_role,
        auth::unassign_role,
        auth::eligible,
        roles::create,
        roles::list,
        roles::get,
        roles::update,
        roles::delete,
        roles::add_permission,
        roles::remove_permission,
        policies::create,
        policies::list,
        policies::get,
        policies::update,
        subjects::create,
        subjects::list,
        subjects::get,
        subjects::request_job,
        jobs::list,
        jobs::get,
        jobs::claim,
        jobs::complete,
        jobs::cancel,
        approvals::list,
        approvals::get,
        approvals::approve,
        approvals::reject,
        audit::list,
        audit::get,
        audit::export,
        audit::ingest,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::test,
        webhooks::deliveries,
        webhooks::redeliver,
        events::stream,
        log::checkpoint,
        log::key,
        log::tile,
        log::entries,
        log::proof,
        log::consistency,
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The error answers every operation may give, and those only a gated one gives.
const EVERY_ERROR: &[(&str, &str)] = &[
    (
        "400",
        "`invalid_request`: malformed JSON, a missing or unknown field, a bad value.",
    ),
    ("404", "`not_found`: unknown id."),
    ("413", "`payload_too_large`: the body is over the limit."),
    ("503", "`unavailable`: the database is unreachable."),
];
const GATED_ERROR: &[(&str, &str)] = &[
    (
        "401",
        "`unauthenticated`: missing, malformed, unknown, revoked or expired API key.",
    ),
    (
        "403",
        "`forbidden` or `two_person_integrity`: the caller may not do this.",
    ),
    (
        "409",
        "`conflict`, `already_decided`, `already_voted`, `generation_mismatch`, \
         `invalid_transition`, `not_sequenced` (an audit event not yet in the log).",
    ),
    (
        "429",
        "`rate_limited`: too many refused anonymous requests from this address.",
    ),
];

/// The document for the routes in `table`: the annotations, plus the bearer scheme and the
/// error answers on each gated operation.
pub fn document(table: &[RouteEntry]) -> Document {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("cs_<key id>_<secret>")
                .description(Some("An API key: `Authorization: Bearer cs_…`."))
                .build(),
        ),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            let gate = table
                .iter()
                .find(|r| r.method == method && r.path.replace("{*", "{") == *path)
                .map(|r| r.gate);
            let gated = !matches!(gate, None | Some(Gate::Public));
            add_errors(op, EVERY_ERROR);
            if gated {
                add_errors(op, GATED_ERROR);
                op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            }
        }
    }
    doc
}

/// Each operation of a path item with its method.
fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

fn add_errors(op: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        op.responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// The document and the Swagger UI routes, with no gate (see [`Routes::add_ungated`]).
pub fn routes(state: &AppState, doc: &Document) -> Routes {
    let json = Bytes::from(doc.to_json().expect("the OpenAPI document serializes"));
    let config = Arc::new(utoipa_swagger_ui::Config::from(DOCUMENT_PATH));
    let asset_config = config.clone();
    Routes::new(state.clone())
        .add_ungated(Method::GET, DOCUMENT_PATH, move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        })
        .add_ungated(Method::GET, "/docs", move || {
            let config = config.clone();
            async move { swagger_file("index.html", config) }
        })
        .add_ungated(
            Method::GET,
            "/docs/{*file}",
            move |file: Result<Path<String>, PathRejection>| {
                let config = asset_config.clone();
                async move { docs_asset(file, config) }
            },
        )
}

/// `GET /docs/{file}`; a path that is not UTF-8 names no file (404, the JSON error body).
fn docs_asset(
    file: Result<Path<String>, PathRejection>,
    config: Arc<utoipa_swagger_ui::Config<'static>>,
) -> Response {
    match file {
        Ok(Path(file)) => swagger_file(&file, config),
        Err(_) => ApiError::not_found("file").into_response(),
    }
}

/// One Swagger UI file. The index is served at `/docs` (no trailing slash), so it gets a
/// `<base href="/docs/">` for its relative asset links to resolve under `/docs/`.
fn swagger_file(file: &str, config: Arc<utoipa_swagger_ui::Config<'static>>) -> Response {
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(f)) => {
            let body = if file == "index.html" {
                String::from_utf8_lossy(&f.bytes)
                    .replacen("<head>", "<head>\n  <base href=\"/docs/\">", 1)
                    .into_bytes()
            } else {
                f.bytes.into_owned()
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, f.content_type)],
                body,
            )
                .into_response()
        }
        Ok(None) => ApiError::not_found("file").into_response(),
        Err(e) => {
            let e = std::io::Error::other(e.to_string());
            ApiError::Service(countersign_service::ServiceError::Internal(Box::new(e)))
                .into_response()
        }
    }
}

// The three ungated routes answer from closures over the built document; these empty
// functions only carry their operations' annotations.

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "documentation",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
fn document_operation() {}

/// The Swagger UI page rendering this document.
#[utoipa::path(get, path = "/docs", tag = "documentation",
    responses((status = 200, description = "An HTML page.", content_type = "text/html", body = String)))]
#[allow(dead_code)]
fn docs_index_operation() {}

/// One of the Swagger UI page's assets.
#[utoipa::path(get, path = "/docs/{file}", tag = "documentation",
    params(("file" = String, Path, description = "The asset's file name.")),
    responses((status = 200, description = "The asset.", content_type = "application/octet-stream", body = String)))]
#[allow(dead_code)]
fn docs_asset_operation() {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use countersign_service::{Service, ServiceConfig};

    use super::*;

    async fn state() -> AppState {
        let store = countersign_sqlite::SqliteStore::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        AppState::new(
            Service::new(Arc::new(store), ServiceConfig::default()),
            crate::HttpConfig::default(),
        )
    }

    /// `METHOD /path` with axum's catch-all `{*x}` written as OpenAPI's `{x}`.
    fn key(method: &Method, path: &str) -> String {
        format!("{method} {}", path.replace("{*", "{"))
    }

    fn documented(doc: &mut Document) -> BTreeSet<String> {
        let mut ops = BTreeSet::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, _) in operations(item) {
                ops.insert(key(&method, path));
            }
        }
        ops
    }

    #[tokio::test]
    async fn every_route_has_an_operation_and_every_operation_a_route() {
        let routes = crate::routes::api(&state().await);
        let registered: BTreeSet<String> = routes
            .table()
            .iter()
            .map(|r| key(&r.method, r.path))
            .chain(routes.ungated().iter().map(|r| key(&r.method, r.path)))
            .collect();
        let mut doc = document(routes.table());
        let documented = documented(&mut doc);
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "routes without an operation: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "operations without a route: {unrouted:?}"
        );
        assert!(registered.len() > 40, "{registered:?}");
    }

    /// A `/docs/` path that is not UTF-8 is a JSON 404 like any unknown file, not axum's
    /// plain-text rejection.
    #[tokio::test]
    async fn a_docs_path_that_is_not_utf8_is_a_json_404() {
        use tower::ServiceExt;

        let state = state().await;
        let router = crate::routes::api(&state).into_parts().0.with_state(state);
        for uri in ["/docs/%ff", "/docs/no-such-file.js"] {
            let answer = router
                .clone()
                .oneshot(
                    axum::http::Request::get(uri)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{uri}");
            let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: ErrorBody = serde_json::from_slice(&body).unwrap();
            assert_eq!(body.error.code, "not_found", "{uri}");
        }
    }

    /// The page at `/docs` as a browser reads it: each relative link resolves against the
    /// page's `<base href>` (without one, against `/`, the directory of `/docs`), and every
    /// link must land on an asset this module serves under `/docs/`.
    #[tokio::test]
    async fn the_docs_page_links_only_to_assets_it_serves() {
        let config = Arc::new(utoipa_swagger_ui::Config::from(DOCUMENT_PATH));
        let index = swagger_file("index.html", config.clone());
        assert_eq!(index.status(), StatusCode::OK);
        let body = axum::body::to_bytes(index.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&body).into_owned();
        let base = html
            .split("<base href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("/")
            .to_owned();
        let mut links = 0;
        for attr in ["href=\"", "src=\""] {
            for rest in html.split(attr).skip(1) {
                let link = rest.split('"').next().unwrap();
                if link == base {
                    continue;
                }
                assert!(!link.contains("://"), "an outside asset: {link}");
                let path = if link.starts_with('/') {
                    link.to_owned()
                } else {
                    format!("{base}{}", link.trim_start_matches("./"))
                };
                let file = path
                    .strip_prefix("/docs/")
                    .unwrap_or_else(|| panic!("{link} resolves outside /docs/: {path}"));
                let answer = swagger_file(file, config.clone());
                assert_eq!(answer.status(), StatusCode::OK, "{link}");
                links += 1;
            }
        }
        assert!(links >= 3, "{html}");
        let init = utoipa_swagger_ui::serve("swagger-initializer.js", config)
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&init.bytes).contains(DOCUMENT_PATH));
    }

    #[tokio::test]
    async fn gated_operations_require_the_bearer_scheme_and_the_rest_do_not() {
        let routes = crate::routes::api(&state().await);
        let mut doc = document(routes.table());
        assert!(doc.openapi == utoipa::openapi::OpenApiVersion::Version31);
        let ungated: Vec<_> = routes.ungated().iter().map(|r| r.path).collect();
        assert_eq!(ungated, [DOCUMENT_PATH, "/docs", "/docs/{*file}"]);
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let gate = routes
                    .table()
                    .iter()
                    .find(|r| r.method == method && r.path.replace("{*", "{") == *path)
                    .map(|r| r.gate);
                let open = matches!(gate, None | Some(Gate::Public));
                assert_eq!(op.security.is_none(), open, "{method} {path}");
                let statuses: Vec<&str> =
                    op.responses.responses.keys().map(String::as_str).collect();
                for status in ["400", "404", "503"] {
                    assert!(statuses.contains(&status), "{method} {path}: {statuses:?}");
                }
                if !open {
                    assert!(statuses.contains(&"401"), "{method} {path}");
                }
            }
        }
    }
}
