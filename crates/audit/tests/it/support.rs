//! Shared test helpers: a global `metrics` recorder to read counters, scratch directories
//! (the test kit's), events, and a sink that blocks until told to go on.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use countersign_audit::{AuditSink, EventBuilder, SinkError};
use countersign_domain::{AuditEvent, Category};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

/// A minimal `metrics::Recorder` that keeps counters.
#[derive(Debug, Clone, Default)]
pub struct TestMetrics {
    counters: Arc<Mutex<HashMap<Key, Arc<AtomicU64>>>>,
}

impl metrics::Recorder for TestMetrics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = self
            .counters
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone();
        Counter::from_arc(c)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl TestMetrics {
    /// The value of counter `name` with exactly these labels (any order), 0 if never touched.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let counters = self.counters.lock().unwrap();
        counters
            .iter()
            .filter(|(k, _)| k.name() == name)
            .filter(|(k, _)| {
                let have: Vec<(&str, &str)> = k.labels().map(|l| (l.key(), l.value())).collect();
                have.len() == labels.len() && labels.iter().all(|l| have.contains(l))
            })
            .map(|(_, v)| v.load(Ordering::SeqCst))
            .sum()
    }

    /// `countersign_audit_writes_total{sink, status}`.
    pub fn audit_writes(&self, sink: &str, status: &str) -> u64 {
        self.counter(
            countersign_audit::telemetry::AUDIT_WRITES_TOTAL,
            &[("sink", sink), ("status", status)],
        )
    }
}

/// The process-wide test recorder, installed on first use. Tests share it, so each test uses
/// its own sink name.
pub fn metrics() -> &'static TestMetrics {
    static METRICS: OnceLock<TestMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let m = TestMetrics::default();
        metrics::set_global_recorder(m.clone()).expect("no other metrics recorder");
        m
    })
}

pub use countersign_testkit::TempDir;

/// A valid event with a recognisable resource id.
pub fn event(n: usize) -> AuditEvent {
    EventBuilder::new(Category::Lifecycle, "thing.happened")
        .service("test-service")
        .resource("thing", format!("t-{n}"))
        .detail("n", n)
        .build()
        .unwrap()
}

pub fn events(range: std::ops::Range<usize>) -> Vec<AuditEvent> {
    range.map(event).collect()
}

/// The `n`s of the non-`audit.loss` events.
pub fn numbers(events: &[AuditEvent]) -> Vec<usize> {
    events
        .iter()
        .filter(|e| e.action != "audit.loss")
        .map(|e| e.details.as_ref().unwrap()["n"].as_u64().unwrap() as usize)
        .collect()
}

/// A sink whose writes wait until `open` is called; `started` fires when a write begins.
#[derive(Debug)]
pub struct GateSink {
    name: String,
    gate: tokio::sync::Semaphore,
    started: tokio::sync::Notify,
    written: Mutex<Vec<Vec<AuditEvent>>>,
}

impl GateSink {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            gate: tokio::sync::Semaphore::new(0),
            started: tokio::sync::Notify::new(),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Wait until a write is in progress (and blocked on the gate).
    pub async fn wait_started(&self) {
        self.started.notified().await;
    }

    /// Let every write through from now on.
    pub fn open(&self) {
        self.gate
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }

    pub fn batches(&self) -> Vec<Vec<AuditEvent>> {
        self.written.lock().unwrap().clone()
    }
}

#[async_trait]
impl AuditSink for GateSink {
    async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        self.started.notify_one();
        let _permit = self.gate.acquire().await.unwrap();
        self.written.lock().unwrap().push(events.to_vec());
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
