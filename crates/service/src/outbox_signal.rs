//! The process's wake-up for readers of the outbox: the event streams and the scheduler's
//! delivery loop.
//!
//! Where the store pushes notifications (PostgreSQL's LISTEN/NOTIFY, see
//! `Store::outbox_wakeups`), one listener task per process turns them into a bump of a
//! `watch` counter that every reader holds; it starts with the first reader and ends when the
//! last one has gone, so a process with no reader holds no listening connection. Where the
//! store pushes nothing (SQLite), no task runs and readers poll. Either way a wake-up only
//! says "read again": readers read the outbox itself, so a lost notification delays a reader
//! by at most its poll, and loses nothing.
//!
//! The signal also carries the process's "closing" flag: the HTTP server raises it when its
//! graceful shutdown begins, and every event stream then ends, so open streams never hold a
//! shutdown back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use countersign_store::Store;
use futures::StreamExt;
use tokio::sync::watch;

/// How long the listener waits before listening again after its stream failed or ended.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// One per `Service` (and its clones): the wake-up counter and the closing flag.
#[derive(Debug)]
pub(crate) struct OutboxSignal {
    /// Bumped on every notification, and after every listener failure.
    wake: watch::Sender<u64>,
    /// Whether a listener task runs.
    listening: AtomicBool,
    /// Raised once when the process stops serving streams.
    closing: watch::Sender<bool>,
}

impl OutboxSignal {
    pub(crate) fn new() -> Self {
        Self {
            wake: watch::Sender::new(0),
            listening: AtomicBool::new(false),
            closing: watch::Sender::new(false),
        }
    }

    /// A receiver that changes on each wake-up; starts the listener when the store pushes
    /// notifications and none is running.
    pub(crate) fn subscribe(self: &Arc<Self>, store: &Arc<dyn Store>) -> watch::Receiver<u64> {
        let rx = self.wake.subscribe();
        if !self.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(self.clone(), store.clone()));
        }
        rx
    }

    /// A receiver of the closing flag.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Raise the closing flag: every event stream ends.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    fn bump(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The listener task: bump the counter on every wake-up the store pushes, listen again after a
/// failure, and stop once no reader is left.
async fn listen(signal: Arc<OutboxSignal>, store: Arc<dyn Store>) {
    loop {
        let Some(mut wakeups) = store.outbox_wakeups() else {
            // The store pushes nothing: readers poll. Stay "listening" so no task is spawned
            // again for this signal.
            return;
        };
        loop {
            tokio::select! {
                () = signal.wake.closed() => break,
                next = wakeups.next() => match next {
                    Some(Ok(())) => signal.bump(),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "outbox notifications lost; listening again");
                        signal.bump();
                        break;
                    }
                    None => break,
                },
            }
        }
        drop(wakeups);
        if signal.wake.is_closed() {
            signal.listening.store(false, Ordering::Release);
            // A reader may have subscribed after the check but before the flag went down, and
            // so started no task: take the job back if nobody else has.
            if signal.wake.is_closed() || signal.listening.swap(true, Ordering::AcqRel) {
                return;
            }
            continue;
        }
        tokio::select! {
            () = signal.wake.closed() => {}
            () = tokio::time::sleep(RELISTEN_AFTER) => {}
        }
    }
}
