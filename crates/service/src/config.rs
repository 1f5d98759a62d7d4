//! The service's settings, validated by the binaries before they build a [`crate::Service`].

use std::time::Duration;

/// Settings the use cases need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `COUNTERSIGN_APPROVAL_BYPASS`: decide every approval at once as `system:bypass`.
    pub approval_bypass: bool,
    /// `COUNTERSIGN_APPROVAL_TIMEOUT`: for policies that set none.
    pub default_approval_timeout: Duration,
    /// `COUNTERSIGN_EXPORT_MAX_WINDOW`: the widest `to - from` an export may ask for.
    pub export_max_window: Duration,
    /// The lease a claim gets when it asks for none.
    pub default_lease: Duration,
    /// The longest lease a claim may ask for.
    pub max_lease: Duration,
    /// After this many claims whose lease ran out, a job fails instead of going back to
    /// `pending`.
    pub max_attempts: i32,
    /// How many rows one scheduler step locks and handles per transaction.
    pub scheduler_batch: u32,
    /// `COUNTERSIGN_PUBLIC_URL`: where the console is reached; notifications link to
    /// `{public_url}/ui/approvals/{id}` (`console_url`, null when unset).
    pub public_url: Option<String>,
    /// `COUNTERSIGN_WEBHOOK_RETRY_SCHEDULE`: the delay after each failed delivery attempt
    /// (jittered); after the last one the delivery is `failed`.
    pub webhook_retry_schedule: Vec<Duration>,
    /// How long one delivery attempt may take (the contract's 15 s).
    pub webhook_timeout: Duration,
    /// How long a claimed delivery is held for its sender; a sender that dies mid-attempt
    /// leaves the delivery due again after this (the same `webhook-id` is sent again).
    pub webhook_lease: Duration,
    /// `COUNTERSIGN_SESSION_IDLE_TIMEOUT`: a console session with no page asked for in this
    /// long has ended.
    pub session_idle_timeout: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            approval_bypass: false,
            default_approval_timeout: Duration::from_secs(168 * 3600),
            export_max_window: Duration::from_secs(90 * 24 * 3600),
            default_lease: Duration::from_secs(60),
            max_lease: Duration::from_secs(3600),
            max_attempts: 3,
            scheduler_batch: 100,
            public_url: None,
            webhook_retry_schedule: countersign_domain::webhook::DEFAULT_RETRY_SCHEDULE.to_vec(),
            webhook_timeout: Duration::from_secs(15),
            webhook_lease: Duration::from_secs(60),
            session_idle_timeout: Duration::from_secs(30 * 60),
        }
    }
}
