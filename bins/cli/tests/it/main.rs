//! The `countersign` CLI's end-to-end tests, one test binary: a module per subject.

mod support;

mod cli;
mod log_e2e;
mod log_fetch;
mod quickstart;
mod verify;
mod watch;
