//! `countersign audit verify event|export|consistency`: the auditor's checks of the
//! transparency log, offline, with only the log's verifier key (`--log-key FILE`, or the key
//! text in `COUNTERSIGN_LOG_KEY`). The cryptography is `countersign-tlog`'s; this module reads
//! the files, calls it, and says what it found.
//!
//! Exit codes: 0 verified, 1 verification failed, 2 usage (a missing or unreadable input, a
//! key that does not parse).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use countersign_tlog::export_range::{self, Expected, ExportError, NoTiles};
use countersign_tlog::leaf::{write_borrowed_leaf, BorrowedValue, LEAF_INDEX_FIELD};
use countersign_tlog::proof::decode_proof;
use countersign_tlog::tiled::TiledTree;
use countersign_tlog::{verify_consistency, Checkpoint, LogVerifier, TlogProof};
use serde::Deserialize;

use crate::commands::{log, Ctx};
use crate::error::CliError;
use crate::output;
use crate::tile_dir::TileDir;

/// The variable holding the verifier key's text, when `--log-key` is not given.
pub const LOG_KEY_ENV: &str = "COUNTERSIGN_LOG_KEY";

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// One event's proof: a C2SP tlog-proof (`countersign audit proof`) and the event's JSON
    /// (`countersign audit show --json`, or its export line).
    Event(EventArgs),
    /// An exported range (NDJSON with `leaf_index`) is exactly the log's leaves [first, last]
    /// of a signed checkpoint: no edit, deletion, insertion, reorder, duplicate or gap.
    Export(ExportArgs),
    /// The log at a newer checkpoint extends a checkpoint saved earlier.
    Consistency(ConsistencyArgs),
}

/// The log's verifier key.
#[derive(Debug, Clone, Args)]
pub struct KeyArg {
    /// File holding the log's verifier key, `<origin>+<key id>+<base64>` (`countersign log
    /// key`) [env: COUNTERSIGN_LOG_KEY holds the key text itself].
    #[arg(long, value_name = "FILE")]
    pub log_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EventArgs {
    /// The C2SP tlog-proof (text, as `GET /api/v1/audit/{id}/proof` serves it as text/plain).
    #[arg(long, value_name = "FILE")]
    pub proof: PathBuf,
    /// The event's JSON: the API's answer for it, or its line from an export.
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    #[command(flatten)]
    pub key: KeyArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The NDJSON export, its lines in leaf order (`-` for stdin).
    pub export: PathBuf,
    /// The signed checkpoint to verify against [default: DIR/checkpoint with --tiles DIR].
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Directory of the log's hash tiles (`countersign log fetch --out DIR`): needed for a
    /// range that does not run from leaf 0 to the checkpoint's size, and names an edited line.
    #[arg(long, value_name = "DIR")]
    pub tiles: Option<PathBuf>,
    /// The range must start at this leaf index [default: the first line's].
    #[arg(long, value_name = "INDEX")]
    pub first: Option<u64>,
    /// The range must end at this leaf index [default: the checkpoint's last leaf without
    /// --tiles, else the last line's].
    #[arg(long, value_name = "INDEX")]
    pub last: Option<u64>,
    #[command(flatten)]
    pub key: KeyArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("newer").required(true).args(["new", "online"])))]
pub struct ConsistencyArgs {
    /// The checkpoint saved earlier.
    #[arg(long, value_name = "FILE")]
    pub old: PathBuf,
    /// The newer checkpoint.
    #[arg(long, value_name = "FILE", requires = "evidence")]
    pub new: Option<PathBuf>,
    /// The consistency proof, as `GET /api/v1/log/consistency?old=M&new=N` answers it (JSON).
    #[arg(long, value_name = "FILE", group = "evidence")]
    pub proof: Option<PathBuf>,
    /// Directory of the log's hash tiles at the newer checkpoint's size.
    #[arg(long, value_name = "DIR", group = "evidence")]
    pub tiles: Option<PathBuf>,
    /// Fetch the current checkpoint and the proof from the server (--url), then verify
    /// offline.
    #[arg(long, conflicts_with_all = ["new", "proof", "tiles"])]
    pub online: bool,
    /// With --online: write the verified current checkpoint here (the next run's --old).
    #[arg(long, value_name = "FILE", requires = "online")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArg,
}

pub async fn run(ctx: &Ctx, command: VerifyCommand) -> Result<(), CliError> {
    match command {
        VerifyCommand::Event(a) => event(&a),
        VerifyCommand::Export(a) => export(&a),
        VerifyCommand::Consistency(a) => consistency(ctx, &a).await,
    }
}

