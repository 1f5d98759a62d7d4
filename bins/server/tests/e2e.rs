//! End to end over real processes: the real `countersign-server` and `countersign-scheduler`
//! binaries sharing one fresh database, driven over real HTTP — on each backend.
//!
//! Every scenario runs twice, as `<scenario>_on_postgres` and `<scenario>_on_sqlite`:
//!
//! - PostgreSQL: a uniquely named database on the server `DATABASE_URL` names (the
//!   environment, else the workspace's `.env`), dropped at the end, even on failure.
//! - SQLite: `countersign.db` in a fresh temporary directory
//!   (`sqlite://<dir>/countersign.db?mode=rwc`), removed at the end. The server and the
//!   scheduler are two processes on that one file, which is what WAL mode and the busy
//!   timeout are there for.
//!
//! A scenario bootstraps an admin key with `countersign-server keys create`, starts `serve`
//! and the scheduler on free loopback ports, and ends by stopping both with SIGTERM, which
//! they must survive with exit 0. The scenarios:
//!
//! - `walk`: the approval flow (roles, principals, a two-rule policy, two-person integrity,
//!   one person who holds both roles, claim and completion) and its audit trail, and the
//!   server's metrics. The admin holds only `admin` and still grants every role.
//! - `expiry`: the running scheduler expires a one-second approval, audits it, counts it.
//! - `restart`: after SIGTERM both come back on the same database with everything in it,
//!   and `serve` creates no second admin.
//!
//! HTTP goes through `reqwest` (one client per request).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::net::TcpStream;

/// Upper bound for a process to start answering, and for one HTTP exchange.
const STARTUP: Duration = Duration::from_secs(60);
/// Upper bound for the scheduler to expire a due approval (the contract's test bound).
const EXPIRY: Duration = Duration::from_secs(15);
/// Upper bound for a process to exit after SIGTERM.
const SHUTDOWN: Duration = Duration::from_secs(20);

// --- databases -----------------------------------------------------------------------------

/// The backends a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// A name no other test (in this process or another) uses at the same time.
fn unique(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{tag}_{}_{nanos}_{seq}", std::process::id())
}

/// The PostgreSQL server to make test databases on: `DATABASE_URL` from the environment or
/// the workspace's `.env` (as `#[sqlx::test]` finds it), else the documented default.
fn admin_url() -> String {
    dotenvy::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `db` (query string kept).
fn with_database(url: &str, db: &str) -> String {
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

/// A PostgreSQL database made for one test and dropped when this is dropped.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let admin = admin_url();
        let name = unique("countersign_e2e");
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
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread with its own.
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

/// A directory made for one test and removed, with everything in it, when this is dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("could not remove {}: {e}", self.0.display());
        }
    }
}

/// A fresh, empty database on one backend, gone when this is dropped.
enum Fresh {
    Postgres(PgDatabase),
    /// The directory that holds `countersign.db` (and its `-wal` and `-shm` companions).
    Sqlite(TempDir),
}

impl Fresh {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Fresh::Postgres(PgDatabase::create().await),
            Backend::Sqlite => Fresh::Sqlite(TempDir::new("countersign-e2e-sqlite")),
        }
    }

    /// The URL both processes get as `COUNTERSIGN_DATABASE_URL`.
    fn url(&self) -> String {
        match self {
            Fresh::Postgres(db) => db.url.clone(),
            Fresh::Sqlite(dir) => format!("sqlite://{}?mode=rwc", sqlite_file(dir).display()),
        }
    }

    /// On SQLite: the file exists and is in WAL mode (its header's file format read and write
    /// versions, bytes 18 and 19, are 2), so two processes can share it.
    fn assert_shareable(&self) {
        let Fresh::Sqlite(dir) = self else { return };
        let file = sqlite_file(dir);
        let mut header = [0u8; 100];
        File::open(&file)
            .and_then(|mut f| f.read_exact(&mut header))
            .unwrap_or_else(|e| panic!("reading the header of {}: {e}", file.display()));
        assert_eq!(&header[..16], b"SQLite format 3\0", "{}", file.display());
        assert_eq!((header[18], header[19]), (2, 2), "not in WAL mode");
    }
}

fn sqlite_file(dir: &TempDir) -> PathBuf {
    dir.path().join("countersign.db")
}

// --- processes -----------------------------------------------------------------------------

/// A child process, killed if still running when dropped. Its stdout and stderr go to files
/// in a scratch directory; the log (stderr) is printed if the test fails.
struct Proc {
    name: &'static str,
    child: Option<Child>,
    out: PathBuf,
    log: PathBuf,
}

