//! Status reports (guide §3.1 `reports:generate`): a project's budget,
//! spend and progress at a glance.

use crate::authz::Granted;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::views::MoneyView;
use autopmo_domain::{Amount, Money, TaskStatus};
use autopmo_store::{costs, tasks};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status_report))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] =
    &[rule("GET", "/api/v1/projects/{project_id}/report", Rule::Guarded("reports:generate", TargetRef::Report))];

/// A project's status report.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusReport {
    /// The project.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// The budget in force.
    pub budget: MoneyView,
    /// Recorded costs.
    pub spent: MoneyView,
    /// Budget minus costs; `null` when overspent beyond what can be shown.
    pub remaining: Option<MoneyView>,
    /// Whether costs exceed the budget.
    pub over_budget: bool,
    /// Tasks by status (`todo`, `in_progress`, `blocked`, `done`).
    pub tasks: BTreeMap<String, i64>,
    /// Mean percent complete over all tasks (0 with no tasks).
    pub percent_complete: i64,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
}

/// Generates the project's status report.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/report", tag = "reports",
    params(("project_id" = String, Path, description = "Project id")), security(("bearer" = [])),
    responses((status = 200, body = StatusReport), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not allowed"), (status = 404, description = "No such project")))]
async fn status_report(State(state): State<AppState>, granted: Granted) -> Result<Json<StatusReport>, ApiError> {
    let project = granted.loaded.project.clone().ok_or(ApiError::NotFound("project"))?;
    let mut conn = state.store.read().await?;
    let spent_minor = costs::total_minor(&mut conn, project.id).await?;
    let counts = tasks::count_by_status(&mut conn, project.id).await?;
    drop(conn);
    let currency = project.budget.currency;
    let money = |minor: i64| Amount::from_minor(minor, currency).map(|amount| Money { amount, currency });
    let spent = money(spent_minor).ok_or_else(|| ApiError::Internal("cost total out of range".into()))?;
    let budget_minor = project.budget.amount.minor();
    let mut by_status: BTreeMap<String, i64> = TaskStatus::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    let (mut total, mut percent_sum) = (0_i64, 0_i64);
    for (status, count, percent) in counts {
        by_status.insert(status.as_str().to_owned(), count);
        total += count;
        percent_sum += percent;
    }
    Ok(Json(StatusReport {
        project_id: project.id.to_string(),
        name: project.name.as_str().to_owned(),
        status: project.status.as_str().to_owned(),
        budget: project.budget.into(),
        spent: spent.into(),
        remaining: budget_minor.checked_sub(spent_minor).and_then(money).map(MoneyView::from),
        over_budget: spent_minor > budget_minor,
        tasks: by_status,
        percent_complete: if total == 0 { 0 } else { percent_sum / total },
        generated_at: crate::views::ts(state.now()),
    }))
}
