//! The transparency log survives `kill -9`: the real scheduler binary, with a signing key and a
//! small `COUNTERSIGN_LOG_BATCH`, seals a backlog of tens of thousands of queued events on
//! PostgreSQL and is killed with SIGKILL at several random moments while it does, then
//! restarted. Between kills and at the end: every event a leaf exactly once, leaves `0..n` with
//! no gap, the head's size the leaves'. At the end: the stored root and the latest signed
//! checkpoint's are the root recomputed from the leaves, every stored hash tile is the one the
//! leaves give, and the export of leaves `[0, n - 1]` the server answers verifies against the
//! checkpoint.
//!
//! The moments are random (the seed is printed, so a failure can be replayed with
//! `LOG_CRASH_SEED`); each kill comes once the restarted scheduler has sealed something, so it
//! lands in the middle of the sealing, never before it started.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use countersign_domain::{Actor, AuditEvent, Category, JobId, Resource, SystemActor};
use countersign_postgres::PgStore;
use countersign_service::store::Store;
use countersign_service::tlog::export_range::{verify_export, Expected, NoTiles};
use countersign_service::tlog::leaf::event_leaf;
use countersign_service::tlog::{LogVerifier, MemoryLog, TileId};
use sqlx::PgPool;

use crate::support::{
    admin_key, free_port, log_keygen, scheduler_binary, server_binary, spawn, PgDatabase, Proc,
    TempDir,
};

/// Queued events: a backlog of hundreds of batches.
const EVENTS: i64 = 20_000;
/// Events sealed per transaction.
const BATCH: &str = "100";
/// Kills attempted while sealing.
const KILLS: usize = 5;

/// xorshift64*: enough randomness for kill moments, replayable from its seed.
struct Moments(u64);

impl Moments {
    fn new() -> Self {
        let seed = std::env::var("LOG_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("kill moments: LOG_CRASH_SEED={seed}");
        Self(seed)
    }

    /// A delay of up to `max_ms` milliseconds.
    fn delay(&mut self, max_ms: u64) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        Duration::from_millis(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (max_ms + 1))
    }
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every leaf is a stored event, each at most once, numbered `0..n` with no gap, and the
/// head's size is `n`: what a committed state must show, whenever the sequencer died. The
/// facts are read in one statement, so from one snapshot: a killed scheduler's last COMMIT
/// may still land while they are read.
async fn assert_leaves_whole(pool: &PgPool) -> i64 {
    let (leaves, distinct, top, size, orphans, queued_and_sealed): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM log_leaves), \
                    (SELECT count(DISTINCT event_id) FROM log_leaves), \
                    (SELECT COALESCE(max(leaf_index) + 1, 0) FROM log_leaves), \
                    (SELECT tree_size FROM log_state), \
                    (SELECT count(*) FROM log_leaves l LEFT JOIN audit_events a USING (event_id) \
                     WHERE a.event_id IS NULL), \
                    (SELECT count(*) FROM log_pending p JOIN log_leaves l USING (event_id))",
        )
        .fetch_one(pool)
        .await
        .expect("reading the log's state");
    assert_eq!(distinct, leaves, "an event sealed twice");
    assert_eq!(top, leaves, "a gap in the leaf indexes");
    assert_eq!(size, leaves, "the head's size is not the leaves'");
    assert_eq!(orphans, 0, "a leaf without its event");
    assert_eq!(queued_and_sealed, 0, "a sealed event still queued");
    leaves
}

fn start_scheduler(url: &str, key_file: &str, scratch: &std::path::Path) -> Proc {
    let port = free_port();
    let mut p = spawn(
        "countersign-scheduler",
        scheduler_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.to_owned()),
            ("COUNTERSIGN_SCHEDULER_LISTEN", format!("127.0.0.1:{port}")),
            ("COUNTERSIGN_SCHEDULER_TICK", "100ms".to_owned()),
            ("COUNTERSIGN_LOG_SIGNING_KEY_FILE", key_file.to_owned()),
            ("COUNTERSIGN_LOG_BATCH", BATCH.to_owned()),
            ("COUNTERSIGN_LOG_CHECKPOINT_LEAVES", "1000".to_owned()),
        ],
        scratch,
    );
    p.wait_for_status(port, "/healthz", 200);
    p
}

