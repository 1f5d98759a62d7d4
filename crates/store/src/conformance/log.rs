//! The transparency log's storage: the queue fed by every append, leaves, tiles that only
//! grow, the head's compare-and-set, checkpoints, `leaf_index` on export rows, and the export
//! of a leaf range in leaf order.
//!
//! The store gives hashes no meaning, so these tests store arbitrary bytes; the hashing is
//! tested where it is computed (`countersign-tlog`, and the sequencer's tests in the HTTP
//! crate).

use countersign_domain::{AuditEvent, Category, EventId};
use futures::StreamExt;

use super::fixtures::*;
use crate::{ExportFilter, ExportRange, LogHead, StoreError, StoredCheckpoint, StoredTile};

/// SHA-256 of the empty string: the empty tree's root.
const EMPTY_ROOT: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

async fn append(store: &TestStore, events: &[AuditEvent]) {
    let mut tx = begin(store).await;
    tx.append_audit(events).await.expect("append");
    commit(tx).await;
}

fn events(n: i64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| event(Category::Lifecycle, "job.requested", at(i)))
        .collect()
}

fn ids(events: &[AuditEvent]) -> Vec<EventId> {
    events.iter().map(|e| e.event_id).collect()
}

fn tile(level: u8, index: u64, width: u32, fill: u8) -> StoredTile {
    StoredTile {
        level,
        index,
        width,
        hashes: (0..width * 32)
            .map(|i| fill.wrapping_add(i as u8))
            .collect(),
    }
}

/// Every stored event is queued once, in the order it was stored, in the transaction that
/// stores it; a duplicate append queues nothing; a rolled-back append queues nothing.
pub async fn log_queue_follows_appends(store: TestStore) {
    let first = events(3);
    append(&store, &first).await;
    append(&store, &first[..1]).await;
    let mut tx = begin(&store).await;
    tx.append_audit(&events(2)).await.unwrap();
    tx.rollback().await.unwrap();
    let later = events(2);
    append(&store, &later).await;

    let mut tx = begin(&store).await;
    assert_eq!(tx.pending_log_count().await.unwrap(), 5);
    let queue = tx.log_queue(10).await.unwrap();
    let mut want = first.clone();
    want.extend(later.clone());
    assert_eq!(
        queue.iter().map(|q| q.event_id).collect::<Vec<_>>(),
        ids(&want),
        "queued once each, in the order stored"
    );
    assert!(
        queue.windows(2).all(|w| w[0].position < w[1].position),
        "positions grow in queue order: {queue:?}"
    );
    assert_eq!(tx.log_queue(2).await.unwrap(), queue[..2].to_vec());
    assert_eq!(
        tx.log_events(&ids(&want)).await.unwrap(),
        want,
        "the events as stored"
    );
    tx.remove_pending_log_events(&queue[..3]).await.unwrap();
    assert_eq!(tx.log_queue(10).await.unwrap(), queue[3..].to_vec());
    assert_eq!(tx.pending_log_count().await.unwrap(), 2);
    assert!(
        tx.remove_pending_log_events(&queue[..1]).await.is_err(),
        "an event no longer queued is not removed twice"
    );
}

/// Every append queues the leaf hash its writer computed from the event it stored, and the
/// events asked by id come back as stored, in the order asked, unknown ids left out.
pub async fn log_queue_carries_each_events_leaf_hash(store: TestStore) {
    let mut stored = events(5);
    stored[1] = stored[1]
        .clone()
        .details(serde_json::json!({"b": 1.5e300, "a": "\u{e000}\u{1f600}", "n": [1, -0.0]}));
    append(&store, &stored).await;
    let mut tx = begin(&store).await;
    let queue = tx.log_queue(10).await.unwrap();
    let mut backwards = ids(&stored);
    backwards.reverse();
    backwards.insert(2, EventId::new());
    let mut want = stored.clone();
    want.reverse();
    let read = tx.log_events(&backwards).await.unwrap();
    assert_eq!(read, want);
    assert_eq!(
        queue.iter().map(|q| q.leaf_hash).collect::<Vec<_>>(),
        stored
            .iter()
            .map(|e| Some(e.leaf_hash()))
            .collect::<Vec<_>>(),
        "each queued event carries its writer's leaf hash"
    );
    // The hash of the event as it reads back from its stored body is the same one.
    for (q, e) in queue.iter().rev().zip(&read) {
        assert_eq!(q.leaf_hash, Some(e.leaf_hash()), "{}", e.event_id);
    }
    assert_ne!(queue[0].leaf_hash, queue[1].leaf_hash);
}

