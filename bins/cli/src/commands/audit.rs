//! `countersign audit list|show|export|proof|verify`.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::Query;
use crate::commands::export::{self, ExportArgs};
use crate::commands::{fetch_list, item_path, log, people, verify, Ctx, Paging};
use crate::error::CliError;
use crate::output::{self, field, human_time, short_id, text, Table};
use crate::timearg;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, newest first, with filters.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// One event, whole.
    Show {
        /// The event id (`evt_…`).
        id: String,
    },
    /// Stream a time window as NDJSON to a file (or stdout); `--resume` continues a file.
    Export(ExportArgs),
    /// One event's inclusion proof in the transparency log, as a C2SP tlog-proof.
    Proof {
        /// The event id (`evt_…`).
        id: String,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Check the trail against the transparency log, offline, with only its verifier key.
    #[command(
        subcommand,
        after_help = "Exit codes: 0 verified, 1 verification failed (the first bad leaf is \
                      named), 2 usage (no key, a key that does not parse, a missing file)."
    )]
    Verify(verify::VerifyCommand),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `lifecycle`, `auth`, `config`, `access` or `audit`.
    #[arg(long)]
    pub category: Option<String>,
    /// e.g. `approval.approved`.
    #[arg(long)]
    pub action: Option<String>,
    /// The actor: a principal's name (`bob`) or id (`prn_…`), or a system actor
    /// (`system:reaper`).
    #[arg(long, value_name = "NAME|ID")]
    pub actor: Option<String>,
    /// e.g. `approval`, `job`.
    #[arg(long, value_name = "TYPE")]
    pub resource_type: Option<String>,
    /// e.g. `apr_…`.
    #[arg(long, value_name = "ID")]
    pub resource_id: Option<String>,
    /// Events at or after (RFC 3339, `2026-05-20`, `now-24h`).
    #[arg(long, value_name = "TIME", value_parser = timearg::clap_parse, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Events before (same forms as --from).
    #[arg(long, value_name = "TIME", value_parser = timearg::clap_parse, allow_hyphen_values = true)]
    pub to: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::List(a) => list(ctx, a).await,
        AuditCommand::Show { id } => show(ctx, &id).await,
        AuditCommand::Export(a) => export::run(ctx, a).await,
        AuditCommand::Proof { id, out } => log::audit_proof(ctx, &id, out.as_deref()).await,
        AuditCommand::Verify(c) => verify::run(ctx, c).await,
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let actor = match a.actor {
        Some(who) if !who.contains(':') => Some(people::resolve(ctx, &who).await?),
        other => other,
    };
    let query = Query::new()
        .opt("category", a.category)
        .opt("action", a.action)
        .opt("actor", actor)
        .opt("resource_type", a.resource_type)
        .opt("resource_id", a.resource_id)
        .opt("from", a.from)
        .opt("to", a.to);
    let listing = fetch_list(ctx, "/api/v1/audit", query, &a.paging).await?;
    if ctx.json {
        listing.print_json();
        return Ok(());
    }
    let mut t = Table::new(&[
        "TIME (UTC)",
        "CATEGORY",
        "ACTION",
        "ACTOR",
        "RESOURCE",
        "RESULT",
    ]);
    for v in listing.values() {
        t.row(row(v));
    }
    listing.print_table(&t, "events");
    Ok(())
}

/// One event as a table row.
fn row(v: &Value) -> Vec<String> {
    let actor = &v["actor"];
    let actor = match actor["name"].as_str() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => text(&actor["id"]),
    };
    let resource = &v["resource"];
    let resource = format!(
        "{} {}",
        text(&resource["type"]),
        short_id(&text(&resource["id"]))
    );
    vec![
        human_time(&text(&v["ts"])),
        field(v, "category"),
        field(v, "action"),
        actor,
        resource,
        result(v),
    ]
}

/// `ok`, `error: kind`, and `denied` for a refused request.
fn result(v: &Value) -> String {
    let mut out = match v["result"]["outcome"].as_str() {
        Some("error") => match v["result"]["kind"].as_str() {
            Some(kind) => format!("error: {kind}"),
            None => "error".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => "-".to_owned(),
    };
    if v["authorization"]["decision"].as_str() == Some("deny") {
        out = format!("denied ({out})");
    }
    out
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    let answer = ctx.client.get(&item_path("audit", id, "")).await?;
    if ctx.json {
        output::print_raw_json(&answer.body);
    } else {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&answer.json()?).map_err(|e| CliError::Other(e.into()))?
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_name_the_actor_and_mark_refusals() {
        let v = json!({
            "ts": "2026-05-20T10:00:00.5Z", "category": "auth", "action": "auth.denied",
            "actor": {"kind": "user", "id": "prn_01JTZ8K4QF3N7Y2C5R9WX4K4X2", "name": "bob"},
            "resource": {"type": "approval", "id": "apr_01JTZ8K4QF3N7Y2C5R9WX4K4X2"},
            "authorization": {"decision": "deny"},
            "result": {"outcome": "error", "kind": "two_person_integrity"}
        });
        assert_eq!(
            row(&v),
            [
                "2026-05-20 10:00:00",
                "auth",
                "auth.denied",
                "bob",
                "approval apr_…X4K4X2",
                "denied (error: two_person_integrity)"
            ]
        );
        let system = json!({"actor": {"kind": "system", "id": "system:reaper"}, "result": {"outcome": "ok"}});
        assert_eq!(row(&system)[3], "system:reaper");
        assert_eq!(row(&system)[5], "ok");
    }
}
