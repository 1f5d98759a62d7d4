//! Shared helpers for the SQLite backend's tests: fresh migrated databases in files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use countersign_domain::KeyId;
use countersign_sqlite::SqliteStore;
use countersign_store::conformance::TestStore;
use countersign_store::{ExportFilter, ExportRow, KeyAuthRecord, Store, StoreResult, Transaction};
use countersign_testkit::TempDir;
use futures::stream::BoxStream;

/// A database file in a scratch directory of its own, removed (with its `-wal` and `-shm`
/// companions) when dropped.
#[derive(Debug)]
pub struct TempDb {
    path: PathBuf,
    _dir: TempDir,
}

impl TempDb {
    pub fn new() -> Self {
        let dir = TempDir::new("sqlite");
        Self {
            path: dir.join("countersign.db"),
            _dir: dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `sqlite://` URL of the file, creating it when missing.
    pub fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }

    /// A store on this file with default options, migrated.
    pub async fn store(&self) -> SqliteStore {
        let store = SqliteStore::connect(&self.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Default for TempDb {
    fn default() -> Self {
        Self::new()
    }
}

/// A store on its own temp file, which goes when the store does.
#[derive(Debug)]
pub struct TempStore {
    // Dropped first: the pool, then the files.
    store: SqliteStore,
    _db: TempDb,
}

impl TempStore {
    pub async fn new() -> TempStore {
        let db = TempDb::new();
        let store = db.store().await;
        TempStore { store, _db: db }
    }
}

#[async_trait]
impl Store for TempStore {
    fn backend(&self) -> &'static str {
        self.store.backend()
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.store.begin().await
    }

    async fn key_auth_record(&self, id: KeyId) -> StoreResult<Option<KeyAuthRecord>> {
        self.store.key_auth_record(id).await
    }

    async fn readiness(&self) -> StoreResult<()> {
        self.store.readiness().await
    }

    fn export_audit(
        &self,
        filter: ExportFilter,
        chunk_size: u32,
    ) -> BoxStream<'static, StoreResult<Vec<ExportRow>>> {
        self.store.export_audit(filter, chunk_size)
    }
    async fn stream_messages(
        &self,
        after: countersign_store::StreamPosition,
        limit: u32,
    ) -> StoreResult<countersign_store::StreamBatch> {
        self.store.stream_messages(after, limit).await
    }

    async fn stream_position(
        &self,
        id: countersign_domain::MessageId,
    ) -> StoreResult<Option<countersign_store::StreamPosition>> {
        self.store.stream_position(id).await
    }

    async fn stream_head(&self) -> StoreResult<countersign_store::StreamPosition> {
        self.store.stream_head().await
    }
}

/// The conformance store for one `#[sqlx::test]`: a fresh, migrated database file of its own
/// in the temp directory, opened with the store's real settings (WAL, busy timeout, a pool of
/// several connections) and removed when the test ends. (The empty database sqlx makes for
/// the test is not used; sqlx removes it.)
pub async fn conformance_store(unused: sqlx::SqlitePool) -> TestStore {
    unused.close().await;
    Arc::new(TempStore::new().await)
}
