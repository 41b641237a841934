//! Password reset by email and password change (guide §2.1
//! `resetPasswordAllowed`; `docs/password-reset.md`).
//!
//! - `POST /api/v1/auth/password-reset` answers 202 whatever the login
//!   names: an existing account, an unknown one, a disabled one.
//! - `POST /api/v1/auth/password-reset/confirm` spends the mailed token once.
//! - `POST /api/v1/auth/password` changes a password given the current one:
//!   with an access token, or — for an account that must change its
//!   password first, such as the bootstrap administrator — with the username
//!   in the body.

use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::json::ValidJson;
use crate::extract::principal::Principal;
use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_auth::AuthError;
use autopmo_auth::reset::{PasswordChange, PasswordError};
use autopmo_domain::{FieldError, ValidationErrors};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest login accepted (an email address is at most 254 characters).
const MAX_LOGIN_CHARS: usize = 320;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request_reset)).routes(routes!(confirm_reset)).routes(routes!(change_password))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/auth/password-reset", Rule::Public),
    rule("POST", "/api/v1/auth/password-reset/confirm", Rule::Public),
    rule("POST", "/api/v1/auth/password", Rule::SelfService),
];

/// Whom to send a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Login name or email address.
    login: String,
}

/// The same answer for every reset request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetAccepted {
    /// Always the same sentence.
    detail: &'static str,
}

/// A mailed token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmation {
    /// The token from the reset link (`apmo_pwr_…`).
    #[schema(value_type = String)]
    token: SecretString,
    /// The new password (checked against the password policy).
    #[schema(value_type = String)]
    new_password: SecretString,
}

impl std::fmt::Debug for ResetConfirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetConfirmation(<redacted>)")
    }
}

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password in use now.
    #[schema(value_type = String)]
    current_password: SecretString,
    /// The new password (checked against the password policy; must differ).
    #[schema(value_type = String)]
    new_password: SecretString,
    /// Without an access token: the login name or email of an account that
    /// must change its password. With one: absent, or the caller's own name.
    #[serde(default)]
    username: Option<String>,
}

impl std::fmt::Debug for PasswordChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChangeRequest").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The caller, when the request carries credentials; a request with
/// unusable credentials is refused (401) as on any authenticated route.
struct MaybePrincipal(Option<Principal>);

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Principal::from_request_parts(parts, state).await.map(|p| Self(Some(p)))
        } else {
            Ok(Self(None))
        }
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Busy => ApiError::Overloaded("the password hashing pool is saturated"),
        AuthError::Store(e) => e.into(),
        other => ApiError::Unavailable(other.to_string()),
    }
}

fn password_error(state: &AppState, e: PasswordError) -> ApiError {
    match e {
        PasswordError::InvalidToken => ApiError::BadRequest {
            kind: "invalid_reset_token",
            detail: "the reset link is invalid, was used already, or has expired; ask for a new one".to_owned(),
        },
        PasswordError::InvalidCredentials => ApiError::InvalidCredentials,
        PasswordError::AddressBlocked { until } => {
            ApiError::TooManyRequests { retry_after: (until - state.now()).whole_seconds().max(1) }
        }
        PasswordError::TokenRequired => ApiError::Unauthenticated,
        PasswordError::Rejected(errors) => ApiError::Validation(ValidationErrors { errors }),
        PasswordError::Auth(e) => auth_error(e),
    }
}

/// Asks for a password-reset link. The answer is the same whether or not
/// an account matches; if an active one does, a single-use link valid for
/// 30 minutes is mailed to its address.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, body = ResetAccepted, description = "Accepted (whether or not the account exists)"),
        (status = 400, description = "Malformed body"), (status = 422, description = "Login missing or too long"),
        (status = 503, description = "Unavailable")))]
async fn request_reset(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<ResetRequest>,
) -> Result<Response, ApiError> {
    let login = body.login.trim();
    if login.is_empty() || login.chars().count() > MAX_LOGIN_CHARS {
        let message = format!("a login name or email address of 1 to {MAX_LOGIN_CHARS} characters");
        return Err(ApiError::Validation(FieldError::new("login", "invalid_login", message).into()));
    }
    state.passwords.request_reset(login, &audit.0.actor()).await.map_err(auth_error)?;
    let body = ResetAccepted {
        detail: "if an active account matches, a reset link valid for 30 minutes has been sent to its email address",
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Sets a new password with the token of a reset link. The token works
/// once; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmation,
    responses((status = 204, description = "Password set; every session ended"),
        (status = 400, description = "Invalid, used or expired token (`invalid_reset_token`), or a malformed body"),
        (status = 422, description = "The new password breaks the password policy"),
        (status = 503, description = "Unavailable")))]
async fn confirm_reset(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<ResetConfirmation>,
) -> Result<StatusCode, ApiError> {
    use secrecy::ExposeSecret;
    state
        .passwords
        .confirm_reset(body.token.expose_secret(), &body.new_password, &audit.0.actor())
        .await
        .map_err(|e| password_error(&state, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes a password given the current one (a wrong one counts as a failed
/// login). With an access token: the caller's own password. Without one:
/// only an account that must change its password (e.g. the first
/// administrator), named by `username`. Every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChangeRequest,
    security((), ("bearer" = [])),
    responses((status = 204, description = "Password changed; every session ended"),
        (status = 400, description = "Malformed body"),
        (status = 401, description = "Wrong current password, or an access token is needed"),
        (status = 403, description = "Not the caller's own account"),
        (status = 422, description = "The new password breaks the password policy or is unchanged"),
        (status = 429, description = "Too many failures from this address"), (status = 503, description = "Busy")))]
async fn change_password(
    State(state): State<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
    audit: Audit,
    ValidJson(body): ValidJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let named = body.username.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let (login, authenticated_as) = match &principal {
        Some(p) => {
            if named.is_some_and(|u| !u.eq_ignore_ascii_case(p.username.as_str())) {
                return Err(ApiError::Forbidden("an access token changes only its own user's password".to_owned()));
            }
            (p.username.as_str().to_owned(), Some(p.user_id))
        }
        None => (named.ok_or(ApiError::Unauthenticated)?.to_owned(), None),
    };
    let change = PasswordChange {
        login,
        authenticated_as,
        current: body.current_password,
        new: body.new_password,
        address: audit.0.address(),
        actor: audit.0.actor(),
    };
    state.passwords.change_password(change).await.map_err(|e| password_error(&state, e))?;
    Ok(StatusCode::NO_CONTENT)
}
