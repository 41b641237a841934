//! The caller's second factors: list, add (TOTP, WebAuthn, SMS as a backup
//! only), remove (after a step-up), and recovery codes.

use super::auth::{auth_error, no_store};
use super::mfa::{TotpOfferView, refused};
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_factors, add_factor))
        .routes(routes!(confirm_factor))
        .routes(routes!(remove_factor))
        .routes(routes!(recovery_codes))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/me/mfa", Rule::SelfService),
    rule("POST", "/api/v1/me/mfa", Rule::SelfService),
    rule("POST", "/api/v1/me/mfa/confirm", Rule::SelfService),
    rule("DELETE", "/api/v1/me/mfa/{factor_id}", Rule::SelfService),
    rule("POST", "/api/v1/me/mfa/recovery-codes", Rule::SelfService),
];

/// A confirmed second factor (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// Id.
    id: String,
    /// `totp`, `webauthn` or `sms`.
    kind: String,
    /// The user's name for it.
    name: String,
    /// Added (RFC 3339).
    created_at: String,
    /// Last used (RFC 3339).
    last_used_at: Option<String>,
}

/// The caller's MFA.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyMfa {
    /// Confirmed factors.
    factors: Vec<FactorView>,
    /// Unused recovery codes left.
    recovery_codes_left: i64,
    /// Whether this account must use MFA (its roles, or production).
    required: bool,
}

fn required(state: &AppState, principal: &Principal) -> bool {
    let mfa = &state.logins.policy().mfa;
    mfa.everyone || principal.roles.iter().any(|r| mfa.roles.contains(r))
}

/// The caller's factors.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = MyMfa), (status = 401, description = "Unauthenticated")))]
async fn my_factors(State(state): State<AppState>, principal: Principal) -> Result<Json<MyMfa>, ApiError> {
    let (factors, left) = state.mfa.factors(&principal.user_id.to_string()).await.map_err(auth_error)?;
    let factors = factors
        .into_iter()
        .map(|f| FactorView {
            id: f.id,
            kind: f.kind,
            name: f.name,
            created_at: crate::views::ts(f.created_at),
            last_used_at: f.last_used_at.map(crate::views::ts),
        })
        .collect();
    Ok(Json(MyMfa { factors, recovery_codes_left: left, required: required(&state, &principal) }))
}

/// A factor to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFactor {
    /// `totp`, `webauthn` or `sms` (SMS only next to a TOTP or WebAuthn factor).
    kind: String,
    /// A name for it (1–64 characters), unique among the caller's factors.
    name: String,
    /// SMS: the phone number (E.164, `+447700900123`).
    phone: Option<String>,
}

/// A started enrolment: confirm it at `/api/v1/me/mfa/confirm`.
#[derive(Serialize, ToSchema)]
pub struct StartedView {
    /// The factor (TOTP, SMS) awaiting confirmation.
    factor_id: Option<String>,
    /// The ceremony's token (WebAuthn, SMS), to send back with the answer.
    mfa_token: Option<String>,
    /// TOTP: what to add to the authenticator app.
    totp: Option<TotpOfferView>,
    /// WebAuthn: `PublicKeyCredentialCreationOptions` for the browser.
    #[schema(value_type = Option<Object>)]
    webauthn: Option<Value>,
    /// SMS: the masked number the code went to.
    sent_to: Option<String>,
}

impl std::fmt::Debug for StartedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedView").field("factor_id", &self.factor_id).finish_non_exhaustive()
    }
}

async fn caller(state: &AppState, principal: &Principal) -> Result<autopmo_domain::User, ApiError> {
    let mut conn = state.store.read().await?;
    autopmo_store::users::get(&mut conn, principal.user_id).await.map_err(|_| ApiError::Unauthenticated)
}

/// Starts adding a second factor. It counts once confirmed.
#[utoipa::path(post, path = "/api/v1/me/mfa", tag = "mfa", request_body = AddFactor, security(("bearer" = [])),
    responses((status = 201, body = StartedView), (status = 401, description = "Unauthenticated"),
        (status = 422, description = "Not possible (SMS without another factor, duplicate name, bad number)"),
        (status = 503, description = "SMS gateway unavailable")))]
