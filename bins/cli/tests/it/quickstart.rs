//! The README's quick start on a fresh machine: `cargo run -p countersign-server` with nothing
//! configured serves on a SQLite file in the working directory and prints a one-time admin
//! key, and the `countersign` binary walks the two-person flow against it.
//!
//! The server is started exactly as a new user's shell would start it: no
//! `COUNTERSIGN_DATABASE_URL`, no `DATABASE_URL`, none of cargo's test variables, a fresh
//! empty working directory — only `COUNTERSIGN_LISTEN` is set, to a free port instead of
//! 8080. Everything after that goes through `countersign` (`api` for the set-up). A restart
//! on the same directory finds the admin and prints no new key.

use crate::support::{cs, two_person_walk, Server, TempDir};

#[test]
fn the_readme_run_command_serves_sqlite_and_the_cli_walks_two_person_approval() {
    // Logs and the CLI's config home live apart from the server's working directory, which
    // holds only what the server makes.
    let scratch = TempDir::new("quickstart");
    let home = scratch.path().join("config");
    std::fs::create_dir_all(&home).unwrap();
    let workdir = TempDir::new("quickstart-workdir");
    let db_file = workdir.path().join("countersign.db");

    let mut server = Server::start_unconfigured(workdir.path(), scratch.path());
    let admin = server.announced_admin_key();
    let announcement = server.stdout_text();
    assert!(
        announcement.contains("No admin existed, so `admin` was created"),
        "{announcement}"
    );
    assert!(
        db_file.is_file(),
        "no countersign.db in the working directory: {:?}",
        std::fs::read_dir(workdir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );

    let walk = two_person_walk(&server.url, &admin, &home);

    // Ctrl-C, then the same command again in the same directory: the admin exists, so no new
    // key is printed, and everything is still there.
    let status = server.interrupt();
    assert!(status.success(), "the server exited with {status}");
    drop(server);
    let restarted = Server::start_unconfigured(workdir.path(), scratch.path());
    // `serve` announces a new admin before it listens: ready and silent means none was made.
    let said = restarted.stdout_text();
    assert!(!said.contains("cs_key_"), "a second admin key: {said}");
    assert_eq!(said, "", "serve printed on stdout");
    let url = restarted.url.as_str();
    let me = cs(url, &admin, &home, &["--json", "whoami"]).json();
    assert_eq!(me["principal"]["name"], "admin");
    let job = cs(
        url,
        &walk.bob,
        &home,
        &["--json", "jobs", "show", &walk.job],
    )
    .json();
    assert_eq!(job["status"], "succeeded");
    let apr = cs(
        url,
        &walk.carol,
        &home,
        &["--json", "approvals", "show", &walk.apr],
    )
    .json();
    assert_eq!(apr["state"], "approved");
    assert_eq!(apr["decided_by"], walk.carol_id.as_str());
}
