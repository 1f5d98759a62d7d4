//! `countersign-server` settings.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args};
use countersign_http::HttpConfig;
use countersign_service::ServiceConfig;

use crate::database::{parse_database_url, DatabaseUrl};
use crate::units::{parse_duration, parse_size};
use crate::{parse_bool, ConfigError};

/// With nothing configured: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://countersign.db?mode=rwc";

/// Where the database is: `COUNTERSIGN_DATABASE_URL`, else `DATABASE_URL`.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `postgres://…` or `sqlite://FILE?mode=rwc` (else DATABASE_URL, else
    /// `sqlite://countersign.db?mode=rwc` in the working directory).
    #[arg(
        long = "database-url",
        env = "COUNTERSIGN_DATABASE_URL",
        hide_env_values = true,
        value_parser = parse_database_url
    )]
    pub database_url: Option<DatabaseUrl>,
    /// Database URL of the role that owns the schema, used only to apply migrations (the
    /// `migrate` command and auto-migrate at start); the service itself connects with
    /// `COUNTERSIGN_DATABASE_URL`, which can then be a role that owns nothing.
    #[arg(
        long = "migrate-database-url",
        env = "COUNTERSIGN_MIGRATE_DATABASE_URL",
        hide_env_values = true,
        value_parser = parse_database_url
    )]
    pub migrate_database_url: Option<DatabaseUrl>,
    /// Largest number of pooled database connections.
    #[arg(
        long,
        env = "COUNTERSIGN_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub database_max_connections: u32,
}

impl DatabaseArgs {
    /// The configured URL, falling back to `DATABASE_URL`, then to a SQLite file in the
    /// working directory.
    pub fn url(&self) -> Result<DatabaseUrl, ConfigError> {
        let url = self
            .database_url
            .clone()
            .filter(|u| !u.expose().is_empty())
            .or_else(|| {
                std::env::var("DATABASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .map(DatabaseUrl::new)
            })
            .unwrap_or_else(|| DatabaseUrl::new(DEFAULT_DATABASE_URL));
        check_scheme("COUNTERSIGN_DATABASE_URL", url)
    }

    /// The URL migrations run with: `COUNTERSIGN_MIGRATE_DATABASE_URL` when set, else
    /// [`url`](Self::url).
    pub fn migrate_url(&self) -> Result<DatabaseUrl, ConfigError> {
        match self
            .migrate_database_url
            .clone()
            .filter(|u| !u.expose().is_empty())
        {
            Some(url) => check_scheme("COUNTERSIGN_MIGRATE_DATABASE_URL", url),
            None => self.url(),
        }
    }
}

/// `url` when its scheme names a backend; else an error naming `setting`.
fn check_scheme(setting: &'static str, url: DatabaseUrl) -> Result<DatabaseUrl, ConfigError> {
    match url.backend() {
        Some(_) => Ok(url),
        None => Err(ConfigError::new(
            setting,
            format!(
                "unsupported scheme `{}` (postgres://… or sqlite://…)",
                url.scheme()
            ),
        )),
    }
}

/// Everything `countersign-server` reads from flags and the environment.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "COUNTERSIGN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Decide every approval at once as `system:bypass` (never in production).
    #[arg(long, env = "COUNTERSIGN_APPROVAL_BYPASS", default_value = "false", value_parser = parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub approval_bypass: bool,
    /// Approval timeout for policies that set none.
    #[arg(long, env = "COUNTERSIGN_APPROVAL_TIMEOUT", default_value = "168h", value_parser = parse_duration)]
    pub approval_timeout: Duration,
    /// Widest window one export may cover.
    #[arg(long, env = "COUNTERSIGN_EXPORT_MAX_WINDOW", default_value = "90d", value_parser = parse_duration)]
    pub export_max_window: Duration,
    /// Most leaves one leaf-range export may cover.
    #[arg(
        long,
        env = "COUNTERSIGN_EXPORT_MAX_LEAVES",
        default_value = "10000000"
    )]
    pub export_max_leaves: u64,
    /// Largest request body (the ingest endpoint allows ten times this).
    #[arg(long, env = "COUNTERSIGN_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// How long a request may take before it is answered 503.
    #[arg(long, env = "COUNTERSIGN_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Anonymous refusals per client address and minute audited one by one (the rest are
    /// written as one summary event per minute).
    #[arg(
        long,
        env = "COUNTERSIGN_ANON_DENY_AUDIT_PER_MIN",
        default_value = "100"
    )]
    pub anon_deny_audit_per_min: u32,
    /// Anonymous refusals per client address and minute past which the answer is 429.
    #[arg(
        long,
        env = "COUNTERSIGN_ANON_RATE_LIMIT_PER_MIN",
        default_value = "1000"
    )]
    pub anon_rate_limit_per_min: u32,
    /// Apply pending migrations when `serve` starts.
    #[arg(long, env = "COUNTERSIGN_AUTO_MIGRATE", default_value = "true", value_parser = parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub auto_migrate: bool,
    /// On a database with no enabled admin, create one at start and print its key once.
    #[arg(long, env = "COUNTERSIGN_BOOTSTRAP_ADMIN", default_value = "true", value_parser = parse_bool, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub bootstrap_admin: bool,
    /// `text` or `json` logs.
    #[arg(long, env = "COUNTERSIGN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The console's public base URL; notifications link to `{url}/ui/approvals/{id}`.
    #[arg(long, env = "COUNTERSIGN_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub log: crate::log::ServerLogArgs,
    /// A console session with no page asked for in this long has ended.
    #[arg(long, env = "COUNTERSIGN_SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// How often an open event stream reads the outbox when nothing wakes it (on SQLite the
    /// only way it learns of new events; on PostgreSQL NOTIFY wakes it, and this is a fallback).
    #[arg(long, env = "COUNTERSIGN_EVENT_POLL", default_value = "250ms", value_parser = parse_duration)]
    pub event_poll: Duration,
}

