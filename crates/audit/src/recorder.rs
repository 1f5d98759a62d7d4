//! [`Recorder`]: the one handle an embedding service records through.
//!
//! # Strict mode
//!
//! [`Recorder::record`] validates the event and writes it through the sink (with the
//! configured retries) before returning. `Ok(Recorded::Written)` means the sink stored it;
//! an `Err` means it did not, and the caller should refuse the action it was about to take
//! ("no action without its audit event").
//!
//! # Async mode
//!
//! `record` validates the event and `try_send`s it into a bounded queue; it never waits. A
//! background task takes events off the queue and writes them in batches of up to
//! `batch_size`, or whatever has arrived once `flush_interval` has passed.
//!
//! Events are **dropped**, never blocked on, when the queue is full (`record` returns
//! `Ok(Recorded::Dropped)`) or when a batch's write fails after the retries. Every dropped
//! event is counted in `countersign_audit_writes_total{sink, status="dropped"}`, and the
//! recorder remembers how many it lost and since when. The next write the sink accepts
//! carries, first, **one** `audit.loss` event:
//!
//! ```json
//! {"category": "audit", "action": "audit.loss",
//!  "actor": <the configured service actor>,
//!  "resource": {"type": "audit_sink", "id": "<sink name>"},
//!  "details": {"dropped": 42, "since": "2026-05-20T00:00:00Z"}}
//! ```
//!
//! so the loss is visible in the trail itself. If nothing else is recorded, the writer still
//! tries to deliver the loss event at every flush interval. [`Recorder::flush`] writes
//! everything queued before it; [`Recorder::shutdown`] stops accepting events, drains the
//! queue and waits for the last write. Dropping the last clone of a recorder without
//! `shutdown` lets the writer drain in the background, if the runtime lives long enough.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use countersign_domain::audit::actions;
use countersign_domain::{clock, AuditEvent, Category, Resource};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::builder::EventBuilder;
use crate::config::{Mode, RecorderConfig};
use crate::error::{RecordError, SinkError};
use crate::retry::RetryPolicy;
use crate::sink::AuditSink;
use crate::telemetry::{count, status};

/// The resource type of `audit.loss` events.
pub const LOSS_RESOURCE_TYPE: &str = "audit_sink";

/// What `record` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Strict mode: the sink stored it.
    Written,
    /// Async mode: queued for the background writer.
    Queued,
    /// Async mode: the queue was full; the event is lost, counted, and will be reported by an
    /// `audit.loss` event.
    Dropped,
}

/// Records audit events through a sink; cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    mode: ModeState,
    config: RecorderConfig,
}

enum ModeState {
    Strict,
    Async {
        tx: mpsc::Sender<Msg>,
        writer: Mutex<Option<JoinHandle<()>>>,
    },
}

// Nearly every message is an event: boxing it would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(AuditEvent),
    Flush(oneshot::Sender<Result<(), SinkError>>),
    Shutdown(oneshot::Sender<Result<(), SinkError>>),
}

/// What the caller side and the writer task share.
struct Shared {
    sink: Arc<dyn AuditSink>,
    sink_name: String,
    retry: RetryPolicy,
    service_actor: countersign_domain::Actor,
    loss: Mutex<Loss>,
}

/// Events lost and not yet reported.
#[derive(Debug, Clone, Copy, Default)]
struct Loss {
    dropped: u64,
    since: Option<OffsetDateTime>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("sink", &self.inner.shared.sink_name)
            .field("config", &self.inner.config)
            .field("pending_loss", &self.pending_loss())
            .finish()
    }
}

impl Recorder {
    /// A recorder writing to `sink`. In async mode this spawns the writer task, so it must be
    /// called inside a tokio runtime (it panics otherwise, like `tokio::spawn`).
    pub fn new(config: RecorderConfig, sink: impl AuditSink + 'static) -> Self {
        Self::with_sink(config, Arc::new(sink))
    }

    /// Like [`new`](Self::new), with a shared sink.
    pub fn with_sink(config: RecorderConfig, sink: Arc<dyn AuditSink>) -> Self {
        let config = config.normalized();
        let sink_name = loss_resource_id(sink.name());
        let shared = Arc::new(Shared {
            sink,
            sink_name,
            retry: config.retry,
            service_actor: config.service_actor.clone(),
            loss: Mutex::new(Loss::default()),
        });
        let mode = match config.mode {
            Mode::Strict => ModeState::Strict,
            Mode::Async => {
                let (tx, rx) = mpsc::channel(config.queue_capacity);
                let writer = tokio::spawn(run_writer(
                    shared.clone(),
                    rx,
                    config.batch_size,
                    config.flush_interval,
                ));
                ModeState::Async {
                    tx,
                    writer: Mutex::new(Some(writer)),
                }
            }
        };
        Self {
            inner: Arc::new(Inner {
                shared,
                mode,
                config,
            }),
        }
    }

    /// The configuration in force (numbers clamped into range).
    pub fn config(&self) -> &RecorderConfig {
        &self.inner.config
    }

