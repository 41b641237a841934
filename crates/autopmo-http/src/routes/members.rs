//! Project members: who takes part in a project, and how.

use super::{ensure_project, finish, or_404, parse_id};
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::if_match::{IfMatch, OptionalIfMatch, etag_header};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use crate::views::{MemberView, PageView};
use autopmo_domain::{FieldError, Member, MemberKind, ProjectId, UserId, ValidationErrors};
use autopmo_store::members::{self, MemberSort};
use autopmo_store::{StoreError, users};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_members, add_member)).routes(routes!(
        get_member,
        update_member,
        remove_member
    ))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/projects/{project_id}/members", Rule::Guarded("projects:read", TargetRef::Project)),
    rule("POST", "/api/v1/projects/{project_id}/members", Rule::Guarded("projects:update", TargetRef::Project)),
    rule("GET", "/api/v1/projects/{project_id}/members/{user_id}", Rule::Guarded("projects:read", TargetRef::Project)),
    rule(
        "PATCH",
        "/api/v1/projects/{project_id}/members/{user_id}",
        Rule::Guarded("projects:update", TargetRef::Project),
    ),
    rule(
        "DELETE",
        "/api/v1/projects/{project_id}/members/{user_id}",
        Rule::Guarded("projects:update", TargetRef::Project),
    ),
];

/// A user to add to the project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// User id.
    #[schema(format = Uuid)]
    user_id: String,
    /// `manager`, `member` or `stakeholder`.
    #[schema(value_type = schema::MemberKind)]
    kind: String,
}

/// A change of membership kind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// `manager`, `member` or `stakeholder`.
    #[schema(value_type = schema::MemberKind)]
    kind: String,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `created_at` or `-created_at`.
    #[param(pattern = r"^-?(created_at)$")]
    sort: Option<String>,
}

/// Lists a project's members.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members", tag = "members", params(("project_id" = String, Path), MemberQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<MemberView>), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project")))]
async fn list_members(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
    ValidQuery(q): ValidQuery<MemberQuery>,
) -> Result<Json<PageView<MemberView>>, ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let params =
        list_params(q.limit, q.cursor.as_deref(), q.sort.as_deref(), &[MemberSort::CreatedAt], MemberSort::CreatedAt)?;
    let mut conn = state.store.read().await?;
    ensure_project(&mut conn, project).await?;
    let page = members::list(&mut conn, project, &params).await?;
    Ok(Json(PageView::from_page(page, MemberView::from)))
}

/// Adds a member.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/members", tag = "members", request_body = AddMember,
    params(("project_id" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = MemberView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project"),
        (status = 409, description = "Already a member"), (status = 422, description = "Invalid values")))]
async fn add_member(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    ValidJson(body): ValidJson<AddMember>,
) -> Result<(StatusCode, HeaderMap, Json<MemberView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let mut e = ValidationErrors::new();
    let user_id = parse_id::<UserId>(&mut e, "user_id", &body.user_id);
    let kind = e.check("kind", MemberKind::parse(&body.kind));
    let (Some(user_id), Some(kind)) = (user_id, kind) else {
        return Err(e.into());
    };
    let mut uow = state.store.begin().await?;
    ensure_project(uow.conn(), project).await?;
    if !users::exists(uow.conn(), user_id).await? {
        return Err(ValidationErrors::from(FieldError::new("user_id", "unknown_user", "no user has this id")).into());
    }
    let now = state.now();
    let member = Member { project_id: project, user_id, kind, created_at: now, updated_at: now, version: 1 };
    members::insert(uow.conn(), &member).await.map_err(|e| match e {
        StoreError::Duplicate(_) => ApiError::Conflict("this user is already a member of the project".to_owned()),
        other => other.into(),
    })?;
    audit.commit(&state, uow, StatusCode::CREATED, vec![audit.event(&state, "project.member_added", "create", "project_member", format!("{project}/{user_id}"), None).with_metadata(&serde_json::json!({"project_id": project.to_string(), "user_id": user_id.to_string(), "kind": kind.as_str()}))]).await?;
    Ok((StatusCode::CREATED, etag_header(member.version), Json(member.into())))
}

/// Reads one membership.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "members",
    params(("project_id" = String, Path), ("user_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such member")))]
async fn get_member(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<(HeaderMap, Json<MemberView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let user: UserId = ids.get("user_id", "member")?;
    let mut conn = state.store.read().await?;
    ensure_project(&mut conn, project).await?;
    let member = members::get(&mut conn, project, user).await.map_err(or_404("member"))?;
    Ok((etag_header(member.version), Json(member.into())))
}

/// Changes how a member takes part. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "members", request_body = UpdateMember,
    params(("project_id" = String, Path), ("user_id" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such member"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Invalid values"), (status = 428, description = "If-Match missing")))]
async fn update_member(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    if_match: IfMatch,
    ValidJson(body): ValidJson<UpdateMember>,
) -> Result<(HeaderMap, Json<MemberView>), ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let user: UserId = ids.get("user_id", "member")?;
    let mut e = ValidationErrors::new();
    let kind = e.check("kind", MemberKind::parse(&body.kind));
    finish(e)?;
    let mut uow = state.store.begin().await?;
    ensure_project(uow.conn(), project).await?;
    let mut member = members::get(uow.conn(), project, user).await.map_err(or_404("member"))?;
    if_match.check(member.version)?;
    member.kind = kind.unwrap_or(member.kind);
    member.updated_at = state.now();
    let saved = members::update(uow.conn(), &member, if_match.0).await.map_err(or_404("member"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::OK,
            vec![
                audit
                    .event(
                        &state,
                        "project.member_updated",
                        "update",
                        "project_member",
                        format!("{project}/{user}"),
                        None,
                    )
                    .with_metadata(&serde_json::json!({"kind": saved.kind.as_str(), "version": saved.version})),
            ],
        )
        .await?;
    Ok((etag_header(saved.version), Json(saved.into())))
}

/// Removes a member; tasks assigned to them in this project become unassigned.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "members",
    params(("project_id" = String, Path), ("user_id" = String, Path), ("If-Match" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such member"),
        (status = 412, description = "Changed since read")))]
async fn remove_member(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    OptionalIfMatch(version): OptionalIfMatch,
) -> Result<StatusCode, ApiError> {
    let project: ProjectId = ids.get("project_id", "project")?;
    let user: UserId = ids.get("user_id", "member")?;
    let mut uow = state.store.begin().await?;
    ensure_project(uow.conn(), project).await?;
    members::delete(uow.conn(), project, user, version).await.map_err(or_404("member"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::NO_CONTENT,
            vec![audit.event(
                &state,
                "project.member_removed",
                "delete",
                "project_member",
                format!("{project}/{user}"),
                None,
            )],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
