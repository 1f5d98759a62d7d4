//! Approval pages: waiting on me (`/ui/`), my requests, one approval, and the vote with its
//! confirmation step.
//!
//! Voting takes two posts, both plain forms: the approval page's form (decision and note)
//! posts to `…/confirm`, which shows what is about to be decided; that page's form posts to
//! `…/vote`, which calls the same use case as `POST /api/v1/approvals/{id}/approve|reject`.
//! A refusal (two-person integrity, not eligible, already voted, decided, expired) is the use
//! case's own answer, shown on the approval page with the status the API would give.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use countersign_domain::{clock, ApprovalId, ApprovalState, Permission, VoteDecision};
use countersign_service::console_views::{ApprovalDetail, NamedApproval};
use countersign_service::paging::ListParams;
use countersign_service::store::ApprovalFilter;
use countersign_service::ServiceError;
use serde::Deserialize;

use crate::console::page::{self, message_of, Chrome, ErrorPage};
use crate::console::session::{ConsoleForm, CsrfForm, Session};
use crate::console::view::{pretty_json, query, rfc3339, time_left, when};
use crate::error::ApiError;
use crate::state::AppState;

/// One approval as a row of a list.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub id: String,
    pub subject: String,
    pub subject_kind: String,
    pub action: String,
    pub requester: String,
    pub state: String,
    pub created: String,
    pub created_iso: String,
    pub left: String,
    pub remaining: String,
}