impl ServerConfig {
    /// Check every rule the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.url()?;
        validate_public_url(self.public_url.as_deref())?;
        if self.database.database_max_connections == 0 {
            return Err(ConfigError::new(
                "COUNTERSIGN_DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.approval_timeout.as_secs() < 1 || self.approval_timeout.as_secs() > 366 * 86_400 {
            return Err(ConfigError::new(
                "COUNTERSIGN_APPROVAL_TIMEOUT",
                "must be between 1s and 366d",
            ));
        }
        if self.export_max_window.as_secs() < 60 {
            return Err(ConfigError::new(
                "COUNTERSIGN_EXPORT_MAX_WINDOW",
                "must be at least 1m",
            ));
        }
        if self.export_max_leaves < 1 {
            return Err(ConfigError::new(
                "COUNTERSIGN_EXPORT_MAX_LEAVES",
                "must be at least 1",
            ));
        }
        if self.max_body < 1024 || self.max_body > 64 << 20 {
            return Err(ConfigError::new(
                "COUNTERSIGN_MAX_BODY",
                "must be between 1KiB and 64MiB",
            ));
        }
        if self.request_timeout < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "COUNTERSIGN_REQUEST_TIMEOUT",
                "must be at least 100ms",
            ));
        }
        if self.session_idle_timeout < Duration::from_secs(1)
            || self.session_idle_timeout > Duration::from_secs(30 * 86_400)
        {
            return Err(ConfigError::new(
                "COUNTERSIGN_SESSION_IDLE_TIMEOUT",
                "must be between 1s and 30d",
            ));
        }
        crate::units::check_poll("COUNTERSIGN_EVENT_POLL", self.event_poll)?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::new(
                "COUNTERSIGN_LOG_FORMAT",
                "must be `text` or `json`",
            ));
        }
        self.log.verifier()?;
        Ok(())
    }

    pub fn service(&self) -> ServiceConfig {
        ServiceConfig {
            approval_bypass: self.approval_bypass,
            default_approval_timeout: self.approval_timeout,
            export_max_window: self.export_max_window,
            export_max_leaves: self.export_max_leaves,
            public_url: self.public_url.clone(),
            log_public: self.log.public,
            session_idle_timeout: self.session_idle_timeout,
            event_poll: self.event_poll,
            ..ServiceConfig::default()
        }
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            max_body: self.max_body,
            request_timeout: self.request_timeout,
            anon_deny_audit_per_min: self.anon_deny_audit_per_min,
            anon_rate_limit_per_min: self.anon_rate_limit_per_min,
            ..HttpConfig::default()
        }
    }
}

/// `COUNTERSIGN_PUBLIC_URL`, when set, is an `http://` or `https://` URL with a host.
pub(crate) fn validate_public_url(url: Option<&str>) -> Result<(), ConfigError> {
    match url {
        Some(u) if countersign_service::webhooks::validate_base_url(u).is_err() => {
            Err(ConfigError::new(
                "COUNTERSIGN_PUBLIC_URL",
                "must be an http:// or https:// URL",
            ))
        }
        _ => Ok(()),
    }
}
