//! Second factors at login and for step-up (guide §2.2): completing a
//! login that waits for its second factor, configuring the first one when
//! the account must have MFA (`CONFIGURE_TOTP`), and stepping a session up
//! before a privileged operation.

use super::auth::{auth_error, no_store, session_cookie, tokens_for};
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, rule};
use crate::extract::json::ValidJson;
use crate::extract::principal::Principal;
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use autopmo_auth::mfa::MfaRefusal;
use autopmo_auth::mfa::verify::{Answer, Prompt};
use autopmo_store::sessions::SessionKind;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(challenge))
        .routes(routes!(enroll_totp))
        .routes(routes!(step_up))
        .routes(routes!(step_up_challenge))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/auth/mfa/verify", Rule::Public),
    rule("POST", "/api/v1/auth/mfa/challenge", Rule::Public),
    rule("POST", "/api/v1/auth/mfa/enroll-totp", Rule::Public),
    rule("POST", "/api/v1/auth/step-up", Rule::SelfService),
    rule("POST", "/api/v1/auth/step-up/challenge", Rule::SelfService),
];

/// Maps a refusal to its problem: every wrong answer is the same 401.
pub(crate) fn refused(r: MfaRefusal) -> ApiError {
    match r {
        MfaRefusal::InvalidCode => ApiError::InvalidCredentials,
        MfaRefusal::Unavailable(detail) | MfaRefusal::Rule(detail) => ApiError::Rule(detail),
        MfaRefusal::SmsRateLimited(after) => ApiError::TooManyRequests { retry_after: after.max(1) },
        MfaRefusal::SmsFailed(detail) => ApiError::GatewayUnavailable(format!(
            "the text message could not be sent ({detail}); use another factor or try again later"
        )),
    }
}

/// An answer to a second-factor challenge.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// From the login (`mfa_token`) or from a step-up challenge.
    #[schema(value_type = Option<String>)]
    mfa_token: Option<SecretString>,
    /// `totp`, `webauthn`, `sms` or `recovery_code`.
    #[schema(value_type = schema::MfaMethod)]
    method: String,
    /// The code (TOTP, SMS, recovery code).
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
    /// The WebAuthn assertion (`PublicKeyCredential` JSON).
    #[schema(value_type = Option<Object>)]
    assertion: Option<Value>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest").field("method", &self.method).finish_non_exhaustive()
    }
}

impl VerifyRequest {
    fn answer(&self) -> Result<Answer, ApiError> {
        use autopmo_auth::mfa::verify::METHODS;
        if !METHODS.contains(&self.method.as_str()) {
            return Err(ApiError::BadRequest {
                kind: "invalid_body",
                detail: format!("method must be one of: {}", METHODS.join(", ")),
            });
        }
        Ok(Answer { method: self.method.clone(), code: self.code.clone(), assertion: self.assertion.clone() })
    }
}

/// Tokens after a completed login, with the recovery codes made when the
/// login configured the account's first factor (shown once).
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes; keep them somewhere safe.
    recovery_codes: Vec<String>,
}

/// Completes a login that waits for its second factor. Every wrong answer
/// is the same 401 and counts toward the account's lockout; five end the
/// pending login. The session (tokens, or the cookie for a browser login)
/// carries `amr` with the factor used.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, description = "Tokens (TokenResponse), with `recovery_codes` after CONFIGURE_TOTP"),
        (status = 204, description = "Browser session opened"), (status = 401, description = "Wrong code or token"),
        (status = 422, description = "Method not available")))]
async fn verify(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let answer = body.answer()?;
    let token = body.mfa_token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default();
    let done = state.mfa.complete_login(&token, &answer, &audit.0.actor()).await.map_err(auth_error)?;
    let completed = done.map_err(refused)?;
    let grant = completed.grant;
    audit.0.session(Some(grant.session.id.clone()));
    let mut response = if grant.session.kind == SessionKind::Browser {
        let mut response = match &completed.recovery_codes {
            Some(codes) => Json(RecoveryCodes { recovery_codes: codes.clone() }).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        };
        response.headers_mut().insert(header::SET_COOKIE, session_cookie(grant.session_secret.expose_secret())?);
        response
    } else {
        let response = tokens_for(&state, &grant).await?;
        match completed.recovery_codes {
            None => response,
            Some(codes) => with_codes(response, codes).await?,
        }
    };
    response = no_store(response);
    Ok(response)
}

