//! `HttpSink` (feature `http`): POST batches to a Countersign server.
//!
//! Each batch is sent as NDJSON (`Content-Type: application/x-ndjson`, one event per line) to
//! `{base_url}/api/v1/audit/events` with `Authorization: Bearer <key>`; the key needs the
//! `audit.write` permission (built-in role `audit-writer`).
//!
//! - **2xx** (`{"accepted": n, "duplicates": m}`) is success.
//! - **429, 5xx, connection errors and timeouts** are retried with exponential backoff and
//!   jitter ([`RetryPolicy`]), honouring a `Retry-After` given in seconds (capped at the
//!   policy's `max_backoff`). Resending is safe: the server ingests idempotently on
//!   `event_id`. When the attempts run out the error is [`SinkError::RetriesExhausted`].
//! - **Any other 4xx** (400 a bad event, 401/403 a bad key, 413 too large) is final:
//!   [`SinkError::Rejected`] with the status and the start of the server's message, no retry.
//! - Batches larger than [`HttpSinkConfig::max_body_bytes`] are split into several requests.
//!
//! Transport: reqwest's connection-pooling client, `http://` or `https://` (rustls with
//! Mozilla's roots). Never send the key over an untrusted network in clear text: use
//! `https://` unless the server is on the same host or pod.
//!
//! The API key is kept in a [`Redacted`] and sent as a header marked sensitive; neither the
//! sink's `Debug` nor any error message contains it.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use countersign_api::{ErrorBody, IngestOutcome};
use countersign_domain::AuditEvent;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};

use super::AuditSink;
use crate::error::SinkError;
use crate::redact::Redacted;
use crate::retry::{jitter, RetryPolicy};

/// The ingest endpoint, relative to the server's base URL.
pub const INGEST_PATH: &str = "/api/v1/audit/events";
/// The content type of a batch.
pub const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";
/// The most of an error answer kept in [`SinkError::Rejected`].
const MAX_ERROR_BODY: usize = 512;
/// The most of any answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most events the server's ingest endpoint takes in one request; bigger batches are split.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct HttpSinkConfig {
    /// The server's base URL, `http://host:port` (a path prefix is kept; a trailing `/` is
    /// ignored).
    pub base_url: String,
    /// An API key with `audit.write` (`cs_<key id>_<secret>`).
    pub api_key: Redacted<String>,
    /// Retries on 429, 5xx and connection errors. Default: 5 attempts, 200 ms doubling up
    /// to 5 s.
    pub retry: RetryPolicy,
    /// The limit on one request, answer included. Default 10 s.
    pub request_timeout: Duration,
    /// The largest request body; bigger batches are split. Default 8 MiB (the server takes
    /// ten times its 1 MiB body limit on this endpoint).
    pub max_body_bytes: usize,
    /// The `sink` metrics label. Default `http`.
    pub name: String,
}

impl HttpSinkConfig {
    /// Defaults for everything but the address and the key.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: Redacted(api_key.into()),
            retry: RetryPolicy::new(5, Duration::from_millis(200), Duration::from_secs(5)),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 8 * 1024 * 1024,
            name: "http".to_owned(),
        }
    }

    /// Replace the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replace the per-request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Replace the body size limit (at least 1 byte).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes.max(1);
        self
    }

    /// Replace the sink's name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// Sends batches to a Countersign server; see the [module docs](self).
