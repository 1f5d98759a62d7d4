//! The HTTP API's integration tests, one binary: the real router (or a real server on port 0)
//! over a real database, each test on PostgreSQL and on SQLite (see [`support::backends`]).

#[macro_use]
mod support;

mod approval_cancel;
mod approval_expiry;
mod audit_export;
mod audit_ingest;
mod audit_query;
mod auth_admin;
mod auth_header;
mod bad_input;
mod console;
mod deny_flood;
mod eligibility;
mod event_stream;
mod gates;
mod key_escalation;
mod key_lifecycle;
mod log;
mod log_export;
mod log_leaf_size;
mod metrics;
mod nul_bytes;
mod races;
mod reminders;
mod roles;
mod scheduler;
mod self_vote;
mod slack_webhooks;
mod smoke;
mod unavailable;
mod webhook_backlog;
mod webhooks;
mod workflow;
