//! Countersign's embeddable audit recorder.
//!
//! Other Rust services link this crate to emit the very same `countersign.audit.v1` events
//! as the Countersign server ([`countersign_domain::AuditEvent`]), to wherever suits them:
//! the server's ingest endpoint, its database, an NDJSON file, or several at once.
//!
//! - [`sink`] — the [`AuditSink`] trait and the sinks: [`NoopSink`], [`MemorySink`],
//!   [`FileSink`], [`FanoutSink`], `HttpSink` (feature `http`), `StoreSink` (feature
//!   `postgres`).
//! - [`recorder`] — [`Recorder`], strict (write-through, errors reach the caller) or async
//!   (bounded queue, batching, drops counted and reported by an `audit.loss` event).
//! - [`config`] — [`RecorderConfig`], from code, a builder, or `COUNTERSIGN_AUDIT_*` variables.
//! - [`builder`] — [`EventBuilder`], which builds and validates events.
//! - [`redact`] — [`Redacted`], which never prints nor serializes its value.
//! - [`retry`] — [`RetryPolicy`], bounded exponential backoff with jitter.
//! - [`telemetry`] — the `countersign_audit_writes_total{sink,status}` counter.
//! - [`error`] — [`SinkError`], [`RecordError`], [`BuildError`] and the error policy.
//!
//! ```no_run
//! use countersign_audit::{FileSink, FsyncPolicy, Recorder, RecorderConfig};
//! use countersign_domain::Category;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = FileSink::open("/var/log/myservice/audit.ndjson", FsyncPolicy::Always).await?;
//! let recorder = Recorder::new(RecorderConfig::from_env(), sink);
//! let event = recorder
//!     .event(Category::Config, "feature_flag.updated")
//!     .user("u-42", Some("alice"))
//!     .resource("feature_flag", "new-checkout")
//!     .detail("enabled", true)
//!     .build()?;
//! recorder.record(event).await?;
//! recorder.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod builder;
pub mod config;
pub mod error;
pub mod recorder;
pub mod redact;
pub mod retry;
pub mod sink;
pub mod telemetry;

pub use builder::EventBuilder;
pub use config::{Mode, RecorderConfig, RecorderConfigBuilder};
pub use error::{BuildError, RecordError, SinkError};
pub use recorder::{Recorded, Recorder};
pub use redact::Redacted;
pub use retry::RetryPolicy;
#[cfg(feature = "postgres")]
pub use sink::StoreSink;
pub use sink::{AuditSink, FanoutSink, FileSink, FsyncPolicy, MemorySink, NoopSink};
#[cfg(feature = "http")]
pub use sink::{HttpSink, HttpSinkConfig};

/// The domain crate, re-exported so embedders need one dependency for events and actors.
pub use countersign_domain as domain;
