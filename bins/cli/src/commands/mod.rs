//! The commands, one module each, and what they share: the [`Ctx`] they run with and
//! [`fetch_list`], which follows `next_cursor` for `--all`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::client::{Client, Query};
use crate::config;
use crate::error::CliError;
use crate::output;

pub mod api;
pub mod approvals;
pub mod audit;
pub mod completions;
pub mod export;
pub mod jobs;
pub mod keys;
pub mod log;
pub mod people;
pub mod policies;
pub mod principals;
pub mod progress;
pub mod roles;
pub mod subjects;
pub mod verify;
pub mod watch;
pub mod whoami;

/// What every command runs with.
#[derive(Debug)]
pub struct Ctx {
    pub client: Client,
    /// `--json`: print the server's JSON.
    pub json: bool,
}

/// Resolve the settings and run the command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    if let Command::Completions { shell } = cli.command {
        completions::print(shell);
        return Ok(());
    }
    let mut g = cli.global;
    g.resolve_env()?;
    let timeout = Duration::from_secs(g.timeout_secs());
    let settings = config::resolve(g.url, g.key, g.config.as_deref())?;
    let client = Client::new(&settings, timeout, g.ca_cert.as_deref())?;
    let ctx = Ctx {
        client,
        json: g.json,
    };
    match cli.command {
        Command::Whoami => whoami::run(&ctx).await,
        Command::Approvals(c) => approvals::run(&ctx, c).await,
        Command::Jobs(c) => jobs::run(&ctx, c).await,
        Command::Audit(c) => audit::run(&ctx, c).await,
        Command::Log(c) => log::run(&ctx, c).await,
        Command::Api(a) => api::run(&ctx, a).await,
        Command::Principals(c) => principals::run(&ctx, c).await,
        Command::Roles(c) => roles::run(&ctx, c).await,
        Command::Keys(c) => keys::run(&ctx, c).await,
        Command::Policies(c) => policies::run(&ctx, c).await,
        Command::Subjects(c) => subjects::run(&ctx, c).await,
        Command::Completions { .. } => unreachable!("answered before any setting is read"),
    }
}

/// Paging options every list takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Rows per page (1..=500; the server's default is 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Start at this cursor (a previous answer's `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow `next_cursor` to the end (500 rows a page unless --limit says otherwise).
    #[arg(long)]
    pub all: bool,
}

/// One page as the API answers it.
#[derive(Debug, Deserialize, Serialize)]
struct Page {
    data: Vec<Value>,
    next_cursor: Option<String>,
}

/// A list fetched with [`fetch_list`].
#[derive(Debug)]
pub struct FetchedList {
    pub items: Vec<Value>,
    /// Where the next page starts, when `--all` was not given and there is one.
    pub next_cursor: Option<String>,
    /// The answer's body when there was exactly one page (printed as is under `--json`).
    single_body: Option<bytes::Bytes>,
}

impl FetchedList {
    /// The items (for tables).
    pub fn values(&self) -> &[Value] {
        &self.items
    }

    /// The items as typed views.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, CliError> {
        self.items
            .iter()
            .map(|v| {
                T::deserialize(v).map_err(|e| {
                    CliError::Other(anyhow::anyhow!(
                        "the server's list item is not what this CLI expects: {e}"
                    ))
                })
            })
            .collect()
    }

    /// Print the JSON: the server's answer as is for one page, else
    /// `{"data": [every item], "next_cursor": null}` (keys then in sorted order).
    pub fn print_json(self) {
        match self.single_body {
            Some(body) => output::print_raw_json(&body),
            None => {
                let page = Page {
                    data: self.items,
                    next_cursor: self.next_cursor,
                };
                let text = serde_json::to_string(&page).expect("JSON values serialize");
                output::print_raw_json(text.as_bytes());
            }
        }
    }

    /// Print a table (`no <what>` when empty), and a hint on stderr when there is more.
    pub fn print_table(&self, table: &output::Table, what: &str) {
        if table.is_empty() {
            output::print(&format!("no {what}\n"));
        } else {
            output::print(&table.render());
        }
        if let Some(cursor) = &self.next_cursor {
            eprintln!("(more {what}: pass --all, or --cursor {cursor})");
        }
    }
}

/// GET `path` with `query` and the paging options; with `--all`, follow `next_cursor` until
/// it is null.
pub async fn fetch_list(
    ctx: &Ctx,
    path: &str,
    query: Query,
    paging: &Paging,
) -> Result<FetchedList, CliError> {
    let mut query = query
        .opt("limit", paging.limit.or(paging.all.then_some(500)))
        .opt("cursor", paging.cursor.clone());
    let mut items = Vec::new();
    let mut pages = 0usize;
    let mut seen = std::collections::HashSet::new();
    loop {
        let answer = ctx.client.get(&format!("{path}{}", query.render())).await?;
        let page: Page = serde_json::from_slice(&answer.body).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "the server's list answer is not `{{data, next_cursor}}`: {e}"
            ))
        })?;
        pages += 1;
        items.extend(page.data);
        match page.next_cursor {
            Some(cursor) if paging.all => {
                if !seen.insert(cursor.clone()) {
                    return Err(CliError::Other(anyhow::anyhow!(
                        "the server returned the cursor `{cursor}` twice; stopping"
                    )));
                }
                query.set("cursor", cursor);
            }
            next_cursor => {
                let single_body = (pages == 1).then_some(answer.body);
                return Ok(FetchedList {
                    items,
                    next_cursor,
                    single_body,
                });
            }
        }
    }
}

/// The value of a `--payload`/`--data` flag or the file it names (`-` for stdin), parsed as
/// JSON; bad JSON is a usage error.
pub fn json_arg(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    flag: &str,
) -> Result<Option<Value>, CliError> {
    let (text, origin) = match (inline, file) {
        (Some(t), _) => (t.to_owned(), format!("--{flag}")),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CliError::Usage(format!("--{flag}-file -: cannot read stdin: {e}")))?;
            (s, format!("--{flag}-file - (stdin)"))
        }
        (None, Some(p)) => (
            std::fs::read_to_string(p)
                .map_err(|e| CliError::Usage(format!("--{flag}-file {}: {e}", p.display())))?,
            format!("--{flag}-file {}", p.display()),
        ),
        (None, None) => return Ok(None),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("{origin}: not valid JSON: {e}")))
}

/// Print the answer: its JSON as sent under `--json`, else what `render` makes of it typed.
pub fn print_answer<T: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    answer: &crate::client::Answer,
    render: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    if ctx.json {
        output::print_raw_json(&answer.body);
    } else {
        output::print(&render(&answer.parse::<T>()?));
    }
    Ok(())
}

/// A request body as JSON.
pub fn body<T: Serialize>(b: &T) -> Value {
    serde_json::to_value(b).expect("a request body serializes")
}

/// `/api/v1/<collection>/<id>` with the id percent-encoded.
pub fn item_path(collection: &str, id: &str, suffix: &str) -> String {
    format!("/api/v1/{collection}/{}{suffix}", crate::client::encode(id))
}
