//! [`ApiError`] and its single `IntoResponse`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_api::{ErrorBody, ErrorDetail};
use countersign_service::ServiceError;

use crate::request_id;

/// Every failure an HTTP handler can answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// No route matches the path.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The path exists but not with this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// The body is over the configured limit.
    #[error("the request body is over the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The handler did not answer in time.
    #[error("the request timed out")]
    Timeout,
    /// Too many refused anonymous requests from this client address; retry after this many
    /// seconds.
    #[error("too many refused requests from this address; retry in {0} s")]
    RateLimited(u64),
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::Invalid(message.into()))
    }

    pub fn not_found(what: &'static str) -> Self {
        ApiError::Service(ServiceError::NotFound(what))
    }

    /// The status and contract code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Service(e) => {
                let status = match e {
                    ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
                    ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                    ServiceError::Forbidden(_) | ServiceError::TwoPersonIntegrity => {
                        StatusCode::FORBIDDEN
                    }
                    ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                    ServiceError::Conflict(_)
                    | ServiceError::AlreadyDecided(_)
                    | ServiceError::ApprovalExpired
                    | ServiceError::AlreadyVoted
                    | ServiceError::GenerationMismatch { .. }
                    | ServiceError::InvalidTransition(_)
                    | ServiceError::NotSequenced(_) => StatusCode::CONFLICT,
                    ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.code())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let request_id = request_id::current();
        let message = match &self {
            ApiError::Service(ServiceError::Internal(source)) => {
                tracing::error!(
                    error = %source,
                    error.debug = ?source,
                    request.id = request_id.as_deref().unwrap_or("-"),
                    "internal error"
                );
                "internal server error".to_owned()
            }
            ApiError::Service(ServiceError::Unavailable(source)) => {
                tracing::warn!(
                    error = %source,
                    request.id = request_id.as_deref().unwrap_or("-"),
                    "database unavailable"
                );
                self.to_string()
            }
            ApiError::Service(ServiceError::Unauthenticated(_)) => {
                // One message for every 401: do not tell a prober which part was wrong.
                "missing, malformed, unknown, revoked or expired API key".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::RateLimited(secs) => Some(*secs),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                request_id,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
