//! `countersign audit verify`: the real binary against fixtures built with the tlog crate
//! (real audit events as the API serves them, a `MemoryLog`, a signed checkpoint, hash tiles
//! written to a directory by `tiled::integrate` at their C2SP paths). No server: every check
//! is offline, with only the verifier key.
//!
//! An exported range verifies, with or without tiles; each corruption (an edited field, a
//! deleted, inserted, swapped or duplicated line, a gap in `leaf_index`, a checkpoint with a bad
//! signature, by another key or of another size) fails with exit 1, naming the first bad leaf
//! index and line; a tlog-proof verifies and every corruption of it fails; consistency
//! verifies from a proof file or tiles, and a forked or shrunk log fails. Usage errors exit 2.

use std::path::{Path, PathBuf};

use countersign_domain::{
    Actor, ActorKind, AuditEvent, AuditResult, Authorization, Category, Decision, Resource,
};
use countersign_tlog::export_range::NoTiles;
use countersign_tlog::leaf::json_leaf;
use countersign_tlog::proof::encode_proof;
use countersign_tlog::tiled::integrate;
use countersign_tlog::{empty_root, leaf_hash, Checkpoint, Hash, LogSigner, MemoryLog, TlogProof};
use serde_json::{json, Value};

use crate::support::{cs_command, Run, TempDir};

pub(crate) const ORIGIN: &str = "countersign.example/audit-log";

/// A log of `n` real audit events, its signer, and the files an auditor would hold.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) signer: LogSigner,
    /// Each event as `GET /api/v1/audit/{id}` serves it (no `leaf_index`).
    pub(crate) events: Vec<Value>,
    pub(crate) log: MemoryLog,
    /// `key`: the verifier key file.
    pub(crate) key: PathBuf,
    /// `tiles/`: the hash tiles of the whole log and `tiles/checkpoint`, its signed checkpoint.
    pub(crate) tiles: PathBuf,
}

fn event(n: usize) -> Value {
    let e = AuditEvent::new(
        if n % 3 == 0 {
            Category::Lifecycle
        } else {
            Category::Access
        },
        if n % 3 == 0 {
            "approval.approved"
        } else {
            "document.viewed"
        },
        Actor {
            kind: ActorKind::User,
            id: format!("prn_user{}", n % 7),
            name: Some(format!("user{}", n % 7)),
            key_id: None,
        },
        Resource::new("document", format!("doc-{n}")),
    )
    .authorization(Authorization {
        decision: if n % 11 == 0 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        permission: Some("documents:view".into()),
        policy: "rbac".into(),
        reason: None,
    })
    .result(AuditResult::Ok)
    .request_id(Some(&format!("req-{n:06}")))
    .details(json!({"bytes": n * 37 % 4096, "note": format!("entry {n} \u{20ac}"), "ratio": 0.5}));
    serde_json::from_str(&e.to_json_line()).unwrap()
}

impl Fixture {
    pub(crate) fn new(tag: &str, n: usize) -> Self {
        let dir = TempDir::new(tag);
        let (signer, _) = LogSigner::generate(ORIGIN).unwrap();
        let events: Vec<Value> = (0..n).map(event).collect();
        let leaves: Vec<Vec<u8>> = events.iter().map(|e| json_leaf(e.clone())).collect();
        let log = MemoryLog::from_leaves(&leaves);
        let key = dir.join("key");
        std::fs::write(&key, format!("{}\n", signer.verifier_key())).unwrap();
        let tiles = dir.join("tiles");
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let grown = integrate(&NoTiles, 0, empty_root(), &hashes).unwrap();
        assert_eq!(grown.root, log.root());
        for (tile, data) in grown.tiles {
            let path = tiles.join(tile.path());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        let f = Self {
            dir,
            signer,
            events,
            log,
            key,
            tiles,
        };
        std::fs::write(f.tiles.join("checkpoint"), f.checkpoint(n as u64)).unwrap();
        f
    }

    /// The signed checkpoint of the first `size` leaves.
    pub(crate) fn checkpoint(&self, size: u64) -> String {
        let body = Checkpoint::new(ORIGIN, size, self.log.root_at(size).unwrap());
        self.signer.sign_checkpoint(&body).unwrap()
    }

    /// The export line of event `i`: the served event with its `leaf_index`.
    pub(crate) fn line(&self, i: usize) -> String {
        let mut v = self.events[i].clone();
        v["leaf_index"] = json!(i);
        serde_json::to_string(&v).unwrap()
    }

    pub(crate) fn lines(&self, range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| self.line(i)).collect()
    }

