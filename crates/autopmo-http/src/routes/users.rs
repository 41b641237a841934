//! Users, read-only over the API for now (accounts are created with
//! `autopmo user create`): enough to find ids for owners, members and
//! assignees.

use super::or_404;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::views::{PageView, UserView};
use autopmo_domain::UserId;
use autopmo_store::users::{self, UserSort};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(me))
        .routes(routes!(revoke_sessions))
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `username` or `created_at`, `-` prefix for descending.
    sort: Option<String>,
}

/// Lists users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<UserView>), (status = 401, description = "Unauthenticated")))]
async fn list_users(
    State(state): State<AppState>,
    _principal: Principal,
    ValidQuery(q): ValidQuery<UserQuery>,
) -> Result<Json<PageView<UserView>>, ApiError> {
    let params = list_params(
        q.limit,
        q.cursor.as_deref(),
        q.sort.as_deref(),
        &[UserSort::Username, UserSort::CreatedAt],
        UserSort::Username,
    )?;
    let mut conn = state.store.read().await?;
    let page = users::list(&mut conn, &params).await?;
    Ok(Json(PageView::from_page(page, UserView::from)))
}

/// Reads one user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such user")))]
async fn get_user(State(state): State<AppState>, _principal: Principal, ids: Ids) -> Result<Json<UserView>, ApiError> {
    let id: UserId = ids.get("user_id", "user")?;
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, id).await.map_err(or_404("user"))?;
    Ok(Json(user.into()))
}

/// The calling user.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "Unauthenticated")))]
async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<UserView>, ApiError> {
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, principal.user_id).await.map_err(or_404("user"))?;
    Ok(Json(user.into()))
}

/// Ends every session of a user (system administrators only); their access
/// tokens stop working on the next request.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/sessions/revoke", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, description = "How many sessions ended"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such user")))]
async fn revoke_sessions(
    State(state): State<AppState>,
    principal: Principal,
    audit: crate::audit::Audit,
    ids: Ids,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !principal.roles.contains(&autopmo_domain::Role::SystemAdmin) {
        return Err(ApiError::Forbidden("ending another user's sessions is for system administrators".to_owned()));
    }
    let id: UserId = ids.get("user_id", "user")?;
    let now = state.now();
    let mut uow = state.store.begin().await?;
    users::get(uow.conn(), id).await.map_err(or_404("user"))?;
    let ended =
        autopmo_store::sessions::revoke_all_for_user(uow.conn(), &id.to_string(), "revoked_by_admin", now).await?;
    let mut event = audit
        .0
        .event(&state, "user.sessions_revoked", "revoke")
        .with_resource("user", Some(id.to_string()), None)
        .with_metadata(&serde_json::json!({"sessions_ended": ended}));
    event.category = autopmo_audit::Category::Administrative;
    audit.commit(&state, uow, axum::http::StatusCode::OK, vec![event]).await?;
    Ok(Json(serde_json::json!({"sessions_ended": ended})))
}
