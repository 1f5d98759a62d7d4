//! Errors: what a sink, the recorder and the event builder report.
//!
//! # Error policy
//!
//! - A sink never swallows a failure: [`AuditSink::write`](crate::AuditSink::write) returns
//!   `Ok(())` only when the destination took **every** event of the batch (a fan-out: when at
//!   least one of its sinks took every event). Anything else is a [`SinkError`].
//! - A batch is all or nothing from the caller's point of view. A sink may have stored part of
//!   a failed batch (a file that filled up mid-write, an HTTP batch split in chunks); resending
//!   is always allowed, because every destination is idempotent on `event_id` (the server and
//!   the database skip known ids; file consumers de-duplicate on `event_id`). Delivery is
//!   therefore *at least once*.
//! - [`SinkError::is_retryable`] tells transient failures (unreachable, I/O) from final ones
//!   (the destination refused the batch, bad configuration, retries already exhausted). The
//!   recorder retries only the former.
//! - No error message ever contains an API key or a [`Redacted`](crate::Redacted) value.
//! - In strict mode the recorder hands the error to the caller ([`RecordError::Sink`]), who
//!   should refuse its action. In async mode the events are dropped, counted in
//!   `countersign_audit_writes_total{status="dropped"}` and reported by one `audit.loss` event
//!   once the sink accepts writes again.

use countersign_domain::ValidationError;

/// A sink could not write a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The destination cannot be reached right now (connection refused, timeout, 5xx, 429,
    /// database down). Retrying later may succeed.
    #[error("audit sink unavailable: {0}")]
    Unavailable(String),
    /// The destination answered and refused the batch (a 4xx, a constraint). Resending the
    /// same batch will fail the same way.
    #[error("audit sink rejected the batch{}: {message}", status.map(|s| format!(" (status {s})")).unwrap_or_default())]
    Rejected {
        /// The HTTP status, when the destination speaks HTTP.
        status: Option<u16>,
        /// What the destination said (truncated).
        message: String,
    },
    /// A local I/O error (the NDJSON file).
    #[error("audit sink I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The sink is misconfigured (a bad URL, a header value that cannot be sent, no inner sinks).
    #[error("audit sink misconfigured: {0}")]
    InvalidConfig(String),
    /// The sink already retried and gave up; retrying again at a higher level is pointless.
    #[error("audit sink gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<SinkError>,
    },
    /// Every sink of a fan-out failed: `(sink name, error)` for each.
    #[error("every audit sink failed: {}", fmt_all(.0))]
    AllFailed(Vec<(String, SinkError)>),
    /// Anything else the destination reported (an unexpected database error, …).
    #[error("audit sink error: {0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

fn fmt_all(errors: &[(String, SinkError)]) -> String {
    if errors.is_empty() {
        return "no sinks".to_owned();
    }
    errors
        .iter()
        .map(|(name, e)| format!("{name}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl SinkError {
    /// Whether resending the same batch later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::Unavailable(_) | SinkError::Io(_) | SinkError::Other(_) => true,
            SinkError::Rejected { .. }
            | SinkError::InvalidConfig(_)
            | SinkError::RetriesExhausted { .. } => false,
            SinkError::AllFailed(all) => all.iter().any(|(_, e)| e.is_retryable()),
        }
    }

    /// Wrap any error as [`SinkError::Other`].
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SinkError::Other(Box::new(e))
    }
}

/// The recorder could not record an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The event breaks a rule of the v1 schema (action shape, field lengths); the server would
    /// refuse it, so the recorder refuses it up front, in both modes.
    #[error("invalid audit event: {0}")]
    Invalid(#[from] ValidationError),
    /// The sink failed (strict mode; or the write a `flush`/`shutdown` triggered).
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The recorder was shut down (or its writer task died); nothing was recorded.
    #[error("audit recorder is shut down")]
    Closed,
}

/// An [`EventBuilder`](crate::EventBuilder) could not build its event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No actor was given (and the builder did not come from a recorder).
    #[error("audit event has no actor")]
    MissingActor,
    /// No resource was given.
    #[error("audit event has no resource")]
    MissingResource,
    /// A detail value did not serialize to JSON.
    #[error("audit detail `{key}` does not serialize: {message}")]
    Detail {
        /// The detail's key.
        key: String,
        /// Why serialization failed.
        message: String,
    },
    /// The event breaks a rule of the v1 schema.
    #[error("invalid audit event: {0}")]
    Invalid(#[from] ValidationError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(SinkError::Unavailable("down".into()).is_retryable());
        assert!(SinkError::Io(std::io::Error::other("disk")).is_retryable());
        assert!(!SinkError::Rejected {
            status: Some(400),
            message: "bad".into()
        }
        .is_retryable());
        assert!(!SinkError::RetriesExhausted {
            attempts: 3,
            last: Box::new(SinkError::Unavailable("down".into()))
        }
        .is_retryable());
        assert!(SinkError::AllFailed(vec![
            ("a".into(), SinkError::InvalidConfig("x".into())),
            ("b".into(), SinkError::Unavailable("y".into())),
        ])
        .is_retryable());
        assert!(!SinkError::AllFailed(vec![]).is_retryable());
    }

    #[test]
    fn messages() {
        let e = SinkError::Rejected {
            status: Some(400),
            message: "line 2: bad action".into(),
        };
        assert_eq!(
            e.to_string(),
            "audit sink rejected the batch (status 400): line 2: bad action"
        );
        let e = SinkError::AllFailed(vec![("file".into(), SinkError::Unavailable("x".into()))]);
        assert_eq!(
            e.to_string(),
            "every audit sink failed: file: audit sink unavailable: x"
        );
    }
}
