//! What the process tests share: fresh databases and directories, child processes with
//! their output in files, a blocking HTTP/1.1 client, and a small API workflow.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

/// Upper bound for a process to start answering (or come ready), and for one exchange.
pub const STARTUP: Duration = Duration::from_secs(60);

/// A name no other test (in this process or another) uses at the same time.
pub fn unique(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{tag}_{}_{nanos}_{seq}", std::process::id())
}

/// The PostgreSQL server for test databases: `DATABASE_URL` (environment or `.env`).
pub fn admin_url() -> String {
    dotenvy::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `db` (query string kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// `url` logging in as `user` (no password: the test cluster trusts local connections).
pub fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with ://");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

/// A PostgreSQL database made for one test, dropped (with force) when this is dropped.
pub struct PgDatabase {
    pub admin: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        Self::create_named(unique("countersign_ops")).await
    }

    pub async fn create_named(name: String) -> Self {
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to DATABASE_URL ({admin}): {e}"));
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        Self { admin, name, url }
    }

    /// Run `sql` on this database as the `DATABASE_URL` user.
    pub async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A directory made for one test and removed when this is dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed if still running when dropped; stdout and stderr go to files.
pub struct Proc {
    name: &'static str,
    child: Child,
    out: PathBuf,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(
        name: &'static str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, String)],
        scratch: &Path,
    ) -> Self {
        Self::spawn_in(name, bin, args, env, scratch, &std::env::temp_dir())
    }

    /// Like [`spawn`](Self::spawn), with `cwd` as the working directory.
    pub fn spawn_in(
        name: &'static str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, String)],
        scratch: &Path,
        cwd: &Path,
    ) -> Self {
        let stem = unique(name);
        let out = scratch.join(format!("{stem}.out"));
        let log = scratch.join(format!("{stem}.log"));
        let mut cmd = command(bin, args, env, cwd);
        cmd.stdout(File::create(&out).unwrap())
            .stderr(File::create(&log).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Self {
            name,
            child,
            out,
            log,
        }
    }

    /// Panic (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited with {status}:\n{}", self.name, self.log());
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
    }
}

/// A command with a clean environment: no inherited `COUNTERSIGN_*` or `DATABASE_URL`.
fn command(bin: &Path, args: &[&str], env: &[(&str, String)], cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null()).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("COUNTERSIGN_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run a command to completion and answer its output.
pub fn run(bin: &Path, args: &[&str], env: &[(&str, String)], cwd: &Path) -> Output {
    command(bin, args, env, cwd)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()))
}

pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_countersign-server"))
}

/// The scheduler lives in another package: build it once per test process with the same
/// cargo and profile, and find it next to the server.
pub fn scheduler_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let server = server_binary();
        let dir = server.parent().expect("the server binary's directory");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "countersign-scheduler"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().and_then(|p| p.to_str()) == Some("release") {
            cmd.arg("--release");
        }
        // Not the variables cargo set for this test: build scripts that track them would
        // rebuild for everyone sharing the target directory.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || matches!(
                    k.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                )
            {
                cmd.env_remove(k);
            }
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the scheduler: {status}");
        dir.join(format!(
            "countersign-scheduler{}",
            std::env::consts::EXE_SUFFIX
        ))
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 exchange (`Connection: close`): the status and the raw body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream.set_read_timeout(Some(STARTUP)).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return (0, raw);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

pub fn get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, None, None)
}

