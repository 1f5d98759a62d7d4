//! The fan-out sink: one success is enough; none is a failure.

use std::sync::Arc;

use countersign_audit::{AuditSink, FanoutSink, MemorySink, NoopSink, SinkError};
use countersign_domain::{AuditEvent, Category};

fn batch() -> Vec<AuditEvent> {
    (0..3)
        .map(|n| {
            countersign_audit::EventBuilder::new(Category::Access, "thing.read")
                .service("svc")
                .resource("thing", n)
                .build()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn succeeds_when_one_sink_succeeds() {
    let good = Arc::new(MemorySink::named("good"));
    let bad = Arc::new(MemorySink::named("bad"));
    bad.set_failing(true);
    let fanout = FanoutSink::new(vec![bad.clone(), good.clone()]).named("both");
    assert_eq!(fanout.name(), "both");
    let events = batch();
    fanout.write(&events).await.unwrap();
    assert_eq!(good.events(), events);
    assert_eq!(bad.attempts(), 1);
    assert!(bad.events().is_empty());
    // Both were tried.
    assert_eq!(good.attempts(), 1);
}

#[tokio::test]
async fn fails_when_every_sink_fails() {
    let a = Arc::new(MemorySink::named("a"));
    let b = Arc::new(MemorySink::named("b"));
    a.set_failing(true);
    b.set_failing(true);
    let fanout = FanoutSink::new(vec![a.clone(), b.clone()]);
    assert_eq!(fanout.name(), "fanout");
    let err = fanout.write(&batch()).await.unwrap_err();
    match &err {
        SinkError::AllFailed(all) => {
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, vec!["a", "b"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_empty_fanout_stores_nothing_and_says_so() {
    let fanout = FanoutSink::default();
    assert!(fanout.write(&[]).await.is_ok());
    assert!(matches!(
        fanout.write(&batch()).await,
        Err(SinkError::AllFailed(v)) if v.is_empty()
    ));
    let fanout = fanout.with(NoopSink);
    assert_eq!(fanout.sinks().len(), 1);
    fanout.write(&batch()).await.unwrap();
    assert!(format!("{fanout:?}").contains("noop"));
}
