//! PostgreSQL-only: scheduler replicas work side by side. A row one transaction holds is
//! skipped by the others (`FOR UPDATE SKIP LOCKED`) instead of making them wait — the
//! conformance suite only promises "never handed out twice", which a single-writer backend
//! meets by taking turns.

use std::sync::Arc;

use countersign_domain::{DeliveryId, JobStatus, MessageId, Webhook, WebhookFormat, WebhookId};
use countersign_postgres::PgStore;
use countersign_store::conformance::fixtures::{begin, commit, now, world};
use countersign_store::{ClaimedDelivery, NewMessage, Store};
use sqlx::PgPool;
use time::Duration;

fn store(pool: PgPool) -> Arc<dyn Store> {
    Arc::new(PgStore::from_pool(pool))
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn due_approvals_held_by_others_are_skipped(pool: PgPool) {
    let store = store(pool);
    let w = world(&store).await;
    let base = now();
    let mut due = Vec::new();
    for minutes in [50, 40, 30] {
        let created = base - Duration::minutes(120);
        let j = w.job(JobStatus::AwaitingApproval, created);
        let mut a = w.approval(&j, created);
        a.expires_at = base - Duration::minutes(minutes);
        let mut tx = begin(&store).await;
        tx.insert_job(&j).await.unwrap();
        tx.insert_approval(&a).await.unwrap();
        commit(tx).await;
        due.push(a.id);
    }

    // A voter holds the oldest; a first reaper takes the next one; a second reaper, while
    // both are still open, gets only the third — at once, without waiting.
    let mut voter = begin(&store).await;
    assert!(voter.lock_approval(due[0]).await.unwrap().is_some());
    let mut reaper1 = begin(&store).await;
    let first: Vec<_> = reaper1
        .lock_due_approvals(base, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(first, vec![due[1]]);
    let mut reaper2 = begin(&store).await;
    let second: Vec<_> = reaper2
        .lock_due_approvals(base, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        second,
        vec![due[2]],
        "skips rows held by the voter and the first reaper"
    );
    drop(reaper2);
    drop(reaper1);
    drop(voter);
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn expired_leases_held_by_others_are_skipped(pool: PgPool) {
    let store = store(pool);
    let w = world(&store).await;
    let base = now();
    let mut expired = Vec::new();
    for minutes in [30, 20, 10] {
        let mut j = w.job(JobStatus::Running, base - Duration::minutes(60));
        j.claimed_by = Some(w.requester.id);
        j.attempts = 1;
        j.lease_expires_at = Some(base - Duration::minutes(minutes));
        let mut tx = begin(&store).await;
        tx.insert_job(&j).await.unwrap();
        commit(tx).await;
        expired.push(j.id);
    }

    let mut holder = begin(&store).await;
    assert!(holder.lock_job(expired[0]).await.unwrap().is_some());
    let mut replica1 = begin(&store).await;
    let first: Vec<_> = replica1
        .lock_expired_leases(base, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first, vec![expired[1]]);
    let mut replica2 = begin(&store).await;
    let second: Vec<_> = replica2
        .lock_expired_leases(base, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        second,
        vec![expired[2]],
        "skips rows held by the holder and the first replica"
    );
}

#[sqlx::test(migrations = "../../migrations/postgres")]
async fn webhook_heads_held_by_others_are_skipped_not_overtaken(pool: PgPool) {
    let store = store(pool);
    let hook = Webhook {
        id: WebhookId::new(),
        url: "https://hooks.example.com/skip".to_owned(),
        events: None,
        format: WebhookFormat::Standard,
        description: None,
        disabled: false,
        created_at: now(),
    };
    let t0 = now();
    let mut tx = begin(&store).await;
    tx.insert_webhook(&hook, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await
        .unwrap();
    for key in ["apr_a", "apr_a", "apr_b"] {
        let message = NewMessage {
            id: MessageId::new(),
            event: "approval.voted".to_owned(),
            ordering_key: key.to_owned(),
            webhook_id: None,
            body: r#"{"type":"approval.voted","timestamp":"2026-05-20T00:00:00Z","data":{}}"#
                .to_owned(),
            created_at: t0,
        };
        tx.insert_message(&message).await.unwrap();
    }
    let mut ids = Vec::new();
    for p in tx.lock_undispatched_messages(10).await.unwrap() {
        let id = DeliveryId::new();
        tx.insert_delivery(id, p.seq, hook.id, &p.ordering_key, t0)
            .await
            .unwrap();
        tx.mark_dispatched(p.seq, t0).await.unwrap();
        ids.push(id);
    }
    commit(tx).await;

    // A first scheduler holds apr_a's head; a second one, while the first is still open,
    // skips it and does not take apr_a's next message either (that would overtake the head):
    // it gets apr_b's alone, at once, without waiting.
    let lease = t0 + Duration::seconds(60);
    let claimed = |d: Vec<ClaimedDelivery>| d.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let mut first = begin(&store).await;
    let held = claimed(first.claim_deliveries(t0, lease, 1).await.unwrap());
    assert_eq!(held, vec![ids[0]]);
    let mut second = begin(&store).await;
    let got = claimed(second.claim_deliveries(t0, lease, 10).await.unwrap());
    assert_eq!(got, vec![ids[2]], "skips the held head and waits behind it");
    drop(second);
    drop(first);
}
