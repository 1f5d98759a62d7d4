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
    /// `COUNTERSIGN_EXPORT_MAX_LEAVES`: the most leaves a leaf-range export may ask for.
    pub export_max_leaves: u64,
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
    /// How often an event stream reads the outbox when nothing wakes it: on SQLite the only
    /// way it learns of new events; on PostgreSQL, where NOTIFY wakes it at once, a fallback.
    pub event_poll: Duration,
    /// How often the scheduler's delivery loop looks for work at most, when nothing wakes it
    /// (capped by its tick): on PostgreSQL NOTIFY wakes it when a message commits.
    pub delivery_poll: Duration,
    /// `COUNTERSIGN_LOG_PUBLIC`: the log's checkpoint, key and hash tiles are readable
    /// without a key (entry bundles and proofs still need `log.read`).
    pub log_public: bool,
    /// `COUNTERSIGN_LOG_BATCH`: events the sequencer turns into leaves per transaction.
    pub log_batch: u32,
    /// `COUNTERSIGN_LOG_CHECKPOINT_LEAVES`: a checkpoint is signed once this many leaves were
    /// added since the last one…
    pub log_checkpoint_leaves: u64,
    /// `COUNTERSIGN_LOG_CHECKPOINT_INTERVAL`: …or once this long has passed (and it grew).
    pub log_checkpoint_interval: Duration,
    /// `COUNTERSIGN_LOG_SELF_CHECK_LEAVES`: leaves the self-check re-reads per pass (a
    /// rolling window over the whole log).
    pub log_self_check_leaves: u64,
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
            export_max_leaves: 10_000_000,
            default_lease: Duration::from_secs(60),
            max_lease: Duration::from_secs(3600),
            max_attempts: 3,
            scheduler_batch: 100,
            public_url: None,
            webhook_retry_schedule: countersign_domain::webhook::DEFAULT_RETRY_SCHEDULE.to_vec(),
            webhook_timeout: Duration::from_secs(15),
            webhook_lease: Duration::from_secs(60),
            event_poll: Duration::from_millis(250),
            delivery_poll: Duration::from_secs(1),
            log_public: false,
            log_batch: 10_000,
            log_checkpoint_leaves: 10_000,
            log_checkpoint_interval: Duration::from_secs(1),
            log_self_check_leaves: 10_000,
            session_idle_timeout: Duration::from_secs(30 * 60),
        }
    }
}
