//! The SQLite backend's integration tests, one test binary: a module per subject.

mod support;

mod conformance;
mod database_rules;
mod shared_file;
