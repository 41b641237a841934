//! Role administration: `PUT /api/v1/users/{user_id}/roles` replaces a
//! user's roles (system administrators: `users:manage`, decided before the
//! handler). The change ends the user's sessions and is recorded as
//! `user.roles_changed` with the old and the new roles
//! ([`autopmo_auth::roles`]).

use super::finish;
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::if_match::{OptionalIfMatch, etag_header};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use autopmo_auth::AuthError;
use autopmo_auth::roles::{self, ChangedBy, RoleChange};
use autopmo_domain::{FieldError, Role, UserId, ValidationErrors};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_roles))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] =
    &[rule("PUT", "/api/v1/users/{user_id}/roles", Rule::Guarded("users:manage", TargetRef::Type("user")))];

/// The complete new set of a user's roles.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// Every role the user is to hold (§3.1), each once: `system_admin`,
    /// `project_manager`, `developer`, `stakeholder`, `auditor`,
    /// `ml_engineer`. An empty list takes every role away.
    #[schema(value_type = std::collections::BTreeSet<schema::Role>)]
    roles: Vec<String>,
}

/// The outcome of a role change.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleChangeView {
    /// The user.
    pub user_id: String,
    /// The roles now held, sorted.
    pub roles: Vec<String>,
    /// The roles held before, sorted.
    pub previous_roles: Vec<String>,
    /// Granted by this change.
    pub added: Vec<String>,
    /// Taken away by this change.
    pub removed: Vec<String>,
    /// Sessions of the user this change ended (0 when nothing changed).
    pub sessions_ended: u64,
    /// The user's version now (the new ETag).
    pub version: i64,
}

impl From<&RoleChange> for RoleChangeView {
    fn from(c: &RoleChange) -> Self {
        let names = |r: &[Role]| r.iter().map(|x| x.as_str().to_owned()).collect();
        Self {
            user_id: c.user.id.to_string(),
            roles: names(&c.new),
            previous_roles: names(&c.old),
            added: names(&c.added()),
            removed: names(&c.removed()),
            sessions_ended: c.sessions_ended,
            version: c.user.version,
        }
    }
}

/// Parses a list of role names reported under `field`: each must be a
/// known role, and appear once. With `service`, `system_admin` is refused
/// (service accounts hold scoped roles).
pub(crate) fn parse_roles(
    errors: &mut ValidationErrors,
    field: &str,
    raw: &[String],
    service: bool,
) -> Option<Vec<Role>> {
    let mut roles = Vec::new();
    let before = errors.errors.len();
    for name in raw {
        match Role::parse(name) {
            Ok(role) if roles.contains(&role) => {
                errors.push(FieldError::new(field, "duplicate", format!("{name} is listed more than once")));
            }
            Ok(Role::SystemAdmin) if service => {
                errors.push(FieldError::new(field, "not_allowed", roles::SERVICE_ADMIN_REFUSED));
            }
            Ok(role) => roles.push(role),
            Err(e) => {
                errors.push(FieldError::new(field, "invalid_value", format!("unknown role {name:?}; {}", e.message)))
            }
        }
    }
    (errors.errors.len() == before).then_some(roles)
}

/// Who is acting, for the events written by `autopmo_auth`.
pub(crate) fn changed_by(state: &AppState, audit: &Audit) -> ChangedBy {
    let stamp = audit.0.event(state, "", "");
    ChangedBy { actor: stamp.actor, request_id: stamp.request_id, session_id: stamp.session_id }
}

/// The problem for an administration error; `field` names the roles field
/// of the request, `what` the resource of a 404.
pub(crate) fn admin_error(e: AuthError, field: &str, what: &'static str) -> ApiError {
    match e {
        AuthError::UnknownUser => ApiError::NotFound(what),
        AuthError::UnknownKey => ApiError::NotFound("key"),
        AuthError::LastAdministrator => ApiError::Conflict(
            "the last active system administrator cannot lose the system_admin role; grant it to someone else first"
                .to_owned(),
        ),
        AuthError::Inactive => ApiError::Conflict("the service account is disabled".to_owned()),
        AuthError::Invalid(message) => ValidationErrors::from(FieldError::new(field, "not_allowed", message)).into(),
        AuthError::Duplicate(what) => ApiError::Conflict(format!("a user with that {what} already exists")),
        AuthError::Store(e) => e.into(),
        AuthError::Trail(e) => ApiError::Unavailable(format!("audit trail: {e}")),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// Replaces a user's roles with the given set (system administrators).
/// Every session of the user ends: their access tokens stop working on the
/// next request. Recorded as `user.roles_changed` with the old and new
/// roles; granting `system_admin` raises the `privileged_role_granted`
/// alert. The same set changes nothing. The last active system
/// administrator cannot lose `system_admin` (409); a service account
/// cannot get it (422).
#[utoipa::path(put, path = "/api/v1/users/{user_id}/roles", tag = "users", request_body = SetRoles,
    params(("user_id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the user from the last read")),
    security(("bearer" = [])),
    responses((status = 200, body = RoleChangeView, headers(("ETag" = String, description = "The user's version"))),
        (status = 400, description = "Malformed request"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such user"),
        (status = 409, description = "The last active system administrator would lose system_admin"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Unknown or repeated roles")))]
async fn set_roles(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    if_match: OptionalIfMatch,
    ValidJson(body): ValidJson<SetRoles>,
) -> Result<(HeaderMap, Json<RoleChangeView>), ApiError> {
    let id: UserId = ids.get("user_id", "user")?;
    let mut e = ValidationErrors::new();
    let roles = parse_roles(&mut e, "roles", &body.roles, false);
    finish(e)?;
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    let change = roles::change(&mut uow, id, roles.unwrap_or_default(), if_match.0, &by, state.now())
        .await
        .map_err(|e| admin_error(e, "roles", "user"))?;
    audit.0.resource("user", id);
    audit.commit(&state, uow, StatusCode::OK, Vec::new()).await?;
    Ok((etag_header(change.user.version), Json((&change).into())))
}
