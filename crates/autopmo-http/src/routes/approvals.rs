//! Budget approvals (guide §3.3): requesters follow their requests; a
//! system_admin approves (the budget takes effect) or rejects them.

use super::or_404;
use crate::audit::Audit;
use crate::authz::Granted;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::json::ValidJson;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::views::{MoneyView, PageView, ProjectView};
use autopmo_audit::{AuditRecord, Category};
use autopmo_authz::{ApprovalAttrs, Permission, Target};
use autopmo_domain::{Money, Project, UserId, ValidationErrors};
use autopmo_store::approvals::{self, Approval, ApprovalFilter, ApprovalSort, ApprovalStatus};
use autopmo_store::{UnitOfWork, projects};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/approvals", Rule::Guarded("approvals:read", TargetRef::Collection("approval"))),
    rule("GET", "/api/v1/approvals/{approval_id}", Rule::Guarded("approvals:read", TargetRef::Approval)),
    rule("POST", "/api/v1/approvals/{approval_id}/approve", Rule::Guarded("approvals:decide", TargetRef::Approval)),
    rule("POST", "/api/v1/approvals/{approval_id}/reject", Rule::Guarded("approvals:decide", TargetRef::Approval)),
];

/// A request for a budget above the approval threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    /// Id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// Who asked.
    pub requester_id: String,
    /// `create` (a new project) or `raise` (a changed budget).
    pub kind: String,
    /// The budget in force when asked.
    pub previous_budget: MoneyView,
    /// The budget asked for.
    pub requested_budget: MoneyView,
    /// `pending`, `approved`, `rejected` or `superseded`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// The decider's reason.
    pub reason: String,
    /// Asked at (RFC 3339).
    pub created_at: String,
}

impl From<Approval> for ApprovalView {
    fn from(a: Approval) -> Self {
        Self {
            id: a.id.to_string(),
            project_id: a.project_id.to_string(),
            requester_id: a.requester_id.to_string(),
            kind: a.kind,
            previous_budget: a.previous.into(),
            requested_budget: a.requested.into(),
            status: a.status.as_str().to_owned(),
            decided_by: a.decided_by.map(|u| u.to_string()),
            decided_at: a.decided_at.map(crate::views::ts),
            reason: a.reason,
            created_at: crate::views::ts(a.created_at),
        }
    }
}

/// A project whose budget waits for approval: the project as saved (with
/// the budget in force) and the pending request.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingBudget {
    /// The project, with the budget in force.
    pub project: ProjectView,
    /// The request a system_admin decides.
    pub approval: ApprovalView,
}

/// Files a pending approval for `requested` on `project` (whose budget in
/// force is `project.budget`), superseding a pending one, with its audit
/// event.
pub(crate) async fn request(
    state: &AppState,
    audit: &Audit,
    uow: &mut UnitOfWork,
    principal: &Principal,
    project: &Project,
    requested: Money,
    kind: &str,
) -> Result<(Approval, AuditRecord), ApiError> {
    let now = state.now();
    let approval = Approval {
        id: uuid::Uuid::now_v7(),
        project_id: project.id,
        requester_id: principal.user_id,
        kind: kind.to_owned(),
        previous: project.budget,
        requested,
        status: ApprovalStatus::Pending,
        decided_by: None,
        decided_at: None,
        reason: String::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let superseded = approvals::request(uow.conn(), &approval).await?;
    let mut event = audit
        .event(state, "budget.approval_requested", "request", "approval", approval.id, None)
        .with_metadata(&serde_json::json!({
            "project_id": project.id.to_string(),
            "kind": kind,
            "previous_budget": project.budget.to_string(),
            "requested_budget": requested.to_string(),
            "threshold": format!("{} {}", state.budget_rule.threshold, state.budget_rule.currency.code()),
            "superseded": superseded.map(|s| s.to_string()),
        }));
    event.category = Category::Authorization;
    Ok((approval, event))
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `created_at` or `-created_at` (default, newest first).
    #[param(pattern = r"^-?(created_at)$")]
    sort: Option<String>,
    /// Only in this status.
    status: Option<String>,
    /// Only this requester's (`me` for the caller).
    requester: Option<String>,
}

/// Lists budget approvals: a system_admin or an auditor sees all, others
/// their own requests.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(ApprovalQuery), security(("bearer" = [])),
    responses((status = 200, body = PageView<ApprovalView>), (status = 400, description = "Invalid parameters"),
        (status = 401, description = "Unauthenticated"), (status = 403, description = "Not allowed")))]
async fn list_approvals(
    State(state): State<AppState>,
    principal: Principal,
    _granted: Granted,
    ValidQuery(q): ValidQuery<ApprovalQuery>,
) -> Result<Json<PageView<ApprovalView>>, ApiError> {
    let sort = Some(q.sort.as_deref().unwrap_or("-created_at"));
    let params = list_params(q.limit, q.cursor.as_deref(), sort, &[ApprovalSort::CreatedAt], ApprovalSort::CreatedAt)?;
    let mut e = ValidationErrors::new();
    let status = q.status.as_deref().map(|s| {
        e.check(
            "status",
            ApprovalStatus::parse(s).ok_or_else(|| {
                autopmo_domain::FieldError::new("status", "invalid_value", "pending, approved, rejected or superseded")
            }),
        )
    });
    let requester = match q.requester.as_deref() {
        Some("me") => Some(Some(principal.user_id)),
        Some(raw) => Some(super::parse_id::<UserId>(&mut e, "requester", raw)),
        None => None,
    };
    super::finish(e)?;
    // Whoever may read someone else's request sees everyone's; the others,
    // their own — decided by the same policies as a single read.
    let someone_elses = Target::Approval(ApprovalAttrs {
        id: String::new(),
        requester_id: String::new(),
        status: "pending".to_owned(),
        project: None,
    });
    let everyone = crate::authz::may(&state, &principal, Permission::APPROVALS_READ, &someone_elses);
    let requester_id = match requester.flatten() {
        Some(r) if everyone || r == principal.user_id => Some(r),
        Some(_) => return Ok(Json(PageView { items: Vec::new(), next_cursor: None })),
        None if everyone => None,
        None => Some(principal.user_id),
    };
    let filter = ApprovalFilter { requester_id, status: status.flatten(), project_id: None };
    let mut conn = state.store.read().await?;
    let page = approvals::list(&mut conn, &filter, &params).await?;
    Ok(Json(PageView::from_page(page, ApprovalView::from)))
}

