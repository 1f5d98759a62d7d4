//! `countersign keys create|list|revoke`.

use clap::Subcommand;
use countersign_api::requests::CreateKeyBody;
use countersign_api::{KeyCreated, KeyView};
use reqwest::Method;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::Query;
use crate::commands::people::{resolve, Directory};
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{self, relative, Table};
use crate::timearg;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint an API key for a principal; the secret is printed once.
    Create {
        /// A principal name or id (`prn_…`).
        who: String,
        /// When the key stops working (RFC 3339 or a date; default: never).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
    },
    /// List keys (never their secrets).
    #[command(visible_alias = "ls")]
    List {
        /// Only this principal's keys: a name or an id.
        #[arg(long, value_name = "NAME|ID")]
        principal: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key id (`key_…`).
        id: String,
    },
}

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Create { who, expires_at } => {
            let expires_at = match expires_at {
                Some(t) => Some(
                    timearg::parse(&t, OffsetDateTime::now_utc())
                        .map_err(|e| CliError::Usage(format!("--expires-at: {e}")))?,
                ),
                None => None,
            };
            let id = resolve(ctx, &who).await?;
            let b = body(&CreateKeyBody { expires_at });
            let answer = ctx
                .client
                .post(&item_path("auth/principals", &id, "/keys"), &b)
                .await?;
            print_answer(ctx, &answer, |k: &KeyCreated| {
                let expires = k
                    .expires_at
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_else(|| "never".to_owned());
                format!(
                    "{}\n(key {} for {who}, expires {expires}; the secret above is shown only now)\n",
                    k.key, k.key_id
                )
            })
        }
        KeysCommand::List { principal, paging } => {
            let principal = match principal {
                Some(who) => Some(resolve(ctx, &who).await?),
                None => None,
            };
            let query = Query::new().opt("principal_id", principal);
            let listing = fetch_list(ctx, "/api/v1/auth/keys", query, &paging).await?;
            if ctx.json {
                listing.print_json();
                return Ok(());
            }
            let people = Directory::load(ctx).await?;
            let now = OffsetDateTime::now_utc();
            let mut t = Table::new(&["ID", "PRINCIPAL", "STATUS", "EXPIRES", "CREATED"]);
            for k in listing.parse::<KeyView>()? {
                t.row(vec![
                    k.key.id.to_string(),
                    people.name(Some(&k.key.principal_id.to_string())),
                    k.status.as_str().to_owned(),
                    k.key
                        .expires_at
                        .map(|e| relative(e, now))
                        .unwrap_or_else(|| "never".to_owned()),
                    relative(k.key.created_at, now),
                ]);
            }
            listing.print_table(&t, "keys");
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let answer = ctx
                .client
                .call(Method::DELETE, &item_path("auth/keys", &id, ""), None, &[])
                .await?;
            if ctx.json {
                output::print_raw_json(if answer.body.is_empty() {
                    b"{}"
                } else {
                    &answer.body
                });
            } else {
                output::print(&format!("key {id} is revoked\n"));
            }
            Ok(())
        }
    }
}
