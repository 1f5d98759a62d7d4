//! The transparency log end to end, with real processes on a fresh PostgreSQL database:
//! `countersign-server log keygen` makes the signing key, the scheduler sequences and signs,
//! the server serves the log, and the auditor's `countersign` checks, with only the verifier
//! key, that an export is exactly the log's content and that one event's `tlog-proof` holds;
//! then the database owner edits a stored event behind the triggers' back, and the same check
//! names the edited leaf.

use std::process::Command;
use std::time::{Duration, Instant};

use countersign_testkit::process::command;
use countersign_testkit::{binaries, Proc};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::support::{cs, two_person_walk, PgDatabase, Server, TempDir};

/// The checkpoint's tree size, as the server serves it (0 before the first one).
fn checkpoint_size(url: &str, admin: &str, home: &std::path::Path) -> u64 {
    let run = cs(url, admin, home, &["log", "checkpoint"]);
    if run.code != 0 {
        return 0;
    }
    run.stdout
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_export_verifies_offline_against_the_signed_log_and_an_edit_is_named() {
    let db = PgDatabase::create_blocking();
    let scratch = TempDir::new("cli-log-e2e");
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key_file = scratch.path().join("log.key");
    let out = command(binaries::server())
        .args(["log", "keygen", "--origin", "countersign.test/e2e", "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verifier_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let verifier_file = scratch.path().join("log.pub");
    std::fs::write(&verifier_file, format!("{verifier_key}\n")).unwrap();

    let mut server = Server::start_with(
        &db.url,
        scratch.path(),
        &[("COUNTERSIGN_LOG_VERIFIER_KEY", &verifier_key)],
    );
    let admin = server.announced_admin_key();
    let url = server.url.clone();
    let walk = two_person_walk(&url, &admin, &home);

    let mut scheduler = command(binaries::scheduler());
    scheduler
        .env("COUNTERSIGN_DATABASE_URL", &db.url)
        .env("COUNTERSIGN_SCHEDULER_LISTEN", "127.0.0.1:0")
        .env("COUNTERSIGN_SCHEDULER_TICK", "200ms")
        .env("COUNTERSIGN_LOG_SIGNING_KEY_FILE", &key_file);
    let mut scheduler = Proc::spawn("countersign-scheduler", scheduler, scratch.path());

    // Everything written so far, then the window closes: the export's own `audit.exported`
    // event comes after it.
    std::thread::sleep(Duration::from_millis(1100));
    let until = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let list = cs(
        &url,
        &admin,
        &home,
        &[
            "--json", "audit", "list", "--from", "now-1h", "--to", &until, "--all",
        ],
    )
    .json();
    let written = list["data"].as_array().unwrap().len() as u64;
    assert!(written > 10, "the walk wrote its events: {written}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_size(&url, &admin, &home) < written {
        assert!(
            Instant::now() < deadline,
            "not sequenced: {}",
            scheduler.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let export = scratch.path().join("trail.ndjson");
    let tiles = scratch.path().join("tiles");
    let export_arg = export.display().to_string();
    let tiles_arg = tiles.display().to_string();
    let log_key = verifier_file.display().to_string();
    let export_window = |path: &str| {
        cs(
            &url,
            &admin,
            &home,
            &[
                "audit", "export", "--from", "now-1h", "--to", &until, "--force", "-o", path,
            ],
        )
        .ok();
    };
    export_window(&export_arg);
    let lines: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, written);
    assert!(
        lines.iter().all(|l| l["leaf_index"].is_u64()),
        "every line sequenced"
    );
    cs(&url, &admin, &home, &["log", "fetch", "--out", &tiles_arg]).ok();
    let verify = |file: &str| {
        cs(
            &url,
            &admin,
            &home,
            &[
                "audit",
                "verify",
                "export",
                file,
                "--tiles",
                &tiles_arg,
                "--log-key",
                &log_key,
            ],
        )
    };
    let good = verify(&export_arg);
    assert_eq!(good.code, 0, "{good:#?}");

    // The same leaves exported as a leaf range, cut short and finished with --resume: the
    // file verifies as the range.
    let leaves = scratch.path().join("leaves.ndjson");
    let leaves_arg = leaves.display().to_string();
    let last = (written - 1).to_string();
    let export_leaves = |extra: &str| {
        cs(
            &url,
            &admin,
            &home,
            &[
                "audit",
                "export",
                "--first-leaf",
                "0",
                "--last-leaf",
                &last,
                "-o",
                &leaves_arg,
                extra,
            ],
        )
        .ok();
    };
    export_leaves("--force");
    let whole = std::fs::read_to_string(&leaves).unwrap();
    assert_eq!(whole.lines().count() as u64, written);
    let half: String = whole
        .lines()
        .take(written as usize / 2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&leaves, format!("{half}{{\"event_id\":\"evt_torn")).unwrap();
    export_leaves("--resume");
    assert_eq!(std::fs::read_to_string(&leaves).unwrap(), whole);
    let by_leaves = verify(&leaves_arg);
    assert_eq!(by_leaves.code, 0, "{by_leaves:#?}");

    // One event's proof, offline.
    let approval_event = lines
        .iter()
        .find(|l| l["action"] == "approval.approved" && l["resource"]["id"] == walk.apr.as_str())
        .expect("the approval's decision is in the trail")
        .clone();
    let event_id = approval_event["event_id"].as_str().unwrap().to_owned();
    let proof = scratch.path().join("event.proof");
    let event_file = scratch.path().join("event.json");
    std::fs::write(&event_file, approval_event.to_string()).unwrap();
    let proof_arg = proof.display().to_string();
    cs(
        &url,
        &admin,
        &home,
        &["audit", "proof", &event_id, "--out", &proof_arg],
    )
    .ok();
    let one = cs(
        &url,
        &admin,
        &home,
        &[
            "audit",
            "verify",
            "event",
            "--proof",
            &proof_arg,
            "--event",
            &event_file.display().to_string(),
            "--log-key",
            &log_key,
        ],
    );
    assert_eq!(one.code, 0, "{one:#?}");

    // The owner rewrites that event behind the append-only triggers.
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([db.url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!(
        "BEGIN; ALTER TABLE audit_events DISABLE TRIGGER USER; \
         UPDATE audit_events SET body = replace(body::text, '\"approval.approved\"', '\"approval.rejected\"')::json \
         WHERE event_id = '{event_id}'; ALTER TABLE audit_events ENABLE TRIGGER USER; COMMIT;"
    ));
    let edited = scratch.path().join("edited.ndjson");
    let edited_arg = edited.display().to_string();
    export_window(&edited_arg);
    let bad = verify(&edited_arg);
    assert_eq!(bad.code, 1, "{bad:#?}");
    let index = approval_event["leaf_index"].as_u64().unwrap();
    assert!(
        bad.stderr.contains(&format!("leaf {index}"))
            || bad.stdout.contains(&format!("leaf {index}")),
        "names leaf {index}: {bad:#?}"
    );
    assert!(scheduler.terminate().success());
    let _ = server.interrupt();
}
