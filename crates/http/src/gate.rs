//! The route registry and the gate every route passes.
//!
//! Routes are only ever added through [`Routes::add`], which takes the route's [`Gate`]. The
//! gate runs before the handler (and before its body is read): it authenticates the
//! `Authorization: Bearer` key (401 otherwise; two `Authorization` headers are a 401 too) and
//! checks the permission (403 otherwise), and audits either refusal as an `auth.denied` event
//! (anonymous refusals through the per-address flood control of [`crate::deny_flood`]). A
//! [`Gate::UseCase`] route leaves the permission check to its use case, which must rank
//! another refusal first. The registry keeps the table of
//! `(method, path, gate)` so tests can walk every route and prove none is left ungated.
//!
//! The API's own description (`GET /api/v1/openapi.json` and the `/docs` page) is read before
//! a client has a key, so it has no gate at all: it is registered through the one explicit
//! door for that, [`Routes::add_ungated`], and listed apart ([`Routes::ungated`]) so the
//! table of gates stays exactly what the gate guards.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use countersign_domain::{ApiKeyToken, Permission, Resource};
use countersign_service::auth::DenyContext;
use countersign_service::ServiceError;

use crate::deny_flood::{self, Verdict};
use crate::error::ApiError;
use crate::request_id;
use crate::state::AppState;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No authentication: only `/healthz`, `/readyz` and `/metrics`.
    Public,
    /// A valid key and this permission.
    Permission(Permission),
    /// A valid key and nothing more: only `whoami`, which tells a caller about itself.
    Authenticated,
    /// A valid key; the use case checks this permission itself, after the refusals the
    /// contract ranks above it — a requester voting on its own request is 403
    /// `two_person_integrity` whether or not it holds the permission. Everyone else without
    /// the permission is refused 403 `forbidden` (audited) before anything changes.
    UseCase(Permission),
}

impl Gate {
    /// The permission the route needs, whoever checks it.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Gate::Permission(p) | Gate::UseCase(p) => Some(p),
            Gate::Public | Gate::Authenticated => None,
        }
    }
}

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: Method,
    pub path: &'static str,
    pub gate: Gate,
}

/// A router under construction and its route table.
#[derive(Debug)]
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    table: Vec<RouteEntry>,
    ungated: Vec<UngatedEntry>,
}

/// One route registered without a gate (the API's description, see [`Routes::add_ungated`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UngatedEntry {
    pub method: Method,
    pub path: &'static str,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        Method::PATCH => MethodFilter::PATCH,
        _ => unreachable!("the API uses GET, POST, PUT, PATCH and DELETE only"),
    }
}

impl Routes {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Router::new(),
            table: Vec::new(),
            ungated: Vec::new(),
        }
    }

    /// Register `handler` for `method path` behind `gate`.
    pub fn add<H, T>(mut self, method: Method, path: &'static str, gate: Gate, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let mut route: MethodRouter<AppState> = on(filter(&method), handler);
        if gate != Gate::Public {
            route = route.route_layer(middleware::from_fn_with_state(
                (self.state.clone(), gate),
                gate_middleware,
            ));
        }
        self.router = self.router.route(path, route);
        self.table.push(RouteEntry { method, path, gate });
        self
    }

    /// Register `handler` for `method path` with no gate at all: no key is read, nothing is
    /// audited. Only for the API's own description (`/api/v1/openapi.json`, `/docs`), which
    /// a client needs before it has a key; everything else goes through [`Routes::add`].
    pub fn add_ungated<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter(&method), handler));
        self.ungated.push(UngatedEntry { method, path });
        self
    }

    /// Apply a layer to the routes added so far (e.g. a larger body limit for one route).
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    /// Merge another set of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self.ungated.extend(other.ungated);
        self
    }

    pub fn table(&self) -> &[RouteEntry] {
        &self.table
    }

    /// The routes registered with [`Routes::add_ungated`].
    pub fn ungated(&self) -> &[UngatedEntry] {
        &self.ungated
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteEntry>) {
        (self.router, self.table)
    }
}

/// The bearer token, if any. More than one `Authorization` header is refused outright: which
/// one counts must never depend on a proxy's or a library's choice.
fn bearer(req: &Request) -> Result<Option<&str>, &'static str> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let token = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    });
    Ok(token)
}

/// The client's address as the server saw it (`unknown` without `ConnectInfo`).
pub(crate) fn client_address(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Account for an anonymous refusal from `client` through the flood control, auditing it
/// (`auth.denied`) while the address is under its audit rate; `Some(429)` past its limit.
/// The gate and the console's sign-in both refuse through here.
pub(crate) async fn refuse_anonymous(
    app: &AppState,
    client: &str,
    key_id: Option<countersign_domain::KeyId>,
    permission: Option<Permission>,
    resource: Resource,
    err: &ServiceError,
) -> Option<ApiError> {
    let service = &app.service;
    let (verdict, due) = app.deny_flood.refuse(client);
    deny_flood::write(service, due).await;
    if verdict == Verdict::Audit {
        let request_id = request_id::current();
        service
            .audit_denied(
                DenyContext {
                    caller: None,
                    key_id,
                    permission,
                    resource,
                    request_id: request_id.as_deref(),
                },
                err,
            )
            .await;
    }
    match verdict {
        Verdict::Limit { retry_after } => Some(ApiError::RateLimited(retry_after)),
        _ => None,
    }
}

async fn gate_middleware(
    State((app, gate)): State<(AppState, Gate)>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let resource = Resource::new("route", format!("{} {}", req.method(), route));
    let permission = gate.permission();
    let request_id = request_id::current();
    let service = &app.service;

    let token = bearer(&req);
    let caller = match &token {
        Ok(Some(t)) => service.authenticate(t).await,
        Ok(None) => Err(ServiceError::Unauthenticated("missing API key")),
        Err(why) => Err(ServiceError::Unauthenticated(why)),
    };
    let caller = match caller {
        Ok(c) => c.with_request_id(request_id.clone()),
        Err(err @ ServiceError::Unauthenticated(_)) => {
            let key_id = token
                .ok()
                .flatten()
                .and_then(ApiKeyToken::parse)
                .map(|t| t.key_id);
            let client = client_address(req.extensions());
            if let Some(limited) =
                refuse_anonymous(&app, &client, key_id, permission, resource, &err).await
            {
                return limited.into_response();
            }
            return ApiError::Service(err).into_response();
        }
        Err(other) => return ApiError::Service(other).into_response(),
    };
    if let Gate::Permission(p) = gate {
        if !caller.has(p) {
            let err = ServiceError::Forbidden(format!("missing permission `{p}`"));
            service
                .audit_denied(
                    DenyContext {
                        caller: Some(&caller),
                        key_id: caller.key_id,
                        permission,
                        resource,
                        request_id: request_id.as_deref(),
                    },
                    &err,
                )
                .await;
            return ApiError::Service(err).into_response();
        }
    }
    tracing::Span::current().record("principal.id", tracing::field::display(caller.id()));
    req.extensions_mut().insert(caller);
    next.run(req).await
}
