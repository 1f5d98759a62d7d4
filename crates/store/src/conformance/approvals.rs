//! Approval requests and votes.

use std::time::Duration as StdDuration;

use countersign_domain::{ApprovalId, ApprovalState, JobId, JobStatus, VoteDecision};
use time::Duration;

use super::fixtures::*;
use super::walk_pages;
use crate::error::constraints;
use crate::ApprovalFilter;

/// Insert a pending approval (frozen rules included) and read it back with its votes in
/// voting order, each with its note and the roles held when voting.
pub async fn approvals_insert_get_with_votes(store: TestStore) {
    let w = world(&store).await;
    let (job, approval) = w.create_approval(&store).await;
    let a1 = create_principal_with(&store, &["approver"]).await;
    let a2 = create_principal_with(&store, &["approver", "admin"]).await;
    let a3 = create_principal(&store).await;

    let mut tx = begin(&store).await;
    let got = tx.get_approval(approval.id).await.unwrap().expect("stored");
    assert_eq!(got, approval);
    assert!(got.votes.is_empty());
    assert_eq!(tx.get_approval(ApprovalId::new()).await.unwrap(), None);

    // Votes sharing one timestamp still come back in the order they were cast.
    let mut votes = vec![
        vote(a2.id, VoteDecision::Approve, &["admin", "approver"]),
        vote(a1.id, VoteDecision::Approve, &["approver"]),
        vote(a3.id, VoteDecision::Reject, &[]),
    ];
    let same = votes[0].at;
    for v in &mut votes {
        v.at = same;
    }
    votes[2].note = None;
    for v in &votes {
        tx.insert_vote(approval.id, v).await.unwrap();
    }
    commit(tx).await;

    let mut tx = begin(&store).await;
    let got = tx.get_approval(approval.id).await.unwrap().unwrap();
    assert_eq!(got.votes, votes);
    let mut want = approval.clone();
    want.votes = votes.clone();
    assert_eq!(got, want);
    assert_eq!(got.job_id, job.id);
    assert_eq!(tx.lock_approval(approval.id).await.unwrap(), Some(want));
    assert_eq!(tx.lock_approval(ApprovalId::new()).await.unwrap(), None);
}

/// A second pending approval for one job is a conflict on `approvals_one_pending_per_job`;
/// once the first is decided, a new one may be requested.
pub async fn approvals_one_pending_per_job(store: TestStore) {
    let w = world(&store).await;
    let (job, first) = w.create_approval(&store).await;
    let mut tx = begin(&store).await;
    let second = w.approval(&job, now());
    assert_conflict(
        tx.insert_approval(&second).await,
        constraints::APPROVALS_ONE_PENDING_PER_JOB,
    );
    drop(tx);

    let mut tx = begin(&store).await;
    assert!(tx
        .decide_approval(first.id, ApprovalState::Expired, "system:reaper", now())
        .await
        .unwrap());
    let third = w.approval(&job, now() + Duration::seconds(1));
    tx.insert_approval(&third).await.unwrap();
    commit(tx).await;
}

/// A second vote by the same principal is a conflict on `votes_pkey`.
pub async fn approvals_duplicate_vote(store: TestStore) {
    let w = world(&store).await;
    let (_, approval) = w.create_approval(&store).await;
    let voter = create_principal_with(&store, &["approver"]).await;
    let mut tx = begin(&store).await;
    tx.insert_vote(
        approval.id,
        &vote(voter.id, VoteDecision::Approve, &["approver"]),
    )
    .await
    .unwrap();
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert_conflict(
        tx.insert_vote(
            approval.id,
            &vote(voter.id, VoteDecision::Reject, &["approver"]),
        )
        .await,
        constraints::VOTES_ONE_PER_PRINCIPAL,
    );
    drop(tx);
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_approval(approval.id)
            .await
            .unwrap()
            .unwrap()
            .votes
            .len(),
        1
    );
}

