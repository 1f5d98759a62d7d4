//! Reading the audit trail: list with filters, get by event id.

use countersign_domain::{AuditEvent, EventId, Permission, Resource};
use countersign_store::AuditFilter;

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{ListParams, Listing};
use crate::service::Service;

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
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if to <= from {
                return Err(ServiceError::invalid("to: must be after from"));
            }
        }
        let page = params.to_page()?;
        let mut tx = self.begin().await?;
        let events = tx.list_audit_events(filter, &page).await?;
        tx.commit().await?;
        Ok(events.into())
    }

    /// `GET /api/v1/audit/{event_id}`.
    pub async fn get_audit_event(&self, caller: &Caller, id: EventId) -> ServiceResult<AuditEvent> {
        self.require(caller, Permission::AuditRead, Resource::new("audit_event", id))
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
