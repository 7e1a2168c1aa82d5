//! Errors as the API answers them: every refusal, from a handler or from any layer under it
//! (routing, extractors, body limits, timeouts), is JSON `{"code", "message"}` with a stable code.
//!
//! Handlers return [`ApiError`]; path and query parameters go through [`ApiPath`] and
//! [`ApiQuery`], whose refusals carry `bad_path` / `bad_query`; unknown routes and methods have
//! JSON fallbacks; and [`json_errors`] rewrites whatever error a lower layer still answered in
//! plain text (the body limit's 413, a WebSocket upgrade refusal) into the same shape.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// A JSON error with a stable code.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// The node's task is gone (shutting down).
    pub(crate) fn unavailable() -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "node_stopped", "the node is not running")
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(json!({ "code": self.code, "message": self.message }));
        (self.status, body).into_response()
    }
}

impl From<tokenbook_store::StoreError> for ApiError {
    fn from(e: tokenbook_store::StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string())
    }
}

/// Path parameters; a parameter that does not parse is `400 bad_path`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_path", e.body_text())),
        }
    }
}

/// Query parameters; a query that does not parse is `400 bad_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text())),
        }
    }
}

/// The answer for a path no route serves.
pub async fn route_unknown(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_unknown", format!("no route {}", uri.path()))
}

/// The answer for a method a route does not serve.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not served at {}", uri.path()),
    )
}

/// The stable code of an HTTP error status a lower layer answered.
#[must_use]
pub fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "bad_request",
        404 => "route_unknown",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "body_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        426 => "upgrade_required",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Most bytes of a plain-text error body carried into the JSON message.
const MAX_ERROR_TEXT: usize = 1_024;

/// Middleware: an error answer that is not JSON becomes `{"code", "message"}` (the message is
/// the original text, or the status's reason when there was none).
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), MAX_ERROR_TEXT).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    ApiError::new(status, status_code_name(status), text).into_response()
}
