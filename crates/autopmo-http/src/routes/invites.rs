//! Accepting an invitation: how a person gets an account without
//! self-registration (`registrationAllowed: false`). Invitations are made by
//! an administrator (`autopmo user invite`).

use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::json::ValidJson;
use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_auth::AuthError;
use autopmo_domain::{DisplayName, FieldError, Username, ValidationErrors};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accept_invite))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[rule("POST", "/api/v1/auth/invites/accept", Rule::Public)];

/// The invitation and the new account's details.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    /// The `apmo_inv_…` token from the invitation.
    #[schema(value_type = String)]
    token: SecretString,
    /// Login name: 3–64 of a-z 0-9 . _ -
    username: String,
    /// Name shown (defaults to the username).
    display_name: Option<String>,
    /// Password (12–128 characters, not common, not containing the username or email).
    #[schema(value_type = String)]
    password: SecretString,
}

impl std::fmt::Debug for AcceptInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInvite").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The account made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// User id.
    id: String,
    /// Login name.
    username: String,
}

/// Creates the invited account; the invitation is spent with it.
#[utoipa::path(post, path = "/api/v1/auth/invites/accept", tag = "auth", request_body = AcceptInvite,
    responses((status = 201, body = Created), (status = 400, description = "Invalid, used or expired invitation"),
        (status = 409, description = "Username taken"), (status = 422, description = "Invalid values or password")))]
async fn accept_invite(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<AcceptInvite>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let mut e = ValidationErrors::new();
    let username = e.check("username", Username::parse(&body.username));
    let display_name =
        e.check("display_name", DisplayName::parse(body.display_name.as_deref().unwrap_or(body.username.trim())));
    let (Some(username), Some(display_name)) = (username, display_name) else { return Err(e.into()) };
    let token = secrecy::ExposeSecret::expose_secret(&body.token).to_owned();
    let user = state.accounts.accept_invite(&token, username, display_name, body.password, &audit.0.actor()).await;
    match user {
        Ok(user) => {
            Ok((StatusCode::CREATED, Json(Created { id: user.id.to_string(), username: user.username.to_string() })))
        }
        Err(AuthError::Invalid(message)) if message.contains("invitation") => {
            Err(ApiError::BadRequest { kind: "invalid_invite", detail: message })
        }
        Err(AuthError::Invalid(message)) => {
            Err(ValidationErrors::from(FieldError::new("password", "policy", message)).into())
        }
        Err(AuthError::Duplicate(what)) => Err(ApiError::Conflict(format!("a user with that {what} already exists"))),
        Err(AuthError::Busy) => Err(ApiError::Overloaded("the password hashing pool is saturated")),
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(other) => Err(ApiError::Unavailable(other.to_string())),
    }
}
