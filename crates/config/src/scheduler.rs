//! `countersign-scheduler` settings.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args};
use countersign_service::ServiceConfig;

use crate::server::DatabaseArgs;
use crate::units::parse_duration;
use crate::ConfigError;

/// Everything `countersign-scheduler` reads from flags and the environment.
#[derive(Debug, Clone, Args)]
pub struct SchedulerConfig {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address for `/healthz` and `/metrics`.
    #[arg(
        long,
        env = "COUNTERSIGN_SCHEDULER_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,
    /// How often every loop runs.
    #[arg(long, env = "COUNTERSIGN_SCHEDULER_TICK", default_value = "10s", value_parser = parse_duration)]
    pub tick: Duration,
    /// Claims whose lease ran out this many times fail instead of going back to pending.
    #[arg(long, env = "COUNTERSIGN_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: i32,
    /// Rows one loop handles per transaction.
    #[arg(long, env = "COUNTERSIGN_SCHEDULER_BATCH", default_value_t = 100)]
    pub batch: u32,
    /// Apply pending migrations at start (so a scheduler started first finds its tables).
    #[arg(long, env = "COUNTERSIGN_AUTO_MIGRATE", default_value = "true", value_parser = crate::parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub auto_migrate: bool,
    /// Run every loop once and exit.
    #[arg(long, default_value = "false", value_parser = crate::parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub once: bool,
    /// `text` or `json` logs.
    #[arg(long, env = "COUNTERSIGN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The console's public base URL; notifications link to `{url}/ui/approvals/{id}`.
    #[arg(long, env = "COUNTERSIGN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Delays before each webhook delivery retry, comma-separated (jittered ±10 %); after
    /// the last one a delivery is `failed`.
    #[arg(
        long,
        env = "COUNTERSIGN_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,14h,20h,24h",
        value_delimiter = ',',
        value_parser = parse_duration
    )]
    pub webhook_retry_schedule: Vec<Duration>,
    /// How long one webhook delivery attempt may take.
    #[arg(long, env = "COUNTERSIGN_WEBHOOK_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,
    /// How long a claimed delivery is held for its scheduler; longer than the timeout. A
    /// scheduler that dies mid-attempt leaves the delivery to the others after this.
    #[arg(long, env = "COUNTERSIGN_WEBHOOK_LEASE", default_value = "60s", value_parser = parse_duration)]
    pub webhook_lease: Duration,
    /// How often the delivery loop looks for due webhook deliveries when nothing wakes it (on
    /// PostgreSQL NOTIFY wakes it when a message commits, and this is a fallback).
    #[arg(long, env = "COUNTERSIGN_DELIVERY_POLL", default_value = "1s", value_parser = parse_duration)]
    pub delivery_poll: Duration,
    #[command(flatten)]
    pub log: crate::log::SchedulerLogArgs,
}

impl SchedulerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.url()?;
        if self.tick < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "COUNTERSIGN_SCHEDULER_TICK",
                "must be at least 100ms",
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(ConfigError::new(
                "COUNTERSIGN_MAX_ATTEMPTS",
                "must be between 1 and 100",
            ));
        }
        if !(1..=10_000).contains(&self.batch) {
            return Err(ConfigError::new(
                "COUNTERSIGN_SCHEDULER_BATCH",
                "must be between 1 and 10000",
            ));
        }
        crate::server::validate_public_url(self.public_url.as_deref())?;
        if self.webhook_retry_schedule.len() > 100 {
            return Err(ConfigError::new(
                "COUNTERSIGN_WEBHOOK_RETRY_SCHEDULE",
                "at most 100 delays",
            ));
        }
        if self.webhook_timeout.is_zero() {
            return Err(ConfigError::new(
                "COUNTERSIGN_WEBHOOK_TIMEOUT",
                "must be more than 0",
            ));
        }
        if self.webhook_lease <= self.webhook_timeout {
            return Err(ConfigError::new(
                "COUNTERSIGN_WEBHOOK_LEASE",
                "must be longer than COUNTERSIGN_WEBHOOK_TIMEOUT",
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::new(
                "COUNTERSIGN_LOG_FORMAT",
                "must be `text` or `json`",
            ));
        }
        crate::units::check_poll("COUNTERSIGN_DELIVERY_POLL", self.delivery_poll)?;
        self.log.validate()?;
        self.log.signer()?;
        Ok(())
    }

    pub fn service(&self) -> ServiceConfig {
        ServiceConfig {
            max_attempts: self.max_attempts,
            scheduler_batch: self.batch,
            public_url: self.public_url.clone(),
            webhook_retry_schedule: self.webhook_retry_schedule.clone(),
            webhook_timeout: self.webhook_timeout,
            webhook_lease: self.webhook_lease,
            delivery_poll: self.delivery_poll,
            log_batch: self.log.batch,
            log_checkpoint_leaves: self.log.checkpoint_leaves,
            log_checkpoint_interval: self.log.checkpoint_interval,
            log_self_check_leaves: self.log.self_check_leaves,
            ..ServiceConfig::default()
        }
    }
}
