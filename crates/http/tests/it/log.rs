//! The transparency log end to end: the sequencer (every event once, no gap, late commits,
//! concurrent sequencers, a failed batch), the routes (checkpoint, key, tiles, entry bundles,
//! proofs, consistency, `log.read`, `COUNTERSIGN_LOG_PUBLIC`), export lines with
//! `leaf_index`, and the self-check catching events edited behind the triggers' back (its
//! `countersign_log_tamper_detected_total` moving by exactly the leaves edited).
//!
//! What is served is checked the way an auditor would: proofs with the tlog crate against the
//! served checkpoint and key, and the log's root recomputed from the served entry bundles by a
//! naive RFC 6962 implementation written here over `sha2`, sharing no code with the server.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use countersign_domain::{Actor, AuditEvent, Category, Resource, SystemActor};
use countersign_service::tlog::leaf::json_leaf;
use countersign_service::tlog::proof::decode_proof;
use countersign_service::tlog::{
    leaf_hash, verify_consistency, verify_inclusion, EntryBundleId, LogSigner, LogVerifier,
    TlogProof,
};
use countersign_service::{Service, ServiceConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::support::{Db, TestApp};

const ORIGIN: &str = "countersign.test/log";

pub(crate) fn config() -> ServiceConfig {
    ServiceConfig {
        // Sign a checkpoint after every batch that grew the log.
        log_checkpoint_interval: Duration::ZERO,
        log_batch: 100,
        export_max_window: Duration::from_secs(400 * 86_400 * 100),
        ..ServiceConfig::default()
    }
}

pub(crate) fn signer() -> LogSigner {
    LogSigner::generate(ORIGIN).unwrap().0
}

pub(crate) async fn app(db: Db) -> (TestApp, LogSigner) {
    let signer = signer();
    let service = Service::new(db.store(), config()).with_log_signer(signer.clone());
    (TestApp::over(db, service).await, signer)
}

/// A few events through the API (principals, roles, keys).
pub(crate) async fn activity(app: &TestApp, n: usize) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..n {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        app.principal(&format!("p{i}"), &["auditor"]).await;
    }
}

pub(crate) async fn sequence(app: &TestApp) -> u64 {
    let report = app.service.sequence_log().await.expect("sequence");
    report.tree_size
}

/// Every stored event is a leaf exactly once, leaves are 0..n with no gap, nothing waits.
pub(crate) async fn assert_all_sequenced(db: &Db) -> i64 {
    let events = db.count("audit_events").await;
    let leaves: Vec<i64> = db
        .column("SELECT leaf_index FROM log_leaves ORDER BY leaf_index", &[])
        .await;
    assert_eq!(
        leaves,
        (0..events).collect::<Vec<_>>(),
        "leaves 0..n, no gap"
    );
    let distinct: i64 = db
        .scalar("SELECT count(DISTINCT event_id) FROM log_leaves", &[])
        .await;
    assert_eq!(distinct, events, "each event once");
    assert_eq!(db.count("log_pending").await, 0);
    events
}

/// MTH (RFC 6962 §2.1), naively.
fn naive_root(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::new()
            .chain_update([0u8])
            .chain_update(&leaves[0])
            .finalize()
            .into(),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            Sha256::new()
                .chain_update([1u8])
                .chain_update(naive_root(&leaves[..k]))
                .chain_update(naive_root(&leaves[k..]))
                .finalize()
                .into()
        }
    }
}

/// An entry bundle, decoded here: each leaf a 2-byte big-endian length and its bytes.
fn decode_bundle(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        out.push(bytes[2..2 + len].to_vec());
        bytes = &bytes[2 + len..];
    }
    out
}

