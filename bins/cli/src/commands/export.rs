//! `countersign audit export`: stream `GET /api/v1/audit/export` (NDJSON) to a file or stdout
//! chunk by chunk as it arrives (memory stays flat), with a progress line on stderr. The export
//! covers a time window (`--from`, `--to`) or a range of the transparency log's leaves
//! (`--first-leaf`, `--last-leaf`), which `countersign audit verify export` checks as it is.
//!
//! `--resume` continues an existing file: a torn last line (an interrupted write) is cut off,
//! the last complete line's `event_id` becomes `after=` (for a leaf range, the leaf after its
//! `leaf_index` becomes `first_leaf=`), and new events are appended, so an interrupted export
//! finished with `--resume` holds every event exactly once.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use tempfile::NamedTempFile;

use crate::client::{error_chain, Query};
use crate::commands::progress::{self, Progress};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::timearg;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Window start (RFC 3339, `2026-05-20`, `now-7d`).
    #[arg(long, value_name = "TIME", value_parser = timearg::clap_parse, allow_hyphen_values = true, required_unless_present = "first_leaf")]
    pub from: Option<String>,
    /// Window end (same forms; the server caps the window, 90 days by default).
    #[arg(long, value_name = "TIME", value_parser = timearg::clap_parse, allow_hyphen_values = true, required_unless_present = "first_leaf")]
    pub to: Option<String>,
    /// Only this category (`lifecycle`, `auth`, `config`, `access`, `audit`).
    #[arg(long, conflicts_with = "first_leaf")]
    pub category: Option<String>,
    /// At most this many events.
    #[arg(long, conflicts_with = "first_leaf")]
    pub limit: Option<u64>,
    /// Instead of a window: the transparency log's leaves from this index, in leaf order
    /// (needs `log.read` too; `audit verify export` checks the file as it is).
    #[arg(long, value_name = "INDEX", requires = "last_leaf", conflicts_with_all = ["from", "to"])]
    pub first_leaf: Option<u64>,
    /// The leaf range's last index, included (the server caps the range, 10,000,000 leaves
    /// by default).
    #[arg(long, value_name = "INDEX", requires = "first_leaf")]
    pub last_leaf: Option<u64>,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Continue FILE after its last complete event (it is created when missing).
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Overwrite FILE when it already holds data.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
}

/// Where the export goes: a file being continued, a new file written beside its final name
/// and moved there once the server has answered (so a refused export leaves no file), or
/// stdout.
enum Sink {
    File(File, PathBuf),
    New(NamedTempFile, PathBuf),
    Stdout(std::io::Stdout),
}

