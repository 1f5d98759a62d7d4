//! `countersign approvals list|show|approve|reject|watch` (`watch` lives in its own module).

use clap::{Args, Subcommand};
use countersign_api::domain::ApprovalState;
use countersign_api::requests::VoteBody;
use countersign_api::ApprovalView;
use reqwest::Method;
use time::OffsetDateTime;

use crate::client::Query;
use crate::commands::people::{self, Directory};
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{self, at, indented_json, relative, rule_list, short_id, Fields, Table};

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
    /// Follow approval and job events live, one line each (or JSON), reconnecting as needed;
    /// `--exec CMD` runs a command per event.
    Watch(crate::commands::watch::WatchArgs),
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
        ApprovalsCommand::Watch(a) => crate::commands::watch::run(ctx, a).await,
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
    for v in listing.parse::<ApprovalView>()? {
        let a = &v.approval;
        let expires = match a.state {
            ApprovalState::Pending => relative(a.expires_at, now),
            _ => "-".to_owned(),
        };
        t.row(vec![
            a.id.to_string(),
            a.state.as_str().to_owned(),
            v.action.clone(),
            short_id(&a.subject_id.to_string()),
            people.name(Some(&a.requested_by.to_string())),
            rule_list(&v.remaining),
            expires,
            relative(a.created_at, now),
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
    output::print(&render(
        &answer.parse()?,
        OffsetDateTime::now_utc(),
        &people,
    ));
    Ok(())
}

/// The full view of one approval, people by name.
fn render(v: &ApprovalView, now: OffsetDateTime, people: &Directory) -> String {
    let a = &v.approval;
    let mut f = Fields::new();
    f.add("id", a.id.to_string())
        .add("state", a.state.as_str())
        .add("action", v.action.clone())
        .add("job", a.job_id.to_string())
        .add("subject", a.subject_id.to_string())
        .add("policy", a.policy_id.to_string())
        .add(
            "requested by",
            people.name(Some(&a.requested_by.to_string())),
        )
        .add("created", at(a.created_at, now))
        .add("expires", at(a.expires_at, now));
    if let Some(decided_at) = a.decided_at {
        f.add(
            "decided",
            format!(
                "{} by {}",
                at(decided_at, now),
                people.name(a.decided_by.as_deref())
            ),
        );
    }
    f.add("rules", rule_list(&a.rules))
        .add("remaining", rule_list(&v.remaining))
        .add("payload sha256", v.payload_sha256.clone());
    let mut out = f.render();
    if a.votes.is_empty() {
        out.push_str("\nvotes: none yet\n");
    } else {
        let mut t = Table::new(&["PRINCIPAL", "DECISION", "ROLES", "AT (UTC)", "NOTE"]);
        for vote in &a.votes {
            let roles: Vec<&str> = vote.roles.iter().map(|r| r.as_str()).collect();
            t.row(vec![
                people.name(Some(&vote.principal_id.to_string())),
                vote.decision.as_str().to_owned(),
                if roles.is_empty() {
                    "-".to_owned()
                } else {
                    roles.join(", ")
                },
                output::human_time(&crate::timearg::format(vote.at)),
                vote.note.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        out.push_str("\nvotes:\n");
        out.push_str(&t.render());
    }
    out.push_str("\npayload:\n");
    out.push_str(&indented_json(&v.payload));
    out
}

async fn vote(ctx: &Ctx, a: VoteArgs, decision: &str) -> Result<(), CliError> {
    let body = body(&VoteBody { note: a.note });
    let path = item_path("approvals", &a.id, &format!("/{decision}"));
    let answer = ctx
        .client
        .call(Method::POST, &path, Some(&body), &[])
        .await?;
    print_answer(ctx, &answer, vote_summary)
}

/// What a vote did, in a line or two.
fn vote_summary(v: &ApprovalView) -> String {
    let a = &v.approval;
    let (id, job) = (&a.id, &a.job_id);
    match a.state {
        ApprovalState::Approved => {
            format!("approval {id} is approved: job {job} is pending and a worker can claim it\n")
        }
        ApprovalState::Rejected => format!("approval {id} is rejected: job {job} is cancelled\n"),
        ApprovalState::Pending => format!(
            "vote recorded on {id}; still pending, needs {}\n",
            rule_list(&v.remaining)
        ),
        other => format!("approval {id} is {}\n", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn sample() -> ApprovalView {
        serde_json::from_value(json!({
            "id": "apr_01jtz8k4qf3n7y2c5r9wx4k4x2", "job_id": "job_01jtz8k4qf3n7y2c5r9wx4k4x3",
            "subject_id": "sub_01jtz8k4qf3n7y2c5r9wx4k4x4", "policy_id": "pol_01jtz8k4qf3n7y2c5r9wx4k4x5",
            "requested_by": "prn_01jtz8k4qf3n7y2c5r9wx4k4x6",
            "state": "pending", "action": "certificate.renew",
            "rules": [{"role": "approver", "count": 2}], "remaining": [{"role": "approver", "count": 1}],
            "votes": [{"principal_id": "prn_01jtz8k4qf3n7y2c5r9wx4k4x7", "decision": "approve", "note": "lgtm",
                       "at": "2026-05-20T11:00:00Z", "roles": ["approver"]}],
            "payload": {"ttl": "90d"}, "payload_sha256": "ab12",
            "created_at": "2026-05-20T10:00:00Z", "expires_at": "2026-05-27T10:00:00Z",
            "decided_at": null, "decided_by": null
        }))
        .unwrap()
    }

    #[test]
    fn show_has_rules_remaining_votes_and_payload() {
        let text = render(
            &sample(),
            datetime!(2026-05-20 12:00:00 UTC),
            &Directory::from_names([
                ("prn_01jtz8k4qf3n7y2c5r9wx4k4x6", "bob"),
                ("prn_01jtz8k4qf3n7y2c5r9wx4k4x7", "carol"),
            ]),
        );
        for want in [
            "state           pending",
            "rules           approver×2",
            "remaining       approver×1",
            "payload sha256  ab12",
            "expires         2026-05-27 10:00:00 UTC (in 6d 22h)",
            "requested by    bob\n",
            "carol      approve   approver  2026-05-20 11:00:00  lgtm",
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
            "vote recorded on apr_01jtz8k4qf3n7y2c5r9wx4k4x2; still pending, needs approver×1"
        ));
        v.approval.state = ApprovalState::Approved;
        assert!(
            vote_summary(&v).contains("is approved: job job_01jtz8k4qf3n7y2c5r9wx4k4x3 is pending")
        );
        v.approval.state = ApprovalState::Rejected;
        assert!(vote_summary(&v).contains("is rejected"));
    }
}
