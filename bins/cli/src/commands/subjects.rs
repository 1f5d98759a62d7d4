//! `countersign subjects create|list|show`.

use std::collections::BTreeMap;

use clap::Subcommand;
use countersign_api::domain::{PolicyId, Subject};
use countersign_api::requests::CreateSubjectBody;

use crate::client::Query;
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{Fields, Table};

#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Create a subject under a policy.
    Create {
        /// What kind of thing it is, e.g. `certificate`.
        #[arg(long)]
        kind: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// The policy its jobs follow (`pol_…`).
        #[arg(long, value_name = "ID")]
        policy: PolicyId,
        /// A label `KEY=VALUE` (repeat for more).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
    },
    /// List subjects.
    #[command(visible_alias = "ls")]
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only subjects under this policy (`pol_…`).
        #[arg(long, value_name = "ID")]
        policy: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// One subject with its labels.
    Show {
        /// The subject id (`sub_…`).
        id: String,
    },
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}`: expected KEY=VALUE"))
}

pub async fn run(ctx: &Ctx, command: SubjectsCommand) -> Result<(), CliError> {
    match command {
        SubjectsCommand::Create {
            kind,
            name,
            policy,
            labels,
        } => {
            let b = body(&CreateSubjectBody {
                kind,
                name,
                policy_id: policy,
                labels: labels.into_iter().collect::<BTreeMap<_, _>>(),
            });
            let answer = ctx.client.post("/api/v1/subjects", &b).await?;
            print_answer(ctx, &answer, |s: &Subject| {
                format!("created subject {}\n{}", s.id, render(s))
            })
        }
        SubjectsCommand::List {
            kind,
            policy,
            paging,
        } => {
            let query = Query::new().opt("kind", kind).opt("policy_id", policy);
            let listing = fetch_list(ctx, "/api/v1/subjects", query, &paging).await?;
            if ctx.json {
                listing.print_json();
                return Ok(());
            }
            let mut t = Table::new(&["ID", "KIND", "NAME", "POLICY", "LABELS"]);
            for s in listing.parse::<Subject>()? {
                t.row(vec![
                    s.id.to_string(),
                    s.kind.clone(),
                    s.name.clone(),
                    s.policy_id.to_string(),
                    labels(&s.labels),
                ]);
            }
            listing.print_table(&t, "subjects");
            Ok(())
        }
        SubjectsCommand::Show { id } => {
            let answer = ctx.client.get(&item_path("subjects", &id, "")).await?;
            print_answer(ctx, &answer, render)
        }
    }
}

fn labels(l: &BTreeMap<String, String>) -> String {
    if l.is_empty() {
        "-".to_owned()
    } else {
        l.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The full view of one subject.
fn render(s: &Subject) -> String {
    let mut f = Fields::new();
    f.add("id", s.id.to_string())
        .add("kind", s.kind.clone())
        .add("name", s.name.clone())
        .add("policy", s.policy_id.to_string())
        .add("labels", labels(&s.labels));
    f.render()
}