impl Sink {
    fn write_all(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File(f, _) => f.write_all(chunk),
            Sink::New(f, _) => f.write_all(chunk),
            Sink::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(chunk)?;
                out.flush()
            }
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f, _) => f.sync_all(),
            Sink::New(f, _) => f.as_file().sync_all(),
            Sink::Stdout(out) => out.flush(),
        }
    }

    /// Put a new file in its place (what it holds so far, so `--resume` can continue it).
    fn persist(self) -> Result<(), CliError> {
        if let Sink::New(f, path) = self {
            f.persist(&path).map_err(|e| {
                anyhow::Error::new(e.error).context(format!("writing {}", path.display()))
            })?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Ctx, a: ExportArgs) -> Result<(), CliError> {
    let (mut sink, last) = open_sink(&a)?;
    let (after, first_leaf) = match (&last, a.first_leaf) {
        (None, first) => (None, first),
        (Some(last), None) => (Some(last.event_id.clone()), None),
        (Some(last), Some(_)) => (None, Some(last.next_leaf()?)),
    };
    if let (Some(first), Some(end)) = (first_leaf, a.last_leaf) {
        if first > end {
            // Resuming a leaf range already complete.
            sink.persist()?;
            eprintln!("nothing to export: the file already runs through leaf {end}");
            return Ok(());
        }
    }
    let query = Query::new()
        .opt("from", a.from.as_ref())
        .opt("to", a.to.as_ref())
        .opt("category", a.category.as_ref())
        .opt("limit", a.limit)
        .opt("after", after.as_ref())
        .opt("first_leaf", first_leaf)
        .opt("last_leaf", a.last_leaf);
    let resp = ctx
        .client
        .stream(
            &format!("/api/v1/audit/export{}", query.render()),
            "application/x-ndjson",
        )
        .await?;
    let to_terminal = matches!(sink, Sink::Stdout(_)) && std::io::stdout().is_terminal();
    let mut progress = Progress::new(std::io::stderr().is_terminal() && !to_terminal);
    let mut body = resp.bytes_stream();
    let mut torn = false;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                progress.finish();
                let _ = sink.finish();
                return Err(interrupted(sink, &progress, &error_chain(&e)));
            }
        };
        {
            match sink.write_all(&chunk) {
                Ok(()) => {}
                // `| head`: the reader has all it wants.
                Err(e) if e.kind() == ErrorKind::BrokenPipe && matches!(sink, Sink::Stdout(_)) => {
                    return Ok(())
                }
                Err(e) => {
                    let what = format!("writing {}", sink_name(&sink));
                    return Err(anyhow::Error::new(e).context(what).into());
                }
            }
            progress.add(&chunk);
            torn = !chunk.ends_with(b"\n");
        }
    }
    progress.finish();
    sink.finish()
        .with_context(|| format!("writing {}", sink_name(&sink)))?;
    if torn {
        return Err(interrupted(
            sink,
            &progress,
            "the answer ended inside an event",
        ));
    }
    let name = sink_name(&sink);
    sink.persist()?;
    let resumed = match (&last, a.first_leaf) {
        (None, _) => String::new(),
        (Some(last), None) => format!(" after {}", last.event_id),
        (Some(_), Some(_)) => format!(" from leaf {}", first_leaf.unwrap_or_default()),
    };
    eprintln!(
        "exported {} events ({}){resumed} to {} in {:.1}s",
        progress.events,
        progress::bytes(progress.bytes),
        name,
        progress.elapsed().as_secs_f64()
    );
    Ok(())
}

fn sink_name(sink: &Sink) -> String {
    match sink {
        Sink::File(_, p) | Sink::New(_, p) => p.display().to_string(),
        Sink::Stdout(_) => "stdout".to_owned(),
    }
}

fn interrupted(sink: Sink, progress: &Progress, why: &str) -> CliError {
    let hint = match sink {
        Sink::File(..) | Sink::New(..) => "; run the same command with --resume to continue",
        Sink::Stdout(_) => "; export to a file with --output to be able to --resume",
    };
    let err = CliError::Other(anyhow::anyhow!(
        "the export was interrupted after {} events ({why}){hint}",
        progress.events
    ));
    match sink.persist() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// The last complete event of a file being resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastLine {
    pub event_id: String,
    /// Its `leaf_index`, when the line has one.
    pub leaf_index: Option<u64>,
}

impl LastLine {
    /// The leaf a leaf-range export resumes at.
    fn next_leaf(&self) -> Result<u64, CliError> {
        self.leaf_index.map(|i| i + 1).ok_or_else(|| {
            CliError::Usage(format!(
                "cannot resume a leaf range: the last line ({}) has no leaf_index",
                self.event_id
            ))
        })
    }
}

