//! The audit trail: appends, duplicates, listing and the streaming export.

use std::collections::HashSet;

use countersign_domain::{AuditEvent, AuditResult, Authorization, Category, EventId};
use futures::StreamExt;
use time::{Duration, OffsetDateTime};

use super::fixtures::*;
use super::walk_pages;
use crate::{AuditFilter, ExportFilter, ExportRange, ExportRow, PageRequest};

fn newest_first(events: &mut [AuditEvent]) {
    events.sort_by_key(|x| std::cmp::Reverse((x.ts, x.event_id.to_string())));
}

fn oldest_first(events: &mut [AuditEvent]) {
    events.sort_by_key(|x| (x.ts, x.event_id.to_string()));
}

async fn append(store: &TestStore, events: &[AuditEvent]) -> crate::AppendOutcome {
    let mut tx = begin(store).await;
    let outcome = tx.append_audit(events).await.expect("append");
    commit(tx).await;
    outcome
}

/// Run an export to the end, returning its chunks.
async fn export(store: &TestStore, filter: ExportFilter, chunk: u32) -> Vec<Vec<ExportRow>> {
    let mut stream = store.export_audit(filter, chunk);
    let mut chunks = Vec::new();
    while let Some(c) = stream.next().await {
        chunks.push(c.expect("export chunk"));
    }
    chunks
}

fn window(from: OffsetDateTime, to: OffsetDateTime) -> ExportFilter {
    ExportFilter {
        range: ExportRange::Window { from, to },
        category: None,
        after: None,
        limit: None,
    }
}

fn ids(rows: &[ExportRow]) -> Vec<EventId> {
    rows.iter().map(|r| r.event_id).collect()
}

/// Every field of an event survives a round trip, and the stored wire form is the event's
/// exact serialization (what the export streams).
pub async fn audit_append_and_get_round_trip(store: TestStore) {
    let minimal = event(Category::Lifecycle, "job.requested", at(0));
    let mut full = event(Category::Auth, "auth.denied", at(1))
        .authorization(Authorization::deny(
            Some("approval.approve"),
            "not eligible",
        ))
        .result(AuditResult::Error {
            kind: "forbidden".into(),
            message: "no \"quotes\" or \\ escapes \u{e9}\u{1f510} lost".into(),
        })
        .request_id(Some("req-1"))
        .idempotency_key(Some("idem-1"))
        .generations(Some(3), 4)
        .details(serde_json::json!({"z": 1, "a": [1.5, null, {"k": "v"}], "m": "x"}));
    full.ingested_by = Some("prn_ingester".into());
    full.actor.key_id = None;

    let outcome = append(&store, &[minimal.clone(), full.clone()]).await;
    assert_eq!(outcome.inserted, 2);
    assert_eq!(outcome.duplicates, 0);

    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_audit_event(minimal.event_id).await.unwrap(),
        Some(minimal.clone())
    );
    assert_eq!(
        tx.get_audit_event(full.event_id).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(tx.get_audit_event(EventId::new()).await.unwrap(), None);
    drop(tx);

    let rows: Vec<_> = export(&store, window(at(0), at(2)), 10).await.concat();
    assert_eq!(ids(&rows), vec![minimal.event_id, full.event_id]);
    assert_eq!(rows[0].line, minimal.to_json_line());
    assert_eq!(rows[1].line, full.to_json_line(), "stored byte for byte");
    assert_eq!(rows[1].ts, full.ts);
    assert_eq!(
        serde_json::from_str::<AuditEvent>(&rows[1].line).unwrap(),
        full
    );

    // An ingested event may carry nanoseconds: its wire form keeps them, and ordering,
    // paging and resuming work on the stored (microsecond) key.
    let mut precise = event(Category::Access, "secret.read", at(3));
    precise.ts = at(3) + Duration::nanoseconds(123_456_789);
    let mut next = event(Category::Access, "secret.read", at(3));
    next.ts = at(3) + Duration::nanoseconds(123_456_999);
    let later = event(Category::Access, "secret.read", at(4));
    append(&store, &[precise.clone(), next.clone(), later.clone()]).await;
    let mut tx = begin(&store).await;
    assert_eq!(
        tx.get_audit_event(precise.event_id).await.unwrap(),
        Some(precise.clone())
    );
    let mut precise_pair = [precise.clone(), next.clone()];
    precise_pair.sort_by_key(|e| e.event_id.to_string());
    let filter = AuditFilter {
        from: Some(at(3)),
        ..Default::default()
    };
    let listed = walk_pages!(1, |page| tx.list_audit_events(&filter, &page));
    let listed_ids: Vec<_> = listed.iter().map(|e| e.event_id).collect();
    assert_eq!(
        listed_ids,
        vec![
            later.event_id,
            precise_pair[1].event_id,
            precise_pair[0].event_id
        ]
    );
    drop(tx);
    let mut f = window(at(3), at(5));
    f.after = Some((precise_pair[0].ts, precise_pair[0].event_id));
    let rows = export(&store, f, 10).await.concat();
    assert_eq!(ids(&rows), vec![precise_pair[1].event_id, later.event_id]);
    assert_eq!(rows[0].line, precise_pair[1].to_json_line());
}

