//! The state every handler shares.

use std::sync::Arc;

use countersign_service::Service;

use crate::app::HttpConfig;
use crate::deny_flood::DenyFlood;

/// The service handle, the HTTP settings and the flood-control table of anonymous refusals.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Service,
    pub config: HttpConfig,
    pub deny_flood: Arc<DenyFlood>,
}

impl AppState {
    /// The state of one router: the service, the settings and a fresh flood-control table.
    pub fn new(service: Service, config: HttpConfig) -> Self {
        let deny_flood = Arc::new(DenyFlood::new(
            config.anon_deny_audit_per_min,
            config.anon_rate_limit_per_min,
            config.anon_deny_window,
        ));
        Self {
            service,
            config,
            deny_flood,
        }
    }
}