/// A verification that did not hold: exit 1.
fn failed(what: impl std::fmt::Display) -> CliError {
    CliError::Other(anyhow::anyhow!("verification failed: {what}"))
}

/// Read an input file: a missing or unreadable one is a usage error.
fn read_input(path: &Path, flag: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
}

/// The verifier key from `--log-key FILE`, else `COUNTERSIGN_LOG_KEY`.
pub fn load_key(arg: &KeyArg) -> Result<LogVerifier, CliError> {
    let (text, origin) = match &arg.log_key {
        Some(path) => (
            String::from_utf8(read_input(path, "--log-key")?)
                .map_err(|_| CliError::Usage(format!("--log-key {}: not text", path.display())))?,
            format!("--log-key {}", path.display()),
        ),
        None => match std::env::var(LOG_KEY_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(text) => (text, LOG_KEY_ENV.to_owned()),
            None => {
                return Err(CliError::Usage(format!(
                    "no verifier key: pass --log-key FILE or set {LOG_KEY_ENV} \
                     (`countersign log key` prints the server's; compare it with one you trust)"
                )))
            }
        },
    };
    LogVerifier::new(text.trim()).map_err(|e| CliError::Usage(format!("{origin}: {e}")))
}

/// Open a signed checkpoint file with the key: a bad signature or origin fails verification.
fn open_checkpoint(key: &LogVerifier, path: &Path, flag: &str) -> Result<Checkpoint, CliError> {
    let note = read_input(path, flag)?;
    key.open_checkpoint(&note)
        .map_err(|e| failed(format!("{flag} {}: {e}", path.display())))
}

fn event(a: &EventArgs) -> Result<(), CliError> {
    let key = load_key(&a.key)?;
    let proof_text = read_input(&a.proof, "--proof")?;
    let event_text = read_input(&a.event, "--event")?;
    let proof = TlogProof::parse(&proof_text)
        .map_err(|e| failed(format!("--proof {}: {e}", a.proof.display())))?;
    // The leaf comes from the borrowed parse, which refuses a repeated key (an owned value
    // would keep its last copy, so an edited first copy could hide behind the original).
    let not_an_event = |e: serde_json::Error| {
        failed(format!(
            "--event {}: not one JSON event ({e})",
            a.event.display()
        ))
    };
    let BorrowedValue::Object(object) =
        BorrowedValue::from_slice(&event_text).map_err(not_an_event)?
    else {
        return Err(failed(format!(
            "--event {}: not a JSON object",
            a.event.display()
        )));
    };
    let mut leaf = Vec::with_capacity(event_text.len());
    write_borrowed_leaf(object, &mut leaf);
    let event: serde_json::Value = serde_json::from_slice(&event_text).map_err(not_an_event)?;
    if let Some(claimed) = event.get(LEAF_INDEX_FIELD) {
        if claimed.as_u64() != Some(proof.index) {
            return Err(failed(format!(
                "the event's {LEAF_INDEX_FIELD} is {claimed}, the proof is for leaf {}",
                proof.index
            )));
        }
    }
    let event_id = event["event_id"]
        .as_str()
        .unwrap_or("(no event_id)")
        .to_owned();
    let checkpoint = proof
        .verify(&key, &leaf)
        .map_err(|e| failed(format!("event {event_id} at leaf {}: {e}", proof.index)))?;
    output::print(&format!(
        "verified: event {event_id} is leaf {} of {} at tree size {} (root {})\n",
        proof.index, checkpoint.origin, checkpoint.size, checkpoint.root
    ));
    Ok(())
}

fn export(a: &ExportArgs) -> Result<(), CliError> {
    let key = load_key(&a.key)?;
    let checkpoint_path = match (&a.checkpoint, &a.tiles) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join("checkpoint"),
        (None, None) => {
            return Err(CliError::Usage(
                "--checkpoint FILE is required (or --tiles DIR holding DIR/checkpoint)".into(),
            ))
        }
    };
    let checkpoint = open_checkpoint(&key, &checkpoint_path, "--checkpoint")?;
    let expected = Expected {
        first: a.first,
        last: a.last,
    };
    let reader: Box<dyn std::io::Read> = if a.export.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&a.export)
                .map_err(|e| CliError::Usage(format!("export {}: {e}", a.export.display())))?,
        )
    };
    let reader = BufReader::with_capacity(256 * 1024, reader);
    let tiles = a.tiles.as_deref().map(TileDir::new);
    let verified = match &tiles {
        Some(dir) => export_range::verify_export(reader, &checkpoint, Some(dir), expected),
        None => export_range::verify_export(reader, &checkpoint, None::<&NoTiles>, expected),
    }
    .map_err(|e| match e {
        ExportError::NeedsTiles(why) => {
            CliError::Usage(format!("{why}: pass --tiles DIR (`countersign log fetch`)"))
        }
        other => failed(format!("{}: {other}", a.export.display())),
    })?;
    output::print(&format!(
        "verified: {} lines are exactly leaves {}..={} of {} at tree size {} (root {})\n",
        verified.lines,
        verified.first,
        verified.last,
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root
    ));
    Ok(())
}

