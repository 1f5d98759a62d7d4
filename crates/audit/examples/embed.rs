//! A tiny service that embeds the Countersign audit recorder.
//!
//! ```text
//! cargo run -p countersign-audit --example embed
//! COUNTERSIGN_AUDIT_FILE=/tmp/audit.ndjson COUNTERSIGN_AUDIT_SERVICE=billing \
//!     cargo run -p countersign-audit --example embed
//! # also to a Countersign server (needs a key with audit.write):
//! COUNTERSIGN_AUDIT_URL=http://127.0.0.1:8080 COUNTERSIGN_AUDIT_API_KEY=cs_… \
//!     cargo run -p countersign-audit --features http --example embed
//! ```
//!
//! The recorder's mode and sizes come from `COUNTERSIGN_AUDIT_*` (async unless
//! `COUNTERSIGN_AUDIT_STRICT=true`); events go to an NDJSON file (a temp path by default).

use std::sync::Arc;

use countersign_audit::{
    AuditSink, FanoutSink, FileSink, FsyncPolicy, Recorder, RecorderConfig, Redacted,
};
use countersign_domain::Category;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let path = std::env::var_os("COUNTERSIGN_AUDIT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "countersign-audit-embed-{}.ndjson",
                std::process::id()
            ))
        });
    let file = FileSink::open(&path, FsyncPolicy::Always).await?;
    let sink: Arc<dyn AuditSink> = match http_sink()? {
        Some(http) => Arc::new(FanoutSink::default().with(file).with(http)),
        None => Arc::new(file),
    };

    let config = RecorderConfig::from_env();
    println!(
        "recording in {:?} mode to {} ({})",
        config.mode,
        sink.name(),
        path.display()
    );
    let recorder = Recorder::with_sink(config, sink);

    // A user changes a setting.
    let event = recorder
        .event(Category::Config, "feature_flag.updated")
        .user("u-42", Some("alice"))
        .resource("feature_flag", "new-checkout")
        .allowed_by("flags.write")
        .request_id("req-7f3a")
        .generations(Some(3), 4)
        .detail("enabled", true)
        .detail("rollout_percent", 25)
        .build()?;
    recorder.record(event).await?;

    // A webhook secret is rotated: the trail says so, without the secret.
    let new_secret = Redacted("whsec_not-for-the-audit-trail".to_owned());
    let event = recorder
        .event(Category::Auth, "webhook.secret_rotated")
        .user("u-42", Some("alice"))
        .resource("webhook", "wh-1")
        .secret_detail("secret", new_secret)
        .build()?;
    recorder.record(event).await?;

    // A refused request is audited too.
    let event = recorder
        .event(Category::Access, "report.read")
        .user("u-99", None)
        .resource("report", "q3-revenue")
        .denied(Some("reports.read"), "not in the finance group")
        .error("forbidden", "not in the finance group")
        .build()?;
    recorder.record(event).await?;

    recorder.flush().await?;
    recorder.shutdown().await?;

    let lines = std::fs::read_to_string(&path)?.lines().count();
    println!("{lines} audit events in {}", path.display());
    Ok(())
}

/// An HTTP sink when `COUNTERSIGN_AUDIT_URL` and `COUNTERSIGN_AUDIT_API_KEY` are set (and the
/// `http` feature is on).
#[cfg(feature = "http")]
fn http_sink() -> Result<Option<countersign_audit::HttpSink>, countersign_audit::SinkError> {
    match (
        std::env::var("COUNTERSIGN_AUDIT_URL"),
        std::env::var("COUNTERSIGN_AUDIT_API_KEY"),
    ) {
        (Ok(url), Ok(key)) => countersign_audit::HttpSink::new(&url, key).map(Some),
        _ => Ok(None),
    }
}

#[cfg(not(feature = "http"))]
fn http_sink() -> Result<Option<countersign_audit::NoopSink>, countersign_audit::SinkError> {
    if std::env::var_os("COUNTERSIGN_AUDIT_URL").is_some() {
        eprintln!("COUNTERSIGN_AUDIT_URL is ignored: build with --features http");
    }
    Ok(None)
}
