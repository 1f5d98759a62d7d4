//! `countersign log checkpoint|key|fetch` and `countersign audit proof`: thin reads of the
//! transparency log's routes, saved to files for the offline checks of `countersign audit
//! verify`.
//!
//! `log fetch --out DIR` downloads the current signed checkpoint (`DIR/checkpoint`), the
//! server's verifier key (`DIR/key`, for reference only: verify with a key you got another
//! way) and every hash tile of that tree under `DIR/tile/…` by the C2SP paths. Full tiles never
//! change, so those already in `DIR` are not fetched again. Nothing fetched needs trusting: the
//! verifier authenticates every tile against the checkpoint, and the checkpoint against the key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use countersign_tlog::tile::tiles_for_growth;
use countersign_tlog::Checkpoint;

use crate::commands::{item_path, Ctx};
use crate::error::CliError;
use crate::output;
use crate::tile_dir::TileDir;

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The log's current signed checkpoint (C2SP signed note).
    Checkpoint(OutArg),
    /// The log's verifier key as the server states it (`<origin>+<key id>+<base64>`).
    Key(OutArg),
    /// Download the checkpoint, key and hash tiles into a directory for `audit verify --tiles`.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct OutArg {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The directory to fill (created when missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
}

pub async fn run(ctx: &Ctx, command: LogCommand) -> Result<(), CliError> {
    match command {
        LogCommand::Checkpoint(a) => {
            let text = fetch_text(ctx, "/api/v1/log/checkpoint", "text/plain").await?;
            emit(&text, a.out.as_deref())
        }
        LogCommand::Key(a) => {
            let text = fetch_text(ctx, "/api/v1/log/key", "text/plain").await?;
            let text = format!("{}\n", text.trim_end());
            emit(&text, a.out.as_deref())
        }
        LogCommand::Fetch(a) => fetch(ctx, &a.out).await,
    }
}

/// `countersign audit proof <event_id>`: the event's C2SP tlog-proof.
pub async fn audit_proof(ctx: &Ctx, id: &str, out: Option<&Path>) -> Result<(), CliError> {
    let answer = ctx
        .client
        .call(
            reqwest::Method::GET,
            &item_path("audit", id, "/proof"),
            None,
            &[("accept", "text/plain".to_owned())],
        )
        .await?;
    emit(&text_of(&answer.body, "the proof")?, out)
}

/// GET a text route that may be public.
pub async fn fetch_text(ctx: &Ctx, path: &str, accept: &str) -> Result<String, CliError> {
    let answer = ctx.client.get_public(path, accept).await?;
    text_of(&answer.body, path)
}

fn text_of(body: &[u8], what: &str) -> Result<String, CliError> {
    String::from_utf8(body.to_vec())
        .map_err(|_| CliError::Other(anyhow::anyhow!("the server's {what} is not UTF-8 text")))
}

/// Print `text` as is, or write it to `out`.
fn emit(text: &str, out: Option<&Path>) -> Result<(), CliError> {
    match out {
        Some(path) => write_file(path, text.as_bytes()),
        None => {
            output::print(text);
            Ok(())
        }
    }
}

/// Write a file whole: beside its final name first, then moved there.
pub fn write_file(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|e| anyhow::Error::new(e.error).context(format!("writing {}", path.display())))?;
    Ok(())
}

async fn fetch(ctx: &Ctx, out: &Path) -> Result<(), CliError> {
    let note = fetch_text(ctx, "/api/v1/log/checkpoint", "text/plain").await?;
    let checkpoint = unverified_body(&note)?;
    let key = fetch_text(ctx, "/api/v1/log/key", "text/plain").await?;
    let dir = TileDir::new(out);
    let tiles = tiles_for_growth(0, checkpoint.size);
    let (mut fetched, mut kept) = (0usize, 0usize);
    for tile in &tiles {
        let path = dir.path_of(tile);
        if tile.is_full() && path.exists() {
            kept += 1;
            continue;
        }
        let answer = ctx
            .client
            .get_public(
                &format!("/api/v1/log/{}", tile.path()),
                "application/octet-stream",
            )
            .await?;
        write_file(&path, &answer.body)?;
        fetched += 1;
    }
    // The checkpoint last: a directory with a checkpoint holds every tile it needs.
    write_file(&out.join("key"), format!("{}\n", key.trim_end()).as_bytes())?;
    write_file(&out.join("checkpoint"), note.as_bytes())?;
    eprintln!(
        "fetched the checkpoint of {} at tree size {} and {fetched} tiles ({kept} already there) into {}",
        checkpoint.origin,
        checkpoint.size,
        out.display()
    );
    Ok(())
}

/// The checkpoint body of a signed note, unverified (only to know which tiles to fetch).
fn unverified_body(note: &str) -> Result<Checkpoint, CliError> {
    let body = note
        .split_once("\n\n")
        .map(|(text, _)| format!("{text}\n"))
        .ok_or_else(|| {
            CliError::Other(anyhow::anyhow!(
                "the server's checkpoint is not a signed note"
            ))
        })?;
    Checkpoint::parse_body(body.as_bytes())
        .map_err(|e| CliError::Other(anyhow::anyhow!("the server's checkpoint: {e}")))
}
