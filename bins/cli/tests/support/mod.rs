//! Shared helpers for the CLI's end-to-end tests: the real `countersign-server` binary (built
//! beside the CLI), a fresh PostgreSQL database or a fresh working directory for it, running
//! `countersign`, and the README's two-person walk driven only through `countersign`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `countersign` binary under test.
pub const CLI: &str = env!("CARGO_BIN_EXE_countersign");

/// Upper bound for the server to start answering, print its first-admin key, or exit.
const STARTUP: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The server binary, and the environment its processes get.
// ---------------------------------------------------------------------------------------

/// Build `countersign-server` once per test process (a no-op when it is fresh) and return
/// its path: beside the CLI binary, in the same target directory and profile.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile_dir = Path::new(CLI)
            .parent()
            .expect("the CLI binary has a directory");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "-p", "countersign-server"])
            .current_dir(&workspace);
        match profile_dir
            .file_name()
            .and_then(|p| p.to_str())
            .unwrap_or("debug")
        {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        without_test_env(&mut build);
        let out = build.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p countersign-server failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join(format!(
            "countersign-server{}",
            std::env::consts::EXE_SUFFIX
        ));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// Drop the variables cargo sets for a test process from a child's environment. Build
/// scripts that track one of them (ring's tracks `CARGO_MANIFEST_DIR`) would otherwise rerun,
/// and everything above them rebuild, each time builds from here and from elsewhere alternate;
/// and a server started "as a user would" must not see them either.
pub fn without_test_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let set_for_tests = ["CARGO_PKG_", "CARGO_BIN_", "CARGO_MANIFEST_"]
            .iter()
            .any(|p| name.starts_with(p))
            || matches!(
                name.as_str(),
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if set_for_tests {
            cmd.env_remove(name);
        }
    }
}

/// Drop every database and server setting the caller's shell may have: any `COUNTERSIGN_*`,
/// `DATABASE_URL` (the server's fallback), `RUST_LOG`, and cargo's test variables.
pub fn unconfigured(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("COUNTERSIGN_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("DATABASE_URL").env_remove("RUST_LOG");
    without_test_env(cmd);
}

/// A name nothing else running uses: tag, process id, time and a sequence number.
pub fn unique(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{nanos}-{seq}", std::process::id())
}

// ---------------------------------------------------------------------------------------
// Places for data: a scratch directory, a PostgreSQL database.
// ---------------------------------------------------------------------------------------

/// A scratch directory (`tempfile`), removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        Self(
            tempfile::Builder::new()
                .prefix(&format!("countersign-cli-{tag}-"))
                .tempdir()
                .unwrap(),
        )
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh PostgreSQL database on the server `DATABASE_URL` names (the environment, else the
/// workspace's `.env`, as `#[sqlx::test]` finds it); dropped on drop.
#[derive(Debug)]
pub struct TestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDb {
    pub fn create() -> Self {
        let admin_url = dotenvy::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = unique("countersign_cli").replace('-', "_");
        run_sql(&admin_url, &format!("CREATE DATABASE \"{name}\""));
        let url = with_database(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        run_sql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

fn run_sql(url: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .expect("connect to DATABASE_URL");
        conn.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.unwrap();
    });
}

/// `url` with its database name replaced by `name` (a query string is kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}

// ---------------------------------------------------------------------------------------
// A running server.
// ---------------------------------------------------------------------------------------

/// A `countersign-server` process serving on a free local port; killed on drop. Its stdout
/// and its log (stderr) go to files in a scratch directory.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub url: String,
    stdout: PathBuf,
    log: PathBuf,
}

impl Server {
    /// `serve` on `database_url`, with nothing else configured but the listen address, once
    /// `/readyz` answers 200.
    pub fn start(database_url: &str, scratch: &Path) -> Self {
        let mut cmd = Command::new(server_bin());
        unconfigured(&mut cmd);
        cmd.env("COUNTERSIGN_DATABASE_URL", database_url)
            .env("RUST_LOG", "warn");
        Self::spawn(cmd, scratch)
    }

    /// The README's run command on a new machine: `countersign-server` in `workdir` with
    /// nothing configured — no `COUNTERSIGN_*`, no `DATABASE_URL`, none of cargo's test
    /// variables — except the listen address (a free port instead of 8080), once `/readyz`
    /// answers 200.
    pub fn start_unconfigured(workdir: &Path, scratch: &Path) -> Self {
        let mut cmd = Command::new(server_bin());
        unconfigured(&mut cmd);
        cmd.current_dir(workdir);
        Self::spawn(cmd, scratch)
    }

    fn spawn(mut cmd: Command, scratch: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stem = unique("server");
        let stdout = scratch.join(format!("{stem}.out"));
        let log = scratch.join(format!("{stem}.log"));
        let child = cmd
            .env("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start countersign-server");
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stdout,
            log,
        };
        server.wait_ready(port);
        server
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + STARTUP;
        loop {
            self.assert_running();
            if readyz(port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready in {STARTUP:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[track_caller]
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("countersign-server exited ({status}):\n{}", self.log_text());
        }
    }

    /// Everything the server has printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The first-admin key `serve` prints once on stdout — the only `cs_key_…` token there —
    /// waiting (bounded) for its whole line.
    pub fn announced_admin_key(&mut self) -> String {
        let deadline = Instant::now() + STARTUP;
        loop {
            let text = self.stdout_text();
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let keys: Vec<&str> = complete
                .split_whitespace()
                .filter(|w| w.starts_with("cs_key_"))
                .collect();
            match keys.as_slice() {
                [key] => return (*key).to_owned(),
                [] => {}
                _ => panic!("more than one key on stdout:\n{text}"),
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "no admin key on stdout in {STARTUP:?}:\n{text}\n--- log ---\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C (SIGINT), as at the terminal running it; the exit status (bounded wait).
    pub fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT {pid}");
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {STARTUP:?} of SIGINT:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- countersign-server stdout ---\n{}\n--- log ---\n{}",
                self.stdout_text(),
                self.log_text()
            );
        }
    }
}

fn readyz(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
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
