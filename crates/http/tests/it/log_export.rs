//! The export of a range of the transparency log's leaves (`first_leaf`, `last_leaf`): an
//! event ingested late with its own older `ts` makes a time window's lines a broken run of
//! leaves, which the offline verifier refuses, while the leaf range of the same log verifies
//! with the very verifier `countersign audit verify export` runs, against the served
//! checkpoint and hash tiles. Bad or mixed parameters are a 400 that audits nothing; the range
//! needs `log.read` beside `audit.export`.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use countersign_domain::{Actor, AuditEvent, Category, Resource};
use countersign_service::tlog::export_range::{verify_export, Expected, ExportError, NoTiles};
use countersign_service::tlog::tiled::TileSource;
use countersign_service::tlog::{Checkpoint, TileId};
use serde_json::Value;
use time::macros::datetime;

use crate::log::{activity, app, get_bytes, sequence, served_checkpoint};
use crate::support::{Db, TestApp};

const WINDOW: &str = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";

/// Hash tiles fetched from the server beforehand, served to the verifier by path (it
/// authenticates each against the checkpoint before use).
struct ServedTiles(HashMap<String, Vec<u8>>);

impl ServedTiles {
    /// The level-0 tile of a log under 256 leaves: all a verifier asks for there.
    async fn of_small_log(app: &TestApp, size: u64) -> Self {
        assert!(size < 256, "one partial tile");
        let tile = TileId {
            level: 0,
            index: 0,
            width: size as u32,
        };
        let (status, bytes) = get_bytes(
            app,
            &format!("/api/v1/log/{}", tile.path()),
            Some(&app.admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", tile.path());
        Self(HashMap::from([(tile.path(), bytes)]))
    }
}

impl TileSource for ServedTiles {
    fn read_tiles(
        &self,
        tiles: &[TileId],
    ) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&t.path())
                    .cloned()
                    .ok_or_else(|| format!("tile {} was not fetched", t.path()).into())
            })
            .collect()
    }
}

/// `GET /api/v1/audit/export?{query}` as `key`, which must answer 200: the body.
async fn export_body(app: &TestApp, key: &str, query: &str) -> String {
    let r = app.get(&format!("/api/v1/audit/export?{query}"), key).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
    r.text
}

fn leaf_indexes(body: &str) -> Vec<u64> {
    body.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["leaf_index"]
                .as_u64()
                .expect("every line sequenced")
        })
        .collect()
}

fn verify(
    body: &str,
    checkpoint: &Checkpoint,
    tiles: Option<&ServedTiles>,
    expected: Expected,
) -> Result<countersign_service::tlog::export_range::VerifiedRange, ExportError> {
    match tiles {
        Some(t) => verify_export(body.as_bytes(), checkpoint, Some(t), expected),
        None => verify_export(body.as_bytes(), checkpoint, None::<&NoTiles>, expected),
    }
}

async fn a_leaf_range_verifies_where_a_window_with_a_late_event_cannot(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 3).await;
    sequence(&app).await;
    // An embedded service's event from long before, ingested now: it sorts first by time but
    // becomes a later leaf.
    let old = AuditEvent::new(
        Category::Access,
        "doc.read",
        Actor::anonymous(),
        Resource::new("doc", "d-1"),
    )
    .at(datetime!(2020-01-01 00:00:00 UTC));
    let r = app
        .send_bytes(
            Method::POST,
            "/api/v1/audit/events",
            &app.admin,
            Some("application/x-ndjson"),
            format!("{}\n", old.to_json_line()).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    activity(&app, 2).await;
    sequence(&app).await;
    let (_, checkpoint, _) = served_checkpoint(&app).await;
    let size = checkpoint.size;
    let late: u64 = db
        .scalar::<i64>(
            "SELECT leaf_index FROM log_leaves WHERE event_id = $1",
            &[&old.event_id.to_string()],
        )
        .await as u64;
    assert!(late > 0 && late < size - 1, "a leaf in the middle: {late}");

    // The window: every event, sequenced, but in time order: not one run of leaves.
    let window = export_body(&app, &app.admin, WINDOW).await;
    let indexes = leaf_indexes(&window);
    assert_eq!(indexes.len() as u64, size);
    assert_eq!(indexes[0], late, "the late event comes first by time");
    let refused = verify(
        &window,
        &checkpoint,
        None,
        Expected {
            first: Some(0),
            last: Some(size - 1),
        },
    )
    .unwrap_err();
    assert!(
        matches!(refused, ExportError::Leaf { line: 1, .. }),
        "{refused}"
    );

    // The whole log as a leaf range: in leaf order, verified from leaf 0 with nothing else.
    let query = format!("first_leaf=0&last_leaf={}", size - 1);
    let r = app
        .get(&format!("/api/v1/audit/export?{query}"), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers["content-disposition"],
        format!(
            "attachment; filename=\"countersign-audit-leaves-0-{}.ndjson\"",
            size - 1
        )
        .as_str()
    );
    assert_eq!(leaf_indexes(&r.text), (0..size).collect::<Vec<_>>());
    let whole = verify(
        &r.text,
        &checkpoint,
        None,
        Expected {
            first: Some(0),
            last: Some(size - 1),
        },
    )
    .unwrap();
    assert_eq!((whole.first, whole.last, whole.lines), (0, size - 1, size));

    // A range from the late event on, against the served tiles.
    let tiles = ServedTiles::of_small_log(&app, size).await;
    let tail = export_body(
        &app,
        &app.admin,
        &format!("first_leaf={late}&last_leaf={}", size - 1),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(tail.lines().next().unwrap()).unwrap()["event_id"],
        old.event_id.to_string()
    );
    let part = verify(
        &tail,
        &checkpoint,
        Some(&tiles),
        Expected {
            first: Some(late),
            last: Some(size - 1),
        },
    )
    .unwrap();
    assert_eq!(part.lines, size - late);
    // An edited line in a range is named.
    let edited = tail.replacen("\"doc.read\"", "\"doc.wrote\"", 1);
    match verify(&edited, &checkpoint, Some(&tiles), Expected::default()).unwrap_err() {
        ExportError::Leaf {
            line, leaf_index, ..
        } => assert_eq!((line, leaf_index), (1, late)),
        other => panic!("{other}"),
    }

    // Leaves past the log's end are not there yet.
    let beyond = export_body(
        &app,
        &app.admin,
        &format!("first_leaf={size}&last_leaf={}", size + 10),
    )
    .await;
    assert!(beyond.is_empty(), "{beyond}");

    // Each leaf export is audited with its range.
    let exported = app.events("audit.exported").await;
    let whole_audit = exported
        .iter()
        .find(|e| e["details"]["first_leaf"] == 0)
        .expect("the whole range's audit event");
    assert_eq!(whole_audit["details"]["last_leaf"], size - 1);
    assert_eq!(whole_audit["details"]["rows"], size);
    assert_eq!(whole_audit["details"]["complete"], true);
    assert!(whole_audit["details"].get("from").is_none());
    assert_eq!(whole_audit["authorization"]["permission"], "audit.export");
    let beyond_audit = exported
        .iter()
        .find(|e| e["details"]["first_leaf"] == size)
        .expect("the empty range's audit event");
    assert_eq!(beyond_audit["details"]["rows"], 0);
}
both_backends!(a_leaf_range_verifies_where_a_window_with_a_late_event_cannot);

