//! Jobs: insertion, idempotency, compare-and-set transitions, claims and lease reclaim.

use std::collections::HashSet;

use countersign_domain::{JobId, JobStatus, PrincipalId};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;
use crate::JobFilter;

use JobStatus::*;

/// Insert and read back jobs (payload, lease and holder included); `lock_job` reads the same.
pub async fn jobs_insert_get_and_lock(store: TestStore) {
    let w = world(&store).await;
    let worker = create_principal_with(&store, &["worker"]).await;
    let awaiting = w.job(AwaitingApproval, now());
    let mut running = w.job(Running, now());
    running.claimed_by = Some(worker.id);
    running.lease_expires_at = Some(now() + Duration::minutes(1));
    running.attempts = 2;
    running.result_message = Some("retrying".into());
    running.idempotency_key = Some("key-1".into());
    let mut tx = begin(&store).await;
    tx.insert_job(&awaiting).await.unwrap();
    tx.insert_job(&running).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_job(awaiting.id).await.unwrap(),
        Some(awaiting.clone())
    );
    assert_eq!(tx.get_job(running.id).await.unwrap(), Some(running.clone()));
    assert_eq!(
        tx.lock_job(running.id).await.unwrap(),
        Some(running.clone())
    );
    assert_eq!(tx.get_job(JobId::new()).await.unwrap(), None);
    assert_eq!(tx.lock_job(JobId::new()).await.unwrap(), None);

    // Several at once, unknown ids skipped.
    let mut got = tx
        .get_jobs(&[running.id, JobId::new(), awaiting.id])
        .await
        .unwrap();
    got.sort_by_key(|j| j.id);
    let mut want = vec![awaiting.clone(), running.clone()];
    want.sort_by_key(|j| j.id);
    assert_eq!(got, want);
    assert!(tx.get_jobs(&[]).await.unwrap().is_empty());
    assert!(tx.get_jobs(&[JobId::new()]).await.unwrap().is_empty());
}

/// A repeated `(requested_by, idempotency_key)` is a conflict on `jobs_idempotency_key`; the
/// same key from another requester is fine; the job is found by its key.
pub async fn jobs_idempotency_key(store: TestStore) {
    let w = world(&store).await;
    let other = create_principal(&store).await;
    let mut first = w.job(Pending, now());
    first.idempotency_key = Some("renew-2026-05".into());
    let mut theirs = job(w.subject.id, other.id, Pending, now());
    theirs.idempotency_key = first.idempotency_key.clone();
    let mut tx = begin(&store).await;
    tx.insert_job(&first).await.unwrap();
    tx.insert_job(&theirs).await.unwrap();
    // Jobs without a key never collide.
    tx.insert_job(&w.job(Pending, now())).await.unwrap();
    tx.insert_job(&w.job(Pending, now())).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    let found = tx
        .find_job_by_idempotency_key(w.requester.id, "renew-2026-05")
        .await
        .unwrap();
    assert_eq!(found, Some(first.clone()));
    let found = tx
        .find_job_by_idempotency_key(other.id, "renew-2026-05")
        .await
        .unwrap();
    assert_eq!(found, Some(theirs.clone()));
    assert_eq!(
        tx.find_job_by_idempotency_key(w.requester.id, "other")
            .await
            .unwrap(),
        None
    );
    let mut again = w.job(Pending, now());
    again.idempotency_key = first.idempotency_key.clone();
    assert_conflict(tx.insert_job(&again).await, constraints::JOBS_IDEMPOTENCY);
}

/// A job for a missing subject (or by a missing requester) is a foreign-key violation.
pub async fn jobs_missing_subject_is_foreign_key(store: TestStore) {
    let w = world(&store).await;
    let mut tx = begin(&store).await;
    let orphan = job(
        countersign_domain::SubjectId::new(),
        w.requester.id,
        Pending,
        now(),
    );
    assert_foreign_key(tx.insert_job(&orphan).await, None);
    drop(tx);
    let mut tx = begin(&store).await;
    let stranger = job(w.subject.id, PrincipalId::new(), Pending, now());
    assert_foreign_key(tx.insert_job(&stranger).await, None);
}

