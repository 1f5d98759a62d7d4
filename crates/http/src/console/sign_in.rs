//! Signing in with an API key, and signing out.
//!
//! `GET /ui/sign-in` shows the form and sets the form's own double-submit cookie (there is no
//! session yet to derive a CSRF token from). `POST /ui/sign-in` checks that token, then asks
//! the service for a session ([`countersign_service::Service::sign_in`], audited as
//! `session.created`); a key that does not authenticate is refused through the same flood
//! control and `auth.denied` auditing as the API's gate. `POST /ui/sign-out` ends the session
//! (`session.ended`) and clears the cookie.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use countersign_domain::{ApiKeyToken, Resource};
use countersign_service::sessions::SessionToken;
use countersign_service::ServiceError;
use serde::Deserialize;

use crate::console::page::{self, ErrorPage};
use crate::console::session::{
    cookie_value, csrf_refused, remove_cookie, secure, set_cookie, ConsoleForm, CsrfForm,
    SESSION_COOKIE, SIGN_IN_COOKIE,
};
use crate::console::view::safe_next;
use crate::gate::refuse_anonymous;
use crate::request_id;
use crate::state::AppState;

#[derive(Debug, Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
    signed_out: Option<String>,
}

/// A fresh sign-in form answer with `status`, setting a new double-submit cookie.
fn form_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let nonce = SessionToken::mint();
    let mut response = page::render_with(
        status,
        &SignInPage {
            csrf: nonce.csrf_token(),
            next,
            notice,
            error,
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, nonce.expose(), secure(state)),
    );
    response
}

/// `GET /ui/sign-in`.
pub async fn form(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let notice = if q.expired.is_some() {
        Some("Your session has ended. Sign in again to continue.".to_owned())
    } else if q.signed_out.is_some() {
        Some("You have signed out.".to_owned())
    } else {
        None
    };
    form_page(
        &state,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        notice,
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    api_key: String,
    next: Option<String>,
}

/// `POST /ui/sign-in`.
pub async fn submit(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read.",
        )
        .into_response();
    };
    let nonce = cookie_value(&headers, SIGN_IN_COOKIE).and_then(|v| SessionToken::parse(&v));
    let client = crate::gate::client_address(&extensions);
    let resource = Resource::new("route", "POST /ui/sign-in");
    if !nonce.is_some_and(|n| n.csrf_matches(&form.csrf)) {
        // Anonymous, so through the flood control like a refused key.
        let err = ServiceError::Forbidden("missing or wrong CSRF token".into());
        if let Some(limited) = refuse_anonymous(&state, &client, None, None, resource, &err).await {
            return limited.into_response();
        }
        return csrf_refused();
    }
    let next = safe_next(form.next.as_deref());
    let api_key = form.api_key.trim();
    match state.service.sign_in(api_key, request_id::current()).await {
        Ok(signed_in) => {
            let secure = secure(&state);
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, signed_in.token.expose(), secure),
            );
            headers.append(header::SET_COOKIE, remove_cookie(SIGN_IN_COOKIE, secure));
            response
        }
        Err(err @ ServiceError::Unauthenticated(_)) => {
            let key_id = ApiKeyToken::parse(api_key).map(|t| t.key_id);
            if let Some(limited) =
                refuse_anonymous(&state, &client, key_id, None, resource, &err).await
            {
                return limited.into_response();
            }
            form_page(
                &state,
                StatusCode::UNAUTHORIZED,
                next,
                None,
                Some(
                    "That API key was not accepted (missing, malformed, unknown, revoked or \
                     expired, or its principal is disabled)."
                        .to_owned(),
                ),
            )
        }
        Err(other) => ErrorPage::from(other).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

impl ConsoleForm for SignOutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /ui/sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    CsrfForm(session, _): CsrfForm<SignOutForm>,
) -> Response {
    if let Err(e) = state
        .service
        .sign_out(&session.caller, &session.token)
        .await
    {
        return ErrorPage::from(e).into_response();
    }
    let mut response = Redirect::to("/ui/sign-in?signed_out=1").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        remove_cookie(SESSION_COOKIE, secure(&state)),
    );
    response
}
