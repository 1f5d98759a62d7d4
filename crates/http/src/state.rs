//! The state every handler shares.

use countersign_service::Service;

use crate::app::HttpConfig;

/// The service handle and the HTTP settings.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Service,
    pub config: HttpConfig,
}
