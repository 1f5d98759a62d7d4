//! End to end: the real `countersign-server` process (built and run as a child) on a fresh
//! PostgreSQL database, driven only through the `countersign` binary: the two-person walk
//! (shared with `quickstart.rs`, which runs it on SQLite with nothing configured) and around
//! it `--json`, `show`, reject and cancel, the config file, errors and their exit codes,
//! `--all` paging, and the audit export with `--resume`.
//!
//! Each server test gets its own database (created from `DATABASE_URL`, dropped at the end)
//! and port; the helpers are in `support.rs`.

use std::path::Path;

use crate::support::{cs, cs_command, id, two_person_walk, PgDatabase, Run, Server, TempDir, Walk};
use serde_json::Value;

#[test]
fn the_two_person_flow_through_the_cli_against_the_real_server() {
    let scratch = TempDir::new("flow");
    let home = scratch.path().join("config");
    std::fs::create_dir_all(&home).unwrap();
    let db = PgDatabase::create_blocking();
    let mut server = Server::start(&db.url, scratch.path());
    let url = server.url.clone();
    let url = url.as_str();

    // A database with no admin: `serve` made one and printed its key once.
    let admin = server.announced_admin_key();
    let as_admin = |args: &[&str]| cs(url, &admin, &home, args);

    let Walk {
        bob_id,
        bob,
        carol_id,
        carol,
        sub,
        job,
        apr,
    } = two_person_walk(url, &admin, &home);
    let as_bob = |args: &[&str]| cs(url, &bob, &home, args);
    let as_carol = |args: &[&str]| cs(url, &carol, &home, args);

    // A decided approval takes no more votes.
    let again = as_carol(&["approvals", "approve", &apr]);
    assert!(
        again.fails(1).starts_with("error: already_decided (409): "),
        "{again:#?}"
    );
    assert_eq!(
        as_bob(&["--json", "jobs", "show", &job]).json()["status"],
        "succeeded"
    );

    // The trail, filtered, as JSON; one event shown whole.
    let events = as_admin(&["--json", "audit", "list", "--resource-id", &apr]).json();
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["approval.requested", "approval.voted", "approval.approved"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    for actor in [bob_id.as_str(), "bob"] {
        let denied = as_admin(&[
            "--json",
            "audit",
            "list",
            "--action",
            "auth.denied",
            "--actor",
            actor,
        ])
        .json();
        assert!(
            denied["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["result"]["kind"] == "two_person_integrity"),
            "{actor}: {denied}"
        );
    }
    let one = &events["data"][0];
    let shown = as_admin(&["--json", "audit", "show", one["event_id"].as_str().unwrap()]).json();
    assert_eq!(&shown, one);

    // A second request: the pending list as JSON with full ids, `show` with the rules, what
    // remains, the votes and the payload with its digest, and the error body under --json.
    let second = as_bob(&[
        "--json",
        "jobs",
        "request",
        &sub,
        "--action",
        "certificate.revoke",
        "--payload",
        r#"{"ttl":"90d"}"#,
    ])
    .json();
    let apr2 = id(&second["approval"]);
    let pending = as_carol(&["approvals", "list", "--state", "pending", "--json"]).json();
    assert_eq!(pending["data"].as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending["data"][0]["id"], apr2.as_str());
    assert_eq!(pending["data"][0]["requested_by"], bob_id.as_str());
    assert!(pending["next_cursor"].is_null());
    let shown = as_carol(&["approvals", "show", &apr2]);
    let text = shown.ok();
    for want in [
        "state           pending",
        "rules           approver×1",
        "remaining       approver×1",
        "votes: none yet",
        "\"ttl\": \"90d\"",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    let shown = as_carol(&["--json", "approvals", "show", &apr2]).json();
    assert_eq!(shown["payload"]["ttl"], "90d");
    assert_eq!(shown["payload_sha256"].as_str().unwrap().len(), 64);
    assert!(text.contains(shown["payload_sha256"].as_str().unwrap()));
    let refused = as_bob(&["--json", "approvals", "approve", &apr2]);
    refused.fails(1);
    let body: Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(body["error"]["code"], "two_person_integrity");

    // A reject cancels the job; nothing is pending then.
    let rejected = as_carol(&["approvals", "reject", &apr2, "--note", "not now"]);
    assert!(rejected.ok().contains("is rejected"), "{rejected:#?}");
    assert_eq!(
        as_bob(&["--json", "jobs", "show", &id(&second["job"])]).json()["status"],
        "cancelled"
    );
    assert!(as_carol(&["approvals", "list", "--state", "pending"])
        .ok()
        .starts_with("no approvals"));

    // An idempotent replay creates nothing; a cancel cancels; paging follows every cursor.
    let third = as_bob(&[
        "--json",
        "jobs",
        "request",
        &sub,
        "--action",
        "certificate.renew",
        "--idempotency-key",
        "k-3",
    ])
    .json();
    let replay = as_bob(&[
        "jobs",
        "request",
        &sub,
        "--action",
        "certificate.renew",
        "--idempotency-key",
        "k-3",
    ]);
    assert!(
        replay.ok().contains("nothing new was created"),
        "{replay:#?}"
    );
    let cancelled = as_bob(&[
        "jobs",
        "cancel",
        &id(&third["job"]),
        "--reason",
        "changed my mind",
    ]);
    assert_eq!(
        cancelled.ok(),
        format!("job {} is cancelled\n", id(&third["job"]))
    );
    let all = as_bob(&["--json", "jobs", "list", "--limit", "1", "--all"]).json();
    assert_eq!(all["data"].as_array().unwrap().len(), 3, "{all}");
    assert!(all["next_cursor"].is_null());
    let page = as_bob(&["jobs", "list", "--limit", "1"]);
    assert_eq!(page.ok().lines().count(), 2, "{page:#?}");
    assert!(page.stderr.contains("(more jobs: pass --all"), "{page:#?}");
    let ids: Vec<String> = as_bob(&[
        "--json",
        "approvals",
        "list",
        "--limit",
        "1",
        "--all",
        "--requested-by",
        &bob_id,
    ])
    .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");

    // A bad key: one line, `unauthenticated`, exit 1.
    let bad = cs(
        url,
        "cs_key_00000000000000000000000000_nope",
        &home,
        &["whoami"],
    );
    assert!(
        bad.fails(1).starts_with("error: unauthenticated (401): "),
        "{bad:#?}"
    );

    // The config file fills what flags and environment leave empty; they win over it.
    let dir = home.join("countersign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("# test\nurl = \"{url}\"\napi_key = \"{carol}\"\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("config.toml"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let from_file = Run::from(
        cs_command(&home)
            .args(["--json", "whoami"])
            .output()
            .unwrap(),
    );
    assert_eq!(from_file.json()["principal"]["id"], carol_id.as_str());
    assert_eq!(from_file.stderr, "", "no warning for a private file");
    let env_wins = Run::from(
        cs_command(&home)
            .env("COUNTERSIGN_API_KEY", &bob)
            .args(["--json", "whoami"])
            .output()
            .unwrap(),
    );
    assert_eq!(env_wins.json()["principal"]["name"], "bob");
    let flag_wins = Run::from(
        cs_command(&home)
            .env("COUNTERSIGN_API_KEY", &bob)
            .args(["--key", &admin, "--json", "whoami"])
            .output()
            .unwrap(),
    );
    assert_eq!(flag_wins.json()["principal"]["name"], "admin");

    export_and_resume(url, &admin, &home, scratch.path());
    administration(url, &admin, &bob, &home, scratch.path());

    drop(server);
    drop(db);
}

/// The administration commands without raw JSON: roles and their permissions, keys, the
/// lists; and an export the server refuses leaves no file behind.
fn administration(url: &str, admin: &str, bob: &str, home: &Path, scratch: &Path) {
    let as_admin = |args: &[&str]| cs(url, admin, home, args);
    let made = as_admin(&[
        "roles",
        "create",
        "release-manager",
        "--description",
        "ships releases",
        "--permission",
        "job.read",
    ]);
    assert!(
        made.ok().starts_with("created role release-manager\n"),
        "{made:#?}"
    );
    let granted = as_admin(&["roles", "grant", "release-manager", "approval.approve"]);
    assert!(
        granted
            .ok()
            .contains("permissions  job.read,approval.approve\n"),
        "{granted:#?}"
    );
    let revoked = as_admin(&["roles", "revoke", "release-manager", "job.read"]);
    assert!(
        revoked.ok().contains("permissions  approval.approve\n"),
        "{revoked:#?}"
    );
    let roles = as_admin(&["roles", "list"]);
    let text = roles.ok();
    for builtin in [
        "admin",
        "requester",
        "approver",
        "auditor",
        "worker",
        "audit-writer",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{builtin} ")) && l.contains(" yes ")),
            "{builtin}:\n{text}"
        );
    }
    assert!(text.contains("release-manager"), "{text}");
    let held = as_admin(&["roles", "assign", "release-manager", "carol"]);
    assert!(held.ok().contains("release-manager"), "{held:#?}");
    let held = as_admin(&["roles", "unassign", "release-manager", "carol"]);
    assert_eq!(held.ok(), "carol now holds: approver\n");
    let bad = as_admin(&["roles", "grant", "release-manager", "no.such"]);
    assert_eq!(bad.code, 2, "{bad:#?}");

    let people = as_admin(&["principals", "list"]);
    let text = people.ok();
    assert!(
        text.lines()
            .any(|l| l.starts_with("bob ") && l.contains("approver,requester")),
        "{text}"
    );

    // A key minted for carol, listed by her name, revoked: it stops working.
    let key = as_admin(&["keys", "create", "carol", "--expires-at", "2099-01-01"]);
    let text = key.ok().to_owned();
    let secret = text.lines().next().unwrap().to_owned();
    assert!(secret.starts_with("cs_key_"), "{text}");
    assert!(text.contains("expires 2099-01-01T00:00:00Z"), "{text}");
    let key_id = text
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    let listed = as_admin(&["keys", "list", "--principal", "carol"]);
    let text = listed.ok();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&key_id) && l.contains(" carol ") && l.contains(" active ")),
        "{text}"
    );
    assert!(!text.contains(&secret), "{text}");
    assert_eq!(
        cs(url, &secret, home, &["--json", "whoami"]).json()["principal"]["name"],
        "carol"
    );
    assert_eq!(
        as_admin(&["keys", "revoke", &key_id]).ok(),
        format!("key {key_id} is revoked\n")
    );
    cs(url, &secret, home, &["whoami"]).fails(1);

    let policies = as_admin(&["policies", "list"]);
    assert!(
        policies
            .ok()
            .lines()
            .any(|l| l.contains("prod-tls") && l.contains("required") && l.contains("approver×1")),
        "{policies:#?}"
    );
    // Reminders and escalation: sent as seconds, shown in words.
    let reminding = as_admin(&[
        "policies",
        "create",
        "--name",
        "prod-db",
        "--rule",
        "approver:1",
        "--remind-after",
        "4h",
        "--escalate-after",
        "1d",
        "--escalate-to",
        "admin",
    ]);
    let text = reminding.ok();
    assert!(
        text.lines()
            .any(|l| l.starts_with("reminders") && l.ends_with("every 4h")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("escalation") && l.ends_with("to admin after 1day")),
        "{text}"
    );
    let subjects = as_admin(&["subjects", "list", "--kind", "certificate"]);
    assert!(subjects.ok().contains("api.example.com"), "{subjects:#?}");

    // Bob may not export: the refusal leaves neither the file nor a temporary one.
    let out_dir = scratch.join("refused");
    std::fs::create_dir_all(&out_dir).unwrap();
    let target = out_dir.join("trail.ndjson");
    let refused = cs(
        url,
        bob,
        home,
        &[
            "audit",
            "export",
            "--from",
            "-1h",
            "--to",
            "now",
            "--output",
            target.to_str().unwrap(),
        ],
    );
    assert!(
        refused.fails(1).starts_with("error: forbidden (403)"),
        "{refused:#?}"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "a refused export left a file"
    );
}

