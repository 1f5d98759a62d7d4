//! The Prometheus exporter and the HTTP request counter.
//!
//! The `metrics` facade has one global recorder per process; [`prometheus`] installs it once
//! (with the contract's buckets for the pending-age histogram) and hands out its handle.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// `countersign_http_requests_total{method,route,status}`.
pub const HTTP_REQUESTS_TOTAL: &str = "countersign_http_requests_total";
/// `countersign_http_request_duration_seconds{method,route}`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "countersign_http_request_duration_seconds";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use. If another
/// recorder was installed first (an embedding application's), metrics go there and this
/// handle renders an empty page.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(
                    countersign_service::metrics::APPROVAL_PENDING_AGE_SECONDS.to_owned(),
                ),
                countersign_service::metrics::PENDING_AGE_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(
                        countersign_service::metrics::WEBHOOK_DELIVERY_LATENCY_SECONDS.to_owned(),
                    ),
                    countersign_service::metrics::DELIVERY_LATENCY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
                    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0],
                )
            })
            .expect("static, non-empty buckets");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

/// HELP text for every series, this crate's and the service's.
fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, matched route and status."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route."
    );
    countersign_service::metrics::describe();
}

/// Count every request by method, matched route (never the raw path: ids would explode the
/// label set) and status.
pub async fn middleware(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