async fn add_factor(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ValidJson(body): ValidJson<AddFactor>,
) -> Result<Response, ApiError> {
    let user = caller(&state, &principal).await?;
    let started = state
        .mfa
        .begin(&user, &body.kind, &body.name, body.phone.as_deref(), &audit.0.actor())
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    let view = StartedView {
        factor_id: started.factor_id,
        mfa_token: started.token.map(|t| t.expose_secret().to_owned()),
        totp: started.totp.map(TotpOfferView::from),
        webauthn: started.webauthn,
        sent_to: started.sent_to,
    };
    Ok(no_store((StatusCode::CREATED, Json(view)).into_response()))
}

/// The answer that confirms a started enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmFactor {
    /// TOTP: the factor from the enrolment.
    factor_id: Option<String>,
    /// WebAuthn and SMS: the enrolment's token.
    mfa_token: Option<String>,
    /// TOTP or SMS: the code.
    code: Option<String>,
    /// WebAuthn: the `RegisterPublicKeyCredential` JSON from the browser.
    #[schema(value_type = Option<Object>)]
    credential: Option<Value>,
}

impl std::fmt::Debug for ConfirmFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmFactor").field("factor_id", &self.factor_id).finish_non_exhaustive()
    }
}

/// A confirmed factor.
#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    /// The factor.
    factor_id: String,
    /// Made with the first factor: ten single-use recovery codes (shown once).
    recovery_codes: Option<Vec<String>>,
}

impl std::fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmed").field("factor_id", &self.factor_id).finish_non_exhaustive()
    }
}

/// Confirms a started enrolment with a code (TOTP, SMS) or the
/// authenticator's answer (WebAuthn).
#[utoipa::path(post, path = "/api/v1/me/mfa/confirm", tag = "mfa", request_body = ConfirmFactor,
    security(("bearer" = [])),
    responses((status = 200, body = Confirmed), (status = 401, description = "Wrong code or token")))]
async fn confirm_factor(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ValidJson(body): ValidJson<ConfirmFactor>,
) -> Result<Response, ApiError> {
    let (factor_id, recovery_codes) = state
        .mfa
        .confirm(
            &principal.user_id.to_string(),
            body.factor_id.as_deref(),
            body.mfa_token.as_deref(),
            body.code.as_deref(),
            body.credential.as_ref(),
            &audit.0.actor(),
        )
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    Ok(no_store(Json(Confirmed { factor_id, recovery_codes }).into_response()))
}

/// Removes a factor. Needs a step-up; SMS is never left as the only factor
/// and an account that must use MFA keeps one.
#[utoipa::path(delete, path = "/api/v1/me/mfa/{factor_id}", tag = "mfa",
    params(("factor_id" = String, Path, description = "Factor id")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Step-up required"),
        (status = 404, description = "No such factor"), (status = 422, description = "Would break a rule")))]
async fn remove_factor(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ids: Ids,
) -> Result<StatusCode, ApiError> {
    let factor_id: String = ids.get("factor_id", "factor")?;
    crate::authz::require_step_up(&state, &principal)?;
    let user = caller(&state, &principal).await?;
    let must = required(&state, &principal);
    match state.mfa.remove(&user, &factor_id, must, &audit.0.actor()).await.map_err(auth_error)? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(autopmo_auth::mfa::MfaRefusal::Unavailable(_)) => Err(ApiError::NotFound("factor")),
        Err(other) => Err(refused(other)),
    }
}

/// Ten new recovery codes (shown once); the old ones stop working.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = super::mfa::RecoveryCodes), (status = 401, description = "Unauthenticated"),
        (status = 422, description = "No factor yet")))]
async fn recovery_codes(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
) -> Result<Response, ApiError> {
    let id = principal.user_id.to_string();
    let (factors, _) = state.mfa.factors(&id).await.map_err(auth_error)?;
    if factors.is_empty() {
        return Err(ApiError::Rule("add a second factor first: recovery codes stand in for it".to_owned()));
    }
    let codes = state.mfa.new_recovery_codes(&id, &audit.0.actor()).await.map_err(auth_error)?;
    Ok(no_store(Json(serde_json::json!({ "recovery_codes": codes })).into_response()))
}