pub struct HttpSink {
    name: String,
    endpoint: Url,
    authorization: HeaderValue,
    retry: RetryPolicy,
    request_timeout: Duration,
    max_body_bytes: usize,
    client: Client,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("authorization", &"Bearer [redacted]")
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// One failed attempt: the error, whether to retry, and a server-requested delay.
struct Failure {
    error: SinkError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl HttpSink {
    /// A sink for `base_url` with the default settings; see [`HttpSinkConfig::new`].
    pub fn new(base_url: &str, api_key: impl Into<String>) -> Result<Self, SinkError> {
        Self::from_config(HttpSinkConfig::new(base_url, api_key))
    }

    /// A sink from a full configuration. Fails on a URL that is not
    /// `http[s]://host[:port][/prefix]` or a key that cannot be sent as a header.
    pub fn from_config(config: HttpSinkConfig) -> Result<Self, SinkError> {
        let base = config.base_url.trim().trim_end_matches('/');
        let bad = |why: &str| {
            SinkError::InvalidConfig(format!(
                "bad base URL `{base}`: {why} (expected http[s]://host[:port][/prefix])"
            ))
        };
        let parsed = Url::parse(base).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if parsed.host().is_none() || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("it needs a host and no query"));
        }
        let endpoint =
            Url::parse(&format!("{base}{INGEST_PATH}")).map_err(|e| bad(&e.to_string()))?;
        let key = config.api_key.expose().trim();
        if key.is_empty() {
            return Err(SinkError::InvalidConfig("the API key is empty".to_owned()));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            SinkError::InvalidConfig("the API key is not a valid header value".to_owned())
        })?;
        authorization.set_sensitive(true);
        let client = Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("countersign-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::InvalidConfig(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: config.name,
            endpoint,
            authorization,
            retry: config.retry,
            request_timeout: config.request_timeout,
            max_body_bytes: config.max_body_bytes.max(1),
            client,
        })
    }

    /// The full ingest URL.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Split a batch into NDJSON bodies of at most `max_body_bytes` and
    /// [`MAX_EVENTS_PER_REQUEST`] events (a single larger event goes alone; the server will
    /// answer 413 for it).
    fn bodies(&self, events: &[AuditEvent]) -> Vec<Bytes> {
        let mut bodies = Vec::new();
        let mut current = String::new();
        let mut count = 0;
        for e in events {
            let line = e.to_json_line();
            let full = count == MAX_EVENTS_PER_REQUEST
                || current.len() + line.len() + 1 > self.max_body_bytes;
            if !current.is_empty() && full {
                bodies.push(Bytes::from(std::mem::take(&mut current)));
                count = 0;
            }
            current.push_str(&line);
            current.push('\n');
            count += 1;
        }
        if !current.is_empty() {
            bodies.push(Bytes::from(current));
        }
        bodies
    }

    /// Send one body, retrying per the policy.
    async fn send(&self, body: Bytes) -> Result<(), SinkError> {
        let attempts = self.retry.attempts();
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            if !failure.retry {
                return Err(failure.error);
            }
            if attempt >= attempts {
                return Err(if attempts > 1 {
                    SinkError::RetriesExhausted {
                        attempts,
                        last: Box::new(failure.error),
                    }
                } else {
                    failure.error
                });
            }
            let mut delay = self.retry.delay(attempt);
            if let Some(asked) = failure.retry_after {
                delay = delay.max(jitter(asked.min(self.retry.max_backoff)));
            }
            tracing::debug!(
                sink = %self.name,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %failure.error,
                "audit HTTP write failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: Bytes) -> Result<(), Failure> {
        let request = self
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, NDJSON_CONTENT_TYPE)
            .header(AUTHORIZATION, self.authorization.clone())
            .body(body);
        let exchange = async {
            let mut response = request.send().await.map_err(|e| Failure {
                error: SinkError::Unavailable(format!("POST {}: {}", self.endpoint, chain(&e))),
                retry: true,
                retry_after: None,
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                let room = MAX_ANSWER_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok::<_, Failure>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            match tokio::time::timeout(self.request_timeout, exchange).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Failure {
                        error: SinkError::Unavailable(format!(
                            "POST {}: no answer within {:?}",
                            self.endpoint, self.request_timeout
                        )),
                        retry: true,
                        retry_after: None,
                    })
                }
            };
        if status.is_success() {
            match serde_json::from_slice::<IngestOutcome>(&body) {
                Ok(a) => tracing::debug!(
                    sink = %self.name,
                    accepted = a.accepted,
                    duplicates = a.duplicates,
                    "audit batch ingested"
                ),
                Err(_) => tracing::debug!(
                    sink = %self.name,
                    status = status.as_u16(),
                    "audit batch ingested (unexpected answer body)"
                ),
            }
            return Ok(());
        }
        let message = error_message(&body);
        let retry = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        let error = if retry {
            SinkError::Unavailable(format!("POST {}: {status}: {message}", self.endpoint))
        } else {
            SinkError::Rejected {
                status: Some(status.as_u16()),
                message,
            }
        };
        Err(Failure {
            error,
            retry,
            retry_after,
        })
    }
}

