//! End to end: the real `countersign-server` process (the README's `cargo run -p
//! countersign-server`, built and run as a child) on a fresh database, driven only through
//! the `countersign` binary: the two-person flow, `--json`, the config file, errors and their
//! exit codes, `--all` paging, and the audit export with `--resume`.
//!
//! Each server test gets its own PostgreSQL database (created from `DATABASE_URL`, dropped at
//! the end) and port. [`Server::start`] takes the database URL as its one parameter, so the
//! same flow can run against any backend the server accepts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `countersign` binary under test.
const CLI: &str = env!("CARGO_BIN_EXE_countersign");

// ---------------------------------------------------------------------------------------
// Helpers: the server binary, a database, a running server, running the CLI.
// ---------------------------------------------------------------------------------------

/// Build `countersign-server` once per test process (a no-op when it is fresh) and return
/// its path: beside the CLI binary, in the same target directory and profile.
fn server_bin() -> &'static Path {
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

/// Drop the variables cargo sets for a test process from a nested `cargo` command. Build
/// scripts that track one of them (ring's tracks `CARGO_MANIFEST_DIR`) would otherwise rerun,
/// and everything above them rebuild, each time builds from here and from elsewhere alternate.
fn without_test_env(cmd: &mut Command) {
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

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "countersign-cli-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh PostgreSQL database on the server `DATABASE_URL` names; dropped on drop.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create() -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("countersign_cli_{}_{nanos}", std::process::id());
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
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A `countersign-server` process serving on a free local port; killed on drop.
struct Server {
    child: Child,
    url: String,
    database_url: String,
    log: PathBuf,
}

impl Server {
    /// Start the server exactly as the README's run command does, with only the database
    /// and the listen address set, and wait until `/readyz` answers 200.
    fn start(database_url: &str, scratch: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = scratch.join("server.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(server_bin())
            .env("COUNTERSIGN_DATABASE_URL", database_url)
            .env("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start countersign-server");
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            database_url: database_url.to_owned(),
            log,
        };
        server.wait_ready(port);
        server
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("countersign-server exited ({status}):\n{}", self.log_text());
            }
            if readyz(port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready in 60 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `countersign-server keys create --principal NAME --role ROLE`: the key it prints.
    fn bootstrap_key(&self, principal: &str, role: &str) -> String {
        let out = Command::new(server_bin())
            .args(["keys", "create", "--principal", principal, "--role", role])
            .env("COUNTERSIGN_DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keys create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(
            key.starts_with("cs_") && !key.contains('\n'),
            "one key alone on stdout: {key:?}"
        );
        key
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// A finished `countersign` run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Assert success and return stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Assert success and parse stdout as JSON.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Assert failure with `code` and exactly one `error: …` line on stderr; return it.
    #[track_caller]
    fn fails(&self, code: i32) -> &str {
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
fn cs_command(config_home: &Path) -> Command {
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
fn cs(url: &str, key: &str, config_home: &Path, args: &[&str]) -> Run {
    Run::from(
        cs_command(config_home)
            .env("COUNTERSIGN_URL", url)
            .env("COUNTERSIGN_API_KEY", key)
            .args(args)
            .output()
            .unwrap(),
    )
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

#[test]
fn the_two_person_flow_through_the_cli_against_the_real_server() {
    let scratch = TempDir::new("flow");
    let home = scratch.path().join("config");
    std::fs::create_dir_all(&home).unwrap();
    let db = TestDb::create();
    let server = Server::start(&db.url, scratch.path());
    let url = server.url.as_str();

    // The operator bootstraps an admin. The escalation guard lets a principal grant only
    // roles it holds, so the admin also takes the two it will hand out.
    let admin = server.bootstrap_key("admin", "admin");
    server.bootstrap_key("admin", "requester");
    server.bootstrap_key("admin", "approver");
    let as_admin = |args: &[&str]| cs(url, &admin, &home, args);

    let me = as_admin(&["whoami"]);
    let text = me.ok();
    assert!(text.contains("principal    admin (prn_"), "{text}");
    assert!(text.contains(&format!("server       {url}")), "{text}");
    assert!(!text.contains(&admin), "the key never prints");
    let me = as_admin(&["--json", "whoami"]).json();
    assert_eq!(me["principal"]["name"], "admin");
    assert!(me["roles"].as_array().unwrap().contains(&"admin".into()));

    // People, keys, a policy and a subject, through `countersign api`. Bob requests and is
    // an approver too (so only two-person integrity stops him approving his own request).
    let person = |name: &str, roles: &[&str]| -> (String, String) {
        let p = as_admin(&[
            "api",
            "/api/v1/auth/principals",
            "-d",
            &format!(r#"{{"name":"{name}","kind":"user"}}"#),
        ])
        .json();
        let pid = id(&p);
        for role in roles {
            as_admin(&[
                "api",
                &format!("/api/v1/auth/principals/{pid}/roles"),
                "-d",
                &format!(r#"{{"role":"{role}"}}"#),
            ])
            .ok();
        }
        let k = as_admin(&[
            "api",
            "-X",
            "POST",
            &format!("/api/v1/auth/principals/{pid}/keys"),
        ])
        .json();
        (pid, k["key"].as_str().unwrap().to_owned())
    };
    let (bob_id, bob) = person("bob", &["requester", "approver"]);
    let (carol_id, carol) = person("carol", &["approver"]);
    let policy = as_admin(&[
        "api",
        "/api/v1/policies",
        "-d",
        r#"{"name":"prod-tls","requires_approval":true,"rules":[{"role":"approver","count":1}]}"#,
    ])
    .json();
    let subject = as_admin(&[
        "api",
        "/api/v1/subjects",
        "-d",
        &format!(
            r#"{{"kind":"certificate","name":"api.example.com","policy_id":"{}"}}"#,
            id(&policy)
        ),
    ])
    .json();
    let sub = id(&subject);
    let as_bob = |args: &[&str]| cs(url, &bob, &home, args);
    let as_carol = |args: &[&str]| cs(url, &carol, &home, args);

    // 1. Bob requests a job: it waits for approval, and the CLI says what to do next.
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

    // 2. The pending list shows it, as a table and as JSON with full ids.
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
    let pending = as_carol(&["approvals", "list", "--state", "pending", "--json"]).json();
    assert_eq!(pending["data"].as_array().unwrap().len(), 1);
    assert_eq!(pending["data"][0]["id"], apr.as_str());
    assert_eq!(pending["data"][0]["requested_by"], bob_id.as_str());
    assert!(pending["next_cursor"].is_null());

    // `show` has the rules, what remains, the votes and the payload with its digest.
    let shown = as_carol(&["approvals", "show", &apr]);
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
    let shown = as_carol(&["--json", "approvals", "show", &apr]).json();
    assert_eq!(shown["payload"]["ttl"], "90d");
    assert_eq!(shown["payload_sha256"].as_str().unwrap().len(), 64);
    assert!(text.contains(shown["payload_sha256"].as_str().unwrap()));

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
    // Under --json the error body is printed too, for scripts.
    let refused = as_bob(&["--json", "approvals", "approve", &apr]);
    refused.fails(1);
    let body: Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(body["error"]["code"], "two_person_integrity");

    // 4. Carol approves; the job is released.
    let approved = as_carol(&["approvals", "approve", &apr, "--note", "lgtm"]);
    assert!(
        approved
            .ok()
            .contains(&format!("approval {apr} is approved: job {job} is pending")),
        "{approved:#?}"
    );
    let again = as_carol(&["approvals", "approve", &apr]);
    assert!(
        again.fails(1).starts_with("error: already_decided (409): "),
        "{again:#?}"
    );

    // 5. The job is pending now.
    let shown = as_bob(&["jobs", "show", &job]);
    assert!(
        shown.ok().contains("status          pending\n"),
        "{shown:#?}"
    );
    let shown = as_bob(&["--json", "jobs", "show", &job]).json();
    assert_eq!(shown["status"], "pending");
    assert!(as_carol(&["approvals", "list", "--state", "pending"])
        .ok()
        .starts_with("no approvals"));

    // 6. The audit trail has every step, the refusal included.
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
    let denied = as_admin(&[
        "--json",
        "audit",
        "list",
        "--action",
        "auth.denied",
        "--actor",
        &bob_id,
    ])
    .json();
    assert!(
        denied["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["result"]["kind"] == "two_person_integrity"),
        "{denied}"
    );
    let one = &events["data"][0];
    let shown = as_admin(&["--json", "audit", "show", one["event_id"].as_str().unwrap()]).json();
    assert_eq!(&shown, one);

    // A reject cancels the job; a cancel cancels another; paging follows every cursor.
    let second = as_bob(&[
        "--json",
        "jobs",
        "request",
        &sub,
        "--action",
        "certificate.revoke",
    ])
    .json();
    let rejected = as_carol(&[
        "approvals",
        "reject",
        &id(&second["approval"]),
        "--note",
        "not now",
    ]);
    assert!(rejected.ok().contains("is rejected"), "{rejected:#?}");
    assert_eq!(
        as_bob(&["--json", "jobs", "show", &id(&second["job"])]).json()["status"],
        "cancelled"
    );
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

    drop(server);
    drop(db);
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
    // A config file with a typo names the line.
    let cfg = home.join("bad.toml");
    std::fs::write(&cfg, "apikey = \"x\"\n").unwrap();
    let typo = cs(
        url,
        "k",
        home,
        &["--config", cfg.to_str().unwrap(), "whoami"],
    );
    assert!(
        typo.fails(2).contains("line 1: unknown setting `apikey`"),
        "{typo:#?}"
    );
}
