//! Webhooks, the notification outbox and deliveries.

use countersign_domain::{
    DeliveryId, DeliveryStatus, MessageId, Webhook, WebhookEvent, WebhookFormat, WebhookId,
};
use time::{Duration, OffsetDateTime};

use super::fixtures::*;
use super::walk_pages;
use crate::{AttemptRecord, NewMessage};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn webhook(created_at: OffsetDateTime) -> Webhook {
    Webhook {
        id: WebhookId::new(),
        url: format!("https://{}.example.com/hook", unique()),
        events: None,
        format: WebhookFormat::Standard,
        description: None,
        disabled: false,
        created_at,
    }
}

async fn create_webhook(store: &TestStore, w: &Webhook) {
    let mut tx = begin(store).await;
    tx.insert_webhook(w, SECRET).await.expect("insert webhook");
    commit(tx).await;
}

fn message(event: &str, ordering_key: &str, webhook_id: Option<WebhookId>) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        event: event.to_owned(),
        ordering_key: ordering_key.to_owned(),
        webhook_id,
        body: format!(r#"{{"type":"{event}","timestamp":"2026-05-20T00:00:00Z","data":{{}}}}"#),
        created_at: now(),
    }
}

/// Write messages and fan each out to `webhook`, due at `due`; answers the delivery ids in
/// message order.
async fn fan_out(
    store: &TestStore,
    messages: &[NewMessage],
    webhook: WebhookId,
    due: OffsetDateTime,
) -> Vec<DeliveryId> {
    let mut tx = begin(store).await;
    for m in messages {
        tx.insert_message(m).await.expect("insert message");
    }
    let pending = tx.lock_undispatched_messages(100).await.unwrap();
    let mut ids = Vec::new();
    for p in &pending {
        let id = DeliveryId::new();
        tx.insert_delivery(id, p.seq, webhook, &p.ordering_key, due)
            .await
            .unwrap();
        tx.mark_dispatched(p.seq, due).await.unwrap();
        ids.push(id);
    }
    commit(tx).await;
    ids
}

fn failed_attempt(at: OffsetDateTime, next: Option<OffsetDateTime>) -> AttemptRecord {
    AttemptRecord {
        status: if next.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        },
        status_code: Some(500),
        error: Some("answered 500".to_owned()),
        next_attempt_at: next,
        at,
    }
}

/// A webhook reads back as written (never its secret), lists newest first across pages,
/// disables once (a compare-and-set), leaves the enabled list when disabled, takes a new
/// secret, and deletes once.
pub async fn webhooks_insert_get_list_disable_delete(store: TestStore) {
    let base = now() - Duration::minutes(10);
    let mut all = Vec::new();
    for i in 0..5 {
        let mut w = webhook(base + Duration::seconds(i));
        if i == 1 {
            w.events = Some(vec![
                WebhookEvent::ApprovalRequested,
                WebhookEvent::ApprovalEscalated,
            ]);
            w.format = WebhookFormat::Slack;
            w.description = Some("the #approvals channel".to_owned());
        }
        create_webhook(&store, &w).await;
        all.push(w);
    }
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_webhook(all[1].id).await.unwrap().as_ref(),
        Some(&all[1])
    );
    assert_eq!(tx.get_webhook(WebhookId::new()).await.unwrap(), None);
    let listed = walk_pages!(2, |page| tx.list_webhooks(&page));
    let newest_first: Vec<_> = all.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    assert!(tx.disable_webhook(all[0].id).await.unwrap());
    assert!(
        !tx.disable_webhook(all[0].id).await.unwrap(),
        "already disabled"
    );
    assert!(!tx.disable_webhook(WebhookId::new()).await.unwrap());
    assert!(tx.get_webhook(all[0].id).await.unwrap().unwrap().disabled);
    let enabled: Vec<_> = tx
        .enabled_webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(enabled, all[1..].iter().map(|w| w.id).collect::<Vec<_>>());

    assert!(tx
        .set_webhook_secret(all[2].id, "whsec_bmV3IHNlY3JldCBieXRlcw==")
        .await
        .unwrap());
    assert!(!tx
        .set_webhook_secret(WebhookId::new(), SECRET)
        .await
        .unwrap());
    assert!(tx.delete_webhook(all[3].id).await.unwrap());
    assert!(!tx.delete_webhook(all[3].id).await.unwrap());
    assert_eq!(tx.get_webhook(all[3].id).await.unwrap(), None);
    commit(tx).await;
}

