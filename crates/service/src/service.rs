//! The [`Service`] handle: a store and a configuration, cheap to clone.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use countersign_domain::AuditEvent;
use countersign_store::{Store, Transaction};
use countersign_tlog::{LogSigner, LogVerifier};

use crate::config::ServiceConfig;
use crate::error::ServiceResult;
use crate::metrics;
use crate::outbox_signal::OutboxSignal;
use crate::webhook_delivery::WebhookTransport;

/// Every use case hangs off this handle. Clone it freely; it is a few `Arc`s.
#[derive(Clone)]
pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<ServiceConfig>,
    /// Sends webhook deliveries; `None` in a process that delivers none (the API server).
    pub(crate) webhook_transport: Option<Arc<dyn WebhookTransport>>,
    /// Wakes the outbox's readers (event streams, the delivery loop) when messages commit.
    pub(crate) signal: Arc<OutboxSignal>,
    /// Signs the transparency log's checkpoints; `None` where no sequencer runs.
    pub(crate) log_signer: Option<Arc<LogSigner>>,
    /// The log's verifier key, served and checked against; `None` when none is configured.
    pub(crate) log_verifier: Option<Arc<LogVerifier>>,
    /// Where the log self-check starts its next window (a leaf index).
    pub(crate) log_check_from: Arc<AtomicU64>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("backend", &self.store.backend())
            .field("config", &self.config)
            .field("webhook_transport", &self.webhook_transport)
            .field("log_signer", &self.log_signer)
            .field("log_verifier", &self.log_verifier)
            .finish()
    }
}

impl Service {
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            webhook_transport: None,
            signal: Arc::new(OutboxSignal::new()),
            log_signer: None,
            log_verifier: None,
            log_check_from: Arc::new(AtomicU64::new(0)),
        }
    }

    /// This service, delivering webhooks through `transport` (the scheduler's).
    pub fn with_webhook_transport(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.webhook_transport = Some(transport);
        self
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The store, for readiness checks and streaming reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `Ok` when the database answers and its schema is current.
    pub async fn readiness(&self) -> ServiceResult<()> {
        Ok(self.store.readiness().await?)
    }

    pub(crate) async fn begin(&self) -> ServiceResult<Box<dyn Transaction>> {
        Ok(self.store.begin().await?)
    }

    /// Write the outbox messages `events` announce, append `events` through `tx` and commit:
    /// the state change, its audit trail and its notifications land together or not at all.
    /// An event longer than a transparency-log leaf may be (details built from a list with no
    /// bound of its own, such as a role's many holders) is stored fitted to it
    /// ([`AuditEvent::fit_to_log`]); its notification keeps the whole.
    pub(crate) async fn commit_with(
        &self,
        mut tx: Box<dyn Transaction>,
        events: &[AuditEvent],
    ) -> ServiceResult<()> {
        self.write_outbox(tx.as_mut(), events).await?;
        let fitted: Vec<AuditEvent>;
        let events = if events.iter().all(AuditEvent::fits_log) {
            events
        } else {
            fitted = events.iter().cloned().map(fit_to_log).collect();
            &fitted
        };
        if !events.is_empty() {
            if let Err(e) = tx.append_audit(events).await {
                metrics::audit_writes(events.len(), false);
                return Err(e.into());
            }
        }
        match tx.commit().await {
            Ok(()) => {
                metrics::audit_writes(events.len(), true);
                Ok(())
            }
            Err(e) => {
                metrics::audit_writes(events.len(), false);
                Err(e.into())
            }
        }
    }
}

/// `event` fitted to a transparency-log leaf, saying so in the log when it had to be.
fn fit_to_log(event: AuditEvent) -> AuditEvent {
    if event.fits_log() {
        return event;
    }
    let fitted = event.fit_to_log();
    tracing::warn!(
        audit.action = %fitted.action,
        audit.event_id = %fitted.event_id,
        audit.omitted = ?fitted.details.as_ref().and_then(|d| d.get(countersign_domain::audit::OMITTED_DETAILS)),
        "an audit event was too long for the transparency log; its largest details were left out"
    );
    fitted
}
