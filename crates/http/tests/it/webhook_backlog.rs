//! The running scheduler drains a webhook backlog larger than its batch without waiting for
//! its poll: while claims fill every free place, each attempt that ends wakes the delivery
//! loop to claim the next ones.

use std::time::Duration;

use countersign_service::ServiceConfig;
use serde_json::json;

use crate::support::Db;
use crate::webhooks::{app_with, config, create_webhook, setup, Receiver, RunningScheduler};

both_backends!(a_backlog_beyond_one_batch_drains_between_polls);
async fn a_backlog_beyond_one_batch_drains_between_polls(db: Db) {
    // Two attempts in flight at most, and an hour between polls and ticks: after the first
    // pass, nothing but the end of an attempt can start the next one (the messages are all
    // written before the scheduler starts, so no commit wakes it either).
    let app = app_with(
        db,
        ServiceConfig {
            scheduler_batch: 2,
            delivery_poll: Duration::from_secs(3600),
            ..config(1)
        },
    )
    .await;
    let (rx, url) = Receiver::start().await;
    create_webhook(&app, &url, None).await;
    let (requester, _, subject) = setup(&app).await;
    const BACKLOG: usize = 7;
    for n in 0..BACKLOG {
        let r = app.request_job(&requester, &subject, json!({"n": n})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let scheduler = RunningScheduler::start(&app.service);
    let started = std::time::Instant::now();
    while rx.got().len() < BACKLOG && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rx.got().len(),
        BACKLOG,
        "the whole backlog is delivered by one running scheduler, not one batch per poll"
    );
    scheduler.stop(Duration::from_secs(20)).await;
}
