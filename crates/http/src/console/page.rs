//! What every console page shares: the header ([`Chrome`]: who is signed in, the session's
//! CSRF token for the sign-out form, the navigation), rendering a template into an answer,
//! and the error page.
//!
//! A failure is shown as a page with the status the JSON API would answer
//! ([`ApiError::status_and_code`], the one mapping), never as JSON: the console is read by a
//! person. Internal errors are logged once and shown without detail.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use countersign_domain::Permission;
use countersign_service::ServiceError;

use crate::console::session::Session;
use crate::error::ApiError;
use crate::request_id;

/// The header of every signed-in page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The signed-in principal's name.
    pub me: String,
    /// The session's CSRF token, for the forms of the page (sign-out included).
    pub csrf: String,
    /// The navigation entry of this page (`waiting`, `requests`, `jobs`, `audit`).
    pub nav: &'static str,
    pub can_read_jobs: bool,
    pub can_read_audit: bool,
}

impl Chrome {
    pub fn new(session: &Session, nav: &'static str) -> Self {
        Self {
            me: session.caller.principal.name.to_string(),
            csrf: session.csrf(),
            nav,
            can_read_jobs: session.caller.has(Permission::JobRead),
            can_read_audit: session.caller.has(Permission::AuditRead),
        }
    }
}

/// Render `template` as a `200` page.
pub fn render(template: &impl Template) -> Response {
    render_with(StatusCode::OK, template)
}

/// Render `template` as a page with `status`.
pub fn render_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed to render");
            ErrorPage::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                .into_response()
        }
    }
}

/// A failure, shown as a page.
#[derive(Debug, Clone, Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub request_id: String,
}

impl ErrorPage {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: message.into(),
            request_id: request_id::current().unwrap_or_default(),
        }
    }
}

impl From<ServiceError> for ErrorPage {
    fn from(e: ServiceError) -> Self {
        let message = message_of(&e);
        let (status, _) = ApiError::Service(e).status_and_code();
        ErrorPage::new(status, message)
    }
}

/// What a person is told about `e` (internal errors are logged, not shown).
pub fn message_of(e: &ServiceError) -> String {
    match e {
        ServiceError::Internal(source) => {
            tracing::error!(
                error = %source,
                request.id = request_id::current().as_deref().unwrap_or("-"),
                "internal error"
            );
            "internal server error".to_owned()
        }
        ServiceError::Unauthenticated(_) => "Your session has ended; sign in again.".to_owned(),
        other => other.to_string(),
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let status = self.status;
        match self.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.message).into_response(),
        }
    }
}
