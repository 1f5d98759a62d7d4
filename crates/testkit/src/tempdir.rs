//! Scratch directories (`tempfile`), removed with everything in them on drop.

use std::path::{Path, PathBuf};

/// A scratch directory named after the test that made it (`countersign-<tag>-…`).
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("countersign-{tag}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a scratch directory for {tag}: {e}"));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// The `sqlite://` URL of the database file `countersign.db` in this directory (made
    /// when missing).
    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.join("countersign.db").display()
        )
    }

    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}
