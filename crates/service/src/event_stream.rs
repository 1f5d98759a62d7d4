//! The live event stream (`GET /api/v1/events/stream`): the events webhooks receive, as they
//! commit, for one caller.
//!
//! [`Service::event_stream`] checks `approval.read`, finds where to start — just after the
//! message a reconnecting client names (`Last-Event-ID`), else after everything settled so far
//! (so a new stream may begin with an event committed just before it, never miss a later one) —
//! and answers an [`EventStream`] of [`StreamEvent`]s: the outbox message's id (so a
//! client that reconnects with it resumes with nothing lost and nothing twice), its type and
//! its standard body `{"type", "timestamp", "data"}`, byte for byte what a webhook receives.
//!
//! The stream reads the outbox itself, in stream order (`countersign_store::events`), a batch
//! of at most [`STREAM_BATCH`] messages at a time: that batch is all a connection holds. It
//! reads again when the process's [`OutboxSignal`](crate::outbox_signal) wakes it (a commit
//! announced by PostgreSQL's NOTIFY), after `ServiceConfig::event_poll` in any case (SQLite's
//! only way; PostgreSQL's fallback), at once after a full batch, and soon after a batch that
//! found messages not yet settled.
//!
//! What a caller sees: `approval.*` and `job.*` events, with `approval.read`, and `log.*`
//! events (`log.tamper_detected`) when it also holds `log.read`. Test sends to one webhook are
//! never streamed. The caller's key is read again every [`REAUTHORIZE_EVERY`]: a
//! revoked or expired key, a disabled principal or a lost `approval.read` ends the stream, as
//! it would refuse the next request. The stream also ends when the process shuts down.

use std::collections::VecDeque;
use std::time::Duration;

use countersign_domain::{clock, KeyStatus, MessageId, Permission, Resource};
use countersign_store::{StreamMessage, StreamPosition};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::caller::Caller;
use crate::error::{parse_id, ServiceError, ServiceResult};
use crate::service::Service;

/// The most messages one read of the outbox takes (and so one connection holds).
pub const STREAM_BATCH: u32 = 100;
/// How often a stream reads its caller's key again.
pub const REAUTHORIZE_EVERY: Duration = Duration::from_secs(60);
/// The first delay before reading again when messages were committed but not yet settled; it
/// doubles up to the poll interval while reads bring nothing new, and starts again from here
/// after a read that did.
const HELD_BACK_RETRY: Duration = Duration::from_millis(10);

/// One event as the stream sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// The outbox message's id: the SSE `id`, and the `webhook-id` webhooks receive.
    pub id: MessageId,
    /// The event type, e.g. `approval.requested`.
    pub event: String,
    /// The standard body `{"type", "timestamp", "data"}` as JSON text.
    pub data: String,
}

/// A caller's live events; it ends when the process shuts down, when the caller may no
/// longer read them, or with an error when the store fails.
pub type EventStream = BoxStream<'static, ServiceResult<StreamEvent>>;

/// Whether `caller` (who holds `approval.read`, or the stream would not be open) sees events
/// of type `event`: `approval.*` and `job.*` always, `log.*` with `log.read`.
pub fn streamed_to(caller: &Caller, event: &str) -> bool {
    event.starts_with("approval.")
        || event.starts_with("job.")
        || (event.starts_with("log.") && caller.has(Permission::LogRead))
}

/// Where a stream is and what it waits on.
struct Reader {
    service: Service,
    caller: Caller,
    after: StreamPosition,
    buffer: VecDeque<StreamEvent>,
    wake: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    /// When to read again without a wake-up.
    next_read: Instant,
    reauthorize_at: Instant,
    held_back_retry: Duration,
}

