//! Tasks of a project, their dependencies, and the `assign` action.

use super::{ensure_project, finish, or_404, parse_id, parse_opt_date};
use crate::audit::Audit;
use crate::authz::Granted;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::if_match::{IfMatch, OptionalIfMatch, etag_header};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use crate::views::{DecimalText, PageView, TaskView, Whole, not_null, nullable};
use autopmo_authz::Permission;
use autopmo_domain::{
    Description, FieldError, Hours, Percent, PlannedDates, ProjectId, Task, TaskId, TaskStatus, TaskTitle, UserId,
    ValidationErrors,
};
use autopmo_store::tasks::{self, TaskFilter, TaskSort};
use autopmo_store::{Connection, members, projects};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(assign_task))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/projects/{project_id}/tasks", Rule::Guarded("projects:update", TargetRef::Project)),
    rule("GET", "/api/v1/projects/{project_id}/tasks", Rule::Guarded("projects:read", TargetRef::Project)),
    rule("GET", "/api/v1/projects/{project_id}/tasks/{task_id}", Rule::Guarded("projects:read", TargetRef::Project)),
    rule("PATCH", "/api/v1/projects/{project_id}/tasks/{task_id}", Rule::Guarded("tasks:update", TargetRef::Task)),
    rule(
        "POST",
        "/api/v1/projects/{project_id}/tasks/{task_id}/assign",
        Rule::Guarded("tasks:assign", TargetRef::Task),
    ),
    rule(
        "DELETE",
        "/api/v1/projects/{project_id}/tasks/{task_id}",
        Rule::Guarded("projects:update", TargetRef::Project),
    ),
];

/// A new task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1–255 characters.
    #[schema(min_length = 1, max_length = 255)]
    title: String,
    #[serde(default)]
    #[schema(max_length = 20_000)]
    description: String,
    /// Defaults to `todo`.
    #[schema(value_type = Option<schema::TaskStatus>)]
    status: Option<String>,
    /// A member (manager or member) of the project.
    #[schema(format = Uuid)]
    assignee_id: Option<String>,
    /// Decimal string, e.g. `"7.5"`.
    #[schema(value_type = Option<String>)]
    estimate_hours: Option<DecimalText>,
    #[schema(value_type = Option<String>)]
    actual_hours: Option<DecimalText>,
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    planned_start: Option<String>,
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    planned_finish: Option<String>,
    /// 0–100, default 0.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    percent_complete: Option<Whole>,
    /// Ids of tasks of the same project; no cycles.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    depends_on: Vec<String>,
}

/// Changes to a task; absent fields stay, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, min_length = 1, max_length = 255)]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 20_000)]
    description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<schema::TaskStatus>, nullable = false)]
    status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    estimate_hours: Option<Option<DecimalText>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    actual_hours: Option<Option<DecimalText>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    planned_start: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    planned_finish: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>, nullable = false, minimum = 0, maximum = 100)]
    percent_complete: Option<Whole>,
    /// Replaces the dependencies.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<Vec<uuid::Uuid>>, nullable = false)]
    depends_on: Option<Vec<String>>,
}

/// Who should work on the task (`null` to unassign).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTask {
    #[schema(format = Uuid)]
    assignee_id: Option<String>,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `created_at`, `updated_at`, `title` or `status`; `-` prefix for descending.
    #[param(pattern = r"^-?(created_at|updated_at|title|status)$")]
    sort: Option<String>,
    /// Only this status.
    #[param(value_type = Option<schema::TaskStatus>, inline)]
    status: Option<String>,
    /// Only tasks of this assignee (user id).
    #[param(format = Uuid)]
    assignee: Option<String>,
}

fn hours(e: &mut ValidationErrors, field: &str, raw: Option<&DecimalText>) -> Option<Option<Hours>> {
    match raw {
        None => Some(None),
        Some(text) => e.check(field, Hours::parse(&text.0)).map(Some),
    }
}

fn ids_of(e: &mut ValidationErrors, raw: &[String]) -> Vec<TaskId> {
    let mut out: Vec<TaskId> = raw.iter().filter_map(|r| parse_id(e, "depends_on", r)).collect();
    out.sort();
    out.dedup();
    out
}

/// A task may be assigned only to a manager or member of its project.
async fn check_assignee(conn: &mut Connection, project: ProjectId, assignee: Option<UserId>) -> Result<(), ApiError> {
    let Some(user) = assignee else { return Ok(()) };
    match members::get(conn, project, user).await {
        Ok(m) if m.kind.can_be_assigned() => Ok(()),
        Ok(_) | Err(autopmo_store::StoreError::NotFound) => Err(ValidationErrors::from(FieldError::new(
            "assignee_id",
            "not_assignable",
            "must be a manager or member of the project",
        ))
        .into()),
        Err(other) => Err(other.into()),
    }
}

/// Creates a task.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/tasks", tag = "tasks", request_body = CreateTask,
    params(("project_id" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = TaskView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project"),
        (status = 422, description = "Invalid values, a dependency outside the project, or a cycle")))]
