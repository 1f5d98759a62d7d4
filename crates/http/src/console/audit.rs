//! The audit trail: `GET /ui/audit` (filters by category, action, actor, resource and time;
//! keyset pages like the API) and `GET /ui/audit/export` (NDJSON, streamed through the API's
//! export use case, which writes its own `audit.exported` event).
//!
//! The filter form only reads, so it carries no CSRF token; the export link does, because an
//! export is itself audited (it writes), and it is checked like a form's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::{clock, AuditEvent, AuditResult, Category, Decision, Permission};
use countersign_service::audit_export::ExportParams;
use countersign_service::paging::ListParams;
use countersign_service::store::AuditFilter;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::console::page::{self, Chrome, ErrorPage};
use crate::console::session::{refuse_csrf, Session};
use crate::console::view::{query, rfc3339, when};
use crate::routes::audit::export_response;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub at: String,
    pub category: String,
    pub action: String,
    pub actor: String,
    pub resource: String,
    pub outcome: String,
    pub denied: bool,
    pub details: String,
}

impl EventRow {
    fn new(e: &AuditEvent) -> Self {
        let denied = e.authorization.decision == Decision::Deny;
        let outcome = match &e.result {
            AuditResult::Ok => "ok".to_owned(),
            AuditResult::Error { kind, .. } => kind.clone(),
        };
        Self {
            id: e.event_id.to_string(),
            at: when(e.ts),
            category: e.category.as_str().to_owned(),
            action: e.action.clone(),
            actor: e.actor.name.clone().unwrap_or_else(|| e.actor.id.clone()),
            resource: format!("{} {}", e.resource.kind, e.resource.id),
            outcome,
            denied,
            details: e
                .details
                .as_ref()
                .map(|d| serde_json::Value::Object(d.clone()).to_string())
                .unwrap_or_default(),
        }
    }
}

/// The filter form's fields, kept as typed so the form shows them back.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    category: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// An instant typed in the form: RFC 3339, or a browser's `datetime-local` value
/// (`2026-05-20T10:30`, read as UTC).
fn instant(field: &str, value: &str) -> Result<Option<OffsetDateTime>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(Some(t));
    }
    let local = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let local_secs =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(value, &local)
        .or_else(|_| PrimitiveDateTime::parse(value, &local_secs))
        .map(|t| Some(t.assume_utc()))
        .map_err(|_| format!("{field}: `{value}` is not a time (2026-05-20T10:30:00Z)"))
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, String> {
        let category = match opt(&self.category) {
            None => None,
            Some(c) => Some(
                c.parse::<Category>()
                    .map_err(|e| format!("category: {e}"))?,
            ),
        };
        Ok(AuditFilter {
            category,
            action: opt(&self.action),
            actor: opt(&self.actor),
            resource_type: opt(&self.resource_type),
            resource_id: opt(&self.resource_id),
            from: instant("from", &self.from)?,
            to: instant("to", &self.to)?,
        })
    }

    /// The query string of these filters (no cursor).
    fn filters_query(&self) -> String {
        query(&[
            ("category", Some(&self.category)),
            ("action", Some(&self.action)),
            ("actor", Some(&self.actor)),
            ("resource_type", Some(&self.resource_type)),
            ("resource_id", Some(&self.resource_id)),
            ("from", Some(&self.from)),
            ("to", Some(&self.to)),
        ])
    }
}

#[derive(Debug, Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    q: AuditQuery,
    categories: Vec<&'static str>,
    rows: Vec<EventRow>,
    next: Option<String>,
    can_export: bool,
    export_from: String,
    export_to: String,
    export_href: String,
}

/// `GET /ui/audit`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return ErrorPage::new(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
    };
    let listing = match state
        .service
        .list_audit(&session.caller, &filter, &params)
        .await
    {
        Ok(l) => l,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let filters = q.filters_query();
    let now = clock::now();
    // The export covers the filter's window, or the last day.
    let export_to = filter.to.unwrap_or(now);
    let export_from = filter.from.unwrap_or(export_to - time::Duration::days(1));
    let (export_from, export_to) = (rfc3339(export_from), rfc3339(export_to));
    let export_href = format!(
        "/ui/audit/export?{}",
        query(&[
            ("from", Some(&export_from)),
            ("to", Some(&export_to)),
            ("category", Some(&q.category)),
            ("csrf", Some(&session.csrf())),
        ])
    );
    page::render(&AuditPage {
        chrome: Chrome::new(&session, "audit"),
        rows: listing.data.iter().map(EventRow::new).collect(),
        next: listing.next_cursor.map(|c| {
            let cursor = query(&[("cursor", Some(&c))]);
            if filters.is_empty() {
                format!("/ui/audit?{cursor}")
            } else {
                format!("/ui/audit?{filters}&{cursor}")
            }
        }),
        categories: Category::ALL.iter().map(|c| c.as_str()).collect(),
        can_export: session.caller.has(Permission::AuditExport),
        export_from,
        export_to,
        export_href,
        q,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    csrf: String,
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
}

/// `GET /ui/audit/export`: the API's NDJSON export, for this session's caller.
pub async fn export(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ExportQuery>,
) -> Response {
    if !session.token.csrf_matches(&q.csrf) {
        return refuse_csrf(
            &state,
            Some(&session.caller),
            "GET /ui/audit/export".to_owned(),
        )
        .await;
    }
    let params = ExportParams {
        from: q.from,
        to: q.to,
        category: q.category.filter(|c| !c.is_empty()),
        ..ExportParams::default()
    };
    let export = match state.service.export_audit(&session.caller, &params).await {
        Ok(e) => e,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    match export_response(export) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
