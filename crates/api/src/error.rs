//! [`ErrorBody`]: every error answer, `{"error": {"code", "message", "request_id"}}`.

use serde::{Deserialize, Serialize};

/// The body of every non-2xx answer the API gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The error itself: a stable contract code, a human message and the request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_nests_code_message_and_request_id() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "forbidden".into(),
                message: "no".into(),
                request_id: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"forbidden","message":"no","request_id":null}}"#
        );
    }
}