    /// The sink's name (the `sink` metrics label).
    pub fn sink_name(&self) -> &str {
        &self.inner.shared.sink_name
    }

    /// Events dropped and not yet reported by an `audit.loss` event.
    pub fn pending_loss(&self) -> u64 {
        lock(&self.inner.shared.loss).dropped
    }

    /// An [`EventBuilder`] whose actor is the configured service actor (override it with
    /// `.actor(..)` when a user acted).
    pub fn event(&self, category: Category, action: impl Into<String>) -> EventBuilder {
        EventBuilder::new(category, action).actor(self.inner.shared.service_actor.clone())
    }

    /// Record one event; see the [module docs](self) for what each mode does. An event that
    /// breaks the v1 rules is refused in both modes ([`RecordError::Invalid`]).
    pub async fn record(&self, event: AuditEvent) -> Result<Recorded, RecordError> {
        event.validate()?;
        match &self.inner.mode {
            ModeState::Strict => {
                let shared = &self.inner.shared;
                let events = [event];
                match shared.write_with_retry(&events).await {
                    Ok(()) => {
                        count(&shared.sink_name, status::OK, 1);
                        Ok(Recorded::Written)
                    }
                    Err(e) => {
                        count(&shared.sink_name, status::ERROR, 1);
                        tracing::warn!(
                            sink = %shared.sink_name,
                            action = %events[0].action,
                            error = %e,
                            "audit write failed (strict mode: the caller is told)"
                        );
                        Err(RecordError::Sink(e))
                    }
                }
            }
            ModeState::Async { tx, .. } => match tx.try_send(Msg::Event(event)) {
                Ok(()) => Ok(Recorded::Queued),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.inner.shared.note_dropped(1, "queue full");
                    Ok(Recorded::Dropped)
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(RecordError::Closed),
            },
        }
    }

    /// Async mode: write everything recorded before this call (and a pending `audit.loss`
    /// event), and return that write's result; events of a failed write are dropped and
    /// counted. Strict mode: nothing to do.
    pub async fn flush(&self) -> Result<(), RecordError> {
        match &self.inner.mode {
            ModeState::Strict => Ok(()),
            ModeState::Async { tx, .. } => {
                let (done, answer) = oneshot::channel();
                tx.send(Msg::Flush(done))
                    .await
                    .map_err(|_| RecordError::Closed)?;
                answer
                    .await
                    .map_err(|_| RecordError::Closed)?
                    .map_err(RecordError::Sink)
            }
        }
    }

    /// Async mode: stop accepting events (later `record`s return [`RecordError::Closed`]),
    /// write everything queued, and wait for the writer to finish; returns the last write's
    /// result. Calling it again, or from another clone, is harmless. Strict mode: nothing
    /// to do.
    pub async fn shutdown(&self) -> Result<(), RecordError> {
        let ModeState::Async { tx, writer } = &self.inner.mode else {
            return Ok(());
        };
        let (done, answer) = oneshot::channel();
        let result = match tx.send(Msg::Shutdown(done)).await {
            Ok(()) => answer.await.unwrap_or(Ok(())).map_err(RecordError::Sink),
            Err(_) => Ok(()),
        };
        let handle = lock(writer).take();
        if let Some(handle) = handle {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "audit writer task failed");
            }
        }
        result
    }
}

/// A sink name usable as a resource id (1 to 512 bytes).
fn loss_resource_id(name: &str) -> String {
    let mut id = if name.is_empty() {
        "unnamed".to_owned()
    } else {
        name.to_owned()
    };
    let max = countersign_domain::audit::MAX_FIELD_LEN;
    if id.len() > max {
        let mut cut = max;
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        id.truncate(cut);
    }
    id
}

impl Shared {
    async fn write_with_retry(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.retry.run(|| self.sink.write(events)).await
    }

    /// Count `n` lost events and remember them for the next `audit.loss` event.
    fn note_dropped(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        count(&self.sink_name, status::DROPPED, n as usize);
        let first = {
            let mut loss = lock(&self.loss);
            loss.dropped += n;
            loss.since.get_or_insert_with(clock::now);
            loss.dropped == n
        };
        if first {
            tracing::warn!(
                sink = %self.sink_name,
                dropped = n,
                reason = why,
                "audit events dropped; an audit.loss event will follow once the sink accepts writes"
            );
        } else {
            tracing::debug!(sink = %self.sink_name, dropped = n, reason = why, "audit events dropped");
        }
    }

    fn loss_event(&self, loss: Loss) -> AuditEvent {
        let since = loss
            .since
            .and_then(|t| t.format(&Rfc3339).ok())
            .map_or(serde_json::Value::Null, serde_json::Value::String);
        AuditEvent::new(
            Category::Audit,
            actions::AUDIT_LOSS,
            self.service_actor.clone(),
            Resource::new(LOSS_RESOURCE_TYPE, &self.sink_name),
        )
        .details(serde_json::json!({ "dropped": loss.dropped, "since": since }))
    }

