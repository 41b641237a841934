//! The permission matrix and the policies in force; reloading them.

use crate::audit::Audit;
use crate::authz::Granted;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_policies)).routes(routes!(reload_policies))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/policies", Rule::Guarded("policies:read", TargetRef::Type("policy"))),
    rule("POST", "/api/v1/policies/reload", Rule::Guarded("policies:manage", TargetRef::Type("policy"))),
];

/// One policy, as written.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `allow` or `deny`.
    pub effect: String,
    /// Roles it applies to (`*`: any).
    pub roles: Vec<String>,
    /// Resource types (`*`: any).
    pub types: Vec<String>,
    /// Actions (`*`: any).
    pub actions: Vec<String>,
    /// Conditions, all of which must hold.
    pub conditions: Vec<String>,
}

/// The matrix and the policies in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoliciesView {
    /// SHA-256 of the matrix and the policy source (changes on every edit).
    pub digest: String,
    /// Permission → the roles the matrix grants it to.
    pub matrix: BTreeMap<String, Vec<String>>,
    /// The policies, in file order.
    pub policies: Vec<PolicyView>,
}

/// The permission matrix and the ABAC policies in force.
#[utoipa::path(get, path = "/api/v1/policies", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = PoliciesView), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not allowed")))]
async fn show_policies(State(state): State<AppState>, _granted: Granted) -> Json<PoliciesView> {
    let authorizer = state.authz.current();
    let matrix = authorizer.matrix();
    let rows = matrix
        .permissions()
        .into_iter()
        .map(|p| {
            let roles = autopmo_domain::Role::ALL.iter().filter(|r| matrix.grants(**r, p)).map(|r| r.to_string());
            (p.to_string(), roles.collect())
        })
        .collect();
    let policies = authorizer
        .policies()
        .summaries()
        .into_iter()
        .map(|p| PolicyView {
            name: p.name,
            description: p.description,
            effect: p.effect.as_str().to_owned(),
            roles: p.roles,
            types: p.types,
            actions: p.actions,
            conditions: p.conditions,
        })
        .collect();
    Json(PoliciesView { digest: authorizer.digest(), matrix: rows, policies })
}

/// What a reload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadView {
    /// Digest before.
    pub old_digest: String,
    /// Digest after.
    pub new_digest: String,
    /// Whether anything changed.
    pub changed: bool,
    /// The policies now in force.
    pub policies: Vec<String>,
}

/// Reloads the matrix and policy files (as SIGHUP does). An invalid file
/// changes nothing: the errors, with their lines, are in the answer.
/// Audited either way.
#[utoipa::path(post, path = "/api/v1/policies/reload", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = ReloadView), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not allowed"), (status = 422, description = "Invalid policies; nothing changed")))]
async fn reload_policies(
    State(state): State<AppState>,
    audit: Audit,
    _granted: Granted,
) -> Result<Json<ReloadView>, ApiError> {
    let event = audit.0.event(&state, "authz.policies_reloaded", "reload");
    let outcome = state
        .authz
        .reload_audited(&state.trail, event, "api")
        .await
        .map_err(|e| ApiError::Unavailable(format!("audit trail: {e}")))?;
    match outcome {
        Ok(r) => Ok(Json(ReloadView {
            changed: r.old_digest != r.new_digest,
            old_digest: r.old_digest,
            new_digest: r.new_digest,
            policies: r.policies,
        })),
        Err(errors) => Err(ApiError::InvalidPolicies(errors)),
    }
}
