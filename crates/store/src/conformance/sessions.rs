//! Console sessions, and the approvals awaiting one person's vote.

use countersign_domain::{ConsoleSession, SessionEnd, SessionId, VoteDecision};
use time::Duration;

use super::fixtures::*;
use crate::error::StoreError;
use crate::PageRequest;

fn session(
    principal: &countersign_domain::Principal,
    key: countersign_domain::KeyId,
) -> ConsoleSession {
    let t = now();
    ConsoleSession {
        id: SessionId::new(),
        principal_id: principal.id,
        key_id: key,
        created_at: t,
        last_seen_at: t,
        ended_at: None,
        end_reason: None,
    }
}

/// A session is found by its token's hash while open and active; activity moves forward only
/// within the idle window; ending is a compare-and-set, and an ended session is never active
/// again; a missing key is a foreign-key error.
pub async fn sessions_touch_end_and_guard(store: TestStore) {
    let p = create_principal(&store).await;
    let key = api_key(p.id, now());
    let mut tx = begin(&store).await;
    tx.insert_key(&key, &secret_hash(1)).await.unwrap();
    let s = session(&p, key.id);
    let hash = secret_hash(2);
    tx.insert_session(&s, &hash).await.unwrap();
    let orphan = session(&p, countersign_domain::KeyId::new());
    let r = tx.insert_session(&orphan, &secret_hash(3)).await;
    assert!(matches!(r, Err(StoreError::ForeignKey { .. })), "{r:?}");
    drop(tx);
    let mut tx = begin(&store).await;
    tx.insert_key(&key, &secret_hash(1)).await.unwrap();
    tx.insert_session(&s, &hash).await.unwrap();
    commit(tx).await;

    let mut tx = begin(&store).await;
    let later = s.created_at + Duration::seconds(30);
    let seen = tx
        .touch_session(&hash, later, later - Duration::minutes(1))
        .await
        .unwrap()
        .expect("open and active");
    assert_eq!(seen.id, s.id);
    assert_eq!(seen.last_seen_at, later);
    assert_eq!(
        tx.touch_session(&secret_hash(9), later, later - Duration::minutes(1))
            .await
            .unwrap(),
        None,
        "unknown token"
    );
    // Idle since before the last activity: refused, and nothing moves.
    let much_later = later + Duration::hours(1);
    assert_eq!(
        tx.touch_session(&hash, much_later, later).await.unwrap(),
        None
    );
    let ended = tx
        .end_session(&hash, much_later, SessionEnd::Idle)
        .await
        .unwrap()
        .expect("ended once");
    assert_eq!(ended.end_reason, Some(SessionEnd::Idle));
    assert_eq!(ended.ended_at, Some(much_later));
    assert_eq!(ended.last_seen_at, later);
    assert_eq!(
        tx.end_session(&hash, much_later, SessionEnd::SignedOut)
            .await
            .unwrap(),
        None,
        "already ended"
    );
    assert_eq!(
        tx.touch_session(&hash, much_later, s.created_at - Duration::hours(1))
            .await
            .unwrap(),
        None,
        "an ended session is never active again"
    );
    commit(tx).await;
}

/// The approvals awaiting a person's vote: pending and not past their deadline, not requested
/// by them, not voted on by them, and naming one of their roles; newest first, paged.
pub async fn sessions_approvals_awaiting_vote(store: TestStore) {
    let w = world(&store).await;
    let me = create_principal_with(&store, &["approver"]).await;
    let roles = vec![role_id("approver")];
    let base = now() - Duration::minutes(10);
    let mut mine = Vec::new();
    for i in 0..5 {
        let (_, a) = w
            .create_approval_at(&store, base + Duration::seconds(i))
            .await;
        mine.push(a.id);
    }
    // Voted on already.
    let (_, voted) = w
        .create_approval_at(&store, base + Duration::seconds(10))
        .await;
    let mut tx = begin(&store).await;
    tx.insert_vote(voted.id, &vote(me.id, VoteDecision::Approve, &["approver"]))
        .await
        .unwrap();
    commit(tx).await;
    // Past its deadline (still `pending` in the row).
    let (_, stale) = w
        .create_approval_at(&store, base - Duration::hours(2))
        .await;
    // Decided.
    let (_, decided) = w
        .create_approval_at(&store, base + Duration::seconds(11))
        .await;
    let mut tx = begin(&store).await;
    assert!(tx
        .decide_approval(
            decided.id,
            countersign_domain::ApprovalState::Rejected,
            "x",
            now()
        )
        .await
        .unwrap());
    commit(tx).await;

    let as_of = now();
    let all = super::walk_pages!(2, |page| async {
        let mut tx = begin(&store).await;
        let r = tx.list_awaiting_vote(me.id, &roles, as_of, &page).await;
        commit(tx).await;
        r
    });
    let got: Vec<_> = all.iter().map(|a| a.id).collect();
    let mut want = mine.clone();
    want.reverse();
    assert_eq!(got, want, "newest first, only what awaits my vote");
    assert!(!got.contains(&voted.id) && !got.contains(&stale.id) && !got.contains(&decided.id));

    let mut tx = begin(&store).await;
    // The requester never sees its own requests; roles no rule names see nothing.
    let first = PageRequest::first(50);
    assert!(tx
        .list_awaiting_vote(w.requester.id, &roles, as_of, &first)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(tx
        .list_awaiting_vote(me.id, &[role_id("auditor")], as_of, &first)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(tx
        .list_awaiting_vote(me.id, &[], as_of, &first)
        .await
        .unwrap()
        .items
        .is_empty());
    // A second rule's role counts as much as the first's (`admin` is the world's second
    // rule); what I voted on stays out whatever role I would vote with.
    assert_eq!(
        tx.list_awaiting_vote(me.id, &[role_id("admin")], as_of, &first)
            .await
            .unwrap()
            .items
            .len(),
        mine.len()
    );
    commit(tx).await;
}
