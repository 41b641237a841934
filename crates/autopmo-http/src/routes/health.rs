//! Liveness and readiness, for load balancers and orchestrators.

use crate::authz::rules::{RouteRule, Rule, rule};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[rule("GET", "/healthz", Rule::Public), rule("GET", "/readyz", Rule::Public)];

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
    /// For `/readyz`: the schema version of the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<i64>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", schema_version: None })
}

/// The database is reachable and its schema is the one this server expects.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses((status = 200, body = Health), (status = 503, description = "Not ready", content_type = "application/problem+json"))
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    let version = autopmo_store::migrate::current_version(&state.store).await.map_err(|e| match e {
        autopmo_store::StoreError::SchemaTooNew { .. } | autopmo_store::StoreError::MigrationChanged { .. } => {
            ApiError::Unavailable(e.to_string())
        }
        other => other.into(),
    })?;
    let latest = autopmo_store::migrate::latest_version();
    if version != latest {
        return Err(ApiError::Unavailable(format!("schema at version {version}, expected {latest}")));
    }
    Ok(Json(Health { status: "ok", schema_version: Some(version) }))
}
