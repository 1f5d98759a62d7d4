//! The console's session cookie, the [`Session`] extractor, and the CSRF check of every form.
//!
//! The cookie `countersign_session` holds the session token: `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page sends it), `Path=/ui`, and `Secure` when
//! `COUNTERSIGN_PUBLIC_URL` is `https://`. A page without a valid session is sent to the
//! sign-in page (303); the service decides what valid means (open, not idle, its key still
//! good).
//!
//! Every form posts a `csrf` field: the session's CSRF token ([`SessionToken::csrf_token`]),
//! compared in constant time by [`CsrfForm`] before the handler runs. A missing or wrong token
//! is refused 403, audited as `auth.denied`, and changes nothing. The sign-in form, which has
//! no session yet, is protected the same way by a short-lived cookie of its own
//! (`countersign_sign_in`, double submit).

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use countersign_domain::Resource;
use countersign_service::auth::DenyContext;
use countersign_service::sessions::SessionToken;
use countersign_service::{Caller, ServiceError};
use serde::de::DeserializeOwned;

use crate::console::page::ErrorPage;
use crate::request_id;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "countersign_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "countersign_sign_in";
/// Every console cookie's path.
pub const COOKIE_PATH: &str = "/ui";

/// A signed-in person: the caller the session stands for, and the session's token.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub token: SessionToken,
}

impl Session {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        self.token.csrf_token()
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether cookies must be `Secure`: the console is reached over https.
pub fn secure(state: &AppState) -> bool {
    state
        .service
        .config()
        .public_url
        .as_deref()
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
}

/// A `Set-Cookie` value for console cookie `name` holding `value`.
pub fn set_cookie(name: &'static str, value: &str, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name, value.to_owned()))
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    header_value(&cookie)
}

/// A `Set-Cookie` value that removes console cookie `name`.
pub fn remove_cookie(name: &'static str, secure: bool) -> HeaderValue {
    let mut cookie = Cookie::build((name, ""))
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    cookie.make_removal();
    header_value(&cookie)
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // A cookie built from a hex token and fixed attributes is always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where to send someone without a session: the sign-in page, coming back to `parts`' page
/// (GET pages only) afterwards.
fn to_sign_in(parts: &Parts, expired: bool, state: &AppState) -> Response {
    let mut target = String::from("/ui/sign-in");
    let mut sep = '?';
    if expired {
        target.push_str("?expired=1");
        sep = '&';
    }
    if parts.method == axum::http::Method::GET {
        if let Some(pq) = parts.uri.path_and_query() {
            target.push(sep);
            target.push_str("next=");
            target.push_str(&crate::console::view::url_encode(pq.as_str()));
        }
    }
    let mut response = Redirect::to(&target).into_response();
    if expired || cookie_value(&parts.headers, SESSION_COOKIE).is_some() {
        response.headers_mut().append(
            header::SET_COOKIE,
            remove_cookie(SESSION_COOKIE, secure(state)),
        );
    }
    response
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) =
            cookie_value(&parts.headers, SESSION_COOKIE).and_then(|v| SessionToken::parse(&v))
        else {
            return Err(to_sign_in(parts, false, state));
        };
        match state
            .service
            .session_caller(&token, request_id::current())
            .await
        {
            Ok((caller, _)) => {
                tracing::Span::current()
                    .record("principal.id", tracing::field::display(caller.id()));
                Ok(Session { caller, token })
            }
            Err(ServiceError::Unauthenticated(_)) => Err(to_sign_in(parts, true, state)),
            Err(e) => Err(ErrorPage::from(e).into_response()),
        }
    }
}

/// A console form: every one carries the `csrf` field (empty when missing, which is refused).
pub trait ConsoleForm: DeserializeOwned + Send {
    fn csrf(&self) -> &str;
}

/// A form posted within a session, its CSRF token checked (403 otherwise, before anything
/// else happens), and the session it was posted in.
#[derive(Debug)]
pub struct CsrfForm<T>(pub Session, pub T);

impl<T: ConsoleForm + 'static> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let route = format!("{} {}", parts.method, parts.uri.path());
        let req = Request::from_parts(parts, body);
        let form = match Form::<T>::from_request(req, state).await {
            Ok(Form(form)) => form,
            Err(rejection) => {
                return Err(ErrorPage::new(
                    StatusCode::BAD_REQUEST,
                    format!("The form could not be read: {}", rejection.body_text()),
                )
                .into_response())
            }
        };
        if !session.token.csrf_matches(form.csrf()) {
            return Err(refuse_csrf(state, Some(&session.caller), route).await);
        }
        Ok(CsrfForm(session, form))
    }
}

/// Refuse a form whose CSRF token is missing or wrong: audited as `auth.denied`, 403.
pub async fn refuse_csrf(state: &AppState, caller: Option<&Caller>, route: String) -> Response {
    let err = ServiceError::Forbidden("missing or wrong CSRF token".into());
    let request_id = request_id::current();
    state
        .service
        .audit_denied(
            DenyContext {
                caller,
                key_id: caller.and_then(|c| c.key_id),
                permission: None,
                resource: Resource::new("route", route),
                request_id: request_id.as_deref(),
            },
            &err,
        )
        .await;
    csrf_refused()
}

/// The 403 page of a form whose CSRF token is missing or wrong.
pub fn csrf_refused() -> Response {
    ErrorPage::new(
        StatusCode::FORBIDDEN,
        "This form is out of date or did not come from the console (its CSRF token is missing \
         or wrong). Nothing was changed; go back, reload the page and try again.",
    )
    .into_response()
}
