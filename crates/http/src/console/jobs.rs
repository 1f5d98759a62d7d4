//! `GET /ui/jobs`: jobs, newest first, optionally of one status (`job.read`, through the
//! API's use case).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::JobStatus;
use countersign_service::paging::ListParams;
use countersign_service::store::JobFilter;
use serde::Deserialize;

use crate::console::page::{self, Chrome, ErrorPage};
use crate::console::session::Session;
use crate::console::view::{query, when};
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub action: String,
    pub subject_id: String,
    pub status: String,
    pub attempts: i32,
    pub created: String,
    pub updated: String,
    pub message: String,
}

#[derive(Debug, Template)]
#[template(path = "console/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    rows: Vec<JobRow>,
    status: String,
    statuses: Vec<&'static str>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /ui/jobs`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<JobsQuery>,
) -> Response {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<JobStatus>() {
            Ok(s) => Some(s),
            Err(e) => {
                return ErrorPage::new(StatusCode::BAD_REQUEST, format!("status: {e}"))
                    .into_response()
            }
        },
    };
    let filter = JobFilter {
        subject_id: None,
        status,
    };
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
    };
    let listing = match state
        .service
        .list_jobs(&session.caller, &filter, &params)
        .await
    {
        Ok(l) => l,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let rows = listing
        .data
        .iter()
        .map(|j| JobRow {
            id: j.id.to_string(),
            action: j.action.clone(),
            subject_id: j.subject_id.to_string(),
            status: j.status.as_str().to_owned(),
            attempts: j.attempts,
            created: when(j.created_at),
            updated: when(j.updated_at),
            message: j.result_message.clone().unwrap_or_default(),
        })
        .collect();
    page::render(&JobsPage {
        chrome: Chrome::new(&session, "jobs"),
        rows,
        status: q.status.clone().unwrap_or_default(),
        statuses: vec![
            "awaiting_approval",
            "pending",
            "running",
            "succeeded",
            "failed",
            "cancelled",
        ],
        next: listing.next_cursor.map(|c| {
            format!(
                "/ui/jobs?{}",
                query(&[("cursor", Some(&c)), ("status", q.status.as_deref())])
            )
        }),
    })
}