/// Adds `recovery_codes` to a JSON token response.
async fn with_codes(response: Response, codes: Vec<String>) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map_err(|e| ApiError::Internal(Box::new(std::io::Error::other(e.to_string()))))?;
    let mut body: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(Box::new(e)))?;
    if let Some(fields) = body.as_object_mut() {
        fields.insert("recovery_codes".to_owned(), serde_json::json!(codes));
    }
    Ok(Json(body).into_response())
}

/// A pending login asks for a WebAuthn ceremony or an SMS code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// From the login.
    #[schema(value_type = String)]
    mfa_token: SecretString,
    /// `webauthn` or `sms`.
    #[schema(value_type = schema::ChallengeMethod)]
    method: String,
}

impl std::fmt::Debug for ChallengeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeRequest").field("method", &self.method).finish_non_exhaustive()
    }
}

/// What to answer: WebAuthn request options, or where the SMS went.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeView {
    /// For a step-up: the token to send back with the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<String>,
    /// WebAuthn `PublicKeyCredentialRequestOptions` (JSON) for the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    webauthn: Option<Value>,
    /// The masked number an SMS code went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_to: Option<String>,
}

fn view(prompt: Prompt, mfa_token: Option<String>) -> ChallengeView {
    match prompt {
        Prompt::WebAuthn(options) => ChallengeView { mfa_token, webauthn: Some(options), sent_to: None },
        Prompt::Sms { sent_to } => ChallengeView { mfa_token, webauthn: None, sent_to: Some(sent_to) },
    }
}

/// For a pending login: starts a WebAuthn ceremony, or sends an SMS code
/// (rate-limited; a gateway that is down is a 503 and the other factors
/// still work).
#[utoipa::path(post, path = "/api/v1/auth/mfa/challenge", tag = "auth", request_body = ChallengeRequest,
    responses((status = 200, body = ChallengeView), (status = 401, description = "Unknown or spent token"),
        (status = 422, description = "Method not available"), (status = 429, description = "Too many SMS"),
        (status = 503, description = "SMS gateway unavailable")))]
async fn challenge(
    State(state): State<AppState>,
    audit: Audit,
    ValidJson(body): ValidJson<ChallengeRequest>,
) -> Result<Json<ChallengeView>, ApiError> {
    let prompt = state
        .mfa
        .prompt_login(body.mfa_token.expose_secret(), &body.method, &audit.0.actor())
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    Ok(Json(view(prompt, None)))
}

/// `CONFIGURE_TOTP`: the authenticator to add before the login completes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollTotpRequest {
    /// From the login (with `required_action: CONFIGURE_TOTP`).
    #[schema(value_type = String)]
    mfa_token: SecretString,
    /// A name for the authenticator (default `authenticator`).
    #[serde(default)]
    name: Option<String>,
}

impl std::fmt::Debug for EnrollTotpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollTotpRequest(<redacted>)")
    }
}

/// A TOTP secret to add to an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpOfferView {
    /// `otpauth://totp/…`.
    otpauth_uri: String,
    /// The same, as an SVG QR code.
    qr_svg: String,
    /// The secret in base32, to type in.
    secret: String,
}

impl std::fmt::Debug for TotpOfferView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpOfferView(<redacted>)")
    }
}

impl From<autopmo_auth::mfa::verify::TotpOffer> for TotpOfferView {
    fn from(o: autopmo_auth::mfa::verify::TotpOffer) -> Self {
        Self { otpauth_uri: o.uri, qr_svg: o.qr_svg, secret: o.secret.expose_secret().to_owned() }
    }
}

