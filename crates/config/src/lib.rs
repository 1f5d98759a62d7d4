//! The binaries' assembly: typed configuration (one struct per binary, from flags and
//! environment, validated at start, with secrets redacted in `Debug`), and what turns it into
//! a running process — opening the backend the database URL names (the only library crate
//! that names both), start-up with migrations and retries, tracing and the shutdown signal.
//!
//! - [`units`] — `10s`, `168h`, `90d` durations (`humantime`) and `1MiB` sizes.
//! - [`database`] — [`DatabaseUrl`], whose `Debug` and `Display` hide the password.
//! - [`backend`] — [`Database`]: the URL's scheme picks PostgreSQL or SQLite.
//! - [`server`] — [`ServerConfig`] for `countersign-server`.
//! - [`scheduler`] — [`SchedulerConfig`] for `countersign-scheduler`.
//! - [`log`] — the transparency log's settings, its key file and `log keygen`.
//! - [`process`] — tracing setup and the SIGTERM/Ctrl-C shutdown future.
//! - [`startup`] — migrations as the owner, retried while the database is down, and the
//!   warning about an unsafe database role.

pub mod backend;
pub mod database;
pub mod log;
pub mod process;
pub mod scheduler;
pub mod server;
pub mod startup;
pub mod units;

pub use backend::Database;
pub use database::DatabaseUrl;
pub use scheduler::SchedulerConfig;
pub use server::ServerConfig;

/// A setting that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

/// Parse a boolean the way operators write them: 1/true/yes/on and 0/false/no/off. Every
/// boolean flag takes it the same way: `--flag` alone means true, `--flag=false` (or any
/// value above) sets it, and its environment variable takes the same values.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!(
            "`{other}` is not a boolean (true/false, 1/0, yes/no)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["1", "true", "TRUE", "yes", "on"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for f in ["0", "false", "no", "off", ""] {
            assert_eq!(parse_bool(f), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Server {
        #[command(flatten)]
        config: ServerConfig,
        #[arg(long)]
        subcommand_like: Option<String>,
    }

    #[derive(Debug, clap::Parser)]
    struct Scheduler {
        #[command(flatten)]
        config: SchedulerConfig,
    }

    /// The configuration prints (as the binaries log it at debug level) without the database
    /// passwords.
    #[test]
    fn configuration_debug_hides_database_passwords() {
        use clap::Parser;
        let s = Server::try_parse_from([
            "countersign-server",
            "--database-url=postgres://app:s3cr3t@db/cs",
            "--migrate-database-url=postgres://owner:0wn3r@db/cs",
        ])
        .unwrap();
        let shown = format!("{:?}", s.config);
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("0wn3r"),
            "{shown}"
        );
        assert_eq!(
            s.config.database.url().unwrap().expose(),
            "postgres://app:s3cr3t@db/cs"
        );
        assert_eq!(
            s.config.database.migrate_url().unwrap().expose(),
            "postgres://owner:0wn3r@db/cs"
        );
        let s = Server::try_parse_from(["countersign-server", "--database-url=postgres://a@h/x"])
            .unwrap();
        assert_eq!(
            s.config.database.migrate_url().unwrap().expose(),
            "postgres://a@h/x"
        );
    }

    /// `--flag=false`, `--flag=off`, bare `--flag`, and the default, for every boolean flag.
    #[test]
    fn boolean_flags_parse_one_way() {
        use clap::Parser;
        let s = Server::try_parse_from([
            "countersign-server",
            "--bootstrap-admin=false",
            "--auto-migrate=off",
            "--approval-bypass",
        ])
        .unwrap();
        assert!(!s.config.bootstrap_admin);
        assert!(!s.config.auto_migrate);
        assert!(s.config.approval_bypass);
        let s = Server::try_parse_from([
            "countersign-server",
            "--auto-migrate",
            "--subcommand-like",
            "x",
        ])
        .unwrap();
        assert!(s.config.auto_migrate && s.config.bootstrap_admin && !s.config.approval_bypass);
        assert!(Server::try_parse_from(["countersign-server", "--auto-migrate=maybe"]).is_err());
        let s = Scheduler::try_parse_from([
            "countersign-scheduler",
            "--auto-migrate=false",
            "--once=yes",
        ])
        .unwrap();
        assert!(!s.config.auto_migrate && s.config.once);
        let s = Scheduler::try_parse_from(["countersign-scheduler", "--once"]).unwrap();
        assert!(s.config.auto_migrate && s.config.once);
    }

    /// The webhook retry schedule: the contract's default, a custom list, a bad duration; and
    /// the public URL the notifications link to.
    #[test]
    fn webhook_settings() {
        use clap::Parser;
        use std::time::Duration;
        let s = Scheduler::try_parse_from(["countersign-scheduler"]).unwrap();
        assert_eq!(
            s.config.service().webhook_retry_schedule,
            countersign_service::ServiceConfig::default().webhook_retry_schedule
        );
        assert_eq!(s.config.webhook_retry_schedule.len(), 9);
        assert_eq!(
            s.config.webhook_retry_schedule[8],
            Duration::from_secs(24 * 3600)
        );
        let s = Scheduler::try_parse_from([
            "countersign-scheduler",
            "--webhook-retry-schedule=1s,2m",
            "--public-url=https://cs.example.com",
        ])
        .unwrap();
        let service = s.config.service();
        assert_eq!(
            service.webhook_retry_schedule,
            [Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(
            service.public_url.as_deref(),
            Some("https://cs.example.com")
        );
        assert!(Scheduler::try_parse_from([
            "countersign-scheduler",
            "--webhook-retry-schedule=1s,soon"
        ])
        .is_err());
        let s = Scheduler::try_parse_from([
            "countersign-scheduler",
            "--database-url=sqlite://x.db",
            "--public-url=ftp://x",
        ])
        .unwrap();
        let err = s.config.validate().unwrap_err().to_string();
        assert!(err.contains("COUNTERSIGN_PUBLIC_URL"), "{err}");
        let s =
            Server::try_parse_from(["countersign-server", "--public-url=https://cs.example.com"])
                .unwrap();
        assert_eq!(
            s.config.service().public_url.as_deref(),
            Some("https://cs.example.com")
        );
    }
}
