//! The resource a route acts on, loaded with what the policies look at.

use super::rules::TargetRef;
use crate::extract::path::Ids;
use crate::problem::ApiError;
use crate::routes::or_404;
use crate::state::AppState;
use autopmo_authz::{
    ApprovalAttrs, Authorizer, Permission, ProjectAttrs, RequestAttrs, ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::{Project, ProjectId, Task, TaskId};
use autopmo_store::{Freshness, members, projects, tasks};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

/// The resource the decision was about, as loaded for it.
#[derive(Debug)]
pub struct Loaded {
    /// What the policies saw.
    pub target: Target,
    /// The resource's id, if it is one resource.
    pub id: Option<String>,
    /// The project, when the route names one.
    pub project: Option<Project>,
    /// The task, when the route names one.
    pub task: Option<Task>,
}

/// Proof that the authorization layer let this request through, with the
/// resource it loaded to decide. Handlers of guarded routes take it.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The decision's id (also in the request's audit event).
    pub decision_id: uuid::Uuid,
    /// What was loaded to decide.
    pub loaded: Arc<Loaded>,
}

impl<S: Send + Sync> FromRequestParts<S> for Granted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Absent only if a guarded handler sits on a route without a
        // guarded rule: refuse rather than run unchecked.
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("handler reached without an authorization decision".into()))
    }
}

/// The resource type a target names.
pub(super) fn resource_type(target: TargetRef) -> ResourceType {
    match target {
        TargetRef::Collection(t) | TargetRef::Type(t) => ResourceType::parse(t).unwrap_or(ResourceType::Project),
        TargetRef::Project => ResourceType::Project,
        TargetRef::Task => ResourceType::Task,
        TargetRef::Report => ResourceType::Report,
        TargetRef::Approval => ResourceType::Approval,
    }
}

/// The noun of a 404 for a resource type.
pub(super) fn noun(resource_type: &str) -> &'static str {
    match resource_type {
        "project" | "report" => "project",
        "task" => "task",
        "approval" => "approval",
        "user" => "user",
        _ => "resource",
    }
}

/// The project's attributes for the policies.
pub(crate) async fn project_attrs(
    conn: &mut autopmo_store::Connection,
    project: &Project,
) -> Result<ProjectAttrs, ApiError> {
    Ok(attrs_of(project, members::user_ids(conn, project.id).await?))
}

/// The project's attributes for the policies, with its members' ids.
fn attrs_of(project: &Project, member_ids: Vec<String>) -> ProjectAttrs {
    ProjectAttrs {
        id: project.id.to_string(),
        owner_id: project.owner_id.to_string(),
        budget: project.budget.to_decimal(),
        currency: project.budget.currency.code().to_owned(),
        status: project.status.as_str().to_owned(),
        member_ids,
    }
}

/// Loads what `target` names from the request's path (404 if it does not exist).
pub(super) async fn load(state: &AppState, parts: &mut Parts, target: TargetRef) -> Result<Loaded, ApiError> {
    let none = |target| Loaded { target, id: None, project: None, task: None };
    let rt = resource_type(target);
    match target {
        TargetRef::Collection(_) => return Ok(none(Target::Collection(rt))),
        TargetRef::Type(_) => return Ok(none(Target::Type(rt))),
        _ => {}
    }
    let ids = Ids::from_request_parts(parts, state).await?;
    if let TargetRef::Approval = target {
        let mut conn = state.store.read().await?;
        let id: uuid::Uuid = ids.get("approval_id", "approval")?;
        let approval = autopmo_store::approvals::get(&mut conn, id).await.map_err(or_404("approval"))?;
        let project = match projects::get(&mut conn, approval.project_id).await {
            Ok(p) => Some(project_attrs(&mut conn, &p).await?),
            Err(autopmo_store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let attrs = ApprovalAttrs {
            id: id.to_string(),
            requester_id: approval.requester_id.to_string(),
            status: approval.status.as_str().to_owned(),
            project,
        };
        return Ok(Loaded { target: Target::Approval(attrs), id: Some(id.to_string()), project: None, task: None });
    }
    let project_id: ProjectId = ids.get("project_id", "project")?;
    // A safe request may be decided on a copy read up to a second ago (and
    // before any change this server has committed since); a change is
    // decided on the project as it is now.
    let freshness = if parts.method.is_safe() { Freshness::Recent } else { Freshness::Current };
    let (project, member_ids) =
        state.store.project_with_members(project_id, freshness).await.map_err(or_404("project"))?;
    let attrs = attrs_of(&project, member_ids);
    match target {
        TargetRef::Task => {
            let task_id: TaskId = ids.get("task_id", "task")?;
            let mut conn = state.store.read().await?;
            let task = tasks::get(&mut conn, project_id, task_id).await.map_err(or_404("task"))?;
            let task_attrs = TaskAttrs {
                id: task.id.to_string(),
                assignee_id: task.assignee_id.map(|a| a.to_string()),
                status: task.status.as_str().to_owned(),
                project: attrs,
            };
            Ok(Loaded {
                target: Target::Task(task_attrs),
                id: Some(task_id.to_string()),
                project: Some(project),
                task: Some(task),
            })
        }
        TargetRef::Report => Ok(Loaded {
            target: Target::Report(attrs),
            id: Some(project_id.to_string()),
            project: Some(project),
            task: None,
        }),
        _ => Ok(Loaded {
            target: Target::Project(attrs),
            id: Some(project_id.to_string()),
            project: Some(project),
            task: None,
        }),
    }
}

/// Whether a refused request should be answered as if the resource did not
/// exist: the caller may not read it either (tasks and reports are read
/// through their project).
pub(super) fn hidden(
    authorizer: &Authorizer,
    subject: &Subject,
    permission: Permission,
    target: &Target,
    request: &RequestAttrs,
) -> bool {
    let (read, readable) = match target {
        Target::Project(p) | Target::Report(p) => (Permission::PROJECTS_READ, Target::Project(p.clone())),
        Target::Task(t) => (Permission::PROJECTS_READ, Target::Project(t.project.clone())),
        Target::Approval(_) => (Permission::APPROVALS_READ, target.clone()),
        Target::Collection(_) | Target::Type(_) => return false,
    };
    if permission == read && matches!(target, Target::Project(_) | Target::Approval(_)) {
        return true;
    }
    !authorizer.decide(subject, read, &readable, request).allowed
}
