//! Projects: create, read, list, update (with `If-Match`), delete.

use super::approvals::{self, PendingBudget};
use super::{finish, money, or_404, parse_id, parse_opt_date};
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::authz::{self, Granted};
use crate::extract::if_match::{IfMatch, OptionalIfMatch, etag_header};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use crate::views::{MoneyView, PageView, ProjectView, not_null, nullable};
use autopmo_authz::{Permission, ProjectAttrs, ResourceType, Target};
use autopmo_domain::{
    Amount, Description, Money, PlannedDates, Project, ProjectId, ProjectName, ProjectStatus, UserId, ValidationErrors,
};
use autopmo_store::projects::{self, ProjectFilter, ProjectSort};
use autopmo_store::{UnitOfWork, users};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_projects, create_project)).routes(routes!(
        get_project,
        update_project,
        delete_project
    ))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/projects", Rule::Guarded("projects:read", TargetRef::Collection("project"))),
    rule("POST", "/api/v1/projects", Rule::Guarded("projects:create", TargetRef::Collection("project"))),
    rule("GET", "/api/v1/projects/{project_id}", Rule::Guarded("projects:read", TargetRef::Project)),
    rule("PATCH", "/api/v1/projects/{project_id}", Rule::Guarded("projects:update", TargetRef::Project)),
    rule("DELETE", "/api/v1/projects/{project_id}", Rule::Guarded("projects:delete", TargetRef::Project)),
];

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// Free text, up to 20,000 characters.
    #[serde(default)]
    #[schema(max_length = 20_000)]
    description: String,
    /// Exact budget.
    budget: MoneyView,
    /// Owner's user id; defaults to the caller.
    #[schema(format = Uuid)]
    owner_id: Option<String>,
    /// Defaults to `proposed`.
    #[schema(value_type = Option<schema::ProjectStatus>)]
    status: Option<String>,
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    planned_start: Option<String>,
    /// YYYY-MM-DD, not before the start.
    #[schema(format = Date)]
    planned_end: Option<String>,
}

/// Changes to a project; absent fields stay as they are, `null` clears a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, min_length = 1, max_length = 255)]
    name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 20_000)]
    description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    budget: Option<MoneyView>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, format = Uuid)]
    owner_id: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<schema::ProjectStatus>, nullable = false)]
    status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    planned_start: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    planned_end: Option<Option<String>>,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `created_at`, `updated_at` or `name`; `-` prefix for descending.
    #[param(pattern = r"^-?(created_at|updated_at|name)$")]
    sort: Option<String>,
    /// Only this status.
    #[param(value_type = Option<schema::ProjectStatus>, inline)]
    status: Option<String>,
    /// Only projects of this owner (user id).
    #[param(format = Uuid)]
    owner: Option<String>,
}

async fn check_owner(uow: &mut UnitOfWork, owner: UserId) -> Result<(), ApiError> {
    if users::exists(uow.conn(), owner).await? {
        Ok(())
    } else {
        let mut errors = ValidationErrors::new();
        errors.push(autopmo_domain::FieldError::new("owner_id", "unknown_user", "no user has this id"));
        Err(errors.into())
    }
}