impl Proc {
    fn spawn(
        name: &'static str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, String)],
        scratch: &Path,
    ) -> Self {
        let stem = unique(name);
        let out = scratch.join(format!("{stem}.out"));
        let log = scratch.join(format!("{stem}.log"));
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("create the stdout file"))
            .stderr(File::create(&log).expect("create the log file"));
        clean_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Self {
            name,
            child: Some(child),
            out,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Panic (with the log) if the process has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "{} exited early with {status}:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(&pid)
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + SHUTDOWN;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {SHUTDOWN:?} of SIGTERM:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process has written to stdout so far.
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let mut f = match File::open(&self.log) {
            Ok(f) => f,
            Err(e) => return format!("(no log: {e})"),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(8 * 1024)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} log (tail) ---\n{}", self.name, self.log_tail());
        }
    }
}

/// Clear any `COUNTERSIGN_*` and `DATABASE_URL` setting inherited from the developer's
/// shell: the test sets what it needs.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("COUNTERSIGN_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
}

fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_countersign-server"))
}

/// The scheduler lives in another package: build it (once per test process; a no-op when
/// fresh) with the same cargo, profile and target directory as this test, and find it next
/// to the server.
fn scheduler_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_scheduler)
}

fn build_scheduler() -> PathBuf {
    let server = server_binary();
    let dir = server.parent().expect("the server binary's directory");
    let profile = dir.file_name().and_then(|p| p.to_str()).unwrap_or("debug");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "countersign-scheduler",
        "--bin",
        "countersign-scheduler",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // The test runs with the variables cargo sets for this crate (`CARGO_MANIFEST_DIR`, …).
    // Some build scripts (ring's) track them: passing them on would make this build see a
    // changed environment and rebuild half the dependency tree, for everyone sharing the
    // target directory. Give it the environment the outer `cargo test` had.
    for (k, _) in std::env::vars() {
        if is_cargo_test_var(&k) {
            cmd.env_remove(k);
        }
    }
    let status = cmd.status().expect("run cargo build for the scheduler");
    assert!(
        status.success(),
        "cargo build -p countersign-scheduler failed: {status}"
    );
    let bin = dir.join(format!(
        "countersign-scheduler{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        bin.exists(),
        "the scheduler binary is not at {}",
        bin.display()
    );
    bin
}

/// A variable cargo sets for a test process rather than one the caller's shell had.
fn is_cargo_test_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

// --- HTTP ------------------------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
    json: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request with `reqwest` (a fresh client each time: no pooled connection outlives a
/// server restart).
async fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let exchange = async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req =
            reqwest::Client::new().request(method, format!("http://127.0.0.1:{port}{path}"));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = resp.text().await?;
        Ok::<_, reqwest::Error>((status, headers, text))
    };
    let (status, headers, text) = tokio::time::timeout(STARTUP, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {STARTUP:?}"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

/// Poll `path` until it answers 200, within [`STARTUP`], while `proc` keeps running.
async fn wait_ready(proc: &mut Proc, port: u16, path: &str) {
    let deadline = Instant::now() + STARTUP;
    loop {
        proc.assert_running();
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok()
            && http(port, "GET", path, None, None).await.status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready within {STARTUP:?}:\n{}",
            proc.name,
            proc.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of a Prometheus sample whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().ok())
            .flatten()
        })
        .reduce(|a: f64, b| a + b)
}

// --- the API, as a client would use it -------------------------------------------------------

