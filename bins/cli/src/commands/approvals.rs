//! `countersign approvals list|show|approve|reject`.

use clap::{Args, Subcommand};
use countersign_api::requests::VoteBody;
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;

use crate::client::Query;
use crate::commands::people::{self, Directory};
use crate::commands::{body, fetch_list, item_path, Ctx, Paging};
use crate::error::CliError;
use crate::output::{
    self, field, indented_json, relative_field, rules, short_field, text, time_field, Fields, Table,
};

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests, newest first.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// One request: rules, what remains, votes, and the payload being approved.
    Show {
        /// The approval id (`apr_…`).
        id: String,
    },
    /// Approve a request (someone else's: two-person integrity).
    Approve(VoteArgs),
    /// Reject a request; one eligible reject decides it and cancels the job.
    Reject(VoteArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `pending`, `approved`, `rejected` or `expired`.
    #[arg(long)]
    pub state: Option<String>,
    /// Only requests on this subject (`sub_…`).
    #[arg(long, value_name = "ID")]
    pub subject: Option<String>,
    /// Only requests made by this principal: a name (`bob`) or an id (`prn_…`).
    #[arg(long, value_name = "NAME|ID")]
    pub requested_by: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
}

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The approval id (`apr_…`).
    pub id: String,
    /// A note kept with the vote (and in the audit trail).
    #[arg(long)]
    pub note: Option<String>,
}