/// The head starts as the empty tree and moves only by compare-and-set, never back.
pub async fn log_head_is_compare_and_set(store: TestStore) {
    let mut tx = begin(&store).await;
    assert!(tx.lead_log().await.unwrap(), "a lone transaction leads");
    let head = tx.log_head().await.unwrap();
    assert_eq!(
        head,
        LogHead {
            size: 0,
            root: EMPTY_ROOT
        }
    );
    let grown = LogHead {
        size: 3,
        root: [7; 32],
    };
    assert!(tx.advance_log_head(0, &grown, now()).await.unwrap());
    assert!(
        !tx.advance_log_head(
            0,
            &LogHead {
                size: 5,
                root: [8; 32]
            },
            now()
        )
        .await
        .unwrap(),
        "a stale old size changes nothing"
    );
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert!(
        tx.lead_log().await.unwrap(),
        "the turn ends with the transaction"
    );
    assert_eq!(tx.log_head().await.unwrap(), grown);
    let shrunk = tx
        .advance_log_head(
            3,
            &LogHead {
                size: 2,
                root: [9; 32],
            },
            now(),
        )
        .await;
    assert!(
        matches!(shrunk, Err(StoreError::Check { .. })),
        "the log never shrinks: {shrunk:?}"
    );
}

/// Leaves number events in order; an event is a leaf once; a leaf index is used once.
pub async fn log_leaves_append_and_read(store: TestStore) {
    let stored = events(5);
    append(&store, &stored).await;
    let mut tx = begin(&store).await;
    tx.append_log_leaves(0, &ids(&stored[..3])).await.unwrap();
    tx.append_log_leaves(3, &ids(&stored[3..])).await.unwrap();
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(tx.log_leaf_index(e.event_id).await.unwrap(), Some(i as u64));
    }
    assert_eq!(tx.log_leaf_index(EventId::new()).await.unwrap(), None);
    let read = tx.log_leaf_events(1, 4).await.unwrap();
    assert_eq!(
        read.iter().map(|l| l.index).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        read.into_iter().map(|l| l.event).collect::<Vec<_>>(),
        stored[1..4].to_vec()
    );
    assert!(tx.log_leaf_events(5, 9).await.unwrap().is_empty());
    commit(tx).await;

    let mut tx = begin(&store).await;
    assert!(
        tx.append_log_leaves(5, &ids(&stored[..1])).await.is_err(),
        "an event is a leaf once"
    );
    drop(tx);
    let more = events(1);
    append(&store, &more).await;
    let mut tx = begin(&store).await;
    assert!(
        tx.append_log_leaves(4, &ids(&more)).await.is_err(),
        "a leaf index is used once"
    );
}

/// Tiles are stored and read by coordinates; a partial tile only grows with its hashes as a
/// prefix, a full tile never changes.
pub async fn log_tiles_only_grow(store: TestStore) {
    let mut tx = begin(&store).await;
    tx.put_log_tiles(&[tile(0, 0, 2, 1), tile(1, 0, 1, 50), tile(0, 7, 256, 3)])
        .await
        .unwrap();
    let mut wider = tile(0, 0, 5, 1);
    wider.hashes[..64].copy_from_slice(&tile(0, 0, 2, 1).hashes);
    tx.put_log_tiles(&[wider.clone()]).await.unwrap();
    let mut read = tx
        .log_tiles(&[(0, 0), (1, 0), (0, 7), (2, 0)])
        .await
        .unwrap();
    read.sort_by_key(|t| (t.level, t.index));
    assert_eq!(
        read,
        vec![wider.clone(), tile(0, 7, 256, 3), tile(1, 0, 1, 50)]
    );
    commit(tx).await;

    let mut tx = begin(&store).await;
    let rewritten = tx.put_log_tiles(&[tile(0, 0, 6, 200)]).await;
    assert!(
        rewritten.is_err(),
        "a partial tile keeps its hashes: {rewritten:?}"
    );
    drop(tx);
    let mut tx = begin(&store).await;
    tx.put_log_tiles(&[tile(0, 0, 3, 1)]).await.unwrap();
    assert_eq!(
        tx.log_tiles(&[(0, 0)]).await.unwrap(),
        vec![wider],
        "a narrower tile never replaces a wider one"
    );
    commit(tx).await;
}