struct Api {
    port: u16,
    admin: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
        http(self.port, method, path, Some(key), body.as_ref()).await
    }

    async fn expect(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let r = self.call(method, path, key, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        r.json
    }

    async fn role(&self, id: &str) {
        let permissions = [
            "approval.read",
            "approval.approve",
            "approval.reject",
            "job.read",
            "subject.read",
            "policy.read",
        ];
        self.expect(
            "POST",
            "/api/v1/auth/roles",
            &self.admin,
            Some(json!({"id": id, "description": format!("{id} approvers"), "permissions": permissions})),
            201,
        )
        .await;
    }

    /// A principal with `roles` and a key: `(id, key)`.
    async fn principal(&self, name: &str, roles: &[&str]) -> (String, String) {
        let p = self
            .expect(
                "POST",
                "/api/v1/auth/principals",
                &self.admin,
                Some(json!({"name": name, "kind": "user"})),
                201,
            )
            .await;
        let id = p["id"].as_str().unwrap().to_owned();
        for role in roles {
            let p = self
                .expect(
                    "POST",
                    &format!("/api/v1/auth/principals/{id}/roles"),
                    &self.admin,
                    Some(json!({"role": role})),
                    200,
                )
                .await;
            assert!(
                p["roles"].as_array().unwrap().iter().any(|r| r == role),
                "{p}"
            );
        }
        let k = self
            .expect(
                "POST",
                &format!("/api/v1/auth/principals/{id}/keys"),
                &self.admin,
                Some(json!({})),
                201,
            )
            .await;
        let key = k["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("cs_key_"), "{k}");
        (id, key)
    }

    /// Every audit event, oldest first, paging through `GET /api/v1/audit`.
    async fn audit(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/api/v1/audit?limit=25".to_owned(),
                Some(c) => format!("/api/v1/audit?limit=25&cursor={c}"),
            };
            let page = self.expect("GET", &path, &self.admin, None, 200).await;
            all.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(all.len() < 100_000, "paging must end");
        }
        all.reverse();
        all
    }
}

// --- a deployment: both processes on one database --------------------------------------------

/// `countersign-server keys create --principal admin --role <role>` on `url`: the printed key.
fn keys_create(url: &str, role: &str) -> String {
    let mut cmd = Command::new(server_binary());
    clean_env(&mut cmd);
    let out = cmd
        .args(["keys", "create", "--principal", "admin", "--role", role])
        .env("COUNTERSIGN_DATABASE_URL", url)
        .output()
        .expect("run keys create");
    assert!(
        out.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on one line: {stdout:?}");
    let key = lines[0].trim().to_owned();
    assert!(key.starts_with("cs_key_"), "{key}");
    key
}

/// The server and the scheduler running on one database, with an admin key. Fields drop in
/// order: the processes go before their logs and their database.
struct Deployment {
    backend: Backend,
    api: Api,
    sched_port: u16,
    server: Proc,
    scheduler: Proc,
    scratch: TempDir,
    db: Fresh,
}

impl Deployment {
    /// A fresh database, an admin key from `keys create`, and both processes answering.
    async fn start(backend: Backend) -> Self {
        let started = Instant::now();
        let db = Fresh::create(backend).await;
        let admin = keys_create(&db.url(), "admin");
        let scratch = TempDir::new("countersign-e2e-logs");
        let (server, port, scheduler, sched_port) = launch(&db.url(), scratch.path()).await;
        eprintln!(
            "e2e[{}]: both processes answering after {:?}",
            backend.name(),
            started.elapsed()
        );
        Self {
            backend,
            api: Api { port, admin },
            sched_port,
            server,
            scheduler,
            scratch,
            db,
        }
    }

    /// SIGTERM to both: each must exit 0.
    fn stop(&mut self) {
        let status = self.scheduler.terminate();
        assert!(status.success(), "the scheduler exited with {status}");
        let status = self.server.terminate();
        assert!(status.success(), "the server exited with {status}");
    }

    /// Start both again on the same database (after [`Deployment::stop`]).
    async fn restart(&mut self) {
        let (server, port, scheduler, sched_port) =
            launch(&self.db.url(), self.scratch.path()).await;
        self.server = server;
        self.scheduler = scheduler;
        self.api.port = port;
        self.sched_port = sched_port;
    }
}

/// `serve` and the scheduler on `url`, each on a free port, once both answer.
async fn launch(url: &str, scratch: &Path) -> (Proc, u16, Proc, u16) {
    let port = free_port();
    let mut server = Proc::spawn(
        "countersign-server",
        &server_binary(),
        &["serve"],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.to_owned()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch,
    );
    wait_ready(&mut server, port, "/readyz").await;
    // `serve` would announce a first admin before it listens; one exists, so it says nothing.
    assert_eq!(server.stdout(), "", "serve printed on stdout");
    let sched_port = free_port();
    let mut scheduler = Proc::spawn(
        "countersign-scheduler",
        scheduler_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.to_owned()),
            (
                "COUNTERSIGN_SCHEDULER_LISTEN",
                format!("127.0.0.1:{sched_port}"),
            ),
            ("COUNTERSIGN_SCHEDULER_TICK", "200ms".to_owned()),
        ],
        scratch,
    );
    wait_ready(&mut scheduler, sched_port, "/healthz").await;
    (server, port, scheduler, sched_port)
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

// --- scenarios -----------------------------------------------------------------------------

