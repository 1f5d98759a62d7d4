//! Operating the real binaries: what a process does at start, with its database down or
//! missing, what it logs, and what `/metrics` and `/readyz` say.
//!
//! Each test runs `countersign-server` (and, where it matters, `countersign-scheduler`) as a
//! real process on a free loopback port, with stdout and stderr in files, against a fresh
//! SQLite file in a temporary directory or a fresh PostgreSQL database on `DATABASE_URL`.
//! The runtime-role workflow is in `runtime_role.rs`.

use std::time::Duration;

use crate::support::*;

/// Item: a server started while PostgreSQL is down keeps running and retrying: `/healthz`
/// answers 200 and `/readyz` 503, and it is still alive seconds later (it used to exit after
/// the 5 s connect timeout). The scheduler likewise.
#[test]
fn processes_started_while_postgres_is_down_wait_for_it() {
    let scratch = TempDir::new("ops-down");
    // Nothing listens on this port.
    let url = format!("postgres://postgres@127.0.0.1:{}/countersign", free_port());
    let port = free_port();
    let mut server = spawn(
        "server",
        server_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    let sched_port = free_port();
    let mut scheduler = spawn(
        "scheduler",
        scheduler_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url),
            (
                "COUNTERSIGN_SCHEDULER_LISTEN",
                format!("127.0.0.1:{sched_port}"),
            ),
            ("COUNTERSIGN_SCHEDULER_TICK", "1s".into()),
        ],
        scratch.path(),
    );
    wait_for_status(&mut server, port, "/healthz", 200);
    wait_for_status(&mut scheduler, sched_port, "/healthz", 200);
    // Past the pool's 5 s acquire timeout and several backoff rounds.
    std::thread::sleep(Duration::from_secs(8));
    server.assert_running();
    scheduler.assert_running();
    for (p, name) in [(port, "server"), (sched_port, "scheduler")] {
        assert_eq!(get(p, "/healthz").0, 200, "{name} /healthz");
        let (status, body) = get(p, "/readyz");
        assert_eq!(status, 503, "{name} /readyz: {body}");
        // Metrics are still served (the gauges keep their last values).
        assert_eq!(get(p, "/metrics").0, 200, "{name} /metrics");
    }
    assert!(
        server.log().contains("retrying"),
        "no retry logged:\n{}",
        server.log()
    );
}

/// `countersign-scheduler --once` (a cron job) does not wait: an unreachable database is an
/// error exit naming it.
#[test]
fn scheduler_once_fails_on_an_unreachable_database() {
    let scratch = TempDir::new("ops-once");
    let url = format!("postgres://postgres@127.0.0.1:{}/countersign", free_port());
    let out = run(
        scheduler_binary(),
        &["--once"],
        &[("COUNTERSIGN_DATABASE_URL", url)],
        scratch.path(),
    );
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unavailable"), "{stderr}");
}

/// Bonus of the item above: once the database answers, the server comes ready by itself.
/// The database "appears" when the test starts forwarding a port, which refused connections
/// until then, to the real PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_comes_ready_when_its_database_appears() {
    let scratch = TempDir::new("ops-appears");
    let db = PgDatabase::create().await;
    let real = db
        .url
        .split_once('@')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let late_port = free_port();
    let url = db.url.replacen(&real, &format!("127.0.0.1:{late_port}"), 1);
    let port = free_port();
    let mut server = spawn(
        "server",
        server_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    tokio::task::block_in_place(|| wait_for_status(&mut server, port, "/healthz", 200));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(port, "/readyz").0, 503);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", late_port))
        .await
        .unwrap();
    let forward = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let real = real.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(real).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    tokio::task::block_in_place(|| wait_for_status(&mut server, port, "/readyz", 200));
    drop(server);
    forward.abort();
}

