//! The HTTP client: reqwest over plain TCP or rustls (Mozilla's roots plus any `--ca-cert`),
//! the bearer key, typed JSON calls whose failures become [`CliError`]s, a streaming `GET` for
//! exports, and [`Query`] for percent-encoded query strings.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::config::Settings;
use crate::error::{CliError, ErrorAnswer};

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as untyped JSON (for `countersign api` and fields no view names).
    pub fn json(&self) -> Result<serde_json::Value, CliError> {
        self.parse()
    }

    /// The body as a typed value.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, CliError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "the server's answer is not what this CLI expects: {e}"
            ))
        })
    }
}

/// The API client for one server and key.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: Option<SecretString>,
    timeout: Duration,
    http: reqwest::Client,
}

impl Client {
    /// A client for `settings`; `timeout` bounds each call until its answer's headers (and,
    /// for JSON calls, its body). `ca_cert` adds PEM roots to Mozilla's.
    pub fn new(
        settings: &Settings,
        timeout: Duration,
        ca_cert: Option<&Path>,
    ) -> Result<Self, CliError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("countersign-cli/", env!("CARGO_PKG_VERSION")));
        for cert in extra_roots(ca_cert)? {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Other(anyhow::anyhow!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base: settings.url.clone(),
            key: settings.key.clone(),
            timeout,
            http,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A call: `GET`/`DELETE` without a body, `POST`/`PUT` with a JSON one. A non-2xx answer
    /// is a [`CliError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, CliError> {
        self.exchange(method, path, body, headers, true).await
    }

    /// A `GET` of a route the server may serve without a key (the transparency log's
    /// checkpoint, verifier key and hash tiles): the key is sent when one is configured.
    pub async fn get_public(&self, path: &str, accept: &str) -> Result<Answer, CliError> {
        self.exchange(
            Method::GET,
            path,
            None,
            &[("accept", accept.to_owned())],
            false,
        )
        .await
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
        key_required: bool,
    ) -> Result<Answer, CliError> {
        let mut req = self.request(method, path, headers, key_required)?;
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).expect("a JSON value serializes"));
        }
        let work = async {
            let resp = req.send().await.map_err(|e| self.transport(&e))?;
            let status = resp.status();
            let request_id = request_id(&resp);
            let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
            if status.is_success() {
                Ok(Answer { status, body })
            } else {
                Err(CliError::Api(ErrorAnswer::from_answer(
                    status.as_u16(),
                    request_id,
                    body,
                )))
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| self.timed_out())?
    }

    pub async fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<Answer, CliError> {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// `GET` a typed answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.get(path).await?.parse()
    }

    /// A `GET` whose body is read by the caller as it arrives. Only the wait for the answer's
    /// headers is bounded by the timeout; an error answer is read whole and returned as
    /// [`CliError::Api`].
    pub async fn stream(&self, path: &str, accept: &'static str) -> Result<Response, CliError> {
        self.stream_with(path, accept, &[]).await
    }

    /// [`Client::stream`] with more request headers (e.g. `Last-Event-ID`).
    pub async fn stream_with(
        &self,
        path: &str,
        accept: &'static str,
        headers: &[(&'static str, String)],
    ) -> Result<Response, CliError> {
        let mut all = vec![("accept", accept.to_owned())];
        all.extend_from_slice(headers);
        let req = self.request(Method::GET, path, &all, true)?;
        let resp = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.transport(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let request_id = request_id(&resp);
        let body = tokio::time::timeout(self.timeout, resp.bytes())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.transport(&e))?;
        Err(CliError::Api(ErrorAnswer::from_answer(
            status, request_id, body,
        )))
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, String)],
        key_required: bool,
    ) -> Result<RequestBuilder, CliError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
        {
            req = req.header(ACCEPT, "application/json");
        }
        match &self.key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| {
                    CliError::Usage("the API key holds characters a header cannot carry".into())
                })?;
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
            }
            None if key_required && path.starts_with("/api/") => return Err(no_key()),
            None => {}
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| CliError::Usage(format!("{name}: the value must be visible ASCII")))?;
            req = req.header(*name, value);
        }
        Ok(req)
    }

    /// A transport failure: the server could not be reached or the connection broke.
    pub fn transport(&self, e: &(dyn std::error::Error + 'static)) -> CliError {
        CliError::Unreachable {
            url: self.base.clone(),
            detail: error_chain(e),
        }
    }

    fn timed_out(&self) -> CliError {
        CliError::Unreachable {
            url: self.base.clone(),
            detail: format!(
                "no answer within {}s (see --timeout)",
                self.timeout.as_secs()
            ),
        }
    }
}

fn no_key() -> CliError {
    let path = crate::config::default_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/countersign/config.toml".to_owned());
    CliError::Usage(format!(
        "no API key: set COUNTERSIGN_API_KEY, pass --key, or put `api_key = \"…\"` in {path}"
    ))
}

fn request_id(resp: &Response) -> Option<String> {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The error and its sources, most specific last, without reqwest's generic wrappers.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        let generic = text.starts_with("error sending request")
            || text.starts_with("client error")
            || text.starts_with("error decoding response body");
        if !generic && !parts.contains(&text) {
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

/// The PEM certificates in `ca_cert`, to trust beside Mozilla's roots.
fn extra_roots(ca_cert: Option<&Path>) -> Result<Vec<reqwest::Certificate>, CliError> {
    let Some(path) = ca_cert else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(CliError::Usage(format!(
            "--ca-cert {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// Query parameters, percent-encoded; `None`s are left out.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn opt(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.0.push((name, v.to_string()));
        }
        self
    }

    pub fn set(&mut self, name: &'static str, value: impl ToString) {
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value.to_string()));
    }

    /// `?a=1&b=2`, or `""` when empty.
    pub fn render(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(n, v)| format!("{n}={}", encode(v)))
            .collect();
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (so it is safe in a path
/// segment as in a query value).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_encode_and_skip_nones() {
        let mut q = Query::new()
            .opt("from", Some("2026-05-20T00:00:00+02:00"))
            .opt("state", None::<&str>)
            .opt("limit", Some(5));
        assert_eq!(
            q.render(),
            "?from=2026-05-20T00%3A00%3A00%2B02%3A00&limit=5"
        );
        q.set("limit", 7);
        assert_eq!(
            q.render(),
            "?from=2026-05-20T00%3A00%3A00%2B02%3A00&limit=7"
        );
        assert_eq!(Query::new().render(), "");
        assert_eq!(encode("apr_01/../x y"), "apr_01%2F..%2Fx%20y");
    }

    #[test]
    fn a_missing_key_is_a_usage_error_before_any_request() {
        let settings = Settings {
            url: "http://127.0.0.1:1".into(),
            key: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(async {
            let c = Client::new(&settings, Duration::from_secs(1), None).unwrap();
            c.get("/api/v1/auth/whoami").await.unwrap_err()
        });
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        assert!(err.to_string().starts_with("no API key"), "{err}");
    }

    #[test]
    fn a_ca_cert_that_is_not_pem_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = extra_roots(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        assert!(extra_roots(None).unwrap().is_empty());
    }
}
