//! Extractors whose rejections are contract errors (400 `invalid_request`, 413, 404).
//!
//! - [`ApiJson`]: a required JSON body, unknown fields refused by the body types themselves.
//! - [`OptionalJson`]: a JSON body that may be absent (an empty body or `null` →
//!   `T::default()`).
//!
//! Every request body of the API is a JSON object: both refuse any other top-level value
//! (serde would otherwise read a struct from an array, `[null, null]`).
//! - [`ApiQuery`]: query parameters.
//! - [`PathId`]: a prefixed id in the path; a malformed id names nothing, so it is a 404.
//! - [`Auth`]: the caller the gate authenticated.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use countersign_domain::{text, IdError};
use countersign_service::{Caller, ServiceError};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

fn body_error(rejection: axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::invalid(format!("could not read the request body: {rejection}"))
    }
}

/// Parse a JSON body, answering 400 with serde's description of what is wrong, or naming the
/// field when a string or key anywhere in it holds a NUL character (`\u0000`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let parsed = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    // A NUL can only arrive escaped (`\u0000`); only then is the body walked.
    if contains_nul_escape(bytes) {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        text::reject_nul_in_json("", &value).map_err(ServiceError::from)?;
    }
    Ok(parsed)
}

/// The body's first significant byte, if any.
fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Parse a body that must be a JSON object.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if first_byte(bytes) != Some(b'{') {
        // Let serde name a syntax error first; a well-formed non-object is refused by shape.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        return Err(ApiError::invalid(
            "invalid JSON body: must be a JSON object",
        ));
    }
    parse_json(bytes)
}

fn contains_nul_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(5)
        .any(|w| w[0].eq_ignore_ascii_case(&b'u') && w[1..] == *b"0000")
}

/// A required JSON body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_error(r, state.config.max_body))?;
        if bytes.is_empty() {
            return Err(ApiError::invalid("a JSON body is required"));
        }
        parse_object(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_error(r, state.config.max_body))?;
        optional_body(&bytes).map(OptionalJson)
    }
}

/// An optional body: absent (empty or blank) or `null` is the default.
fn optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if first_byte(bytes).is_none() || serde_json::from_slice::<()>(bytes).is_ok() {
        return Ok(T::default());
    }
    parse_object(bytes)
}

/// Query parameters.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Every query value (`?actor=`, `?resource_id=`, …) obeys the no-NUL rule, named by
        // its parameter.
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))?;
        for (name, value) in &pairs {
            text::reject_nul(name, value)
                .and_then(|()| text::reject_nul("query parameter name", name))
                .map_err(ServiceError::from)?;
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))
    }
}

/// The single `{id}` path parameter, parsed as a prefixed id.
#[derive(Debug)]
pub struct PathId<T>(pub T);

impl<T> FromRequestParts<AppState> for PathId<T>
where
    T: std::str::FromStr<Err = IdError> + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::not_found("resource"))
    }
}

/// The caller the gate authenticated (the gate inserts it before any handler runs).
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Auth)
            .ok_or(ApiError::Service(
                countersign_service::ServiceError::Unauthenticated(
                    "no caller: the route has no gate",
                ),
            ))
    }
}

#[cfg(test)]
mod tests {
    use countersign_api::requests::{ClaimBody, CreatePrincipalBody};

    use super::*;

    #[test]
    fn a_body_must_be_an_object() {
        // serde reads a struct from a sequence; the API does not.
        assert!(serde_json::from_slice::<ClaimBody>(b"[null, null]").is_ok());
        for body in [
            &b"[null, null]"[..],
            b"[\"alice\"]",
            b"\"x\"",
            b"1",
            b"true",
        ] {
            let err = optional_body::<ClaimBody>(body).unwrap_err();
            assert_eq!(err.status_and_code().1, "invalid_request", "{body:?}");
            assert!(err.to_string().contains("must be a JSON object"), "{err}");
            assert!(
                parse_object::<CreatePrincipalBody>(body).is_err(),
                "{body:?}"
            );
        }
        assert!(parse_object::<CreatePrincipalBody>(b" {\"name\": \"alice\"}").is_ok());
        // A syntax error is still named as one.
        let err = parse_object::<CreatePrincipalBody>(b"[1,").unwrap_err();
        assert!(!err.to_string().contains("must be a JSON object"), "{err}");
    }

    #[test]
    fn an_optional_body_may_be_absent_blank_or_null() {
        for body in [&b""[..], b"  \n", b"null", b" null "] {
            let b: ClaimBody = optional_body(body).unwrap();
            assert!(b.actions.is_none() && b.lease_secs.is_none(), "{body:?}");
        }
        let b: ClaimBody = optional_body(b"{\"lease_secs\": 5}").unwrap();
        assert_eq!(b.lease_secs, Some(5));
    }
}
