//! The console's stylesheet and script, embedded in the binary at build time (no CDN, no
//! build step): `GET /ui/assets/{file}`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::console::page::ErrorPage;

/// `crates/http/assets/console/`, compiled in.
#[derive(RustEmbed)]
#[folder = "assets/console/"]
struct Assets;

/// The media type of an asset, by its extension (only the console's own kinds).
fn media_type(file: &str) -> Option<&'static str> {
    match file.rsplit_once('.')?.1 {
        "css" => Some("text/css; charset=utf-8"),
        "js" => Some("text/javascript; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        _ => None,
    }
}

/// `GET /ui/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (Some(asset), Some(media_type)) = (Assets::get(&file), media_type(&file)) else {
        return ErrorPage::new(StatusCode::NOT_FOUND, "There is no such asset.").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
            // Assets change only with the binary; an hour is short enough for an upgrade.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        asset.data.into_owned(),
    )
        .into_response()
}
