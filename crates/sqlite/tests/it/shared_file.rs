//! Several writers on one database file: what a server and a scheduler process sharing a
//! SQLite file do. Every claim is a `BEGIN IMMEDIATE` write transaction; writers wait for the
//! write lock (the busy timeout) instead of failing with "database is locked", and no job is
//! ever claimed twice.
//!
//! - `two_pools_on_one_file_claim_concurrently`: two independent `SqliteStore`s (two pools,
//!   as two processes would have) in one process.
//! - `two_processes_share_one_file`: a real second process — this test binary re-run with
//!   only `child_claimer` — claiming alongside this one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use crate::support::TempDb;
use countersign_domain::{Category, JobId, JobStatus, PrincipalId};
use countersign_sqlite::SqliteStore;
use countersign_store::conformance::fixtures::{self, TestStore};
use countersign_store::Store;
use time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Environment of the child process: the database URL and the worker's id.
const CHILD_DB: &str = "COUNTERSIGN_SQLITE_CHILD_DB";
const CHILD_WORKER: &str = "COUNTERSIGN_SQLITE_CHILD_WORKER";
/// What the child prints before its news (libtest may put other text before it on a line).
const CHILD_SAYS: &str = "countersign-child: ";

/// A pause between claims, outside any transaction (a worker doing the job's work).
const WORK: StdDuration = StdDuration::from_millis(10);

/// Claim and complete jobs until none is left, answering the ids claimed. Every store call
/// must succeed: a "database is locked" error fails the test.
async fn claim_until_empty(store: &dyn Store, worker: PrincipalId) -> Vec<JobId> {
    let mut claimed = Vec::new();
    loop {
        let mut tx = store.begin().await.expect("begin a claim");
        let lease = fixtures::now() + Duration::minutes(1);
        let job = tx
            .claim_job(None, worker, lease, fixtures::now())
            .await
            .expect("claim");
        tx.commit().await.expect("commit a claim");
        let Some(job) = job else { break };
        claimed.push(job.id);
        tokio::time::sleep(WORK).await;
        let mut tx = store.begin().await.expect("begin a completion");
        let done = tx
            .complete_job(job.id, worker, JobStatus::Succeeded, None, fixtures::now())
            .await
            .expect("complete");
        assert!(done.is_some(), "the holder completes its own job");
        tx.append_audit(&[fixtures::event(
            Category::Lifecycle,
            "job.completed",
            fixtures::now(),
        )])
        .await
        .expect("append");
        tx.commit().await.expect("commit a completion");
    }
    claimed
}

/// A migrated file with `n` pending jobs, a worker, and the jobs' ids.
async fn setup(n: usize) -> (TempDb, TestStore, PrincipalId, HashSet<JobId>) {
    let db = TempDb::new();
    let store: TestStore = Arc::new(db.store().await);
    let w = fixtures::world(&store).await;
    let worker = fixtures::create_principal_with(&store, &["worker"]).await;
    let mut jobs = HashSet::new();
    let mut tx = store.begin().await.unwrap();
    for _ in 0..n {
        let j = w.job(JobStatus::Pending, fixtures::now());
        tx.insert_job(&j).await.unwrap();
        jobs.insert(j.id);
    }
    tx.commit().await.unwrap();
    (db, store, worker.id, jobs)
}

fn assert_exactly_once(all: &HashSet<JobId>, sides: &[&[JobId]]) {
    let mut seen = HashSet::new();
    for side in sides {
        for id in side.iter() {
            assert!(seen.insert(*id), "{id} claimed twice");
        }
    }
    assert_eq!(&seen, all, "every job claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_file_claim_concurrently() {
    let (db, first, worker, jobs) = setup(40).await;
    let second: TestStore = Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    let tasks: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .flat_map(|store| std::iter::repeat_n(store, 3))
        .map(|store| tokio::spawn(async move { claim_until_empty(store.as_ref(), worker).await }))
        .collect();
    let mut per_task = Vec::new();
    for t in tasks {
        per_task.push(t.await.expect("claimer task"));
    }
    let (a, b) = per_task.split_at(3);
    let a: Vec<JobId> = a.concat();
    let b: Vec<JobId> = b.concat();
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both pools claimed: {} and {}",
        a.len(),
        b.len()
    );
    assert_exactly_once(&jobs, &[&a, &b]);

    // Both pools see every completion and every audit event.
    for store in [&first, &second] {
        let mut tx = store.begin().await.unwrap();
        let filter = countersign_store::JobFilter {
            subject_id: None,
            status: Some(JobStatus::Succeeded),
        };
        let done = tx
            .list_jobs(&filter, &countersign_store::PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!(done.items.len(), 40);
        let events = tx
            .list_audit_events(
                &countersign_store::AuditFilter::default(),
                &countersign_store::PageRequest::first(100),
            )
            .await
            .unwrap();
        assert_eq!(events.items.len(), 40);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_file() {
    let (db, store, worker, jobs) = setup(30).await;
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "shared_file::child_claimer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db.url())
        .env(CHILD_WORKER, worker.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the child process");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Start claiming once the child has its store open.
    loop {
        let line = tokio::time::timeout(StdDuration::from_secs(30), lines.next_line())
            .await
            .expect("the child starts in time")
            .expect("read the child")
            .expect("the child says it is ready");
        if line.split_once(CHILD_SAYS).map(|(_, news)| news) == Some("ready") {
            break;
        }
    }
    let here = claim_until_empty(store.as_ref(), worker).await;
    let mut there = Vec::new();
    while let Some(line) = tokio::time::timeout(StdDuration::from_secs(30), lines.next_line())
        .await
        .expect("the child finishes in time")
        .expect("read the child")
    {
        let news = line.split_once(CHILD_SAYS).map(|(_, news)| news);
        if let Some(id) = news.and_then(|n| n.strip_prefix("claimed ")) {
            there.push(id.parse::<JobId>().expect("a job id"));
        }
    }
    let status = child.wait().await.expect("the child exits");
    assert!(status.success(), "the child claimer failed: {status}");
    assert!(
        !here.is_empty() && !there.is_empty(),
        "both processes claimed: {} and {}",
        here.len(),
        there.len()
    );
    assert_exactly_once(&jobs, &[&here, &there]);
}

/// The second process of `two_processes_share_one_file` (which runs it with `--ignored` and
/// the database in the environment); on its own it has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by two_processes_share_one_file in a child process"]
async fn child_claimer() {
    let (Ok(url), Ok(worker)) = (std::env::var(CHILD_DB), std::env::var(CHILD_WORKER)) else {
        eprintln!("child_claimer only runs inside two_processes_share_one_file");
        return;
    };
    let worker: PrincipalId = worker.parse().expect("a principal id");
    let store = SqliteStore::connect(&url)
        .await
        .expect("open the shared file");
    println!("{CHILD_SAYS}ready");
    for id in claim_until_empty(&store, worker).await {
        println!("{CHILD_SAYS}claimed {id}");
    }
}
