//! `countersign policies create|list|show`.

use clap::Subcommand;
use countersign_api::domain::{ApprovalRule, Policy, RoleId};
use countersign_api::requests::CreatePolicyBody;

use crate::client::Query;
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{Fields, Table};

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Create a policy: whether jobs under it need approval, and from whom.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// A rule `ROLE:COUNT`: COUNT distinct holders of ROLE must approve (repeat for
        /// more). Any rule makes the policy require approval.
        #[arg(long = "rule", value_name = "ROLE:COUNT", value_parser = parse_rule)]
        rules: Vec<ApprovalRule>,
        /// How long a request waits before it expires (`7d`, `12h`; the server's default
        /// when absent).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<i64>,
        /// Remind the approvers of a request still pending this long after it was made, and
        /// again every as long after that (`4h`).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        remind_after: Option<i64>,
        /// Escalate a request still pending this long after it was made, once, to the holders
        /// of `--escalate-to` (`1d`).
        #[arg(
            long,
            value_name = "DURATION",
            value_parser = parse_duration,
            requires = "escalate_to"
        )]
        escalate_after: Option<i64>,
        /// The role whose holders an escalation names.
        #[arg(long, value_name = "ROLE", value_parser = parse_role, requires = "escalate_after")]
        escalate_to: Option<RoleId>,
    },
    /// List policies.
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// One policy with its rules.
    Show {
        /// The policy id (`pol_…`).
        id: String,
    },
}

fn parse_rule(s: &str) -> Result<ApprovalRule, String> {
    let (role, count) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected ROLE:COUNT, e.g. approver:2"))?;
    let role = RoleId::parse(role).map_err(|e| e.to_string())?;
    let count = count
        .parse::<u32>()
        .map_err(|_| format!("`{count}`: the count must be a whole number"))?;
    Ok(ApprovalRule { role, count })
}

fn parse_role(s: &str) -> Result<RoleId, String> {
    RoleId::parse(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    i64::try_from(d.as_secs()).map_err(|_| format!("`{s}` is too long"))
}

pub async fn run(ctx: &Ctx, command: PoliciesCommand) -> Result<(), CliError> {
    match command {
        PoliciesCommand::Create {
            name,
            rules,
            timeout,
            remind_after,
            escalate_after,
            escalate_to,
        } => {
            let b = body(&CreatePolicyBody {
                name,
                requires_approval: !rules.is_empty(),
                rules,
                approval_timeout_secs: timeout,
                remind_after_secs: remind_after,
                escalate_after_secs: escalate_after,
                escalate_to_role: escalate_to,
            });
            let answer = ctx.client.post("/api/v1/policies", &b).await?;
            print_answer(ctx, &answer, |p: &Policy| {
                format!("created policy {}\n{}", p.id, render(p))
            })
        }
        PoliciesCommand::List { paging } => {
            let listing = fetch_list(ctx, "/api/v1/policies", Query::new(), &paging).await?;
            if ctx.json {
                listing.print_json();
                return Ok(());
            }
            let mut t = Table::new(&["ID", "NAME", "APPROVAL", "RULES", "TIMEOUT"]);
            for p in listing.parse::<Policy>()? {
                t.row(vec![
                    p.id.to_string(),
                    p.name.clone(),
                    if p.requires_approval {
                        "required"
                    } else {
                        "none"
                    }
                    .to_owned(),
                    rules(&p.rules),
                    timeout(p.approval_timeout_secs),
                ]);
            }
            listing.print_table(&t, "policies");
            Ok(())
        }
        PoliciesCommand::Show { id } => {
            let answer = ctx.client.get(&item_path("policies", &id, "")).await?;
            print_answer(ctx, &answer, render)
        }
    }
}

fn rules(rules: &[ApprovalRule]) -> String {
    if rules.is_empty() {
        "-".to_owned()
    } else {
        rules
            .iter()
            .map(|r| format!("{}×{}", r.role, r.count))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

fn timeout(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64)).to_string()
}

/// The full view of one policy.
fn render(p: &Policy) -> String {
    let mut f = Fields::new();
    f.add("id", p.id.to_string())
        .add("name", p.name.clone())
        .add(
            "approval",
            if p.requires_approval {
                "required"
            } else {
                "none"
            },
        )
        .add("rules", rules(&p.rules))
        .add("timeout", timeout(p.approval_timeout_secs))
        .add(
            "reminders",
            p.remind_after_secs
                .map_or_else(|| "none".to_owned(), |s| format!("every {}", timeout(s))),
        )
        .add(
            "escalation",
            match (p.escalate_after_secs, &p.escalate_to_role) {
                (Some(s), Some(role)) => format!("to {role} after {}", timeout(s)),
                _ => "none".to_owned(),
            },
        )
        .add("generation", p.generation.to_string());
    f.render()
}
