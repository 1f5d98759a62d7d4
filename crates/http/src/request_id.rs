//! `X-Request-Id`: echo a valid incoming id, else mint one; every response carries it.
//!
//! The id lives in a task-local for the duration of the request, so any code that builds a
//! response — including error bodies produced deep in an extractor — can include it.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, if called within a request.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client-supplied id is kept when it is 1 to 128 characters of `[A-Za-z0-9._:-]`.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// A fresh id: `req_` and a lower-case ULID.
pub fn mint() -> String {
    format!("req_{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

/// The middleware.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid(v))
        .map(str::to_owned)
        .unwrap_or_else(mint);
    if let Ok(v) = HeaderValue::from_str(&id) {
        // Inner layers (the trace span) read the id from the request.
        req.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert!(is_valid("abc-123_x.y:z"));
        assert!(!is_valid(""));
        assert!(!is_valid("a b"));
        assert!(!is_valid(&"a".repeat(129)));
        assert!(is_valid(&mint()));
    }
}