pub async fn run(ctx: &Ctx, command: ApprovalsCommand) -> Result<(), CliError> {
    match command {
        ApprovalsCommand::List(a) => list(ctx, a).await,
        ApprovalsCommand::Show { id } => show(ctx, &id).await,
        ApprovalsCommand::Approve(a) => vote(ctx, a, "approve").await,
        ApprovalsCommand::Reject(a) => vote(ctx, a, "reject").await,
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let requested_by = match a.requested_by {
        Some(who) => Some(people::resolve(ctx, &who).await?),
        None => None,
    };
    let query = Query::new()
        .opt("state", a.state)
        .opt("subject_id", a.subject)
        .opt("requested_by", requested_by);
    let listing = fetch_list(ctx, "/api/v1/approvals", query, &a.paging).await?;
    if ctx.json {
        listing.print_json();
        return Ok(());
    }
    let people = Directory::load(ctx).await?;
    let now = OffsetDateTime::now_utc();
    let mut t = Table::new(&[
        "ID",
        "STATE",
        "ACTION",
        "SUBJECT",
        "REQUESTED BY",
        "NEEDS",
        "EXPIRES",
        "CREATED",
    ]);
    for v in listing.values() {
        let expires = match v["state"].as_str() {
            Some("pending") => relative_field(v, "expires_at", now),
            _ => "-".to_owned(),
        };
        t.row(vec![
            field(v, "id"),
            field(v, "state"),
            field(v, "action"),
            short_field(v, "subject_id"),
            people.name(v["requested_by"].as_str()),
            rules(&v["remaining"]),
            expires,
            relative_field(v, "created_at", now),
        ]);
    }
    listing.print_table(&t, "approvals");
    Ok(())
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    let answer = ctx.client.get(&item_path("approvals", id, "")).await?;
    if ctx.json {
        output::print_raw_json(&answer.body);
        return Ok(());
    }
    let people = Directory::load(ctx).await?;
    output::print(&render(&answer.json()?, OffsetDateTime::now_utc(), &people));
    Ok(())
}

/// The full view of one approval, people by name.
fn render(v: &Value, now: OffsetDateTime, people: &Directory) -> String {
    let mut f = Fields::new();
    f.add("id", field(v, "id"))
        .add("state", field(v, "state"))
        .add("action", field(v, "action"))
        .add("job", field(v, "job_id"))
        .add("subject", field(v, "subject_id"))
        .add("policy", field(v, "policy_id"))
        .add("requested by", people.name(v["requested_by"].as_str()))
        .add("created", time_field(v, "created_at", now))
        .add("expires", time_field(v, "expires_at", now));
    if !v["decided_at"].is_null() {
        f.add(
            "decided",
            format!(
                "{} by {}",
                time_field(v, "decided_at", now),
                people.name(v["decided_by"].as_str())
            ),
        );
    }
    f.add("rules", rules(&v["rules"]))
        .add("remaining", rules(&v["remaining"]))
        .add("payload sha256", field(v, "payload_sha256"));
    let mut out = f.render();
    let votes = v["votes"].as_array().cloned().unwrap_or_default();
    if votes.is_empty() {
        out.push_str("\nvotes: none yet\n");
    } else {
        let mut t = Table::new(&["PRINCIPAL", "DECISION", "ROLES", "AT (UTC)", "NOTE"]);
        for vote in &votes {
            t.row(vec![
                people.name(vote["principal_id"].as_str()),
                field(vote, "decision"),
                output::list(&vote["roles"]),
                output::human_time(&text(&vote["at"])),
                field(vote, "note"),
            ]);
        }
        out.push_str("\nvotes:\n");
        out.push_str(&t.render());
    }
    out.push_str("\npayload:\n");
    out.push_str(&indented_json(&v["payload"]));
    out
}

async fn vote(ctx: &Ctx, a: VoteArgs, decision: &str) -> Result<(), CliError> {
    let body = body(&VoteBody { note: a.note });
    let path = item_path("approvals", &a.id, &format!("/{decision}"));
    let answer = ctx
        .client
        .call(Method::POST, &path, Some(&body), &[])
        .await?;
    if ctx.json {
        output::print_raw_json(&answer.body);
        return Ok(());
    }
    output::print(&vote_summary(&answer.json()?));
    Ok(())
}

/// What a vote did, in a line or two.
fn vote_summary(v: &Value) -> String {
    let id = field(v, "id");
    let job = field(v, "job_id");
    match v["state"].as_str() {
        Some("approved") => {
            format!("approval {id} is approved: job {job} is pending and a worker can claim it\n")
        }
        Some("rejected") => format!("approval {id} is rejected: job {job} is cancelled\n"),
        Some("pending") => format!(
            "vote recorded on {id}; still pending, needs {}\n",
            rules(&v["remaining"])
        ),
        _ => format!("approval {id} is {}\n", field(v, "state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn sample() -> Value {
        json!({
            "id": "apr_01JTZ8K4QF3N7Y2C5R9WX4K4X2", "job_id": "job_01JTZ8K4QF3N7Y2C5R9WX4K4X3",
            "subject_id": "sub_01", "policy_id": "pol_01", "requested_by": "prn_01",
            "state": "pending", "action": "certificate.renew",
            "rules": [{"role": "approver", "count": 2}], "remaining": [{"role": "approver", "count": 1}],
            "votes": [{"principal_id": "prn_02", "decision": "approve", "note": "lgtm",
                       "at": "2026-05-20T11:00:00Z", "roles": ["approver"]}],
            "payload": {"ttl": "90d"}, "payload_sha256": "ab12",
            "created_at": "2026-05-20T10:00:00Z", "expires_at": "2026-05-27T10:00:00Z",
            "decided_at": null, "decided_by": null
        })
    }

    #[test]
    fn show_has_rules_remaining_votes_and_payload() {
        let text = render(
            &sample(),
            datetime!(2026-05-20 12:00:00 UTC),
            &Directory::default(),
        );
        for want in [
            "state           pending",
            "rules           approver×2",
            "remaining       approver×1",
            "payload sha256  ab12",
            "expires         2026-05-27 10:00:00 UTC (in 6d 22h)",
            "prn_02     approve   approver  2026-05-20 11:00:00  lgtm",
            "\"ttl\": \"90d\"",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("decided"));
    }

    #[test]
    fn vote_summaries() {
        let mut v = sample();
        assert!(vote_summary(&v).starts_with(
            "vote recorded on apr_01JTZ8K4QF3N7Y2C5R9WX4K4X2; still pending, needs approver×1"
        ));
        v["state"] = json!("approved");
        assert!(
            vote_summary(&v).contains("is approved: job job_01JTZ8K4QF3N7Y2C5R9WX4K4X3 is pending")
        );
        v["state"] = json!("rejected");
        assert!(vote_summary(&v).contains("is rejected"));
    }
}
