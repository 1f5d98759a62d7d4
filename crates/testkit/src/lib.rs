//! What the integration tests of every crate share, written once:
//!
//! - [`prometheus`]: reading samples out of the Prometheus text exposition;
//! - [`tempdir`]: scratch directories, removed on drop;
//! - [`names`]: names no other running test uses;
//! - [`postgres`]: a PostgreSQL database made for one test and dropped after it;
//! - [`binaries`]: the `countersign-server` and `countersign-scheduler` executables, built
//!   once per test process;
//! - [`process`]: those binaries (or any other) as child processes with a clean environment,
//!   their output in files, readiness, and SIGTERM/SIGINT;
//! - [`database_rules`]: the rules every backend's schema enforces, written once;
//! - [`http`]: one blocking HTTP/1.1 exchange, for polling a process.
//!
//! A development dependency only: nothing here ships.

pub mod binaries;
pub mod database_rules;
pub mod http;
pub mod names;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod tempdir;

pub use names::unique;
pub use postgres::PgDatabase;
pub use process::Proc;
pub use tempdir::TempDir;