/// A transport error and its sources, without reqwest's generic wrapper.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.starts_with("error sending request") && !parts.contains(&text) {
            parts.push(text);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The server's error (`{"error": {"code": …, "message": …}}`), or the start of the body.
fn error_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| format!("{}: {}", b.error.code, b.error.message));
    let mut message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if message.len() > MAX_ERROR_BODY {
        let mut cut = MAX_ERROR_BODY;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    if message.is_empty() {
        message = "(no message)".to_owned();
    }
    message
}

#[async_trait]
impl AuditSink for HttpSink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        for body in self.bodies(events) {
            self.send(body).await?;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_https_and_refuses_bad_urls_and_keys() {
        let s = HttpSink::new("https://audit.example.com/", "k").unwrap();
        assert_eq!(
            s.endpoint().as_str(),
            "https://audit.example.com/api/v1/audit/events"
        );
        assert!(HttpSink::new("ftp://x", "k").is_err());
        assert!(HttpSink::new("http://x?a=1", "k").is_err());
        assert!(HttpSink::new("not a url", "k").is_err());
        assert!(HttpSink::new("http://x", "").is_err());
        assert!(HttpSink::new("http://x", "bad\nkey").is_err());
    }

    #[tokio::test]
    async fn endpoint_and_redacted_debug() {
        let s = HttpSink::new("http://127.0.0.1:8080/", "cs_key_01_topsecret").unwrap();
        assert_eq!(
            s.endpoint().to_string(),
            "http://127.0.0.1:8080/api/v1/audit/events"
        );
        let s = HttpSink::new("http://127.0.0.1:8080/prefix", "cs_key_01_topsecret").unwrap();
        assert_eq!(
            s.endpoint().to_string(),
            "http://127.0.0.1:8080/prefix/api/v1/audit/events"
        );
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");
        let cfg = HttpSinkConfig::new("http://x", "cs_key_01_topsecret");
        assert!(!format!("{cfg:?}").contains("topsecret"));
    }

    #[test]
    fn error_messages_are_short() {
        assert_eq!(
            error_message(br#"{"error": {"code": "invalid_request", "message": "line 2: bad"}}"#),
            "invalid_request: line 2: bad"
        );
        assert_eq!(error_message(b""), "(no message)");
        let long = "é".repeat(1000);
        assert!(error_message(long.as_bytes()).len() <= MAX_ERROR_BODY + '…'.len_utf8());
    }

    #[tokio::test]
    async fn batches_split_by_count_and_by_size() {
        use countersign_domain::{Actor, Category, Resource, SystemActor};
        let events: Vec<AuditEvent> = (0..2_500)
            .map(|i| {
                AuditEvent::new(
                    Category::Audit,
                    "test.event",
                    Actor::system(SystemActor::Scheduler),
                    Resource::new("thing", i),
                )
            })
            .collect();
        let lines = |b: &Bytes| b.iter().filter(|c| **c == b'\n').count();
        let sink = HttpSink::new("http://127.0.0.1:9", "k").unwrap();
        let bodies = sink.bodies(&events);
        assert_eq!(
            bodies.iter().map(lines).collect::<Vec<_>>(),
            vec![1_000, 1_000, 500]
        );
        // Lines differ by a few bytes (timestamps drop trailing zeros): size for the longest.
        let one = events[..7]
            .iter()
            .map(|e| e.to_json_line().len() + 1)
            .max()
            .unwrap();
        let small = HttpSink::from_config(
            HttpSinkConfig::new("http://127.0.0.1:9", "k").max_body_bytes(one * 3),
        )
        .unwrap();
        let bodies = small.bodies(&events[..7]);
        assert_eq!(bodies.iter().map(lines).collect::<Vec<_>>(), vec![3, 3, 1]);
        assert!(bodies.iter().all(|b| b.len() <= one * 3));
    }
}
