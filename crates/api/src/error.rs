//! [`ErrorBody`]: every error answer, `{"error": {"code", "message", "request_id"}}`.

use serde::{Deserialize, Serialize};

/// The body of every non-2xx answer the API gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The error itself: a stable contract code, a human message and the request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}
