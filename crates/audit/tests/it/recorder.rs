//! The recorder: strict errors, async drops, the `audit.loss` event, flush and shutdown.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{event, events, metrics, numbers, GateSink};
use countersign_audit::{
    MemorySink, Mode, RecordError, Recorded, Recorder, RecorderConfig, RetryPolicy, SinkError,
};
use countersign_domain::{ActorKind, AuditEvent, Category};
use futures::FutureExt;

/// A config that never flushes on its own during a test (only `flush`/batch size write).
fn async_config() -> RecorderConfig {
    RecorderConfig::builder()
        .mode(Mode::Async)
        .flush_interval(Duration::from_secs(3600))
        .batch_size(1000)
        .retry(RetryPolicy::none())
        .service("billing")
        .build()
}

fn loss_events(events: &[AuditEvent]) -> Vec<&AuditEvent> {
    events.iter().filter(|e| e.action == "audit.loss").collect()
}

#[tokio::test]
async fn strict_mode_reports_sink_failures_to_the_caller() {
    let m = metrics();
    let sink = Arc::new(MemorySink::named("strict-sink"));
    let config = RecorderConfig::builder()
        .strict(true)
        .retry(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(1),
        ))
        .build();
    let recorder = Recorder::new(config, sink.clone());

    assert_eq!(recorder.record(event(1)).await.unwrap(), Recorded::Written);
    assert_eq!(numbers(&sink.events()), vec![1]);

    sink.set_failing(true);
    let err = recorder.record(event(2)).await.unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::Sink(SinkError::RetriesExhausted { attempts: 2, .. })
        ),
        "{err:?}"
    );
    // One success, then two attempts for the failed write.
    assert_eq!(sink.attempts(), 3);

    sink.set_failing(false);
    assert_eq!(recorder.record(event(3)).await.unwrap(), Recorded::Written);
    assert_eq!(numbers(&sink.events()), vec![1, 3]);
    // Strict mode never invents a loss event: the caller was told.
    assert!(loss_events(&sink.events()).is_empty());

    assert_eq!(m.audit_writes("strict-sink", "ok"), 2);
    assert_eq!(m.audit_writes("strict-sink", "error"), 1);
    assert_eq!(m.audit_writes("strict-sink", "dropped"), 0);
    // flush and shutdown are no-ops in strict mode.
    recorder.flush().await.unwrap();
    recorder.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_events_are_refused_in_both_modes() {
    for mode in [Mode::Strict, Mode::Async] {
        let sink = Arc::new(MemorySink::named("invalid-sink"));
        let recorder = Recorder::new(
            async_config().into_builder().mode(mode).build(),
            sink.clone(),
        );
        let mut bad = event(1);
        bad.action = "Not An Action".into();
        assert!(matches!(
            recorder.record(bad).await,
            Err(RecordError::Invalid(_))
        ));
        recorder.shutdown().await.unwrap();
        assert!(sink.events().is_empty());
    }
}

