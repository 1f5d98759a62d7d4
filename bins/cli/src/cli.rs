//! The command line: global options and the command tree (each command's own arguments live
//! beside its code in [`crate::commands`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{api, approvals, audit, jobs};
use crate::config::ApiKey;

/// `countersign`: two-person approvals, jobs and the audit trail from a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Countersign from a terminal: approve, request jobs, read and export the audit trail",
    after_help = "Settings: flag, else environment, else the config file \
                  ($XDG_CONFIG_HOME/countersign/config.toml or ~/.config/countersign/config.toml, \
                  lines `url = \"…\"` and `api_key = \"…\"`).\n\
                  Exit codes: 0 ok, 1 the API refused or the command failed, 2 usage, 3 server unreachable."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Server URL [default: config file `url`, else http://127.0.0.1:8080].
    #[arg(
        long,
        env = "COUNTERSIGN_URL",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// API key (prefer the environment variable or the config file: flags show in `ps`).
    #[arg(long, env = "COUNTERSIGN_API_KEY", global = true, help_heading = "Global options", hide_env_values = true, value_name = "KEY", value_parser = parse_key)]
    pub key: Option<ApiKey>,
    /// Config file [default: $XDG_CONFIG_HOME/countersign/config.toml or ~/.config/countersign/config.toml].
    #[arg(
        long,
        env = "COUNTERSIGN_CONFIG",
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Extra PEM root certificates for an https:// server with a private CA.
    #[arg(
        long,
        env = "COUNTERSIGN_CA_CERT",
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Seconds to wait for an answer (for an export: for its first byte).
    #[arg(long, env = "COUNTERSIGN_TIMEOUT", global = true, help_heading = "Global options", value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Print the server's JSON instead of tables (for scripts).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

fn parse_key(s: &str) -> Result<ApiKey, String> {
    Ok(ApiKey::new(s))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who the key belongs to: principal, key id, roles and permissions.
    Whoami,
    /// List, inspect, approve and reject approval requests.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Request, list, inspect and cancel jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// List, show and export the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Call any API route and print the answer (like `curl`, with the key and errors handled).
    Api(api::ApiArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere_and_the_key_never_prints() {
        let cli = Cli::try_parse_from([
            "countersign",
            "approvals",
            "list",
            "--json",
            "--key",
            "cs_k_secret",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert!(!format!("{cli:?}").contains("secret"));
    }
}