impl ApprovalRow {
    fn new(n: &NamedApproval, now: time::OffsetDateTime) -> Self {
        let a = &n.approval.approval;
        let remaining = n
            .approval
            .remaining
            .iter()
            .map(|r| format!("{} × {}", r.role, r.count))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            id: a.id.to_string(),
            subject: n.subject.name.clone(),
            subject_kind: n.subject.kind.clone(),
            action: n.approval.action.clone(),
            requester: n.requester.clone(),
            state: a.state.to_string(),
            created: when(a.created_at),
            created_iso: rfc3339(a.created_at),
            left: if a.state == ApprovalState::Pending {
                time_left(a.expires_at, now).unwrap_or_else(|| "expired".to_owned())
            } else {
                String::new()
            },
            remaining,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
    state: Option<String>,
}

impl ListQuery {
    fn params(&self) -> ListParams {
        ListParams {
            limit: self.limit,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "console/waiting.html")]
struct WaitingPage {
    chrome: Chrome,
    rows: Vec<ApprovalRow>,
    next: Option<String>,
    can_approve: bool,
}

/// `GET /ui/`: the approvals waiting on my vote.
pub async fn waiting(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Response {
    let listing = match state
        .service
        .waiting_on_me(&session.caller, &q.params())
        .await
    {
        Ok(l) => l,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let now = clock::now();
    page::render(&WaitingPage {
        chrome: Chrome::new(&session, "waiting"),
        rows: listing
            .data
            .iter()
            .map(|n| ApprovalRow::new(n, now))
            .collect(),
        next: listing.next_cursor.map(|c| {
            format!(
                "/ui/?{}",
                query(&[
                    ("cursor", Some(&c)),
                    ("limit", q.limit.map(|l| l.to_string()).as_deref())
                ])
            )
        }),
        can_approve: session.caller.has(Permission::ApprovalApprove),
    })
}

#[derive(Debug, Template)]
#[template(path = "console/requests.html")]
struct RequestsPage {
    chrome: Chrome,
    rows: Vec<ApprovalRow>,
    next: Option<String>,
    state: String,
}

/// `GET /ui/requests`: the approvals I requested.
pub async fn my_requests(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Response {
    let state_filter = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<ApprovalState>() {
            Ok(s) => Some(s),
            Err(e) => {
                return ErrorPage::new(StatusCode::BAD_REQUEST, format!("state: {e}"))
                    .into_response()
            }
        },
    };
    let filter = ApprovalFilter {
        requested_by: Some(session.caller.id()),
        state: state_filter,
        ..ApprovalFilter::default()
    };
    let listing = match state
        .service
        .named_approvals(&session.caller, &filter, &q.params())
        .await
    {
        Ok(l) => l,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let now = clock::now();
    page::render(&RequestsPage {
        chrome: Chrome::new(&session, "requests"),
        rows: listing
            .data
            .iter()
            .map(|n| ApprovalRow::new(n, now))
            .collect(),
        next: listing.next_cursor.map(|c| {
            format!(
                "/ui/requests?{}",
                query(&[
                    ("cursor", Some(&c)),
                    ("state", q.state.as_deref()),
                    ("limit", q.limit.map(|l| l.to_string()).as_deref()),
                ])
            )
        }),
        state: q.state.clone().unwrap_or_default(),
    })
}

#[derive(Debug, Clone)]
pub struct RuleRow {
    pub role: String,
    pub count: u32,
    pub remaining: u32,
    pub candidates: String,
}

#[derive(Debug, Clone)]
pub struct VoteRow {
    pub name: String,
    pub decision: String,
    pub note: String,
    pub at: String,
}

#[derive(Debug, Template)]
#[template(path = "console/approval.html")]
struct ApprovalPage {
    chrome: Chrome,
    id: String,
    state: String,
    subject: String,
    subject_kind: String,
    subject_id: String,
    action: String,
    job_id: String,
    payload: String,
    payload_sha256: String,
    requester: String,
    created: String,
    expires: String,
    left: String,
    decided: String,
    rules: Vec<RuleRow>,
    votes: Vec<VoteRow>,
    would_count: bool,
    reason: String,
    show_form: bool,
    message: Option<String>,
    error: bool,
}

fn approval_page(
    session: &Session,
    detail: &ApprovalDetail,
    message: Option<String>,
    error: bool,
) -> ApprovalPage {
    let now = clock::now();
    let n = &detail.named;
    let a = &n.approval.approval;
    let pending = a.state == ApprovalState::Pending;
    let caller = &detail.eligibility.caller;
    ApprovalPage {
        chrome: Chrome::new(session, "waiting"),
        id: a.id.to_string(),
        state: a.state.to_string(),
        subject: n.subject.name.clone(),
        subject_kind: n.subject.kind.clone(),
        subject_id: a.subject_id.to_string(),
        action: n.approval.action.clone(),
        job_id: a.job_id.to_string(),
        payload: pretty_json(&n.approval.payload),
        payload_sha256: n.approval.payload_sha256.clone(),
        requester: n.requester.clone(),
        created: when(a.created_at),
        expires: when(a.expires_at),
        left: if pending {
            time_left(a.expires_at, now).unwrap_or_else(|| "expired".to_owned())
        } else {
            String::new()
        },
        decided: match (a.decided_at, a.decided_by.as_deref()) {
            (Some(at), Some(by)) => format!("{} by {}", when(at), by),
            _ => String::new(),
        },
        rules: detail
            .eligibility
            .rules
            .iter()
            .map(|r| RuleRow {
                role: r.role.to_string(),
                count: r.count,
                remaining: r.remaining,
                candidates: r
                    .candidates
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        votes: a
            .votes
            .iter()
            .map(|v| VoteRow {
                name: n
                    .voters
                    .get(&v.principal_id)
                    .cloned()
                    .unwrap_or_else(|| v.principal_id.to_string()),
                decision: v.decision.as_str().to_owned(),
                note: v.note.clone().unwrap_or_default(),
                at: when(v.at),
            })
            .collect(),
        would_count: caller.would_count,
        reason: caller.reason.clone(),
        show_form: pending
            && (session.caller.has(Permission::ApprovalApprove)
                || session.caller.has(Permission::ApprovalReject)),
        message,
        error,
    }
}

fn approval_id(raw: &str) -> Result<ApprovalId, ErrorPage> {
    raw.parse::<ApprovalId>()
        .map_err(|_| ErrorPage::new(StatusCode::NOT_FOUND, "There is no such approval request."))
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    voted: Option<String>,
}

/// `GET /ui/approvals/{id}`.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let id = match approval_id(&raw) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let detail = match state.service.approval_detail(&session.caller, id).await {
        Ok(d) => d,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let message = match q.voted.as_deref() {
        Some("approve") => Some("Your approval was recorded.".to_owned()),
        Some("reject") => Some("Your rejection was recorded.".to_owned()),
        _ => None,
    };
    page::render(&approval_page(&session, &detail, message, false))
}

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    confirm: String,
}

impl ConsoleForm for VoteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl VoteForm {
    fn decision(&self) -> Result<VoteDecision, ErrorPage> {
        self.decision.parse::<VoteDecision>().map_err(|_| {
            ErrorPage::new(
                StatusCode::BAD_REQUEST,
                "decision: must be `approve` or `reject`",
            )
        })
    }

    fn note(&self) -> Option<String> {
        let note = self.note.trim();
        (!note.is_empty()).then(|| note.to_owned())
    }
}

#[derive(Debug, Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    id: String,
    decision: String,
    note: String,
    subject: String,
    action: String,
    payload_sha256: String,
    requester: String,
}

/// `POST /ui/approvals/{id}/confirm`: what is about to be decided, and the final form.
pub async fn confirm(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    CsrfForm(session, form): CsrfForm<VoteForm>,
) -> Response {
    let id = match approval_id(&raw) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let decision = match form.decision() {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let detail = match state.service.approval_detail(&session.caller, id).await {
        Ok(d) => d,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let n = &detail.named;
    page::render(&ConfirmPage {
        chrome: Chrome::new(&session, "waiting"),
        id: id.to_string(),
        decision: decision.as_str().to_owned(),
        note: form.note().unwrap_or_default(),
        subject: n.subject.name.clone(),
        action: n.approval.action.clone(),
        payload_sha256: n.approval.payload_sha256.clone(),
        requester: n.requester.clone(),
    })
}

/// `POST /ui/approvals/{id}/vote`: the vote, through the API's use case.
pub async fn vote(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    CsrfForm(session, form): CsrfForm<VoteForm>,
) -> Response {
    let id = match approval_id(&raw) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let decision = match form.decision() {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    if form.confirm != "yes" {
        return ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "confirm: a vote is cast from its confirmation page",
        )
        .into_response();
    }
    match state
        .service
        .vote(&session.caller, id, decision, form.note())
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/ui/approvals/{id}?voted={}", decision.as_str())).into_response()
        }
        Err(e) => refused_vote(&state, &session, id, e).await,
    }
}

/// The approval page with the use case's refusal as its message, and the API's status.
async fn refused_vote(
    state: &AppState,
    session: &Session,
    id: ApprovalId,
    e: ServiceError,
) -> Response {
    let message = message_of(&e);
    let (status, code) = ApiError::Service(e).status_and_code();
    match state.service.approval_detail(&session.caller, id).await {
        Ok(detail) => page::render_with(
            status,
            &approval_page(
                session,
                &detail,
                Some(format!("Your vote was not recorded ({code}): {message}")),
                true,
            ),
        ),
        Err(e) => ErrorPage::from(e).into_response(),
    }
}
