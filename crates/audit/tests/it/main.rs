//! The audit crate's integration tests, one test binary: a module per subject.

mod support;

mod fanout;
mod file_sink;
#[cfg(feature = "http")]
mod http_sink;
mod recorder;
mod redaction;
#[cfg(feature = "postgres")]
mod store_sink;
