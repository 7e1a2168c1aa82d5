//! The web console (issue #20): the files of `console/` at the repository root, built into the
//! binary, served at `/` (the page) and `/console/{file}` (its modules and styles), and the one
//! setting the page reads, `GET /v1/console` (the member nodes its network view polls).
//!
//! Promises: nothing is read from disk or fetched from elsewhere at run time (operations desks
//! are often offline); only the top level of `console/` is served (its tests and development
//! tools are not); every answer carries its content type; an unknown file is `404
//! asset_unknown`.

use super::ApiState;
use super::errors::{ApiError, ApiPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

/// `console/`, as it was when the node was built.
static CONSOLE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../console");

/// The content type of a served file, by extension (`None`: not served).
fn content_type(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

/// A top-level file of the console with its content type.
fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    if name.contains('/') {
        return None;
    }
    let file = CONSOLE.get_file(name)?;
    Some((content_type(name)?, file.contents()))
}

fn serve(name: &str) -> Result<Response, ApiError> {
    let (kind, bytes) = asset(name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "asset_unknown", format!("no console file {name:?}"))
    })?;
    // The files change only with the binary: a short cache keeps reloads cheap, and an upgraded
    // node is seen within a minute.
    Ok(([(CONTENT_TYPE, kind), (CACHE_CONTROL, "max-age=60")], bytes).into_response())
}

/// `/`: the console page.
pub(super) async fn index() -> Result<Response, ApiError> {
    serve("index.html")
}

/// `/console/{file}`: one of the page's files.
pub(super) async fn file(ApiPath(name): ApiPath<String>) -> Result<Response, ApiError> {
    serve(&name)
}

/// `/v1/console`: `{"nodes": [API base URLs]}`, the member nodes the network view polls
/// (`config.toml` `[console] nodes`).
pub(super) async fn settings(State(state): State<ApiState>) -> Response {
    axum::Json(serde_json::json!({ "nodes": *state.console_nodes })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_built_in_and_nothing_else_is_served() {
        let (kind, page) = asset("index.html").expect("console/index.html is built in");
        assert!(kind.starts_with("text/html") && !page.is_empty());
        for file in CONSOLE.files() {
            let name = file.path().to_string_lossy();
            if let Some(kind) = content_type(&name) {
                assert_eq!(asset(&name).map(|(k, _)| k), Some(kind), "{name}");
            }
        }
        assert!(asset("tests/proof.test.mjs").is_none(), "subdirectories are not served");
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("dev-server.py").is_none(), "only web files are served");
    }
}
