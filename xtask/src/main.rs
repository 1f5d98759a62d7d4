//! `cargo xtask`: project automation.
//!
//! - `cargo xtask bench [SUITE…]` — run benchmark suites in release mode (all when none is
//!   named): `approvals` (approve-decision throughput and p99 beside raw SQL, on PostgreSQL
//!   and SQLite; `BENCH_BACKEND=postgres|sqlite|both` picks), `audit` (ingest events/s and
//!   export rows/s with peak memory beside raw PostgreSQL), `notifications` (webhook and
//!   event-stream latency from commit at a steady rate, and outbox drain throughput, on
//!   PostgreSQL), `log` (transparency log sealing leaves/s beside raw PostgreSQL, sequencing
//!   lag under steady ingest, proof latency), `verify` (offline verification of an exported
//!   range of 1,000,000 events against a signed checkpoint, time and peak memory, with the
//!   release `countersign` built first) and `console` (the browser console's page latency
//!   p50/p99 and page weight with 10,000 pending approvals). The suites read their sizes and
//!   backend from the environment, which they inherit (see `crates/bench/README.md`).

use std::process::Command;

use anyhow::{bail, Context};

const SUITES: &[&str] = &[
    "approvals",
    "audit",
    "notifications",
    "log",
    "verify",
    "console",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask bench [{}]…", SUITES.join("|"));
            bail!("unknown or missing task");
        }
    }
}

fn bench(names: &[String]) -> anyhow::Result<()> {
    let chosen: Vec<&str> = if names.is_empty() {
        SUITES.to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    for suite in &chosen {
        if !SUITES.contains(suite) {
            bail!("unknown suite `{suite}` (known: {})", SUITES.join(", "));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for suite in chosen {
        eprintln!("== bench {suite}");
        if suite == "verify" {
            // The suite also times the `countersign` binary, found beside its own.
            let status = Command::new(&cargo)
                .args(["build", "--release", "--quiet", "-p", "countersign-cli"])
                .status()
                .context("building countersign")?;
            if !status.success() {
                bail!("building countersign failed ({status})");
            }
        }
        let status = Command::new(&cargo)
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "countersign-bench",
                "--bin",
                suite,
            ])
            .status()
            .with_context(|| format!("running the {suite} suite"))?;
        if !status.success() {
            bail!("the {suite} suite failed ({status})");
        }
    }
    Ok(())
}
