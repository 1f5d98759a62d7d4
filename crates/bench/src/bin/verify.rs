//! The `verify` suite: an auditor's offline verification of an exported range of the audit
//! trail against a signed checkpoint, `BENCH_VERIFY_EVENTS` (default 1,000,000) events from
//! leaf 0 to the checkpoint's size, on one thread.
//!
//! - **Setup** (not timed): realistic audit events (the `audit` suite's shape, with request ids
//!   and details), written as export lines with `leaf_index` to an NDJSON file in a temporary
//!   directory, their root computed from the typed events' leaves (`leaf::event_leaf`, another
//!   path than the verifier's), a fresh Ed25519 key and the signed checkpoint.
//! - **Library**: `countersign_tlog::export_range::verify_export` over the file in a fresh child
//!   process (this binary again, told so by `BENCH_VERIFY_CHILD`), so its memory figure is its
//!   own: wall time, events/s and peak RSS (VmHWM). Beside it, in the same process, the raw
//!   floor: each line read and hashed as it is (no JSON parse, no canonical form) into the same
//!   compact range.
//! - **Binary**: `countersign audit verify export` (release build beside this one, built by
//!   `cargo xtask bench verify`), wall time and peak RSS sampled from `/proc`.
//!
//! The suite fails unless every run verified exactly the events written.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use countersign_bench::report;
use countersign_domain::{
    Actor, ActorKind, AuditEvent, AuditResult, Authorization, Category, Decision, Resource,
};
use countersign_tlog::export_range::{verify_export, Expected, NoTiles};
use countersign_tlog::leaf::event_leaf;
use countersign_tlog::range::CompactRange;
use countersign_tlog::{leaf_hash, Checkpoint, LogSigner, RootBuilder};
use time::macros::datetime;

const SUITE: &str = "verify";
const ORIGIN: &str = "bench.countersign.example/log";
const CHILD_ENV: &str = "BENCH_VERIFY_CHILD";