    /// Write `name` in the fixture's directory.
    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub(crate) fn write_lines(&self, name: &str, lines: &[String]) -> PathBuf {
        let mut text = lines.join("\n");
        text.push('\n');
        self.write(name, &text)
    }

    /// Run `countersign` with `args` (paths as strings) in a clean environment.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(
            cs_command(self.dir.path())
                .env_remove("COUNTERSIGN_LOG_KEY")
                .args(args)
                .output()
                .unwrap(),
        )
    }

    /// `audit verify export EXPORT --log-key KEY` plus `extra`.
    pub(crate) fn verify_export(&self, export: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "audit",
            "verify",
            "export",
            export.to_str().unwrap(),
            "--log-key",
            self.key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_exported_range_verifies_whole_without_tiles_and_in_part_with_them() {
    let f = Fixture::new("verify-range", 600);
    let whole = f.write_lines("whole.ndjson", &f.lines(0..600));
    let checkpoint = f.write("checkpoint", &f.checkpoint(600));

    // From leaf 0 to the checkpoint's size, the leaves alone recompute the root.
    let run = f.verify_export(&whole, &["--checkpoint", s(&checkpoint)]);
    assert!(
        run.ok()
            .starts_with("verified: 600 lines are exactly leaves 0..=599 of "),
        "{run:#?}"
    );
    // With the tiles too (the checkpoint read from the tiles directory).
    let run = f.verify_export(&whole, &["--tiles", s(&f.tiles)]);
    assert!(run.ok().contains("leaves 0..=599"), "{run:#?}");

    // Parts, across tile boundaries, need the tiles for what lies either side.
    for (first, end) in [
        (0usize, 1usize),
        (100, 400),
        (255, 257),
        (256, 512),
        (599, 600),
        (1, 600),
    ] {
        let part = f.write_lines("part.ndjson", &f.lines(first..end));
        let run = f.verify_export(&part, &["--tiles", s(&f.tiles)]);
        assert!(
            run.ok()
                .contains(&format!("exactly leaves {first}..={} of", end - 1)),
            "[{first}, {end}): {run:#?}"
        );
        // Stated bounds that hold pass too.
        let first_s = first.to_string();
        let last_s = (end - 1).to_string();
        let run = f.verify_export(
            &part,
            &[
                "--tiles",
                s(&f.tiles),
                "--first",
                &first_s,
                "--last",
                &last_s,
            ],
        );
        run.ok();
    }
    // Without tiles, a part that does not start at leaf 0 is a usage error.
    let part = f.write_lines("part.ndjson", &f.lines(100..400));
    let run = f.verify_export(&part, &["--checkpoint", s(&checkpoint)]);
    assert!(run.fails(2).contains("--tiles"), "{run:#?}");

    // A tiles directory fetched at a later size serves an earlier checkpoint (partial tiles
    // from wider ones): the first 300 leaves against the checkpoint of size 300.
    let older = f.write("older", &f.checkpoint(300));
    let part = f.write_lines("part.ndjson", &f.lines(40..300));
    let run = f.verify_export(&part, &["--tiles", s(&f.tiles), "--checkpoint", s(&older)]);
    assert!(run.ok().contains("leaves 40..=299 of"), "{run:#?}");
}

/// A corrupted export: its name, its lines, the flags to verify it with, and what the error
/// must hold (`leaf L (line N)` and words of the reason).
type Corruption<'a> = (&'a str, &'a Vec<String>, &'a [&'a str], &'a str, &'a str);

/// Each corruption of the export, and the first bad leaf index and line the verifier names.
#[test]
fn each_corruption_of_an_export_fails_naming_the_first_bad_leaf() {
    let f = Fixture::new("verify-corrupt", 600);
    let good = f.lines(0..600);
    let checkpoint = f.write("checkpoint", &f.checkpoint(600));
    let with_checkpoint = ["--checkpoint", checkpoint.to_str().unwrap()];
    let with_tiles = ["--tiles", f.tiles.to_str().unwrap()];
    let tiles_last = ["--tiles", f.tiles.to_str().unwrap(), "--last", "599"];

    let edited = {
        let mut lines = good.clone();
        let mut v: Value = serde_json::from_str(&lines[300]).unwrap();
        v["actor"]["name"] = json!("mallory");
        lines[300] = serde_json::to_string(&v).unwrap();
        lines
    };
    let deleted = {
        let mut lines = good.clone();
        lines.remove(257);
        lines
    };
    let forged = {
        let mut v = event(10_000);
        v["leaf_index"] = json!(42);
        serde_json::to_string(&v).unwrap()
    };
    let inserted = {
        let mut lines = good.clone();
        lines.insert(42, forged.clone());
        lines
    };
    let inserted_unsequenced = {
        let mut lines = good.clone();
        lines.insert(42, serde_json::to_string(&event(10_001)).unwrap());
        lines
    };
    let swapped = {
        let mut lines = good.clone();
        lines.swap(500, 501);
        lines
    };
    let duplicated = {
        let mut lines = good.clone();
        lines.insert(130, lines[129].clone());
        lines
    };
    let gap = {
        // The events are all there, but the indexes skip 77 from line 78 on.
        let mut lines = good[..77].to_vec();
        for i in 77..599 {
            let mut v = f.events[i].clone();
            v["leaf_index"] = json!(i + 1);
            lines.push(serde_json::to_string(&v).unwrap());
        }
        lines
    };
    let truncated = good[..599].to_vec();
    let not_json = {
        let mut lines = good.clone();
        lines[5] = "{\"event_id\": ".to_owned();
        lines
    };
    // An edited member followed by a copy of the original: a reader keeping the first sees
    // the edit, one keeping the last sees the log's leaf.
    let repeated_key = {
        let mut lines = good.clone();
        lines[200] = format!("{{\"action\":\"job.cancelled\",{}", &lines[200][1..]);
        lines
    };

    // (name, lines, extra flags, expected "leaf L (line N)" and words of the reason)
    let cases: Vec<Corruption<'_>> = vec![
        (
            "edited field, with tiles",
            &edited,
            &with_tiles,
            "leaf 300 (line 301)",
            "not the log's leaf",
        ),
        (
            "deleted line",
            &deleted,
            &with_checkpoint,
            "leaf 257 (line 258)",
            "carries leaf 258",
        ),
        (
            "deleted line, with tiles",
            &deleted,
            &with_tiles,
            "leaf 257 (line 258)",
            "carries leaf 258",
        ),
        (
            "inserted line, with tiles",
            &inserted,
            &with_tiles,
            "leaf 42 (line 43)",
            "not the log's leaf",
        ),
        (
            "inserted line",
            &inserted,
            &with_checkpoint,
            "leaf 43 (line 44)",
            "already passed",
        ),
        (
            "inserted unsequenced line",
            &inserted_unsequenced,
            &with_checkpoint,
            "leaf 42 (line 43)",
            "no `leaf_index`",
        ),
        (
            "swapped lines",
            &swapped,
            &with_checkpoint,
            "leaf 500 (line 501)",
            "carries leaf 501",
        ),
        (
            "duplicated line",
            &duplicated,
            &with_tiles,
            "leaf 130 (line 131)",
            "already passed",
        ),
        (
            "gap in leaf_index",
            &gap,
            &with_checkpoint,
            "leaf 77 (line 78)",
            "carries leaf 78",
        ),
        (
            "deleted last line",
            &truncated,
            &with_checkpoint,
            "leaf 599 (line 600)",
            "ends early",
        ),
        (
            "deleted last line, bounds stated",
            &truncated,
            &tiles_last,
            "leaf 599 (line 600)",
            "ends early",
        ),
        (
            "torn line",
            &not_json,
            &with_checkpoint,
            "leaf 5 (line 6)",
            "not a JSON event",
        ),
        (
            "repeated member",
            &repeated_key,
            &with_checkpoint,
            "leaf 200 (line 201)",
            "not a JSON event (duplicate key `action`",
        ),
    ];
    for (name, lines, extra, at, why) in cases {
        let export = f.write_lines("bad.ndjson", lines);
        let run = f.verify_export(&export, extra);
        let line = run.fails(1);
        assert!(
            line.starts_with("error: verification failed: ")
                && line.contains(at)
                && line.contains(why),
            "{name}: expected `{at}` and `{why}` in {line}"
        );
    }

    // Without tiles an edited field is caught by the root, though not located.
    let export = f.write_lines("bad.ndjson", &edited);
    let run = f.verify_export(&export, &with_checkpoint);
    assert!(
        run.fails(1)
            .contains("do not hash to the checkpoint's root"),
        "{run:#?}"
    );
    // The good export still passes: the cases above failed for their corruption alone.
    let export = f.write_lines("good.ndjson", &good);
    f.verify_export(&export, &with_checkpoint).ok();
}

#[test]
fn a_bad_checkpoint_or_key_fails_the_export() {
    let f = Fixture::new("verify-checkpoint", 300);
    let export = f.write_lines("export.ndjson", &f.lines(0..300));
    let note = f.checkpoint(300);

    // A signature with one bit flipped (in its base64, keeping it valid base64).
    let (body, sig) = note.split_once("\n\n").unwrap();
    let last = sig.trim_end().len() - 3;
    let mut sig = sig.to_owned().into_bytes();
    sig[last] = if sig[last] == b'A' { b'B' } else { b'A' };
    let forged = f.write(
        "forged",
        &format!("{body}\n\n{}", String::from_utf8(sig).unwrap()),
    );
    let run = f.verify_export(&export, &["--checkpoint", s(&forged)]);
    assert!(run.fails(1).contains("--checkpoint"), "{run:#?}");

    // A checkpoint whose body was edited under a good signature.
    let edited = f.write("edited", &note.replacen("\n300\n", "\n299\n", 1));
    let run = f.verify_export(&export, &["--checkpoint", s(&edited)]);
    assert!(run.fails(1).contains("verification failed"), "{run:#?}");

    // Signed by another key with the same origin.
    let (other, _) = LogSigner::generate(ORIGIN).unwrap();
    let body = Checkpoint::new(ORIGIN, 300, f.log.root());
    let foreign = f.write("foreign", &other.sign_checkpoint(&body).unwrap());
    let run = f.verify_export(&export, &["--checkpoint", s(&foreign)]);
    assert!(run.fails(1).contains("verification failed"), "{run:#?}");

    // The right checkpoint, but the auditor holds another log's key.
    let good = f.write("good", &note);
    let (stranger, _) = LogSigner::generate("other.example/log").unwrap();
    let wrong_key = f.write("wrong-key", &stranger.verifier_key());
    let run = f.run(&[
        "audit",
        "verify",
        "export",
        s(&export),
        "--checkpoint",
        s(&good),
        "--log-key",
        s(&wrong_key),
    ]);
    assert!(run.fails(1).contains("verification failed"), "{run:#?}");

    // A checkpoint of another size: smaller (the export runs past it), larger (it stops short).
    let smaller = f.write("smaller", &f.checkpoint(200));
    let run = f.verify_export(&export, &["--checkpoint", s(&smaller)]);
    let line = run.fails(1);
    assert!(
        line.contains("leaf 200 (line 201)") && line.contains("past the end"),
        "{line}"
    );
    let longer_log = {
        let mut log = f.log.clone();
        log.append(b"one more");
        log
    };
    let larger = f.write(
        "larger",
        &f.signer
            .sign_checkpoint(&Checkpoint::new(ORIGIN, 301, longer_log.root()))
            .unwrap(),
    );
    let run = f.verify_export(&export, &["--checkpoint", s(&larger)]);
    let line = run.fails(1);
    assert!(
        line.contains("leaf 300 (line 301)") && line.contains("ends early"),
        "{line}"
    );

    // The key from the environment works like --log-key.
    let run = Run::from(
        cs_command(f.dir.path())
            .env("COUNTERSIGN_LOG_KEY", f.signer.verifier_key())
            .args([
                "audit",
                "verify",
                "export",
                s(&export),
                "--checkpoint",
                s(&good),
            ])
            .output()
            .unwrap(),
    );
    run.ok();
}

#[test]
fn a_tlog_proof_verifies_and_every_corruption_fails() {
    let f = Fixture::new("verify-proof", 300);
    let index = 137usize;
    let proof = TlogProof {
        extra: None,
        index: index as u64,
        inclusion_proof: f.log.inclusion_proof(index as u64, 300).unwrap(),
        checkpoint: f.checkpoint(300),
    }
    .to_text();
    let served = f.write(
        "event.json",
        &serde_json::to_string_pretty(&f.events[index]).unwrap(),
    );
    let export_line = f.write("line.json", &f.line(index));
    let verify = |proof_text: &str, event: &Path| {
        let proof_file = f.write("proof.txt", proof_text);
        f.run(&[
            "audit",
            "verify",
            "event",
            "--proof",
            s(&proof_file),
            "--event",
            s(event),
            "--log-key",
            s(&f.key),
        ])
    };
    let run = verify(&proof, &served);
    let event_id = f.events[index]["event_id"].as_str().unwrap();
    assert_eq!(
        run.ok().lines().next().unwrap(),
        format!(
            "verified: event {event_id} is leaf 137 of {ORIGIN} at tree size 300 (root {})",
            f.log.root()
        )
    );
    verify(&proof, &export_line).ok();

    let lines: Vec<&str> = proof.split('\n').collect();
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    let with_lines = |ls: Vec<&str>| ls.join("\n");
    let flipped = {
        let mut ls: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        let h = &mut ls[3];
        let c = if h.starts_with('A') { "B" } else { "A" };
        h.replace_range(0..1, c);
        ls.join("\n")
    };
    let truncated = with_lines([&lines[..blank - 1], &lines[blank..]].concat());
    let extended = with_lines(
        [
            &lines[..blank],
            &["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
            &lines[blank..],
        ]
        .concat(),
    );
    let wrong_index = proof.replacen("index 137\n", "index 138\n", 1);
    let cases = [
        ("a hash with a flipped bit", flipped),
        ("truncated proof", truncated),
        ("extended proof", extended),
        ("wrong index", wrong_index),
        ("garbage before", format!("junk\n{proof}")),
        ("garbage after", format!("{proof}junk\n")),
        ("cut short", proof[..proof.len() / 2].to_owned()),
        (
            "checkpoint of another size",
            TlogProof {
                extra: None,
                index: index as u64,
                inclusion_proof: f.log.inclusion_proof(index as u64, 300).unwrap(),
                checkpoint: f.checkpoint(299),
            }
            .to_text(),
        ),
    ];
    for (name, text) in cases {
        let run = verify(&text, &served);
        assert!(
            run.fails(1).starts_with("error: verification failed: "),
            "{name}: {run:#?}"
        );
    }

    // Another event, an edited one, or an export line claiming another index.
    let other = f.write("other.json", &f.events[index + 1].to_string());
    assert!(verify(&proof, &other).fails(1).contains("leaf 137"));
    let mut edited = f.events[index].clone();
    edited["result"] = json!({"outcome": "error", "kind": "internal"});
    let edited = f.write("edited.json", &edited.to_string());
    verify(&proof, &edited).fails(1);
    let moved = f.write(
        "moved.json",
        &f.line(index)
            .replace("\"leaf_index\":137", "\"leaf_index\":136"),
    );
    assert!(verify(&proof, &moved).fails(1).contains("leaf_index"));
    // An edited member placed before the original copy of it: an owned parse keeps the last
    // copy and would verify; the event is refused for repeating the key.
    let original = serde_json::to_string(&f.events[index]).unwrap();
    let repeated = f.write(
        "repeated.json",
        &original.replacen('{', "{\"action\":\"secret.released\",", 1),
    );
    assert!(verify(&proof, &repeated)
        .fails(1)
        .contains("duplicate key `action`"));
}

#[test]
fn consistency_from_a_proof_file_or_tiles() {
    let f = Fixture::new("verify-consistency", 600);
    let old = f.write("old", &f.checkpoint(300));
    let new = f.write("new", &f.checkpoint(600));
    let proof = |old: u64, new: u64, hashes: Vec<Hash>| {
        json!({"old": old, "new": new, "proof": encode_proof(&hashes)}).to_string()
    };
    let good = f.write(
        "proof.json",
        &proof(300, 600, f.log.consistency_proof(300, 600).unwrap()),
    );
    let key = s(&f.key);
    let check = |old: &Path, new: &Path, evidence: &[&str]| {
        let mut args = vec![
            "audit",
            "verify",
            "consistency",
            "--old",
            s(old),
            "--new",
            s(new),
            "--log-key",
            key,
        ];
        args.extend_from_slice(evidence);
        f.run(&args)
    };
    let run = check(&old, &new, &["--proof", s(&good)]);
    assert!(
        run.ok().contains("at tree size 600")
            && run.stdout.contains("extends the checkpoint of size 300"),
        "{run:#?}"
    );
    check(&old, &new, &["--tiles", s(&f.tiles)]).ok();
    // The same size, and from the empty tree.
    let empty = f.write(
        "empty",
        &f.signer
            .sign_checkpoint(&Checkpoint::new(ORIGIN, 0, empty_root()))
            .unwrap(),
    );
    check(&empty, &new, &["--tiles", s(&f.tiles)]).ok();
    check(&new, &new, &["--tiles", s(&f.tiles)]).ok();

    // A proof with a flipped hash, for other sizes, or truncated.
    let mut hashes = f.log.consistency_proof(300, 600).unwrap();
    hashes[0].0[0] ^= 1;
    let bad = f.write("bad.json", &proof(300, 600, hashes));
    check(&old, &new, &["--proof", s(&bad)]).fails(1);
    let other_sizes = f.write(
        "sizes.json",
        &proof(299, 600, f.log.consistency_proof(299, 600).unwrap()),
    );
    assert!(check(&old, &new, &["--proof", s(&other_sizes)])
        .fails(1)
        .contains("sizes"));
    let mut short = f.log.consistency_proof(300, 600).unwrap();
    short.pop();
    let short = f.write("short.json", &proof(300, 600, short));
    check(&old, &new, &["--proof", s(&short)]).fails(1);

    // A forked log: the old checkpoint names leaves the new tree does not start with.
    let mut fork = MemoryLog::new();
    for (i, e) in f.events.iter().enumerate().take(300) {
        let mut e = e.clone();
        if i == 150 {
            e["action"] = json!("approval.rejected");
        }
        fork.append(&json_leaf(e));
    }
    let forked = f.write(
        "forked",
        &f.signer
            .sign_checkpoint(&Checkpoint::new(ORIGIN, 300, fork.root()))
            .unwrap(),
    );
    check(&forked, &new, &["--proof", s(&good)]).fails(1);
    check(&forked, &new, &["--tiles", s(&f.tiles)]).fails(1);
    // A newer checkpoint that is smaller than the old one.
    assert!(check(&new, &old, &["--proof", s(&good)])
        .fails(1)
        .contains("verification failed"));
    assert!(check(&new, &old, &["--tiles", s(&f.tiles)])
        .fails(1)
        .contains("fewer"));
}

#[test]
fn missing_inputs_and_bad_keys_are_usage_errors() {
    let f = Fixture::new("verify-usage", 10);
    let export = f.write_lines("export.ndjson", &f.lines(0..10));
    let checkpoint = f.write("checkpoint", &f.checkpoint(10));
    // No key at all.
    let run = f.run(&[
        "audit",
        "verify",
        "export",
        s(&export),
        "--checkpoint",
        s(&checkpoint),
    ]);
    assert!(run.fails(2).contains("--log-key"), "{run:#?}");
    // A key that does not parse.
    let junk = f.write("junk-key", "not a key\n");
    let run = f.run(&[
        "audit",
        "verify",
        "export",
        s(&export),
        "--checkpoint",
        s(&checkpoint),
        "--log-key",
        s(&junk),
    ]);
    assert!(run.fails(2).contains("--log-key"), "{run:#?}");
    // A file that is not there; no checkpoint; consistency without evidence (clap: exit 2).
    let missing = f.dir.join("missing.ndjson");
    f.verify_export(&missing, &["--checkpoint", s(&checkpoint)])
        .fails(2);
    f.verify_export(&export, &[]).fails(2);
    let run = f.run(&[
        "audit",
        "verify",
        "consistency",
        "--old",
        s(&checkpoint),
        "--new",
        s(&checkpoint),
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    // Tiles that are missing fail the verification that needs them.
    let part = f.write_lines("part.ndjson", &f.lines(3..10));
    let empty_dir = f.dir.join("no-tiles");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let run = f.verify_export(
        &part,
        &["--tiles", s(&empty_dir), "--checkpoint", s(&checkpoint)],
    );
    assert!(run.fails(1).contains("no tile"), "{run:#?}");
}