/// An event id already stored is skipped and counted as a duplicate (also within one batch);
/// the first stored version wins.
pub async fn audit_duplicates_are_counted(store: TestStore) {
    let e1 = event(Category::Config, "policy.created", now());
    let e2 = event(Category::Config, "policy.updated", now());
    let e3 = event(Category::Lifecycle, "job.claimed", now());
    assert_eq!(
        append(&store, &[e1.clone(), e2.clone()]).await,
        crate::AppendOutcome {
            inserted: 2,
            duplicates: 0
        }
    );
    let mut altered = e2.clone();
    altered.action = "policy.deleted".into();
    assert_eq!(
        append(&store, &[altered, e3.clone(), e3.clone(), e1.clone()]).await,
        crate::AppendOutcome {
            inserted: 1,
            duplicates: 3
        }
    );
    assert_eq!(append(&store, &[]).await, crate::AppendOutcome::default());
    let mut tx = begin(&store).await;
    assert_eq!(tx.get_audit_event(e2.event_id).await.unwrap(), Some(e2));
    let all = tx
        .list_audit_events(&AuditFilter::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
}

/// A batch larger than any single statement's limits is stored whole, and a re-send of it
/// is all duplicates.
pub async fn audit_large_batch(store: TestStore) {
    let base = now();
    let events: Vec<_> = (0..2_500)
        .map(|i| {
            event(
                Category::Access,
                "audit.exported",
                base + Duration::milliseconds(i),
            )
        })
        .collect();
    let outcome = append(&store, &events).await;
    assert_eq!((outcome.inserted, outcome.duplicates), (2_500, 0));
    let mut again = events.clone();
    let fresh: Vec<_> = (0..10)
        .map(|_| event(Category::Access, "audit.exported", base))
        .collect();
    again.extend(fresh.iter().cloned());
    let outcome = append(&store, &again).await;
    assert_eq!((outcome.inserted, outcome.duplicates), (10, 2_500));
    let mut tx = begin(&store).await;
    let listed = walk_pages!(500, |page| tx
        .list_audit_events(&AuditFilter::default(), &page));
    assert_eq!(listed.len(), 2_510);
}

/// Eight writers append 200 events each, concurrently, in their own transactions: every
/// event is stored once.
pub async fn audit_concurrent_appends(store: TestStore) {
    let base = now();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for batch in 0..4 {
                    let events: Vec<_> = (0..50)
                        .map(|i| {
                            event(
                                Category::Lifecycle,
                                "job.completed",
                                base + Duration::microseconds(t * 1_000 + batch * 50 + i),
                            )
                        })
                        .collect();
                    ids.extend(events.iter().map(|e| e.event_id));
                    let mut tx = store.begin().await.expect("begin");
                    let outcome = tx.append_audit(&events).await.expect("append");
                    assert_eq!(outcome.inserted, 50);
                    tx.commit().await.expect("commit");
                }
                ids
            })
        })
        .collect();
    let mut want = HashSet::new();
    for t in futures::future::join_all(tasks).await {
        want.extend(t.expect("task"));
    }
    assert_eq!(want.len(), 1_600);
    let mut tx = begin(&store).await;
    let listed = walk_pages!(500, |page| tx
        .list_audit_events(&AuditFilter::default(), &page));
    assert_eq!(listed.len(), 1_600);
    let got: HashSet<_> = listed.iter().map(|e| e.event_id).collect();
    assert_eq!(got, want);
}