impl Service {
    /// `GET /api/v1/events/stream`: check `approval.read`, find the start (just after the
    /// message `last_event_id` names, else now) and answer the caller's live events.
    pub async fn event_stream(
        &self,
        caller: &Caller,
        last_event_id: Option<&str>,
    ) -> ServiceResult<EventStream> {
        self.require(
            caller,
            Permission::ApprovalRead,
            Resource::new("events", "stream"),
        )
        .await?;
        let after = match last_event_id {
            Some(raw) => {
                let id = parse_id::<MessageId>("Last-Event-ID", raw.trim())?;
                self.store.stream_position(id).await?.ok_or_else(|| {
                    ServiceError::invalid(format!("Last-Event-ID: no event `{id}` to resume after"))
                })?
            }
            None => self.store.stream_head().await?,
        };
        let now = Instant::now();
        let reader = Reader {
            wake: self.signal.subscribe(&self.store),
            closing: self.signal.closing(),
            service: self.clone(),
            caller: caller.clone(),
            after,
            buffer: VecDeque::new(),
            next_read: now,
            reauthorize_at: now + REAUTHORIZE_EVERY,
            held_back_retry: HELD_BACK_RETRY,
        };
        tracing::debug!(principal.id = %caller.id(), stream.after_seq = after.seq, "event stream opened");
        Ok(stream::unfold(Some(reader), |state| async move {
            let mut r = state?;
            match r.next().await {
                Ok(Some(event)) => Some((Ok(event), Some(r))),
                Ok(None) => None,
                // The connection ends with the error; the client reconnects with its last id.
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed())
    }

    /// End every event stream of this process (graceful shutdown).
    pub fn close_event_streams(&self) {
        self.signal.close();
    }
}

impl Reader {
    /// The next event for the caller; `None` when the stream is over.
    async fn next(&mut self) -> ServiceResult<Option<StreamEvent>> {
        loop {
            if *self.closing.borrow() {
                return Ok(None);
            }
            if let Some(event) = self.buffer.pop_front() {
                return Ok(Some(event));
            }
            if Instant::now() >= self.reauthorize_at {
                if !self.still_allowed().await? {
                    return Ok(None);
                }
                self.reauthorize_at = Instant::now() + REAUTHORIZE_EVERY;
            }
            tokio::select! {
                biased;
                _ = self.closing.changed() => return Ok(None),
                _ = self.wake.changed() => {}
                () = tokio::time::sleep_until(self.next_read.min(self.reauthorize_at)) => {
                    if Instant::now() < self.next_read {
                        continue;
                    }
                }
            }
            self.read().await?;
        }
    }

    /// Read the next batch after the position into the buffer, and set when to read again.
    async fn read(&mut self) -> ServiceResult<()> {
        // Wake-ups from now on call for another read.
        self.wake.borrow_and_update();
        let poll = self.service.config.event_poll;
        let batch = self
            .service
            .store
            .stream_messages(self.after, STREAM_BATCH)
            .await?;
        let full = batch.messages.len() == STREAM_BATCH as usize;
        let progressed = !batch.messages.is_empty();
        if let Some(last) = batch.messages.last() {
            self.after = last.position;
        }
        self.buffer.extend(
            batch
                .messages
                .into_iter()
                .filter(|m| streamed_to(&self.caller, &m.event))
                .map(
                    |StreamMessage {
                         id, event, body, ..
                     }| StreamEvent {
                        id,
                        event,
                        data: body,
                    },
                ),
        );
        let now = Instant::now();
        self.next_read = if full {
            now
        } else if batch.held_back {
            // Under steady load some transaction is nearly always open: back off only while
            // the held-back message makes no progress, so a busy stream keeps up.
            let wait = if progressed {
                HELD_BACK_RETRY
            } else {
                self.held_back_retry
            };
            self.held_back_retry = (wait * 2).min(poll);
            now + wait
        } else {
            self.held_back_retry = HELD_BACK_RETRY;
            now + poll
        };
        Ok(())
    }

    /// Whether the caller's key still opens this stream, read afresh.
    async fn still_allowed(&self) -> ServiceResult<bool> {
        let Some(key_id) = self.caller.key_id else {
            return Ok(true);
        };
        let Some(record) = self.service.store.key_auth_record(key_id).await? else {
            return Ok(false);
        };
        let allowed = record.key.status_at(clock::now()) == KeyStatus::Active
            && !record.principal.disabled
            && record.permissions.contains(&Permission::ApprovalRead);
        if !allowed {
            tracing::info!(principal.id = %self.caller.id(), "event stream ended: the caller may no longer read events");
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use countersign_domain::{Principal, PrincipalId, PrincipalKind, PrincipalName};

    use super::*;

    fn caller(permissions: &[Permission]) -> Caller {
        Caller {
            principal: Principal {
                id: PrincipalId::new(),
                name: PrincipalName::parse("erin").unwrap(),
                kind: PrincipalKind::User,
                disabled: false,
                created_at: clock::now(),
            },
            key_id: None,
            roles: Vec::new(),
            permissions: permissions.iter().copied().collect(),
            request_id: None,
        }
    }

    #[test]
    fn log_events_need_log_read() {
        let reader = caller(&[Permission::ApprovalRead]);
        let auditor = caller(&[Permission::ApprovalRead, Permission::LogRead]);
        for event in ["approval.requested", "approval.escalated", "job.completed"] {
            assert!(streamed_to(&reader, event), "{event}");
            assert!(streamed_to(&auditor, event), "{event}");
        }
        assert!(!streamed_to(&reader, "log.tamper_detected"));
        assert!(streamed_to(&auditor, "log.tamper_detected"));
        assert!(!streamed_to(&auditor, "webhook.test"));
    }
}
