//! Reading the audit trail: list with filters, get by event id.
//!
//! The list is newest first by `(ts, event_id)` with keyset pagination. Filters: `category`,
//! `action`, `actor` (an actor id or name), `resource_type`, `resource_id`, `from`
//! (inclusive) and `to` (exclusive). A value no stored event could ever match (an empty
//! string, an action outside `[a-z0-9._-]{1,128}`, an overlong field, `to` not after `from`)
//! is a 400 rather than a silently empty page.
//!
//! The streaming export and the ingest endpoint live in [`crate::audit_export`] and
//! [`crate::audit_ingest`].

use countersign_domain::audit::{MAX_ACTION_LEN, MAX_FIELD_LEN};
use countersign_domain::{AuditEvent, EventId, Permission, Resource};
use countersign_store::AuditFilter;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{listing, ListParams, Listing};
use crate::service::Service;

/// Refuse filter values that can never match a stored event.
fn validate_filter(filter: &AuditFilter) -> ServiceResult<()> {
    if let Some(action) = &filter.action {
        let ok = !action.is_empty()
            && action.len() <= MAX_ACTION_LEN
            && action.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !ok {
            return Err(ServiceError::invalid(format!(
                "action: must be 1 to {MAX_ACTION_LEN} characters of [a-z0-9._-]"
            )));
        }
    }
    for (field, value) in [
        ("actor", &filter.actor),
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
    ] {
        if let Some(v) = value {
            if v.is_empty() || v.len() > MAX_FIELD_LEN {
                return Err(ServiceError::invalid(format!(
                    "{field}: must be 1 to {MAX_FIELD_LEN} bytes"
                )));
            }
        }
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to <= from {
            return Err(ServiceError::invalid("to: must be after from"));
        }
    }
    Ok(())
}

impl Service {
    /// `GET /api/v1/audit[?category=&action=&actor=&resource_type=&resource_id=&from=&to=]`.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        params: &ListParams,
    ) -> ServiceResult<Listing<AuditEvent>> {
        self.require(caller, Permission::AuditRead, Resource::new("audit", "*"))
            .await?;
        validate_filter(filter)?;
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let events = tx.list_audit_events(filter, &page).await?;
        tx.commit().await?;
        Ok(listing(events))
    }

    /// `GET /api/v1/audit/{event_id}`.
    pub async fn get_audit_event(&self, caller: &Caller, id: EventId) -> ServiceResult<AuditEvent> {
        self.require(
            caller,
            Permission::AuditRead,
            Resource::new("audit_event", id),
        )
        .await?;
        let mut tx = self.begin().await?;
        let event = tx
            .get_audit_event(id)
            .await?
            .ok_or(ServiceError::NotFound("audit event"))?;
        tx.commit().await?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_that_cannot_match_are_refused() {
        assert!(validate_filter(&AuditFilter::default()).is_ok());
        let bad = [
            AuditFilter {
                action: Some("Approval Approved".into()),
                ..AuditFilter::default()
            },
            AuditFilter {
                actor: Some(String::new()),
                ..AuditFilter::default()
            },
            AuditFilter {
                resource_id: Some("x".repeat(MAX_FIELD_LEN + 1)),
                ..AuditFilter::default()
            },
            AuditFilter {
                from: Some(time::macros::datetime!(2026-05-20 00:00 UTC)),
                to: Some(time::macros::datetime!(2026-05-20 00:00 UTC)),
                ..AuditFilter::default()
            },
        ];
        for f in bad {
            assert!(
                matches!(validate_filter(&f), Err(ServiceError::Invalid(_))),
                "{f:?}"
            );
        }
    }
}
