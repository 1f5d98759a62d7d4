//! `countersign jobs request|list|show|cancel|claim|complete`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use countersign_api::domain::job::CompletionOutcome;
use countersign_api::domain::{ApprovalState, Job};
use countersign_api::requests::{CancelBody, ClaimBody, CompleteBody, RequestJobBody};
use countersign_api::JobRequested;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::client::Query;
use crate::commands::people::Directory;
use crate::commands::{body, fetch_list, item_path, json_arg, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{self, at, indented_json, relative, rule_list, short_id, Fields, Table};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Ask for a job on a subject; its policy decides whether it waits for approval.
    Request(RequestArgs),
    /// List jobs, newest first.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// One job with its payload.
    Show {
        /// The job id (`job_…`).
        id: String,
    },
    /// As a worker: take the oldest pending job (of these actions) and hold it for a lease.
    Claim {
        /// Only jobs with this action (repeat for more; default any).
        #[arg(long = "action", value_name = "ACTION")]
        actions: Vec<String>,
        /// How long the claim holds before another worker may take the job (`5m`, `90s`).
        #[arg(long, value_name = "DURATION", value_parser = parse_lease)]
        lease: Option<u64>,
    },
    /// As a worker: report a claimed job's outcome.
    Complete {
        /// The job id (`job_…`).
        id: String,
        /// `succeeded` or `failed`.
        #[arg(long, value_parser = parse_outcome)]
        outcome: CompletionOutcome,
        /// What happened (kept on the job and in the audit trail).
        #[arg(long)]
        message: Option<String>,
    },
    /// Cancel a job that has not finished.
    Cancel {
        /// The job id (`job_…`).
        id: String,
        /// Why (kept on the job and in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The subject (`sub_…`).
    pub subject_id: String,
    /// What to do, e.g. `certificate.renew`.
    #[arg(long)]
    pub action: String,
    /// The payload, a JSON object (default `{}`).
    #[arg(long, conflicts_with = "payload_file", value_name = "JSON")]
    pub payload: Option<String>,
    /// Read the payload from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Send `Idempotency-Key`: repeating the same request returns the first result.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only jobs on this subject (`sub_…`).
    #[arg(long, value_name = "ID")]
    pub subject: Option<String>,
    /// `awaiting_approval`, `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    #[arg(long)]
    pub status: Option<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, command: JobsCommand) -> Result<(), CliError> {
    match command {
        JobsCommand::Request(a) => request(ctx, a).await,
        JobsCommand::List(a) => list(ctx, a).await,
        JobsCommand::Show { id } => show(ctx, &id).await,
        JobsCommand::Cancel { id, reason } => cancel(ctx, &id, reason).await,
        JobsCommand::Claim { actions, lease } => claim(ctx, actions, lease).await,
        JobsCommand::Complete {
            id,
            outcome,
            message,
        } => complete(ctx, &id, outcome, message).await,
    }
}

fn parse_outcome(s: &str) -> Result<CompletionOutcome, String> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|_| format!("`{s}`: expected `succeeded` or `failed`"))
}

fn parse_lease(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_secs())
        .map_err(|e| format!("`{s}`: {e}"))
}

async fn claim(ctx: &Ctx, actions: Vec<String>, lease: Option<u64>) -> Result<(), CliError> {
    let b = body(&ClaimBody {
        actions: (!actions.is_empty()).then_some(actions),
        lease_secs: lease,
    });
    let answer = ctx.client.post("/api/v1/jobs/claim", &b).await?;
    if answer.status == StatusCode::NO_CONTENT {
        if ctx.json {
            output::print_raw_json(b"null");
        } else {
            output::print("no job to claim\n");
        }
        return Ok(());
    }
    print_answer(ctx, &answer, |j: &Job| {
        let lease = j
            .lease_expires_at
            .map(|t| crate::output::human_time(&crate::timearg::format(t)))
            .unwrap_or_else(|| "-".to_owned());
        let payload = indented_json(&j.payload);
        format!(
            "claimed job {} ({} on {}), lease until {lease}\npayload:\n{payload}\
             report with: countersign jobs complete {} --outcome succeeded|failed\n",
            j.id, j.action, j.subject_id, j.id
        )
    })
}

