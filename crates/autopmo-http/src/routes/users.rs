//! Users (accounts are created with `autopmo user create` or an
//! invitation): enough to find ids for owners, members and assignees, and
//! for an administrator to end a user's sessions. Their roles are changed
//! through `crate::routes::roles`.

use super::or_404;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::if_match::etag_header;
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
use axum::http::HeaderMap;
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

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/users", Rule::Guarded("users:read", TargetRef::Collection("user"))),
    rule("GET", "/api/v1/users/{user_id}", Rule::Guarded("users:read", TargetRef::Type("user"))),
    rule("GET", "/api/v1/me", Rule::SelfService),
    rule("POST", "/api/v1/users/{user_id}/sessions/revoke", Rule::Guarded("users:manage", TargetRef::Type("user"))),
];

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `username` or `created_at`, `-` prefix for descending.
    #[param(pattern = r"^-?(username|created_at)$")]
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

/// Reads one user. The `ETag` is the user's version, for `If-Match` on
/// `PUT /api/v1/users/{user_id}/roles`.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView, headers(("ETag" = String, description = "The user's version"))),
        (status = 401, description = "Unauthenticated"), (status = 404, description = "No such user")))]
async fn get_user(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<(HeaderMap, Json<UserView>), ApiError> {
    let id: UserId = ids.get("user_id", "user")?;
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, id).await.map_err(or_404("user"))?;
    Ok((etag_header(user.version), Json(user.into())))
}

/// The calling user.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "Unauthenticated")))]
async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<UserView>, ApiError> {
    let mut conn = state.store.read().await?;
    let user = users::get(&mut conn, principal.user_id).await.map_err(or_404("user"))?;
    Ok(Json(user.into()))
}

/// Ends every session of a user (`users:manage`, system administrators);
/// their access tokens stop working on the next request.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/sessions/revoke", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, description = "How many sessions ended"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such user")))]
async fn revoke_sessions(
    State(state): State<AppState>,
    _principal: Principal,
    audit: crate::audit::Audit,
    ids: Ids,
) -> Result<Json<serde_json::Value>, ApiError> {
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
