//! Two database roles with the real binaries on PostgreSQL: the owner migrates
//! (`countersign-server migrate`, and `serve`'s auto-migrate through
//! `COUNTERSIGN_MIGRATE_DATABASE_URL`), `db grant-runtime` makes the runtime role, and the
//! service runs as that role through the whole workflow: request, vote, claim, complete,
//! export. Run as the owner instead, `serve` warns loudly, `/readyz` says the role is unsafe
//! and `countersign_database_role_unsafe` is 1.

use crate::support::*;
use serde_json::Value;

/// Roles are cluster-wide; this one belongs to this test (grants are per database).
const RUNTIME_ROLE: &str = "countersign_ops_runtime";

fn readyz_database(port: u16) -> Value {
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["database"].clone()
}

fn metric_line(port: u16, name: &str) -> String {
    let text = get(port, "/metrics").1;
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no `{name}` in:\n{text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_runs_as_a_runtime_role_that_owns_nothing() {
    let scratch = TempDir::new("ops-roles");
    let db = PgDatabase::create().await;
    let owner = db.url.clone();
    let server = server_binary();

    // The owner migrates; `db grant-runtime` prints, then applies, the grants (twice: it is
    // idempotent).
    let out = run(
        server,
        &["migrate"],
        &[("COUNTERSIGN_DATABASE_URL", owner.clone())],
        scratch.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let out = run(
        server,
        &["db", "grant-runtime", "--role", RUNTIME_ROLE, "--print"],
        &[("COUNTERSIGN_DATABASE_URL", owner.clone())],
        scratch.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let sql = String::from_utf8_lossy(&out.stdout);
    assert!(
        sql.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES"),
        "{sql}"
    );
    assert!(
        sql.contains("REVOKE UPDATE, DELETE ON \"public\".audit_events"),
        "{sql}"
    );
    for _ in 0..2 {
        let out = run(
            server,
            &["db", "grant-runtime", "--role", RUNTIME_ROLE],
            &[
                ("COUNTERSIGN_MIGRATE_DATABASE_URL", owner.clone()),
                ("COUNTERSIGN_DATABASE_URL", with_user(&owner, RUNTIME_ROLE)),
            ],
            scratch.path(),
        );
        assert!(out.status.success(), "{out:?}");
    }

    // As the owner (a superuser here): a loud warning, the metric, the readiness detail.
    let port = free_port();
    let mut unsafe_server = spawn(
        "server-as-owner",
        server,
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", owner.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    wait_for_status(&mut unsafe_server, port, "/readyz", 200);
    let admin = unsafe_server.announced("cs_key_");
    let detail = readyz_database(port);
    assert_eq!(detail["role_unsafe"], true, "{detail}");
    assert_eq!(detail["owns_audit_table"], true, "{detail}");
    assert_eq!(
        metric_line(port, "countersign_database_role_unsafe"),
        "countersign_database_role_unsafe 1"
    );
    let log = unsafe_server.log();
    assert!(log.contains("UNSAFE DATABASE ROLE"), "{log}");
    drop(unsafe_server);

    // As the runtime role, auto-migrating through the owner's URL: safe, and it works.
    let port = free_port();
    let mut app = spawn(
        "server-as-runtime",
        server,
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", with_user(&owner, RUNTIME_ROLE)),
            ("COUNTERSIGN_MIGRATE_DATABASE_URL", owner.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    wait_for_status(&mut app, port, "/readyz", 200);
    let detail = readyz_database(port);
    assert_eq!(detail["role"], RUNTIME_ROLE, "{detail}");
    assert_eq!(detail["role_unsafe"], false, "{detail}");
    assert_eq!(
        metric_line(port, "countersign_database_role_unsafe"),
        "countersign_database_role_unsafe 0"
    );
    assert!(!app.log().contains("UNSAFE DATABASE ROLE"), "{}", app.log());

    let mut flow = Workflow::new(port, &admin);
    let (_, approval) = flow.request_needing_approval();
    flow.approve(&approval);
    flow.claim_and_complete();
    let trail = flow.export();
    for action in [
        "job.requested",
        "approval.voted",
        "approval.approved",
        "job.claimed",
        "job.completed",
    ] {
        assert!(
            trail.contains(&format!("\"{action}\"")),
            "no {action} in the export:\n{trail}"
        );
    }

    // The scheduler runs as the runtime role too.
    let out = run(
        scheduler_binary(),
        &["--once"],
        &[
            ("COUNTERSIGN_DATABASE_URL", with_user(&owner, RUNTIME_ROLE)),
            ("COUNTERSIGN_MIGRATE_DATABASE_URL", owner.clone()),
        ],
        scratch.path(),
    );
    assert!(out.status.success(), "{out:?}");
}
