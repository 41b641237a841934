#![doc = include_str!("../README.md")]

mod audit;
pub mod authz;
pub mod budget;
mod extract;
mod middleware;
mod openapi;
mod problem;
mod routes;
mod schema;
mod state;
pub mod transport;
mod views;

pub use audit::{Audit, AuditCtx};
pub use authz::{Authz, PolicySource};
pub use budget::BudgetRule;
pub use extract::principal::Principal;
pub use middleware::RequestId;
pub use problem::ApiError;
pub use state::{AppState, Limits, Services};

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

/// A route and the permission it needs (`None`: public or self-service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePermission {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The route as written in the router.
    pub path: &'static str,
    /// `projects:read`, …; `None` for public and self-service routes.
    pub permission: Option<&'static str>,
}

/// Every route's authorization declaration.
pub fn route_permissions() -> Vec<RoutePermission> {
    routes::rules()
        .iter()
        .map(|r| RoutePermission {
            method: r.method,
            path: r.path,
            permission: match r.rule {
                authz::rules::Rule::Guarded(p, _) => Some(p),
                authz::rules::Rule::Public | authz::rules::Rule::SelfService => None,
            },
        })
        .collect()
}

/// Problems with the authorization declarations, walking every operation
/// of the router: one without a rule, a rule for no route, a rule twice, an
/// unknown permission. Empty when all is well.
pub fn authorization_rule_problems() -> Vec<String> {
    let doc = serde_json::to_value(openapi_document()).unwrap_or_default();
    let mut operations = vec![("GET".to_owned(), "/api/v1/openapi.json".to_owned())];
    if let Some(paths) = doc.get("paths").and_then(serde_json::Value::as_object) {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
                if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                    operations.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    authz::check_rules(&operations)
}
