//! The transparency log's key, across the binaries: `countersign-server log keygen` writes a
//! private key file and prints the verifier key; a scheduler given the file sequences the log
//! and signs checkpoints; a server given only the verifier key serves both, and what it serves
//! verifies with that key. Real processes on PostgreSQL.

use std::time::{Duration, Instant};

use countersign_service::tlog::LogVerifier;

use crate::support::{
    admin_key, free_port, http, log_keygen, run, scheduler_binary, server_binary, spawn,
    PgDatabase, TempDir,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_signs_in_the_scheduler_and_verifies_at_the_server() {
    let db = PgDatabase::create().await;
    let scratch = TempDir::new("log-keys");
    let key_file = scratch.path().join("log.key");
    let key_arg = key_file.display().to_string();
    let verifier_key = log_keygen("countersign.test/log", &key_arg, scratch.path());
    let verifier = LogVerifier::new(&verifier_key).expect("a verifier key on stdout");
    assert_eq!(verifier.name(), "countersign.test/log");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    let secret = std::fs::read_to_string(&key_file).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+countersign.test/log+"));
    // Never overwritten.
    let again = run(
        server_binary(),
        &[
            "log",
            "keygen",
            "--origin",
            "countersign.test/log",
            "--out",
            &key_arg,
        ],
        &[],
        scratch.path(),
    );
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), secret);

    let admin = admin_key(&db.url, scratch.path());

    let port = free_port();
    let mut server = spawn(
        "countersign-server",
        server_binary(),
        &["serve"],
        &[
            ("COUNTERSIGN_DATABASE_URL", db.url.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
            ("COUNTERSIGN_LOG_VERIFIER_KEY", verifier_key.clone()),
        ],
        scratch.path(),
    );
    server.wait_for_status(port, "/readyz", 200);
    let (status, key) = http(port, "GET", "/api/v1/log/key", Some(&admin), None);
    assert_eq!(status, 200);
    assert_eq!(key.trim(), verifier_key);
    let (status, _) = http(port, "GET", "/api/v1/log/checkpoint", Some(&admin), None);
    assert_eq!(status, 404, "nothing sequenced without a scheduler");

    let sched_port = free_port();
    let mut scheduler = spawn(
        "countersign-scheduler",
        scheduler_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", db.url.clone()),
            (
                "COUNTERSIGN_SCHEDULER_LISTEN",
                format!("127.0.0.1:{sched_port}"),
            ),
            ("COUNTERSIGN_SCHEDULER_TICK", "200ms".to_owned()),
            ("COUNTERSIGN_LOG_SIGNING_KEY_FILE", key_arg.clone()),
        ],
        scratch.path(),
    );
    scheduler.wait_for_status(sched_port, "/healthz", 200);

    // The bootstrap's events are sequenced and checkpointed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let checkpoint = loop {
        let (status, note) = http(port, "GET", "/api/v1/log/checkpoint", Some(&admin), None);
        if status == 200 {
            let checkpoint = verifier.open_checkpoint(note.as_bytes()).expect("verifies");
            if checkpoint.size > 0 {
                break checkpoint;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint: {}",
            scheduler.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(checkpoint.origin, "countersign.test/log");
    assert!(scheduler.terminate().success());
    assert!(server.terminate().success());
}
