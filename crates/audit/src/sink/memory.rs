//! [`MemorySink`]: keeps batches in memory and fails on command; for tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use countersign_domain::AuditEvent;

use super::AuditSink;
use crate::error::SinkError;

/// A sink that records every successful batch in memory, and fails every write with
/// [`SinkError::Unavailable`] while [`set_failing`](MemorySink::set_failing) is on. Made for
/// tests of code that embeds a [`Recorder`](crate::Recorder).
#[derive(Debug)]
pub struct MemorySink {
    name: String,
    failing: AtomicBool,
    batches: Mutex<Vec<Vec<AuditEvent>>>,
    attempts: Mutex<u64>,
}

impl Default for MemorySink {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySink {
    /// An empty, healthy sink named `memory`.
    pub fn new() -> Self {
        Self::named("memory")
    }

    /// An empty, healthy sink with its own name (metrics label).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            failing: AtomicBool::new(false),
            batches: Mutex::new(Vec::new()),
            attempts: Mutex::new(0),
        }
    }

    /// Make every following write fail (`true`) or succeed (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The batches written successfully so far, in order.
    pub fn batches(&self) -> Vec<Vec<AuditEvent>> {
        lock(&self.batches).clone()
    }

    /// Every event written successfully so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.batches).iter().flatten().cloned().collect()
    }

    /// How many times `write` was called with a non-empty batch, failures included.
    pub fn attempts(&self) -> u64 {
        *lock(&self.attempts)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl AuditSink for MemorySink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        *lock(&self.attempts) += 1;
        if self.failing.load(Ordering::SeqCst) {
            return Err(SinkError::Unavailable(format!(
                "memory sink `{}` is set to fail",
                self.name
            )));
        }
        lock(&self.batches).push(events.to_vec());
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