fn main() -> anyhow::Result<()> {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        return child(Path::new(&dir));
    }
    let events: u64 = match std::env::var("BENCH_VERIFY_EVENTS") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("BENCH_VERIFY_EVENTS={v} is not a number"))?,
        Err(_) => 1_000_000,
    };
    ensure!(events > 0, "BENCH_VERIFY_EVENTS must be at least 1");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    report(
        SUITE,
        "machine: cores available (the verifier uses one)",
        cores,
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report(
        SUITE,
        "machine: load average 1/5/15 min at start (other work on the cores)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );

    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let bytes = generate(dir.path(), events)?;
    report(
        SUITE,
        &format!("setup: {events} events, export file and signed checkpoint"),
        format!(
            "{} in {:.1} s (not measured)",
            mib(bytes / 1024),
            started.elapsed().as_secs_f64()
        ),
    );

    // The library, in a fresh process.
    let out = Command::new(std::env::current_exe()?)
        .env(CHILD_ENV, dir.path())
        .output()
        .context("running the verification child")?;
    ensure!(
        out.status.success(),
        "the verification child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let figures: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("the child said `{text}`"))?;
    let [lines, micros, raw_micros, rss_before, hwm, cpu_micros] = figures[..] else {
        bail!("the child said `{text}`");
    };
    ensure!(
        lines == events,
        "the library verified {lines} lines, expected {events}"
    );
    let lib = Duration::from_micros(micros);
    let raw = Duration::from_micros(raw_micros);
    report(
        SUITE,
        &format!("library verify_export, {events} events from leaf 0, one thread"),
        format!(
            "{:.2} s, {:.0} events/s, {:.1} MiB/s",
            lib.as_secs_f64(),
            events as f64 / lib.as_secs_f64(),
            bytes as f64 / 1024.0 / 1024.0 / lib.as_secs_f64()
        ),
    );
    report(
        SUITE,
        "library CPU time (user + system; wall time also counts waiting for a core)",
        format!(
            "{:.2} s, {:.0} events/s per core",
            cpu_micros as f64 / 1e6,
            events as f64 / (cpu_micros.max(1) as f64 / 1e6)
        ),
    );
    report(
        SUITE,
        "library memory, fresh process (RSS before → peak VmHWM)",
        format!("{} → {}", mib(rss_before), mib(hwm)),
    );
    report(
        SUITE,
        "raw floor: each line SHA-256'd as it is, same compact range",
        format!(
            "{:.2} s, {:.0} events/s",
            raw.as_secs_f64(),
            events as f64 / raw.as_secs_f64()
        ),
    );
    report(
        SUITE,
        "library / raw floor (time)",
        format!("{:.2}", lib.as_secs_f64() / raw.as_secs_f64()),
    );

    // The binary, when built beside this one.
    let cli = std::env::current_exe()?.with_file_name("countersign");
    if cli.exists() {
        binary(&cli, dir.path(), events)?;
    } else {
        report(
            SUITE,
            "binary countersign audit verify export",
            format!(
                "skipped: {} not built (`cargo xtask bench verify` builds it)",
                cli.display()
            ),
        );
    }
    Ok(())
}

/// An event shaped like the `audit` suite's: an embedding service's actor, resource and
/// authorization, a request id and a few details; every fifth a config change.
fn event(n: u64) -> AuditEvent {
    AuditEvent::new(
        if n % 5 == 0 {
            Category::Config
        } else {
            Category::Access
        },
        "document.viewed",
        Actor {
            kind: ActorKind::User,
            id: format!("u-{}", n % 977),
            name: Some(format!("user{}", n % 977)),
            key_id: Some("sso-session".into()),
        },
        Resource::new("document", format!("doc-{n}")),
    )
    .at(datetime!(2026-01-01 00:00:00 UTC) + time::Duration::milliseconds(n as i64))
    .authorization(Authorization {
        decision: if n % 17 == 0 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        permission: Some("documents:view".into()),
        policy: "opa".into(),
        reason: None,
    })
    .result(AuditResult::Ok)
    .request_id(Some(&format!("req-{n:08}")))
    .details(serde_json::json!({"client": "bench", "bytes": n % 65_536, "tenant": "acme"}))
}

/// Write `export.ndjson`, `checkpoint` and `key` under `dir`; the export's size in bytes.
fn generate(dir: &Path, events: u64) -> anyhow::Result<u64> {
    let mut out =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("export.ndjson"))?);
    let mut root = RootBuilder::new();
    let mut bytes = 0u64;
    for n in 0..events {
        let e = event(n);
        root.push(leaf_hash(&event_leaf(&e)));
        let line = e.to_json_line();
        let line = format!(
            "{},\"leaf_index\":{n}}}\n",
            line.strip_suffix('}')
                .context("an event is a JSON object")?
        );
        bytes += line.len() as u64;
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    let (signer, _) = LogSigner::generate(ORIGIN)?;
    let checkpoint = Checkpoint::new(ORIGIN, events, root.root());
    std::fs::write(dir.join("checkpoint"), signer.sign_checkpoint(&checkpoint)?)?;
    std::fs::write(dir.join("key"), format!("{}\n", signer.verifier_key()))?;
    Ok(bytes)
}

/// The child: verify with the library, then the raw floor; print `lines micros raw_micros
/// rss_before_kib hwm_kib`.
fn child(dir: &Path) -> anyhow::Result<()> {
    let key = std::fs::read_to_string(dir.join("key"))?;
    let verifier = countersign_tlog::LogVerifier::new(&key)?;
    let checkpoint = verifier.open_checkpoint(&std::fs::read(dir.join("checkpoint"))?)?;
    let export = dir.join("export.ndjson");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss_before, _) = memory();

    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let verified = verify_export(
        open(&export)?,
        &checkpoint,
        None::<&NoTiles>,
        Expected::default(),
    )?;
    let lib = started.elapsed();
    let lib_cpu = cpu_ticks().saturating_sub(cpu_before);
    let (_, hwm) = memory();

    let started = Instant::now();
    let mut range = CompactRange::new(0);
    let mut reader = open(&export)?;
    let mut line = Vec::with_capacity(4096);
    while reader.read_until(b'\n', &mut line)? > 0 {
        range.push(leaf_hash(line.strip_suffix(b"\n").unwrap_or(&line)));
        line.clear();
    }
    let raw_root = range.root()?;
    let raw = started.elapsed();
    ensure!(
        range.end() == checkpoint.size,
        "the raw pass read {} lines",
        range.end()
    );
    // The raw floor hashes lines with their `leaf_index`, so its root is not the log's.
    ensure!(raw_root != checkpoint.root);

    println!(
        "{} {} {} {rss_before} {hwm} {}",
        verified.lines,
        lib.as_micros(),
        raw.as_micros(),
        lib_cpu * 1_000_000 / TICKS_PER_SEC
    );
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<BufReader<std::fs::File>> {
    Ok(BufReader::with_capacity(
        256 * 1024,
        std::fs::File::open(path)?,
    ))
}

/// `countersign audit verify export` on the same files: wall time, peak RSS sampled.
fn binary(cli: &PathBuf, dir: &Path, events: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut child = Command::new(cli)
        .args(["audit", "verify", "export"])
        .arg(dir.join("export.ndjson"))
        .arg("--checkpoint")
        .arg(dir.join("checkpoint"))
        .arg("--log-key")
        .arg(dir.join("key"))
        .env_remove("COUNTERSIGN_LOG_KEY")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running countersign")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            peak = peak.max(field(&text, "VmHWM:"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let mut said = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut said)?;
    }
    ensure!(
        status.success(),
        "countersign audit verify export failed ({status})"
    );
    ensure!(
        said.starts_with(&format!(
            "verified: {events} lines are exactly leaves 0..={}",
            events - 1
        )),
        "countersign said `{said}`"
    );
    report(
        SUITE,
        &format!("binary countersign audit verify export, {events} events"),
        format!(
            "{:.2} s wall (process start included), {:.0} events/s",
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64()
        ),
    );
    report(
        SUITE,
        "binary peak RSS (VmHWM, sampled every 10 ms)",
        mib(peak),
    );
    Ok(())
}

/// The kernel's clock ticks per second for `/proc/self/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// CPU time (user + system) this process has used, in clock ticks: under a loaded machine the
/// wall time includes waiting for a core, this does not.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let at = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(11) + at(12)
}

/// `(VmRSS, VmHWM)` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (field(&status, "VmRSS:"), field(&status, "VmHWM:"))
}

fn field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