/// Listing: newest first by `(ts, event_id)`, every filter alone and combined, `from`
/// inclusive and `to` exclusive, over every page.
pub async fn audit_list_filters_and_pagination(store: TestStore) {
    let mut all = Vec::new();
    for i in 0..24i64 {
        let category = Category::ALL[(i % 5) as usize];
        let action = ["job.requested", "approval.voted", "role.updated"][(i % 3) as usize];
        let mut e = event(category, action, at(i / 4));
        if i % 4 == 0 {
            e.actor.id = "prn_bob".into();
            e.actor.name = Some("bob".into());
        }
        if i % 6 == 0 {
            e.resource = countersign_domain::Resource::new("approval", "apr_fixed");
        }
        all.push(e);
    }
    append(&store, &all).await;
    newest_first(&mut all);

    let filters = vec![
        AuditFilter::default(),
        AuditFilter {
            category: Some(Category::Auth),
            ..Default::default()
        },
        AuditFilter {
            action: Some("approval.voted".into()),
            ..Default::default()
        },
        AuditFilter {
            actor: Some("prn_bob".into()),
            ..Default::default()
        },
        AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        },
        AuditFilter {
            actor: Some("alice".into()),
            action: Some("job.requested".into()),
            ..Default::default()
        },
        AuditFilter {
            resource_type: Some("approval".into()),
            resource_id: Some("apr_fixed".into()),
            ..Default::default()
        },
        AuditFilter {
            resource_type: Some("job".into()),
            ..Default::default()
        },
        AuditFilter {
            from: Some(at(2)),
            to: Some(at(4)),
            ..Default::default()
        },
        AuditFilter {
            from: Some(at(1)),
            category: Some(Category::Lifecycle),
            ..Default::default()
        },
        AuditFilter {
            to: Some(at(0)),
            ..Default::default()
        },
    ];
    for filter in filters {
        let want: Vec<_> = all
            .iter()
            .filter(|e| filter.category.is_none_or(|c| c == e.category))
            .filter(|e| filter.action.as_ref().is_none_or(|a| *a == e.action))
            .filter(|e| {
                filter
                    .actor
                    .as_ref()
                    .is_none_or(|a| *a == e.actor.id || Some(a) == e.actor.name.as_ref())
            })
            .filter(|e| {
                filter
                    .resource_type
                    .as_ref()
                    .is_none_or(|t| *t == e.resource.kind)
            })
            .filter(|e| {
                filter
                    .resource_id
                    .as_ref()
                    .is_none_or(|r| *r == e.resource.id)
            })
            .filter(|e| filter.from.is_none_or(|f| e.ts >= f))
            .filter(|e| filter.to.is_none_or(|t| e.ts < t))
            .cloned()
            .collect();
        for limit in [1, 4, 100] {
            let mut tx = begin(&store).await;
            let got = walk_pages!(limit, |page| tx.list_audit_events(&filter, &page));
            assert_eq!(got, want, "{filter:?} limit {limit}");
        }
    }
}