/// Jobs newest first, filtered by subject and/or status, over every page.
pub async fn jobs_filter_and_pagination(store: TestStore) {
    let w = world(&store).await;
    let other_subject = create_subject(&store, w.policy.id).await;
    let mut all = Vec::new();
    let mut tx = begin(&store).await;
    for i in 0..14 {
        let status = [AwaitingApproval, Pending, Cancelled][i % 3];
        let subject = if i % 2 == 0 {
            w.subject.id
        } else {
            other_subject.id
        };
        let j = job(subject, w.requester.id, status, at(i as i64 / 3));
        tx.insert_job(&j).await.unwrap();
        all.push(j);
    }
    commit(tx).await;
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));

    let filters = [
        JobFilter::default(),
        JobFilter {
            subject_id: Some(other_subject.id),
            status: None,
        },
        JobFilter {
            subject_id: None,
            status: Some(Pending),
        },
        JobFilter {
            subject_id: Some(w.subject.id),
            status: Some(Cancelled),
        },
        JobFilter {
            subject_id: None,
            status: Some(Running),
        },
    ];
    for filter in filters {
        let want: Vec<_> = all
            .iter()
            .filter(|j| filter.subject_id.is_none_or(|s| s == j.subject_id))
            .filter(|j| filter.status.is_none_or(|s| s == j.status))
            .cloned()
            .collect();
        for limit in [1, 2, 4, 50] {
            let mut tx = begin(&store).await;
            let got = walk_pages!(limit, |page| tx.list_jobs(&filter, &page));
            assert_eq!(got, want, "{filter:?} limit {limit}");
        }
    }
}

/// `transition_job` is a compare-and-set on status: a wrong `from` or a missing job is
/// `None`; leaving `running` clears the lease; entering `pending` clears the holder; a
/// message becomes `result_message`; a move outside the transition table never happens.
pub async fn jobs_transition_is_compare_and_set(store: TestStore) {
    let w = world(&store).await;
    let awaiting = w.create_job(&store, AwaitingApproval).await;
    let later = now() + Duration::seconds(10);

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.transition_job(awaiting.id, Pending, Cancelled, None, later)
            .await
            .unwrap(),
        None,
        "wrong from"
    );
    assert_eq!(
        tx.transition_job(JobId::new(), AwaitingApproval, Pending, None, later)
            .await
            .unwrap(),
        None,
        "missing job"
    );
    let pending = tx
        .transition_job(awaiting.id, AwaitingApproval, Pending, None, later)
        .await
        .unwrap()
        .expect("approved");
    assert_eq!(pending.status, Pending);
    assert_eq!(pending.updated_at, later);
    assert_eq!(pending.created_at, awaiting.created_at);
    assert_eq!(pending.payload, awaiting.payload);
    assert_eq!(pending.result_message, None);
    // The same move again finds the job no longer awaiting.
    assert_eq!(
        tx.transition_job(awaiting.id, AwaitingApproval, Pending, None, later)
            .await
            .unwrap(),
        None
    );
    commit(tx).await;

    // Rejection carries its message.
    let rejected = w.create_job(&store, AwaitingApproval).await;
    let mut tx = begin(&store).await;
    let cancelled = tx
        .transition_job(
            rejected.id,
            AwaitingApproval,
            Cancelled,
            Some("approval rejected"),
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(
        cancelled.result_message.as_deref(),
        Some("approval rejected")
    );
    commit(tx).await;

    // Lease expiry: running -> pending clears lease and holder, keeps attempts.
    let running = w.create_job(&store, Running).await;
    let mut tx = begin(&store).await;
    let back = tx
        .transition_job(running.id, Running, Pending, None, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.status, back.claimed_by, back.lease_expires_at),
        (Pending, None, None)
    );
    assert_eq!(back.attempts, running.attempts);
    commit(tx).await;

    // Cancelling a running job clears the lease but remembers who held it.
    let running = w.create_job(&store, Running).await;
    let mut tx = begin(&store).await;
    let stopped = tx
        .transition_job(
            running.id,
            Running,
            Cancelled,
            Some("cancelled by alice"),
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.status, Cancelled);
    assert_eq!(stopped.lease_expires_at, None);
    assert_eq!(stopped.claimed_by, running.claimed_by);
    assert_eq!(
        stopped.result_message.as_deref(),
        Some("cancelled by alice")
    );
    commit(tx).await;

    // Terminal jobs never move, even when asked with the right `from`.
    let mut tx = begin(&store).await;
    let r = tx
        .transition_job(stopped.id, Cancelled, Pending, None, later)
        .await;
    assert!(!matches!(r, Ok(Some(_))), "a terminal job moved: {r:?}");
    drop(tx);
    let mut tx = begin(&store).await;
    assert_eq!(tx.get_job(stopped.id).await.unwrap(), Some(stopped));
}

