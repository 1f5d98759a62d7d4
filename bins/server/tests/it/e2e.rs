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
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use countersign_testkit::process::{command, free_port, STARTUP};
use countersign_testkit::prometheus;
use serde_json::{json, Value};

use crate::support::{scheduler_binary, server_binary, spawn, PgDatabase, Proc, TempDir};

/// Upper bound for the scheduler to expire a due approval (the contract's test bound).
const EXPIRY: Duration = Duration::from_secs(15);

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
            Backend::Sqlite => Fresh::Sqlite(TempDir::new("e2e-sqlite")),
        }
    }

    /// The URL both processes get as `COUNTERSIGN_DATABASE_URL`.
    fn url(&self) -> String {
        match self {
            Fresh::Postgres(db) => db.url.clone(),
            Fresh::Sqlite(dir) => dir.sqlite_url(),
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
    let out = command(server_binary())
        .env("RUST_LOG", "info")
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
        let scratch = TempDir::new("e2e-logs");
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
    let mut server = spawn(
        "countersign-server",
        server_binary(),
        &["serve"],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.to_owned()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch,
    );
    server.wait_for_status(port, "/readyz", 200);
    // `serve` would announce a first admin before it listens; one exists, so it says nothing.
    assert_eq!(server.stdout(), "", "serve printed on stdout");
    let sched_port = free_port();
    let mut scheduler = spawn(
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
    scheduler.wait_for_status(sched_port, "/healthz", 200);
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
        prometheus::value(
            &m.text,
            "countersign_approval_decisions_total",
            &[("outcome", "approved"), ("policy", &policy_id)]
        ),
        Some(1.0),
        "{}",
        m.text
    );
    assert!(prometheus::value(
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
        prometheus::value(
            &m.text,
            "countersign_approval_decisions_total",
            &[("outcome", "expired"), ("policy", &short_id)]
        ),
        Some(1.0),
        "{}",
        m.text
    );
    assert!(prometheus::value(
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