#[tokio::test]
async fn async_mode_counts_drops_and_reports_one_loss_event_after_recovery() {
    let m = metrics();
    let sink = Arc::new(MemorySink::named("flaky-sink"));
    let recorder = Recorder::new(async_config(), sink.clone());

    sink.set_failing(true);
    for n in 0..3 {
        assert_eq!(recorder.record(event(n)).await.unwrap(), Recorded::Queued);
    }
    let err = recorder.flush().await.unwrap_err();
    assert!(
        matches!(err, RecordError::Sink(SinkError::Unavailable(_))),
        "{err:?}"
    );
    assert_eq!(m.audit_writes("flaky-sink", "dropped"), 3);
    assert_eq!(recorder.pending_loss(), 3);

    // Still failing: two more are lost; the loss event attempted alongside is not "dropped".
    for n in 3..5 {
        recorder.record(event(n)).await.unwrap();
    }
    assert!(recorder.flush().await.is_err());
    assert_eq!(m.audit_writes("flaky-sink", "dropped"), 5);
    assert_eq!(recorder.pending_loss(), 5);
    assert!(sink.events().is_empty());

    // The sink recovers: the next write carries exactly one audit.loss event.
    sink.set_failing(false);
    recorder.record(event(5)).await.unwrap();
    recorder.flush().await.unwrap();
    let batches = sink.batches();
    assert_eq!(batches.len(), 1);
    let written = &batches[0];
    let losses = loss_events(written);
    assert_eq!(losses.len(), 1, "{written:?}");
    let loss = losses[0];
    assert_eq!(loss.category, Category::Audit);
    assert_eq!(loss.actor.kind, ActorKind::Service);
    assert_eq!(loss.actor.id, "billing");
    assert_eq!(loss.resource.kind, "audit_sink");
    assert_eq!(loss.resource.id, "flaky-sink");
    let details = loss.details.as_ref().unwrap();
    assert_eq!(details["dropped"], 5);
    let since = details["since"].as_str().unwrap();
    let since =
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(since <= loss.ts);
    loss.validate().unwrap();
    assert_eq!(numbers(written), vec![5]);
    assert_eq!(recorder.pending_loss(), 0);
    assert_eq!(m.audit_writes("flaky-sink", "ok"), 2);

    // Reported once: later writes carry no loss event.
    recorder.record(event(6)).await.unwrap();
    recorder.flush().await.unwrap();
    assert_eq!(loss_events(&sink.events()).len(), 1);
    assert_eq!(numbers(&sink.events()), vec![5, 6]);
    assert_eq!(m.audit_writes("flaky-sink", "dropped"), 5);
    recorder.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_loss_is_reported_even_when_nothing_else_is_recorded() {
    let sink = Arc::new(MemorySink::named("quiet-sink"));
    let recorder = Recorder::new(async_config(), sink.clone());
    sink.set_failing(true);
    recorder.record(event(0)).await.unwrap();
    assert!(recorder.flush().await.is_err());
    sink.set_failing(false);
    // An empty flush delivers the pending loss event on its own.
    recorder.flush().await.unwrap();
    let written = sink.events();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].action, "audit.loss");
    assert_eq!(written[0].details.as_ref().unwrap()["dropped"], 1);
    recorder.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_flush_interval_delivers_a_pending_loss_without_new_events() {
    let sink = Arc::new(MemorySink::named("ticking-sink"));
    let config = async_config()
        .into_builder()
        .flush_interval(Duration::from_millis(5))
        .build();
    let recorder = Recorder::new(config, sink.clone());
    sink.set_failing(true);
    recorder.record(event(0)).await.unwrap();
    assert!(recorder.flush().await.is_err());
    sink.set_failing(false);
    // No flush, no record: the writer's timer delivers the loss event by itself.
    while recorder.pending_loss() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(loss_events(&sink.events()).len(), 1);
    recorder.shutdown().await.unwrap();
    assert_eq!(loss_events(&sink.events()).len(), 1);
}

#[tokio::test]
async fn a_full_queue_drops_without_blocking_and_counts() {
    let m = metrics();
    let sink = Arc::new(GateSink::new("gated-sink"));
    let config = async_config()
        .into_builder()
        .queue_capacity(2)
        .batch_size(1)
        .build();
    let recorder = Recorder::new(config, sink.clone());

    // The writer takes event 0 and blocks inside the sink.
    assert_eq!(recorder.record(event(0)).await.unwrap(), Recorded::Queued);
    sink.wait_started().await;

    // Two fit in the queue; the rest are dropped. Every call completes on its first poll:
    // `record` never waits for the queue.
    let mut outcomes = Vec::new();
    for n in 1..6 {
        let outcome = recorder
            .record(event(n))
            .now_or_never()
            .expect("record must not block in async mode")
            .unwrap();
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes,
        vec![
            Recorded::Queued,
            Recorded::Queued,
            Recorded::Dropped,
            Recorded::Dropped,
            Recorded::Dropped
        ]
    );
    assert_eq!(m.audit_writes("gated-sink", "dropped"), 3);
    assert_eq!(recorder.pending_loss(), 3);

    sink.open();
    recorder.shutdown().await.unwrap();
    let all: Vec<AuditEvent> = sink.batches().into_iter().flatten().collect();
    assert_eq!(numbers(&all), vec![0, 1, 2]);
    let losses = loss_events(&all);
    assert_eq!(losses.len(), 1);
    assert_eq!(losses[0].details.as_ref().unwrap()["dropped"], 3);
    assert_eq!(recorder.pending_loss(), 0);
}