/// `GET /api/v1/log/consistency` answer.
#[derive(Debug, Deserialize)]
struct ConsistencyAnswer {
    old: u64,
    new: u64,
    proof: Vec<String>,
}

async fn consistency(ctx: &Ctx, a: &ConsistencyArgs) -> Result<(), CliError> {
    let key = load_key(&a.key)?;
    let old = open_checkpoint(&key, &a.old, "--old")?;
    let new = if a.online {
        consistency_online(ctx, a, &key, &old).await?
    } else {
        let new_path = a
            .new
            .as_deref()
            .expect("clap requires --new without --online");
        let new = open_checkpoint(&key, new_path, "--new")?;
        let proof = match (&a.proof, &a.tiles) {
            (Some(path), _) => {
                let what = format!("--proof {}", path.display());
                let answer: ConsistencyAnswer =
                    serde_json::from_slice(&read_input(path, "--proof")?)
                        .map_err(|e| failed(format!("{what}: not a consistency proof ({e})")))?;
                proof_of(answer, &old, &new, &what)?
            }
            (None, Some(dir)) if old.size <= new.size => {
                let tiles = TileDir::new(dir);
                TiledTree::new(&tiles, new.size, new.root)
                    .consistency_proof(old.size)
                    .map_err(|e| failed(format!("--tiles {}: {e}", dir.display())))?
            }
            (None, Some(_)) => Vec::new(),
            (None, None) => unreachable!("clap requires --proof or --tiles with --new"),
        };
        verify_extends(&old, &new, &proof)?;
        new
    };
    output::print(&format!(
        "verified: {} at tree size {} (root {}) extends the checkpoint of size {} (root {})\n",
        new.origin, new.size, new.root, old.size, old.root
    ));
    Ok(())
}

/// `--online`: the server's current checkpoint and the proof from `old` to it, verified here.
async fn consistency_online(
    ctx: &Ctx,
    a: &ConsistencyArgs,
    key: &LogVerifier,
    old: &Checkpoint,
) -> Result<Checkpoint, CliError> {
    let note = log::fetch_text(ctx, "/api/v1/log/checkpoint", "text/plain").await?;
    let new = key
        .open_checkpoint(note.as_bytes())
        .map_err(|e| failed(format!("the server's checkpoint: {e}")))?;
    let proof = if old.size == 0 || old.size >= new.size {
        Vec::new()
    } else {
        let answer: ConsistencyAnswer = ctx
            .client
            .get(&format!(
                "/api/v1/log/consistency?old={}&new={}",
                old.size, new.size
            ))
            .await?
            .parse()?;
        proof_of(answer, old, &new, "the server's consistency proof")?
    };
    verify_extends(old, &new, &proof)?;
    if let Some(path) = &a.save {
        log::write_file(path, note.as_bytes())?;
    }
    Ok(new)
}

/// The proof's hashes, once its sizes are the checkpoints'.
fn proof_of(
    answer: ConsistencyAnswer,
    old: &Checkpoint,
    new: &Checkpoint,
    what: &str,
) -> Result<Vec<countersign_tlog::Hash>, CliError> {
    if (answer.old, answer.new) != (old.size, new.size) {
        return Err(failed(format!(
            "{what} is from size {} to {}, the checkpoints are of sizes {} and {}",
            answer.old, answer.new, old.size, new.size
        )));
    }
    decode_proof(&answer.proof).map_err(|e| failed(format!("{what}: {e}")))
}

fn verify_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[countersign_tlog::Hash],
) -> Result<(), CliError> {
    if old.size > new.size {
        return Err(failed(format!(
            "the newer checkpoint has {} leaves, fewer than the {} of the old one",
            new.size, old.size
        )));
    }
    verify_consistency(old.size, new.size, &old.root, &new.root, proof).map_err(|e| {
        failed(format!(
            "the tree of size {} does not extend the old checkpoint of size {}: {e}",
            new.size, old.size
        ))
    })
}