/// The export streams `from <= ts < to` oldest first by `(ts, event_id)`, in chunks of at
/// most `chunk_size` (never an empty one), each line the stored wire form, from one snapshot:
/// events committed after it started do not appear.
pub async fn audit_export_order_and_chunks(store: TestStore) {
    let mut inside = Vec::new();
    for i in 0..23 {
        inside.push(event(
            Category::ALL[i % 5],
            "job.requested",
            at(10 + (i as i64) / 3),
        ));
    }
    let outside = vec![
        event(Category::Lifecycle, "job.requested", at(9)),
        event(Category::Lifecycle, "job.requested", at(100)),
        event(Category::Lifecycle, "job.requested", at(101)),
    ];
    append(&store, &inside).await;
    append(&store, &outside).await;
    oldest_first(&mut inside);
    let want: Vec<_> = inside.iter().map(|e| e.event_id).collect();

    for (chunk, sizes) in [
        (5u32, vec![5, 5, 5, 5, 3]),
        (23, vec![23]),
        (1, vec![1; 23]),
        (1_000, vec![23]),
    ] {
        let chunks = export(&store, window(at(10), at(100)), chunk).await;
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            sizes,
            "chunk {chunk}"
        );
        let rows = chunks.concat();
        assert_eq!(ids(&rows), want, "chunk {chunk}");
        for (row, e) in rows.iter().zip(&inside) {
            assert_eq!(row.line, e.to_json_line());
            assert_eq!(row.ts, e.ts);
        }
    }
    // Exactly divisible: no trailing empty chunk.
    let chunks = export(&store, window(at(10), at(14)), 4).await;
    assert_eq!(
        chunks.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4, 4, 4]
    );

    // One snapshot: rows appended while the export runs are not in it.
    let mut stream = store.export_audit(window(at(10), at(100)), 10);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 10);
    let late = event(Category::Lifecycle, "job.requested", at(50));
    append(&store, std::slice::from_ref(&late)).await;
    let mut rest = Vec::new();
    while let Some(c) = stream.next().await {
        rest.extend(c.unwrap());
    }
    assert_eq!(first.len() + rest.len(), 23);
    assert!(!ids(&rest).contains(&late.event_id));
    // A new export sees it.
    let rows = export(&store, window(at(10), at(100)), 100).await.concat();
    assert_eq!(rows.len(), 24);
}

/// `after` resumes strictly after an event, `limit` caps the rows, `category` filters; they
/// combine.
pub async fn audit_export_resume_limit_and_category(store: TestStore) {
    let mut events = Vec::new();
    for i in 0..20 {
        let category = if i % 2 == 0 {
            Category::Config
        } else {
            Category::Auth
        };
        events.push(event(category, "role.updated", at(i / 4)));
    }
    append(&store, &events).await;
    oldest_first(&mut events);
    let all: Vec<_> = events.iter().map(|e| e.event_id).collect();
    let from = at(0);
    let to = at(1_000);

    let resume_at = &events[6];
    let mut f = window(from, to);
    f.after = Some((resume_at.ts, resume_at.event_id));
    assert_eq!(
        ids(&export(&store, f.clone(), 3).await.concat()),
        all[7..].to_vec()
    );

    let mut f = window(from, to);
    f.limit = Some(4);
    let chunks = export(&store, f, 3).await;
    assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 1]);
    assert_eq!(ids(&chunks.concat()), all[..4].to_vec());

    let configs: Vec<_> = events
        .iter()
        .filter(|e| e.category == Category::Config)
        .map(|e| e.event_id)
        .collect();
    let mut f = window(from, to);
    f.category = Some(Category::Config);
    assert_eq!(ids(&export(&store, f.clone(), 4).await.concat()), configs);

    // Resuming a category export after its third row, five at most.
    let third = events.iter().find(|e| e.event_id == configs[2]).unwrap();
    f.after = Some((third.ts, third.event_id));
    f.limit = Some(5);
    assert_eq!(
        ids(&export(&store, f, 2).await.concat()),
        configs[3..8].to_vec()
    );

    // Resuming after the last row, or with limit 0, yields nothing.
    let last = events.last().unwrap();
    let mut f = window(from, to);
    f.after = Some((last.ts, last.event_id));
    assert!(export(&store, f, 5).await.is_empty());
    let mut f = window(from, to);
    f.limit = Some(0);
    assert!(export(&store, f, 5).await.is_empty());
}

/// An export of an empty window ends without a chunk.
pub async fn audit_export_empty_window(store: TestStore) {
    append(&store, &[event(Category::Audit, "audit.exported", at(5))]).await;
    assert!(export(&store, window(at(6), at(60)), 10).await.is_empty());
    assert!(
        export(&store, window(at(0), at(5)), 10).await.is_empty(),
        "`to` is exclusive"
    );
    assert_eq!(
        export(&store, window(at(5), at(6)), 10)
            .await
            .concat()
            .len(),
        1,
        "`from` is inclusive"
    );
}