/// The approval flow and its audit trail, with the scheduler running beside the server.
async fn walk(backend: Backend) {
    let mut d = Deployment::start(backend).await;
    let api = &d.api;
    let who = api
        .expect("GET", "/api/v1/auth/whoami", &api.admin, None, 200)
        .await;
    assert_eq!(who["principal"]["name"], "admin");
    // The bootstrap admin holds `admin` alone, and grants every role below with it.
    assert_eq!(who["roles"], json!(["admin"]), "{who}");
    let admin_id = who["principal"]["id"].as_str().unwrap().to_owned();

    // Roles, principals, keys.
    api.role("security").await;
    api.role("platform").await;
    let (rita_id, rita) = api.principal("rita", &["requester", "security"]).await;
    let (bo_id, bo) = api.principal("bo", &["security", "platform"]).await;
    let (sam_id, sam) = api.principal("sam", &["security"]).await;
    let (wendy_id, wendy) = api.principal("wendy", &["worker"]).await;

    // A two-rule policy and a subject under it.
    let policy = api
        .expect(
            "POST",
            "/api/v1/policies",
            &api.admin,
            Some(json!({"name": "prod-tls", "requires_approval": true,
                        "rules": [{"role": "security", "count": 1}, {"role": "platform", "count": 1}],
                        "approval_timeout_secs": 86400})),
            201,
        )
        .await;
    let policy_id = id_of(&policy);
    assert_eq!(policy["generation"], 1);
    let subject = api
        .expect(
            "POST",
            "/api/v1/subjects",
            &api.admin,
            Some(json!({"kind": "certificate", "name": "api.example.com", "policy_id": policy_id, "labels": {"env": "prod"}})),
            201,
        )
        .await;
    let subject_id = id_of(&subject);

    // The request.
    let requested = api
        .expect(
            "POST",
            &format!("/api/v1/subjects/{subject_id}/jobs"),
            &rita,
            Some(json!({"action": "certificate.renew", "payload": {"domain": "api.example.com", "days": 90}})),
            201,
        )
        .await;
    assert_eq!(requested["job"]["status"], "awaiting_approval");
    assert_eq!(requested["approval"]["state"], "pending");
    let job_id = id_of(&requested["job"]);
    let approval_id = id_of(&requested["approval"]);
    let approve = format!("/api/v1/approvals/{approval_id}/approve");

    // Two-person integrity.
    let r = api.call("POST", &approve, &rita, Some(json!({}))).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.code(), "two_person_integrity");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("two-person integrity"));
    assert!(r.header("x-request-id").is_some());

    // One person holding both roles fills one place only.
    let a = api
        .expect(
            "POST",
            &approve,
            &bo,
            Some(json!({"note": "ok from bo"})),
            200,
        )
        .await;
    assert_eq!(a["state"], "pending");
    assert_eq!(a["remaining"].as_array().unwrap().len(), 1, "{a}");
    let r = api.call("POST", &approve, &bo, Some(json!({}))).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "already_voted");
    let job = api
        .expect("GET", &format!("/api/v1/jobs/{job_id}"), &rita, None, 200)
        .await;
    assert_eq!(job["status"], "awaiting_approval");

    // A second, distinct approver.
    let a = api
        .expect(
            "POST",
            &approve,
            &sam,
            Some(json!({"note": "ok from sam"})),
            200,
        )
        .await;
    assert_eq!(a["state"], "approved");
    assert_eq!(a["decided_by"], sam_id.as_str());
    let job = api
        .expect("GET", &format!("/api/v1/jobs/{job_id}"), &rita, None, 200)
        .await;
    assert_eq!(job["status"], "pending");

    // The worker.
    let claimed = api
        .expect(
            "POST",
            "/api/v1/jobs/claim",
            &wendy,
            Some(json!({"lease_secs": 300})),
            200,
        )
        .await;
    assert_eq!(claimed["id"], job_id.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["claimed_by"], wendy_id.as_str());
    let done = api
        .expect(
            "POST",
            &format!("/api/v1/jobs/{job_id}/complete"),
            &wendy,
            Some(json!({"outcome": "succeeded", "message": "renewed until 2027"})),
            200,
        )
        .await;
    assert_eq!(done["status"], "succeeded");
    let r = api
        .call("POST", "/api/v1/jobs/claim", &wendy, Some(json!({})))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The audit trail, through the API.
    let trail = api.audit().await;
    let about: Vec<&Value> = trail
        .iter()
        .filter(|e| {
            e["resource"]["id"] == job_id.as_str() || e["resource"]["id"] == approval_id.as_str()
        })
        .collect();
    let steps: Vec<(&str, &str, &str)> = about
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"]["id"].as_str().unwrap(),
                e["authorization"]["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("job.requested", rita_id.as_str(), "allow"),
            ("approval.requested", rita_id.as_str(), "allow"),
            ("auth.denied", rita_id.as_str(), "deny"),
            ("approval.voted", bo_id.as_str(), "allow"),
            ("approval.voted", sam_id.as_str(), "allow"),
            ("approval.approved", sam_id.as_str(), "allow"),
            ("job.claimed", wendy_id.as_str(), "allow"),
            ("job.completed", wendy_id.as_str(), "allow"),
        ],
        "{about:#?}"
    );
    assert_eq!(about[2]["result"]["kind"], "two_person_integrity");
    assert_eq!(about[7]["details"]["outcome"], "succeeded");
    // The setup is in the trail too: the bootstrap, the roles, the grants — every grant of a
    // built-in role made by the admin through the API.
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "principal.created",
        "key.created",
        "role.created",
        "role.assigned",
        "policy.created",
        "subject.created",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(trail
        .iter()
        .any(|e| e["action"] == "policy.created" && e["actor"]["id"] == admin_id.as_str()));
    for (who, role) in [(&rita_id, "requester"), (&wendy_id, "worker")] {
        assert!(
            trail.iter().any(|e| e["action"] == "role.assigned"
                && e["actor"]["id"] == admin_id.as_str()
                && e["resource"]["id"] == who.as_str()
                && e["details"]["role"] == role),
            "no grant of {role} to {who} by the admin in {trail:#?}"
        );
    }

    // The server's metrics saw the approval and the refusal.
    let m = http(api.port, "GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert_eq!(
        metric(
            &m.text,
            "countersign_approval_decisions_total",
            &[("outcome", "approved"), ("policy", &policy_id)]
        ),
        Some(1.0),
        "{}",
        m.text
    );
    assert!(metric(
        &m.text,
        "countersign_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/api/v1/approvals/{id}/approve"),
            ("status", "403")
        ]
    )
    .is_some_and(|n| n >= 1.0));

    d.db.assert_shareable();
    d.stop();
}