/// A GET whose body is binary (a tile or a bundle), read as bytes.
pub(crate) async fn get_bytes(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(Method::GET).uri(path);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// The served key and checkpoint, verified.
pub(crate) async fn served_checkpoint(
    app: &TestApp,
) -> (LogVerifier, countersign_service::tlog::Checkpoint, String) {
    let key = app.get("/api/v1/log/key", &app.admin).await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    let verifier = LogVerifier::new(key.text.trim()).unwrap();
    let note = app.get("/api/v1/log/checkpoint", &app.admin).await;
    assert_eq!(note.status, StatusCode::OK, "{}", note.text);
    assert!(note.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let checkpoint = verifier.open_checkpoint(note.text.as_bytes()).unwrap();
    (verifier, checkpoint, note.text)
}

/// The whole export, one JSON value per line.
async fn export(app: &TestApp) -> Vec<Value> {
    let r = app
        .get(
            "/api/v1/audit/export?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn sequencer_sequences_every_event_once(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 3).await;
    let size = sequence(&app).await;
    let events = assert_all_sequenced(&db).await;
    assert_eq!(size, events as u64);
    // New events after a pass are sequenced by the next, after the others.
    activity(&app, 2).await;
    let before = db.count("log_leaves").await;
    assert!(db.count("log_pending").await > 0);
    sequence(&app).await;
    let events = assert_all_sequenced(&db).await;
    assert!(events > before);
    // A pass with nothing queued changes nothing.
    let checkpoints = db.count("log_checkpoints").await;
    let report = app.service.sequence_log().await.unwrap();
    assert_eq!(report.leaves, 0);
    assert_eq!(db.count("log_checkpoints").await, checkpoints);
}
both_backends!(sequencer_sequences_every_event_once);

async fn served_log_verifies_against_its_checkpoint_and_key(db: Db) {
    let (app, signer) = app(db.clone()).await;
    activity(&app, 2).await;
    let first = sequence(&app).await;
    activity(&app, 2).await;
    sequence(&app).await;

    let (verifier, checkpoint, note) = served_checkpoint(&app).await;
    assert_eq!(verifier.verifier_key(), signer.verifier_key());
    assert_eq!(checkpoint.origin, ORIGIN);
    let events = assert_all_sequenced(&db).await as u64;
    assert_eq!(checkpoint.size, events);
    assert!(events < 256, "one entry bundle holds them all");

    // The auditor's view: the export's lines (with leaf_index) are the log's leaves.
    let lines = export(&app).await;
    assert_eq!(lines.len() as u64, events);
    let mut by_index: Vec<(u64, Vec<u8>)> = lines
        .iter()
        .map(|l| {
            (
                l["leaf_index"].as_u64().expect("leaf_index"),
                json_leaf(l.clone()),
            )
        })
        .collect();
    by_index.sort();
    let leaves: Vec<Vec<u8>> = by_index.into_iter().map(|(_, l)| l).collect();
    let bundle = EntryBundleId {
        index: 0,
        width: events as u32,
    };
    let (status, bytes) = get_bytes(
        &app,
        &format!("/api/v1/log/{}", bundle.path()),
        Some(&app.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_bundle(&bytes),
        leaves,
        "entry bundle = exported events"
    );
    assert_eq!(naive_root(&leaves), checkpoint.root.0, "independent root");

    // A hash tile: the leaf hashes, in order.
    let (status, tile) = get_bytes(
        &app,
        &format!("/api/v1/log/tile/0/000.p/{events}"),
        Some(&app.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let hashes: Vec<u8> = leaves.iter().flat_map(|l| leaf_hash(l).0).collect();
    assert_eq!(tile, hashes);
    // A narrower partial tile is the prefix; a wider one or a full one is not there yet.
    let (status, prefix) = get_bytes(&app, "/api/v1/log/tile/0/000.p/2", Some(&app.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(prefix, hashes[..64]);
    let (status, _) = get_bytes(&app, "/api/v1/log/tile/0/000", Some(&app.admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = app.get("/api/v1/log/tile/0/x", &app.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Every event's proof, JSON and tlog-proof, against the served checkpoint.
    for line in &lines {
        let id = line["event_id"].as_str().unwrap();
        let served = app.get(&format!("/api/v1/audit/{id}"), &app.admin).await;
        assert!(
            served.json.get("leaf_index").is_none(),
            "the event itself has no leaf_index"
        );
        let leaf = json_leaf(served.json.clone());
        assert_eq!(leaf, json_leaf(line.clone()));
        let r = app
            .get(&format!("/api/v1/audit/{id}/proof"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["checkpoint"], note);
        assert_eq!(r.json["tree_size"], events);
        let index = r.json["leaf_index"].as_u64().unwrap();
        assert_eq!(Some(index), line["leaf_index"].as_u64());
        let proof: Vec<String> = serde_json::from_value(r.json["inclusion_proof"].clone()).unwrap();
        verify_inclusion(
            &leaf_hash(&leaf),
            index,
            events,
            &checkpoint.root,
            &decode_proof(&proof).unwrap(),
        )
        .unwrap();
        let text = app
            .send(
                Method::GET,
                &format!("/api/v1/audit/{id}/proof"),
                Some(&app.admin),
                None,
                &[("accept", "text/plain")],
            )
            .await;
        assert_eq!(text.status, StatusCode::OK);
        let parsed = TlogProof::parse(text.text.as_bytes()).unwrap();
        assert_eq!(parsed.verify(&verifier, &leaf).unwrap().size, events);
        assert!(parsed.verify(&verifier, b"another leaf").is_err());
    }

    // A proof against the first checkpoint, and the consistency of the two.
    let id = lines.iter().find(|l| l["leaf_index"] == 0).unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(
            &format!("/api/v1/audit/{id}/proof?tree_size={first}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let old = verifier
        .open_checkpoint(r.json["checkpoint"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(old.size, first);
    assert_eq!(old.root.0, naive_root(&leaves[..first as usize]));
    let r = app
        .get(
            &format!("/api/v1/log/consistency?old={first}&new={events}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let proof: Vec<String> = serde_json::from_value(r.json["proof"].clone()).unwrap();
    verify_consistency(
        first,
        events,
        &old.root,
        &checkpoint.root,
        &decode_proof(&proof).unwrap(),
    )
    .unwrap();
    let mid = first + 1;
    let r = app
        .get(
            &format!("/api/v1/log/consistency?old={mid}&new={events}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let proof: Vec<String> = serde_json::from_value(r.json["proof"].clone()).unwrap();
    let mid_root = countersign_service::tlog::Hash(naive_root(&leaves[..mid as usize]));
    verify_consistency(
        mid,
        events,
        &mid_root,
        &checkpoint.root,
        &decode_proof(&proof).unwrap(),
    )
    .unwrap();

    // Bad input: clear 4xx, nothing changed.
    for (path, status) in [
        (
            format!("/api/v1/log/consistency?old={}&new=1", events),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/log/consistency?old=1&new={}", events + 1),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/log/consistency?old=x&new=1".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/log/consistency?new=1".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/audit/{id}/proof?tree_size=x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/audit/{id}/proof?tree_size=3&x=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/audit/{id}/proof?tree_size={}", events + 7),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/audit/{}/proof", countersign_domain::EventId::new()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/log/tile/entries/001".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/log/tile/entries/000.p/0".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert!(!r.code().is_empty(), "{path}: a JSON error");
    }
}
both_backends!(served_log_verifies_against_its_checkpoint_and_key);

async fn unsequenced_event_proof_is_a_clear_409(db: Db) {
    let (app, signer) = app(db.clone()).await;
    sequence(&app).await;
    activity(&app, 1).await;
    let pending: Vec<String> = db.column("SELECT event_id FROM log_pending", &[]).await;
    let r = app
        .get(&format!("/api/v1/audit/{}/proof", pending[0]), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "not_sequenced");
    // Sequenced but not yet under a checkpoint: the same answer.
    let unhurried = Service::new(
        db.store(),
        ServiceConfig {
            log_checkpoint_interval: Duration::from_secs(3600),
            log_checkpoint_leaves: 1_000_000,
            ..config()
        },
    )
    .with_log_signer(signer);
    let report = unhurried.sequence_log().await.unwrap();
    assert!(report.leaves > 0 && report.checkpoints == 0, "{report:?}");
    let r = app
        .get(&format!("/api/v1/audit/{}/proof", pending[0]), &app.admin)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.code(), "not_sequenced");
    // Export lines carry leaf_index only once sequenced.
    let lines = export(&app).await;
    assert!(lines.iter().all(|l| l.get("leaf_index").is_some()));
    activity(&app, 1).await;
    let lines = export(&app).await;
    assert!(lines.iter().any(|l| l.get("leaf_index").is_none()));
}
both_backends!(unsequenced_event_proof_is_a_clear_409);

async fn reading_the_log_needs_log_read(db: Db) {
    let (app, _) = app(db.clone()).await;
    sequence(&app).await;
    let (_, auditor) = app.principal("aude", &["auditor"]).await;
    let (_, requester) = app.principal("reqi", &["requester"]).await;
    for path in [
        "/api/v1/log/checkpoint",
        "/api/v1/log/key",
        "/api/v1/log/tile/0/000.p/1",
    ] {
        assert_eq!(
            app.get(path, &auditor).await.status,
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            app.get(path, &requester).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let anonymous = app.send(Method::GET, path, None, None, &[]).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}
both_backends!(reading_the_log_needs_log_read);

async fn a_public_log_serves_checkpoint_key_and_tiles_to_anyone(db: Db) {
    let signer = signer();
    let service = Service::new(
        db.store(),
        ServiceConfig {
            log_public: true,
            ..config()
        },
    )
    .with_log_signer(signer.clone());
    let app = TestApp::over(db, service).await;
    sequence(&app).await;
    for path in [
        "/api/v1/log/checkpoint",
        "/api/v1/log/key",
        "/api/v1/log/tile/0/000.p/1",
    ] {
        let r = app.send(Method::GET, path, None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let key = app
        .send(Method::GET, "/api/v1/log/key", None, None, &[])
        .await;
    assert_eq!(key.text.trim(), signer.verifier_key());
    // Entry bundles hold the events: never public.
    let r = app
        .send(
            Method::GET,
            "/api/v1/log/tile/entries/000.p/1",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .send(
            Method::GET,
            "/api/v1/log/consistency?old=0&new=1",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
both_backends!(a_public_log_serves_checkpoint_key_and_tiles_to_anyone);

/// An audit event of the scheduler's, appended straight through a store transaction.
fn system_event() -> AuditEvent {
    AuditEvent::new(
        Category::Lifecycle,
        "job.lease_expired",
        Actor::system(SystemActor::Scheduler),
        Resource::new("job", countersign_domain::JobId::new()),
    )
}

async fn a_late_commit_is_sequenced_later_never_skipped(db: Db) {
    let (app, _) = app(db.clone()).await;
    sequence(&app).await;
    // Transaction A stores an event and stays open.
    let mut a = db.store().begin().await.unwrap();
    let late = system_event();
    a.append_audit(std::slice::from_ref(&late)).await.unwrap();
    // B's events commit and are sequenced while A is open.
    activity(&app, 2).await;
    sequence(&app).await;
    let late_id = late.event_id.to_string();
    let leaf: Option<i64> = db
        .optional(
            "SELECT leaf_index FROM log_leaves WHERE event_id = $1",
            &[&late_id],
        )
        .await;
    assert_eq!(leaf, None, "not visible, not sequenced");
    // A commits; the next pass sequences it, after B's, with no gap.
    a.commit().await.unwrap();
    sequence(&app).await;
    let events = assert_all_sequenced(&db).await;
    let leaf: i64 = db
        .scalar(
            "SELECT leaf_index FROM log_leaves WHERE event_id = $1",
            &[&late_id],
        )
        .await;
    assert_eq!(leaf, events - 1);
}
// SQLite has one writer at a time: no transaction can stay open beside a sequencer.
postgres_only!(a_late_commit_is_sequenced_later_never_skipped);

async fn concurrent_sequencers_never_duplicate_or_skip(db: Db) {
    let (app, _) = app(db.clone()).await;
    // 700 events over several tiles, in several appends.
    for _ in 0..7 {
        let events: Vec<AuditEvent> = (0..100).map(|_| system_event()).collect();
        let mut tx = db.store().begin().await.unwrap();
        tx.append_audit(&events).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let service = app.service.clone();
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut leaves = 0;
            loop {
                leaves += service.sequence_log().await.expect("sequence").leaves;
                if db.count("log_pending").await == 0 {
                    return leaves;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let events = assert_all_sequenced(&db).await;
    assert_eq!(
        total, events as u64,
        "the sequencers' leaves add up, none twice"
    );
    assert_served_leaves_make_the_checkpoint(&app, events as u64).await;
}
both_backends!(concurrent_sequencers_never_duplicate_or_skip);

/// The checkpoint covers `events` leaves, its root is the root of the served entry bundles'
/// leaves in index order (so every leaf is the event as stored and served), and no event is
/// a leaf twice.
async fn assert_served_leaves_make_the_checkpoint(app: &TestApp, events: u64) {
    let (_, checkpoint, _) = served_checkpoint(app).await;
    assert_eq!(checkpoint.size, events);
    let mut leaves = Vec::new();
    for start in (0..events).step_by(256) {
        let width = (events - start).min(256) as u32;
        let bundle = EntryBundleId {
            index: start / 256,
            width,
        };
        let (status, bytes) = get_bytes(
            app,
            &format!("/api/v1/log/{}", bundle.path()),
            Some(&app.admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", bundle.path());
        leaves.extend(decode_bundle(&bytes));
    }
    assert_eq!(naive_root(&leaves), checkpoint.root.0);
    let mut seen = BTreeSet::new();
    for leaf in &leaves {
        let event: Value = serde_json::from_slice(leaf).unwrap();
        assert!(seen.insert(event["event_id"].as_str().unwrap().to_owned()));
    }
}

/// Full batches while writers keep appending, some of them committing late (after events
/// queued behind them were sequenced). Two sequencers race. Every event is still a leaf
/// exactly once, with no gap, and every leaf is the event as stored: a late commit is taken
/// by the batch that reads it, never skipped, and a queued hash never lands on another event.
async fn full_batches_take_late_commits_and_skip_nothing(db: Db) {
    let signer = signer();
    let service = Service::new(
        db.store(),
        ServiceConfig {
            log_batch: 20,
            ..config()
        },
    )
    .with_log_signer(signer);
    let app = TestApp::over(db.clone(), service).await;
    let before = db.count("audit_events").await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u32 {
        let store = db.store();
        writers.push(tokio::spawn(async move {
            for round in 0..12u32 {
                let events: Vec<AuditEvent> = (0..15).map(|_| system_event()).collect();
                let mut tx = store.begin().await.unwrap();
                tx.append_audit(&events).await.unwrap();
                // Some transactions stay open across other writers' commits and the
                // sequencers' batches before committing.
                if (round + w) % 3 == 0 {
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                tx.commit().await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut sequencers = Vec::new();
    for _ in 0..2 {
        let service = app.service.clone();
        let done = done.clone();
        sequencers.push(tokio::spawn(async move {
            let mut leaves = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                leaves += service.sequence_log().await.expect("sequence").leaves;
                if finished {
                    return leaves;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut total = 0;
    for s in sequencers {
        total += s.await.unwrap();
    }
    // Whatever the last passes left (a sequencer may have yielded to the other).
    total += app.service.sequence_log().await.unwrap().leaves;
    let events = assert_all_sequenced(&db).await;
    assert_eq!(events, before + 3 * 12 * 15);
    assert_eq!(total, events as u64, "no leaf twice");
    assert_served_leaves_make_the_checkpoint(&app, events as u64).await;
}
// Transactions stay open beside the sequencer: PostgreSQL only (SQLite has one writer).
postgres_only!(full_batches_take_late_commits_and_skip_nothing);

async fn a_failed_batch_leaves_the_queue_intact(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 2).await;
    let queued = db.count("log_pending").await;
    // The batch's last write fails, as if the sequencer died before its commit.
    let (create, drop) = match &db {
        Db::Postgres(_) => (
            vec![
                "CREATE FUNCTION fail_checkpoint() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
                "CREATE TRIGGER fail_checkpoint BEFORE INSERT ON log_checkpoints \
                 FOR EACH ROW EXECUTE FUNCTION fail_checkpoint()",
            ],
            "DROP TRIGGER fail_checkpoint ON log_checkpoints",
        ),
        Db::Sqlite { .. } => (
            vec![
                "CREATE TRIGGER fail_checkpoint BEFORE INSERT ON log_checkpoints \
                 BEGIN SELECT RAISE(ABORT, 'injected: failure'); END",
            ],
            "DROP TRIGGER fail_checkpoint",
        ),
    };
    for sql in create {
        db.execute(sql, &[]).await;
    }
    assert!(app.service.sequence_log().await.is_err());
    assert_eq!(db.count("log_pending").await, queued, "the queue is intact");
    assert_eq!(db.count("log_leaves").await, 0);
    assert_eq!(db.count("log_tiles").await, 0);
    let size: i64 = db.scalar("SELECT tree_size FROM log_state", &[]).await;
    assert_eq!(size, 0);
    db.execute(drop, &[]).await;
    sequence(&app).await;
    assert_all_sequenced(&db).await;
}
both_backends!(a_failed_batch_leaves_the_queue_intact);

/// Events queued without a leaf hash (stored before the column existed) are hashed from their
/// bodies in the batch, beside ones that carry it; the leaves served from the bodies make the
/// signed root either way.
async fn events_queued_without_a_hash_are_hashed_from_their_bodies(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 3).await;
    let queued = db.count("log_pending").await;
    let cleared = db
        .execute(
            "UPDATE log_pending SET leaf_hash = NULL WHERE seq % 3 <> 0",
            &[],
        )
        .await;
    assert!(
        cleared > 0 && (cleared as i64) < queued,
        "{cleared} of {queued}"
    );
    let size = sequence(&app).await;
    let events = assert_all_sequenced(&db).await;
    assert_eq!(size, events as u64);
    assert_served_leaves_make_the_checkpoint(&app, events as u64).await;
    let check = app.service.self_check_log().await.unwrap();
    assert!(check.tampered.is_empty(), "{check:?}");
}
both_backends!(events_queued_without_a_hash_are_hashed_from_their_bodies);

/// The log seals the leaf hash the writer stored, so a body rewritten by the database owner
/// before its event is sequenced does not slip into the log as if written so: the self-check
/// names it, and the served leaves no longer make the signed root.
async fn an_edit_before_sealing_is_caught_by_the_self_check(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 2).await;
    let id: String = db
        .scalar(
            "SELECT event_id FROM log_pending ORDER BY seq LIMIT 1 OFFSET 2",
            &[],
        )
        .await;
    edit_stored_event(&db, &id).await;
    sequence(&app).await;
    let report = app.service.self_check_log().await.unwrap();
    assert_eq!(report.tampered.len(), 1, "{report:?}");
    assert_eq!(report.tampered[0].leaf_index, 2);
    assert_eq!(report.tampered[0].event_id.map(|e| e.to_string()), Some(id));
}
// Raises the tamper counter, which the self-check test reads: alone.
both_backends!(an_edit_before_sealing_is_caught_by_the_self_check, alone);

/// As the database owner: switch the append-only protection off and rewrite the stored body
/// of event `id`, naming another resource.
async fn edit_stored_event(db: &Db, id: &str) {
    let body: String = db
        .scalar(
            "SELECT CAST(body AS TEXT) FROM audit_events WHERE event_id = $1",
            &[id],
        )
        .await;
    let mut edited: Value = serde_json::from_str(&body).unwrap();
    edited["resource"]["id"] = Value::from("someone-else");
    let edited = edited.to_string();
    match db {
        Db::Postgres(_) => {
            db.execute(
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update",
                &[],
            )
            .await;
            db.execute(
                "UPDATE audit_events SET body = CAST($1 AS json) WHERE event_id = $2",
                &[&edited, id],
            )
            .await;
            db.execute(
                "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update",
                &[],
            )
            .await;
        }
        Db::Sqlite { .. } => {
            db.execute("DROP TRIGGER IF EXISTS audit_events_no_update", &[])
                .await;
            db.execute(
                "UPDATE audit_events SET body = $1 WHERE event_id = $2",
                &[&edited, id],
            )
            .await;
        }
    }
}

const TAMPER_DETECTED: &str = "countersign_log_tamper_detected_total";
const SELF_CHECK_LEAVES: &str = "countersign_log_self_check_leaves_total";

// Reads counters of the process-wide metrics recorder: alone.
both_backends!(the_self_check_catches_an_edited_event, alone);
async fn the_self_check_catches_an_edited_event(db: Db) {
    let (app, _) = app(db.clone()).await;
    activity(&app, 2).await;
    sequence(&app).await;
    let clean = app.service.self_check_log().await.unwrap();
    assert!(clean.tampered.is_empty(), "{clean:?}");
    assert!(clean.end > clean.start);
    assert_eq!(clean.end, clean.tree_size, "one pass covers this small log");

    // Leaves 3 and 4 are edited; leaf 3 is followed through to its proof.
    let id: String = db
        .scalar("SELECT event_id FROM log_leaves WHERE leaf_index = 3", &[])
        .await;
    let other: String = db
        .scalar("SELECT event_id FROM log_leaves WHERE leaf_index = 4", &[])
        .await;
    let proof = app
        .get(&format!("/api/v1/audit/{id}/proof"), &app.admin)
        .await;
    assert_eq!(proof.status, StatusCode::OK);
    edit_stored_event(&db, &id).await;
    edit_stored_event(&db, &other).await;

    let tampered_before = app.metric(TAMPER_DETECTED, &[]).await;
    let checked_before = app.metric(SELF_CHECK_LEAVES, &[]).await;
    let report = app.service.self_check_log().await.unwrap();
    assert_eq!(report.tampered.len(), 2, "{report:?}");
    assert_eq!(report.tampered[0].leaf_index, 3);
    assert_eq!(
        report.tampered[0].event_id.map(|e| e.to_string()),
        Some(id.clone())
    );
    assert_eq!(report.tampered[1].leaf_index, 4);
    // The counter moved by exactly the leaves found edited, and the leaves compared by the
    // pass's window.
    assert_eq!(
        app.metric(TAMPER_DETECTED, &[]).await - tampered_before,
        2.0
    );
    assert_eq!(
        app.metric(SELF_CHECK_LEAVES, &[]).await - checked_before,
        (report.end - report.start) as f64
    );
    let mut alarms = app.events("log.tamper_detected").await;
    alarms.sort_by_key(|a| a["details"]["leaf_index"].as_u64());
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    assert_eq!(alarms[0]["category"], "audit");
    assert_eq!(alarms[0]["details"]["leaf_index"], 3);
    assert_eq!(alarms[0]["details"]["event_id"], id);
    assert_eq!(alarms[1]["details"]["event_id"], other);
    let messages: i64 = db
        .scalar(
            "SELECT count(*) FROM outbox_messages WHERE event = 'log.tamper_detected'",
            &[],
        )
        .await;
    assert_eq!(messages, 2, "webhooks are told");

    // The event as served now no longer verifies against the proof.
    let served = app.get(&format!("/api/v1/audit/{id}"), &app.admin).await;
    let leaf = json_leaf(served.json.clone());
    let text = app
        .send(
            Method::GET,
            &format!("/api/v1/audit/{id}/proof"),
            Some(&app.admin),
            None,
            &[("accept", "text/plain")],
        )
        .await;
    let key = app.get("/api/v1/log/key", &app.admin).await;
    let verifier = LogVerifier::new(key.text.trim()).unwrap();
    assert!(TlogProof::parse(text.text.as_bytes())
        .unwrap()
        .verify(&verifier, &leaf)
        .is_err());
}
