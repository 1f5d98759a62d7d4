//! `/api/v1/log`: the transparency log (C2SP formats), and an audit event's inclusion proof.
//!
//! - `GET /api/v1/log/checkpoint`: the newest signed checkpoint, `text/plain`.
//! - `GET /api/v1/log/key`: the verifier key, `text/plain`.
//! - `GET /api/v1/log/tile/{L}/{N}[.p/{W}]`: a hash tile, `application/octet-stream`.
//! - `GET /api/v1/log/tile/entries/{N}[.p/{W}]`: an entry bundle.
//! - `GET /api/v1/audit/{event_id}/proof[?tree_size=N]`: JSON, or with `Accept: text/plain`
//!   a C2SP `tlog-proof`.
//! - `GET /api/v1/log/consistency?old=M&new=N`: JSON.
//!
//! Every route needs `log.read`; with `COUNTERSIGN_LOG_PUBLIC=true` the checkpoint, the key
//! and the hash tiles are registered without a gate (for external monitors), and their use
//! cases answer anyone. Tiles and bundles never change once full, so they may be cached; a
//! partial one and the checkpoint are answered `no-cache`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_api::{ConsistencyProof, EventProof};
use countersign_domain::{EventId, Permission};
use countersign_service::Caller;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{ApiQuery, Auth, PathId};
use crate::gate::{Gate, Routes};
use crate::state::AppState;

/// The media type of notes, keys and `tlog-proof`s.
const TEXT: &str = "text/plain; charset=utf-8";
/// The media type of tiles and entry bundles.
const BINARY: &str = "application/octet-stream";

pub fn routes(state: &AppState) -> Routes {
    let read = Gate::Permission(Permission::LogRead);
    let public = if state.service.log_is_public() {
        Gate::Public
    } else {
        read
    };
    Routes::new(state.clone())
        .add(Method::GET, "/api/v1/log/checkpoint", public, checkpoint)
        .add(Method::GET, "/api/v1/log/key", public, key)
        .add(
            Method::GET,
            "/api/v1/log/tile/entries/{*path}",
            read,
            entries,
        )
        .add(Method::GET, "/api/v1/log/tile/{*path}", public, tile)
        .add(Method::GET, "/api/v1/log/consistency", read, consistency)
        .add(Method::GET, "/api/v1/audit/{id}/proof", read, proof)
}

/// The caller the gate authenticated, or none on a route registered without a gate.
#[derive(Debug)]
struct MaybeAuth(Option<Caller>);

impl axum::extract::FromRequestParts<AppState> for MaybeAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Caller>().cloned()))
    }
}

fn answer(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// Full tiles and bundles never change; partial ones grow.
fn tile_cache(path: &str) -> &'static str {
    if path.contains(".p/") {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    }
}

#[utoipa::path(get, path = "/api/v1/log/checkpoint", tag = "log", responses((status = 200, description = "The newest checkpoint: a C2SP tlog-checkpoint signed as a C2SP signed-note (Ed25519).", content_type = "text/plain", body = String)))]
async fn checkpoint(
    State(s): State<AppState>,
    MaybeAuth(caller): MaybeAuth,
) -> ApiResult<Response> {
    let note = s.service.log_checkpoint(caller.as_ref()).await?;
    Ok(answer(TEXT, "no-cache", note))
}

#[utoipa::path(get, path = "/api/v1/log/key", tag = "log", responses((status = 200, description = "The verifier key, C2SP note-verifier form: `<origin>+<8 hex key id>+<base64(0x01 || public key)>`.", content_type = "text/plain", body = String)))]
async fn key(State(s): State<AppState>, MaybeAuth(caller): MaybeAuth) -> ApiResult<Response> {
    let key = s.service.log_key(caller.as_ref()).await?;
    Ok(answer(TEXT, "no-cache", format!("{key}\n")))
}

#[utoipa::path(get, path = "/api/v1/log/tile/{path}", tag = "log", params(("path" = String, Path, description = "`<L>/<N>[.p/<W>]`: level, index in C2SP's `x001/x234/067` form, width of a partial tile.")), responses((status = 200, description = "A C2SP hash tile: `W` (256 when full) 32-byte hashes.", content_type = "application/octet-stream", body = Vec<u8>)))]
async fn tile(
    State(s): State<AppState>,
    MaybeAuth(caller): MaybeAuth,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let bytes = s.service.log_tile(caller.as_ref(), &path).await?;
    Ok(answer(BINARY, tile_cache(&path), bytes))
}

#[utoipa::path(get, path = "/api/v1/log/tile/entries/{path}", tag = "log", params(("path" = String, Path, description = "`<N>[.p/<W>]`: index in C2SP's `x001/x234/067` form, width of a partial bundle.")), responses((status = 200, description = "A C2SP entry bundle: each leaf (the event's RFC 8785 canonical JSON) as a 2-byte big-endian length and its bytes.", content_type = "application/octet-stream", body = Vec<u8>)))]
async fn entries(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let bytes = s.service.log_entry_bundle(&caller, &path).await?;
    Ok(answer(BINARY, tile_cache(&path), bytes))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ProofQuery {
    /// The size of a signed checkpoint to prove against (default: the newest).
    #[param(minimum = 1)]
    tree_size: Option<u64>,
}

/// Whether the client asked for the text form (`Accept: text/plain`).
fn wants_text(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"))
        })
}

#[utoipa::path(get, path = "/api/v1/audit/{id}/proof", tag = "log", params(("id" = EventId, Path, description = "The event."), ProofQuery), responses((status = 200, description = "The event's inclusion proof; with `Accept: text/plain`, a C2SP tlog-proof.", content((EventProof = "application/json"), (String = "text/plain")))))]
async fn proof(
    State(s): State<AppState>,
    Auth(caller): Auth,
    PathId(id): PathId<EventId>,
    ApiQuery(q): ApiQuery<ProofQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let proof = s
        .service
        .audit_event_proof(&caller, id, q.tree_size)
        .await?;
    if wants_text(&headers) {
        Ok(answer(TEXT, "no-cache", proof.text))
    } else {
        Ok(Json(proof.json).into_response())
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The older tree's size; required.
    #[param(required = true, value_type = u64, minimum = 0)]
    old: Option<String>,
    /// The newer tree's size (at most the newest checkpoint's); required.
    #[param(required = true, value_type = u64, minimum = 0)]
    new: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/log/consistency", tag = "log", params(ConsistencyQuery), responses((status = 200, body = ConsistencyProof)))]
async fn consistency(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProof>> {
    Ok(Json(
        s.service
            .log_consistency(&caller, q.old.as_deref(), q.new.as_deref())
            .await?,
    ))
}