    /// Write a batch, preceded by an `audit.loss` event when events were lost; on failure
    /// the batch is dropped and counted.
    async fn write_batch(&self, batch: Vec<AuditEvent>) -> Result<(), SinkError> {
        let started = clock::now();
        let pending = *lock(&self.loss);
        if batch.is_empty() && pending.dropped == 0 {
            return Ok(());
        }
        let real = batch.len();
        let mut events = Vec::with_capacity(real + 1);
        if pending.dropped > 0 {
            events.push(self.loss_event(pending));
        }
        events.extend(batch);
        match self.write_with_retry(&events).await {
            Ok(()) => {
                count(&self.sink_name, status::OK, events.len());
                if pending.dropped > 0 {
                    let mut loss = lock(&self.loss);
                    loss.dropped -= pending.dropped;
                    loss.since = (loss.dropped > 0).then_some(started);
                    drop(loss);
                    tracing::warn!(
                        sink = %self.sink_name,
                        dropped = pending.dropped,
                        "audit sink accepts writes again; recorded an audit.loss event"
                    );
                }
                Ok(())
            }
            Err(e) => {
                count(&self.sink_name, status::ERROR, events.len());
                tracing::warn!(sink = %self.sink_name, events = real, error = %e, "audit write failed");
                self.note_dropped(real as u64, "write failed");
                Err(e)
            }
        }
    }
}

async fn run_writer(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Msg>,
    batch_size: usize,
    flush_interval: std::time::Duration,
) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(batch_size.min(1024));
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + flush_interval, flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(Msg::Event(e)) => {
                    batch.push(e);
                    if batch.len() >= batch_size {
                        let _ = shared.write_batch(std::mem::take(&mut batch)).await;
                        tick.reset();
                    }
                }
                Some(Msg::Flush(done)) => {
                    let r = shared.write_batch(std::mem::take(&mut batch)).await;
                    tick.reset();
                    let _ = done.send(r);
                }
                Some(Msg::Shutdown(done)) => {
                    rx.close();
                    let mut waiting = vec![done];
                    let mut result = Ok(());
                    while let Some(msg) = rx.recv().await {
                        match msg {
                            Msg::Event(e) => {
                                batch.push(e);
                                if batch.len() >= batch_size {
                                    result = shared.write_batch(std::mem::take(&mut batch)).await;
                                }
                            }
                            Msg::Flush(done) => {
                                let r = shared.write_batch(std::mem::take(&mut batch)).await;
                                let _ = done.send(r);
                            }
                            Msg::Shutdown(done) => waiting.push(done),
                        }
                    }
                    let last = shared.write_batch(std::mem::take(&mut batch)).await;
                    if last.is_err() || result.is_ok() {
                        result = last;
                    }
                    answer_all(waiting, result);
                    return;
                }
                None => {
                    // Every recorder handle is gone: write what is left and stop.
                    let _ = shared.write_batch(std::mem::take(&mut batch)).await;
                    return;
                }
            },
            _ = tick.tick() => {
                let _ = shared.write_batch(std::mem::take(&mut batch)).await;
            }
        }
    }
}

/// Send the shutdown result to every waiting caller (the first gets the error itself, the
/// others a description of it: `SinkError` is not `Clone`).
fn answer_all(waiting: Vec<oneshot::Sender<Result<(), SinkError>>>, result: Result<(), SinkError>) {
    let described = result.as_ref().map_err(|e| e.to_string()).err();
    let mut result = Some(result);
    for done in waiting {
        let r = match result.take() {
            Some(r) => r,
            None => match &described {
                Some(m) => Err(SinkError::Unavailable(m.clone())),
                None => Ok(()),
            },
        };
        let _ = done.send(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_resource_ids_are_valid() {
        assert_eq!(loss_resource_id("file"), "file");
        assert_eq!(loss_resource_id(""), "unnamed");
        let long = "é".repeat(400);
        let id = loss_resource_id(&long);
        assert!(id.len() <= countersign_domain::audit::MAX_FIELD_LEN);
        assert!(long.starts_with(&id));
    }

    #[tokio::test]
    async fn the_loss_event_is_a_valid_v1_event() {
        let recorder = Recorder::new(
            RecorderConfig::builder().service("svc").build(),
            crate::NoopSink,
        );
        let since = clock::now();
        let e = recorder.inner.shared.loss_event(Loss {
            dropped: 7,
            since: Some(since),
        });
        e.validate().unwrap();
        assert_eq!(e.action, actions::AUDIT_LOSS);
        assert_eq!(e.category, Category::Audit);
        assert_eq!(e.resource, Resource::new(LOSS_RESOURCE_TYPE, "noop"));
        let details = e.details.unwrap();
        assert_eq!(details["dropped"], 7);
        assert_eq!(
            details["since"].as_str().unwrap(),
            since.format(&Rfc3339).unwrap()
        );
        recorder.shutdown().await.unwrap();
    }
}