/// `claim_job` takes the oldest pending job (optionally among `actions`), making it
/// `running` with holder, lease, `attempts + 1` and `updated_at`; `None` when nothing fits.
pub async fn jobs_claim_oldest_and_by_action(store: TestStore) {
    let w = world(&store).await;
    let worker = create_principal_with(&store, &["worker"]).await;
    let mut tx = begin(&store).await;
    let mut jobs = Vec::new();
    for (i, action) in [
        "secret.rotate",
        "certificate.renew",
        "secret.rotate",
        "deploy.run",
    ]
    .into_iter()
    .enumerate()
    {
        let mut j = w.job(Pending, at(i as i64));
        j.action = action.into();
        tx.insert_job(&j).await.unwrap();
        jobs.push(j);
    }
    // Older, but not claimable.
    tx.insert_job(&w.job(AwaitingApproval, at(-10)))
        .await
        .unwrap();
    tx.insert_job(&w.job(Cancelled, at(-9))).await.unwrap();
    commit(tx).await;

    let lease = now() + Duration::minutes(2);
    let when = now();
    let mut tx = begin(&store).await;
    let only = ["certificate.renew".to_owned(), "deploy.run".to_owned()];
    let got = tx
        .claim_job(Some(&only), worker.id, lease, when)
        .await
        .unwrap()
        .expect("a certificate job");
    assert_eq!(got.id, jobs[1].id, "the oldest among the actions");
    assert_eq!(got.status, Running);
    assert_eq!(got.claimed_by, Some(worker.id));
    assert_eq!(got.lease_expires_at, Some(lease));
    assert_eq!(got.attempts, 1);
    assert_eq!(got.updated_at, when);
    assert_eq!(got.payload, jobs[1].payload);

    let got = tx
        .claim_job(None, worker.id, lease, when)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, jobs[0].id, "the oldest overall");
    let got = tx
        .claim_job(Some(&only), worker.id, lease, when)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, jobs[3].id);
    let none = ["nothing.here".to_owned()];
    assert_eq!(
        tx.claim_job(Some(&none), worker.id, lease, when)
            .await
            .unwrap(),
        None
    );
    let got = tx
        .claim_job(None, worker.id, lease, when)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, jobs[2].id);
    assert_eq!(
        tx.claim_job(None, worker.id, lease, when).await.unwrap(),
        None
    );
    commit(tx).await;
}

/// Ten claimers, each in its own transaction, race for five pending jobs: every job is
/// claimed exactly once and five claimers get nothing.
pub async fn jobs_claim_concurrently_exactly_once(store: TestStore) {
    let w = world(&store).await;
    let worker = create_principal_with(&store, &["worker"]).await;
    let mut pending = HashSet::new();
    for _ in 0..5 {
        pending.insert(w.create_job(&store, Pending).await.id);
    }
    w.create_job(&store, AwaitingApproval).await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let lease = now() + Duration::minutes(1);
                let got = tx
                    .claim_job(None, worker.id, lease, now())
                    .await
                    .expect("claim");
                tx.commit().await.expect("commit");
                got
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in futures::future::join_all(tasks).await {
        if let Some(j) = t.expect("task") {
            assert_eq!(j.status, Running);
            assert_eq!(j.attempts, 1);
            claimed.push(j.id);
        }
    }
    assert_eq!(
        claimed.len(),
        5,
        "every pending job claimed, none twice: {claimed:?}"
    );
    assert_eq!(claimed.iter().copied().collect::<HashSet<_>>(), pending);

    let mut tx = begin(&store).await;
    let filter = JobFilter {
        subject_id: None,
        status: Some(Pending),
    };
    assert!(tx
        .list_jobs(&filter, &crate::PageRequest::first(50))
        .await
        .unwrap()
        .items
        .is_empty());
}