/// Creates a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    security(("bearer" = [])),
    responses((status = 201, body = ProjectView), (status = 202, body = PendingBudget, description = "Created; the budget waits for approval"),
        (status = 403, description = "Not allowed, or a budget over the threshold with approvals off"),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Unauthenticated"), (status = 422, description = "Invalid values")))]
async fn create_project(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    _granted: Granted,
    ValidJson(body): ValidJson<CreateProject>,
) -> Result<Response, ApiError> {
    let mut e = ValidationErrors::new();
    let name = e.check("name", ProjectName::parse(&body.name));
    let description = e.check("description", Description::parse(&body.description));
    let budget = money(&mut e, "budget", &body.budget);
    let owner_id = match &body.owner_id {
        Some(raw) => parse_id::<UserId>(&mut e, "owner_id", raw),
        None => Some(principal.user_id),
    };
    let status = match &body.status {
        Some(raw) => e.check("status", ProjectStatus::parse(raw)),
        None => Some(ProjectStatus::Proposed),
    };
    let start = parse_opt_date(&mut e, "planned_start", body.planned_start.as_deref());
    let end = parse_opt_date(&mut e, "planned_end", body.planned_end.as_deref());
    let planned = match (start, end) {
        (Some(s), Some(en)) => e.check("planned_end", PlannedDates::new(s, en)),
        _ => None,
    };
    let (Some(name), Some(description), Some(budget), Some(owner_id), Some(status), Some(planned)) =
        (name, description, budget, owner_id, status, planned)
    else {
        return Err(e.into());
    };
    finish(e)?;
    let now = state.now();
    let mut project = Project {
        id: ProjectId::new(),
        name,
        description,
        budget,
        owner_id,
        status,
        planned,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    // The policies judge the project as it would be (a PM creates only
    // projects they own, say).
    let attrs = ProjectAttrs {
        id: project.id.to_string(),
        owner_id: owner_id.to_string(),
        budget: budget.to_decimal(),
        currency: budget.currency.code().to_owned(),
        status: status.as_str().to_owned(),
        member_ids: Vec::new(),
    };
    authz::check(&state, &principal, &audit, Permission::PROJECTS_CREATE, &Target::Project(attrs), None)?;
    let held = needs_approval(&state, &principal, &budget)?;
    if held {
        project.budget = Money { amount: Amount::ZERO, currency: budget.currency };
    }
    let mut uow = state.store.begin().await?;
    check_owner(&mut uow, owner_id).await?;
    projects::insert(uow.conn(), &project).await?;
    let created = audit
        .event(&state, "project.created", "create", "project", project.id, Some(project.name.as_str()))
        .with_metadata(
            &serde_json::json!({"budget": project.budget.to_string(), "owner_id": project.owner_id.to_string()}),
        );
    if held {
        let (approval, requested) =
            approvals::request(&state, &audit, &mut uow, &principal, &project, budget, "create").await?;
        audit.commit(&state, uow, StatusCode::ACCEPTED, vec![created, requested]).await?;
        let body = PendingBudget { project: project.into(), approval: approval.into() };
        return Ok((StatusCode::ACCEPTED, etag_header(1), Json(body)).into_response());
    }
    audit.commit(&state, uow, StatusCode::CREATED, vec![created]).await?;
    Ok((StatusCode::CREATED, etag_header(project.version), Json(ProjectView::from(project))).into_response())
}

/// Whether `budget` must wait for a system_admin's approval (§3.3): above
/// the threshold, asked for by someone who may not decide approvals.
/// With approvals off, such a budget is refused with §3.3's message.
fn needs_approval(state: &AppState, principal: &Principal, budget: &Money) -> Result<bool, ApiError> {
    if !state.budget_rule.exceeds(budget)
        || authz::may(state, principal, Permission::APPROVALS_DECIDE, &Target::Type(ResourceType::Approval))
    {
        return Ok(false);
    }
    if state.budget_rule.enabled { Ok(true) } else { Err(ApiError::Forbidden(state.budget_rule.message())) }
}

/// Lists projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ProjectQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<ProjectView>), (status = 400, description = "Invalid parameters"),
        (status = 401, description = "Unauthenticated")))]
async fn list_projects(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ValidQuery(q): ValidQuery<ProjectQuery>,
) -> Result<Json<PageView<ProjectView>>, ApiError> {
    let sorts = [ProjectSort::CreatedAt, ProjectSort::UpdatedAt, ProjectSort::Name];
    let params = list_params(q.limit, q.cursor.as_deref(), q.sort.as_deref(), &sorts, ProjectSort::CreatedAt)?;
    let mut e = ValidationErrors::new();
    let status = q.status.as_deref().map(|s| e.check("status", ProjectStatus::parse(s)));
    let owner = q.owner.as_deref().map(|o| parse_id::<UserId>(&mut e, "owner", o));
    finish(e)?;
    let filter = ProjectFilter { status: status.flatten(), owner_id: owner.flatten() };
    // Only what the caller may read, decided by the same policies as a single read.
    let request = authz::request_attrs(&principal, "GET", Some(&audit.0));
    let scope = state.authz.current().project_scope(&authz::subject(&principal), Permission::PROJECTS_READ, &request);
    let visible = authz::visibility(scope);
    let mut conn = state.store.read().await?;
    let page = projects::list(&mut conn, &filter, &visible, &params).await?;
    Ok(Json(PageView::from_page(page, ProjectView::from)))
}

/// Reads a project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    security(("bearer" = [])),
    responses((status = 200, body = ProjectView, headers(("ETag" = String, description = "Version, for If-Match"))),
        (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project")))]
async fn get_project(granted: Granted) -> Result<(HeaderMap, Json<ProjectView>), ApiError> {
    // Loaded by the authorization layer to decide; no second read.
    let project = granted.loaded.project.clone().ok_or(ApiError::NotFound("project"))?;
    Ok((etag_header(project.version), Json(project.into())))
}

/// Updates a project. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", request_body = UpdateProject,
    params(("project_id" = String, Path, description = "Project id"),
        ("If-Match" = String, Header, description = "ETag from the last read")),
    security(("bearer" = [])),
    responses((status = 200, body = ProjectView), (status = 202, body = PendingBudget, description = "Updated; the raised budget waits for approval"),
        (status = 403, description = "Not allowed"), (status = 401, description = "Unauthenticated"),
        (status = 404, description = "No such project"), (status = 412, description = "Changed since read"),
        (status = 422, description = "Invalid values"), (status = 428, description = "If-Match missing")))]