async fn bad_or_mixed_leaf_parameters_are_400_and_audit_nothing(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 2).await;
    sequence(&app).await;
    let max_leaves = countersign_service::ServiceConfig::default().export_max_leaves;
    for (query, field) in [
        ("first_leaf=0".to_owned(), "last_leaf: required"),
        ("last_leaf=3".to_owned(), "first_leaf: required"),
        ("first_leaf=x&last_leaf=3".to_owned(), "first_leaf: `x`"),
        ("first_leaf=0&last_leaf=-1".to_owned(), "last_leaf: `-1`"),
        (
            "first_leaf=5&last_leaf=4".to_owned(),
            "last_leaf: must be at least",
        ),
        (
            format!("first_leaf=0&last_leaf={max_leaves}"),
            "last_leaf: a leaf range covers at most",
        ),
        (
            format!("first_leaf=0&last_leaf=3&{WINDOW}"),
            "from: not with first_leaf",
        ),
        (
            "first_leaf=0&last_leaf=3&to=2100-01-01T00:00:00Z".to_owned(),
            "to: not with first_leaf",
        ),
        (
            "first_leaf=0&last_leaf=3&category=auth".to_owned(),
            "category: not with first_leaf",
        ),
        (
            "first_leaf=0&last_leaf=3&limit=2".to_owned(),
            "limit: not with first_leaf",
        ),
        (
            format!(
                "first_leaf=0&last_leaf=3&after={}",
                countersign_domain::EventId::new()
            ),
            "after: not with first_leaf",
        ),
        ("first_leaf=0&last_leaf=3&leaf=1".to_owned(), ""),
        ("".to_owned(), "from: required"),
    ] {
        let r = app
            .get(&format!("/api/v1/audit/export?{query}"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.code(), "invalid_request", "{query}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{query}: {message}");
    }
    assert!(app.events("audit.exported").await.is_empty());
    assert!(app.events("auth.denied").await.is_empty());
}
both_backends!(bad_or_mixed_leaf_parameters_are_400_and_audit_nothing);

async fn a_leaf_range_needs_audit_export_and_log_read(db: Db) {
    let (app, _) = app(db.clone()).await;
    sequence(&app).await;
    // A role that may export the trail but not read the log.
    let now = db.now();
    db.execute(
        &format!(
            "INSERT INTO roles (id, description, builtin, generation, created_at, updated_at) \
             VALUES ('exporter', 'export only', false, 1, {now}, {now})"
        ),
        &[],
    )
    .await;
    db.execute(
        "INSERT INTO role_permissions (role_id, permission) VALUES ('exporter', 'audit.export')",
        &[],
    )
    .await;
    let (_, exporter) = app.principal("exa", &["exporter"]).await;
    let (_, auditor) = app.principal("aud", &["auditor"]).await;
    let (_, requester) = app.principal("req", &["requester"]).await;
    let range = "first_leaf=0&last_leaf=0";

    export_body(&app, &exporter, WINDOW).await;
    let r = app
        .get(&format!("/api/v1/audit/export?{range}"), &exporter)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "forbidden");
    assert!(r.text.contains("log.read"), "{}", r.text);
    let r = app
        .get(&format!("/api/v1/audit/export?{range}"), &requester)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let anonymous = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/export?{range}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(leaf_indexes(&export_body(&app, &auditor, range).await), [0]);

    let denied: Vec<Value> = app.events("auth.denied").await;
    let permissions: Vec<&str> = denied
        .iter()
        .filter_map(|e| e["authorization"]["permission"].as_str())
        .collect();
    assert!(permissions.contains(&"log.read"), "{denied:?}");
    assert!(permissions.contains(&"audit.export"), "{denied:?}");
    // Only the two exports that ran are audited as exports (the window and the auditor's).
    assert_eq!(app.events("audit.exported").await.len(), 2);
}
both_backends!(a_leaf_range_needs_audit_export_and_log_read);