/// `audit export` streams the window to a file; an interrupted file (a torn last line) is
/// completed by `--resume` to exactly the same bytes.
fn export_and_resume(url: &str, admin: &str, home: &Path, scratch: &Path) {
    // Every event so far is before `to`; the exports' own `audit.exported` events come after.
    let to = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let full = scratch.join("full.ndjson");
    let full_s = full.to_str().unwrap();
    let run = cs(
        url,
        admin,
        home,
        &[
            "audit", "export", "--from", "now-1h", "--to", &to, "--output", full_s,
        ],
    );
    run.ok();
    let bytes = std::fs::read(&full).unwrap();
    let lines: Vec<Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is one JSON event"))
        .collect();
    assert!(bytes.ends_with(b"\n"));
    assert!(lines.iter().all(|e| e["schema"] == "countersign.audit.v1"));
    assert!(
        run.stderr
            .starts_with(&format!("exported {} events (", lines.len())),
        "{run:#?}"
    );
    // The same events the list shows for the window, oldest first.
    let listed = cs(
        url,
        admin,
        home,
        &[
            "--json", "audit", "list", "--from", "now-1h", "--to", &to, "--all",
        ],
    )
    .json();
    let mut listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    listed.reverse();
    let exported: Vec<&str> = lines
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(exported, listed);
    assert!(exported.len() > 10, "{exported:?}");

    // Without --resume an existing file is not clobbered.
    let refused = cs(
        url,
        admin,
        home,
        &[
            "audit", "export", "--from", "now-1h", "--to", &to, "--output", full_s,
        ],
    );
    assert!(refused.fails(2).contains("--resume"), "{refused:#?}");

    // Interrupted after 5 events and half of the sixth.
    let part = scratch.join("part.ndjson");
    let cut = nth_line_end(&bytes, 5) + 30;
    std::fs::write(&part, &bytes[..cut]).unwrap();
    let resumed = cs(
        url,
        admin,
        home,
        &[
            "audit",
            "export",
            "--from",
            "now-1h",
            "--to",
            &to,
            "--output",
            part.to_str().unwrap(),
            "--resume",
        ],
    );
    resumed.ok();
    assert!(
        resumed.stderr.contains("dropped a torn last line"),
        "{resumed:#?}"
    );
    assert!(
        resumed
            .stderr
            .contains(&format!("exported {} events", lines.len() - 5)),
        "{resumed:#?}"
    );
    assert_eq!(
        std::fs::read(&part).unwrap(),
        bytes,
        "the resumed file equals the full export"
    );
}