/// The account must use MFA and has no factor yet: a TOTP secret to add.
/// The login completes at `/auth/mfa/verify` with method `totp` and a code
/// from the app; nothing else is possible before.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll-totp", tag = "auth", request_body = EnrollTotpRequest,
    responses((status = 200, body = TotpOfferView), (status = 401, description = "Unknown or spent token")))]
async fn enroll_totp(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<EnrollTotpRequest>,
) -> Result<Response, ApiError> {
    let name = body.name.as_deref().unwrap_or("authenticator");
    let offer = state
        .mfa
        .offer_totp_at_login(body.mfa_token.expose_secret(), name)
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    Ok(no_store(Json(TotpOfferView::from(offer)).into_response()))
}

/// The session after a step-up.
#[derive(Serialize, ToSchema)]
pub struct SteppedUp {
    /// A fresh access token whose `amr` and `auth_time` show the step-up
    /// (API sessions; none for a browser session).
    access_token: Option<String>,
    /// How the session's user has authenticated.
    amr: Vec<String>,
    /// When (RFC 3339); privileged operations are open until this plus the
    /// step-up window.
    auth_time: String,
}

impl std::fmt::Debug for SteppedUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteppedUp").field("amr", &self.amr).finish_non_exhaustive()
    }
}

async fn session_of(state: &AppState, principal: &Principal) -> Result<autopmo_store::sessions::Session, ApiError> {
    let id = principal
        .session_id
        .as_deref()
        .ok_or_else(|| ApiError::Rule("only a session (from /auth/login) can step up; API keys cannot".to_owned()))?;
    let mut conn = state.store.read().await?;
    autopmo_store::sessions::get(&mut conn, id).await?.ok_or(ApiError::Unauthenticated)
}

/// Raises the caller's session with a second factor: privileged operations
/// (deletes, role and policy changes, budget approvals, removing a factor)
/// are open for the step-up window. TOTP and recovery codes answer
/// directly; WebAuthn and SMS answer the token of `/auth/step-up/challenge`.
#[utoipa::path(post, path = "/api/v1/auth/step-up", tag = "auth", request_body = VerifyRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SteppedUp), (status = 401, description = "Wrong code"),
        (status = 422, description = "Not a session, or method not available")))]
async fn step_up(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ValidJson(body): ValidJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let answer = body.answer()?;
    let session = session_of(&state, &principal).await?;
    let token = body.mfa_token.as_ref().map(|t| t.expose_secret().to_owned());
    let raised = state
        .mfa
        .step_up(&session, token.as_deref(), &answer, &audit.0.actor())
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    let access_token = if raised.kind == SessionKind::Api {
        let roles: Vec<String> = principal.roles.iter().map(|r| r.as_str().to_owned()).collect();
        Some(state.tokens.issue(&raised, &roles).await.map_err(auth_error)?.0)
    } else {
        None
    };
    let body = SteppedUp { access_token, amr: raised.amr, auth_time: crate::views::ts(raised.auth_time) };
    Ok(no_store(Json(body).into_response()))
}

/// Which factor to step up with by a ceremony.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpChallengeRequest {
    /// `webauthn` or `sms`.
    #[schema(value_type = schema::ChallengeMethod)]
    method: String,
}

/// Starts a step-up by WebAuthn (request options) or SMS (a code is sent).
#[utoipa::path(post, path = "/api/v1/auth/step-up/challenge", tag = "auth", request_body = StepUpChallengeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ChallengeView), (status = 401, description = "Unauthenticated"),
        (status = 422, description = "Method not available"),
        (status = 429, description = "Too many SMS"), (status = 503, description = "SMS gateway unavailable")))]
async fn step_up_challenge(
    State(state): State<AppState>,
    principal: Principal,
    audit: Audit,
    ValidJson(body): ValidJson<StepUpChallengeRequest>,
) -> Result<Json<ChallengeView>, ApiError> {
    let session = session_of(&state, &principal).await?;
    let (token, prompt) = state
        .mfa
        .prompt_step_up(&session.user_id, &session.id, &body.method, &audit.0.actor())
        .await
        .map_err(auth_error)?
        .map_err(refused)?;
    Ok(Json(view(prompt, Some(token.expose_secret().to_owned()))))
}