/// `decide_approval` is a compare-and-set on `pending`: the second decision (of any kind)
/// and a missing approval are `false`; the decision records who and when.
pub async fn approvals_decide_is_compare_and_set(store: TestStore) {
    let w = world(&store).await;
    let (_, approval) = w.create_approval(&store).await;
    let decider = create_principal_with(&store, &["approver"]).await;
    let when = now() + Duration::seconds(7);
    let mut tx = begin(&store).await;
    assert!(tx
        .decide_approval(
            approval.id,
            ApprovalState::Approved,
            &decider.id.to_string(),
            when
        )
        .await
        .unwrap());
    assert!(!tx
        .decide_approval(
            approval.id,
            ApprovalState::Approved,
            &decider.id.to_string(),
            when
        )
        .await
        .unwrap());
    assert!(!tx
        .decide_approval(approval.id, ApprovalState::Expired, "system:reaper", when)
        .await
        .unwrap());
    assert!(!tx
        .decide_approval(ApprovalId::new(), ApprovalState::Rejected, "x", when)
        .await
        .unwrap());
    commit(tx).await;

    let mut tx = begin(&store).await;
    let got = tx.get_approval(approval.id).await.unwrap().unwrap();
    assert_eq!(got.state, ApprovalState::Approved);
    assert_eq!(got.decided_at, Some(when));
    assert_eq!(got.decided_by, Some(decider.id.to_string()));
    assert_eq!(got.rules, approval.rules);
    drop(tx);
    // Two transactions racing to decide: exactly one wins. The second one begins in its own
    // task: on a single-writer backend (SQLite) `begin` itself waits for the first to end.
    let (_, raced) = w.create_approval(&store).await;
    let mut t1 = begin(&store).await;
    assert!(t1
        .decide_approval(raced.id, ApprovalState::Rejected, "prn_a", when)
        .await
        .unwrap());
    let loser = tokio::spawn({
        let store = store.clone();
        async move {
            let mut t2 = store.begin().await.expect("begin");
            t2.decide_approval(raced.id, ApprovalState::Approved, "prn_b", when)
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    t1.commit().await.unwrap();
    assert!(
        !loser.await.unwrap(),
        "the second decider waits, then finds it decided"
    );
}

/// `approval_for_job` is the job's newest approval.
pub async fn approvals_newest_for_job(store: TestStore) {
    let w = world(&store).await;
    let (job, first) = w
        .create_approval_at(&store, now() - Duration::minutes(5))
        .await;
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.approval_for_job(job.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(tx.approval_for_job(JobId::new()).await.unwrap(), None);
    tx.decide_approval(first.id, ApprovalState::Expired, "system:reaper", now())
        .await
        .unwrap();
    let second = w.approval(&job, now());
    tx.insert_approval(&second).await.unwrap();
    commit(tx).await;
    // Created before the transaction below opens (a single-writer backend cannot begin a
    // second read-write transaction while this task holds one).
    let plain = w.create_job(&store, JobStatus::Pending).await;
    let mut tx = begin(&store).await;
    assert_eq!(tx.approval_for_job(job.id).await.unwrap(), Some(second));
    assert_eq!(tx.approval_for_job(plain.id).await.unwrap(), None);
}

/// Approvals newest first (with votes), filtered by state, subject and requester, over every
/// page.
pub async fn approvals_filter_and_pagination(store: TestStore) {
    let w = world(&store).await;
    let other_requester = create_principal_with(&store, &["requester"]).await;
    let other_subject = create_subject(&store, w.policy.id).await;
    let voter = create_principal_with(&store, &["approver"]).await;
    let mut all = Vec::new();
    for i in 0..10 {
        let requester = if i % 3 == 0 {
            other_requester.id
        } else {
            w.requester.id
        };
        let subject = if i % 2 == 0 {
            other_subject.id
        } else {
            w.subject.id
        };
        let created = at(i / 3);
        let j = job(subject, requester, JobStatus::AwaitingApproval, created);
        let mut a = w.approval(&j, created);
        a.requested_by = requester;
        a.subject_id = subject;
        let mut tx = begin(&store).await;
        tx.insert_job(&j).await.unwrap();
        tx.insert_approval(&a).await.unwrap();
        if i % 4 == 1 {
            let v = vote(voter.id, VoteDecision::Approve, &["approver"]);
            tx.insert_vote(a.id, &v).await.unwrap();
            a.votes.push(v);
        }
        if i % 5 == 2 {
            tx.decide_approval(
                a.id,
                ApprovalState::Rejected,
                "prn_x",
                created + Duration::seconds(1),
            )
            .await
            .unwrap();
            a.state = ApprovalState::Rejected;
            a.decided_at = Some(created + Duration::seconds(1));
            a.decided_by = Some("prn_x".into());
        }
        commit(tx).await;
        all.push(a);
    }
    all.sort_by_key(|x| std::cmp::Reverse((x.created_at, x.id.to_string())));

    let filters = [
        ApprovalFilter::default(),
        ApprovalFilter {
            state: Some(ApprovalState::Pending),
            ..Default::default()
        },
        ApprovalFilter {
            subject_id: Some(other_subject.id),
            ..Default::default()
        },
        ApprovalFilter {
            requested_by: Some(w.requester.id),
            state: Some(ApprovalState::Pending),
            ..Default::default()
        },
        ApprovalFilter {
            state: Some(ApprovalState::Expired),
            ..Default::default()
        },
    ];
    for filter in filters {
        let want: Vec<_> = all
            .iter()
            .filter(|a| filter.state.is_none_or(|s| s == a.state))
            .filter(|a| filter.subject_id.is_none_or(|s| s == a.subject_id))
            .filter(|a| filter.requested_by.is_none_or(|r| r == a.requested_by))
            .cloned()
            .collect();
        for limit in [1, 3, 50] {
            let mut tx = begin(&store).await;
            let got = walk_pages!(limit, |page| tx.list_approvals(&filter, &page));
            assert_eq!(got, want, "{filter:?} limit {limit}");
        }
    }
}

/// `lock_due_approvals` locks pending approvals whose `expires_at <= now`, oldest first, up
/// to `limit`, and never hands one approval to two reapers at once: reapers running side by
/// side, each expiring what it locked, find every approval they got still pending and
/// together take each due approval exactly once. (PostgreSQL lets them run concurrently,
/// each skipping the rows another holds; a single-writer backend such as SQLite runs them one
/// after another, each seeing the previous one's commit. The promise is the same.)
pub async fn approvals_lock_due_skips_locked(store: TestStore) {
    let w = world(&store).await;
    let base = now();
    let mut due = Vec::new();
    for minutes in [30, 50, 40] {
        let created = base - Duration::minutes(120);
        let j = w.job(JobStatus::AwaitingApproval, created);
        let mut a = w.approval(&j, created);
        a.expires_at = base - Duration::minutes(minutes);
        let mut tx = begin(&store).await;
        tx.insert_job(&j).await.unwrap();
        tx.insert_approval(&a).await.unwrap();
        commit(tx).await;
        due.push(a);
    }
    // Not due yet, and due but decided.
    w.create_approval(&store).await;
    let (_, decided) = w
        .create_approval_at(&store, base - Duration::minutes(200))
        .await;
    let mut tx = begin(&store).await;
    tx.decide_approval(decided.id, ApprovalState::Approved, "prn_y", base)
        .await
        .unwrap();
    commit(tx).await;
    // Oldest expiry first: 50, 40, 30 minutes ago.
    let order = [due[1].id, due[2].id, due[0].id];

    let mut tx = begin(&store).await;
    let got: Vec<_> = tx
        .lock_due_approvals(base, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(got, order);
    let first = tx.lock_due_approvals(base, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0], due[1], "the oldest expiry, whole");
    let exact = tx.lock_due_approvals(due[0].expires_at, 10).await.unwrap();
    assert_eq!(exact.len(), 3, "expires_at <= now is due");
    assert!(tx
        .lock_due_approvals(base - Duration::minutes(60), 10)
        .await
        .unwrap()
        .is_empty());
    drop(tx);

    // Four reapers at once, one approval each at most, for three due approvals.
    let reapers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let got = tx.lock_due_approvals(base, 1).await.expect("lock due");
                for a in &got {
                    assert!(
                        tx.decide_approval(a.id, ApprovalState::Expired, "system:reaper", base)
                            .await
                            .unwrap(),
                        "a locked approval is still pending: no other reaper had it"
                    );
                }
                // Hold the rows a moment, so reapers overlap wherever the backend lets them.
                tokio::time::sleep(StdDuration::from_millis(20)).await;
                tx.commit().await.expect("commit");
                got.into_iter().map(|a| a.id).collect::<Vec<_>>()
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
    assert_eq!(taken, want, "every due approval taken, none twice");
    let mut tx = begin(&store).await;
    assert!(tx.lock_due_approvals(base, 10).await.unwrap().is_empty());
}

/// `lock_approval` serializes voters: a second locker waits until the first commits and then
/// sees its vote.
pub async fn approvals_lock_serializes_voters(store: TestStore) {
    let w = world(&store).await;
    let (_, approval) = w.create_approval(&store).await;
    let v1 = create_principal_with(&store, &["approver"]).await;
    let v2 = create_principal_with(&store, &["approver"]).await;

    let mut first = begin(&store).await;
    let seen = first.lock_approval(approval.id).await.unwrap().unwrap();
    assert!(seen.votes.is_empty());
    let second = tokio::spawn({
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let seen = tx.lock_approval(approval.id).await.unwrap().unwrap();
            let votes_seen = seen.votes.len();
            tx.insert_vote(
                approval.id,
                &vote(v2.id, VoteDecision::Approve, &["approver"]),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            votes_seen
        }
    });
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    first
        .insert_vote(
            approval.id,
            &vote(v1.id, VoteDecision::Approve, &["approver"]),
        )
        .await
        .unwrap();
    first.commit().await.unwrap();
    assert_eq!(
        second.await.unwrap(),
        1,
        "the second voter saw the first vote"
    );

    let mut tx = begin(&store).await;
    let got = tx.get_approval(approval.id).await.unwrap().unwrap();
    let voters: Vec<_> = got.votes.iter().map(|v| v.principal_id).collect();
    assert_eq!(voters, vec![v1.id, v2.id]);
}
