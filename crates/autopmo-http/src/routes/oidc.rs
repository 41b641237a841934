//! Browser login through an external OIDC provider (federation,
//! `docs/federation.md`): authorization code with PKCE (S256), a
//! single-use `state` and a `nonce`. The callback answers with our tokens
//! as JSON, as `/api/v1/auth/login` does.

use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::path::Ids;
use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_auth::federation::{Federation, FederationError};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(oidc_login)).routes(routes!(oidc_callback))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/auth/oidc/{issuer}/login", Rule::Public),
    rule("GET", "/api/v1/auth/oidc/{issuer}/callback", Rule::Public),
];

/// What the provider sends the browser back with (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The authorization code.
    code: Option<String>,
    /// The `state` of the login.
    state: Option<String>,
    /// The issuer (RFC 9207); checked when present.
    iss: Option<String>,
    /// An error code from the provider.
    error: Option<String>,
}

/// Tokens for the federated user.
#[derive(Serialize, ToSchema)]
pub struct FederatedTokenResponse {
    /// RS256 access token (15 minutes).
    access_token: String,
    /// Single-use refresh token (rotated on every refresh).
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
}

impl std::fmt::Debug for FederatedTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FederatedTokenResponse(<redacted>)")
    }
}

fn federation(state: &AppState) -> Result<&Federation, ApiError> {
    state.federation.as_ref().ok_or(ApiError::NotFound("identity provider"))
}

fn federation_error(e: FederationError) -> ApiError {
    match e {
        FederationError::UnknownIssuer => ApiError::NotFound("identity provider"),
        FederationError::Refused(reason) => {
            tracing::info!(reason, "federated login refused");
            ApiError::Unauthenticated
        }
        FederationError::Unavailable(e) => {
            tracing::warn!(error = %e, "identity provider unavailable");
            ApiError::Unavailable("the identity provider is unavailable".to_owned())
        }
        FederationError::Auth(autopmo_auth::AuthError::Store(e)) => e.into(),
        FederationError::Auth(e) => ApiError::Unavailable(e.to_string()),
    }
}

/// Starts a login with the external identity provider `issuer` (its
/// configured name): redirects to its authorization endpoint.
#[utoipa::path(get, path = "/api/v1/auth/oidc/{issuer}/login", tag = "auth",
    params(("issuer" = String, Path, description = "Configured name of the identity provider")),
    responses((status = 302, description = "To the provider's authorization endpoint"),
        (status = 404, description = "No such identity provider"), (status = 503, description = "Provider unavailable")))]
async fn oidc_login(State(state): State<AppState>, ids: Ids) -> Result<Response, ApiError> {
    let name: String = ids.get("issuer", "identity provider")?;
    let url = federation(&state)?.start_login(&name).await.map_err(federation_error)?;
    let location =
        HeaderValue::from_str(&url).map_err(|_| ApiError::Unavailable("bad authorization URL".to_owned()))?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Where the provider sends the browser back: exchanges the code, checks
/// the ID token, finds, links or provisions the user, opens a session and
/// answers with our tokens. A `state` works once, for 10 minutes.
#[utoipa::path(get, path = "/api/v1/auth/oidc/{issuer}/callback", tag = "auth",
    params(("issuer" = String, Path, description = "Configured name of the identity provider"), CallbackParams),
    responses((status = 200, body = FederatedTokenResponse),
        (status = 401, description = "Login refused (unknown, expired or replayed state, bad ID token, no matching user)"),
        (status = 404, description = "No such identity provider"), (status = 503, description = "Provider unavailable")))]
async fn oidc_callback(
    State(state): State<AppState>,
    audit: Audit,
    ids: Ids,
    Query(params): Query<CallbackParams>,
) -> Result<Response, ApiError> {
    let name: String = ids.get("issuer", "identity provider")?;
    let federation = federation(&state)?;
    let (Some(code), Some(login_state), None) = (params.code, params.state, params.error) else {
        return Err(ApiError::Unauthenticated);
    };
    if let Some(iss) = &params.iss
        && !federation.knows_issuer(iss)
    {
        return Err(ApiError::Unauthenticated);
    }
    let grant = federation
        .finish_login(&state.logins, &name, &code, &login_state, &audit.0.actor())
        .await
        .map_err(federation_error)?;
    audit.0.session(Some(grant.session.id.clone()));
    let roles: Vec<String> = grant.user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let (access, ttl) =
        state.tokens.issue(&grant.session, &roles).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let body = FederatedTokenResponse {
        access_token: access,
        refresh_token: grant.refresh_token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: ttl.whole_seconds(),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
