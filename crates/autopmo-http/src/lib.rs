#![doc = include_str!("../README.md")]

mod audit;
mod extract;
mod middleware;
mod openapi;
mod problem;
mod routes;
mod state;
pub mod transport;
mod views;

pub use audit::{Audit, AuditCtx};
pub use extract::principal::Principal;
pub use middleware::RequestId;
pub use problem::ApiError;
pub use state::{AppState, Limits};

use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;

/// The whole application: routes, middleware and the OpenAPI document.
pub fn app(state: AppState) -> Router {
    let (router, api) = routes::router().split_for_parts();
    let api = openapi::finish(api);
    let json = std::sync::Arc::new(api.to_json().unwrap_or_default());
    middleware::wrap(
        router
            .route("/api/v1/openapi.json", axum::routing::get(move || openapi::serve(std::sync::Arc::clone(&json))))
            .fallback(problem::not_found_fallback),
        &state,
    )
    .with_state(state)
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, api) = routes::router().split_for_parts();
    openapi::finish(api)
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