async fn create_task(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    ValidJson(body): ValidJson<CreateTask>,
) -> Result<(StatusCode, HeaderMap, Json<TaskView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let mut e = ValidationErrors::new();
    let title = e.check("title", TaskTitle::parse(&body.title));
    let description = e.check("description", Description::parse(&body.description));
    let status = body.status.as_deref().map_or(Some(TaskStatus::Todo), |s| e.check("status", TaskStatus::parse(s)));
    let assignee = body.assignee_id.as_deref().map_or(Some(None), |a| parse_id(&mut e, "assignee_id", a).map(Some));
    let estimate = hours(&mut e, "estimate_hours", body.estimate_hours.as_ref());
    let actual = hours(&mut e, "actual_hours", body.actual_hours.as_ref());
    let start = parse_opt_date(&mut e, "planned_start", body.planned_start.as_deref());
    let end = parse_opt_date(&mut e, "planned_finish", body.planned_finish.as_deref());
    let planned = match (start, end) {
        (Some(s), Some(f)) => e.check("planned_finish", PlannedDates::new(s, f)),
        _ => None,
    };
    let percent = e.check("percent_complete", Percent::new(body.percent_complete.map_or(0, |p| p.0)));
    let depends_on = ids_of(&mut e, &body.depends_on);
    let (
        Some(title),
        Some(description),
        Some(status),
        Some(assignee),
        Some(estimate),
        Some(actual),
        Some(planned),
        Some(percent),
    ) = (title, description, status, assignee, estimate, actual, planned, percent)
    else {
        return Err(e.into());
    };
    finish(e)?;
    let now = state.now();
    let task = Task {
        id: TaskId::new(),
        project_id: project,
        title,
        description,
        status,
        assignee_id: assignee,
        estimate_hours: estimate,
        actual_hours: actual,
        planned,
        percent_complete: percent,
        depends_on,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut uow = state.store.begin().await?;
    projects::lock(uow.conn(), project).await.map_err(or_404("project"))?;
    check_assignee(uow.conn(), project, task.assignee_id).await?;
    tasks::check_dependencies(uow.conn(), project, task.id, &task.depends_on).await?;
    tasks::insert(uow.conn(), &task).await?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::CREATED,
            vec![
                audit
                    .event(&state, "task.created", "create", "task", task.id, Some(task.title.as_str()))
                    .with_metadata(&serde_json::json!({"project_id": project.to_string()})),
            ],
        )
        .await?;
    Ok((StatusCode::CREATED, etag_header(task.version), Json(task.into())))
}

/// Lists a project's tasks.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/tasks", tag = "tasks", params(("project_id" = String, Path), TaskQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<TaskView>), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project")))]
async fn list_tasks(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
    ValidQuery(q): ValidQuery<TaskQuery>,
) -> Result<Json<PageView<TaskView>>, ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let sorts = [TaskSort::CreatedAt, TaskSort::UpdatedAt, TaskSort::Title, TaskSort::Status];
    let params = list_params(q.limit, q.cursor.as_deref(), q.sort.as_deref(), &sorts, TaskSort::CreatedAt)?;
    let mut e = ValidationErrors::new();
    let status = q.status.as_deref().map(|s| e.check("status", TaskStatus::parse(s)));
    let assignee = q.assignee.as_deref().map(|a| parse_id::<UserId>(&mut e, "assignee", a));
    finish(e)?;
    let filter = TaskFilter { status: status.flatten(), assignee_id: assignee.flatten() };
    let mut conn = state.store.read().await?;
    ensure_project(&mut conn, project).await?;
    let page = tasks::list(&mut conn, project, &filter, &params).await?;
    Ok(Json(PageView::from_page(page, TaskView::from)))
}

/// Reads a task.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/tasks/{task_id}", tag = "tasks",
    params(("project_id" = String, Path), ("task_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaskView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such task")))]
async fn get_task(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<(HeaderMap, Json<TaskView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let id: TaskId = ids.get("task_id", "task")?;
    let mut conn = state.store.read().await?;
    let task = tasks::get(&mut conn, project, id).await.map_err(or_404("task"))?;
    Ok((etag_header(task.version), Json(task.into())))
}

/// Updates a task. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/tasks/{task_id}", tag = "tasks", request_body = UpdateTask,
    params(("project_id" = String, Path), ("task_id" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, body = TaskView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such task"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Invalid values or a cycle"), (status = 428, description = "If-Match missing")))]