async fn complete(
    ctx: &Ctx,
    id: &str,
    outcome: CompletionOutcome,
    message: Option<String>,
) -> Result<(), CliError> {
    let b = body(&CompleteBody { outcome, message });
    let answer = ctx
        .client
        .post(&item_path("jobs", id, "/complete"), &b)
        .await?;
    print_answer(ctx, &answer, |j: &Job| {
        format!("job {} is {}\n", j.id, j.status.as_str())
    })
}

async fn request(ctx: &Ctx, a: RequestArgs) -> Result<(), CliError> {
    let payload = json_arg(a.payload.as_deref(), a.payload_file.as_deref(), "payload")?
        .unwrap_or_else(|| json!({}));
    if !payload.is_object() {
        return Err(CliError::Usage(
            "the payload must be a JSON object (`{...}`)".into(),
        ));
    }
    let body = body(&RequestJobBody {
        action: a.action,
        payload,
    });
    let headers: Vec<(&'static str, String)> = a
        .idempotency_key
        .into_iter()
        .map(|k| ("idempotency-key", k))
        .collect();
    let path = item_path("subjects", &a.subject_id, "/jobs");
    let answer = ctx
        .client
        .call(Method::POST, &path, Some(&body), &headers)
        .await?;
    let replayed = answer.status == StatusCode::OK;
    print_answer(ctx, &answer, |r: &JobRequested| {
        request_summary(r, replayed, OffsetDateTime::now_utc())
    })
}

/// What a request created, and what happens next.
fn request_summary(r: &JobRequested, replayed: bool, now: OffsetDateTime) -> String {
    let job = &r.job;
    let mut out = format!(
        "job {} ({} on {}) is {}\n",
        job.id,
        job.action,
        job.subject_id,
        job.status.as_str()
    );
    if replayed {
        out.push_str("(the same Idempotency-Key was used before: this is that request; nothing new was created)\n");
    }
    if let Some(v) = &r.approval {
        let a = &v.approval;
        match a.state {
            ApprovalState::Pending => {
                out.push_str(&format!(
                    "approval {} needs {}, expires {}\n",
                    a.id,
                    rule_list(&v.remaining),
                    at(a.expires_at, now)
                ));
                out.push_str(&format!(
                    "someone else approves it with: countersign approvals approve {}\n",
                    a.id
                ));
            }
            other => out.push_str(&format!("approval {} is {}\n", a.id, other.as_str())),
        }
    }
    out
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let query = Query::new()
        .opt("subject_id", a.subject)
        .opt("status", a.status);
    let listing = fetch_list(ctx, "/api/v1/jobs", query, &a.paging).await?;
    if ctx.json {
        listing.print_json();
        return Ok(());
    }
    let people = Directory::load(ctx).await?;
    let now = OffsetDateTime::now_utc();
    let mut t = Table::new(&[
        "ID",
        "STATUS",
        "ACTION",
        "SUBJECT",
        "REQUESTED BY",
        "ATTEMPTS",
        "UPDATED",
        "CREATED",
    ]);
    for j in listing.parse::<Job>()? {
        t.row(vec![
            j.id.to_string(),
            j.status.as_str().to_owned(),
            j.action.clone(),
            short_id(&j.subject_id.to_string()),
            people.name(Some(&j.requested_by.to_string())),
            j.attempts.to_string(),
            relative(j.updated_at, now),
            relative(j.created_at, now),
        ]);
    }
    listing.print_table(&t, "jobs");
    Ok(())
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    let answer = ctx.client.get(&item_path("jobs", id, "")).await?;
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

/// The full view of one job, people by name.
fn render(j: &Job, now: OffsetDateTime, people: &Directory) -> String {
    let mut f = Fields::new();
    f.add("id", j.id.to_string())
        .add("status", j.status.as_str())
        .add("action", j.action.clone())
        .add("subject", j.subject_id.to_string())
        .add(
            "requested by",
            people.name(Some(&j.requested_by.to_string())),
        )
        .add("attempts", j.attempts.to_string())
        .add(
            "claimed by",
            people.name(j.claimed_by.map(|p| p.to_string()).as_deref()),
        )
        .add(
            "lease expires",
            j.lease_expires_at
                .map(|t| at(t, now))
                .unwrap_or_else(|| "-".to_owned()),
        )
        .add(
            "result",
            j.result_message.clone().unwrap_or_else(|| "-".to_owned()),
        )
        .add("created", at(j.created_at, now))
        .add("updated", at(j.updated_at, now))
        .add("payload sha256", j.payload_sha256.clone());
    let mut out = f.render();
    out.push_str("\npayload:\n");
    out.push_str(&indented_json(&j.payload));
    out
}

async fn cancel(ctx: &Ctx, id: &str, reason: Option<String>) -> Result<(), CliError> {
    let body = body(&CancelBody { reason });
    let answer = ctx
        .client
        .post(&item_path("jobs", id, "/cancel"), &body)
        .await?;
    print_answer(ctx, &answer, |j: &Job| {
        format!("job {} is {}\n", j.id, j.status.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn job(id: &str, status: &str) -> Value {
        json!({
            "id": id, "subject_id": "sub_01jtz8k4qf3n7y2c5r9wx4k4x4", "action": "certificate.renew",
            "payload": {"k": 1}, "payload_sha256": "ab12", "status": status,
            "requested_by": "prn_01jtz8k4qf3n7y2c5r9wx4k4x6", "attempts": 0, "claimed_by": null,
            "lease_expires_at": null, "result_message": null,
            "created_at": "2026-05-20T11:59:00Z", "updated_at": "2026-05-20T11:59:00Z"
        })
    }

    #[test]
    fn a_request_says_what_waits_and_how_to_approve_it() {
        let j1 = "job_01jtz8k4qf3n7y2c5r9wx4k4x1";
        let a1 = "apr_01jtz8k4qf3n7y2c5r9wx4k4x2";
        let r: JobRequested = serde_json::from_value(json!({
            "job": job(j1, "awaiting_approval"),
            "approval": {"id": a1, "job_id": j1, "subject_id": "sub_01jtz8k4qf3n7y2c5r9wx4k4x4",
                         "policy_id": "pol_01jtz8k4qf3n7y2c5r9wx4k4x5",
                         "requested_by": "prn_01jtz8k4qf3n7y2c5r9wx4k4x6", "state": "pending",
                         "rules": [{"role": "approver", "count": 1}], "votes": [],
                         "remaining": [{"role": "approver", "count": 1}],
                         "action": "certificate.renew", "payload": {}, "payload_sha256": "ab12",
                         "created_at": "2026-05-20T12:00:00Z", "expires_at": "2026-05-21T12:00:00Z",
                         "decided_at": null, "decided_by": null}
        }))
        .unwrap();
        let now = datetime!(2026-05-20 12:00:00 UTC);
        let text = request_summary(&r, false, now);
        assert_eq!(
            text,
            format!(
                "job {j1} (certificate.renew on sub_01jtz8k4qf3n7y2c5r9wx4k4x4) is awaiting_approval\n\
                 approval {a1} needs approver×1, expires 2026-05-21 12:00:00 UTC (in 1d 0h)\n\
                 someone else approves it with: countersign approvals approve {a1}\n"
            )
        );
        assert!(request_summary(&r, true, now).contains("nothing new was created"));
        let direct: JobRequested =
            serde_json::from_value(json!({"job": job(j1, "pending"), "approval": null})).unwrap();
        assert_eq!(
            request_summary(&direct, false, now),
            format!("job {j1} (certificate.renew on sub_01jtz8k4qf3n7y2c5r9wx4k4x4) is pending\n")
        );
    }

    #[test]
    fn show_lists_every_field_people_by_name_and_the_payload() {
        let j: Job =
            serde_json::from_value(job("job_01jtz8k4qf3n7y2c5r9wx4k4x1", "pending")).unwrap();
        let people = Directory::from_names([("prn_01jtz8k4qf3n7y2c5r9wx4k4x6", "bob")]);
        let text = render(&j, datetime!(2026-05-20 12:00:00 UTC), &people);
        assert!(text.contains("status          pending\n"), "{text}");
        assert!(text.contains("requested by    bob\n"), "{text}");
        assert!(text.contains("claimed by      -\n"), "{text}");
        assert!(
            text.contains("created         2026-05-20 11:59:00 UTC (1m ago)\n"),
            "{text}"
        );
        assert!(
            text.ends_with("payload:\n  {\n    \"k\": 1\n  }\n"),
            "{text}"
        );
    }
}