#[tokio::test]
async fn batches_are_cut_at_batch_size() {
    let sink = Arc::new(MemorySink::named("batching-sink"));
    let config = async_config().into_builder().batch_size(4).build();
    let recorder = Recorder::new(config, sink.clone());
    for e in events(0..10) {
        recorder.record(e).await.unwrap();
    }
    recorder.flush().await.unwrap();
    let sizes: Vec<usize> = sink.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    assert_eq!(numbers(&sink.events()), (0..10).collect::<Vec<_>>());
    recorder.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_drains_the_queue_and_closes_the_recorder() {
    let m = metrics();
    let sink = Arc::new(MemorySink::named("draining-sink"));
    let recorder = Recorder::new(async_config(), sink.clone());
    let clone = recorder.clone();
    for e in events(0..50) {
        recorder.record(e).await.unwrap();
    }
    recorder.shutdown().await.unwrap();
    assert_eq!(numbers(&sink.events()), (0..50).collect::<Vec<_>>());
    assert_eq!(m.audit_writes("draining-sink", "ok"), 50);

    assert!(matches!(
        clone.record(event(99)).await,
        Err(RecordError::Closed)
    ));
    assert!(matches!(clone.flush().await, Err(RecordError::Closed)));
    // A second shutdown is harmless.
    clone.shutdown().await.unwrap();
    assert_eq!(sink.events().len(), 50);
}

#[tokio::test]
async fn shutdown_reports_a_failed_final_write() {
    let m = metrics();
    let sink = Arc::new(MemorySink::named("down-at-exit-sink"));
    let recorder = Recorder::new(async_config(), sink.clone());
    sink.set_failing(true);
    for e in events(0..4) {
        recorder.record(e).await.unwrap();
    }
    assert!(matches!(
        recorder.shutdown().await,
        Err(RecordError::Sink(_))
    ));
    assert_eq!(m.audit_writes("down-at-exit-sink", "dropped"), 4);
}

#[tokio::test]
async fn the_recorder_retries_transient_failures() {
    // A sink that fails its first write only.
    #[derive(Debug)]
    struct FlakyOnce {
        inner: MemorySink,
        failed: std::sync::atomic::AtomicBool,
    }
    #[async_trait::async_trait]
    impl countersign_audit::AuditSink for FlakyOnce {
        async fn write(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
            if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(SinkError::Unavailable("blip".into()));
            }
            self.inner.write(events).await
        }
        fn name(&self) -> &str {
            "flaky-once"
        }
    }
    let sink = Arc::new(FlakyOnce {
        inner: MemorySink::new(),
        failed: Default::default(),
    });
    let config = async_config()
        .into_builder()
        .retry(RetryPolicy::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .build();
    let recorder = Recorder::new(config, sink.clone());
    recorder.record(event(1)).await.unwrap();
    recorder.flush().await.unwrap();
    assert_eq!(numbers(&sink.inner.events()), vec![1]);
    assert_eq!(recorder.pending_loss(), 0);
    recorder.shutdown().await.unwrap();
}

#[tokio::test]
async fn event_builder_from_the_recorder_uses_the_service_actor() {
    let sink = Arc::new(MemorySink::named("builder-sink"));
    let recorder = Recorder::new(async_config(), sink.clone());
    let e = recorder
        .event(Category::Config, "flag.updated")
        .resource("flag", "f-1")
        .build()
        .unwrap();
    assert_eq!(e.actor.id, "billing");
    assert_eq!(e.actor.kind, ActorKind::Service);
    recorder.record(e).await.unwrap();
    recorder.shutdown().await.unwrap();
    assert_eq!(sink.events().len(), 1);
}