/// The offset just past the `n`th newline.
fn nth_line_end(bytes: &[u8], n: usize) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(n - 1)
        .map(|(i, _)| i + 1)
        .expect("enough lines")
}

#[test]
fn an_unreachable_server_exits_3_and_names_the_url() {
    let scratch = TempDir::new("unreachable");
    // Port 1 on loopback: nothing listens there.
    let run = cs(
        "http://127.0.0.1:1",
        "cs_key_x_y",
        scratch.path(),
        &["approvals", "list"],
    );
    let line = run.fails(3);
    assert!(line.contains("http://127.0.0.1:1"), "{line}");
    assert!(line.contains("cannot reach"), "{line}");
    assert!(!line.contains("cs_key_x_y"), "{line}");
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let scratch = TempDir::new("usage");
    let home = scratch.path();
    let url = "http://127.0.0.1:1";
    // Bad JSON, a non-object payload, and both payload flags.
    let bad = cs(
        url,
        "k",
        home,
        &[
            "jobs",
            "request",
            "sub_x",
            "--action",
            "a",
            "--payload",
            "{",
        ],
    );
    assert!(
        bad.fails(2).contains("--payload: not valid JSON"),
        "{bad:#?}"
    );
    let bad = cs(
        url,
        "k",
        home,
        &[
            "jobs",
            "request",
            "sub_x",
            "--action",
            "a",
            "--payload",
            "[1]",
        ],
    );
    assert!(bad.fails(2).contains("must be a JSON object"), "{bad:#?}");
    let both = cs(
        url,
        "k",
        home,
        &[
            "jobs",
            "request",
            "sub_x",
            "--action",
            "a",
            "--payload",
            "{}",
            "--payload-file",
            "f",
        ],
    );
    assert_eq!(both.code, 2, "{both:#?}");
    // An escalation needs its role, and the role its delay.
    for args in [
        &[
            "policies",
            "create",
            "--name",
            "p",
            "--escalate-after",
            "1h",
        ][..],
        &[
            "policies",
            "create",
            "--name",
            "p",
            "--escalate-to",
            "admin",
        ][..],
    ] {
        let half = cs(url, "k", home, args);
        assert_eq!(half.code, 2, "{half:#?}");
    }
    // No key anywhere.
    let no_key = Run::from(
        cs_command(home)
            .args(["--url", url, "whoami"])
            .output()
            .unwrap(),
    );
    assert!(
        no_key
            .fails(2)
            .contains("no API key: set COUNTERSIGN_API_KEY"),
        "{no_key:#?}"
    );
    // A URL without a scheme, a bad time, --resume without --output, an unknown command.
    let bad_url = cs("localhost:8080", "k", home, &["whoami"]);
    assert!(
        bad_url
            .fails(2)
            .contains("must start with http:// or https://"),
        "{bad_url:#?}"
    );
    let bad_time = cs(
        url,
        "k",
        home,
        &["audit", "export", "--from", "yesterday", "--to", "now"],
    );
    assert_eq!(bad_time.code, 2, "{bad_time:#?}");
    assert!(bad_time.stderr.contains("is not a time"), "{bad_time:#?}");
    let resume = cs(
        url,
        "k",
        home,
        &[
            "audit", "export", "--from", "-1d", "--to", "now", "--resume",
        ],
    );
    assert_eq!(resume.code, 2, "{resume:#?}");
    assert_eq!(cs(url, "k", home, &["approvals", "frobnicate"]).code, 2);
    // Completion scripts need no server and no key.
    for shell in ["bash", "zsh", "fish"] {
        let script = Run::from(
            cs_command(home)
                .args(["completions", shell])
                .output()
                .unwrap(),
        );
        assert!(script.ok().contains("principals"), "{shell}");
    }
    // The URL and key come from the environment here: the usage line after an argument error
    // must not list them (nor --output) as if they were required.
    let missing = cs(url, "k", home, &["approvals", "approve"]);
    let usage = missing.stderr.lines().find(|l| l.starts_with("Usage:"));
    assert_eq!(
        (missing.code, usage),
        (2, Some("Usage: countersign approvals approve <ID>")),
        "{missing:#?}"
    );
    let missing = cs(url, "k", home, &["audit", "export", "--from", "-1d"]);
    let usage = missing.stderr.lines().find(|l| l.starts_with("Usage:"));
    assert_eq!(
        (missing.code, usage),
        (
            2,
            Some("Usage: countersign audit export --from <TIME> --to <TIME>")
        ),
        "{missing:#?}"
    );
    // A config file with a typo names the line.
    let cfg = home.join("bad.toml");
    std::fs::write(&cfg, "apikey = \"x\"\n").unwrap();
    let typo = cs(
        url,
        "k",
        home,
        &["--config", cfg.to_str().unwrap(), "whoami"],
    );
    let typo = typo.fails(2);
    assert!(
        typo.contains("line 1") && typo.contains("unknown field `apikey`"),
        "{typo:#?}"
    );
}
