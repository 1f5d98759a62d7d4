//! What the process tests share beyond the test kit: spawning the service's binaries with
//! arguments and settings (logging at `info`), a blocking HTTP/1.1 client, and a small API
//! workflow.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use countersign_testkit::{binaries, http as raw, process};
use serde_json::{json, Value};

pub use countersign_testkit::postgres::with_user;
pub use countersign_testkit::process::free_port;
pub use countersign_testkit::prometheus::{assert_every_family_has_help, promtool_check};
pub use countersign_testkit::{unique, PgDatabase, Proc, TempDir};

/// `bin args` with a clean environment, logging at `info`, and `env` set.
fn command(bin: &Path, args: &[&str], env: &[(&str, String)], cwd: &Path) -> Command {
    let mut cmd = process::command(bin);
    cmd.args(args).current_dir(cwd).env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Start `bin args` with `env` (in the temp directory), its output in `scratch`.
pub fn spawn(
    name: &'static str,
    bin: &Path,
    args: &[&str],
    env: &[(&str, String)],
    scratch: &Path,
) -> Proc {
    spawn_in(name, bin, args, env, scratch, &std::env::temp_dir())
}

/// Like [`spawn`], with `cwd` as the working directory.
pub fn spawn_in(
    name: &'static str,
    bin: &Path,
    args: &[&str],
    env: &[(&str, String)],
    scratch: &Path,
    cwd: &Path,
) -> Proc {
    Proc::spawn(name, command(bin, args, env, cwd), scratch)
}

/// Run a command to completion and answer its output.
pub fn run(bin: &Path, args: &[&str], env: &[(&str, String)], cwd: &Path) -> Output {
    command(bin, args, env, cwd)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()))
}

/// Run `countersign-server` with `args` and answer what it printed, trimmed; it must succeed.
fn server_output(args: &[&str], env: &[(&str, String)], cwd: &Path) -> String {
    let out = run(server_binary(), args, env, cwd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A new admin key, made by `countersign-server keys create` against the database at `url`.
pub fn admin_key(url: &str, cwd: &Path) -> String {
    server_output(
        &["keys", "create", "--principal", "admin", "--role", "admin"],
        &[("COUNTERSIGN_DATABASE_URL", url.to_owned())],
        cwd,
    )
}

/// A new log signing key written to `out` by `countersign-server log keygen --origin`; answers
/// the verifier key it prints.
pub fn log_keygen(origin: &str, out: &str, cwd: &Path) -> String {
    server_output(
        &["log", "keygen", "--origin", origin, "--out", out],
        &[],
        cwd,
    )
}

pub fn server_binary() -> &'static Path {
    binaries::server()
}

pub fn scheduler_binary() -> &'static Path {
    binaries::scheduler()
}

/// One HTTP/1.1 exchange (`Connection: close`): the status and the raw body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let body = body.map(Value::to_string);
    let reply = raw::exchange(port, method, path, key, body.as_deref());
    (reply.status, reply.body)
}

pub fn get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, None, None)
}

/// Poll `path` until it answers `status` (bounded by [`STARTUP`]; the process must stay up).
pub fn wait_for_status(proc: &mut Proc, port: u16, path: &str, status: u16) {
    proc.wait_for_status(port, path, status);
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