/// `complete_job` only by the lease holder of a running job; a second completion, another
/// principal, or a job not running is `None`.
pub async fn jobs_complete_only_by_holder(store: TestStore) {
    let w = world(&store).await;
    let holder = create_principal_with(&store, &["worker"]).await;
    let intruder = create_principal_with(&store, &["worker"]).await;
    let mut j = w.job(Running, now());
    j.claimed_by = Some(holder.id);
    j.lease_expires_at = Some(now() + Duration::minutes(1));
    j.attempts = 1;
    let failing = {
        let mut f = j.clone();
        f.id = JobId::new();
        f
    };
    let pending = w.create_job(&store, Pending).await;
    let mut tx = begin(&store).await;
    tx.insert_job(&j).await.unwrap();
    tx.insert_job(&failing).await.unwrap();
    commit(tx).await;

    let when = now() + Duration::seconds(3);
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.complete_job(j.id, intruder.id, Succeeded, Some("done"), when)
            .await
            .unwrap(),
        None,
        "not the holder"
    );
    assert_eq!(
        tx.complete_job(pending.id, holder.id, Succeeded, None, when)
            .await
            .unwrap(),
        None,
        "not running"
    );
    assert_eq!(
        tx.complete_job(JobId::new(), holder.id, Succeeded, None, when)
            .await
            .unwrap(),
        None,
        "missing"
    );
    let done = tx
        .complete_job(j.id, holder.id, Succeeded, Some("renewed"), when)
        .await
        .unwrap()
        .expect("completed");
    assert_eq!(done.status, Succeeded);
    assert_eq!(done.result_message.as_deref(), Some("renewed"));
    assert_eq!(done.lease_expires_at, None);
    assert_eq!(done.claimed_by, Some(holder.id));
    assert_eq!(done.updated_at, when);
    assert_eq!(
        tx.complete_job(j.id, holder.id, Failed, None, when)
            .await
            .unwrap(),
        None,
        "already complete"
    );
    let failed = tx
        .complete_job(failing.id, holder.id, Failed, Some("boom"), when)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, Failed);
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.get_job(j.id).await.unwrap(), Some(done));
}

/// `lock_expired_leases` locks running jobs whose lease ended, oldest lease first, up to
/// `limit`, and never hands one job to two reapers at once, so replicas split the work:
/// reapers running side by side, each putting back what it locked, find every job they got
/// still running and together take each expired lease exactly once. (PostgreSQL lets them run
/// concurrently, each skipping the rows another holds; a single-writer backend such as SQLite
/// runs them one after another, each seeing the previous one's commit.)
pub async fn jobs_lock_expired_leases_skips_locked(store: TestStore) {
    let w = world(&store).await;
    let worker = create_principal_with(&store, &["worker"]).await;
    let base = now();
    let mut expired = Vec::new();
    let mut tx = begin(&store).await;
    for minutes in [3, 1, 2] {
        let mut j = w.job(Running, base - Duration::minutes(10));
        j.claimed_by = Some(worker.id);
        j.lease_expires_at = Some(base - Duration::minutes(minutes));
        j.attempts = 1;
        tx.insert_job(&j).await.unwrap();
        expired.push(j);
    }
    let mut live = w.job(Running, base - Duration::minutes(10));
    live.claimed_by = Some(worker.id);
    live.lease_expires_at = Some(base + Duration::minutes(5));
    tx.insert_job(&live).await.unwrap();
    tx.insert_job(&w.job(Pending, base - Duration::minutes(10)))
        .await
        .unwrap();
    commit(tx).await;
    // Oldest lease first: 3, 2, 1 minutes ago.
    let order = [expired[0].id, expired[2].id, expired[1].id];

    let mut all = begin(&store).await;
    let got: Vec<_> = all
        .lock_expired_leases(base, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(got, order);
    let got = all.lock_expired_leases(base, 1).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0], expired[0]);
    assert!(all
        .lock_expired_leases(base - Duration::minutes(4), 10)
        .await
        .unwrap()
        .is_empty());
    drop(all);

    // Four reapers at once, one job each at most, for three expired leases.
    let reapers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let got = tx.lock_expired_leases(base, 1).await.expect("lock leases");
                for j in &got {
                    let back = tx
                        .transition_job(j.id, Running, Pending, Some("lease expired"), base)
                        .await
                        .unwrap();
                    assert!(
                        back.is_some(),
                        "a locked job is still running: no other reaper had it"
                    );
                }
                // Hold the rows a moment, so reapers overlap wherever the backend lets them.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tx.commit().await.expect("commit");
                got.into_iter().map(|j| j.id).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut taken = Vec::new();
    for r in futures::future::join_all(reapers).await {
        let got = r.expect("reaper");
        assert!(got.len() <= 1, "limit 1: {got:?}");
        taken.extend(got);
    }
    taken.sort_by_key(|id| id.to_string());
    let mut want = order.to_vec();
    want.sort_by_key(|id| id.to_string());
    assert_eq!(taken, want, "every expired lease taken, none twice");
    let mut tx = begin(&store).await;
    assert!(tx.lock_expired_leases(base, 10).await.unwrap().is_empty());
    assert_eq!(
        tx.get_job(live.id).await.unwrap().map(|j| j.status),
        Some(Running),
        "a live lease is left alone"
    );
}
