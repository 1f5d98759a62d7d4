//! The command line: global options and the command tree (each command's own arguments live
//! beside its code in [`crate::commands`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    api, approvals, audit, jobs, keys, log, policies, principals, roles, subjects,
};
use secrecy::SecretString;

use crate::error::CliError;

/// `countersign`: two-person approvals, jobs and the audit trail from a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Countersign from a terminal: approve, request jobs, read and export the audit trail",
    after_help = "Settings: flag, else environment, else the config file \
                  ($XDG_CONFIG_HOME/countersign/config.toml or ~/.config/countersign/config.toml, \
                  TOML with `url = \"…\"` and `api_key = \"…\"`).\n\
                  Exit codes: 0 ok, 1 the API refused or the command failed, 2 usage, 3 server unreachable."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. The environment variables named here are read by
/// [`Global::resolve_env`] after parsing rather than by clap, so that a variable set in the
/// shell never shows up in the usage line of an argument error as if it were a required flag.
#[derive(Debug, Args)]
pub struct Global {
    /// Server URL [env: COUNTERSIGN_URL] [default: config file `url`, else http://127.0.0.1:8080].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// API key [env: COUNTERSIGN_API_KEY] (prefer the variable or the config file: flags show in `ps`).
    #[arg(long, global = true, help_heading = "Global options", value_name = "KEY", value_parser = parse_key)]
    pub key: Option<SecretString>,
    /// Config file [env: COUNTERSIGN_CONFIG] [default: $XDG_CONFIG_HOME/countersign/config.toml or ~/.config/countersign/config.toml].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Extra PEM root certificates for an https:// server with a private CA [env: COUNTERSIGN_CA_CERT].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Seconds to wait for an answer, 1..=3600 (for an export: for its first byte) [env: COUNTERSIGN_TIMEOUT] [default: 60].
    #[arg(long, global = true, help_heading = "Global options", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Print the server's JSON instead of tables (for scripts).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

/// The default of `--timeout`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

impl Global {
    /// Fill what the flags left empty from the environment; a bad `COUNTERSIGN_TIMEOUT` is a
    /// usage error.
    pub fn resolve_env(&mut self) -> Result<(), CliError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if self.url.is_none() {
            self.url = var("COUNTERSIGN_URL");
        }
        if self.key.is_none() {
            self.key = var("COUNTERSIGN_API_KEY").map(SecretString::from);
        }
        if self.config.is_none() {
            self.config = var("COUNTERSIGN_CONFIG").map(PathBuf::from);
        }
        if self.ca_cert.is_none() {
            self.ca_cert = var("COUNTERSIGN_CA_CERT").map(PathBuf::from);
        }
        if self.timeout.is_none() {
            if let Some(v) = var("COUNTERSIGN_TIMEOUT") {
                let secs = v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "COUNTERSIGN_TIMEOUT=`{v}`: expected seconds in 1..=3600"
                        ))
                    })?;
                self.timeout = Some(secs);
            }
        }
        Ok(())
    }

    /// `--timeout` or its default.
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)
    }
}

fn parse_key(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s))
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
    /// List, show, export and verify the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The transparency log: its signed checkpoint, verifier key and hash tiles.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Call any API route and print the answer (like `curl`, with the key and errors handled).
    Api(api::ApiArgs),
    /// Create, list, show and disable principals (people and services).
    #[command(subcommand)]
    Principals(principals::PrincipalsCommand),
    /// Create, list and show roles; grant and revoke permissions; assign roles to principals.
    #[command(subcommand)]
    Roles(roles::RolesCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create, list and show policies (who must approve what).
    #[command(subcommand)]
    Policies(policies::PoliciesCommand),
    /// Create, list and show subjects (what jobs act on).
    #[command(subcommand)]
    Subjects(subjects::SubjectsCommand),
    /// Print a shell completion script (`countersign completions bash > …`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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

    #[test]
    fn an_export_is_a_window_or_a_leaf_range_never_both() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["countersign", "audit", "export"]
                    .iter()
                    .chain(args)
                    .copied(),
            )
        };
        assert!(parse(&["--from", "2026-05-01", "--to", "2026-05-02"]).is_ok());
        assert!(parse(&["--first-leaf", "0", "--last-leaf", "99"]).is_ok());
        for bad in [
            &[][..],
            &["--from", "2026-05-01"],
            &["--first-leaf", "0"],
            &["--last-leaf", "9"],
            &[
                "--first-leaf",
                "0",
                "--last-leaf",
                "9",
                "--from",
                "2026-05-01",
                "--to",
                "2026-05-02",
            ],
            &[
                "--first-leaf",
                "0",
                "--last-leaf",
                "9",
                "--category",
                "auth",
            ],
            &["--first-leaf", "0", "--last-leaf", "9", "--limit", "3"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
