//! `/api/v1/subjects`, and job requests on a subject (`POST /api/v1/subjects/{id}/jobs`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Json;
use countersign_api::{JobRequested, ListPage as Listing};
use countersign_domain::{Permission, PolicyId, Subject, SubjectId};
use countersign_service::jobs::JobRequest;
use countersign_service::store::SubjectFilter;
use countersign_service::subjects::SubjectInput;
use serde::Deserialize;

use countersign_api::requests::{CreateSubjectBody as SubjectBody, RequestJobBody as JobBody};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Routes {
    Routes::new(state.clone())
        .add(
            Method::POST,
            "/api/v1/subjects",
            Gate::Permission(Permission::SubjectWrite),
            create,
        )
        .add(
            Method::GET,
            "/api/v1/subjects",
            Gate::Permission(Permission::SubjectRead),
            list,
        )
        .add(
            Method::GET,
            "/api/v1/subjects/{id}",
            Gate::Permission(Permission::SubjectRead),
            get,
        )
        .add(
            Method::POST,
            "/api/v1/subjects/{id}/jobs",
            Gate::Permission(Permission::JobRequest),
            request_job,
        )
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SubjectQuery {
    kind: Option<String>,
    policy_id: Option<PolicyId>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque; its form is given for validation).
    #[param(
        max_length = 512,
        pattern = "^76317c(?:2d)?(?:3[0-9]){1,16}7c(?:2[0-9a-f]|[3-6][0-9a-f]|7[0-9a-e])+$"
    )]
    cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/subjects", tag = "subjects", request_body = SubjectBody, responses((status = 201, body = Subject)))]
async fn create(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<SubjectBody>,
) -> ApiResult<(StatusCode, Json<Subject>)> {
    let input = SubjectInput {
        kind: b.kind,
        name: b.name,
        policy_id: b.policy_id,
        labels: b.labels,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.service.create_subject(&caller, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/subjects", tag = "subjects", params(SubjectQuery), responses((status = 200, body = Listing<Subject>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<SubjectQuery>,
) -> ApiResult<Json<Listing<Subject>>> {
    let filter = SubjectFilter {
        kind: q.kind,
        policy_id: q.policy_id,
    };
    let params = countersign_service::paging::ListParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(
        s.service.list_subjects(&caller, &filter, &params).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/subjects/{id}", tag = "subjects", params(("id" = SubjectId, Path, description = "The subject.")), responses((status = 200, body = Subject)))]
async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<SubjectId>,
) -> ApiResult<Json<Subject>> {
    Ok(Json(s.service.get_subject(&caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/subjects/{id}/jobs", tag = "jobs", params(("id" = SubjectId, Path, description = "The subject."), ("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x21-\\x7e]{1,255}$", description = "A repeat with the same key and body answers the first result, 200.")), request_body = JobBody, responses((status = 201, body = JobRequested), (status = 200, body = JobRequested, description = "A repeat of an earlier request with the same `Idempotency-Key`.")))]
async fn request_job(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<SubjectId>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<JobBody>,
) -> ApiResult<(StatusCode, Json<JobRequested>)> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key: must be visible ASCII"))?
                .to_owned(),
        ),
    };
    let requested = s
        .service
        .request_job(
            &caller,
            JobRequest {
                subject_id: id,
                action: b.action,
                payload: b.payload,
                idempotency_key,
            },
        )
        .await?;
    let status = if requested.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(requested)))
}