/// The running scheduler expires a one-second approval, audits it as `system:reaper`, and
/// counts it.
async fn expiry(backend: Backend) {
    let mut d = Deployment::start(backend).await;
    let api = &d.api;
    let started = Instant::now();
    let (_, rita) = api.principal("rita", &["requester"]).await;
    let short = api
        .expect(
            "POST",
            "/api/v1/policies",
            &api.admin,
            Some(json!({"name": "short", "requires_approval": true,
                        "rules": [{"role": "approver", "count": 1}], "approval_timeout_secs": 1})),
            201,
        )
        .await;
    let short_id = id_of(&short);
    let subject = api
        .expect(
            "POST",
            "/api/v1/subjects",
            &api.admin,
            Some(
                json!({"kind": "certificate", "name": "short.example.com", "policy_id": short_id}),
            ),
            201,
        )
        .await;
    let r = api
        .expect(
            "POST",
            &format!("/api/v1/subjects/{}/jobs", id_of(&subject)),
            &rita,
            Some(json!({"action": "certificate.renew", "payload": {}})),
            201,
        )
        .await;
    let job_id = id_of(&r["job"]);
    let approval_id = id_of(&r["approval"]);
    let deadline = Instant::now() + EXPIRY;
    let job = loop {
        let job = api
            .expect("GET", &format!("/api/v1/jobs/{job_id}"), &rita, None, 200)
            .await;
        if job["status"] == "cancelled" {
            break job;
        }
        assert_eq!(job["status"], "awaiting_approval");
        assert!(
            Instant::now() < deadline,
            "not expired within {EXPIRY:?}:\n{}",
            d.scheduler.log_tail()
        );
        d.scheduler.assert_running();
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["result_message"], "approval expired");
    eprintln!(
        "e2e[{}]: expired {:?} after the request",
        d.backend.name(),
        started.elapsed()
    );
    let a = api
        .expect(
            "GET",
            &format!("/api/v1/approvals/{approval_id}"),
            &rita,
            None,
            200,
        )
        .await;
    assert_eq!(a["state"], "expired");
    assert_eq!(a["decided_by"], "system:reaper");
    let expired = api
        .expect(
            "GET",
            &format!("/api/v1/audit?action=approval.expired&resource_id={approval_id}"),
            &api.admin,
            None,
            200,
        )
        .await;
    assert_eq!(expired["data"].as_array().unwrap().len(), 1, "{expired}");
    assert_eq!(expired["data"][0]["actor"]["id"], "system:reaper");

    // The scheduler's ops endpoints answer, and its metrics saw the expiry.
    let h = http(d.sched_port, "GET", "/healthz", None, None).await;
    assert_eq!(h.status, 200, "{}", h.text);
    let m = http(d.sched_port, "GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert_eq!(
        metric(
            &m.text,
            "countersign_approval_decisions_total",
            &[("outcome", "expired"), ("policy", &short_id)]
        ),
        Some(1.0),
        "{}",
        m.text
    );
    assert!(metric(
        &m.text,
        "countersign_scheduler_runs_total",
        &[("loop", "approval_expiry"), ("status", "ok")]
    )
    .is_some_and(|n| n >= 1.0));

    d.db.assert_shareable();
    d.stop();
}