/// Messages are fanned out once, oldest first; a due delivery is claimed for one attempt
/// with everything the sender needs (its secret, format and body), is not due again while
/// its lease runs, and its outcome is recorded only for the attempt that holds it.
pub async fn webhooks_outbox_claim_and_record(store: TestStore) {
    let mut w = webhook(now());
    w.format = WebhookFormat::Slack;
    create_webhook(&store, &w).await;
    let t0 = now();
    let m = message("approval.requested", "apr_a", None);
    let ids = fan_out(&store, std::slice::from_ref(&m), w.id, t0).await;
    let mut tx = begin(&store).await;
    assert!(tx.lock_undispatched_messages(10).await.unwrap().is_empty());
    let stats = tx.delivery_stats().await.unwrap();
    assert_eq!(stats.outbox_depth, 0);
    assert_eq!(stats.by_status, vec![(DeliveryStatus::Pending, 1)]);
    assert!(stats.oldest_undelivered.is_some());

    assert!(tx
        .claim_deliveries(t0 - Duration::seconds(1), t0, 10)
        .await
        .unwrap()
        .is_empty());
    let lease = t0 + Duration::seconds(60);
    let claimed = tx.claim_deliveries(t0, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(c.id, ids[0]);
    assert_eq!(c.message_id, m.id);
    assert_eq!(c.webhook_id, w.id);
    assert_eq!(c.event, "approval.requested");
    assert_eq!((c.attempt, c.schedule_base), (1, 0));
    assert_eq!(c.url, w.url);
    assert_eq!(c.secret, SECRET);
    assert_eq!(c.format, WebhookFormat::Slack);
    assert_eq!(c.body, m.body);
    assert!(
        tx.claim_deliveries(t0 + Duration::seconds(59), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due again under its lease"
    );

    let retry_at = t0 + Duration::seconds(5);
    assert!(!tx
        .record_attempt(c.id, 2, &failed_attempt(t0, Some(retry_at)))
        .await
        .unwrap());
    assert!(tx
        .record_attempt(c.id, 1, &failed_attempt(t0, Some(retry_at)))
        .await
        .unwrap());
    let listed = tx
        .list_deliveries(w.id, &crate::PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Pending);
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].last_status_code, Some(500));
    assert_eq!(listed[0].next_attempt_at, Some(retry_at));

    let again = tx
        .claim_deliveries(retry_at, retry_at + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    let delivered = AttemptRecord {
        status: DeliveryStatus::Delivered,
        status_code: Some(204),
        error: None,
        next_attempt_at: None,
        at: retry_at,
    };
    assert!(
        !tx.record_attempt(c.id, 1, &delivered).await.unwrap(),
        "stale attempt"
    );
    assert!(tx.record_attempt(c.id, 2, &delivered).await.unwrap());
    assert!(
        !tx.record_attempt(c.id, 2, &delivered).await.unwrap(),
        "once"
    );
    let stats = tx.delivery_stats().await.unwrap();
    assert_eq!(stats.by_status, vec![(DeliveryStatus::Delivered, 1)]);
    assert_eq!(stats.oldest_undelivered, None);
    commit(tx).await;
}

/// A delivery waits while an earlier message with its ordering key is pending for its
/// webhook; other keys go ahead. A disabled webhook's deliveries are never claimed.
pub async fn webhooks_claim_keeps_order_per_key(store: TestStore) {
    let w = webhook(now());
    create_webhook(&store, &w).await;
    let t0 = now();
    let messages = [
        message("approval.requested", "apr_a", None),
        message("approval.voted", "apr_a", None),
        message("approval.requested", "apr_b", None),
    ];
    let ids = fan_out(&store, &messages, w.id, t0).await;
    let mut tx = begin(&store).await;
    let lease = t0 + Duration::seconds(60);
    let claimed: Vec<_> = tx
        .claim_deliveries(t0, lease, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        claimed,
        vec![ids[0], ids[2]],
        "apr_a's second message waits"
    );
    assert!(tx
        .record_attempt(ids[0], 1, &failed_attempt(t0, None))
        .await
        .unwrap());
    let next: Vec<_> = tx
        .claim_deliveries(t0, lease, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        next,
        vec![ids[1]],
        "a failed message no longer holds its key back"
    );
    commit(tx).await;

    let other = webhook(now());
    create_webhook(&store, &other).await;
    let later = fan_out(
        &store,
        &[message("approval.requested", "apr_c", None)],
        other.id,
        t0,
    )
    .await;
    let mut tx = begin(&store).await;
    assert!(tx.disable_webhook(other.id).await.unwrap());
    assert!(tx
        .claim_deliveries(lease, lease + Duration::seconds(60), 10)
        .await
        .unwrap()
        .iter()
        .all(|c| c.id != later[0]));
    commit(tx).await;
}

/// Write `messages` and fan each out to every webhook of `webhooks`, the deliveries of each
/// due at its time; answers each webhook's delivery ids in message order.
async fn fan_out_to_each(
    store: &TestStore,
    messages: &[NewMessage],
    webhooks: &[(WebhookId, OffsetDateTime)],
) -> Vec<Vec<DeliveryId>> {
    let mut ids = vec![Vec::new(); webhooks.len()];
    for chunk in messages.chunks(50) {
        let mut tx = begin(store).await;
        for m in chunk {
            tx.insert_message(m).await.expect("insert message");
        }
        let pending = tx.lock_undispatched_messages(100).await.unwrap();
        assert_eq!(pending.len(), chunk.len());
        for p in &pending {
            for ((webhook, due), ids) in webhooks.iter().zip(&mut ids) {
                let id = DeliveryId::new();
                tx.insert_delivery(id, p.seq, *webhook, &p.ordering_key, *due)
                    .await
                    .unwrap();
                ids.push(id);
            }
            tx.mark_dispatched(p.seq, now()).await.unwrap();
        }
        commit(tx).await;
    }
    ids
}

/// A backlog where many ordering keys each have several pending messages, for two webhooks:
/// a claim takes exactly the first pending delivery of each (webhook, key) — the earliest due
/// first, then in message order across keys — and one that stops at its limit takes the
/// first of those. While the heads are out, nothing else is claimable; once they are
/// delivered, the next claim takes each key's next message, round after round, until the
/// backlog is empty.
pub async fn webhooks_claim_takes_each_keys_head_from_a_backlog(store: TestStore) {
    const KEYS: usize = 20;
    const DEPTH: usize = 4;
    let (first, second) = (webhook(now()), webhook(now()));
    create_webhook(&store, &first).await;
    create_webhook(&store, &second).await;
    let t0 = now();
    // Round r writes every key's r-th message, the keys in a different order each round, so
    // that message order is neither key order nor the previous round's order.
    let messages: Vec<NewMessage> = (0..DEPTH)
        .flat_map(|round| {
            (0..KEYS).map(move |k| {
                let key = (k * 7 + round * 3) % KEYS;
                message("approval.voted", &format!("apr_backlog_{key:02}"), None)
            })
        })
        .collect();
    let ids = fan_out_to_each(
        &store,
        &messages,
        &[
            (first.id, t0 - Duration::seconds(2)),
            (second.id, t0 - Duration::seconds(1)),
        ],
    )
    .await;
    let heads = |round: usize| -> Vec<DeliveryId> {
        let of_round = round * KEYS..(round + 1) * KEYS;
        ids[0][of_round.clone()]
            .iter()
            .chain(&ids[1][of_round])
            .copied()
            .collect()
    };
    let lease = t0 + Duration::seconds(60);
    let claim = |limit: u32| {
        let store = store.clone();
        async move {
            let mut tx = begin(&store).await;
            let claimed = tx.claim_deliveries(t0, lease, limit).await.unwrap();
            (tx, claimed)
        }
    };

    let (tx, some) = claim(5).await;
    assert_eq!(
        some.iter().map(|c| c.id).collect::<Vec<_>>(),
        heads(0)[..5],
        "a claim at its limit takes the first heads"
    );
    tx.rollback().await.unwrap();

    for round in 0..DEPTH {
        let (mut tx, claimed) = claim(100).await;
        assert_eq!(
            claimed.iter().map(|c| c.id).collect::<Vec<_>>(),
            heads(round),
            "round {round}: each (webhook, key)'s head, due order then message order"
        );
        assert!(claimed.iter().all(|c| c.attempt == 1));
        assert!(
            tx.claim_deliveries(t0, lease, 100)
                .await
                .unwrap()
                .is_empty(),
            "round {round}: the leased heads hold their keys back"
        );
        for c in &claimed {
            let delivered = AttemptRecord {
                status: DeliveryStatus::Delivered,
                status_code: Some(204),
                error: None,
                next_attempt_at: None,
                at: t0,
            };
            assert!(tx
                .record_attempt(c.id, c.attempt, &delivered)
                .await
                .unwrap());
        }
        commit(tx).await;
    }
    let (tx, rest) = claim(100).await;
    assert!(rest.is_empty(), "the backlog is drained");
    commit(tx).await;
}

/// Redelivery makes any delivery pending and due at once, and starts its retry schedule
/// over: the next attempt keeps counting attempts but is the schedule's first.
pub async fn webhooks_redeliver_restarts_the_schedule(store: TestStore) {
    let w = webhook(now());
    create_webhook(&store, &w).await;
    let t0 = now();
    let ids = fan_out(
        &store,
        &[message("approval.requested", "apr_a", None)],
        w.id,
        t0,
    )
    .await;
    let mut tx = begin(&store).await;
    let lease = t0 + Duration::seconds(60);
    for attempt in 1..=2 {
        let c = tx.claim_deliveries(t0, lease, 10).await.unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].attempt, attempt);
        let next = (attempt == 1).then_some(t0);
        assert!(tx
            .record_attempt(ids[0], attempt, &failed_attempt(t0, next))
            .await
            .unwrap());
    }
    let failed = tx
        .list_deliveries(w.id, &crate::PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(failed[0].status, DeliveryStatus::Failed);
    assert_eq!(failed[0].next_attempt_at, None);

    let when = now();
    let d = tx
        .redeliver(w.id, ids[0], when)
        .await
        .unwrap()
        .expect("redelivered");
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempts, 2);
    assert_eq!(d.next_attempt_at, Some(when));
    assert_eq!(
        tx.redeliver(w.id, DeliveryId::new(), when).await.unwrap(),
        None
    );
    assert_eq!(
        tx.redeliver(WebhookId::new(), ids[0], when).await.unwrap(),
        None,
        "another webhook's delivery"
    );
    let c = tx.claim_deliveries(when, lease, 10).await.unwrap();
    assert_eq!((c[0].attempt, c[0].schedule_base), (3, 2));
    commit(tx).await;
}