async fn update_task(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ids: Ids,
    granted: Granted,
    if_match: IfMatch,
    ValidJson(body): ValidJson<UpdateTask>,
) -> Result<(HeaderMap, Json<TaskView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let id: TaskId = ids.get("task_id", "task")?;
    // Changing the assignee is assigning: `tasks:update` is not enough.
    if body.assignee_id.is_some() {
        let task_id = Some(id.to_string());
        crate::authz::check(&state, &principal, &audit, Permission::TASKS_ASSIGN, &granted.loaded.target, task_id)?;
    }
    let mut uow = state.store.begin().await?;
    projects::lock(uow.conn(), project).await.map_err(or_404("project"))?;
    let mut t = tasks::get(uow.conn(), project, id).await.map_err(or_404("task"))?;
    if_match.check(t.version)?;
    let mut e = ValidationErrors::new();
    if let Some(raw) = &body.title {
        t.title = e.check("title", TaskTitle::parse(raw)).unwrap_or(t.title);
    }
    if let Some(raw) = &body.description {
        t.description = e.check("description", Description::parse(raw)).unwrap_or(t.description);
    }
    if let Some(raw) = &body.status {
        t.status = e.check("status", TaskStatus::parse(raw)).unwrap_or(t.status);
    }
    if let Some(raw) = &body.assignee_id {
        t.assignee_id = match raw {
            Some(a) => parse_id(&mut e, "assignee_id", a).or(t.assignee_id),
            None => None,
        };
    }
    if let Some(raw) = &body.estimate_hours {
        t.estimate_hours = hours(&mut e, "estimate_hours", raw.as_ref()).unwrap_or(t.estimate_hours);
    }
    if let Some(raw) = &body.actual_hours {
        t.actual_hours = hours(&mut e, "actual_hours", raw.as_ref()).unwrap_or(t.actual_hours);
    }
    let start = match &body.planned_start {
        Some(v) => parse_opt_date(&mut e, "planned_start", v.as_deref()).unwrap_or(t.planned.start),
        None => t.planned.start,
    };
    let end = match &body.planned_finish {
        Some(v) => parse_opt_date(&mut e, "planned_finish", v.as_deref()).unwrap_or(t.planned.end),
        None => t.planned.end,
    };
    t.planned = e.check("planned_finish", PlannedDates::new(start, end)).unwrap_or(t.planned);
    if let Some(Whole(p)) = body.percent_complete {
        t.percent_complete = e.check("percent_complete", Percent::new(p)).unwrap_or(t.percent_complete);
    }
    if let Some(raw) = &body.depends_on {
        t.depends_on = ids_of(&mut e, raw);
    }
    finish(e)?;
    if matches!(body.assignee_id, Some(Some(_))) {
        check_assignee(uow.conn(), project, t.assignee_id).await?;
    }
    if body.depends_on.is_some() {
        tasks::check_dependencies(uow.conn(), project, t.id, &t.depends_on).await?;
    }
    t.updated_at = state.now();
    let saved = tasks::update(uow.conn(), &t, if_match.0).await.map_err(or_404("task"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::OK,
            vec![
                audit
                    .event(&state, "task.updated", "update", "task", saved.id, Some(saved.title.as_str()))
                    .with_metadata(&serde_json::json!({"project_id": project.to_string(), "version": saved.version})),
            ],
        )
        .await?;
    Ok((etag_header(saved.version), Json(saved.into())))
}

/// Assigns (or with `null`, unassigns) a task. `If-Match` is optional.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/tasks/{task_id}/assign", tag = "tasks", request_body = AssignTask,
    params(("project_id" = String, Path), ("task_id" = String, Path), ("If-Match" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = TaskView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such task"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Not a member of the project")))]
async fn assign_task(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    if_match: OptionalIfMatch,
    ValidJson(body): ValidJson<AssignTask>,
) -> Result<(HeaderMap, Json<TaskView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let id: TaskId = ids.get("task_id", "task")?;
    let mut e = ValidationErrors::new();
    let assignee = match &body.assignee_id {
        Some(raw) => parse_id::<UserId>(&mut e, "assignee_id", raw).map(Some),
        None => Some(None),
    };
    finish(e)?;
    let mut uow = state.store.begin().await?;
    let mut t = tasks::get(uow.conn(), project, id).await.map_err(or_404("task"))?;
    if_match.check(t.version)?;
    t.assignee_id = assignee.flatten();
    check_assignee(uow.conn(), project, t.assignee_id).await?;
    t.updated_at = state.now();
    let expected = t.version;
    let saved = tasks::update(uow.conn(), &t, expected).await.map_err(or_404("task"))?;
    audit.commit(&state, uow, StatusCode::OK, vec![audit.event(&state, "task.assigned", "assign", "task", saved.id, Some(saved.title.as_str())).with_metadata(&serde_json::json!({"project_id": project.to_string(), "assignee_id": saved.assignee_id.map(|a| a.to_string())}))]).await?;
    Ok((etag_header(saved.version), Json(saved.into())))
}

/// Deletes a task and the dependencies on it. `If-Match` is optional.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/tasks/{task_id}", tag = "tasks",
    params(("project_id" = String, Path), ("task_id" = String, Path), ("If-Match" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such task"),
        (status = 412, description = "Changed since read")))]
async fn delete_task(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    OptionalIfMatch(version): OptionalIfMatch,
) -> Result<StatusCode, ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let id: TaskId = ids.get("task_id", "task")?;
    let mut uow = state.store.begin().await?;
    projects::lock(uow.conn(), project).await.map_err(or_404("project"))?;
    tasks::delete(uow.conn(), project, id, version).await.map_err(or_404("task"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::NO_CONTENT,
            vec![
                audit
                    .event(&state, "task.deleted", "delete", "task", id, None)
                    .with_metadata(&serde_json::json!({"project_id": project.to_string()})),
            ],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
