//! `/api/v1/jobs`: list, get, claim, complete, cancel.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_api::ListPage as Listing;
use countersign_domain::{Job, JobId, JobStatus, Permission, SubjectId};
use countersign_service::jobs::ClaimRequest;
use countersign_service::paging::ListParams;
use countersign_service::store::JobFilter;
use serde::Deserialize;

use countersign_api::requests::{CancelBody, ClaimBody, CompleteBody};

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth, OptionalJson, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(
            Method::GET,
            "/api/v1/jobs",
            Gate::Permission(Permission::JobRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/jobs/{id}",
            Gate::Permission(Permission::JobRead),
            get,
        )
        .add(
            Method::POST,
            "/api/v1/jobs/claim",
            Gate::Permission(Permission::JobClaim),
            claim,
        )
        .add(
            Method::POST,
            "/api/v1/jobs/{id}/complete",
            Gate::Permission(Permission::JobComplete),
            complete,
        )
        .add(
            Method::POST,
            "/api/v1/jobs/{id}/cancel",
            Gate::Permission(Permission::JobCancel),
            cancel,
        )
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct JobQuery {
    subject_id: Option<SubjectId>,
    status: Option<JobStatus>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery), responses((status = 200, body = Listing<Job>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Json<Listing<Job>>> {
    let filter = JobFilter {
        subject_id: q.subject_id,
        status: q.status,
    };
    let params = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(s.service.list_jobs(&caller, &filter, &params).await?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = JobId, Path, description = "The job.")), responses((status = 200, body = Job)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<JobId>,
) -> ApiResult<Json<Job>> {
    Ok(Json(s.service.get_job(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/jobs/claim", tag = "jobs", request_body(content = Option<ClaimBody>, description = "Optional."), responses((status = 200, body = Job, description = "The claimed job, now `running`."), (status = 204, description = "No job is pending.")))]
async fn claim(
    State(s): State<AppState>,
    Auth(caller): Auth,
    OptionalJson(b): OptionalJson<ClaimBody>,
) -> ApiResult<Response> {
    let req = ClaimRequest {
        actions: b.actions,
        lease_secs: b.lease_secs,
    };
    Ok(match s.service.claim_job(&caller, req).await? {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/complete", tag = "jobs", params(("id" = JobId, Path, description = "The job.")), request_body = CompleteBody, responses((status = 200, body = Job)))]
async fn complete(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<JobId>,
    ApiJson(b): ApiJson<CompleteBody>,
) -> ApiResult<Json<Job>> {
    Ok(Json(
        s.service
            .complete_job(&caller, id, b.outcome, b.message)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = JobId, Path, description = "The job.")), request_body(content = Option<CancelBody>, description = "Optional."), responses((status = 200, body = Job)))]
async fn cancel(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<JobId>,
    OptionalJson(b): OptionalJson<CancelBody>,
) -> ApiResult<Json<Job>> {
    Ok(Json(s.service.cancel_job(&caller, id, b.reason).await?))
}
