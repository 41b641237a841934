//! Layers around every route: request ids, time limits, bare errors turned
//! into problems, and response headers.

use crate::problem::{self, PROBLEM_JSON};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::timeout::TimeoutLayer;

/// The request-id header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps `router` in the layers every route shares.
pub fn wrap(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    // Outermost last: request id, audit, problem documents, time limit, panics, authorization, body limit.
    router
        .layer(axum::extract::DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::authz::layer))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, state.limits.request_timeout))
        .layer(axum::middleware::from_fn(problems_for_bare_errors))
        .layer(axum::middleware::from_fn(crate::transport::enforce))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::audit::layer))
        .layer(axum::middleware::from_fn({
            let transport = std::sync::Arc::clone(&state.transport);
            move |req, next| crate::transport::identify(std::sync::Arc::clone(&transport), req, next)
        }))
        .layer(axum::middleware::from_fn(request_id))
}

/// Accepts a well-formed `X-Request-Id` (1–128 of `A-Z a-z 0-9 . _ -`) or
/// makes one; stores it for the handlers and echoes it on the response.
async fn request_id(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), "request");
    response
}

/// Error responses made outside our handlers (unknown method, body limit,
/// time-out) carry no problem document; give them one.
async fn problems_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut replaced = problem::for_status(status);
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    replaced
}
