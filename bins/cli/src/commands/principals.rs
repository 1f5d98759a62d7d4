//! `countersign principals create|list|show|disable`.

use clap::Subcommand;
use countersign_api::domain::PrincipalKind;
use countersign_api::requests::CreatePrincipalBody;
use countersign_api::PrincipalView;
use time::OffsetDateTime;

use crate::client::Query;
use crate::commands::people::resolve;
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{relative, Fields, Table};

#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// Create a principal (then give it roles and a key).
    Create {
        /// Its name: lower case letters, digits, `.`, `_`, `-`.
        name: String,
        /// `user` or `service`.
        #[arg(long, default_value = "user")]
        kind: PrincipalKind,
    },
    /// List principals with their roles.
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// One principal: kind, roles, whether disabled.
    Show {
        /// A name or an id (`prn_…`).
        who: String,
    },
    /// Disable a principal: its keys stop working.
    Disable {
        /// A name or an id (`prn_…`).
        who: String,
    },
}

pub async fn run(ctx: &Ctx, command: PrincipalsCommand) -> Result<(), CliError> {
    match command {
        PrincipalsCommand::Create { name, kind } => {
            let b = body(&CreatePrincipalBody { name, kind });
            let answer = ctx.client.post("/api/v1/auth/principals", &b).await?;
            print_answer(ctx, &answer, |p: &PrincipalView| {
                format!(
                    "created {} {} ({}); give it roles with `countersign roles assign <role> {}` \
                     and a key with `countersign keys create {}`\n",
                    p.principal.kind.as_str(),
                    p.principal.name,
                    p.principal.id,
                    p.principal.name,
                    p.principal.name
                )
            })
        }
        PrincipalsCommand::List { paging } => {
            let listing = fetch_list(ctx, "/api/v1/auth/principals", Query::new(), &paging).await?;
            if ctx.json {
                listing.print_json();
                return Ok(());
            }
            let now = OffsetDateTime::now_utc();
            let mut t = Table::new(&["NAME", "KIND", "ROLES", "DISABLED", "ID", "CREATED"]);
            for p in listing.parse::<PrincipalView>()? {
                t.row(vec![
                    p.principal.name.to_string(),
                    p.principal.kind.as_str().to_owned(),
                    roles(&p),
                    yes_no(p.principal.disabled),
                    p.principal.id.to_string(),
                    relative(p.principal.created_at, now),
                ]);
            }
            listing.print_table(&t, "principals");
            Ok(())
        }
        PrincipalsCommand::Show { who } => {
            let id = resolve(ctx, &who).await?;
            let answer = ctx
                .client
                .get(&item_path("auth/principals", &id, ""))
                .await?;
            print_answer(ctx, &answer, render)
        }
        PrincipalsCommand::Disable { who } => {
            let id = resolve(ctx, &who).await?;
            let answer = ctx
                .client
                .post(
                    &item_path("auth/principals", &id, "/disable"),
                    &serde_json::json!({}),
                )
                .await?;
            print_answer(ctx, &answer, |p: &PrincipalView| {
                format!("{} is disabled\n", p.principal.name)
            })
        }
    }
}

fn roles(p: &PrincipalView) -> String {
    if p.roles.is_empty() {
        "-".to_owned()
    } else {
        p.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// The full view of one principal.
fn render(p: &PrincipalView) -> String {
    let mut f = Fields::new();
    f.add("name", p.principal.name.to_string())
        .add("id", p.principal.id.to_string())
        .add("kind", p.principal.kind.as_str())
        .add("roles", roles(p))
        .add("disabled", yes_no(p.principal.disabled))
        .add(
            "created",
            crate::output::human_time(&crate::timearg::format(p.principal.created_at)),
        );
    f.render()
}