/// Reads one budget approval (its requester, a system_admin, an auditor).
#[utoipa::path(get, path = "/api/v1/approvals/{approval_id}", tag = "approvals",
    params(("approval_id" = String, Path, description = "Approval id")), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 401, description = "Unauthenticated"),
        (status = 404, description = "No such approval")))]
async fn get_approval(State(state): State<AppState>, granted: Granted) -> Result<Json<ApprovalView>, ApiError> {
    let id = approval_id(&granted)?;
    let mut conn = state.store.read().await?;
    Ok(Json(approvals::get(&mut conn, id).await.map_err(or_404("approval"))?.into()))
}

/// A decision's reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// Why (up to 2,000 characters, no control characters but newlines and tabs).
    #[serde(default)]
    #[schema(max_length = 2_000)]
    reason: String,
}

/// Approves a pending budget: it takes effect on the project at once.
#[utoipa::path(post, path = "/api/v1/approvals/{approval_id}/approve", tag = "approvals", request_body = Decide,
    params(("approval_id" = String, Path, description = "Approval id")), security(("bearer" = [])),
    responses((status = 200, body = PendingBudget), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system_admin"), (status = 404, description = "No such approval"),
        (status = 409, description = "Already decided")))]
async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    granted: Granted,
    ValidJson(body): ValidJson<Decide>,
) -> Result<Json<PendingBudget>, ApiError> {
    decide(state, principal, audit, granted, body, ApprovalStatus::Approved).await
}

/// Rejects a pending budget: the project keeps the budget in force.
#[utoipa::path(post, path = "/api/v1/approvals/{approval_id}/reject", tag = "approvals", request_body = Decide,
    params(("approval_id" = String, Path, description = "Approval id")), security(("bearer" = [])),
    responses((status = 200, body = PendingBudget), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system_admin"), (status = 404, description = "No such approval"),
        (status = 409, description = "Already decided")))]
async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    granted: Granted,
    ValidJson(body): ValidJson<Decide>,
) -> Result<Json<PendingBudget>, ApiError> {
    decide(state, principal, audit, granted, body, ApprovalStatus::Rejected).await
}

fn approval_id(granted: &Granted) -> Result<uuid::Uuid, ApiError> {
    granted.loaded.id.as_deref().and_then(|id| id.parse().ok()).ok_or(ApiError::NotFound("approval"))
}

async fn decide(
    state: AppState,
    principal: Principal,
    audit: Audit,
    granted: Granted,
    body: Decide,
    outcome: ApprovalStatus,
) -> Result<Json<PendingBudget>, ApiError> {
    // Validated like every free text: bounded, and no control characters
    // (PostgreSQL cannot store a NUL: it used to answer 500 there).
    let mut e = ValidationErrors::new();
    let reason = e.check("reason", autopmo_domain::Reason::parse(&body.reason));
    e.finish()?;
    let reason = reason.map(autopmo_domain::Reason::into_inner).unwrap_or_default();
    let id = approval_id(&granted)?;
    let now = state.now();
    let mut uow = state.store.begin().await?;
    let decided =
        approvals::decide(uow.conn(), id, outcome, principal.user_id, &reason, now).await.map_err(|e| match e {
            autopmo_store::StoreError::Rule(detail) => ApiError::Conflict(detail),
            other => or_404("approval")(other),
        })?;
    let mut project = projects::get(uow.conn(), decided.project_id).await.map_err(or_404("project"))?;
    let mut events = Vec::new();
    if outcome == ApprovalStatus::Approved {
        if project.budget.currency != decided.requested.currency {
            return Err(ApiError::Conflict(
                "the project's currency changed since the request; ask again in the new currency".to_owned(),
            ));
        }
        let version = project.version;
        project.budget = decided.requested;
        project.updated_at = now;
        project = projects::update(uow.conn(), &project, version).await.map_err(or_404("project"))?;
        events.push(
            audit
                .event(&state, "project.updated", "update", "project", project.id, Some(project.name.as_str()))
                .with_metadata(&serde_json::json!({"version": project.version, "budget": project.budget.to_string(),
                    "approval_id": id.to_string()})),
        );
    }
    let event_type = if outcome == ApprovalStatus::Approved { "budget.approved" } else { "budget.rejected" };
    let mut event =
        audit.event(&state, event_type, outcome.as_str(), "approval", id, None).with_metadata(&serde_json::json!({
            "project_id": decided.project_id.to_string(),
            "requester_id": decided.requester_id.to_string(),
            "requested_budget": decided.requested.to_string(),
            "previous_budget": decided.previous.to_string(),
            "reason": decided.reason,
        }));
    event.category = Category::Authorization;
    events.insert(0, event);
    audit.commit(&state, uow, StatusCode::OK, events).await?;
    Ok(Json(PendingBudget { project: project.into(), approval: decided.into() }))
}
