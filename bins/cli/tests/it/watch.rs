//! `countersign approvals watch` against the real server process on a fresh PostgreSQL
//! database: a command run per event (`--exec`, the event's JSON on stdin and its type in
//! `COUNTERSIGN_EVENT_TYPE`), the text lines, and the reconnection with `Last-Event-ID` when
//! the server stops and starts again, missing nothing and repeating nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use countersign_testkit::process::free_port;
use serde_json::Value;

use crate::support::{cs, cs_command, id, PgDatabase, Server, TempDir};

/// Longest wait for anything the test expects.
const PATIENCE: Duration = Duration::from_secs(30);

/// The watch process, killed if the test ends early.
struct Watch {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watch {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

/// Wait until `check` holds, or panic with `what` and the watch's stderr.
#[track_caller]
fn wait_until(watch: &Watch, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}; watch stderr:\n{}",
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn watch_runs_a_command_per_event_and_resumes_after_the_server_restarts() {
    let scratch = TempDir::new("watch");
    let home = scratch.path().join("config");
    std::fs::create_dir_all(&home).unwrap();
    let db = PgDatabase::create_blocking();
    let port = free_port();
    let mut server = Server::start_on(&db.url, scratch.path(), port);
    let url = server.url.clone();
    let admin = server.announced_admin_key();
    let as_admin = |args: &[&str]| cs(&url, &admin, &home, args);

    // Bob requests, carol approves; one approver decides.
    for (name, role) in [("bob", "requester"), ("carol", "approver")] {
        as_admin(&["principals", "create", name]).ok();
        as_admin(&["roles", "assign", role, name]).ok();
    }
    let bob = as_admin(&["--json", "keys", "create", "bob"]).json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = as_admin(&["--json", "keys", "create", "carol"]).json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = id(&as_admin(&[
        "--json",
        "policies",
        "create",
        "--name",
        "one",
        "--rule",
        "approver:1",
    ])
    .json());
    let subject = id(&as_admin(&[
        "--json",
        "subjects",
        "create",
        "--kind",
        "certificate",
        "--name",
        "api.example.com",
        "--policy",
        &policy,
    ])
    .json());
    let request = || -> String {
        let r = cs(
            &url,
            &bob,
            &home,
            &[
                "--json",
                "jobs",
                "request",
                &subject,
                "--action",
                "certificate.renew",
                "--payload",
                "{}",
            ],
        )
        .json();
        r["approval"]["id"].as_str().unwrap().to_owned()
    };

    // The watcher: each event's JSON appended to one file, its type and id to another.
    let events = scratch.path().join("events.ndjson");
    let types = scratch.path().join("types.txt");
    let exec = format!(
        "cat >> '{}'; echo \"$COUNTERSIGN_EVENT_TYPE $COUNTERSIGN_EVENT_ID\" >> '{}'",
        events.display(),
        types.display()
    );
    let stdout = scratch.path().join("watch.out");
    let stderr = scratch.path().join("watch.err");
    let child = cs_command(&home)
        .env("COUNTERSIGN_URL", &url)
        .env("COUNTERSIGN_API_KEY", &admin)
        .args(["approvals", "watch", "--exec", &exec, "--count", "4"])
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut watch = Watch {
        child,
        stdout,
        stderr,
    };
    wait_until(&watch, "watch connects", || {
        watch.stderr().contains("watch: connected")
    });

    let first = request();
    let voted = cs(&url, &carol, &home, &["approvals", "approve", &first]);
    voted.ok();
    wait_until(&watch, "three events handled", || lines(&types).len() == 3);

    // The server stops (its graceful shutdown ends the stream) and starts again; an event
    // committed meanwhile reaches the watcher through Last-Event-ID.
    assert!(server.interrupt().success());
    let again = scratch.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    let _server = Server::start_on(&db.url, &again, port);
    let second = request();

    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = watch.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "watch did not end after 4 events; stderr:\n{}",
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", watch.stderr());
    assert!(
        watch.stderr().contains("reconnecting"),
        "{}",
        watch.stderr()
    );

    // Each event once, in order, with its type and id in the environment.
    let seen = lines(&types);
    let kinds: Vec<&str> = seen.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "approval.requested",
            "approval.voted",
            "approval.approved",
            "approval.requested"
        ]
    );
    let mut ids: Vec<&str> = seen.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert!(ids.iter().all(|i| i.starts_with("msg_")), "{seen:?}");
    ids.dedup();
    assert_eq!(ids.len(), 4, "no event twice: {seen:?}");
    // The command read the event's JSON on its stdin.
    let bodies: Vec<Value> = lines(&events)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(bodies.len(), 4);
    assert_eq!(bodies[0]["type"], "approval.requested");
    assert_eq!(bodies[0]["data"]["id"], first.as_str());
    assert_eq!(bodies[0]["data"]["requester"]["name"], "bob");
    assert_eq!(bodies[2]["data"]["state"], "approved");
    assert_eq!(bodies[3]["data"]["id"], second.as_str());
    // And the terminal got a line per event.
    let out = watch.stdout();
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(printed.len(), 4, "{out}");
    assert!(printed[0].contains("approval.requested"), "{out}");
    assert!(printed[0].contains(&first), "{out}");
    assert!(
        printed[0].contains("certificate/api.example.com  by bob  waiting on carol"),
        "{out}"
    );
    assert!(printed[3].contains(&second), "{out}");
}
