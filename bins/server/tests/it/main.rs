//! The server's process tests, one test binary: a module per subject.

mod support;

mod e2e;
mod log_crash;
mod log_keys;
mod ops;
mod runtime_role;
mod webhook_crash;
