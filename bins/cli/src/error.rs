//! [`CliError`]: every way a command fails, its one-line message and its exit code
//! (1 an API error or a failed command, 2 a usage error, 3 the server could not be reached).

use std::fmt;

use countersign_api::ErrorBody;

/// Exit code for an API error or any other failure.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for a usage error (clap uses 2 too).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the server could not be reached.
pub const EXIT_UNREACHABLE: i32 = 3;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The API answered with an error.
    Api(ErrorAnswer),
    /// The server could not be reached (connect, DNS, TLS, timeout, connection lost).
    Unreachable { url: String, detail: String },
    /// Bad flags, arguments or configuration.
    Usage(String),
    /// Anything else (files, a malformed answer, an interrupted export).
    Other(anyhow::Error),
}

/// An API error answer: `{"error": {"code", "message", "request_id"}}`, or a non-JSON answer
/// from something in front of the server.
#[derive(Debug, Clone)]
pub struct ErrorAnswer {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// The answer's body, printed as is under `--json`.
    pub body: bytes::Bytes,
}

impl ErrorAnswer {
    /// Build from the status, the `X-Request-Id` header and the body.
    pub fn from_answer(status: u16, header_request_id: Option<String>, body: bytes::Bytes) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let (code, message, request_id) = match parsed {
            Some(ErrorBody { error: e }) => (e.code, e.message, e.request_id),
            None => {
                let text = String::from_utf8_lossy(&body);
                let first = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                let message = if first.is_empty() {
                    "the server answered without an error body".to_owned()
                } else {
                    format!("unexpected answer: {}", truncate(first, 200))
                };
                ("http_error".to_owned(), message, None)
            }
        };
        Self {
            status,
            code,
            message,
            request_id: request_id.or(header_request_id),
            body,
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// One line: no newline from the server's message reaches the terminal.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for ErrorAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status,
            one_line(&self.message)
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api(e) => e.fmt(f),
            CliError::Unreachable { url, detail } => write!(
                f,
                "cannot reach the Countersign server at {url}: {} (is it running? set --url or COUNTERSIGN_URL)",
                one_line(detail)
            ),
            CliError::Usage(m) => f.write_str(&one_line(m)),
            CliError::Other(e) => f.write_str(&one_line(&format!("{e:#}"))),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Api(_) | CliError::Other(_) => EXIT_FAILURE,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<CliError>() {
            Ok(c) => c,
            Err(e) => CliError::Other(e),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_is_one_line_with_code_status_and_request() {
        let body = br#"{"error":{"code":"forbidden","message":"missing permission `approval.approve`","request_id":"req_1"}}"#;
        let e = ErrorAnswer::from_answer(
            403,
            Some("req_header".into()),
            bytes::Bytes::from_static(body),
        );
        assert_eq!(
            e.to_string(),
            "forbidden (403): missing permission `approval.approve` [request req_1]"
        );
        let e = CliError::Api(ErrorAnswer::from_answer(
            502,
            Some("req_2".into()),
            "<html>\nBad gateway\n".into(),
        ));
        assert_eq!(
            e.to_string(),
            "http_error (502): unexpected answer: <html> [request req_2]"
        );
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        let e = ErrorAnswer::from_answer(500, None, bytes::Bytes::new());
        assert_eq!(
            e.to_string(),
            "http_error (500): the server answered without an error body"
        );
    }

    #[test]
    fn exit_codes() {
        let unreachable = CliError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code(), EXIT_UNREACHABLE);
        assert!(unreachable.to_string().contains("http://127.0.0.1:1"));
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        let wrapped: CliError = anyhow::Error::new(CliError::Usage("y\nz".into())).into();
        assert_eq!(
            (wrapped.exit_code(), wrapped.to_string()),
            (EXIT_USAGE, "y z".to_owned())
        );
    }
}