/// Checkpoints are stored once per size; the latest is the largest tree.
pub async fn log_checkpoints_latest_and_by_size(store: TestStore) {
    let checkpoint = |size: u64| StoredCheckpoint {
        size,
        root: [size as u8; 32],
        note: format!("example.com/log\n{size}\nroot\n\n— example.com/log sig\n"),
        created_at: at(size as i64),
    };
    let mut tx = begin(&store).await;
    assert_eq!(tx.latest_log_checkpoint().await.unwrap(), None);
    tx.insert_log_checkpoint(&checkpoint(0)).await.unwrap();
    tx.insert_log_checkpoint(&checkpoint(9)).await.unwrap();
    tx.insert_log_checkpoint(&checkpoint(4)).await.unwrap();
    assert_eq!(
        tx.latest_log_checkpoint().await.unwrap(),
        Some(checkpoint(9))
    );
    assert_eq!(tx.log_checkpoint_at(4).await.unwrap(), Some(checkpoint(4)));
    assert_eq!(tx.log_checkpoint_at(5).await.unwrap(), None);
    commit(tx).await;
    let mut tx = begin(&store).await;
    assert!(tx.insert_log_checkpoint(&checkpoint(9)).await.is_err());
}

/// Export rows carry the leaf index of sequenced events and none for the others.
pub async fn log_export_rows_carry_leaf_index(store: TestStore) {
    let stored = events(3);
    append(&store, &stored).await;
    let mut tx = begin(&store).await;
    tx.append_log_leaves(0, &ids(&stored[1..2])).await.unwrap();
    commit(tx).await;
    let mut rows = Vec::new();
    let mut stream = store.export_audit(
        ExportFilter {
            range: ExportRange::Window {
                from: at(-1),
                to: at(10),
            },
            category: None,
            after: None,
            limit: None,
        },
        2,
    );
    while let Some(chunk) = stream.next().await {
        rows.extend(chunk.unwrap());
    }
    assert_eq!(
        rows.iter()
            .map(|r| (r.event_id, r.leaf_index))
            .collect::<Vec<_>>(),
        vec![
            (stored[0].event_id, None),
            (stored[1].event_id, Some(0)),
            (stored[2].event_id, None)
        ]
    );
}

/// A leaf-range export answers the log's leaves `first..=last` that exist, in leaf order
/// (not time order), only sequenced events, chunk after chunk.
pub async fn log_export_by_leaf_range(store: TestStore) {
    let stored = events(6);
    append(&store, &stored).await;
    // Leaves in an order unlike the events' times; the last event is not sequenced.
    let order = [&stored[3], &stored[0], &stored[4], &stored[1], &stored[2]];
    let mut tx = begin(&store).await;
    tx.append_log_leaves(0, &order.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .await
        .unwrap();
    commit(tx).await;
    let leaves = |first, last, size: u32| {
        let store = store.clone();
        async move {
            let mut stream = store.export_audit(
                ExportFilter {
                    range: ExportRange::Leaves { first, last },
                    category: None,
                    after: None,
                    limit: None,
                },
                size,
            );
            let mut rows = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                assert!(!chunk.is_empty() && chunk.len() <= size as usize);
                rows.extend(chunk);
            }
            rows.into_iter()
                .map(|r| (r.leaf_index, r.event_id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        leaves(1, 3, 2).await,
        vec![
            (Some(1), stored[0].event_id),
            (Some(2), stored[4].event_id),
            (Some(3), stored[1].event_id)
        ]
    );
    // Past the log's end: the leaves that exist; wholly past it: nothing.
    let all = leaves(0, 100, 2).await;
    assert_eq!(
        all.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..5).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(all[0].1, stored[3].event_id);
    assert!(leaves(5, 9, 2).await.is_empty());
    assert_eq!(leaves(4, 4, 1).await, vec![(Some(4), stored[2].event_id)]);
}
