//! Shared helpers for the CLI's end-to-end tests: the real `countersign-server` binary on a
//! fresh PostgreSQL database or in a fresh working directory (the test kit's harness),
//! running `countersign`, and the README's two-person walk driven only through `countersign`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use countersign_testkit::process::{command, free_port};
use countersign_testkit::{binaries, Proc};
use serde_json::Value;

pub use countersign_testkit::{PgDatabase, TempDir};

/// The `countersign` binary under test.
pub const CLI: &str = env!("CARGO_BIN_EXE_countersign");

// ---------------------------------------------------------------------------------------
// A running server.
// ---------------------------------------------------------------------------------------

/// A `countersign-server` process serving on a free local port; killed on drop.
#[derive(Debug)]
pub struct Server {
    proc: Proc,
    pub url: String,
}

impl Server {
    /// `serve` on `database_url`, with nothing else configured but the listen address, once
    /// `/readyz` answers 200.
    pub fn start(database_url: &str, scratch: &Path) -> Self {
        let mut cmd = command(binaries::server());
        cmd.env("COUNTERSIGN_DATABASE_URL", database_url)
            .env("RUST_LOG", "warn");
        Self::spawn(cmd, scratch)
    }

    /// The README's run command on a new machine: `countersign-server` in `workdir` with
    /// nothing configured — no `COUNTERSIGN_*`, no `DATABASE_URL`, none of cargo's test
    /// variables — except the listen address (a free port instead of 8080), once `/readyz`
    /// answers 200.
    pub fn start_unconfigured(workdir: &Path, scratch: &Path) -> Self {
        let mut cmd = command(binaries::server());
        cmd.current_dir(workdir);
        Self::spawn(cmd, scratch)
    }

    /// [`Server::start`] on a given port (to start a server again where clients expect it).
    pub fn start_on(database_url: &str, scratch: &Path, port: u16) -> Self {
        let mut cmd = command(binaries::server());
        cmd.env("COUNTERSIGN_DATABASE_URL", database_url)
            .env("RUST_LOG", "warn");
        Self::spawn_on(cmd, scratch, port)
    }

    /// [`Server::start`] with more settings (e.g. the log's verifier key).
    pub fn start_with(database_url: &str, scratch: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = command(binaries::server());
        cmd.env("COUNTERSIGN_DATABASE_URL", database_url)
            .env("RUST_LOG", "warn");
        for (name, value) in env {
            cmd.env(name, value);
        }
        Self::spawn(cmd, scratch)
    }

    fn spawn(cmd: Command, scratch: &Path) -> Self {
        Self::spawn_on(cmd, scratch, free_port())
    }

    fn spawn_on(mut cmd: Command, scratch: &Path, port: u16) -> Self {
        cmd.env("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}"));
        let mut proc = Proc::spawn("countersign-server", cmd, scratch);
        proc.wait_ready(port);
        Self {
            proc,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Everything the server has printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.proc.stdout()
    }

    /// The first-admin key `serve` prints once on stdout — the only `cs_key_…` token there —
    /// waiting (bounded) for its whole line.
    pub fn announced_admin_key(&mut self) -> String {
        self.proc.announced("cs_key_")
    }

    /// Ctrl-C (SIGINT), as at the terminal running it; the exit status (bounded wait).
    pub fn interrupt(&mut self) -> ExitStatus {
        self.proc.interrupt()
    }
}

// ---------------------------------------------------------------------------------------
// Running `countersign`.
// ---------------------------------------------------------------------------------------

/// A finished `countersign` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Assert success and parse stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Assert failure with `code` and exactly one `error: …` line on stderr; return it.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("error: ") && !line.contains('\n'),
            "one error line expected: {self:#?}"
        );
        line
    }
}

/// `countersign` with a clean environment: no `COUNTERSIGN_*` from the caller, and the
/// config file looked up under `config_home`.
pub fn cs_command(config_home: &Path) -> Command {
    let mut c = Command::new(CLI);
    for var in [
        "COUNTERSIGN_URL",
        "COUNTERSIGN_API_KEY",
        "COUNTERSIGN_CONFIG",
        "COUNTERSIGN_CA_CERT",
        "COUNTERSIGN_TIMEOUT",
    ] {
        c.env_remove(var);
    }
    c.env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home)
        .stdin(Stdio::null());
    c
}

/// Run `countersign` against `url` with `key` (through the environment, as people would).
pub fn cs(url: &str, key: &str, config_home: &Path, args: &[&str]) -> Run {
    Run::from(
        cs_command(config_home)
            .env("COUNTERSIGN_URL", url)
            .env("COUNTERSIGN_API_KEY", key)
            .args(args)
            .output()
            .unwrap(),
    )
}

pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// The two-person walk.
// ---------------------------------------------------------------------------------------

/// What [`two_person_walk`] made: the people (ids and keys) and the request.
#[derive(Debug)]
pub struct Walk {
    pub bob_id: String,
    pub bob: String,
    pub carol_id: String,
    pub carol: String,
    /// The subject (`sub_…`), under a policy needing one `approver`.
    pub sub: String,
    /// Bob's request: the job (`succeeded` after the walk) and its approval (`approved`).
    pub job: String,
    pub apr: String,
}

/// The README's two-person approval, only through `countersign`, as `admin` (whose key holds
/// the `admin` role alone) on the server at `url`:
///
/// 1. the admin sets up bob (requester and approver), carol (approver), their keys, a policy
///    needing one approver and a subject under it, with `principals`, `roles`, `keys`,
///    `policies` and `subjects`;
/// 2. bob `jobs request`s; carol sees it in `approvals list --state pending`;
/// 3. bob's own approval is refused — one `two_person_integrity` line, exit 1 — although he
///    holds the approver role (so the router lets the request through to the rule);
/// 4. carol approves; `jobs show` says `pending`; a worker claims and completes it;
/// 5. `audit list` shows every step, the refusal included.
pub fn two_person_walk(url: &str, admin: &str, home: &Path) -> Walk {
    let as_admin = |args: &[&str]| cs(url, admin, home, args);

    let me = as_admin(&["whoami"]);
    let text = me.ok();
    assert!(text.contains("principal    admin (prn_"), "{text}");
    assert!(text.contains(&format!("server       {url}")), "{text}");
    assert!(!text.contains(admin), "the key never prints");
    let me = as_admin(&["--json", "whoami"]).json();
    assert_eq!(me["principal"]["name"], "admin");
    // The admin holds `admin` alone, and grants `requester` and `approver` below with it.
    assert_eq!(me["roles"], serde_json::json!(["admin"]), "{me}");

    // 1. People, keys, a policy and a subject, with the administration commands.
    let person = |name: &str, roles: &[&str]| -> (String, String) {
        let p = as_admin(&["--json", "principals", "create", name]).json();
        assert_eq!(p["name"], name, "{p}");
        let pid = id(&p);
        for role in roles {
            // By name: the CLI finds the id.
            let text = as_admin(&["roles", "assign", role, name]).ok().to_owned();
            assert!(
                text.starts_with(&format!("{name} now holds: ")) && text.contains(role),
                "{text}"
            );
        }
        let k = as_admin(&["--json", "keys", "create", name]).json();
        let key = k["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("cs_key_"), "{k}");
        assert_eq!(k["principal_id"], pid.as_str(), "{k}");
        (pid, key)
    };
    let (bob_id, bob) = person("bob", &["requester", "approver"]);
    let (carol_id, carol) = person("carol", &["approver"]);
    let shown = as_admin(&["principals", "show", "bob"]);
    assert!(
        shown.ok().contains("roles     approver,requester\n"),
        "{shown:#?}"
    );
    let policy = as_admin(&[
        "--json",
        "policies",
        "create",
        "--name",
        "prod-tls",
        "--rule",
        "approver:1",
    ])
    .json();
    assert_eq!(policy["requires_approval"], true, "{policy}");
    assert_eq!(
        policy["rules"],
        serde_json::json!([{"role": "approver", "count": 1}])
    );
    let subject = as_admin(&[
        "--json",
        "subjects",
        "create",
        "--kind",
        "certificate",
        "--name",
        "api.example.com",
        "--policy",
        &id(&policy),
        "--label",
        "env=prod",
    ])
    .json();
    assert_eq!(subject["labels"]["env"], "prod", "{subject}");
    let sub = id(&subject);
    let as_bob = |args: &[&str]| cs(url, &bob, home, args);
    let as_carol = |args: &[&str]| cs(url, &carol, home, args);

    // 2. Bob requests a job: it waits for approval, and the CLI says what to do next.
    let requested = as_bob(&[
        "jobs",
        "request",
        &sub,
        "--action",
        "certificate.renew",
        "--payload",
        r#"{"ttl":"90d"}"#,
    ]);
    let text = requested.ok();
    assert!(text.contains("is awaiting_approval"), "{text}");
    assert!(text.contains("needs approver×1"), "{text}");
    let job_line = text.lines().next().unwrap();
    let job = job_line.split_whitespace().nth(1).unwrap().to_owned();
    assert!(job.starts_with("job_"), "{text}");
    let apr = text
        .split_whitespace()
        .find(|w| w.starts_with("apr_"))
        .expect("the approval id is printed")
        .to_owned();

    // The pending list shows it, alone.
    let pending = as_carol(&["approvals", "list", "--state", "pending"]);
    let table = pending.ok();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID "), "{table}");
    let row = lines.next().expect("one pending approval");
    assert!(
        row.starts_with(&apr) && row.contains("pending") && row.contains("certificate.renew"),
        "{table}"
    );
    assert!(row.contains("approver×1"), "{table}");
    assert_eq!(lines.next(), None, "{table}");
    // Carol may not read principals (`approver` lacks `auth.principal.read`): she sees ids;
    // the admin sees people by name, and a filter takes a name as well as an id.
    assert!(row.contains(" prn_"), "{table}");
    let table = as_admin(&["approvals", "list", "--state", "pending"])
        .ok()
        .to_owned();
    assert!(table.lines().nth(1).unwrap().contains(" bob "), "{table}");
    for who in ["bob", bob_id.as_str()] {
        let mine = as_admin(&["--json", "approvals", "list", "--requested-by", who]).json();
        assert_eq!(mine["data"].as_array().unwrap().len(), 1, "{who}: {mine}");
    }
    let theirs = as_admin(&["--json", "approvals", "list", "--requested-by", "carol"]).json();
    assert_eq!(theirs["data"], serde_json::json!([]), "{theirs}");
    let nobody = as_admin(&["approvals", "list", "--requested-by", "nobody"]);
    assert!(
        nobody.fails(2).contains("no principal is named `nobody`"),
        "{nobody:#?}"
    );
    let unreadable = as_carol(&["approvals", "list", "--requested-by", "bob"]);
    assert!(
        unreadable.fails(2).contains("pass the id"),
        "{unreadable:#?}"
    );

    // 3. Bob cannot approve his own request: one line, the contract's code, exit 1.
    let refused = as_bob(&["approvals", "approve", &apr]);
    let line = refused.fails(1);
    assert!(
        line.starts_with("error: two_person_integrity (403): "),
        "{line}"
    );
    assert!(line.contains("two-person integrity"), "{line}");
    assert!(line.contains(" [request req_"), "{line}");
    assert_eq!(refused.stdout, "");

    // 4. Carol approves; the job is released.
    let approved = as_carol(&["approvals", "approve", &apr, "--note", "lgtm"]);
    assert!(
        approved
            .ok()
            .contains(&format!("approval {apr} is approved: job {job} is pending")),
        "{approved:#?}"
    );
    let shown = as_bob(&["jobs", "show", &job]);
    assert!(
        shown.ok().contains("status          pending\n"),
        "{shown:#?}"
    );
    let shown = as_bob(&["--json", "jobs", "show", &job]).json();
    assert_eq!(shown["status"], "pending");
    let decided = as_admin(&["approvals", "show", &apr]);
    let text = decided.ok();
    assert!(text.contains("requested by    bob\n"), "{text}");
    assert!(text.contains(" by carol\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("carol ") && l.contains("approve")),
        "{text}"
    );

    // 4b. A worker claims the job and completes it.
    let (_, wendy) = person("wendy", &["worker"]);
    let as_wendy = |args: &[&str]| cs(url, &wendy, home, args);
    let claimed = as_wendy(&[
        "jobs",
        "claim",
        "--action",
        "certificate.renew",
        "--lease",
        "5m",
    ]);
    let text = claimed.ok();
    assert!(
        text.starts_with(&format!("claimed job {job} (certificate.renew on {sub})")),
        "{text}"
    );
    assert!(text.contains("\"ttl\": \"90d\""), "{text}");
    assert_eq!(as_wendy(&["jobs", "claim"]).ok(), "no job to claim\n");
    let done = as_wendy(&[
        "jobs",
        "complete",
        &job,
        "--outcome",
        "succeeded",
        "--message",
        "renewed",
    ]);
    assert_eq!(done.ok(), format!("job {job} is succeeded\n"));

    // 5. The audit trail has every step, the refusal included.
    let trail = as_admin(&["audit", "list", "--limit", "50"]);
    let text = trail.ok();
    for (action, actor) in [
        ("job.requested", "bob"),
        ("approval.requested", "bob"),
        ("auth.denied", "bob"),
        ("approval.voted", "carol"),
        ("approval.approved", "carol"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(" {action} ")) && l.contains(&format!(" {actor} "))),
            "no {action} by {actor} in\n{text}"
        );
    }

    Walk {
        bob_id,
        bob,
        carol_id,
        carol,
        sub,
        job,
        apr,
    }
}