/// Poll until `done` holds (the scheduler must keep running), within `limit`.
async fn wait_until(
    scheduler: &mut Proc,
    limit: Duration,
    what: &str,
    mut done: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        scheduler.assert_running();
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}:\n{}",
            scheduler.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_while_sealing_loses_and_doubles_nothing() {
    let db = PgDatabase::create().await;
    let scratch = TempDir::new("log-crash");
    let key_file = scratch.path().join("log.key").display().to_string();
    let verifier_key = log_keygen("countersign.test/crash", &key_file, scratch.path());
    let verifier = LogVerifier::new(&verifier_key).unwrap();

    // The backlog, queued by the store as it is appended.
    let store = PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    for _ in 0..EVENTS / 1000 {
        let events: Vec<AuditEvent> = (0..1000)
            .map(|_| {
                AuditEvent::new(
                    Category::Lifecycle,
                    "job.lease_expired",
                    Actor::system(SystemActor::Scheduler),
                    Resource::new("job", JobId::new()),
                )
            })
            .collect();
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(&events).await.unwrap();
        tx.commit().await.unwrap();
    }
    let pool = store.pool().clone();
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM log_pending").await,
        EVENTS
    );

    let mut moments = Moments::new();
    let mut mid_seal = Vec::new();
    for _ in 0..KILLS {
        let mut scheduler = start_scheduler(&db.url, &key_file, scratch.path());
        let before = assert_leaves_whole(&pool).await;
        if before == EVENTS {
            scheduler.terminate();
            break;
        }
        // Once this run has sealed a batch, at a random moment after.
        wait_until(
            &mut scheduler,
            Duration::from_secs(60),
            "sealing resumes",
            async || scalar(&pool, "SELECT count(*) FROM log_leaves").await > before,
        )
        .await;
        tokio::time::sleep(moments.delay(800)).await;
        let status = scheduler.signal("KILL");
        assert!(!status.success(), "killed, not exited: {status}");
        let sealed = assert_leaves_whole(&pool).await;
        assert!(sealed >= before);
        if sealed < EVENTS {
            mid_seal.push(sealed);
        }
    }
    eprintln!("killed mid-seal at {mid_seal:?} of {EVENTS} leaves");
    assert!(
        mid_seal.len() >= 3,
        "the backlog was sealed before three kills landed: {mid_seal:?}"
    );

    // A last run seals the rest and signs a checkpoint of the whole backlog.
    let mut scheduler = start_scheduler(&db.url, &key_file, scratch.path());
    wait_until(
        &mut scheduler,
        Duration::from_secs(180),
        "the backlog sealed",
        async || {
            scalar(
                &pool,
                "SELECT COALESCE(max(tree_size), 0) FROM log_checkpoints",
            )
            .await
                == EVENTS
        },
    )
    .await;
    assert!(scheduler.terminate().success());
    assert_eq!(assert_leaves_whole(&pool).await, EVENTS);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM log_pending").await, 0);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM audit_events").await,
        EVENTS
    );

    // The root and every tile, recomputed from the leaves.
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(a.body AS TEXT) FROM log_leaves l JOIN audit_events a USING (event_id) \
         ORDER BY l.leaf_index",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut log = MemoryLog::new();
    for body in &bodies {
        let event: AuditEvent = serde_json::from_str(body).unwrap();
        log.append(&event_leaf(&event));
    }
    let root = log.root();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT root FROM log_state")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, root.0, "the head's root");
    let note: String = sqlx::query_scalar("SELECT note FROM log_checkpoints WHERE tree_size = $1")
        .bind(EVENTS)
        .fetch_one(&pool)
        .await
        .unwrap();
    let checkpoint = verifier.open_checkpoint(note.as_bytes()).unwrap();
    assert_eq!((checkpoint.size, checkpoint.root), (EVENTS as u64, root));
    let tiles: Vec<(i32, i64, i32, Vec<u8>)> =
        sqlx::query_as("SELECT level, idx, width, hashes FROM log_tiles ORDER BY level, idx")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        tiles.len() as i64 > EVENTS / 256,
        "every level-0 tile at least"
    );
    for (level, index, width, hashes) in tiles {
        let tile = TileId {
            level: level as u8,
            index: index as u64,
            width: width as u32,
        };
        assert_eq!(log.tile_data(tile).unwrap(), hashes, "tile {}", tile.path());
    }

    // The server's export of the whole range verifies against the signed checkpoint.
    let admin = admin_key(&db.url, scratch.path());
    let port = free_port();
    let mut server = spawn(
        "countersign-server",
        server_binary(),
        &["serve"],
        &[
            ("COUNTERSIGN_DATABASE_URL", db.url.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
            ("COUNTERSIGN_LOG_VERIFIER_KEY", verifier_key),
        ],
        scratch.path(),
    );
    server.wait_for_status(port, "/readyz", 200);
    // Streamed (chunked), so read with a real client.
    let reply = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/audit/export?first_leaf=0&last_leaf={}",
            EVENTS - 1
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let export = reply.text().await.unwrap();
    let verified = verify_export(
        export.as_bytes(),
        &checkpoint,
        None::<&NoTiles>,
        Expected {
            first: Some(0),
            last: Some(EVENTS as u64 - 1),
        },
    )
    .unwrap();
    assert_eq!(verified.lines, EVENTS as u64);
    assert!(server.terminate().success());
}