/// Poll `path` until it answers `status` (bounded by [`STARTUP`]; the process must stay up).
pub fn wait_for_status(proc: &mut Proc, port: u16, path: &str, status: u16) {
    let deadline = Instant::now() + STARTUP;
    loop {
        proc.assert_running();
        let (got, body) = get(port, path);
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} answered {got} (not {status}) for {STARTUP:?}: {body}\n{}",
            proc.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The admin key `serve` printed on stdout at its first start.
pub fn bootstrap_key(server: &Proc) -> String {
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Some(key) = server
            .stdout()
            .split_whitespace()
            .find(|w| w.starts_with("cs_key_"))
        {
            return key.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no admin key printed:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The approval workflow over the API: an approver, a policy needing one approval, a
/// subject; a job requested by the admin, approved by the approver, claimed and completed
/// by the admin; the audit export.
pub struct Workflow {
    port: u16,
    admin: String,
    approver: Option<String>,
}

impl Workflow {
    pub fn new(port: u16, admin: &str) -> Self {
        Self {
            port,
            admin: admin.to_owned(),
            approver: None,
        }
    }

    fn call(&self, key: &str, method: &str, path: &str, body: Value, want: u16) -> Value {
        let (status, text) = http(self.port, method, path, Some(key), Some(&body));
        assert_eq!(status, want, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Set up the approver, policy and subject, and request a job: (policy id, approval id).
    pub fn request_needing_approval(&mut self) -> (String, String) {
        let admin = self.admin.clone();
        let p = self.call(
            &admin,
            "POST",
            "/api/v1/auth/principals",
            json!({"name": unique("carol").replace('_', "-"), "kind": "user"}),
            201,
        );
        let pid = p["id"].as_str().unwrap().to_owned();
        self.call(
            &admin,
            "POST",
            &format!("/api/v1/auth/principals/{pid}/roles"),
            json!({"role": "approver"}),
            200,
        );
        let k = self.call(
            &admin,
            "POST",
            &format!("/api/v1/auth/principals/{pid}/keys"),
            json!({}),
            201,
        );
        self.approver = Some(k["key"].as_str().unwrap().to_owned());
        let policy = self.call(
            &admin,
            "POST",
            "/api/v1/policies",
            json!({
            "name": unique("tls").replace('_', "-"), "requires_approval": true,
            "rules": [{"role": "approver", "count": 1}]}),
            201,
        );
        let policy = policy["id"].as_str().unwrap().to_owned();
        let subject = self.call(
            &admin,
            "POST",
            "/api/v1/subjects",
            json!({
            "kind": "certificate", "name": "api.example.com", "policy_id": policy, "labels": {}}),
            201,
        );
        let sid = subject["id"].as_str().unwrap();
        let requested = self.call(
            &admin,
            "POST",
            &format!("/api/v1/subjects/{sid}/jobs"),
            json!({"action": "certificate.renew", "payload": {"days": 90}}),
            201,
        );
        let approval = requested["approval"]["id"]
            .as_str()
            .expect("an approval")
            .to_owned();
        (policy, approval)
    }

    pub fn approve(&self, approval: &str) {
        let approver = self.approver.clone().expect("request first");
        let done = self.call(
            &approver,
            "POST",
            &format!("/api/v1/approvals/{approval}/approve"),
            json!({"note": "ok"}),
            200,
        );
        assert_eq!(done["state"], "approved", "{done}");
    }

    /// Claim the pending job and complete it.
    pub fn claim_and_complete(&self) {
        let admin = self.admin.clone();
        let job = self.call(&admin, "POST", "/api/v1/jobs/claim", json!({}), 200);
        let id = job["id"].as_str().unwrap();
        let done = self.call(
            &admin,
            "POST",
            &format!("/api/v1/jobs/{id}/complete"),
            json!({"outcome": "succeeded", "message": "renewed"}),
            200,
        );
        assert_eq!(done["status"], "succeeded", "{done}");
    }

    /// The whole trail as NDJSON.
    pub fn export(&self) -> String {
        use time::format_description::well_known::Rfc3339;
        let now = time::OffsetDateTime::now_utc();
        let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap();
        let path = format!(
            "/api/v1/audit/export?from={}&to={}",
            at(now - time::Duration::days(1)),
            at(now + time::Duration::days(1))
        );
        let (status, body) = http(self.port, "GET", &path, Some(&self.admin), None);
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Every metric family (`# TYPE` line) has a `# HELP` line.
pub fn assert_every_family_has_help(text: &str) {
    let helped: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut families = 0;
    for name in text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
    {
        families += 1;
        assert!(helped.contains(&name), "no HELP for `{name}` in:\n{text}");
    }
    assert!(families > 0, "no metric families in:\n{text}");
}

/// `promtool check metrics` on `text`, with no complaint; skipped (with a note) when
/// promtool is not installed (Debian: `apt-get install prometheus`).
pub fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("note: promtool not found ({e}); skipping `promtool check metrics`");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {}\n{complaints}\n--- metrics ---\n{text}",
        out.status
    );
}
