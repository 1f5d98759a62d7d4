//! `countersign api [-X METHOD] PATH [--data JSON]`: any route, with the key, the error
//! handling and the exit codes of every other command; the answer is printed as is.

use std::path::PathBuf;

use clap::Args;
use reqwest::Method;

use crate::commands::{json_arg, Ctx};
use crate::error::CliError;
use crate::output;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The path, e.g. `/api/v1/policies` (a query string may follow).
    pub path: String,
    /// The method [default: GET, or POST with a body].
    #[arg(long = "method", short = 'X', value_name = "METHOD")]
    pub method: Option<String>,
    /// A JSON body.
    #[arg(long, short = 'd', conflicts_with = "data_file", value_name = "JSON")]
    pub data: Option<String>,
    /// A JSON body from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, a: ApiArgs) -> Result<(), CliError> {
    if !a.path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "the path `{}` must start with `/`",
            a.path
        )));
    }
    let body = json_arg(a.data.as_deref(), a.data_file.as_deref(), "data")?;
    let method = match a.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| CliError::Usage(format!("`{m}` is not an HTTP method")))?,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    let answer = ctx.client.call(method, &a.path, body.as_ref(), &[]).await?;
    if !answer.body.is_empty() {
        output::print_raw_json(&answer.body);
    }
    Ok(())
}