/// Open the output; with `--resume`, also the last event already written.
fn open_sink(a: &ExportArgs) -> Result<(Sink, Option<LastLine>), CliError> {
    let Some(path) = &a.output else {
        return Ok((Sink::Stdout(std::io::stdout()), None));
    };
    if a.resume {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let after = resume_point(&mut file, path)?;
        return Ok((Sink::File(file, path.clone()), after));
    }
    let has_data = std::fs::metadata(path)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if has_data && !a.force {
        return Err(CliError::Usage(format!(
            "{} already holds data: pass --resume to continue it or --force to overwrite it",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file =
        NamedTempFile::new_in(dir).with_context(|| format!("creating {}", path.display()))?;
    Ok((Sink::New(file, path.clone()), None))
}

/// Cut a torn last line off `file` and return its last complete line's `event_id` and
/// `leaf_index` (`None` for an empty file).
pub fn resume_point(file: &mut File, path: &Path) -> Result<Option<LastLine>, CliError> {
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let (start, tail) =
        read_tail(file, len).with_context(|| format!("reading {}", path.display()))?;
    // `tail` holds the last complete line whole (or starts at the file's start).
    let Some(last_nl) = tail.iter().rposition(|&b| b == b'\n') else {
        file.set_len(0)
            .with_context(|| format!("truncating {}", path.display()))?;
        return Ok(None);
    };
    let keep = start + last_nl as u64 + 1;
    if keep < len {
        file.set_len(keep)
            .with_context(|| format!("truncating {}", path.display()))?;
        eprintln!(
            "note: dropped a torn last line ({} bytes) from {}",
            len - keep,
            path.display()
        );
    }
    let line_start = tail[..last_nl]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = &tail[line_start..last_nl];
    let event: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        CliError::Usage(format!(
            "cannot resume {}: its last line is not an audit event ({e})",
            path.display()
        ))
    })?;
    match event["event_id"].as_str() {
        Some(id) => Ok(Some(LastLine {
            event_id: id.to_owned(),
            leaf_index: event["leaf_index"].as_u64(),
        })),
        None => Err(CliError::Usage(format!(
            "cannot resume {}: its last line has no event_id",
            path.display()
        ))),
    }
}

/// Read enough of the end of a `len`-byte file to hold its last complete line: two newlines
/// (or one and the start of the file). Returns the offset the bytes start at.
fn read_tail(file: &mut File, len: u64) -> std::io::Result<(u64, Vec<u8>)> {
    let mut size: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(size);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let enough = match buf.iter().rposition(|&b| b == b'\n') {
            None => false,
            Some(last) => buf[..last].contains(&b'\n'),
        };
        if start == 0 || enough {
            return Ok((start, buf));
        }
        size = size.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, content: &[u8]) -> (PathBuf, File) {
        let path = std::env::temp_dir().join(format!(
            "countersign-cli-{name}-{}.ndjson",
            std::process::id()
        ));
        std::fs::write(&path, content).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        (path, file)
    }

    #[test]
    fn resume_takes_the_last_complete_line_and_cuts_a_torn_one() {
        let (path, mut f) = file_with(
            "torn",
            b"{\"event_id\":\"evt_1\"}\n{\"event_id\":\"evt_2\"}\n{\"event_id\":\"ev",
        );
        assert_eq!(
            resume_point(&mut f, &path)
                .unwrap()
                .map(|l| l.event_id)
                .as_deref(),
            Some("evt_2")
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"event_id\":\"evt_1\"}\n{\"event_id\":\"evt_2\"}\n"
        );
        // Appending continues right after the kept line.
        f.write_all(b"{\"event_id\":\"evt_3\"}\n").unwrap();
        assert_eq!(
            resume_point(&mut f, &path)
                .unwrap()
                .map(|l| l.event_id)
                .as_deref(),
            Some("evt_3")
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn resume_of_an_empty_or_wholly_torn_file_starts_over() {
        let (path, mut f) = file_with("empty", b"");
        assert_eq!(resume_point(&mut f, &path).unwrap(), None);
        let (path2, mut f2) = file_with("onlytorn", b"{\"event_id\":\"e");
        assert_eq!(resume_point(&mut f2, &path2).unwrap(), None);
        assert_eq!(std::fs::metadata(&path2).unwrap().len(), 0);
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&path2).unwrap();
    }

    #[test]
    fn resume_finds_a_long_last_line_and_refuses_junk() {
        let long = format!(
            "{{\"event_id\":\"evt_9\",\"pad\":\"{}\"}}\n",
            "x".repeat(200_000)
        );
        let (path3, mut f3) = file_with("leaf", b"{\"event_id\":\"evt_1\",\"leaf_index\":41}\n");
        let last = resume_point(&mut f3, &path3).unwrap().unwrap();
        assert_eq!(last.leaf_index, Some(41));
        assert_eq!(last.next_leaf().unwrap(), 42);
        std::fs::remove_file(&path3).unwrap();
        let (path, mut f) = file_with(
            "long",
            format!("{{\"event_id\":\"evt_8\"}}\n{long}").as_bytes(),
        );
        assert_eq!(
            resume_point(&mut f, &path)
                .unwrap()
                .map(|l| l.event_id)
                .as_deref(),
            Some("evt_9")
        );
        let (path2, mut f2) = file_with("junk", b"hello\n");
        let err = resume_point(&mut f2, &path2).unwrap_err();
        assert!(err.to_string().contains("is not an audit event"), "{err}");
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&path2).unwrap();
    }
}
