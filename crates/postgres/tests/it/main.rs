//! The PostgreSQL backend's integration tests, one test binary: a module per subject.

mod conformance;
mod database_rules;
mod runtime_role;
mod skip_locked;
