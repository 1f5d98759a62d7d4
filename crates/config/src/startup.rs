//! Getting a database ready at start: migrations with the owner's URL, retried with backoff
//! while the database is unreachable, and a loud warning when the service's role could
//! switch off the audit trail's protection.

use std::future::Future;
use std::time::Duration;

use countersign_service::{Service, ServiceError};
use countersign_store::StoreError;

use crate::backend::Database;
use crate::database::DatabaseUrl;

/// The first wait after a failed attempt; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Run `attempt` until it succeeds or fails with an error `unavailable` does not recognise,
/// waiting with exponential backoff (from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`]) between
/// attempts that found the database unreachable.
pub async fn retry_unavailable<T, E, F, Fut>(
    what: &str,
    unavailable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut wait = FIRST_BACKOFF;
    loop {
        match attempt().await {
            Err(e) if unavailable(&e) => {
                tracing::warn!(
                    error = %e,
                    retry_in = ?wait,
                    "{what}: the database is unavailable; retrying"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
}

/// Whether a store error means the database could not be reached.
pub fn store_unavailable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

/// Whether a service error means the database could not be reached.
pub fn service_unavailable(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Unavailable(_))
}

/// Apply pending migrations as the schema's owner: through `migrate_url` when it differs
/// from the service's URL (a separate short-lived pool), else through `db`.
pub async fn migrate(
    db: &Database,
    url: &DatabaseUrl,
    migrate_url: &DatabaseUrl,
) -> Result<(), StoreError> {
    if migrate_url == url {
        return db.migrate().await;
    }
    // Dropped at the end: the owner's connection is not kept.
    Database::open(migrate_url, 1).await?.migrate().await
}

/// Log a loud warning (and set `countersign_database_role_unsafe`) when the role `service`
/// connects as is a superuser or owns the audit table. Answers whether it is unsafe.
pub async fn check_role_posture(service: &Service) -> bool {
    match service.store().role_posture().await {
        Ok(Some(p)) => {
            countersign_service::metrics::database_role_unsafe(p.is_unsafe());
            if p.is_unsafe() {
                tracing::warn!(
                    database.role = %p.role,
                    database.superuser = p.superuser,
                    database.owns_audit_table = p.owns_audit_table,
                    "UNSAFE DATABASE ROLE: the service connects as a role that can disable the \
                     audit trail's append-only triggers. Migrate with the owner \
                     (COUNTERSIGN_MIGRATE_DATABASE_URL) and run the service as a runtime role \
                     that owns nothing: `countersign-server db grant-runtime --role countersign_app`"
                );
            }
            p.is_unsafe()
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the database role's posture");
            false
        }
    }
}