async fn update_project(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ids: Ids,
    _granted: Granted,
    if_match: IfMatch,
    ValidJson(body): ValidJson<UpdateProject>,
) -> Result<Response, ApiError> {
    let id: ProjectId = ids.get("project_id", "project")?;
    let mut uow = state.store.begin().await?;
    let mut p = projects::get(uow.conn(), id).await.map_err(or_404("project"))?;
    if_match.check(p.version)?;
    let before = p.clone();
    let mut e = ValidationErrors::new();
    if let Some(raw) = &body.name {
        p.name = e.check("name", ProjectName::parse(raw)).unwrap_or(p.name);
    }
    if let Some(raw) = &body.description {
        p.description = e.check("description", Description::parse(raw)).unwrap_or(p.description);
    }
    if let Some(m) = &body.budget {
        p.budget = money(&mut e, "budget", m).unwrap_or(p.budget);
    }
    if let Some(raw) = &body.owner_id {
        p.owner_id = parse_id(&mut e, "owner_id", raw).unwrap_or(p.owner_id);
    }
    if let Some(raw) = &body.status {
        p.status = e.check("status", ProjectStatus::parse(raw)).unwrap_or(p.status);
    }
    let start = match &body.planned_start {
        Some(v) => parse_opt_date(&mut e, "planned_start", v.as_deref()).unwrap_or(p.planned.start),
        None => p.planned.start,
    };
    let end = match &body.planned_end {
        Some(v) => parse_opt_date(&mut e, "planned_end", v.as_deref()).unwrap_or(p.planned.end),
        None => p.planned.end,
    };
    p.planned = e.check("planned_end", PlannedDates::new(start, end)).unwrap_or(p.planned);
    finish(e)?;
    if body.owner_id.is_some() {
        check_owner(&mut uow, p.owner_id).await?;
    }
    // A raise above the threshold waits for approval; the rest applies.
    let raised = p.budget != before.budget
        && (p.budget.currency != before.budget.currency || p.budget.to_decimal() > before.budget.to_decimal());
    let held = (raised && needs_approval(&state, &principal, &p.budget)?).then_some(p.budget);
    if held.is_some() {
        if p.budget.currency != before.budget.currency {
            let mut e = ValidationErrors::new();
            e.push(autopmo_domain::FieldError::new(
                "budget.currency",
                "needs_approval",
                "a budget that needs approval cannot also change currency; change the currency first",
            ));
            return Err(e.into());
        }
        p.budget = before.budget;
    }
    p.updated_at = state.now();
    let saved = projects::update(uow.conn(), &p, if_match.0).await.map_err(or_404("project"))?;
    let mut events = vec![
        audit
            .event(&state, "project.updated", "update", "project", saved.id, Some(saved.name.as_str()))
            .with_metadata(&serde_json::json!({"version": saved.version, "budget": saved.budget.to_string()})),
    ];
    if let Some(requested) = held {
        let (approval, event) =
            approvals::request(&state, &audit, &mut uow, &principal, &saved, requested, "raise").await?;
        events.push(event);
        audit.commit(&state, uow, StatusCode::ACCEPTED, events).await?;
        let body = PendingBudget { project: saved.clone().into(), approval: approval.into() };
        return Ok((StatusCode::ACCEPTED, etag_header(saved.version), Json(body)).into_response());
    }
    audit.commit(&state, uow, StatusCode::OK, events).await?;
    Ok((etag_header(saved.version), Json(ProjectView::from(saved))).into_response())
}

/// Deletes a project with its members, tasks and costs. `If-Match` is optional.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path, description = "Project id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the last read")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Unauthenticated"),
        (status = 404, description = "No such project"), (status = 412, description = "Changed since read")))]
async fn delete_project(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    OptionalIfMatch(version): OptionalIfMatch,
) -> Result<StatusCode, ApiError> {
    let id: ProjectId = ids.get("project_id", "project")?;
    let mut uow = state.store.begin().await?;
    projects::delete(uow.conn(), id, version).await.map_err(or_404("project"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::NO_CONTENT,
            vec![audit.event(&state, "project.deleted", "delete", "project", id, None)],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
