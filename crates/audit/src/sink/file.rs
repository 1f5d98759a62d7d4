//! [`FileSink`]: an append-only NDJSON file, one event per line.
//!
//! - The file is opened in append mode (created if missing, with mode `0640` on Unix), so a
//!   restarted process continues after the last line and never overwrites.
//! - A crash in the middle of a write can leave a torn last line without its `\n`. On open
//!   (and after a failed write) the sink looks at the file's last byte and, if it is not a
//!   newline, writes one first: the torn fragment stays on a line of its own and every later
//!   event is a whole, parseable line. Readers should skip lines that do not parse.
//! - Each batch is one `write` of all its lines, under a lock, so concurrent batches from one
//!   process never interleave. Several processes appending to one file are not supported.
//! - Durability follows [`FsyncPolicy`]. Blocking file calls run on tokio's blocking pool.
//!
//! Retrying a failed batch may duplicate lines that were written before the failure;
//! consumers de-duplicate on `event_id` (delivery is at least once).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use countersign_domain::AuditEvent;

use super::{to_ndjson, AuditSink};
use crate::error::SinkError;

/// When the file sink calls `fsync` (`File::sync_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every batch, before `write` returns: a successful write is on disk.
    #[default]
    Always,
    /// Never; the operating system writes back when it likes (fast, may lose the last
    /// seconds on power loss, not on a process crash).
    Never,
    /// At most this long after a batch: a background task syncs pending writes every interval
    /// (and a write that finds the last sync older than the interval syncs at once).
    Interval(Duration),
}

/// Appends events to an NDJSON file; see the [module docs](self).
#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: PathBuf,
    policy: FsyncPolicy,
    state: Arc<Mutex<FileState>>,
    syncer: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug)]
struct FileState {
    file: File,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
    /// A write failed: check the tail for a torn line before the next one.
    check_tail: bool,
    policy: FsyncPolicy,
}

impl Drop for FileState {
    fn drop(&mut self) {
        // Best effort: do not leave the last batches only in the page cache.
        if self.dirty && self.policy != FsyncPolicy::Never {
            let _ = self.file.sync_data();
        }
    }
}

fn lock(state: &Mutex<FileState>) -> MutexGuard<'_, FileState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the file is empty or ends with `\n`.
fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// If the file ends in a torn line, end it.
fn repair_tail(file: &mut File) -> io::Result<bool> {
    if ends_with_newline(file)? {
        Ok(false)
    } else {
        file.write_all(b"\n")?;
        Ok(true)
    }
}

fn open_blocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o640);
    }
    let mut file = options.open(path)?;
    if repair_tail(&mut file)? {
        tracing::warn!(
            path = %path.display(),
            "audit file ended in a torn line (an interrupted write); continuing on a new line"
        );
        file.sync_data()?;
    }
    Ok(file)
}

fn sync(state: &mut FileState) -> io::Result<()> {
    state.file.sync_data()?;
    state.dirty = false;
    state.last_sync = Instant::now();
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, SinkError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(SinkError::Io),
        Err(e) => Err(SinkError::Io(io::Error::other(format!(
            "audit file task failed: {e}"
        )))),
    }
}

impl FileSink {
    /// Open (or create) `path` for appending; repairs a torn last line. Must be called inside
    /// a tokio runtime (the `Interval` policy starts a background task). The parent directory
    /// must exist.
    pub async fn open(path: impl Into<PathBuf>, policy: FsyncPolicy) -> Result<Self, SinkError> {
        let path = path.into();
        let p = path.clone();
        let file = blocking(move || open_blocking(&p)).await?;
        let state = Arc::new(Mutex::new(FileState {
            file,
            dirty: false,
            last_sync: Instant::now(),
            check_tail: false,
            policy,
        }));
        let syncer = match policy {
            FsyncPolicy::Interval(every) if !every.is_zero() => {
                Some(tokio::spawn(sync_loop(Arc::downgrade(&state), every)))
            }
            _ => None,
        };
        Ok(Self {
            name: "file".to_owned(),
            path,
            policy,
            state,
            syncer,
        })
    }

    /// Rename the sink (its metrics label); the default is `file`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fsync policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// fsync now if anything was written since the last fsync.
    pub async fn sync(&self) -> Result<(), SinkError> {
        let state = self.state.clone();
        blocking(move || {
            let mut st = lock(&state);
            if st.dirty {
                sync(&mut st)?;
            }
            Ok(())
        })
        .await
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Some(task) = self.syncer.take() {
            task.abort();
        }
    }
}

async fn sync_loop(state: Weak<Mutex<FileState>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let result = blocking(move || {
            let mut st = lock(&state);
            if st.dirty {
                sync(&mut st)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "audit file: periodic fsync failed");
        }
    }
}

#[async_trait]
impl AuditSink for FileSink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let buf = to_ndjson(events).into_bytes();
        let state = self.state.clone();
        let policy = self.policy;
        blocking(move || {
            let mut st = lock(&state);
            if st.check_tail {
                repair_tail(&mut st.file)?;
                st.check_tail = false;
            }
            if let Err(e) = st.file.write_all(&buf) {
                // Part of the batch may be in the file: end that line before the next write.
                st.check_tail = true;
                return Err(e);
            }
            st.dirty = true;
            match policy {
                FsyncPolicy::Always => sync(&mut st)?,
                FsyncPolicy::Interval(every) if st.last_sync.elapsed() >= every => {
                    sync(&mut st)?;
                }
                FsyncPolicy::Interval(_) | FsyncPolicy::Never => {}
            }
            Ok(())
        })
        .await
    }

    fn name(&self) -> &str {
        &self.name
    }
}