/// SIGTERM stops both cleanly; both start again on the same database, which still holds
/// everything (keys, the waiting request, its trail), and `serve` makes no second admin.
async fn restart(backend: Backend) {
    let mut d = Deployment::start(backend).await;
    let (rita_id, rita) = d.api.principal("rita", &["requester"]).await;
    let policy = d
        .api
        .expect(
            "POST",
            "/api/v1/policies",
            &d.api.admin,
            Some(json!({"name": "deploys", "requires_approval": true,
                        "rules": [{"role": "approver", "count": 1}]})),
            201,
        )
        .await;
    let subject = d
        .api
        .expect(
            "POST",
            "/api/v1/subjects",
            &d.api.admin,
            Some(json!({"kind": "deployment", "name": "web", "policy_id": id_of(&policy)})),
            201,
        )
        .await;
    let requested = d
        .api
        .expect(
            "POST",
            &format!("/api/v1/subjects/{}/jobs", id_of(&subject)),
            &rita,
            Some(json!({"action": "deploy", "payload": {"version": "1.2.3"}})),
            201,
        )
        .await;
    let job_id = id_of(&requested["job"]);
    let approval_id = id_of(&requested["approval"]);

    d.stop();
    d.restart().await;
    let api = &d.api;

    // The keys made before still work; there is still one admin.
    let who = api
        .expect("GET", "/api/v1/auth/whoami", &api.admin, None, 200)
        .await;
    assert_eq!(who["principal"]["name"], "admin");
    let who = api
        .expect("GET", "/api/v1/auth/whoami", &rita, None, 200)
        .await;
    assert_eq!(who["principal"]["id"], rita_id.as_str());
    let people = api
        .expect(
            "GET",
            "/api/v1/auth/principals?limit=100",
            &api.admin,
            None,
            200,
        )
        .await;
    let names: Vec<&str> = people["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "admin").count(),
        1,
        "{people}"
    );
    assert!(names.contains(&"rita"), "{people}");

    // The request still waits, with its trail, and can be decided now.
    let job = api
        .expect("GET", &format!("/api/v1/jobs/{job_id}"), &rita, None, 200)
        .await;
    assert_eq!(job["status"], "awaiting_approval");
    let trail = api
        .expect(
            "GET",
            &format!("/api/v1/audit?resource_id={job_id}"),
            &api.admin,
            None,
            200,
        )
        .await;
    assert!(
        trail["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "job.requested" && e["actor"]["id"] == rita_id.as_str()),
        "{trail}"
    );
    let (_, carol) = api.principal("carol", &["approver"]).await;
    let a = api
        .expect(
            "POST",
            &format!("/api/v1/approvals/{approval_id}/approve"),
            &carol,
            Some(json!({})),
            200,
        )
        .await;
    assert_eq!(a["state"], "approved");
    let job = api
        .expect("GET", &format!("/api/v1/jobs/{job_id}"), &rita, None, 200)
        .await;
    assert_eq!(job["status"], "pending");

    d.db.assert_shareable();
    d.stop();
}

// --- the tests: every scenario on every backend --------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_on_postgres() {
    walk(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_on_sqlite() {
    walk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_on_postgres() {
    expiry(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_on_sqlite() {
    expiry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_postgres() {
    restart(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_sqlite() {
    restart(Backend::Sqlite).await;
}

#[test]
fn database_urls_keep_their_query() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@db/app?sslmode=disable", "x"),
        "postgres://u:p@db/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://db", "x"), "postgres://db/x");
}
