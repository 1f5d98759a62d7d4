//! The HTTP client: hyper's pooled client over plain TCP or rustls (Mozilla's roots plus any
//! `--ca-cert`), the bearer key, JSON calls whose failures become [`CliError`]s, a streaming
//! `GET` for exports, and [`Query`] for percent-encoded query strings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::config::{ApiKey, Settings};
use crate::error::{ApiError, CliError};

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, CliError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| CliError::Other(anyhow::anyhow!("the server's answer is not JSON: {e}")))
    }
}

/// The API client for one server and key.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: Option<ApiKey>,
    timeout: Duration,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// A client for `settings`; `timeout` bounds each call until its answer's headers (and,
    /// for JSON calls, its body). `ca_cert` adds PEM roots to Mozilla's.
    pub fn new(
        settings: &Settings,
        timeout: Duration,
        ca_cert: Option<&Path>,
    ) -> Result<Self, CliError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let tls = tls_config(ca_cert)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            base: settings.url.clone(),
            key: settings.key.clone(),
            timeout,
            http: HyperClient::builder(TokioExecutor::new()).build(https),
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A JSON call: `GET`/`DELETE` without a body, `POST`/`PUT` with one. A non-2xx answer is
    /// a [`CliError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, CliError> {
        let body =
            body.map(|b| Bytes::from(serde_json::to_vec(b).expect("a JSON value serializes")));
        let req = self.request(method, path, body, headers)?;
        let work = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| self.transport(&e))?;
            let status = resp.status();
            let request_id = request_id(&resp);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.transport(&e))?
                .to_bytes();
            if status.is_success() {
                Ok(Answer { status, body })
            } else {
                Err(CliError::Api(ApiError::from_answer(
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

    /// A `GET` whose body is read by the caller as it arrives. Only the wait for the answer's
    /// headers is bounded by the timeout; an error answer is read whole and returned as
    /// [`CliError::Api`].
    pub async fn stream(
        &self,
        path: &str,
        accept: &'static str,
    ) -> Result<Response<Incoming>, CliError> {
        let req = self.request(Method::GET, path, None, &[("accept", accept.to_owned())])?;
        let resp = tokio::time::timeout(self.timeout, self.http.request(req))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.transport(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let request_id = request_id(&resp);
        let body = tokio::time::timeout(self.timeout, resp.into_body().collect())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.transport(&e))?
            .to_bytes();
        Err(CliError::Api(ApiError::from_answer(
            status, request_id, body,
        )))
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(&'static str, String)],
    ) -> Result<Request<Full<Bytes>>, CliError> {
        let url = format!("{}{}", self.base, path);
        let mut req = Request::builder().method(method).uri(&url).header(
            USER_AGENT,
            concat!("countersign-cli/", env!("CARGO_PKG_VERSION")),
        );
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
        {
            req = req.header(ACCEPT, "application/json");
        }
        match &self.key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| {
                        CliError::Usage("the API key holds characters a header cannot carry".into())
                    })?;
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
            }
            None if path.starts_with("/api/") => return Err(no_key()),
            None => {}
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| CliError::Usage(format!("{name}: the value must be visible ASCII")))?;
            req = req.header(*name, value);
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(body.unwrap_or_default()))
            .map_err(|e| CliError::Usage(format!("cannot build a request to {url}: {e}")))
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

fn request_id<B>(resp: &Response<B>) -> Option<String> {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The error and its sources, most specific last, without hyper's generic wrappers.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.starts_with("client error") && !parts.contains(&text) {
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

/// Mozilla's roots, plus the PEM certificates in `ca_cert`.
fn tls_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig, CliError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(CliError::Usage(format!(
                "--ca-cert {}: no PEM certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| CliError::Usage(format!("--ca-cert {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::Other(e.into()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
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
        let path =
            std::env::temp_dir().join(format!("countersign-cli-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = tls_config(Some(&path)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        assert!(tls_config(None).is_ok());
    }
}