/// Item: the scheduler never creates a database. On a missing SQLite file it exits non-zero
/// naming the absolute path and how to point it at the server's database, and creates
/// nothing. The server prints the absolute path of the file it uses.
#[test]
fn the_scheduler_never_creates_a_database_and_the_server_names_its_file() {
    let scratch = TempDir::new("ops-missing");
    let file = scratch.path().join("countersign.db");
    let out = run(
        scheduler_binary(),
        &["--once"],
        &[(
            "COUNTERSIGN_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", file.display()),
        )],
        scratch.path(),
    );
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("COUNTERSIGN_DATABASE_URL"), "{stderr}");
    assert!(!file.exists(), "the scheduler created {}", file.display());

    // The default, relative URL: the server names the absolute path it resolved.
    let port = free_port();
    let mut server = spawn_in(
        "server",
        server_binary(),
        &[],
        &[("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}"))],
        scratch.path(),
        scratch.path(),
    );
    wait_for_status(&mut server, port, "/readyz", 200);
    assert!(file.exists());
    let log = server.log();
    assert!(
        log.contains(&format!("database.path={}", file.display())),
        "{log}"
    );
    // Now that the file exists, the scheduler runs on it.
    let out = run(
        scheduler_binary(),
        &["--once"],
        &[(
            "COUNTERSIGN_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", file.display()),
        )],
        scratch.path(),
    );
    assert!(out.status.success(), "{out:?}");
}

/// Item: `keys create --expires-at <past>` says what is wrong instead of "internal error",
/// and creates nothing.
#[test]
fn keys_create_with_a_past_expiry_is_a_clear_error() {
    let scratch = TempDir::new("ops-keys");
    let url = scratch.sqlite_url();
    let out = run(
        server_binary(),
        &[
            "keys",
            "create",
            "--principal",
            "ci",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
        &[("COUNTERSIGN_DATABASE_URL", url.clone())],
        scratch.path(),
    );
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expires_at: must be in the future"),
        "{stderr}"
    );
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(out.stdout.is_empty(), "{out:?}");
    // Nothing was created: the principal is unknown.
    let out = run(
        server_binary(),
        &["keys", "list", "--principal", "ci"],
        &[("COUNTERSIGN_DATABASE_URL", url)],
        scratch.path(),
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(!listed.contains("ci "), "{listed}");
}

/// Items: text logs carry no ANSI escapes when stderr is not a terminal; boolean flags take
/// `=false` (`--bootstrap-admin=false` starts without minting an admin).
#[test]
fn logs_are_plain_text_off_a_terminal_and_boolean_flags_take_values() {
    let scratch = TempDir::new("ops-logs");
    let port = free_port();
    let mut server = spawn(
        "server",
        server_binary(),
        &["--bootstrap-admin=false", "--auto-migrate=true"],
        &[
            ("COUNTERSIGN_DATABASE_URL", scratch.sqlite_url()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    wait_for_status(&mut server, port, "/readyz", 200);
    let log = server.log();
    assert!(log.contains("INFO"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log:?}"
    );
    assert!(
        !server.stdout().contains("No admin existed"),
        "--bootstrap-admin=false still minted an admin"
    );
}

/// Item: `/metrics` passes `promtool check metrics` (when promtool is installed), every
/// series has HELP text, the decision counters exist at 0 for every outcome from start, and
/// `countersign_approvals_pending{policy}` follows the pending approvals.
#[test]
fn metrics_are_lint_clean_complete_from_start_and_count_pending_approvals() {
    let scratch = TempDir::new("ops-metrics");
    let port = free_port();
    let mut server = spawn(
        "server",
        server_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", scratch.sqlite_url()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    wait_for_status(&mut server, port, "/readyz", 200);
    let admin = server.announced("cs_key_");

    let text = get(port, "/metrics").1;
    for outcome in ["approved", "rejected", "expired", "bypassed", "cancelled"] {
        let series = format!("countersign_approval_decisions_total{{outcome=\"{outcome}\"}} 0");
        assert!(text.contains(&series), "no `{series}` in:\n{text}");
    }

    // One pending approval under a policy: the gauge says 1; once decided, 0.
    let mut flow = Workflow::new(port, &admin);
    let (policy, approval) = flow.request_needing_approval();
    let text = get(port, "/metrics").1;
    let series = format!("countersign_approvals_pending{{policy=\"{policy}\"}} 1");
    assert!(text.contains(&series), "no `{series}` in:\n{text}");
    flow.approve(&approval);
    let text = get(port, "/metrics").1;
    let series = format!("countersign_approvals_pending{{policy=\"{policy}\"}} 0");
    assert!(text.contains(&series), "no `{series}` in:\n{text}");

    assert_every_family_has_help(&text);
    promtool_check(&text);
}
