//! The routes, one module per resource, and the input parsing they share.

mod approvals;
mod audit;
mod auth;
mod costs;
mod health;
mod invites;
mod members;
mod mfa;
mod mfa_factors;
mod oidc;
mod password;
mod policies;
mod projects;
mod reports;
mod roles;
mod service_accounts;
mod tasks;
mod users;

use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_domain::{FieldError, ValidationErrors};
use autopmo_store::StoreError;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Every route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(OpenApi::default())
        .merge(health::router())
        .merge(users::router())
        .merge(projects::router())
        .merge(members::router())
        .merge(tasks::router())
        .merge(costs::router())
        .merge(audit::router())
        .merge(auth::router())
        .merge(invites::router())
        .merge(oidc::router())
        .merge(password::router())
        .merge(mfa::router())
        .merge(mfa_factors::router())
        .merge(approvals::router())
        .merge(policies::router())
        .merge(reports::router())
        .merge(roles::router())
        .merge(service_accounts::router())
}

/// The authorization rule of every route, gathered from the modules.
pub(crate) fn rules() -> &'static [crate::authz::rules::RouteRule] {
    use crate::authz::rules::{Rule, rule};
    static ALL: std::sync::LazyLock<Vec<crate::authz::rules::RouteRule>> = std::sync::LazyLock::new(|| {
        [
            &[rule("GET", "/api/v1/openapi.json", Rule::Public)][..],
            health::RULES,
            users::RULES,
            projects::RULES,
            members::RULES,
            tasks::RULES,
            costs::RULES,
            audit::RULES,
            auth::RULES,
            invites::RULES,
            oidc::RULES,
            password::RULES,
            mfa::RULES,
            mfa_factors::RULES,
            approvals::RULES,
            policies::RULES,
            reports::RULES,
            roles::RULES,
            service_accounts::RULES,
        ]
        .concat()
    });
    &ALL
}

/// Maps a store "not found" to a 404 naming `what`.
pub(crate) fn or_404(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(what),
        other => other.into(),
    }
}

/// Parses an id field of a body.
pub(crate) fn parse_id<T: std::str::FromStr>(errors: &mut ValidationErrors, field: &str, raw: &str) -> Option<T> {
    errors.check(field, raw.parse::<T>().map_err(|_| FieldError::new(field, "invalid_id", "must be a UUID")))
}

/// Parses an optional date field of a body.
pub(crate) fn parse_opt_date(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&str>,
) -> Option<Option<time::Date>> {
    match raw {
        None => Some(None),
        Some(r) => errors.check(field, autopmo_domain::work::parse_date(r)).map(Some),
    }
}

/// Turns collected errors into a 422 when there are any.
pub(crate) fn finish(errors: ValidationErrors) -> Result<(), ApiError> {
    errors.finish().map_err(ApiError::Validation)
}

/// Parses a budget-like money field, reporting `field.amount` / `field.currency`.
pub(crate) fn money(
    errors: &mut ValidationErrors,
    field: &str,
    m: &crate::views::MoneyView,
) -> Option<autopmo_domain::Money> {
    match autopmo_domain::Money::parse(&m.amount.0, &m.currency) {
        Ok(v) => Some(v),
        Err(err) => {
            let sub = err.field.clone();
            errors.push(err.at(format!("{field}.{sub}")));
            None
        }
    }
}

/// Checks that a project exists (404 otherwise).
pub(crate) async fn ensure_project(
    conn: &mut autopmo_store::Connection,
    id: autopmo_domain::ProjectId,
) -> Result<autopmo_domain::Project, ApiError> {
    autopmo_store::projects::get(conn, id).await.map_err(or_404("project"))
}
